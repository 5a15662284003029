//! `cargo xtask bench http`: `tenancy serve` under load from wrk, on SQLite and on PostgreSQL.
//!
//! For each backend the task starts the release binary on a free port, seeds users, organizations and memberships
//! through the HTTP API, checks that the prepared requests answer as the seed says they must, and then runs wrk against
//! five endpoints: the trivial `GET /healthz` (the ceiling of the HTTP stack and of the load generator on this
//! machine), `POST /v1/authorize`, `GET /v1/organizations`, and an organization's agents, listed and created.
//! It prints a markdown table per backend and, for a full run, replaces the `## HTTP` section of `docs/benchmarks.md`,
//! and nothing else in that file: its header and the other sections belong to the other benchmarks.
//!
//! A response that is not 2xx, or a socket error, fails the run: such figures would time errors, not the service.
//! The servers get SIGTERM and the PostgreSQL database is dropped at the end, on errors too (guards do it on drop).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench::{command_output, machine, today};
use crate::{Error, project_root};

const USAGE: &str = "usage: cargo xtask bench http [--quick | --duration SECONDS[s|m]]";

/// Relative to the workspace root.
const DOCUMENT: &str = "docs/benchmarks.md";
const HEADING: &str = "## HTTP";

/// The admin URL of the PostgreSQL server the benchmark creates its database on (the store's benchmark reads it too).
const POSTGRES_URL_VAR: &str = "TENANCY_BENCH_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// wrk's threads and connections: two threads for the two CPUs, 32 connections as the target states.
const THREADS: u32 = 2;
const CONNECTIONS: u32 = 32;
/// wrk's per-request timeout. wrk leaves slower responses out of its latency distribution and counts them as
/// timeouts, so its default of 2 s would cut the tail off the percentiles; this one lets them in, and a response
/// slower still fails the run.
const TIMEOUT_SECONDS: u64 = 10;
/// Where the wrk scripts live, relative to the workspace root (wrk runs from there).
const SCRIPTS: &str = "xtask/bench";

/// The targets: at 32 connections, with the load generator on the same machine.
const TARGET_REQUESTS_PER_SEC: f64 = 5_000.0;
const TARGET_P99_MS: f64 = 10.0;
const TARGET: &str = "≥ 5,000 req/s and p99 ≤ 10 ms";

/// The seed: users, each owning their default organization and two more.
const USERS: usize = 50;
/// Bodies that `POST /v1/authorize` rotates over.
const AUTHORIZE_BODIES: usize = 2_000;

/// Warnings and errors only, so that the per-request log line costs nothing, but still the line that names the port.
const LOG_FILTER: &str = "warn,tenancy::serve=info";

/// How a run is sized.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    /// Seconds of each measured wrk run.
    seconds: u64,
    /// Seconds of the unmeasured wrk run before it.
    warm_up_seconds: u64,
    /// A smoke run: short, and writes no file.
    quick: bool,
    /// The command line, for the document.
    command: String,
}

/// Runs the benchmark. `args` are the arguments after `bench http` (a leading `bench http` is skipped as well):
/// `--quick` for a 3 s smoke run that writes no file, or `--duration 10s` for shorter or longer runs than 20 s.
pub fn run(args: &[String]) -> Result<(), Error> {
    let Some(options) = parse_args(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let wrk_version = ensure_wrk()?;
    let binary = build_release()?;
    let scratch = Scratch::create()?;
    let admin_url = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());

    let mut results = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let result = bench_backend(backend, &binary, &scratch.0, &admin_url, &options)?;
        println!("\n{}", result.markdown());
        results.push(result);
    }

    let section = section(&options, &wrk_version, &results);
    println!("\n{section}");
    let failures: Vec<String> = results
        .iter()
        .flat_map(|result| {
            result.rows.iter().filter_map(move |row| {
                row.failure()
                    .map(|why| format!("{} {}: {why}", result.backend.name(), row.label))
            })
        })
        .collect();
    if !failures.is_empty() {
        return Err(Error::Other(format!(
            "the load run had failed requests, so {DOCUMENT} is left as it was:\n  {}",
            failures.join("\n  ")
        )));
    }
    if options.quick {
        println!(
            "not writing {DOCUMENT}: a --quick run is a smoke test, not the figures of record"
        );
        return Ok(());
    }
    let path = project_root().join(DOCUMENT);
    let existing = match fs::read_to_string(&path) {
        Ok(contents) => contents,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(error) => {
            return Err(Error::Other(format!(
                "cannot read `{}`: {error}",
                path.display()
            )));
        }
    };
    fs::write(&path, replace_section(&existing, &section))
        .map_err(|error| format!("cannot write `{}`: {error}", path.display()))?;
    println!("updated the `{HEADING}` section of {DOCUMENT}");
    Ok(())
}

fn usage(message: impl Into<String>) -> Error {
    Error::Usage(format!("{}\n{USAGE}", message.into()))
}

/// `None` for `--help`.
fn parse_args(args: &[String]) -> Result<Option<Options>, Error> {
    let mut args: &[String] = args;
    if args.len() >= 2 && args[0] == "bench" && args[1] == "http" {
        args = &args[2..];
    }
    let mut quick = false;
    let mut duration = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--help" | "-h" => return Ok(None),
            "--duration" => {
                let value = rest
                    .next()
                    .ok_or_else(|| usage("`--duration` needs a value, such as `10s`"))?;
                duration = Some(parse_seconds(value)?);
            }
            other => match other.strip_prefix("--duration=") {
                Some(value) => duration = Some(parse_seconds(value)?),
                None => return Err(usage(format!("unknown argument `{other}`"))),
            },
        }
    }
    let mut command = "cargo xtask bench http".to_owned();
    let (seconds, warm_up_seconds) = match (quick, duration) {
        (true, Some(_)) => return Err(usage("`--quick` and `--duration` exclude each other")),
        (true, None) => {
            command.push_str(" --quick");
            (3, 1)
        }
        (false, Some(seconds)) => {
            let _ = write!(command, " --duration {seconds}s");
            (seconds, 3)
        }
        (false, None) => (20, 3),
    };
    Ok(Some(Options {
        seconds,
        warm_up_seconds,
        quick,
        command,
    }))
}

/// `20`, `20s` or `2m` as seconds, from 1 s to an hour.
fn parse_seconds(text: &str) -> Result<u64, Error> {
    crate::bench::seconds(text).ok_or_else(|| {
        usage(format!(
            "`{text}` is not a duration from 1s to 60m, such as `10s`"
        ))
    })
}

fn ensure_wrk() -> Result<String, Error> {
    if let Some(version) = wrk_version() {
        return Ok(version);
    }
    println!("wrk is not installed: installing the Debian package `wrk`");
    for args in [&["update"][..], &["install", "-y", "wrk"][..]] {
        let display = format!("apt-get {}", args.join(" "));
        println!("$ {display}");
        let outcome = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status();
        let why = match outcome {
            Ok(status) if status.success() => continue,
            Ok(status) => status.to_string(),
            Err(error) => error.to_string(),
        };
        return Err(Error::Other(format!(
            "wrk is not installed and `{display}` failed ({why}): install the Debian package `wrk` (as root) and run again"
        )));
    }
    wrk_version().ok_or_else(|| {
        Error::Other(
            "installed the Debian package `wrk`, but `wrk --version` still does not answer"
                .to_owned(),
        )
    })
}

