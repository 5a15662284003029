//! `cargo xtask ci`: every check that CI runs, in the order that fails fastest.

use std::process::Stdio;

use crate::{Error, cargo, openapi_lint, run_cargo, running_in_ci, tidy};

const DENY_ARGS: &[&str] = &["deny", "check", "bans", "licenses", "sources"];

/// Runs the checks in order and stops at the first failure.
pub fn run() -> Result<(), Error> {
    run_cargo(&["fmt", "--all", "--", "--check"])?;
    run_cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ])?;
    println!("$ cargo xtask tidy");
    tidy::run()?;
    println!("$ cargo xtask openapi-lint");
    openapi_lint::run(&[])?;
    run_cargo(&["test", "--workspace"])?;
    deny()?;
    println!("ci: all checks passed");
    Ok(())
}

/// `cargo deny check`, which a developer may not have installed; CI must have it.
fn deny() -> Result<(), Error> {
    if cargo_deny_installed() {
        return run_cargo(DENY_ARGS);
    }
    let command = format!("cargo {}", DENY_ARGS.join(" "));
    let install = "install it with `cargo install cargo-deny --locked`";
    if running_in_ci() {
        Err(Error::Other(format!(
            "cargo-deny is not installed, so `{command}` cannot run; {install}"
        )))
    } else {
        println!(
            "skipping `{command}`: cargo-deny is not installed ({install}); under CI=true this is an error"
        );
        Ok(())
    }
}

fn cargo_deny_installed() -> bool {
    cargo(&["deny", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
