//! The model-based test: random sequences of operations against the use cases
//! over the in-memory repository, compared with the reference model after
//! every step (see `tenancy_core::testing::model` for the invariants).

use futures::executor::block_on;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use tenancy_core::entity::ResourceKind;
use tenancy_core::testing::MemoryRepository;
use tenancy_core::testing::model::{
    AccountOp, AskedRole, Harness, Op, Reached, lifecycle_story, ops, roles_story,
};

/// At least 1,000 sequences per run, as the acceptance asks; more with
/// `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
        .max(1_000)
}

#[test]
fn random_sequences_agree_with_the_model_and_keep_the_invariants() {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        // The same 1,000 sequences on every run, so that the reach counts
        // below hold from one run to the next; `PROPTEST_RNG_SEED=<n>` (or
        // `random`) explores others.
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            Config::default().rng_seed
        } else {
            RngSeed::Fixed(20_261_203)
        },
        // Unoptimized, ChaCha takes a third of the run; XorShift is random
        // enough to pick operations.
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    });
    let reached = std::cell::Cell::new(Reached::default());
    let ran = std::cell::Cell::new(0_u32);
    let result = runner.run(&ops(80), |ops| {
        let mut harness = Harness::new(MemoryRepository::new());
        let outcome = block_on(harness.run(&ops));
        ran.set(ran.get() + 1);
        reached.set(reached.get().most(harness.counts()));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (ran, r) = (ran.get(), reached.get());
    assert!(ran >= 1_000, "only {ran} sequences ran");
    // The sequences must reach states worth checking: several users, and
    // organizations, invitations and chats beyond the first; and the rarer
    // paths of resources: quotas hit and freed again by deletes, runs talked
    // about, pins, investigations, credentials read, and a kept grant refused
    // after its holder was removed.
    assert!(
        r.users >= 4 && r.orgs >= 5 && r.invitations >= 5 && r.chats >= 2,
        "reached {r:?}"
    );
    assert!(
        r.deleted >= 2 && r.quota_refusals >= 1 && r.recreated >= 1,
        "reached {r:?}"
    );
    assert!(
        r.runs >= 2 && r.run_chats >= 1 && r.pins >= 2 && r.investigations >= 1,
        "reached {r:?}"
    );
    assert!(
        r.credentials_read >= 1 && r.stale_grants_refused >= 1,
        "reached {r:?}"
    );
    // And the accounts' paths: links used and refused (used, superseded,
    // expired), resets, sessions that a lifetime ended, and invitations
    // refused to an unverified inviter.
    assert!(
        r.links_used >= 2
            && r.links_refused >= 1
            && r.resets >= 1
            && r.sessions_expired >= 1
            && r.unverified_refusals >= 1,
        "reached {r:?}"
    );
    // And the roles' paths: custom roles made, members' roles changed,
    // gifts beyond the giver's capabilities refused (D14).
    assert!(
        r.custom_roles >= 2 && r.role_changes >= 1 && r.escalations_refused >= 1 && r.left >= 1,
        "reached {r:?}"
    );
    // And the organization's life: invitations resent (expired ones
    // revived) and their old links refused, lists of dead ones; transfers
    // requested, accepted, declined, cancelled, refused as expired and ended
    // by their target's going or a deletion, and refusals of D13; deletions
    // refused a wrong name, restored (and too late), purged, and the 409 of
    // an organization pending deletion.
    assert!(
        r.joined >= 2
            && r.resends >= 1
            && r.resends_of_expired >= 1
            && r.superseded_refused >= 1
            && r.dead_invitations_listed >= 1,
        "reached {r:?}"
    );
    assert!(
        r.transfers_requested >= 1
            && r.transfers_accepted >= 1
            && r.transfers_declined >= 1
            && r.transfers_cancelled >= 1
            && r.transfers_expired >= 1
            && r.transfers_ended >= 1
            && r.last_owned_refusals >= 1,
        "reached {r:?}"
    );
    assert!(
        r.deletions >= 1
            && r.wrong_names_refused >= 1
            && r.restores >= 1
            && r.restores_too_late >= 1
            && r.purges >= 1
            && r.pending_refusals >= 1,
        "reached {r:?}"
    );
    // And the audit log (R32): after every step each organization's log
    // holds exactly the events the model expects, in their chain; the
    // sequences must write enough of them, of many actions, some by the
    // host, and long logs.
    assert!(
        r.audit_events >= 20
            && r.audit_actions >= 8
            && r.audit_by_service >= 1
            && r.audit_longest >= 10,
        "reached {r:?}"
    );
    eprintln!("reached {r:?}");
}

/// Accounts as one fixed sequence: the invite gate, a superseded link, a
/// reset that ends every session and proves the address, a password change,
/// and sessions that idle out and are swept.
#[test]
fn accounts_as_a_fixed_sequence() {
    let account = Op::Account;
    let story = [
        Op::SignUp {
            email: 0,
            invitation: None,
        },
        Op::Invite {
            actor: Some(0),
            org: 0,
            email: 1,
            role: AskedRole::Unspecified,
        },
        account(AccountOp::RequestVerification { user: 0 }),
        // The first link was superseded; the second verifies.
        account(AccountOp::Verify { link: 0 }),
        account(AccountOp::Verify { link: 1 }),
        account(AccountOp::Verify { link: 1 }),
        account(AccountOp::RequestVerification { user: 0 }),
        Op::Invite {
            actor: Some(0),
            org: 0,
            email: 1,
            role: AskedRole::Unspecified,
        },
        // Bob's link proves his address: no verification email for him.
        Op::SignUpFromLink { invitation: 0 },
        account(AccountOp::SignIn { user: 0 }),
        account(AccountOp::RequestReset { email: 2 }),
        account(AccountOp::RequestReset { email: 0 }),
        // A verification link is no reset link.
        account(AccountOp::ConfirmReset { link: 1 }),
        account(AccountOp::ConfirmReset { link: 2 }),
        account(AccountOp::UseSession { session: 0 }),
        account(AccountOp::UseSession { session: 2 }),
        account(AccountOp::SignIn { user: 0 }),
        account(AccountOp::SignIn { user: 0 }),
        account(AccountOp::ChangePassword {
            session: 3,
            right: false,
        }),
        account(AccountOp::ChangePassword {
            session: 3,
            right: true,
        }),
        account(AccountOp::UseSession { session: 4 }),
        account(AccountOp::EndSession {
            actor: 1,
            session: 3,
        }),
        // A week without use ends the rest; the sweep removes them.
        Op::AdvanceClock { hours: 170 },
        account(AccountOp::UseSession { session: 1 }),
        account(AccountOp::UseSession { session: 3 }),
        account(AccountOp::Sweep),
        account(AccountOp::EndSession {
            actor: 0,
            session: 3,
        }),
    ];
    let mut harness = Harness::new(MemoryRepository::new());
    block_on(harness.run(&story)).unwrap();
    let r = harness.counts();
    assert_eq!(
        (
            r.unverified_refusals,
            r.links_used,
            r.links_refused,
            r.resets,
            r.sessions_expired
        ),
        (1, 2, 2, 1, 2),
        "{r:?}"
    );
}

/// Roles as one fixed sequence (R25, R26, D14): an admin and an editor join,
/// custom roles are made, a gift beyond the giver's capabilities is refused,
/// a member's role changes, a custom role's new capabilities are in force at
/// once, acting on a member who holds more is refused, and a role in use is
/// deleted only with its holders (a member and a pending invitation) moved.
#[test]
fn roles_as_a_fixed_sequence() {
    let story = roles_story();
    let mut harness = Harness::new(MemoryRepository::new());
    block_on(harness.run(&story)).unwrap();
    let r = harness.counts();
    assert_eq!(
        (
            r.custom_roles,
            r.role_changes,
            r.reassigned,
            r.escalations_refused
        ),
        (2, 1, 2, 3),
        "{r:?}"
    );
    // Its audit log: 16 events in Ann's organization (created; three
    // invitations, each accepted and its member added; two roles created,
    // one updated, both deleted; one member's role changed), and the
    // creation of each of the three others.
    assert_eq!(
        (r.audit_events, r.audit_actions, r.audit_longest),
        (19, 8, 16),
        "{r:?}"
    );
}

/// An organization's life as one fixed sequence (R27–R30, D13, D17): see
/// `lifecycle_story` for the story; every path of it is taken.
#[test]
fn the_lifecycle_as_a_fixed_sequence() {
    let story = lifecycle_story();
    let mut harness = Harness::new(MemoryRepository::new());
    block_on(harness.run(&story)).unwrap();
    let r = harness.counts();
    assert_eq!(
        (
            r.resends,
            r.resends_of_expired,
            r.superseded_refused,
            r.dead_invitations_listed
        ),
        (2, 1, 3, 2),
        "{r:?}"
    );
    assert_eq!(
        (
            r.transfers_requested,
            r.transfers_accepted,
            r.transfers_declined,
            r.transfers_cancelled,
            r.transfers_expired,
            r.transfers_ended,
            r.last_owned_refusals
        ),
        (5, 1, 1, 1, 1, 1, 1),
        "{r:?}"
    );
    assert_eq!(
        (
            r.deletions,
            r.wrong_names_refused,
            r.restores,
            r.restores_too_late,
            r.purges,
            r.pending_refusals
        ),
        (2, 1, 1, 1, 1, 1),
        "{r:?}"
    );
    // Its audit log: 18 events in Acme before the purge took them along
    // (created, two invitations and two resends, an acceptance and its
    // member, five transfers requested, one each declined, cancelled and
    // accepted, two deletions and a restore), and the creation of each of
    // the three others.
    assert_eq!(
        (r.audit_events, r.audit_actions, r.audit_longest),
        (21, 11, 18),
        "{r:?}"
    );
}

fn create(actor: Option<usize>, kind: ResourceKind) -> Op {
    Op::CreateResource {
        actor,
        org: 0,
        kind,
        connection: None,
    }
}

/// The story of the seed, as one fixed sequence: sign up, invite, sign up from
/// the link, chat, get removed, and find the chat closed.
#[test]
fn the_seed_story_as_a_fixed_sequence() {
    let story = [
        Op::SignUp {
            email: 0,
            invitation: None,
        },
        // Inviting needs a verified address: Ann opens her email's link.
        Op::Account(AccountOp::Verify { link: 0 }),
        Op::Invite {
            actor: Some(0),
            org: 0,
            email: 1,
            role: AskedRole::Unspecified,
        },
        Op::SignUpFromLink { invitation: 0 },
        create(Some(0), ResourceKind::Agent),
        // Bob is a viewer: refused.
        create(Some(1), ResourceKind::Agent),
        Op::OpenChat {
            actor: 1,
            org: 0,
            agent: 0,
        },
        Op::SendMessage { actor: 1, chat: 0 },
        Op::Remove {
            actor: Some(0),
            org: 0,
            member: 1,
        },
        Op::SendMessage { actor: 1, chat: 0 },
        Op::Accept {
            user: 1,
            invitation: 0,
        },
    ];
    let mut harness = Harness::new(MemoryRepository::new());
    block_on(harness.run(&story)).unwrap();
    let r = harness.counts();
    assert_eq!(
        [r.users, r.orgs, r.invitations, r.chats],
        [2, 2, 1, 1],
        "{r:?}"
    );
}

/// Quotas count what exists (D10): on the free plan of the model (one
/// connection), a second connection is refused, and fits once the first is
/// deleted. A deleted connection leaves its agent and its credentials go.
#[test]
fn deleting_makes_room_under_a_quota() {
    let owner = None;
    let story = [
        Op::SignUp {
            email: 0,
            invitation: None,
        },
        create(owner, ResourceKind::Connection),
        create(owner, ResourceKind::Connection),
        Op::CreateResource {
            actor: owner,
            org: 0,
            kind: ResourceKind::Agent,
            connection: Some(0),
        },
        Op::Pin {
            actor: owner,
            resource: 0,
        },
        Op::UseConnection {
            user: 0,
            connection: 0,
            stale: false,
        },
        Op::DeleteResource {
            actor: owner,
            resource: 0,
            elsewhere: None,
        },
        // Deleted already: not found.
        Op::DeleteResource {
            actor: owner,
            resource: 0,
            elsewhere: None,
        },
        create(owner, ResourceKind::Connection),
        create(owner, ResourceKind::Connection),
    ];
    let mut harness = Harness::new(MemoryRepository::new());
    block_on(harness.run(&story)).unwrap();
    let r = harness.counts();
    assert_eq!(
        (r.quota_refusals, r.deleted, r.recreated, r.credentials_read),
        (2, 1, 1, 1),
        "{r:?}"
    );
}

/// Report runs and chats about them, for the owner and a viewer; a removed
/// viewer's kept grant opens no credentials any more (D12).
#[test]
fn runs_are_talked_about_and_removed_grants_open_nothing() {
    let owner = None;
    let story = [
        Op::SignUp {
            email: 0,
            invitation: None,
        },
        // Inviting needs a verified address: Ann opens her email's link.
        Op::Account(AccountOp::Verify { link: 0 }),
        Op::Invite {
            actor: Some(0),
            org: 0,
            email: 1,
            role: AskedRole::Unspecified,
        },
        Op::SignUpFromLink { invitation: 0 },
        create(owner, ResourceKind::Report),
        create(owner, ResourceKind::Connection),
        Op::TriggerRun {
            actor: owner,
            report: 0,
        },
        // The viewer may not trigger runs, but may talk about one.
        Op::TriggerRun {
            actor: Some(1),
            report: 0,
        },
        Op::OpenRunChat {
            actor: Some(1),
            run: 0,
            elsewhere: None,
        },
        Op::SendMessage { actor: 1, chat: 0 },
        Op::UseConnection {
            user: 1,
            connection: 0,
            stale: false,
        },
        Op::Remove {
            actor: Some(0),
            org: 0,
            member: 1,
        },
        Op::UseConnection {
            user: 0,
            connection: 0,
            stale: true,
        },
    ];
    let mut harness = Harness::new(MemoryRepository::new());
    block_on(harness.run(&story)).unwrap();
    let r = harness.counts();
    // Bob's one kept grant (`chat_with_agents`, the one the host used for
    // the connection) is refused right at his removal, and again when it is
    // used after it.
    assert_eq!(
        (
            r.runs,
            r.run_chats,
            r.credentials_read,
            r.stale_grants_refused
        ),
        (1, 1, 1, 2),
        "{r:?}"
    );
}