/// `wrk debian/4.1.0-3+b2 [epoll]`, from `wrk --version`, which prints it with the usage and exits with 1.
fn wrk_version() -> Option<String> {
    let output = Command::new("wrk")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim();
    let version = line.split(" Copyright").next().unwrap_or(line).trim();
    version.starts_with("wrk ").then(|| version.to_owned())
}

/// `cargo build --release -p tenancy`, and the binary it built.
pub(crate) fn build_release() -> Result<PathBuf, Error> {
    let args = ["build", "--release", "-p", "tenancy"];
    let display = format!("cargo {}", args.join(" "));
    println!("$ {display}");
    let root = project_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(&root)
        .status()
        .map_err(|error| format!("cannot run `{display}`: {error}"))?;
    if !status.success() {
        return Err(Error::CommandFailed {
            command: display,
            status,
        });
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    let binary = target.join("release").join("tenancy");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(Error::Other(format!(
            "`{display}` built no `{}`",
            binary.display()
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What one backend measured.
#[derive(Debug)]
struct BackendResult {
    backend: Backend,
    /// The database server's version, where there is one.
    version: Option<String>,
    seeding: Duration,
    load_before: String,
    load_after: String,
    /// CPUs busy while the seeded server sat idle, just before the runs: other work on the machine.
    idle_before: f64,
    rows: Vec<Row>,
}

/// Starts the server on `backend`, seeds it, checks the seed and runs wrk on each endpoint.
fn bench_backend(
    backend: Backend,
    binary: &Path,
    scratch: &Path,
    admin_url: &str,
    options: &Options,
) -> Result<BackendResult, Error> {
    println!("\n==> {}", backend.name());
    let dir = scratch.join(backend.slug());
    fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create `{}`: {error}", dir.display()))?;
    // Declared before the server so that it is dropped after it: the server lets go of its connections first.
    let mut database = None;
    let (url, version) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("tenancy.db").display()),
            None,
        ),
        Backend::Postgres => {
            let version = psql(admin_url, "SHOW server_version")?;
            let created = database.insert(PostgresDatabase::create(admin_url)?);
            (created.url.clone(), Some(version))
        }
    };
    let service_token = base64url(&random_bytes::<32>()?);
    let mut server = Server::start(binary, &url, &dir, &service_token)?;
    println!("server listening on http://{}", server.addr);

    let started = Instant::now();
    let seed = seed(server.addr, &dir.join("mail"))?;
    let bodies = authorize_bodies(&seed);
    check_authorize(server.addr, &service_token, &bodies)?;
    let seeding = started.elapsed();
    println!("seeded and checked in {:.1} s", seeding.as_secs_f64());

    let token_file = dir.join("service-token.txt");
    let bodies_file = dir.join("authorize-bodies.jsonl");
    let sessions_file = dir.join("session-tokens.txt");
    write_lines(&token_file, [service_token.as_str()])?;
    write_lines(&bodies_file, bodies.iter().map(|probe| probe.body.as_str()))?;
    write_lines(
        &sessions_file,
        seed.users.iter().map(|user| user.token.as_str()),
    )?;
    let (agents_path, owner_token) = seed_agents(server.addr, &seed, &service_token)?;
    let owner_file = dir.join("owner-token.txt");
    write_lines(&owner_file, [owner_token.as_str()])?;
    let endpoints = [
        Endpoint {
            label: "`GET /healthz`",
            path: "/healthz".to_owned(),
            script: None,
            script_args: Vec::new(),
        },
        Endpoint {
            label: "`POST /v1/authorize`",
            path: "/v1/authorize".to_owned(),
            script: Some("authorize.lua"),
            script_args: vec![token_file, bodies_file],
        },
        Endpoint {
            label: "`GET /v1/organizations`",
            path: "/v1/organizations".to_owned(),
            script: Some("organizations.lua"),
            script_args: vec![sessions_file],
        },
        // Listing before creating: the creates below add rows by the thousand.
        Endpoint {
            label: "`GET …/agents`",
            path: agents_path.clone(),
            script: Some("organizations.lua"),
            script_args: vec![owner_file.clone()],
        },
        Endpoint {
            label: "`POST …/agents`",
            path: agents_path,
            script: Some("create_agent.lua"),
            script_args: vec![owner_file],
        },
    ];

    let load_before = load_average();
    let idle_before = machine_busy_over(Duration::from_secs(2));
    if idle_before > 0.25 {
        eprintln!(
            "warning: {idle_before:.2} CPUs were busy with other work while the server was idle; \
             the figures will be lower than on a quiet machine"
        );
    }
    let mut rows = Vec::new();
    for endpoint in &endpoints {
        println!("\n==> {} on {}: warm-up", endpoint.label, backend.name());
        let warm_up = wrk(server.addr, endpoint, options.warm_up_seconds)?;
        let report = parse_wrk(&warm_up.output)
            .map_err(|error| format!("cannot read wrk's output for {}: {error}", endpoint.label))?;
        if report.non_2xx > 0 || report.socket_errors > 0 {
            return Err(Error::Other(format!(
                "the warm-up of {} on {} had {} non-2xx responses and {} socket errors in {} requests",
                endpoint.label,
                backend.name(),
                report.non_2xx,
                report.socket_errors,
                report.requests
            )));
        }
        println!("\n==> {} on {}: measured", endpoint.label, backend.name());
        let before = CpuSample::take(server.pid);
        let run = wrk(server.addr, endpoint, options.seconds)?;
        let cpu = CpuSample::take(server.pid).since(&before, run.ticks);
        let report = parse_wrk(&run.output)
            .map_err(|error| format!("cannot read wrk's output for {}: {error}", endpoint.label))?;
        rows.push(Row {
            label: endpoint.label,
            report,
            cpu,
        });
    }
    let load_after = load_average();

    server.stop()?;
    if let Some(database) = database.as_mut() {
        database.drop_database()?;
    }
    Ok(BackendResult {
        backend,
        version,
        seeding,
        load_before,
        load_after,
        idle_before,
        rows,
    })
}

/// The first organization of the seed, moved to the enterprise plan (no agent limit, set with the service token:
/// it is not self-serve) with three agents: the path of its agents and its owner's session token.
fn seed_agents(
    addr: SocketAddr,
    seed: &Seed,
    service_token: &str,
) -> Result<(String, String), Error> {
    let (org, owner) = seed
        .organizations
        .first()
        .ok_or_else(|| Error::Other("the seed made no organization".to_owned()))?;
    let token = &seed.users[*owner].token;
    let base = format!("/v1/organizations/{org}");
    call(
        addr,
        "PUT",
        &format!("{base}/billing/plan"),
        Some(service_token),
        Some(&json!({"plan": "enterprise"})),
        200,
    )?;
    for name in ["Cost bot", "Latency bot", "Capacity bot"] {
        call(
            addr,
            "POST",
            &format!("{base}/agents"),
            Some(token),
            Some(&json!({"name": name})),
            201,
        )?;
    }
    Ok((format!("{base}/agents"), token.clone()))
}

/// The scratch folder of a run, removed on drop.
#[derive(Debug)]
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn create() -> Result<Self, Error> {
        let dir =
            std::env::temp_dir().join(format!("tenancy-bench-http-{}", hex(&random_bytes::<6>()?)));
        fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create `{}`: {error}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0; N];
    fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(|error| format!("cannot read /dev/urandom: {error}"))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// Base64url without padding: 32 bytes make the 43 characters of a tenancy token.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            text.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    text
}

/// A database on the PostgreSQL server, dropped on drop.
#[derive(Debug)]
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
    exists: bool,
}

