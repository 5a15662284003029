//! `tenancy serve` as a process: start-up on a free port with the default
//! paths, health, signals, restarts.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::json;

use crate::support::{Server, send_signal};

#[test]
fn serve_starts_on_a_free_port_answers_health_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Only the address is given: the database, the key and the mail folder
    // take their defaults under the working directory.
    let mut server = Server::start(dir.path(), &[]);
    assert_ne!(server.addr.port(), 0);
    assert!(
        server.log().contains(&format!(
            "listening on http://127.0.0.1:{}",
            server.addr.port()
        )),
        "{}",
        server.log()
    );

    let health = server.get("/healthz", None);
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(server.get("/readyz", None).status, 200);

    let data = dir.path().join("tenancy-data");
    let key = std::fs::metadata(data.join("secret.key")).unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert!(data.join("tenancy.db").is_file());
    assert!(data.join("outbox").is_dir());

    send_signal(server.pid(), "TERM");
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("the server exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(
        server.log().contains("SIGTERM received"),
        "{}",
        server.log()
    );
}

#[test]
fn sigint_stops_it_too_and_a_restart_keeps_the_key_and_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("tenancy-data/secret.key");
    let mut first = Server::start(dir.path(), &[]);
    first.sign_up("ann@example.com");
    let key = std::fs::read(&key_path).unwrap();
    send_signal(first.pid(), "INT");
    let status = first.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status:?}\n{}", first.log());

    let second = Server::start(dir.path(), &[]);
    assert_eq!(std::fs::read(&key_path).unwrap(), key);
    let signed_in = second.post(
        "/v1/auth/signin",
        None,
        &json!({"email": "ann@example.com", "password": "correct horse battery"}),
    );
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
}

#[test]
fn the_service_token_enables_authorize() {
    let dir = tempfile::tempdir().unwrap();
    let token = "b".repeat(42) + "A";
    let server = Server::start(dir.path(), &["--service-token", &token]);
    let body = json!({
        "user_id": "01900000-0000-7000-8000-000000000000",
        "organization_id": "01900000-0000-7000-8000-000000000001",
        "capability": "view_resources"
    });
    let allowed = server.post("/v1/authorize", Some(&token), &body);
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.json()["allowed"], json!(false));
    assert_eq!(
        server.post("/v1/authorize", Some("nope"), &body).status,
        401
    );
    assert!(!server.log().contains(&token), "the token was logged");

    let other = tempfile::tempdir().unwrap();
    let without = Server::start(other.path(), &[]);
    assert_eq!(
        without.post("/v1/authorize", Some(&token), &body).status,
        404
    );
}

/// A reader of stderr that stops reading (a full pipe, a stuck log
/// collector) costs log lines, never requests: 3,000 requests, each logged,
/// are far more than a pipe holds.
#[test]
fn a_stderr_nobody_reads_does_not_stall_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let mut child = crate::support::command(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        // Piped and never read: the pipe fills after some 64 KiB.
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = crate::support::wait_until(Duration::from_secs(60), || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    assert!(up, "the server did not start listening");
    let started = std::time::Instant::now();
    for _ in 0..3_000 {
        let health = crate::support::request(addr, "GET", "/healthz", None, None);
        assert_eq!(health.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "3,000 requests took {:?}",
        started.elapsed()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
