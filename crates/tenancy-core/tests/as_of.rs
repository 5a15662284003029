//! One request, one time: a read use case answers with the instant it judged
//! at (`AsOf`), and what depends on time is derived from that instant, not
//! from a second reading of the clock.
//!
//! The clock here moves five days forward every time it is read, so any second
//! reading would see another time: an invitation listed as pending must still
//! be pending at the answer's instant, even when the next reading of the
//! clock finds it expired.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use futures::executor::block_on;
use tenancy_core::decide::AccountMail;
use tenancy_core::entity::InvitationStatus;
use tenancy_core::ports::Clock;
use tenancy_core::service::{Service, Settings};
use tenancy_core::testing::MemoryRepository;
use tenancy_core::testing::fakes::{CountingTokens, SequentialIds};
use tenancy_core::value::{EmailAddress, PasswordHash};

/// A clock that moves five days forward at every reading (invitations last
/// seven).
#[derive(Clone)]
struct Ticking(Arc<Mutex<DateTime<Utc>>>);

impl Clock for Ticking {
    fn now(&self) -> DateTime<Utc> {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += Duration::days(5);
        *now
    }
}

#[test]
fn pending_invitations_are_pending_at_the_instant_of_the_answer() {
    let clock = Ticking(Arc::new(Mutex::new(
        DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
    )));
    let tenancy = Service::new(
        MemoryRepository::new(),
        clock.clone(),
        SequentialIds::default(),
        CountingTokens::default(),
        Settings {
            allow_unverified_inviters: true,
            ..Settings::default()
        },
    );
    let hash = || PasswordHash::new("$argon2id$(hashed by the host)".to_owned());
    let ann = block_on(tenancy.sign_up(
        EmailAddress::parse("ann@example.com").unwrap(),
        None,
        hash(),
        None,
        AccountMail::Send,
    ))
    .unwrap();
    let (ann, org) = (ann.user.id, ann.default_organization.id);
    let invited = block_on(tenancy.invite(
        ann,
        org,
        EmailAddress::parse("bob@example.com").unwrap(),
        None,
    ))
    .unwrap();

    // Read until the invitation leaves the list; every answer that lists it
    // shows it pending at its own instant.
    let mut listed = 0;
    let mut expired_by_the_next_reading = 0;
    loop {
        let pending = block_on(tenancy.pending_invitations(ann, org)).unwrap();
        let Some(invitation) = pending.value.iter().find(|i| i.id == invited.id) else {
            break;
        };
        listed += 1;
        assert_eq!(
            invitation.status_at(pending.now),
            InvitationStatus::Pending,
            "listed as pending at {}, but not pending then",
            pending.now
        );
        if invitation.status_at(clock.now()) == InvitationStatus::Expired {
            expired_by_the_next_reading += 1;
        }
        assert!(listed < 30, "the invitation never expires");
    }
    assert!(listed > 0, "the invitation was never listed");
    // The case the instant exists for happened: a second reading of the clock
    // would have shown a listed invitation as expired.
    assert!(expired_by_the_next_reading > 0);
}
