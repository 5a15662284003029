//! The command line: `tenancy serve` and `tenancy migrate`. Every option can
//! also come from an environment variable `TENANCY_<NAME>`; the command line
//! wins.
//!
//! Values are kept as the operator wrote them; [`crate::config`] parses and
//! checks them, so that a bad value gets a message that names the option and
//! never repeats a secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tenancy_core::limits::LimitKind;

/// The organizations-and-teams service.
#[derive(Debug, Parser)]
#[command(name = "tenancy", version)]
pub struct Cli {
    /// How log lines look: `text` for people, `json` for log collectors.
    /// Which lines appear is set by `TENANCY_LOG` (or `RUST_LOG`), e.g.
    /// `info` (the default) or `tenancy=debug,info`.
    #[arg(
        long,
        global = true,
        env = "TENANCY_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service, the mail delivery worker and the purge of
    /// deleted organizations until SIGTERM or SIGINT. Pending migrations run
    /// first.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Work with an organization's audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// What to do with an audit log.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of an export (`GET
    /// /v1/organizations/{org_id}/audit-log/export`, NDJSON): `seq` from 1
    /// without gaps, each `prev_hash` the previous event's `hash`, each
    /// `hash` that of its line. Prints the count and the last hash; exits 1
    /// naming the first event that breaks the chain.
    Verify {
        /// The export; `-` reads standard input.
        file: PathBuf,
    },
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (the file and its folder are created when missing) or
    /// `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long,
        env = "TENANCY_DATABASE",
        value_name = "URL",
        default_value = "sqlite://./tenancy-data/tenancy.db",
        hide_env_values = true
    )]
    pub database: Sensitive,
}

