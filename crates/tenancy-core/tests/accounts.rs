//! Accounts through the use cases, over the in-memory repository: verified
//! addresses gate invitations, a reset ends every session and reclaims an
//! address, a password change keeps only the current session, and sessions
//! end by their lifetimes (R31, D19).

#![expect(
    clippy::unwrap_used,
    reason = "a test stops loudly on the first surprise"
)]

use chrono::{DateTime, Duration};
use futures::executor::block_on;
use tenancy_core::decide::AccountMail;
use tenancy_core::entity::{MailContent, SessionLifetimes};
use tenancy_core::service::{Service, Settings};
use tenancy_core::testing::MemoryRepository;
use tenancy_core::testing::fakes::PlainPasswords;
use tenancy_core::testing::fakes::{CountingTokens, ManualClock, SequentialIds};
use tenancy_core::value::{EmailAddress, PasswordHash};
use tenancy_core::{Error, UserId};

type Tenancy = Service<MemoryRepository, ManualClock, SequentialIds, CountingTokens>;

struct World {
    tenancy: Tenancy,
    repository: MemoryRepository,
    clock: ManualClock,
}

fn world(sessions: SessionLifetimes) -> World {
    let repository = MemoryRepository::new();
    let clock = ManualClock::at(DateTime::from_timestamp(1_800_000_000, 0).unwrap());
    let tenancy = Service::new(
        repository.clone(),
        clock.clone(),
        SequentialIds::default(),
        CountingTokens::default(),
        Settings {
            sessions,
            ..Settings::default()
        },
    );
    World {
        tenancy,
        repository,
        clock,
    }
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

fn hash(raw: &str) -> PasswordHash {
    PlainPasswords::hash(raw)
}

fn code<T>(result: Result<T, Error>) -> &'static str {
    result.map_or_else(|e| e.code(), |_| "ok")
}

impl World {
    /// Signs up and returns the user and the session's token.
    fn sign_up(&self, raw: &str) -> (UserId, String) {
        let signed = block_on(self.tenancy.sign_up(
            email(raw),
            None,
            hash("first"),
            None,
            AccountMail::Send,
        ))
        .unwrap();
        (signed.user.id, signed.session_token.expose().to_owned())
    }

    /// Signs in with the password of sign-up.
    fn sign_in(&self, raw: &str) -> String {
        let matched = block_on(self.tenancy.check_credentials(
            Some(&email(raw)),
            "first",
            &PlainPasswords,
        ))
        .unwrap();
        // The password of sign-up matches.
        let (user, proof) = matched.unwrap();
        let token = block_on(self.tenancy.sign_in(&user, proof)).unwrap();
        token.expose().to_owned()
    }

    /// The token of the newest email to `to` whose content `pick` takes.
    fn newest(&self, to: &str, pick: fn(&MailContent) -> bool) -> Option<String> {
        self.repository
            .mails()
            .into_iter()
            .rev()
            .find(|m| m.to == email(to) && pick(&m.content))
            .and_then(|m| m.content.token().map(|t| t.expose().to_owned()))
    }

    fn verification(&self, to: &str) -> String {
        self.newest(to, |c| matches!(c, MailContent::VerifyEmail { .. }))
            .unwrap()
    }

    fn reset(&self, to: &str) -> Option<String> {
        self.newest(to, |c| matches!(c, MailContent::ResetPassword { .. }))
    }

    /// Whether the user's password is `raw`.
    fn password_is(&self, user: UserId, raw: &str) -> bool {
        block_on(self.tenancy.check_password(user, raw, &PlainPasswords))
            .unwrap()
            .is_some()
    }
}