impl PostgresDatabase {
    fn create(admin_url: &str) -> Result<Self, Error> {
        let name = format!("tenancy_bench_http_{}", hex(&random_bytes::<4>()?));
        let url = with_database(admin_url, &name)?;
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
            exists: true,
        })
    }

    fn drop_database(&mut self) -> Result<(), Error> {
        if self.exists {
            psql(
                &self.admin_url,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            )?;
            self.exists = false;
        }
        Ok(())
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Err(error) = self.drop_database() {
            eprintln!(
                "warning: cannot drop the benchmark database `{}`: {error}",
                self.name
            );
        }
    }
}

/// `url` naming the database `name` instead of its own.
fn with_database(url: &str, name: &str) -> Result<String, Error> {
    let authority = url
        .find("://")
        .map(|at| at + 3)
        .ok_or_else(|| format!("`{}` is not a postgres:// URL", redact_url(url)))?;
    let (base, query) = url.find('?').map_or((url, ""), |at| url.split_at(at));
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |at| authority + at);
    Ok(format!("{}/{name}{query}", &base[..path]))
}

/// `postgres://user:password@host/db` without its credentials, to print.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Runs one SQL statement with psql and returns what it printed.
fn psql(url: &str, sql: &str) -> Result<String, Error> {
    println!("$ psql --dbname {} --command '{sql}'", redact_url(url));
    let output = Command::new("psql")
        .args([
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--set",
            "ON_ERROR_STOP=1",
        ])
        .args(["--dbname", url, "--command", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| {
            format!("cannot run psql (Debian package `postgresql-client`): {error}")
        })?;
    if !output.status.success() {
        return Err(Error::Other(format!(
            "`psql --command '{sql}'` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `tenancy serve` on a free port, stopped with SIGTERM on drop.
#[derive(Debug)]
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) pid: u32,
    pub(crate) addr: SocketAddr,
}

impl Server {
    pub(crate) fn start(
        binary: &Path,
        database_url: &str,
        dir: &Path,
        service_token: &str,
    ) -> Result<Self, Error> {
        let mail_dir = dir.join("mail");
        let key_file = dir.join("secret.key");
        let mut command = Command::new(binary);
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                database_url,
            ])
            .arg("--mail-dir")
            .arg(&mail_dir)
            .arg("--secret-key-file")
            .arg(&key_file);
        // Only the settings above: none of the caller's TENANCY_* variables.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TENANCY_") {
                command.env_remove(name);
            }
        }
        // The benchmarks sign up and invite from one address far faster than people do: the rate limits would
        // measure 429s, so they are off.
        for limit in [
            "TENANCY_SIGNIN_FAILURES_PER_EMAIL",
            "TENANCY_AUTH_ATTEMPTS_PER_IP",
            "TENANCY_ACCOUNT_EMAILS_PER_ADDRESS",
            "TENANCY_INVITATIONS_PER_ORGANIZATION",
        ] {
            command.env(limit, "0");
        }
        // The token goes in the environment, as the server's README advises, not on a command line others can read.
        command
            .env_remove("RUST_LOG")
            .env("TENANCY_LOG", LOG_FILTER)
            .env("TENANCY_SERVICE_TOKEN", service_token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        println!(
            "$ TENANCY_LOG={LOG_FILTER} TENANCY_SERVICE_TOKEN=<43 random base64url characters> TENANCY_*_PER_*=0 {} serve --listen 127.0.0.1:0 --database {} --mail-dir {} --secret-key-file {}",
            binary.display(),
            redact_url(database_url),
            mail_dir.display(),
            key_file.display()
        );
        let mut child = command
            .spawn()
            .map_err(|error| format!("cannot start `{}`: {error}", binary.display()))?;
        let pid = child.id();
        let stderr = child.stderr.take();
        let mut server = Self {
            child: Some(child),
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let stderr =
            stderr.ok_or_else(|| Error::Other("the server has no stderr to read".to_owned()))?;
        let (ready, listening) = mpsc::channel();
        thread::spawn(move || forward_log(stderr, &ready));
        match listening.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => {
                server.addr = addr;
                Ok(server)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Other(
                "the server did not log `listening on http://ADDR` within 60 s".to_owned(),
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = server.child.as_mut().and_then(|child| child.wait().ok());
                server.child = None;
                Err(Error::Other(format!(
                    "the server stopped before listening ({}); its log is above",
                    status.map_or_else(|| "unknown status".to_owned(), |status| status.to_string())
                )))
            }
        }
    }

    /// SIGTERM, and an error unless the server then exits cleanly.
    pub(crate) fn stop(&mut self) -> Result<(), Error> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        println!("stopping the server (SIGTERM)");
        let status = terminate(&mut child)?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Other(format!(
                "the server exited with {status} after SIGTERM"
            )))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Err(error) = terminate(&mut child)
        {
            eprintln!("warning: {error}");
        }
    }
}

/// SIGTERM, so that the server shuts down as it would in production, then SIGKILL if it lingers.
fn terminate(child: &mut Child) -> Result<ExitStatus, Error> {
    let waited =
        |error: std::io::Error| Error::Other(format!("cannot wait for the server: {error}"));
    if let Some(status) = child.try_wait().map_err(waited)? {
        return Ok(status);
    }
    // std can send only SIGKILL, and xtask has no libc: kill(1) sends SIGTERM.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|status| status.success());
    if sent {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().map_err(waited)? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(Error::Other(
        "the server did not stop within 20 s of SIGTERM and was killed".to_owned(),
    ))
}

/// Passes the server's log on to stderr, and the address it listens on to `ready`.
fn forward_log(stderr: ChildStderr, ready: &mpsc::Sender<SocketAddr>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(addr) = listening_address(&line) {
            let _ = ready.send(addr);
        }
        eprintln!("  tenancy: {line}");
    }
}