/// The options of `tenancy migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// The options of `tenancy serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to bind. Port 0 picks a free port; the bound address is
    /// logged as `listening on http://ADDR` once the server is ready.
    #[arg(
        long,
        env = "TENANCY_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Base of the links in emails, e.g. `https://tenancy.example.com`.
    /// Defaults to `http://` and the bound address.
    #[arg(long, env = "TENANCY_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Write each email as `DIR/<mail-id>.eml` (RFC 5322), atomically.
    #[arg(
        long,
        env = "TENANCY_MAIL_DIR",
        value_name = "DIR",
        default_value = "./tenancy-data/outbox",
        conflicts_with = "smtp_url"
    )]
    pub mail_dir: PathBuf,

    /// Send emails over SMTP instead, to `smtp://HOST[:PORT]` (port 25 by
    /// default). Plain SMTP without TLS or authentication, for a relay on
    /// the local machine or network.
    #[arg(long, env = "TENANCY_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,

    /// The `From` of emails, e.g. `Acme <no-reply@acme.example>`. Defaults to
    /// `tenancy <no-reply@HOST>` with the host of the public URL.
    #[arg(long, env = "TENANCY_MAIL_FROM", value_name = "MAILBOX")]
    pub mail_from: Option<String>,

    /// The 32-byte key that seals secrets at rest. Created with mode 0600
    /// when missing; refused when it has another size or when its group or
    /// others may read or write it.
    #[arg(
        long,
        env = "TENANCY_SECRET_KEY_FILE",
        value_name = "FILE",
        default_value = "./tenancy-data/secret.key"
    )]
    pub secret_key_file: PathBuf,

    /// How long an invitation stays valid, e.g. `7d`, `36h`, `3s`.
    #[arg(
        long,
        env = "TENANCY_INVITATION_TTL",
        value_name = "DURATION",
        default_value = "7d"
    )]
    pub invitation_ttl: String,

    /// How long the link of a verification email works, e.g. `24h`.
    #[arg(
        long,
        env = "TENANCY_VERIFICATION_TTL",
        value_name = "DURATION",
        default_value = "24h"
    )]
    pub verification_ttl: String,

    /// Lets people whose email address is not verified invite (and, in
    /// time, transfer ownership). Off by default: an unverified address
    /// could be anyone's.
    #[arg(long, env = "TENANCY_ALLOW_UNVERIFIED_INVITERS")]
    pub allow_unverified_inviters: bool,

    /// How long a session lives after sign-in, however busy, e.g. `30d`.
    #[arg(
        long,
        env = "TENANCY_SESSION_TTL",
        value_name = "DURATION",
        default_value = "30d"
    )]
    pub session_ttl: String,

    /// How long a session lives without use, e.g. `7d`.
    #[arg(
        long,
        env = "TENANCY_SESSION_IDLE_TIMEOUT",
        value_name = "DURATION",
        default_value = "7d"
    )]
    pub session_idle_timeout: String,

    /// How long a deleted organization stays restorable before a background
    /// job purges it for good, e.g. `30d`; `0s` purges at once.
    #[arg(
        long,
        env = "TENANCY_DELETION_GRACE",
        value_name = "DURATION",
        default_value = "30d"
    )]
    pub deletion_grace: String,

    /// Tests only: the purge pauses this long between erasing an
    /// organization's knowledge files and deleting its rows, so that a test
    /// can kill the server in the middle of a purge. Never set it in
    /// production.
    #[arg(
        long,
        env = "TENANCY_TEST_PURGE_PAUSE",
        value_name = "DURATION",
        hide = true
    )]
    pub test_purge_pause: Option<String>,

    /// Lets webhooks use `http` URLs and private, loopback or link-local
    /// addresses, both refused by default (at creation and at each
    /// delivery): for tests and private networks only.
    #[arg(long, env = "TENANCY_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,

    /// Tests only: divides the waits of webhook deliveries (the retry
    /// schedule and the lease of a claim) by this factor, so that a test
    /// sees the schedule in seconds. Never set it in production.
    #[arg(
        long,
        env = "TENANCY_TEST_WEBHOOK_TIME_SCALE",
        value_name = "FACTOR",
        hide = true
    )]
    pub test_webhook_time_scale: Option<u32>,

    /// A TOML file of plans that replaces the built-in ones (see the crate's
    /// README for its format).
    #[arg(long, env = "TENANCY_PLANS", value_name = "FILE")]
    pub plans: Option<PathBuf>,

    /// Enables `POST /v1/authorize` for hosts with this token: 43 base64url
    /// characters (256 random bits). Prefer the environment variable, which
    /// other users of the machine cannot see in the process list.
    #[arg(
        long,
        env = "TENANCY_SERVICE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub service_token: Option<Sensitive>,

    /// Where knowledge files keep their content, one file per upload under
    /// a folder per organization; created when missing.
    #[arg(
        long,
        env = "TENANCY_BLOB_DIR",
        value_name = "DIR",
        default_value = "./tenancy-data/blobs"
    )]
    pub blob_dir: PathBuf,

    /// The largest knowledge file accepted, in bytes (413 above it).
    #[arg(
        long,
        env = "TENANCY_MAX_UPLOAD_BYTES",
        value_name = "BYTES",
        default_value_t = 10_485_760
    )]
    pub max_upload_bytes: u64,

    /// How many password hashes (sign-up, sign-in, password change) run at
    /// once; each takes 19 MiB while it runs. A request that cannot start
    /// within 5 s gets 503 with `Retry-After`. Defaults to twice the CPUs.
    #[arg(long, env = "TENANCY_MAX_CONCURRENT_HASHES", value_name = "N")]
    pub max_concurrent_hashes: Option<usize>,

    /// A client that has not sent its whole request head within this time
    /// is disconnected (slow clients hold no connection for long).
    #[arg(
        long,
        env = "TENANCY_HEADER_TIMEOUT",
        value_name = "DURATION",
        default_value = "10s"
    )]
    pub header_timeout: String,

    /// A keep-alive connection with no request for this long is closed.
    #[arg(
        long,
        env = "TENANCY_IDLE_TIMEOUT",
        value_name = "DURATION",
        default_value = "60s"
    )]
    pub idle_timeout: String,

    /// The most connections open at once; past that, new ones wait (and the
    /// longest-idle connection is closed to make room). Also bounded by the
    /// process's limit of open files, raised to its hard limit at start.
    #[arg(
        long,
        env = "TENANCY_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = 10_000
    )]
    pub max_connections: usize,

    // Rate limits (API.md "Rate limits and abuse"): counts in fixed windows
    // that slide, kept in the database so that they hold across instances.
    /// Failed sign-ins per email in 15 minutes; then that email is refused
    /// (429) for the rest of the window, even with the right password. A
    /// successful sign-in before that clears the count. `0` turns it off.
    #[arg(
        long,
        env = "TENANCY_SIGNIN_FAILURES_PER_EMAIL",
        value_name = "COUNT",
        default_value_t = LimitKind::SignInFailures.default_max()
    )]
    pub signin_failures_per_email: u32,

    /// Sign-in and sign-up attempts per client address in a minute (429
    /// beyond). IPv6 clients count by their /64. `0` turns it off.
    #[arg(
        long,
        env = "TENANCY_AUTH_ATTEMPTS_PER_IP",
        value_name = "COUNT",
        default_value_t = LimitKind::AuthAttempts.default_max()
    )]
    pub auth_attempts_per_ip: u32,

    /// Password reset and verification emails per email address in an
    /// hour, the one sent at sign-up included; beyond, the email is not
    /// sent. `0` turns it off.
    #[arg(
        long,
        env = "TENANCY_ACCOUNT_EMAILS_PER_ADDRESS",
        value_name = "COUNT",
        default_value_t = LimitKind::AccountEmails.default_max()
    )]
    pub account_emails_per_address: u32,

    /// Invitations (new and resent) per organization in an hour (429
    /// beyond). `0` turns it off.
    #[arg(
        long,
        env = "TENANCY_INVITATIONS_PER_ORGANIZATION",
        value_name = "COUNT",
        default_value_t = LimitKind::Invitations.default_max()
    )]
    pub invitations_per_organization: u32,

    /// Reverse proxies whose `X-Forwarded-For` names the client, as a
    /// comma-separated list of CIDR blocks or addresses, e.g.
    /// `127.0.0.1,10.0.0.0/8`. The client is then the header's first
    /// address. Default: none, the peer is the client.
    #[arg(long, env = "TENANCY_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
}

