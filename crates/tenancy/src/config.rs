//! The checked configuration of `tenancy serve`: every option of
//! [`crate::cli::ServeArgs`] parsed into what the server uses, with an error
//! that names the option when a value is unusable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use lettre::message::Mailbox;
use poem::http::Uri;
use tenancy_core::entity::SessionLifetimes;
use tenancy_core::limits::RateLimits;
use tenancy_core::plan::PlanCatalog;
use tenancy_core::token::SecretToken;
use tenancy_http::TrustedProxies;
use tenancy_store::SecretKey;

use crate::Error;
use crate::cli::{DatabaseArgs, ServeArgs};

/// The longest lifetime accepted (of invitations, links and sessions). Ten
/// years is far beyond any sensible lifetime and far from the end of the
/// calendar that the timestamps can express.
const MAX_LIFETIME_DAYS: i64 = 3650;

/// Everything `tenancy serve` needs, checked.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// A `sqlite://` or `postgres://` URL; it may hold a password.
    pub database: String,
    /// `None`: `http://` and the bound address.
    pub public_url: Option<PublicUrl>,
    pub mail: MailConfig,
    /// `None`: `tenancy <no-reply@HOST>` with the public URL's host.
    pub mail_from: Option<Mailbox>,
    pub key: SecretKey,
    pub invitation_ttl: chrono::Duration,
    pub verification_ttl: chrono::Duration,
    pub allow_unverified_inviters: bool,
    pub sessions: SessionLifetimes,
    /// How long a deleted organization stays restorable; zero purges at once.
    pub deletion_grace: chrono::Duration,
    /// Tests only (`TENANCY_TEST_PURGE_PAUSE`): how long the purge pauses
    /// between an organization's blobs and its rows.
    pub test_purge_pause: Option<std::time::Duration>,
    /// `--allow-private-webhooks`.
    pub allow_private_webhooks: bool,
    /// Tests only (`TENANCY_TEST_WEBHOOK_TIME_SCALE`): the webhook
    /// deliveries' waits are divided by this (1 in production).
    pub webhook_time_scale: u32,
    pub catalog: PlanCatalog,
    pub service_token: Option<SecretToken>,
    /// Where knowledge files keep their content.
    pub blob_dir: PathBuf,
    /// The largest knowledge file accepted.
    pub max_upload_bytes: u64,
    /// How many password hashes run at once.
    pub max_concurrent_hashes: usize,
    /// How clients' connections are held.
    pub connections: ConnectionLimits,
    /// The rate limits in force.
    pub limits: RateLimits,
    /// The peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

/// How long a connection may take over its request head, may sit idle, and
/// how many may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub max_connections: usize,
}

/// How emails leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailConfig {
    /// As `.eml` files in a folder.
    Dir(PathBuf),
    /// Over plain SMTP.
    Smtp(SmtpUrl),
}

