//! Decrypted bytes that are not what the store wrote (a corrupt row, a
//! wrong key that happened to authenticate) are refused, never a panic; and
//! what is accepted encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tenancy_core::resource::Credentials;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(credentials) = Credentials::from_plaintext(bytes) {
        let again = credentials.to_plaintext();
        assert_eq!(Credentials::from_plaintext(&again).ok(), Some(credentials));
    }
});