/// An option's value that may hold a secret (a token, a password in a
/// database URL): `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Sensitive {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_deletion_grace_is_documented_and_the_test_knob_is_not() {
        let mut command = Cli::command();
        let serve = command.find_subcommand_mut("serve").unwrap();
        let help = serve.render_long_help().to_string();
        assert!(help.contains("--deletion-grace"), "{help}");
        assert!(help.contains("TENANCY_DELETION_GRACE"), "{help}");
        assert!(!help.contains("purge-pause"), "{help}");
        assert!(!help.contains("TENANCY_TEST_PURGE_PAUSE"), "{help}");
        let cli = Cli::try_parse_from(["tenancy", "serve", "--test-purge-pause", "3s"]).unwrap();
        let Command::Serve(args) = cli.command else {
            unreachable!("`serve` parses as `Serve`")
        };
        assert_eq!(args.test_purge_pause.as_deref(), Some("3s"));
        assert_eq!(args.deletion_grace, "30d");
    }

    #[test]
    fn sensitive_values_are_not_debug_printed() {
        let cli = Cli::try_parse_from([
            "tenancy",
            "serve",
            "--service-token",
            "hunter2hunter2",
            "--database",
            "postgres://u:pw@db/x",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
    }

    #[test]
    fn mail_dir_and_smtp_url_exclude_each_other_only_when_both_are_given() {
        assert!(Cli::try_parse_from(["tenancy", "serve", "--smtp-url", "smtp://h:25"]).is_ok());
        let both = Cli::try_parse_from([
            "tenancy",
            "serve",
            "--smtp-url",
            "smtp://h:25",
            "--mail-dir",
            "x",
        ]);
        assert!(both.is_err());
    }
}
