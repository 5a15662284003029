//! The example host as a process, asking a tenancy server on loopback: the server runs in the
//! test (tenancy-http's app over a SQLite store), the host is the built binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test should stop loudly"
)]

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use tenancy_client::types::SignUpRequest;
use tenancy_core::service::Settings;
use tenancy_core::token::SecretToken;
use tenancy_http::{ApiConfig, AppState};
use tenancy_store::{FsBlobs, SecretKey, Store, StoreOptions};
use uuid::Uuid;

const HOST: &str = env!("CARGO_BIN_EXE_tenancy-example-remote-host");

fn service_token() -> String {
    "r".repeat(42) + "Q"
}

/// tenancy's app with a service token, served on a free loopback port until the test ends.
async fn serve(dir: &std::path::Path) -> SocketAddr {
    let store = Store::open(StoreOptions::new(
        format!("sqlite://{}", dir.join("tenancy.db").display()),
        SecretKey::generate("test").unwrap(),
    ))
    .await
    .unwrap();
    let state = AppState::new(
        store,
        Settings::default(),
        Arc::new(FsBlobs::new(dir.join("blobs"))),
        ApiConfig {
            service_token: Some(SecretToken::parse(&service_token()).unwrap()),
            ..ApiConfig::default()
        },
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(tenancy_http::app(state)));
    addr
}

/// Runs the host with the URL and token in its environment, as the README suggests.
async fn ask(
    addr: SocketAddr,
    token: &str,
    user: Uuid,
    organization: Uuid,
    capability: &str,
) -> Output {
    let mut command = Command::new(HOST);
    command
        .env("TENANCY_URL", format!("http://{addr}"))
        .env("TENANCY_SERVICE_TOKEN", token)
        .args([
            user.to_string(),
            organization.to_string(),
            capability.to_owned(),
        ]);
    // Blocking, so on its own thread: the server answers on the runtime's.
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_asks_tenancy_and_exits_with_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve(dir.path()).await;
    let ann = tenancy_client::anonymous(&format!("http://{addr}"))
        .unwrap()
        .sign_up(&SignUpRequest {
            display_name: None,
            email: "ann@example.com".parse().unwrap(),
            invitation_token: None,
            password: "correct horse battery".parse().expect("a valid password"),
        })
        .await
        .unwrap()
        .into_inner();
    let org = ann.default_organization.id;

    let allowed = ask(addr, &service_token(), ann.user.id, org, "manage_members").await;
    assert_eq!(allowed.status.code(), Some(0), "{}", stderr(&allowed));
    assert_eq!(stdout(&allowed), "allowed (role owner)\n");

    let stranger = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0042);
    let denied = ask(addr, &service_token(), stranger, org, "view_resources").await;
    assert_eq!(denied.status.code(), Some(1), "{}", stderr(&denied));
    assert_eq!(stdout(&denied), "denied (not a member)\n");

    // A session token is not the service token: the host reports the problem and fails.
    let refused = ask(addr, &ann.token, ann.user.id, org, "view_resources").await;
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    assert!(
        stderr(&refused).starts_with("cannot ask tenancy: 401 "),
        "{}",
        stderr(&refused)
    );
    assert!(stdout(&refused).is_empty(), "{}", stdout(&refused));

    let unknown = ask(addr, &service_token(), ann.user.id, org, "fly_rockets").await;
    assert_eq!(unknown.status.code(), Some(2), "{}", stdout(&unknown));
    assert!(
        stderr(&unknown).contains("`fly_rockets` is not a capability"),
        "{}",
        stderr(&unknown)
    );
}