impl ServeConfig {
    /// Checks every option. The cheap, pure checks come first, so that a
    /// typo is reported before anything is created on disk; the secret key
    /// file is read (or created) last.
    pub fn load(args: ServeArgs) -> Result<Self, Error> {
        let database = database_url(&args.database)?;
        let public_url = args
            .public_url
            .as_deref()
            .map(PublicUrl::parse)
            .transpose()?;
        let mail = match &args.smtp_url {
            Some(url) => MailConfig::Smtp(SmtpUrl::parse(url)?),
            None => MailConfig::Dir(args.mail_dir.clone()),
        };
        let mail_from = args.mail_from.as_deref().map(parse_mailbox).transpose()?;
        let invitation_ttl = parse_invitation_ttl(&args.invitation_ttl)?;
        let verification_ttl = parse_lifetime("--verification-ttl", &args.verification_ttl)?;
        let sessions = SessionLifetimes {
            ttl: parse_lifetime("--session-ttl", &args.session_ttl)?,
            idle_timeout: parse_lifetime("--session-idle-timeout", &args.session_idle_timeout)?,
        };
        let deletion_grace = parse_grace("--deletion-grace", &args.deletion_grace)?;
        let test_purge_pause = args
            .test_purge_pause
            .as_deref()
            .map(|pause| parse_timeout("TENANCY_TEST_PURGE_PAUSE", pause))
            .transpose()?;
        let catalog = match &args.plans {
            Some(path) => crate::plans::load(path)?,
            None => PlanCatalog::builtin(),
        };
        let service_token = args
            .service_token
            .as_ref()
            .map(|token| parse_service_token(token.expose()))
            .transpose()?;
        if args.max_upload_bytes == 0 {
            return Err(Error::config(
                "`--max-upload-bytes` must be at least 1; the default is 10485760 (10 MiB)",
            ));
        }
        let max_concurrent_hashes = match args.max_concurrent_hashes {
            Some(0) => {
                return Err(Error::config(
                    "`--max-concurrent-hashes` must be at least 1; the default is twice the CPUs",
                ));
            }
            Some(n) => n,
            None => tenancy_http::default_max_concurrent_hashes(),
        };
        let connections = ConnectionLimits {
            header_timeout: parse_timeout("--header-timeout", &args.header_timeout)?,
            idle_timeout: parse_timeout("--idle-timeout", &args.idle_timeout)?,
            max_connections: match args.max_connections {
                0 => {
                    return Err(Error::config(
                        "`--max-connections` must be at least 1; the default is 10000",
                    ));
                }
                n => n,
            },
        };
        let limits = RateLimits::from_counts(
            args.signin_failures_per_email,
            args.auth_attempts_per_ip,
            args.account_emails_per_address,
            args.invitations_per_organization,
        );
        let trusted_proxies = parse_trusted_proxies(args.trusted_proxies.as_deref())?;
        let key = crate::key::load_or_create(&args.secret_key_file)?;
        Ok(Self {
            listen: args.listen,
            database,
            public_url,
            mail,
            mail_from,
            key,
            invitation_ttl,
            verification_ttl,
            allow_unverified_inviters: args.allow_unverified_inviters,
            sessions,
            deletion_grace,
            test_purge_pause,
            allow_private_webhooks: args.allow_private_webhooks,
            webhook_time_scale: args.test_webhook_time_scale.unwrap_or(1).max(1),
            catalog,
            service_token,
            blob_dir: args.blob_dir,
            max_upload_bytes: args.max_upload_bytes,
            max_concurrent_hashes,
            connections,
            limits,
            trusted_proxies,
        })
    }
}

/// Parses `--trusted-proxies`: comma-separated CIDR blocks or addresses.
pub fn parse_trusted_proxies(input: Option<&str>) -> Result<TrustedProxies, Error> {
    TrustedProxies::parse(input.unwrap_or_default()).map_err(|e| {
        Error::config(format!(
            "`--trusted-proxies`: {e}; expected a comma-separated list such as `127.0.0.1,10.0.0.0/8`"
        ))
    })
}

/// The database URL, if the store knows its scheme.
pub fn database_url(args: &DatabaseArgs) -> Result<String, Error> {
    let url = args.database.expose().trim();
    let known = ["sqlite://", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url.starts_with(scheme));
    if known {
        Ok(url.to_owned())
    } else {
        Err(Error::config(format!(
            "`--database` must be `sqlite://PATH` or `postgres://...`, not `{}`",
            redact_url(url)
        )))
    }
}

/// A URL with its user information (which may hold a password) masked, for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// The base of links in emails: `http` or `https`, a host, maybe a path,
/// without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    base: String,
    host: String,
}

impl PublicUrl {
    /// Parses `--public-url`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::config(format!(
                "`--public-url` `{}` {why}; expected e.g. `https://tenancy.example.com`",
                redact_url(input)
            ))
        };
        let uri = Uri::from_str(input.trim()).map_err(|_| bad("is not a URL"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(bad("must start with `http://` or `https://`")),
        }
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not hold a user name or password"));
        }
        if uri.query().is_some() || input.contains('#') {
            return Err(bad("must not have a query or a fragment"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        explicit_port(authority).map_err(|()| bad("has an invalid port"))?;
        let base = format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("http"),
            authority.as_str(),
            uri.path().trim_end_matches('/')
        );
        Ok(Self {
            base,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        })
    }

    /// The default: `http://` and the bound address.
    pub fn from_listen_addr(addr: SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            host: addr.ip().to_string(),
        }
    }

    /// The URL, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The host, without brackets around an IPv6 address.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

/// Where plain SMTP goes: `smtp://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
}

impl SmtpUrl {
    /// The port of SMTP relays.
    pub const DEFAULT_PORT: u16 = 25;