/// The address of the server's `listening on http://ADDR` log line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    const MARK: &str = "listening on http://";
    let rest = &line[line.find(MARK)? + MARK.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// An answer of the server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// One HTTP/1.1 exchange on its own connection: enough to seed and check, and no client crate for it.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Reply, Error> {
    let what = format!("`{method} {path}`");
    let io = |error: std::io::Error| Error::Other(format!("{what}: {error}"));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(token) = token {
        let _ = write!(head, "Authorization: Bearer {token}\r\n");
    }
    let body = body.map(Value::to_string);
    if let Some(body) = &body {
        let _ = write!(
            head,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head.push_str("\r\n");
    head.push_str(body.as_deref().unwrap_or_default());
    stream.write_all(head.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    parse_response(&raw).map_err(|error| Error::Other(format!("{what}: {error}")))
}

fn parse_response(raw: &[u8]) -> Result<Reply, String> {
    let end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("the response has no end of headers")?;
    let head =
        std::str::from_utf8(&raw[..end]).map_err(|error| format!("headers not UTF-8: {error}"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("the response has no status line")?;
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    let payload = &raw[end + 4..];
    let body = if chunked {
        dechunk(payload)?
    } else {
        payload.to_vec()
    };
    let body = String::from_utf8(body).map_err(|error| format!("body not UTF-8: {error}"))?;
    Ok(Reply { status, body })
}

/// The body of a `Transfer-Encoding: chunked` payload.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("a chunk has no size line")?;
        let size = std::str::from_utf8(&data[..line_end])
            .ok()
            .and_then(|line| line.split(';').next())
            .and_then(|size| usize::from_str_radix(size.trim(), 16).ok())
            .ok_or("a chunk size is not hexadecimal")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = data.get(..size).ok_or("a chunk is cut short")?;
        body.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("a chunk is cut short")?;
    }
}

/// A request that must answer `expected`, and its JSON body (`null` when empty).
pub(crate) fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    expected: u16,
) -> Result<Value, Error> {
    let reply = request(addr, method, path, token, body)?;
    if reply.status != expected {
        return Err(Error::Other(format!(
            "`{method} {path}` answered {} instead of {expected}: {}",
            reply.status, reply.body
        )));
    }
    if reply.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&reply.body).map_err(|error| {
        Error::Other(format!(
            "`{method} {path}` answered no JSON ({error}): {}",
            reply.body
        ))
    })
}

pub(crate) fn string_at(value: &Value, pointer: &str) -> Result<String, Error> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::Other(format!("no string at `{pointer}` in {value}")))
}

#[derive(Debug)]
struct User {
    id: String,
    email: String,
    token: String,
}

/// What the seed made, as the benchmark's model of who may do what.
#[derive(Debug)]
struct Seed {
    users: Vec<User>,
    /// Every organization with its owner, an index into `users`.
    organizations: Vec<(String, usize)>,
    /// Viewers by accepted invitation: (user, organization).
    viewers: Vec<(usize, String)>,
    viewer_capabilities: Vec<String>,
    owner_capabilities: Vec<String>,
    /// What owners hold and viewers do not.
    owner_only_capabilities: Vec<String>,
}

/// Signs up [`USERS`] users, each creating two organizations; each user's first organization invites the next two
/// users, who accept, and its second invites the user three places on, who does not.
fn seed(addr: SocketAddr, mail_dir: &Path) -> Result<Seed, Error> {
    let roles = call(addr, "GET", "/v1/roles", None, None, 200)?;
    let capabilities_of = |role: &str| -> Result<Vec<String>, Error> {
        roles
            .pointer("/items")
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|item| item.get("role").and_then(Value::as_str) == Some(role))
            })
            .and_then(|item| item.get("capabilities"))
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .ok_or_else(|| Error::Other(format!("`GET /v1/roles` lists no role `{role}`: {roles}")))
    };
    let owner_capabilities = capabilities_of("owner")?;
    let viewer_capabilities = capabilities_of("viewer")?;
    let owner_only_capabilities: Vec<String> = owner_capabilities
        .iter()
        .filter(|name| !viewer_capabilities.contains(name))
        .cloned()
        .collect();
    if viewer_capabilities.is_empty() || owner_only_capabilities.is_empty() {
        return Err(Error::Other(format!(
            "the benchmark needs capabilities that viewers hold and ones they do not: {roles}"
        )));
    }

    let mut users = Vec::new();
    let mut organizations = Vec::new();
    let mut created = Vec::new();
    for i in 0..USERS {
        let email = format!("bench-user-{i:02}@example.com");
        let signup = json!({
            "email": email,
            "password": format!("bench password {i:02}"),
            "display_name": format!("Bench user {i:02}"),
        });
        let reply = call(addr, "POST", "/v1/auth/signup", None, Some(&signup), 201)?;
        let token = string_at(&reply, "/token")?;
        organizations.push((string_at(&reply, "/default_organization/id")?, i));
        let mut own = Vec::new();
        for suffix in ['a', 'b'] {
            let body = json!({ "name": format!("Bench org {i:02}{suffix}") });
            let org = call(
                addr,
                "POST",
                "/v1/organizations",
                Some(&token),
                Some(&body),
                201,
            )?;
            let id = string_at(&org, "/id")?;
            organizations.push((id.clone(), i));
            own.push(id);
        }
        created.push(own);
        users.push(User {
            id: string_at(&reply, "/user/id")?,
            email,
            token,
        });
    }
    println!("signed up {USERS} users, each owning 3 organizations");

    let invite = |from: usize, org: &str, to: usize| {
        let body = json!({ "email": users[to].email });
        let path = format!("/v1/organizations/{org}/invitations");
        call(
            addr,
            "POST",
            &path,
            Some(&users[from].token),
            Some(&body),
            201,
        )
    };
    for (i, own) in created.iter().enumerate() {
        for step in [1, 2] {
            invite(i, &own[0], (i + step) % USERS)?;
        }
    }
    let mut viewers = Vec::new();
    for (to, token) in wait_for_emails(mail_dir, 2 * USERS)? {
        let invitee = users
            .iter()
            .position(|user| user.email == to)
            .ok_or_else(|| {
                Error::Other(format!(
                    "an invitation went to `{to}`, who is not a seeded user"
                ))
            })?;
        let body = json!({ "token": token });
        let accepted = call(
            addr,
            "POST",
            "/v1/invitations/accept",
            Some(&users[invitee].token),
            Some(&body),
            200,
        )?;
        viewers.push((invitee, string_at(&accepted, "/organization/id")?));
    }
    for (i, own) in created.iter().enumerate() {
        invite(i, &own[1], (i + 3) % USERS)?;
    }
    // Their emails are left unused, but waiting for them keeps the mail worker idle while wrk measures.
    wait_for_emails(mail_dir, 3 * USERS)?;
    println!(
        "{} viewer memberships by accepted invitations, {USERS} invitations pending",
        viewers.len()
    );

    let seed = Seed {
        users,
        organizations,
        viewers,
        viewer_capabilities,
        owner_capabilities,
        owner_only_capabilities,
    };
    check_organizations(addr, &seed)?;
    Ok(seed)
}

/// Waits until the mail worker has written `count` emails, and reads (recipient, invitation token) from each.
fn wait_for_emails(dir: &Path, count: usize) -> Result<Vec<(String, String)>, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut files = Vec::new();
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Hidden files are the worker's half-written temporaries.
                if name.ends_with(".eml") && !name.starts_with('.') {
                    files.push(entry.path());
                }
            }
        }
        if files.len() >= count {
            return files
                .iter()
                .map(|path| {
                    let text = fs::read_to_string(path)
                        .map_err(|error| format!("cannot read `{}`: {error}", path.display()))?;
                    parse_invitation_email(&text).ok_or_else(|| {
                        Error::Other(format!("no recipient or link in `{}`", path.display()))
                    })
                })
                .collect();
        }
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "the mail worker wrote {} of {count} emails to `{}` within 60 s",
                files.len(),
                dir.display()
            )));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The `To` address and the token of the accept link of an invitation email.
