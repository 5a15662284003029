//! Project automation, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! The tasks are plain functions so that tests can call them without spawning `cargo xtask`.
//! Only `std::process::Command` runs tools: there is no shell in between, and every command is printed before it runs.

pub mod bench;
pub mod bench_http;
pub mod bench_soak;
pub mod bench_storm;
pub mod ci;
pub mod codegen;
pub mod openapi_lint;
pub mod tidy;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};

pub const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  bench              run every benchmark below, in turn (about half an hour), and write them all
  bench store        time the store on SQLite and PostgreSQL seeded with a million memberships,
                     and write the figures to docs/benchmarks.md (PostgreSQL admin URL from
                     TENANCY_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)
  bench store --quick
                     the same on a tenth of the data, as a smoke run; writes no file
  bench http [--quick | --duration 10s]
                     load `tenancy serve` with wrk on SQLite and PostgreSQL against its trivial
                     endpoint, and write the figures to docs/benchmarks.md
  bench peers [--quick]
                     tenancy-core's authorization against cedar-policy and casbin in one process
                     (benches/peers, a workspace of its own), at 50k, 100k and 1M memberships
  bench storm [--baseline BINARY]
                     500 sign-ins, 64 at a time, against the release build: the server's peak
                     resident memory and sign-ins per second (and the same against BINARY)
  bench soak [--duration 10m] [--rate 100]
                     mixed traffic at a steady rate against the SQLite default, reporting
                     errors, p99 over time and the server's peak memory
  ci                 check formatting, lint, tidy, the OpenAPI document (openapi-lint), test and
                     cargo-deny, stopping at the first failure
  codegen            regenerate the committed generated files
  codegen --check    fail, listing them, when generated files are stale
  openapi-lint [DOCUMENT]
                     lint docs/openapi.json (or DOCUMENT) with Redocly CLI and Spectral, type-check a
                     story against its openapi-typescript types, generate its openapi-python-client
                     client with no warning (npm tools from xtask/openapi/package-lock.json)
  tidy               check dependency boundaries and workspace manifest conventions
  help               print this message";

/// Why a task failed.
#[derive(Debug)]
pub enum Error {
    /// The command line did not name a known task; the message says what was wrong.
    Usage(String),
    /// A step's command ran and exited unsuccessfully.
    CommandFailed { command: String, status: ExitStatus },
    /// Anything else: a command that could not start, unreadable files, failed checks.
    Other(String),
}

impl Error {
    /// The process exit code for this error: a failed command's own code where it has one.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) => ExitCode::from(2),
            Error::CommandFailed { status, .. } => status
                .code()
                .and_then(|code| u8::try_from(code).ok())
                .filter(|&code| code != 0)
                .map_or(ExitCode::FAILURE, ExitCode::from),
            Error::Other(_) => ExitCode::FAILURE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) => write!(f, "{message}\n\n{USAGE}"),
            Error::CommandFailed { command, status } => {
                write!(f, "`{command}` failed ({status})")
            }
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Other(message)
    }
}

/// Runs the task named by `args` (the command line without the program name).
pub fn run(args: &[String]) -> Result<(), Error> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["bench"] => {
            bench::store(bench::Size::Full)?;
            bench_http::run(&[])?;
            bench::peers(false)?;
            bench_storm::run(&[])?;
            bench_soak::run(&[])
        }
        ["bench", "storm", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            bench_storm::run(&rest)
        }
        ["bench", "peers"] => bench::peers(false),
        ["bench", "peers", "--quick"] => bench::peers(true),
        ["bench", "soak", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            bench_soak::run(&rest)
        }
        ["bench", "store"] => bench::store(bench::Size::Full),
        ["bench", "store", "--quick"] => bench::store(bench::Size::Quick),
        ["bench", "http", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            bench_http::run(&rest)
        }
        ["ci"] => ci::run(),
        ["codegen"] => codegen::run(codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check),
        ["openapi-lint", rest @ ..] => openapi_lint::run(rest),
        ["tidy"] => tidy::run(),
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        [] => Err(Error::Usage("no task given".to_owned())),
        _ => Err(Error::Usage(format!(
            "unknown task or arguments `{}`",
            args.join(" ")
        ))),
    }
}

/// Whether this runs under CI (`CI=true`), where a missing tool is an error instead of a skip.
fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// The workspace root, which holds `Cargo.toml`, `deny.toml` and the generated files.
pub fn project_root() -> PathBuf {
    #[expect(
        clippy::expect_used,
        reason = "xtask/Cargo.toml is an absolute path one level below the workspace root, so it has a parent"
    )]
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives directly under the workspace root")
        .to_path_buf()
}

/// The cargo that is running us, so that nested commands use the same toolchain, or `cargo` from `PATH`.
fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// `cargo <args>`, run from the workspace root.
fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(cargo_program());
    command.args(args).current_dir(project_root());
    command
}

/// Prints `$ cargo <args>`, runs it and fails with its exit status unless it succeeds.
fn run_cargo(args: &[&str]) -> Result<(), Error> {
    let display = format!("cargo {}", args.join(" "));
    println!("$ {display}");
    let status = cargo(args)
        .status()
        .map_err(|error| Error::Other(format!("cannot run `{display}`: {error}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::CommandFailed {
            command: display,
            status,
        })
    }
}