    /// Parses `--smtp-url`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        // The value is not repeated: a URL with credentials in it should not
        // land in a log collector.
        let bad = |why: &str| {
            Error::config(format!(
                "`--smtp-url` {why}; expected `smtp://HOST[:PORT]`, e.g. `smtp://127.0.0.1:25`"
            ))
        };
        let input = input.trim();
        let scheme_end = input.find("://").ok_or_else(|| bad("is not a URL"))?;
        match &input[..scheme_end] {
            scheme if scheme.eq_ignore_ascii_case("smtp") => {}
            scheme if scheme.eq_ignore_ascii_case("smtps") => {
                return Err(bad(
                    "uses `smtps`, but only plain SMTP (no TLS) is supported; run a local relay that forwards over TLS",
                ));
            }
            _ => return Err(bad("must start with `smtp://`")),
        }
        let uri = Uri::from_str(input).map_err(|_| bad("is not a URL"))?;
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "holds a user name or password, but SMTP authentication is not supported",
            ));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("must not have a path or a query"));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let port = explicit_port(authority)
            .map_err(|()| bad("has an invalid port"))?
            .unwrap_or(Self::DEFAULT_PORT);
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// The port written in an authority, if any; `Err` for one that is not a
/// port number (`http::Uri` accepts any digits there).
fn explicit_port(authority: &poem::http::uri::Authority) -> Result<Option<u16>, ()> {
    match authority.as_str().rsplit_once(':') {
        Some((_, port)) if !port.contains(']') => match port.parse::<u16>() {
            Ok(port) if port != 0 => Ok(Some(port)),
            _ => Err(()),
        },
        _ => Ok(None),
    }
}

fn parse_mailbox(input: &str) -> Result<Mailbox, Error> {
    Mailbox::from_str(input.trim()).map_err(|e| {
        Error::config(format!(
            "`--mail-from` `{input}` is not a mailbox ({e}); expected e.g. `Acme <no-reply@acme.example>`"
        ))
    })
}

/// Parses `--invitation-ttl`: a positive humantime duration of at most ten
/// years.
pub fn parse_invitation_ttl(input: &str) -> Result<chrono::Duration, Error> {
    parse_lifetime("--invitation-ttl", input)
}

/// Parses a lifetime option (`--invitation-ttl`, `--verification-ttl`,
/// `--session-ttl`, `--session-idle-timeout`): a positive humantime
/// duration of at most ten years.
pub fn parse_lifetime(option: &str, input: &str) -> Result<chrono::Duration, Error> {
    let std = humantime::parse_duration(input.trim()).map_err(|e| {
        Error::config(format!(
            "`{option}` `{input}` is not a duration ({e}); expected e.g. `7d`, `36h` or `90s`"
        ))
    })?;
    let max = chrono::Duration::days(MAX_LIFETIME_DAYS);
    let ttl = chrono::Duration::from_std(std).unwrap_or(max + chrono::Duration::seconds(1));
    if ttl <= chrono::Duration::zero() {
        return Err(Error::config(format!(
            "`{option}` must be positive, not `{input}`"
        )));
    }
    if ttl > max {
        return Err(Error::config(format!(
            "`{option}` `{input}` is too long; the most is {MAX_LIFETIME_DAYS} days"
        )));
    }
    Ok(ttl)
}

/// Parses a grace period (`--deletion-grace`): a humantime duration of zero
/// (no grace: at once) up to ten years.
pub fn parse_grace(option: &str, input: &str) -> Result<chrono::Duration, Error> {
    let std = humantime::parse_duration(input.trim()).map_err(|e| {
        Error::config(format!(
            "`{option}` `{input}` is not a duration ({e}); expected e.g. `30d`, `36h` or `0s`"
        ))
    })?;
    let max = chrono::Duration::days(MAX_LIFETIME_DAYS);
    match chrono::Duration::from_std(std) {
        Ok(grace) if grace <= max => Ok(grace),
        _ => Err(Error::config(format!(
            "`{option}` `{input}` is too long; the most is {MAX_LIFETIME_DAYS} days"
        ))),
    }
}

/// Parses a timeout of the connection options: a positive humantime
/// duration of at most a day.
fn parse_timeout(option: &str, input: &str) -> Result<std::time::Duration, Error> {
    let duration = humantime::parse_duration(input.trim()).map_err(|e| {
        Error::config(format!(
            "`{option}` `{input}` is not a duration ({e}); expected e.g. `10s` or `2m`"
        ))
    })?;
    if duration.is_zero() || duration > std::time::Duration::from_secs(86_400) {
        return Err(Error::config(format!(
            "`{option}` must be more than 0 and at most a day, not `{input}`"
        )));
    }
    Ok(duration)
}

