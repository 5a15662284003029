//! Parsers of user input never panic, whatever they are given, and what they
//! accept is already normalized.

use proptest::prelude::*;
use tenancy_core::resource::{
    ConnectionType, ContentType, Credentials, Description, ResourceName, Schedule, Text,
};
use tenancy_core::testing::strategies;
use tenancy_core::token::SecretToken;
use tenancy_core::value::{DisplayName, EmailAddress, NewPassword, OrganizationName};
use zeroize::Zeroizing;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parsers_never_panic(input in any::<String>()) {
        let _ = EmailAddress::parse(&input);
        let _ = OrganizationName::parse(&input);
        let _ = DisplayName::parse(&input);
        let _ = NewPassword::parse(&input);
        let _ = SecretToken::parse(&input);
        let _ = ResourceName::parse(&input);
        let _ = Description::parse(&input);
        let _ = Text::parse(&input);
        let _ = ConnectionType::parse(&input);
        let _ = ContentType::parse(&input);
        let _ = Schedule::parse(&input, None);
        let _ = Schedule::parse("0 9 * * *", Some(&input));
        let _ = Credentials::from_plaintext(input.as_bytes());
    }

    #[test]
    fn stored_credentials_never_panic_and_round_trip(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        credentials in strategies::credentials(),
    ) {
        let _ = Credentials::from_plaintext(&bytes);
        let plaintext = credentials.to_plaintext();
        prop_assert_eq!(Credentials::from_plaintext(&plaintext), Ok(credentials.clone()));
        // What may be logged shows the names, never a value.
        let canaries = Credentials::parse(
            credentials
                .names()
                .map(|name| (name.to_owned(), Zeroizing::new(format!("canary-{name}")))),
        )
        .unwrap();
        let debug = format!("{canaries:?}");
        prop_assert!(!debug.contains("canary-"), "{}", debug);
        for name in credentials.names() {
            prop_assert!(debug.contains(name));
        }
    }

    #[test]
    fn accepted_resource_values_are_trimmed_and_stable(
        name in strategies::resource_name(),
        text in strategies::text(),
        connection_type in strategies::connection_type(),
    ) {
        prop_assert_eq!(name.as_str(), name.as_str().trim());
        prop_assert_eq!(ResourceName::parse(name.as_str()), Ok(name.clone()));
        prop_assert!(!name.as_str().chars().any(char::is_control));
        prop_assert_eq!(text.as_str(), text.as_str().trim());
        prop_assert_eq!(Text::parse(text.as_str()), Ok(text.clone()));
        prop_assert_eq!(ConnectionType::parse(connection_type.as_str()), Ok(connection_type.clone()));
    }

    #[test]
    fn accepted_emails_are_normalized_and_stable(input in "\\PC{0,40}@?\\PC{0,20}") {
        if let Ok(email) = EmailAddress::parse(&input) {
            prop_assert_eq!(email.as_str(), email.as_str().trim().to_lowercase());
            prop_assert_eq!(EmailAddress::parse(email.as_str()), Ok(email.clone()));
            prop_assert_eq!(email.as_str().matches('@').count(), 1);
        }
    }

    #[test]
    fn emails_as_typed_parse_to_one_address(typed in strategies::email_as_typed()) {
        let email = EmailAddress::parse(&typed).unwrap();
        prop_assert_eq!(email.as_str(), typed.trim().to_lowercase());
    }

    #[test]
    fn accepted_names_are_trimmed_short_and_clean(input in any::<String>()) {
        if let Ok(name) = OrganizationName::parse(&input) {
            prop_assert_eq!(name.as_str(), name.as_str().trim());
            prop_assert!((1..=100).contains(&name.as_str().chars().count()));
            prop_assert!(!name.as_str().chars().any(char::is_control));
            prop_assert_eq!(OrganizationName::parse(name.as_str()), Ok(name.clone()));
        }
    }

    #[test]
    fn default_names_are_valid_names(name in proptest::option::of(strategies::display_name()), email in strategies::email()) {
        let default = OrganizationName::default_for(name.as_ref(), &email);
        prop_assert_eq!(OrganizationName::parse(default.as_str()), Ok(default.clone()));
        prop_assert!(default.as_str().ends_with("'s organization"));
    }

    #[test]
    fn tokens_round_trip_and_near_misses_are_refused(bytes in any::<[u8; 32]>(), flip in 0_usize..43) {
        let token = SecretToken::from_bytes(bytes);
        prop_assert_eq!(SecretToken::parse(token.expose()), Ok(token.clone()));
        let mut bent: Vec<char> = token.expose().chars().collect();
        bent[flip] = if bent[flip] == '!' { '?' } else { '!' };
        let bent: String = bent.into_iter().collect();
        prop_assert!(SecretToken::parse(&bent).is_err());
    }
}
