//! Every parser of a string a client sends: it answers, never panics, and
//! what it accepts parses again to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenancy_core::resource::{ConnectionType, ContentType, Description, ResourceName, Text};
use tenancy_core::token::SecretToken;
use tenancy_core::value::{DisplayName, EmailAddress, NewPassword, OrganizationName};

fuzz_target!(|input: &str| {
    if let Ok(email) = EmailAddress::parse(input) {
        assert_eq!(EmailAddress::parse(email.as_str()).ok(), Some(email));
    }
    if let Ok(name) = OrganizationName::parse(input) {
        assert_eq!(OrganizationName::parse(name.as_str()).ok(), Some(name));
    }
    let _ = DisplayName::parse(input);
    let _ = NewPassword::parse(input);
    if let Ok(token) = SecretToken::parse(input) {
        assert_eq!(token.expose(), input);
    }
    if let Ok(name) = ResourceName::parse(input) {
        assert_eq!(ResourceName::parse(name.as_str()).ok(), Some(name));
    }
    let _ = Description::parse(input);
    let _ = Text::parse(input);
    let _ = ConnectionType::parse(input);
    let _ = ContentType::parse(input);
});