fn parse_invitation_email(text: &str) -> Option<(String, String)> {
    const LINK: &str = "/invitations/";
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))?;
    let to = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("to")
            .then_some(value.trim())
    })?;
    let to = match (to.rfind('<'), to.rfind('>')) {
        (Some(open), Some(close)) if open < close => &to[open + 1..close],
        _ => to,
    };
    // Quoted-printable soft line breaks may cut a long link; its characters are never escaped.
    let body = body.replace("=\r\n", "").replace("=\n", "");
    let token = body
        .match_indices(LINK)
        .filter_map(|(at, _)| {
            let token = body.get(at + LINK.len()..at + LINK.len() + 43)?;
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                .then(|| token.to_owned())
        })
        .last()?;
    Some((to.trim().to_ascii_lowercase(), token))
}

/// Every user lists exactly the organizations the seed says they own or view.
fn check_organizations(addr: SocketAddr, seed: &Seed) -> Result<(), Error> {
    for (i, user) in seed.users.iter().enumerate() {
        let list = call(
            addr,
            "GET",
            "/v1/organizations",
            Some(&user.token),
            None,
            200,
        )?;
        let mut listed: Vec<String> = list
            .pointer("/items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut expected: Vec<String> = seed
            .organizations
            .iter()
            .filter(|(_, owner)| *owner == i)
            .map(|(org, _)| org.clone())
            .chain(
                seed.viewers
                    .iter()
                    .filter(|(viewer, _)| *viewer == i)
                    .map(|(_, org)| org.clone()),
            )
            .collect();
        listed.sort();
        expected.sort();
        if listed != expected {
            return Err(Error::Other(format!(
                "`GET /v1/organizations` for `{}` lists {listed:?}, but the seed gave them {expected:?}",
                user.email
            )));
        }
    }
    println!(
        "checked `GET /v1/organizations` for all {USERS} users: each lists {} organizations",
        3 + 2
    );
    Ok(())
}

/// A body for `POST /v1/authorize` and the answer the seed calls for.
#[derive(Debug)]
struct Probe {
    body: String,
    allowed: bool,
    role: Option<&'static str>,
}

/// A small fixed-seed generator (SplitMix64), so that each run sends the same mix.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        usize::try_from(z % n as u64).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// [`AUTHORIZE_BODIES`] bodies in rounds of four: an owner with any capability and a viewer with a viewer's are
/// allowed; a viewer with an owner's capability and a user outside the organization are denied.
fn authorize_bodies(seed: &Seed) -> Vec<Probe> {
    let mut rng = Rng(4);
    let members: HashSet<(usize, &str)> = seed
        .organizations
        .iter()
        .map(|(org, owner)| (*owner, org.as_str()))
        .chain(
            seed.viewers
                .iter()
                .map(|(viewer, org)| (*viewer, org.as_str())),
        )
        .collect();
    (0..AUTHORIZE_BODIES)
        .map(|k| {
            let (user, org, capability, allowed, role) = match k % 4 {
                0 => {
                    let (org, owner) = rng.pick(&seed.organizations);
                    (
                        *owner,
                        org,
                        rng.pick(&seed.owner_capabilities),
                        true,
                        Some("owner"),
                    )
                }
                1 => {
                    let (viewer, org) = rng.pick(&seed.viewers);
                    (
                        *viewer,
                        org,
                        rng.pick(&seed.viewer_capabilities),
                        true,
                        Some("viewer"),
                    )
                }
                2 => {
                    let (viewer, org) = rng.pick(&seed.viewers);
                    (
                        *viewer,
                        org,
                        rng.pick(&seed.owner_only_capabilities),
                        false,
                        Some("viewer"),
                    )
                }
                _ => loop {
                    let user = rng.below(seed.users.len());
                    let (org, _) = rng.pick(&seed.organizations);
                    if !members.contains(&(user, org.as_str())) {
                        break (user, org, rng.pick(&seed.owner_capabilities), false, None);
                    }
                },
            };
            let body = json!({
                "user_id": seed.users[user].id,
                "organization_id": org,
                "capability": capability,
            });
            Probe {
                body: body.to_string(),
                allowed,
                role,
            }
        })
        .collect()
}

/// Sends every body once and compares the answers with the seed's.
fn check_authorize(addr: SocketAddr, service_token: &str, probes: &[Probe]) -> Result<(), Error> {
    for probe in probes {
        let body: Value = serde_json::from_str(&probe.body).map_err(|error| format!("{error}"))?;
        let answer = call(
            addr,
            "POST",
            "/v1/authorize",
            Some(service_token),
            Some(&body),
            200,
        )?;
        let allowed = answer.get("allowed").and_then(Value::as_bool);
        let role = answer.get("role").map(|role| role.as_str());
        if allowed != Some(probe.allowed) || role != Some(probe.role) {
            return Err(Error::Other(format!(
                "`POST /v1/authorize` {} answered {answer}, but the seed calls for allowed {} and role {:?}",
                probe.body, probe.allowed, probe.role
            )));
        }
    }
    let allowed = probes.iter().filter(|probe| probe.allowed).count();
    println!(
        "checked `POST /v1/authorize` for all {} bodies: {allowed} allowed, {} denied, as seeded",
        probes.len(),
        probes.len() - allowed
    );
    Ok(())
}

fn write_lines<'a>(path: &Path, lines: impl IntoIterator<Item = &'a str>) -> Result<(), Error> {
    let text: String = lines.into_iter().flat_map(|line| [line, "\n"]).collect();
    fs::write(path, text)
        .map_err(|error| Error::Other(format!("cannot write `{}`: {error}", path.display())))
}

/// An endpoint under load, with its wrk script and the script's arguments.
#[derive(Debug)]
struct Endpoint {
    label: &'static str,
    path: String,
    script: Option<&'static str>,
    script_args: Vec<PathBuf>,
}

/// What one wrk run printed, and the CPU time it used itself.
#[derive(Debug)]
struct WrkRun {
    output: String,
    ticks: u64,
}

/// `wrk -t2 -c32 -d<seconds>s --timeout 10s --latency [-s script] URL [-- args]`, from the workspace root.
fn wrk(addr: SocketAddr, endpoint: &Endpoint, seconds: u64) -> Result<WrkRun, Error> {
    let mut args = vec![
        format!("-t{THREADS}"),
        format!("-c{CONNECTIONS}"),
        format!("-d{seconds}s"),
        "--timeout".to_owned(),
        format!("{TIMEOUT_SECONDS}s"),
        "--latency".to_owned(),
    ];
    if let Some(script) = endpoint.script {
        // wrk warns about a script it cannot open and then sends plain `GET`s instead.
        let path = project_root().join(SCRIPTS).join(script);
        if !path.is_file() {
            return Err(Error::Other(format!(
                "the wrk script `{}` is missing",
                path.display()
            )));
        }
        args.push("-s".to_owned());
        args.push(format!("{SCRIPTS}/{script}"));
    }
    args.push(format!("http://{addr}{}", endpoint.path));
    if !endpoint.script_args.is_empty() {
        args.push("--".to_owned());
        args.extend(
            endpoint
                .script_args
                .iter()
                .map(|arg| arg.display().to_string()),
        );
    }
    let display = format!("wrk {}", args.join(" "));
    println!("$ {display}");
    let mut child = Command::new("wrk")
        .args(&args)
        .current_dir(project_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| format!("cannot run `{display}`: {error}"))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Other(format!("`{display}` has no stdout to read")))?;
    let reader = thread::spawn(move || {
        let mut output = String::new();
        stdout.read_to_string(&mut output).map(|_| output)
    });
    // wrk's own CPU time, read until it exits: the last reading, often of the exited but not yet reaped process,
    // is (nearly) its total. It tells the load generator's share of the two CPUs apart from the server's.
    let stat = format!("/proc/{}/stat", child.id());
    let mut ticks = 0;
    let status = loop {
        if let Some(now) = fs::read_to_string(&stat)
            .ok()
            .and_then(|text| process_ticks(&text))
        {
            ticks = now;
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => thread::sleep(Duration::from_millis(100)),
            Err(error) => {
                return Err(Error::Other(format!(
                    "cannot wait for `{display}`: {error}"
                )));
            }
        }
    };
    let output = reader
        .join()
        .map_err(|_| Error::Other(format!("reading the output of `{display}` failed")))?
        .map_err(|error| format!("cannot read the output of `{display}`: {error}"))?;
    print!("{output}");
    if status.success() {
        Ok(WrkRun { output, ticks })
    } else {
        Err(Error::CommandFailed {
            command: display,
            status,
        })
    }
}

