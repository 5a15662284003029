//! The one error type of the binary, and its exit codes.

use tenancy_core::StoreError;

/// Why `tenancy` stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable: a bad option, plans file or key file.
    /// Nothing was started; exit code 2, like a usage error.
    #[error("{0}")]
    Config(String),
    /// The database could not be opened, migrated or closed.
    #[error("{context}: {source}")]
    Store {
        context: &'static str,
        #[source]
        source: StoreError,
    },
    /// An audit log export does not verify.
    #[error("the audit log does not verify: {0}")]
    Unverified(String),
    /// The operating system refused something: binding the address,
    /// registering a signal handler, starting the runtime.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::Config(message.into())
    }

    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// 2 for a configuration the process cannot start with, 1 for a failure
    /// of the world around it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => 2,
            Self::Store { .. } | Self::Io { .. } | Self::Unverified(_) => 1,
        }
    }
}