#[test]
fn inviting_waits_for_a_verified_address_and_the_newest_link_alone_verifies() {
    let w = world(SessionLifetimes::default());
    let (ann, _) = w.sign_up("ann@example.com");
    let org = block_on(w.tenancy.active_organization(ann))
        .unwrap()
        .organization
        .id;
    let invite = || block_on(w.tenancy.invite(ann, org, email("bob@example.com"), None));
    assert_eq!(code(invite()), "email_unverified");
    assert!(!block_on(w.tenancy.user(ann)).unwrap().email_verified);

    let first = w.verification("ann@example.com");
    block_on(w.tenancy.request_verification(ann)).unwrap();
    let second = w.verification("ann@example.com");
    assert_ne!(first, second);
    // The newer email superseded the first link.
    assert_eq!(code(block_on(w.tenancy.verify_email(&first))), "token_used");
    let verified = block_on(w.tenancy.verify_email(&second)).unwrap();
    assert!(verified.email_verified);
    assert_eq!(
        code(block_on(w.tenancy.verify_email(&second))),
        "token_used"
    );
    assert_eq!(
        code(block_on(w.tenancy.request_verification(ann))),
        "already_verified"
    );
    assert_eq!(code(invite()), "ok");
    assert_eq!(code(block_on(w.tenancy.verify_email("nope"))), "not_found");

    // A link that nobody opened in time is expired, then swept away.
    let (cy, _) = w.sign_up("cy@example.com");
    let late = w.verification("cy@example.com");
    w.clock.advance(Duration::hours(24));
    assert_eq!(
        code(block_on(w.tenancy.verify_email(&late))),
        "token_expired"
    );
    w.clock.advance(Duration::days(8));
    block_on(w.tenancy.sweep_accounts()).unwrap();
    assert_eq!(code(block_on(w.tenancy.verify_email(&late))), "not_found");
    assert!(!block_on(w.tenancy.user(cy)).unwrap().email_verified);
}

#[test]
fn signing_up_from_an_invitation_counts_as_verified_and_sends_no_verification() {
    let w = world(SessionLifetimes::default());
    let (ann, _) = w.sign_up("ann@example.com");
    block_on(w.tenancy.verify_email(&w.verification("ann@example.com"))).unwrap();
    let org = block_on(w.tenancy.active_organization(ann))
        .unwrap()
        .organization
        .id;
    block_on(w.tenancy.invite(ann, org, email("bob@example.com"), None)).unwrap();
    let token = w
        .newest("bob@example.com", |c| {
            matches!(c, MailContent::Invitation { .. })
        })
        .unwrap();
    let bob = block_on(w.tenancy.sign_up(
        email("bob@example.com"),
        None,
        hash("bob"),
        Some(&token),
        AccountMail::Send,
    ))
    .unwrap();
    assert!(bob.user.email_verified);
    assert!(
        w.newest("bob@example.com", |c| matches!(
            c,
            MailContent::VerifyEmail { .. }
        ))
        .is_none()
    );
}

#[test]
fn withheld_emails_leave_no_link() {
    let w = world(SessionLifetimes::default());
    let signed = block_on(w.tenancy.sign_up(
        email("ann@example.com"),
        None,
        hash("first"),
        None,
        AccountMail::Withhold,
    ))
    .unwrap();
    assert!(!signed.user.email_verified);
    block_on(
        w.tenancy
            .request_password_reset(&email("ann@example.com"), AccountMail::Withhold),
    )
    .unwrap();
    assert!(w.repository.mails().is_empty());
    // An address without an account: the same answer, nothing queued.
    block_on(
        w.tenancy
            .request_password_reset(&email("nobody@example.com"), AccountMail::Send),
    )
    .unwrap();
    assert!(w.repository.mails().is_empty());
}