/// What wrk reported.
#[derive(Debug, Clone, PartialEq)]
struct WrkReport {
    requests: u64,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Responses with a status of 400 or more: wrk counts them as "Non-2xx or 3xx responses".
    non_2xx: u64,
    /// Connect, read and write errors and timeouts.
    socket_errors: u64,
}

/// Reads wrk's `--latency` output. The "Non-2xx" and "Socket errors" lines appear only when there were any.
fn parse_wrk(output: &str) -> Result<WrkReport, String> {
    let mut requests = None;
    let mut requests_per_sec = None;
    let mut p50_ms = None;
    let mut p99_ms = None;
    let mut non_2xx = 0;
    let mut socket_errors = 0;
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("50%") {
            p50_ms = parse_wrk_time(value.trim());
        } else if let Some(value) = line.strip_prefix("99%") {
            p99_ms = parse_wrk_time(value.trim());
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = value
                .trim()
                .parse()
                .map_err(|_| format!("cannot read `{line}`"))?;
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            // `connect 0, read 0, write 0, timeout 0`
            for part in value.split(',') {
                let count: u64 = part
                    .split_whitespace()
                    .last()
                    .and_then(|count| count.parse().ok())
                    .ok_or_else(|| format!("cannot read `{line}`"))?;
                socket_errors += count;
            }
        } else if line.contains(" requests in ") {
            requests = line
                .split_whitespace()
                .next()
                .and_then(|count| count.parse().ok());
        }
    }
    Ok(WrkReport {
        requests: requests.ok_or("no `N requests in` line")?,
        requests_per_sec: requests_per_sec.ok_or("no `Requests/sec:` line")?,
        p50_ms: p50_ms.ok_or("no `50%` latency line (was --latency given?)")?,
        p99_ms: p99_ms.ok_or("no `99%` latency line (was --latency given?)")?,
        non_2xx,
        socket_errors,
    })
}

/// wrk's times (`812.00us`, `1.23ms`, `2.00s`, `1.50m`) in milliseconds.
fn parse_wrk_time(text: &str) -> Option<f64> {
    [
        ("us", 0.001),
        ("ms", 1.0),
        ("s", 1_000.0),
        ("m", 60_000.0),
        ("h", 3_600_000.0),
    ]
    .into_iter()
    .find_map(|(unit, ms)| Some(text.strip_suffix(unit)?.parse::<f64>().ok()? * ms))
}

/// CPU time, in clock ticks, of the server, of the PostgreSQL processes and of the whole machine.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    server: u64,
    postgres: u64,
    busy: u64,
}

/// Average CPUs kept busy during a run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuUse {
    server: f64,
    postgres: f64,
    wrk: f64,
    machine: f64,
}

impl CpuUse {
    /// What neither the server, nor its database, nor wrk used: other work on the machine that the run competed
    /// with. On SQLite, PostgreSQL's CPU time is such other work.
    fn other(&self, backend: Backend) -> f64 {
        let database = match backend {
            Backend::Sqlite => 0.0,
            Backend::Postgres => self.postgres,
        };
        (self.machine - self.server - database - self.wrk).max(0.0)
    }
}

impl CpuSample {
    fn take(server_pid: u32) -> Self {
        let server = fs::read_to_string(format!("/proc/{server_pid}/stat"))
            .ok()
            .and_then(|stat| process_ticks(&stat))
            .unwrap_or(0);
        let busy = fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| machine_busy_ticks(&stat))
            .unwrap_or(0);
        Self {
            at: Instant::now(),
            server,
            postgres: postgres_ticks(),
            busy,
        }
    }

    /// The CPUs busy from `before` to this sample, with `wrk_ticks` of wrk's, which ran in between.
    fn since(&self, before: &Self, wrk_ticks: u64) -> CpuUse {
        let seconds = self.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let per_tick = 1.0 / clock_ticks_per_second();
        let cores =
            |after: u64, before: u64| after.saturating_sub(before) as f64 * per_tick / seconds;
        CpuUse {
            server: cores(self.server, before.server),
            postgres: cores(self.postgres, before.postgres),
            wrk: cores(wrk_ticks, 0),
            machine: cores(self.busy, before.busy),
        }
    }
}

/// User plus system time from `/proc/PID/stat` (fields 14 and 15; the command name may hold spaces).
fn process_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Non-idle time of all CPUs from the `cpu` line of `/proc/stat`: user, nice, system, irq, softirq, steal.
fn machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = fields[..] else {
        return None;
    };
    Some(user + nice + system + irq + softirq + steal)
}

/// CPU time of every process named `postgres`: the server's backends for the pool and its background workers.
fn postgres_ticks() -> u64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| process_ticks(&stat))
        .sum()
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

/// CPUs busy on the whole machine over `period`.
fn machine_busy_over(period: Duration) -> f64 {
    let busy = || {
        fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| machine_busy_ticks(&stat))
            .unwrap_or(0)
    };
    let before = busy();
    thread::sleep(period);
    busy().saturating_sub(before) as f64 / clock_ticks_per_second() / period.as_secs_f64()
}

/// The one-minute load average.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// One endpoint's figures.
#[derive(Debug)]
struct Row {
    label: &'static str,
    report: WrkReport,
    cpu: CpuUse,
}

impl Row {
    /// Why the run's figures are not figures of the service: errors instead of answers.
    fn failure(&self) -> Option<String> {
        let report = &self.report;
        if report.non_2xx == 0 && report.socket_errors == 0 && report.requests > 0 {
            return None;
        }
        Some(format!(
            "{} non-2xx responses and {} socket errors in {} requests",
            report.non_2xx, report.socket_errors, report.requests
        ))
    }

    fn verdict(&self) -> String {
        if self.failure().is_some() {
            return "**failed**: errors".to_owned();
        }
        let mut missed = Vec::new();
        if self.report.requests_per_sec < TARGET_REQUESTS_PER_SEC {
            missed.push("requests/s");
        }
        if self.report.p99_ms > TARGET_P99_MS {
            missed.push("p99");
        }
        if missed.is_empty() {
            "met".to_owned()
        } else {
            format!("**not met** ({})", missed.join(", "))
        }
    }
}

