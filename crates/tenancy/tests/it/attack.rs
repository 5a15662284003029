//! The server under attack, from outside: a storm of sign-ins, a flood of
//! idle and slow connections, a database that stops, and the small leaks
//! (file modes, headers).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{BIN, Database, Server, command, files_under, request, wait_until};

/// The peak resident memory of a process, from `/proc`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn a_storm_of_sign_ins_is_answered_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    // The rate limits are off in these tests (`support::command`): the storm
    // stands for many clients, as an attacker with many addresses sends it.
    let server = Server::start(dir.path(), &["--max-concurrent-hashes", "2"]);
    server.sign_up("storm@example.com");
    let addr = server.addr;
    let threads: Vec<_> = (0..200)
        .map(|i| {
            std::thread::spawn(move || {
                let password = if i % 2 == 0 {
                    "correct horse battery"
                } else {
                    "wrong horse battery"
                };
                let started = Instant::now();
                let response = request(
                    addr,
                    "POST",
                    "/v1/auth/signin",
                    None,
                    Some(&json!({"email": "storm@example.com", "password": password})),
                );
                (i, response, started.elapsed())
            })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for thread in threads {
        let (i, response, elapsed) = thread.join().unwrap();
        *counts.entry(response.status).or_insert(0) += 1;
        match response.status {
            200 => assert_eq!(i % 2, 0, "a wrong password signed in"),
            401 => assert_eq!(i % 2, 1, "the right password was refused: {response:?}"),
            503 => {
                assert_eq!(response.json()["code"], "unavailable");
                assert!(response.header("retry-after").is_some(), "{response:?}");
                // Refused after waiting about 5 s for a slot, not at once
                // and not after a hang.
                assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
            }
            other => panic!("sign-in {i} answered {other}: {response:?}"),
        }
    }
    assert_eq!(counts.values().sum::<i32>(), 200, "{counts:?}");
    assert!(counts.contains_key(&200), "{counts:?}");
    // Two hashes of 19 MiB at a time: the server stays far below what 200
    // unbounded hashes take (about 4 GiB).
    if let Some(peak) = peak_rss_kib(server.pid()) {
        assert!(peak < 256 * 1024, "peak resident memory {peak} KiB");
    }
    // The server still answers, at once.
    let response = server.get("/healthz", None);
    assert_eq!(response.status, 200);
}

/// Raises this process's soft limit of open files, so that the test can
/// hold more sockets than the server may.
fn raise_own_open_files() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

/// `tenancy serve` with at most 1024 open files (soft and hard).
fn start_with_1024_files(dir: &std::path::Path, args: &[&str]) -> Server {
    let mut shell = std::process::Command::new("sh");
    // Keep the environment `command` prepares, in the shell's child.
    let prepared = command(dir);
    for (name, value) in prepared.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    shell
        .current_dir(dir)
        .args(["-c", "ulimit -n 1024 && exec \"$0\" \"$@\"", BIN]);
    Server::start_with(shell, args)
}

fn healthz_within(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let response = request(addr, "GET", "/healthz", None, None);
    assert_eq!(response.status, 200);
    started.elapsed()
}

#[test]
fn idle_and_slow_connections_never_stop_healthz() {
    raise_own_open_files();
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_1024_files(
        dir.path(),
        &["--header-timeout", "3s", "--idle-timeout", "4s"],
    );
    let addr = server.addr;

    // 1,100 sockets that never send a byte: more than the server may open.
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(TcpStream::connect(addr).unwrap());
    }
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let elapsed = healthz_within(addr);
        assert!(
            elapsed < Duration::from_secs(1),
            "/healthz took {elapsed:?}"
        );
    }

    // A slow client that never finishes its head is disconnected after the
    // header timeout.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0_u8; 64];
    let read = slow.read(&mut buffer);
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "a half-sent head got an answer: {read:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(10),
        "the slow client was held {waited:?}"
    );

    // A keep-alive connection is served, then closed once idle too long.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let n = kept.read(&mut buffer).unwrap();
    assert!(buffer[..n].starts_with(b"HTTP/1.1 200"));
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = kept.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(12),
        "the idle connection was held {waited:?}"
    );

    drop(idle);
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[cfg(unix)]
#[test]
fn files_are_readable_by_the_server_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |path: &str| {
        std::fs::metadata(dir.path().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    {
        let server = Server::start(dir.path(), &[]);
        server.invite_to_new_organization("ann@example.com", "Acme", "bob@example.com");
        let token = server.sign_up("cid@example.com");
        let me = server.get("/v1/me", Some(&token)).json();
        let org = me["active_organization_id"].as_str().unwrap().to_owned();
        let uploaded = crate::support::upload(
            server.addr,
            &format!("/v1/organizations/{org}/knowledge-files"),
            &token,
            "notes.md",
            b"# notes",
        );
        assert_eq!(uploaded.status, 201, "{uploaded:?}");
        assert!(wait_until(Duration::from_secs(10), || {
            std::fs::read_dir(dir.path().join("tenancy-data/outbox"))
                .is_ok_and(|mut entries| entries.next().is_some())
        }));
        for folder in ["tenancy-data", "tenancy-data/blobs", "tenancy-data/outbox"] {
            assert_eq!(mode(folder), 0o700, "{folder}");
        }
        for file in [
            "tenancy-data/tenancy.db",
            "tenancy-data/tenancy.db-wal",
            "tenancy-data/tenancy.db-shm",
            "tenancy-data/secret.key",
        ] {
            assert_eq!(mode(file), 0o600, "{file}");
        }
        let mut checked = 0;
        for root in ["tenancy-data/blobs", "tenancy-data/outbox"] {
            for file in files_under(&dir.path().join(root)) {
                let m = |p: &std::path::Path| {
                    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
                };
                assert_eq!(m(&file), 0o600, "{}", file.display());
                assert_eq!(m(file.parent().unwrap()), 0o700, "{}", file.display());
                checked += 1;
            }
        }
        assert!(checked >= 2, "only {checked} files");
    }
    // Files left readable by an earlier run are tightened at start.
    for (path, lax) in [
        ("tenancy-data/tenancy.db", 0o644),
        ("tenancy-data/blobs", 0o755),
    ] {
        std::fs::set_permissions(dir.path().join(path), std::fs::Permissions::from_mode(lax))
            .unwrap();
    }
    let _server = Server::start(dir.path(), &[]);
    assert_eq!(mode("tenancy-data/tenancy.db"), 0o600);
    assert_eq!(mode("tenancy-data/blobs"), 0o700);
}

#[test]
fn api_responses_are_never_cached_or_sniffed_and_docs_cannot_be_framed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let signed_up = request(
        server.addr,
        "POST",
        "/v1/auth/signup",
        None,
        Some(&json!({"email": "ann@example.com", "password": "correct horse battery"})),
    );
    assert_eq!(signed_up.status, 201);
    for response in [
        signed_up,
        server.get("/v1/plans", None),
        server.get("/v1/me", None),
        server.get("/v1/no/such/route", None),
    ] {
        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "{response:?}"
        );
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{response:?}"
        );
    }
    let docs = server.get("/docs", None);
    assert_eq!(docs.status, 200);
    assert_eq!(docs.header("x-frame-options"), Some("DENY"));
    assert_eq!(docs.header("x-content-type-options"), Some("nosniff"));
    let policy = docs.header("content-security-policy").unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("script-src 'sha256-"), "{policy}");
    let scripts = policy
        .split(';')
        .find(|directive| directive.trim().starts_with("script-src"))
        .unwrap();
    assert!(!scripts.contains("unsafe"), "{policy}");
}

