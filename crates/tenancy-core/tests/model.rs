//! The model-based test: random sequences of operations against the use cases
//! over the in-memory repository, compared with the reference model after
//! every step (see `tenancy_core::testing::model` for the invariants).

use futures::executor::block_on;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tenancy_core::testing::memory::MemoryRepository;
use tenancy_core::testing::model::{Harness, Op, ops};

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
        ..Config::default()
    });
    let reached = std::cell::Cell::new([0_usize; 4]);
    let ran = std::cell::Cell::new(0_u32);
    let result = runner.run(&ops(50), |ops| {
        let mut harness = Harness::new(MemoryRepository::new());
        let outcome = block_on(harness.run(&ops));
        ran.set(ran.get() + 1);
        let mut most = reached.get();
        for (max, seen) in most.iter_mut().zip(harness.counts()) {
            *max = (*max).max(seen);
        }
        reached.set(most);
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let (ran, reached) = (ran.get(), reached.get());
    assert!(ran >= 1_000, "only {ran} sequences ran");
    // The sequences must reach states worth checking: several users, and
    // organizations, invitations and chats beyond the first.
    let [users, orgs, invitations, chats] = reached;
    assert!(
        users >= 4 && orgs >= 5 && invitations >= 5 && chats >= 2,
        "reached {reached:?}"
    );
}

/// The story of the seed, as one fixed sequence: sign up, invite, sign up from
/// the link, chat, get removed, and find the chat closed.
#[test]
fn the_seed_story_as_a_fixed_sequence() {
    use tenancy_core::entity::ResourceKind;
    use tenancy_core::testing::model::AskedRole;
    let story = [
        Op::SignUp {
            email: 0,
            invitation: None,
        },
        Op::Invite {
            actor: 0,
            org: 0,
            email: 1,
            role: AskedRole::Unspecified,
        },
        Op::SignUpFromLink { invitation: 0 },
        Op::CreateResource {
            actor: 0,
            org: 0,
            kind: ResourceKind::Agent,
        },
        Op::CreateResource {
            actor: 1,
            org: 0,
            kind: ResourceKind::Agent,
        },
        Op::OpenChat {
            actor: 1,
            org: 0,
            agent: 0,
        },
        Op::SendMessage { actor: 1, chat: 0 },
        Op::Remove {
            actor: 0,
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
    assert_eq!(harness.counts(), [2, 2, 1, 1]);
}