impl BackendResult {
    fn markdown(&self) -> String {
        let mut text = format!("### {}\n\n", self.backend.name());
        let database = match &self.version {
            Some(version) => format!("PostgreSQL {version}, a fresh database on the same machine"),
            None => "SQLite in WAL mode, a fresh file in a temporary folder".to_owned(),
        };
        let _ = writeln!(
            text,
            "{database}; seeded and checked in {:.1} s. \
             Before the first run, with the server idle, {:.2} CPUs were busy with other work; \
             the one-minute load average was {} then and {} after the last run.\n",
            self.seeding.as_secs_f64(),
            self.idle_before,
            self.load_before,
            self.load_after
        );
        let _ = writeln!(
            text,
            "| Endpoint | Requests/s | p50 | p99 | Non-2xx | Socket errors | Requests/s vs `/healthz` | Target: {TARGET} |\n\
             |---|---:|---:|---:|---:|---:|---:|---|"
        );
        let baseline = self
            .rows
            .first()
            .map_or(0.0, |row| row.report.requests_per_sec);
        for row in &self.rows {
            let report = &row.report;
            let ratio = if baseline > 0.0 {
                format!("{:.2}×", report.requests_per_sec / baseline)
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} | {ratio} | {} |",
                row.label,
                thousands(report.requests_per_sec.round() as u64),
                milliseconds(report.p50_ms),
                milliseconds(report.p99_ms),
                thousands(report.non_2xx),
                thousands(report.socket_errors),
                row.verdict()
            );
        }
        text.push_str(
            "\nWhere the two CPUs went during each measured run (average CPUs busy), \
             and the CPU time per request of the server and of its database:\n\n\
             | Endpoint | Server | PostgreSQL | wrk | Other work | Server µs/request | PostgreSQL µs/request |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        for row in &self.rows {
            let per_request = |cores: f64| {
                if row.report.requests_per_sec > 0.0 {
                    format!("{:.0}", cores * 1e6 / row.report.requests_per_sec)
                } else {
                    "–".to_owned()
                }
            };
            let (postgres, postgres_per_request) = match self.backend {
                Backend::Sqlite => ("–".to_owned(), "–".to_owned()),
                Backend::Postgres => (
                    format!("{:.2}", row.cpu.postgres),
                    per_request(row.cpu.postgres),
                ),
            };
            let _ = writeln!(
                text,
                "| {} | {:.2} | {postgres} | {:.2} | {:.2} | {} | {postgres_per_request} |",
                row.label,
                row.cpu.server,
                row.cpu.wrk,
                row.cpu.other(self.backend),
                per_request(row.cpu.server),
            );
        }
        text
    }
}

pub(crate) fn milliseconds(ms: f64) -> String {
    format!("{ms:.2} ms")
}

/// `12345` as `12,345`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// The `## HTTP` section: how it was measured, then a table per backend.
fn section(options: &Options, wrk_version: &str, results: &[BackendResult]) -> String {
    let mut text = format!("{HEADING}\n\n");
    text.push_str("`tenancy serve`, built in release, under load from wrk on the same machine, on SQLite and on PostgreSQL.\n\n");
    let _ = writeln!(text, "- Machine: {}", machine());
    let _ = writeln!(text, "- Date: {}", today());
    let _ = writeln!(text, "- Command: `{}`", options.command);
    let _ = writeln!(
        text,
        "- Load generator: `{wrk_version}`, `wrk -t{THREADS} -c{CONNECTIONS} -d{}s --timeout {TIMEOUT_SECONDS}s --latency` per endpoint, after an unmeasured run of {} s; scripts in `{SCRIPTS}/`; the timeout is raised from wrk's 2 s so that slow responses count in the percentiles instead of dropping out of them",
        options.seconds, options.warm_up_seconds
    );
    let _ = writeln!(
        text,
        "- Server: `TENANCY_LOG={LOG_FILTER}` (no line per request), the service token set, everything else default (a pool of up to 16 database connections)"
    );
    let _ = writeln!(
        text,
        "- Target: {TARGET} at {CONNECTIONS} connections, on this {}-CPU machine with the load generator beside the server",
        command_output("nproc", &[]).unwrap_or_else(|| "unknown".to_owned())
    );
    text.push('\n');
    let _ = writeln!(
        text,
        "Method: for each backend a fresh server is seeded through its own API: {USERS} users sign up, each creates 2 organizations (so owns 3), each user's first organization invites the next 2 users, who accept ({} viewer memberships), and its second invites one more, who does not.",
        2 * USERS
    );
    let _ = writeln!(
        text,
        "`POST /v1/authorize` rotates over {} bodies drawn with a fixed-seed generator from the seeded (user, organization, capability) triples, in turn an owner with any capability and a viewer with a viewer's capability (allowed), a viewer with an owner's capability and a user outside the organization (denied): half allowed, half denied.",
        thousands(AUTHORIZE_BODIES as u64)
    );
    let _ = writeln!(
        text,
        "`GET /v1/organizations` rotates over the {USERS} users' session tokens; each user has 5 organizations to list."
    );
    text.push_str(
        "Before the load, every authorize body is sent once and its answer checked against the seed, and every user's list is checked to hold exactly their organizations.\n\
         Requests/s and the latency percentiles are wrk's; any non-2xx response or socket error fails the run.\n\
         CPU figures come from `/proc` (the server process, every `postgres` process, wrk itself, and the whole machine); \
         \"other work\" is whatever else ran on the machine meanwhile, which the figures competed with.\n",
    );
    for result in results {
        text.push('\n');
        text.push_str(&result.markdown());
    }
    text
}