#[test]
fn a_reset_ends_every_session_and_reclaims_a_squatted_address() {
    let w = world(SessionLifetimes::default());
    // Someone registered the address first, and is signed in twice.
    let (squatted, first) = w.sign_up("dee@example.com");
    let second = w.sign_in("dee@example.com");
    // The real owner of the inbox asks for a reset: only she gets the link.
    block_on(
        w.tenancy
            .request_password_reset(&email("dee@example.com"), AccountMail::Send),
    )
    .unwrap();
    let old = w.reset("dee@example.com").unwrap();
    block_on(
        w.tenancy
            .request_password_reset(&email("dee@example.com"), AccountMail::Send),
    )
    .unwrap();
    let link = w.reset("dee@example.com").unwrap();
    assert_eq!(
        code(block_on(w.tenancy.check_reset_token(&old))),
        "token_used"
    );
    block_on(w.tenancy.check_reset_token(&link)).unwrap();
    let verification = w.verification("dee@example.com");
    block_on(w.tenancy.confirm_password_reset(&link, hash("reclaimed"))).unwrap();

    for token in [&first, &second] {
        assert_eq!(code(block_on(w.tenancy.session(token))), "unauthenticated");
    }
    assert!(w.password_is(squatted, "reclaimed"));
    assert!(block_on(w.tenancy.user(squatted)).unwrap().email_verified);
    assert_eq!(
        code(block_on(
            w.tenancy.confirm_password_reset(&link, hash("again"))
        )),
        "token_used"
    );
    // The verification link left over from sign-up has nothing left to prove.
    assert_eq!(
        code(block_on(w.tenancy.verify_email(&verification))),
        "token_used"
    );
    // A reset link lives one hour.
    block_on(
        w.tenancy
            .request_password_reset(&email("dee@example.com"), AccountMail::Send),
    )
    .unwrap();
    let late = w.reset("dee@example.com").unwrap();
    w.clock.advance(Duration::hours(1));
    assert_eq!(
        code(block_on(w.tenancy.check_reset_token(&late))),
        "token_expired"
    );
    assert_eq!(
        code(block_on(
            w.tenancy.confirm_password_reset(&late, hash("late"))
        )),
        "token_expired"
    );
    assert!(w.password_is(squatted, "reclaimed"));
}

#[test]
fn a_password_change_keeps_the_current_session_only() {
    let w = world(SessionLifetimes::default());
    let (ann, current) = w.sign_up("ann@example.com");
    let other = w.sign_in("ann@example.com");
    let session = block_on(w.tenancy.session(&current)).unwrap();
    assert_eq!(
        code(block_on(w.tenancy.change_password(
            &session,
            None,
            hash("second")
        ))),
        "forbidden"
    );
    let wrong = block_on(w.tenancy.check_password(ann, "First", &PlainPasswords)).unwrap();
    assert_eq!(wrong, None, "another password does not match");
    // A proof of another user's password changes nothing either.
    let (bob, _) = w.sign_up("bob@example.com");
    let bobs = block_on(w.tenancy.check_password(bob, "first", &PlainPasswords)).unwrap();
    assert_eq!(
        code(block_on(w.tenancy.change_password(
            &session,
            bobs,
            hash("second")
        ))),
        "forbidden"
    );
    assert!(w.password_is(ann, "first"));
    let proof = block_on(w.tenancy.check_password(ann, "first", &PlainPasswords)).unwrap();
    block_on(w.tenancy.change_password(&session, proof, hash("second"))).unwrap();
    assert!(w.password_is(ann, "second"));
    assert_eq!(code(block_on(w.tenancy.session(&current))), "ok");
    assert_eq!(code(block_on(w.tenancy.session(&other))), "unauthenticated");
}