fn parse_service_token(input: &str) -> Result<SecretToken, Error> {
    SecretToken::parse(input.trim()).map_err(|_| {
        Error::config(
            "`--service-token` must be 43 base64url characters (256 random bits), \
             e.g. from `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_lose_their_trailing_slash_and_keep_their_path() {
        let url = PublicUrl::parse("https://example.com/app/").unwrap();
        assert_eq!(url.as_str(), "https://example.com/app");
        assert_eq!(url.host(), "example.com");
        let url = PublicUrl::parse("http://[::1]:8080").unwrap();
        assert_eq!(url.as_str(), "http://[::1]:8080");
        assert_eq!(url.host(), "::1");
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "https://example.com/?a=b",
            "https://example.com/#x",
            "http://example.com:99999",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
        let error = PublicUrl::parse("https://u:hunter2@example.com")
            .unwrap_err()
            .to_string();
        assert!(error.contains("https://***@example.com"), "{error}");
    }

    #[test]
    fn smtp_urls_name_a_host_and_a_port() {
        assert_eq!(
            SmtpUrl::parse("smtp://127.0.0.1:2525").unwrap(),
            SmtpUrl {
                host: "127.0.0.1".into(),
                port: 2525
            }
        );
        assert_eq!(SmtpUrl::parse("SMTP://mail.local/").unwrap().port, 25);
        assert_eq!(SmtpUrl::parse("smtp://[::1]:25").unwrap().host, "::1");
        for bad in [
            "mail.local:25",
            "smtps://mail.local",
            "http://mail.local",
            "smtp://user:secret@mail.local",
            "smtp://mail.local:0",
            "smtp://mail.local:99999",
            "smtp://mail.local/x",
        ] {
            let error = SmtpUrl::parse(bad).unwrap_err().to_string();
            assert!(!error.contains("secret"), "{error}");
        }
    }

    #[test]
    fn invitation_ttls_are_positive_and_bounded() {
        assert_eq!(
            parse_invitation_ttl("7d").unwrap(),
            chrono::Duration::days(7)
        );
        assert_eq!(
            parse_invitation_ttl("3s").unwrap(),
            chrono::Duration::seconds(3)
        );
        for bad in ["0s", "", "soon", "-1d", "20years", "1000000000years"] {
            assert!(parse_invitation_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deletion_graces_may_be_zero_and_are_bounded() {
        assert_eq!(
            parse_grace("--deletion-grace", "30d").unwrap(),
            chrono::Duration::days(30)
        );
        assert_eq!(
            parse_grace("--deletion-grace", " 0s ").unwrap(),
            chrono::Duration::zero()
        );
        for bad in ["", "soon", "-1d", "20years", "1000000000years"] {
            let error = parse_grace("--deletion-grace", bad)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("`--deletion-grace`"), "{error}");
        }
    }

    #[test]
    fn database_urls_are_checked_and_redacted() {
        let args = |url: &str| DatabaseArgs {
            database: url.parse().unwrap(),
        };
        assert!(database_url(&args("sqlite://./x.db")).is_ok());
        assert!(database_url(&args("postgres://u:p@h/db")).is_ok());
        let error = database_url(&args("mysql://root:hunter2@db/x"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("mysql://***@db/x"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn connection_timeouts_are_positive_and_at_most_a_day() {
        assert_eq!(
            parse_timeout("--header-timeout", "10s").unwrap(),
            std::time::Duration::from_secs(10)
        );
        for bad in ["0s", "", "soon", "2days"] {
            let error = parse_timeout("--idle-timeout", bad)
                .unwrap_err()
                .to_string();
            assert!(error.contains("`--idle-timeout`"), "{error}");
        }
    }

    #[test]
    fn trusted_proxies_are_cidr_lists_and_none_by_default() {
        assert_eq!(parse_trusted_proxies(None).unwrap(), TrustedProxies::none());
        let list = parse_trusted_proxies(Some("127.0.0.1, 10.0.0.0/8,fd00::/8")).unwrap();
        assert!(list.contains("10.1.2.3".parse().unwrap()));
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.0/8,", "10.1.0.0/8"] {
            let error = parse_trusted_proxies(Some(bad)).unwrap_err().to_string();
            assert!(error.starts_with("`--trusted-proxies`"), "{error}");
        }
    }

    #[test]
    fn service_tokens_are_43_base64url_characters_and_never_repeated() {
        let token = "A".repeat(42) + "A";
        assert!(parse_service_token(&token).is_ok());
        let error = parse_service_token("not-a-token-hunter2").unwrap_err();
        assert!(!error.to_string().contains("hunter2"));
    }
}