/// A TCP proxy to the test's PostgreSQL that can be stopped (every
/// connection cut, new ones refused) and started again on the same port:
/// from the server's side, PostgreSQL going down and coming back.
struct Outage {
    port: u16,
    target: String,
    running: Arc<AtomicBool>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Outage {
    fn new(target: String) -> Self {
        let port = crate::support::free_port();
        let mut proxy = Self {
            port,
            target,
            running: Arc::new(AtomicBool::new(false)),
            sockets: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        proxy.start();
        proxy
    }

    fn start(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        self.running.store(true, Ordering::SeqCst);
        let running = Arc::clone(&self.running);
        let sockets = Arc::clone(&self.sockets);
        let target = self.target.clone();
        self.acceptor = Some(std::thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(upstream) = TcpStream::connect(&target) else {
                            continue;
                        };
                        let mut all = sockets.lock().unwrap();
                        all.push(client.try_clone().unwrap());
                        all.push(upstream.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap());
                        pipe(upstream, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener is dropped here: new connections are refused.
        }));
    }

    fn stop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().unwrap();
        }
        for socket in self.sockets.lock().unwrap().drain(..) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}

#[test]
fn a_stopped_postgresql_gives_503_within_2_s_and_recovery_needs_no_restart() {
    let Some(database) = Database::create() else {
        return;
    };
    // postgres://user@host:port/name → the proxy in front of host:port.
    let (scheme_user, rest) = database.url.split_once('@').unwrap();
    let (host_port, name) = rest.split_once('/').unwrap();
    let mut outage = Outage::new(host_port.to_owned());
    let url = format!("{scheme_user}@127.0.0.1:{}/{name}", outage.port);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--database", &url]);
    let token = server.sign_up("ann@example.com");
    assert_eq!(server.get("/v1/me", Some(&token)).status, 200);

    outage.stop();
    for path in ["/v1/me", "/readyz", "/v1/organizations"] {
        let started = Instant::now();
        let response = server.get(path, Some(&token));
        let elapsed = started.elapsed();
        assert_eq!(response.status, 503, "{path}: {response:?}");
        assert!(elapsed < Duration::from_secs(2), "{path} took {elapsed:?}");
        assert!(response.header("retry-after").is_some(), "{response:?}");
        if path != "/readyz" {
            assert_eq!(response.json()["code"], "unavailable");
        }
    }
    let started = Instant::now();
    let signin = server.post(
        "/v1/auth/signin",
        None,
        &json!({"email": "ann@example.com", "password": "correct horse battery"}),
    );
    assert_eq!(signin.status, 503, "{signin:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.get("/healthz", None).status, 200);

    // PostgreSQL is back: the same process serves again by itself.
    outage.start();
    assert!(
        wait_until(Duration::from_secs(15), || server
            .get("/v1/me", Some(&token))
            .status
            == 200),
        "the server did not recover; its log:\n{}",
        server.log()
    );
    assert_eq!(server.get("/readyz", None).status, 200);
}
