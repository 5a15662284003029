//! The real workspace passes `cargo xtask tidy`: tenancy-core reaches no forbidden crate and every manifest follows the conventions.

#[test]
fn workspace_is_tidy() {
    let metadata = xtask::tidy::cargo_metadata().unwrap();
    let problems = xtask::tidy::check(&metadata).unwrap();
    assert!(
        problems.is_empty(),
        "tidy problems (also reported by `cargo xtask tidy`):\n{}",
        problems.join("\n")
    );
}

#[test]
fn core_dependency_graph_is_walked() {
    // A walk that silently reached nothing would pass the check above vacuously,
    // so forbid a crate that the core certainly uses and expect the walk to find it.
    let metadata = xtask::tidy::cargo_metadata().unwrap();
    let found =
        xtask::tidy::forbidden_dependencies(&metadata, xtask::tidy::CORE, &["serde"]).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].path.first().map(String::as_str),
        Some(xtask::tidy::CORE)
    );
}
