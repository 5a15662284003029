//! `tenancy`: see `tenancy --help` and the crate's README.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the world failed it (the
//! database, the address to bind), 2 for a bad command line or
//! configuration.

use std::process::ExitCode;

use clap::Parser;
use tenancy::cli::Cli;

fn main() -> ExitCode {
    // Usage errors exit with 2 here, `--help` and `--version` with 0.
    let cli = Cli::parse();
    // Dropping it flushes the last log lines: before the final error, if any.
    let logs = match tenancy::logging::init(cli.log_format) {
        Ok(guard) => guard,
        Err(error) => return fail(&error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            drop(logs);
            return fail(&tenancy::Error::io("cannot start the async runtime", e));
        }
    };
    let outcome = runtime.block_on(tenancy::run(cli));
    drop(runtime);
    drop(logs);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &tenancy::Error) -> ExitCode {
    eprintln!("tenancy: error: {error}");
    ExitCode::from(error.exit_code())
}