#[test]
fn sessions_end_by_their_lifetimes_are_listed_newest_first_and_end_on_request() {
    let w = world(SessionLifetimes {
        ttl: Duration::hours(10),
        idle_timeout: Duration::hours(2),
    });
    let (ann, first) = w.sign_up("ann@example.com");
    w.clock.advance(Duration::minutes(1));
    let second = w.sign_in("ann@example.com");
    let listed = block_on(w.tenancy.sessions(ann)).unwrap().value;
    assert_eq!(listed.len(), 2);
    assert!(listed[0].session.created_at > listed[1].session.created_at);
    assert_eq!(
        listed[1].expires_at,
        listed[1].session.created_at + Duration::hours(10)
    );

    // Used within the minute: not written; after it: written.
    let before = block_on(w.tenancy.session(&second)).unwrap().last_used_at;
    w.clock.advance(Duration::seconds(30));
    assert_eq!(
        block_on(w.tenancy.session(&second)).unwrap().last_used_at,
        before
    );
    w.clock.advance(Duration::seconds(30));
    let touched = block_on(w.tenancy.session(&second)).unwrap().last_used_at;
    assert_eq!(touched, before + Duration::minutes(1));

    // The first one idles for the timeout; the second one is kept busy
    // until the absolute lifetime.
    for _ in 0..9 {
        w.clock.advance(Duration::hours(1));
        assert_eq!(code(block_on(w.tenancy.session(&second))), "ok");
    }
    assert_eq!(code(block_on(w.tenancy.session(&first))), "unauthenticated");
    w.clock.advance(Duration::hours(1));
    assert_eq!(
        code(block_on(w.tenancy.session(&second))),
        "unauthenticated"
    );
    assert!(block_on(w.tenancy.sessions(ann)).unwrap().value.is_empty());
    block_on(w.tenancy.sweep_accounts()).unwrap();
    assert!(w.repository.snapshot().sessions.is_empty());

    // Ending one's own session works; another user's is not found.
    let third = w.sign_in("ann@example.com");
    let (bob, _) = w.sign_up("bob@example.com");
    let id = block_on(w.tenancy.session(&third)).unwrap().id;
    assert_eq!(code(block_on(w.tenancy.end_session(bob, id))), "not_found");
    assert_eq!(code(block_on(w.tenancy.session(&third))), "ok");
    block_on(w.tenancy.end_session(ann, id)).unwrap();
    assert_eq!(code(block_on(w.tenancy.session(&third))), "unauthenticated");
    assert_eq!(code(block_on(w.tenancy.end_session(ann, id))), "not_found");
}

#[test]
fn account_emails_say_what_the_link_is_for_and_how_long_it_lives() {
    let w = world(SessionLifetimes::default());
    w.sign_up("ann@example.com");
    block_on(
        w.tenancy
            .request_password_reset(&email("ann@example.com"), AccountMail::Send),
    )
    .unwrap();
    let mails = w.repository.mails();
    let [verification, reset] = mails.as_slice() else {
        panic!("two emails: {mails:?}");
    };
    let at = |mail: &tenancy_core::entity::OutgoingMail| mail.render("https://app.example/");
    let (verification, reset) = (at(verification), at(reset));
    let token = w.verification("ann@example.com");
    assert_eq!(verification.subject, "Verify your email address");
    assert!(
        verification
            .text
            .contains(&format!("https://app.example/verify-email/{token}\n"))
    );
    // 24 hours after sign-up, in UTC.
    assert!(
        verification.text.contains("until 2027-01-16 08:00 (UTC)"),
        "{}",
        verification.text
    );
    assert!(
        verification
            .text
            .contains("verify that ann@example.com is your email address")
    );
    assert!(
        verification
            .text
            .contains("If this wasn't you, ignore this email")
    );
    let token = w.reset("ann@example.com").unwrap();
    assert_eq!(reset.subject, "Reset your password");
    assert!(
        reset
            .text
            .contains(&format!("https://app.example/reset-password/{token}\n"))
    );
    // One hour.
    assert!(
        reset.text.contains("until 2027-01-15 09:00 (UTC)"),
        "{}",
        reset.text
    );
    assert!(reset.text.contains("choose a new password"));
    assert!(reset.text.contains("If this wasn't you, ignore this email"));
    for text in [&verification.text, &reset.text] {
        assert!(text.is_ascii() && !text.contains('<'), "plain text: {text}");
    }
}
