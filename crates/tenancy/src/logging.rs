//! Log lines on stderr, filtered by `TENANCY_LOG` (or `RUST_LOG`), `info`
//! by default.
//!
//! What is logged never holds a token, a password or a key: the HTTP layer
//! masks the token of invitation links and skips headers, the worker logs
//! mail ids rather than links, and database URLs are redacted.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::Error;
use crate::cli::LogFormat;

/// The filter when neither variable is set: `info`, without PostgreSQL's
/// notices (`relation ... already exists, skipping`), which sqlx relays at
/// `info` and which say nothing to an operator.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Lines waiting for stderr; past them, new lines are dropped.
const BUFFERED_LINES: usize = 100_000;

/// Keeps the log writer's thread alive; dropping it flushes what is left.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: tracing_appender::non_blocking::WorkerGuard,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the global subscriber. Lines go to stderr from a thread of
/// their own: a reader of stderr that stalls (a full pipe, a stuck log
/// collector) costs lines, never the service's requests.
pub fn init(format: LogFormat) -> Result<LogGuard, Error> {
    let (variable, directives) = ["TENANCY_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .map(|value| (name, value))
        })
        .unwrap_or(("default", DEFAULT_FILTER.to_owned()));
    let filter = EnvFilter::builder().parse(&directives).map_err(|e| {
        Error::config(format!(
            "`{variable}` is not a log filter ({e}); expected e.g. `info` or `tenancy=debug,info`"
        ))
    })?;
    // Colours only for a person at a terminal, and not when they asked for none.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| Error::config(format!("cannot install the logger: {e}")))?;
    Ok(LogGuard { _writer: guard })
}
