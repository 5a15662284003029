//! Parsers of user input never panic, whatever they are given, and what they
//! accept is already normalized.

use proptest::prelude::*;
use tenancy_core::resource::{
    ConnectionType, ContentType, Credentials, Description, ResourceName, Schedule, Text,
};
use tenancy_core::testing::strategies;
use tenancy_core::token::SecretToken;
use tenancy_core::value::{
    DisplayName, EmailAddress, NewPassword, OrganizationName, PasswordError, is_common_password,
    is_forbidden_in_name,
};
use unicode_normalization::UnicodeNormalization as _;
use zeroize::Zeroizing;

/// What every accepted address satisfies: it is its own normal form (NFKC,
/// lower case, an ASCII domain), so parsing it again changes nothing.
fn check_normalized(input: &str) -> Result<(), TestCaseError> {
    let Ok(email) = EmailAddress::parse(input) else {
        return Ok(());
    };
    let text = email.as_str();
    prop_assert_eq!(EmailAddress::parse(text), Ok(email.clone()));
    prop_assert_eq!(text, text.trim());
    prop_assert_eq!(text.to_lowercase(), text);
    prop_assert_eq!(text.nfkc().collect::<String>(), text);
    prop_assert_eq!(text.matches('@').count(), 1);
    let Some((local, domain)) = text.split_once('@') else {
        return Err(TestCaseError::fail(format!("`{text}` has no `@`")));
    };
    prop_assert!(domain.is_ascii(), "{}", text);
    prop_assert!((1..=64).contains(&local.len()), "{}", text);
    prop_assert!(text.len() <= 254, "{}", text);
    Ok(())
}

/// Addresses spelled with the characters that normalization is about:
/// full-width and compatibility forms, accents composed and decomposed,
/// case pairs that fold differently, and invisible characters.
fn look_alike_email() -> impl Strategy<Value = String> {
    let exotic = prop::sample::select(vec![
        "a",
        "Z",
        "0",
        ".",
        "-",
        "_",
        "+",
        "\u{FF21}",
        "\u{FF41}",
        "\u{FF20}",
        "\u{FF0E}",
        "\u{3002}",
        "\u{E4}",
        "a\u{308}",
        "\u{C4}",
        "\u{DF}",
        "\u{1E9E}",
        "\u{130}",
        "\u{131}",
        "\u{3A3}",
        "\u{3C2}",
        "\u{1F0}",
        "\u{390}",
        "\u{3AA}\u{301}",
        "\u{212A}",
        "\u{2177}",
        "\u{FB01}",
        "\u{1D41A}",
        "\u{2460}",
        "\u{200B}",
        "\u{200D}",
        "\u{AD}",
        "\u{202E}",
        "\u{5D0}",
        "\u{627}",
        "\u{663}",
        "\u{4E2D}",
        "xn--",
        "XN--exmple-cua",
        " ",
        "\u{A0}",
    ])
    .prop_map(str::to_owned);
    // Plain letters between them, so that a fair share of the addresses are valid.
    let piece = prop_oneof![2 => "[a-z0-9]{1,3}", 1 => exotic];
    (
        prop::collection::vec(piece.clone(), 1..12),
        prop::collection::vec(piece, 1..16),
        prop::sample::select(vec!["@", "\u{FF20}"]),
        prop::sample::select(vec![".test", ".TEST", "\u{FF0E}test", ".xn--zckzah", ""]),
    )
        .prop_map(|(local, domain, at, tld)| {
            format!("{}{at}{}{tld}", local.concat(), domain.concat())
        })
}

fn upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        // `ß` upper-cases to `SS`, which is another address.
        _ => c,
    }
}

/// The full-width form of a printable ASCII character, which NFKC maps back.
fn full_width(c: char) -> char {
    match c {
        '!'..='~' => char::from_u32(u32::from(c) - 0x21 + 0xFF01).unwrap_or(c),
        _ => c,
    }
}

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
        check_normalized(&input)?;
    }

    #[test]
    fn look_alike_emails_are_normalized_and_stable(input in look_alike_email()) {
        check_normalized(&input)?;
    }

    #[test]
    fn emails_from_the_strategy_are_valid(email in strategies::email()) {
        prop_assert_eq!(EmailAddress::parse(email.as_str()), Ok(email.clone()));
        prop_assert!(email.as_str().is_ascii());
    }

    #[test]
    fn spellings_of_one_address_are_one_address(
        local in "[a-z0-9][a-z0-9._+-]{0,12}[a-z0-9]",
        labels in proptest::collection::vec("[a-z\u{e4}\u{f6}\u{fc}\u{e9}\u{f1}\u{df}\u{e5}]{1,12}", 1..3),
        tld in "[a-z]{2,6}",
        mask in any::<u64>(),
        wide in any::<u64>(),
    ) {
        let plain = format!("{local}@{}.{tld}", labels.join("."));
        let Ok(email) = EmailAddress::parse(&plain) else {
            // A local part with `..`, or a label that UTS #46 refuses.
            return Ok(());
        };
        // Upper case, full-width forms and the ASCII form of the domain all
        // name the same address.
        let spelled: String = plain
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let c = if mask >> (i % 64) & 1 == 1 { upper(c) } else { c };
                if wide >> (i % 64) & 1 == 1 { full_width(c) } else { c }
            })
            .collect();
        prop_assert_eq!(EmailAddress::parse(&spelled), Ok(email.clone()), "{}", spelled);
        let (_, ascii_domain) = email.as_str().split_once('@').unwrap();
        let a_label = format!("{}@{}", local.to_uppercase(), ascii_domain.to_uppercase());
        prop_assert_eq!(EmailAddress::parse(&a_label), Ok(email.clone()), "{}", a_label);
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
            prop_assert!(!name.as_str().chars().any(is_forbidden_in_name));
            prop_assert_eq!(OrganizationName::parse(name.as_str()), Ok(name.clone()));
        }
    }

    #[test]
    fn a_forbidden_character_anywhere_refuses_a_name(
        name in strategies::organization_name(),
        display in strategies::display_name(),
        at in any::<prop::sample::Index>(),
        // Not white space, so trimming keeps them even at either end.
        ch in prop::sample::select(vec![
            '\u{7}', '\u{1B}', '\u{9B}', '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}',
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}',
        ]),
    ) {
        for text in [name.as_str(), display.as_str()] {
            let mut chars: Vec<char> = text.chars().collect();
            chars.insert(at.index(chars.len() + 1), ch);
            let bent: String = chars.into_iter().collect();
            prop_assert!(OrganizationName::parse(&bent).is_err(), "{:?}", bent);
            prop_assert!(DisplayName::parse(&bent).is_err(), "{:?}", bent);
        }
    }

    #[test]
    fn passwords_are_refused_only_for_length_or_commonness(input in "\\PC{0,300}") {
        let chars = input.chars().count();
        let expected = if chars < 8 {
            Err(PasswordError::TooShort { chars })
        } else if chars > 256 {
            Err(PasswordError::TooLong { chars })
        } else if is_common_password(&input) {
            Err(PasswordError::Common)
        } else {
            Ok(())
        };
        prop_assert_eq!(NewPassword::parse(&input).map(|_| ()), expected);
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
