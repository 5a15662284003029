//! The `tenancy` server: configuration from the command line and the
//! environment, the HTTP service of `tenancy-http` over the store of
//! `tenancy-store`, the worker that delivers the mail outbox, and the job
//! that purges deleted organizations once their grace period ends.
//!
//! The binary is a thin `main` over [`run`]; everything it does is here, so
//! that tests can drive the pieces (the plans file, the key file, the mail
//! transports and the delivery worker) without a process.

pub mod cli;
pub mod config;
mod error;
pub mod files;
pub mod key;
pub mod logging;
pub mod mail;
pub mod plans;
pub mod purge;
pub mod serve;
pub mod server;
pub mod webhooks;

pub use crate::error::Error;

use crate::cli::{Cli, Command};

/// Runs one command of the command line.
pub async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Serve(args) => {
            let config = config::ServeConfig::load(*args)?;
            serve::serve(config).await
        }
        Command::Migrate(args) => serve::migrate(&config::database_url(&args.database)?).await,
        Command::Audit(cli::AuditCommand::Verify { file }) => {
            let verified = verify_export(&file)?;
            println!(
                "verified {} events; the last hash is {}",
                verified.events, verified.head
            );
            Ok(())
        }
    }
}

/// Checks the hash chain of an audit log export (NDJSON) in `file` (`-`:
/// standard input), line by line, holding one line at a time.
pub fn verify_export(file: &std::path::Path) -> Result<tenancy_core::audit::Verified, Error> {
    use std::io::BufRead as _;
    let reader: Box<dyn std::io::BufRead> = if file == std::path::Path::new("-") {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let opened = std::fs::File::open(file)
            .map_err(|e| Error::io(format!("cannot open {}", file.display()), e))?;
        Box::new(std::io::BufReader::new(opened))
    };
    let mut chain = tenancy_core::audit::Chain::default();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Error::io("cannot read the export", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| Error::Unverified(format!("line {} is not JSON: {e}", index + 1)))?;
        chain
            .push(event)
            .map_err(|e| Error::Unverified(format!("line {}: {e}", index + 1)))?;
    }
    Ok(chain.finish())
}

/// Creates a folder and its missing parents; the ones it creates only their
/// owner may enter (0700), since they hold keys and invitation tokens.
pub(crate) fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