/// `document` with the text from its `## HTTP` line to the next `## ` heading (or the end) replaced by `section`,
/// or `section` appended when there is no such line; everything else is kept byte for byte.
fn replace_section(document: &str, section: &str) -> String {
    let mut start = None;
    let mut end = document.len();
    let mut offset = 0;
    for line in document.split_inclusive('\n') {
        if start.is_none() {
            if line.trim_end() == HEADING {
                start = Some(offset);
            }
        } else if line.starts_with("## ") {
            end = offset;
            break;
        }
        offset += line.len();
    }
    let section = section.trim_end();
    match start {
        Some(start) => {
            let mut text = document[..start].to_owned();
            text.push_str(section);
            text.push('\n');
            if end < document.len() {
                text.push('\n');
                text.push_str(&document[end..]);
            }
            text
        }
        None => {
            let mut text = document.trim_end().to_owned();
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(section);
            text.push('\n');
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK_OUTPUT: &str = "\
Running 20s test @ http://127.0.0.1:40000/v1/authorize
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.12ms    3.01ms  48.00ms   80.00%
    Req/Sec     4.10k   300.00     5.00k    70.00%
  Latency Distribution
     50%    3.50ms
     75%    5.00ms
     90%    7.00ms
     99%  812.00us
  163840 requests in 20.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:   8192.25
Transfer/sec:      1.50MB
";

    #[test]
    fn reads_wrk_output() {
        let report = parse_wrk(WRK_OUTPUT).unwrap();
        assert_eq!(
            report,
            WrkReport {
                requests: 163_840,
                requests_per_sec: 8192.25,
                p50_ms: 3.5,
                p99_ms: 0.812,
                non_2xx: 12,
                socket_errors: 5,
            }
        );
    }

    #[test]
    fn clean_wrk_output_has_no_errors() {
        let clean: String = WRK_OUTPUT
            .lines()
            .filter(|line| !line.contains("errors") && !line.contains("Non-2xx"))
            .map(|line| format!("{line}\n"))
            .collect();
        let report = parse_wrk(&clean).unwrap();
        assert_eq!((report.non_2xx, report.socket_errors), (0, 0));
        let row = Row {
            label: "x",
            report,
            cpu: CpuUse {
                server: 1.0,
                postgres: 0.0,
                wrk: 0.5,
                machine: 2.0,
            },
        };
        assert_eq!(row.failure(), None);
        assert_eq!(row.verdict(), "met");
    }

    #[test]
    fn errors_fail_a_row_and_missed_targets_are_named() {
        let mut report = parse_wrk(WRK_OUTPUT).unwrap();
        let cpu = CpuUse {
            server: 1.0,
            postgres: 0.0,
            wrk: 0.5,
            machine: 2.0,
        };
        let failed = Row {
            label: "x",
            report: report.clone(),
            cpu,
        };
        assert!(failed.failure().unwrap().contains("12 non-2xx"));
        assert!(failed.verdict().contains("failed"));
        report.non_2xx = 0;
        report.socket_errors = 0;
        report.requests_per_sec = 4_000.0;
        report.p99_ms = 12.0;
        let slow = Row {
            label: "x",
            report,
            cpu,
        };
        assert_eq!(slow.verdict(), "**not met** (requests/s, p99)");
    }

    #[test]
    fn output_without_latency_is_an_error() {
        let error =
            parse_wrk("  10 requests in 1.00s, 1KB read\nRequests/sec: 10.00\n").unwrap_err();
        assert!(error.contains("--latency"), "{error}");
    }

    #[test]
    fn reads_wrk_times() {
        assert_eq!(parse_wrk_time("812.00us"), Some(0.812));
        assert_eq!(parse_wrk_time("1.25ms"), Some(1.25));
        assert_eq!(parse_wrk_time("2.00s"), Some(2_000.0));
        assert_eq!(parse_wrk_time("1.50m"), Some(90_000.0));
        assert_eq!(parse_wrk_time("fast"), None);
    }

    #[test]
    fn replaces_only_the_http_section() {
        let document = "# Benchmarks\n\nheader\n\n## HTTP\n\nold\n\n### SQLite\n\nold table\n\n## Store\n\nstore\n";
        assert_eq!(
            replace_section(document, "## HTTP\n\nnew\n"),
            "# Benchmarks\n\nheader\n\n## HTTP\n\nnew\n\n## Store\n\nstore\n"
        );
        let last = "# Benchmarks\n\n## Store\n\nstore\n\n## HTTP\n\nold\n";
        assert_eq!(
            replace_section(last, "## HTTP\n\nnew\n"),
            "# Benchmarks\n\n## Store\n\nstore\n\n## HTTP\n\nnew\n"
        );
    }

    #[test]
    fn appends_the_http_section_when_missing() {
        let document = "# Benchmarks\n\n## Store\n\nstore\n";
        assert_eq!(
            replace_section(document, "## HTTP\n\nnew\n"),
            "# Benchmarks\n\n## Store\n\nstore\n\n## HTTP\n\nnew\n"
        );
    }

    #[test]
    fn a_heading_that_only_starts_like_http_is_not_ours() {
        let document = "# B\n\n## HTTPS\n\nother\n";
        assert_eq!(
            replace_section(document, "## HTTP\n\nnew\n"),
            "# B\n\n## HTTPS\n\nother\n\n## HTTP\n\nnew\n"
        );
    }

    #[test]
    fn names_the_new_database_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "b").unwrap(),
            "postgres://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "b").unwrap(),
            "postgres://h:5432/b"
        );
        assert!(with_database("h:5432", "b").is_err());
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn tokens_are_43_base64url_characters() {
        let token = base64url(&[0xff; 32]);
        assert_eq!(token.len(), 43);
        assert_eq!(token, format!("{}8", "_".repeat(42)));
        assert_eq!(base64url(b"Man"), "TWFu");
        assert_eq!(base64url(b"Ma"), "TWE");
        assert_eq!(base64url(b"M"), "TQ");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn finds_the_listening_address() {
        let line = "2026-11-27T19:00:00.000Z  INFO tenancy::serve: listening on http://127.0.0.1:40123 address=127.0.0.1:40123";
        assert_eq!(
            listening_address(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(
            listening_address("INFO mail delivery worker starting"),
            None
        );
    }

    #[test]
    fn reads_responses_plain_and_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(
            parse_response(plain).unwrap(),
            Reply {
                status: 201,
                body: "{}".to_owned()
            }
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap().body, "{\"a\":1}");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn reads_an_invitation_email() {
        let token = "abcdefghijklmnopqrstuvwxyz0123456789ABCD-_x";
        let email = format!(
            "From: tenancy <no-reply@localhost>\r\nTo: Bench-User-01@example.com\r\nSubject: Join\r\n\r\nHello,\r\n\r\nhttp://127.0.0.1:4000/invitat=\r\nions/{token}\r\n"
        );
        assert_eq!(
            parse_invitation_email(&email),
            Some(("bench-user-01@example.com".to_owned(), token.to_owned()))
        );
        let named = format!("To: Bob <bob@example.com>\n\n/invitations/{token}\n");
        assert_eq!(
            parse_invitation_email(&named).map(|(to, _)| to),
            Some("bob@example.com".to_owned())
        );
        assert_eq!(parse_invitation_email("To: a@b\r\n\r\nno link"), None);
    }

    #[test]
    fn parses_the_command_line() {
        let args = |list: &[&str]| list.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>();
        let full = parse_args(&args(&[])).unwrap().unwrap();
        assert_eq!(
            (full.seconds, full.quick, full.command.as_str()),
            (20, false, "cargo xtask bench http")
        );
        let quick = parse_args(&args(&["bench", "http", "--quick"]))
            .unwrap()
            .unwrap();
        assert_eq!((quick.seconds, quick.quick), (3, true));
        let short = parse_args(&args(&["--duration", "10s"])).unwrap().unwrap();
        assert_eq!(
            (short.seconds, short.command.as_str()),
            (10, "cargo xtask bench http --duration 10s")
        );
        assert_eq!(
            parse_args(&args(&["--duration=2m"]))
                .unwrap()
                .unwrap()
                .seconds,
            120
        );
        assert!(parse_args(&args(&["--help"])).unwrap().is_none());
        assert!(parse_args(&args(&["--duration", "0s"])).is_err());
        assert!(parse_args(&args(&["--quick", "--duration", "5s"])).is_err());
        assert!(parse_args(&args(&["--fast"])).is_err());
    }

    #[test]
    fn reads_cpu_ticks() {
        let stat =
            "1234 (tokio runtime) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(process_ticks(stat), Some(300));
        assert_eq!(
            machine_busy_ticks("cpu  10 1 5 100 7 2 3 4 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n"),
            Some(25)
        );
    }

    #[test]
    fn other_work_is_what_the_run_did_not_use() {
        let cpu = CpuUse {
            server: 1.0,
            postgres: 0.25,
            wrk: 0.5,
            machine: 2.0,
        };
        assert!((cpu.other(Backend::Postgres) - 0.25).abs() < 1e-9);
        assert!((cpu.other(Backend::Sqlite) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        let mut rng = Rng(1);
        assert!((0..1_000).all(|_| rng.below(7) < 7));
    }
}
