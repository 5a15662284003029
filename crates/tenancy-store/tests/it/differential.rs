//! The core's model-based sequences replayed against the real store, with
//! the same invariants and the same observable results as the reference model.

use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tenancy_core::testing::model::{Harness, ops};

use crate::support::{TestDb, backends};

/// At least 200 sequences per backend per run; more with `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
        .max(200)
}

#[test]
fn model_sequences_agree_on_every_backend() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        let db = runtime.block_on(TestDb::new(backend));
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let ran = std::cell::Cell::new(0_u32);
        let result = runner.run(&ops(25), |ops| {
            ran.set(ran.get() + 1);
            runtime.block_on(async {
                db.clear().await;
                let mut harness = Harness::new(db.store.clone());
                harness
                    .run(&ops)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{backend:?}: {e}")))
            })
        });
        runtime.block_on(db.remove());
        if let Err(failure) = result {
            panic!("{backend:?}: {failure}");
        }
        let ran = ran.get();
        assert!(ran >= 200, "{backend:?}: only {ran} sequences ran");
    }
}
