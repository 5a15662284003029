//! The committed generated files must match their generators, so that a change to the code that produces them cannot be merged without them.

#[test]
fn generated_files_are_fresh() {
    let stale = xtask::codegen::stale_files(&xtask::project_root()).unwrap();
    assert!(
        stale.is_empty(),
        "{}",
        xtask::codegen::stale_message(&stale)
    );
}
