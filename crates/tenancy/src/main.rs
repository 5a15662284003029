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
    if let Err(error) = tenancy::logging::init(cli.log_format) {
        return fail(&error);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&tenancy::Error::io("cannot start the async runtime", e)),
    };
    match runtime.block_on(tenancy::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &tenancy::Error) -> ExitCode {
    eprintln!("tenancy: error: {error}");
    ExitCode::from(error.exit_code())
}
