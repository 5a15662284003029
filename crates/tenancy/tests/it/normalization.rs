//! Email normalization, name rules and common passwords, from outside: an
//! upgrade over a database holding two spellings of one account stops with a
//! clear message, and the HTTP API treats every spelling as one address.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Response, Server, command, request, send_signal, wait_until};

const PASSWORD: &str = "correct horse battery";

/// Runs a Python script with the database at `db` as `sys.argv[1]` and
/// returns what it prints. Python's `sqlite3` module stands in for an older
/// release writing rows that the current one would refuse.
fn sqlite(db: &Path, script: &str) -> String {
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

const EMAILS: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (email,) in db.execute("SELECT email FROM users ORDER BY email"):
    print("user", email)
for (version,) in db.execute("SELECT version FROM seaql_migrations WHERE version = 'm0006_normalize_emails'"):
    print("applied", version)
"#;

fn stop(mut server: Server) {
    send_signal(server.pid(), "TERM");
    let status = server.wait_exit(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{status:?}\n{}", server.log());
}

/// Runs the binary to its end (at most a minute); returns its exit code and stderr.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = command(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    let exited = wait_until(Duration::from_secs(60), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`tenancy {}` did not exit within a minute", args.join(" "));
    }
    let output = child.wait_with_output().unwrap();
    (
        status.and_then(|s| s.code()),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn colliding_accounts_stop_migrate_and_serve_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tenancy-data/tenancy.db");
    let server = Server::start(dir.path(), &[]);
    server.sign_up("alice@example.test");
    server.sign_up("bob@example.test");
    stop(server);

    // What an older release could hold: the same person signed up twice,
    // with two spellings of one address. The normalizing migration only
    // changes data, so the schema before it is the current one without its
    // record.
    sqlite(
        &db,
        r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE users SET email = 'ALICE@Example.test' WHERE email = 'bob@example.test'")
# Older releases queued no account emails (verification links came later).
db.execute("DELETE FROM mail_outbox WHERE invitation_id IS NULL")
db.execute("DELETE FROM seaql_migrations WHERE version = 'm0006_normalize_emails'")
db.commit()
"#,
    );
    let before = sqlite(&db, EMAILS);
    assert_eq!(before, "user ALICE@Example.test\nuser alice@example.test\n");

    for args in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"]] {
        let (code, stderr) = run(dir.path(), args);
        assert_eq!(code, Some(1), "tenancy {args:?}: {stderr}");
        assert!(
            stderr.contains("cannot normalize the stored email addresses")
                && stderr.contains("2 accounts are one address, `alice@example.test`")
                && stderr.contains("`ALICE@Example.test` of `")
                && stderr.contains("nothing was changed"),
            "tenancy {args:?}: {stderr}"
        );
        // Neither the password hashes nor anything else secret is shown.
        assert!(!stderr.contains("argon2"), "{stderr}");
        assert!(!stderr.contains("listening on"), "{stderr}");
        // The refused run left the data as it was.
        assert_eq!(sqlite(&db, EMAILS), before);
    }

    // Once one of the two is gone, the upgrade goes through.
    sqlite(
        &db,
        r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE users SET email = 'robert@example.test' WHERE email = 'ALICE@Example.test'")
db.commit()
"#,
    );
    let (code, stderr) = run(dir.path(), &["migrate"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        sqlite(&db, EMAILS),
        "user alice@example.test\nuser robert@example.test\napplied m0006_normalize_emails\n"
    );
}

fn problem_fields(response: &Response) -> Vec<String> {
    response.json()["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_invalid(response: &Response, field: &str) {
    assert_eq!(response.status, 422, "{response:?}");
    assert_eq!(response.json()["code"], "validation_failed", "{response:?}");
    assert_eq!(problem_fields(response), [field], "{response:?}");
}

#[test]
fn every_spelling_of_an_address_is_one_account_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let signup = |body: &Value| server.post("/v1/auth/signup", None, body);

    let created = signup(&json!({"email": "alice@ex\u{E4}mple.test", "password": PASSWORD}));
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json()["user"]["email"], "alice@xn--exmple-cua.test");

    // Signing in with another spelling finds the same account.
    let signed_in = server.post(
        "/v1/auth/signin",
        None,
        &json!({"email": "\u{FF21}LICE@xn--exmple-cua.test", "password": PASSWORD}),
    );
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    assert_eq!(signed_in.json()["user"]["id"], created.json()["user"]["id"]);

    // Signing up again with the ASCII form is taken.
    let again = signup(&json!({"email": "alice@xn--exmple-cua.test", "password": PASSWORD}));
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(again.json()["code"], "email_taken", "{again:?}");

    // A name holding a right-to-left override is refused, on create and rename.
    let token = created.json()["token"].as_str().unwrap().to_owned();
    let spoofed = json!({"name": "Acme \u{202E}gnp.exe"});
    let refused = server.post("/v1/organizations", Some(&token), &spoofed);
    assert_invalid(&refused, "name");
    let org_id = created.json()["default_organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let renamed = request(
        server.addr,
        "PATCH",
        &format!("/v1/organizations/{org_id}"),
        Some(&token),
        Some(&spoofed),
    );
    assert_invalid(&renamed, "name");
    let unchanged = server.get(&format!("/v1/organizations/{org_id}"), Some(&token));
    assert_eq!(
        unchanged.json()["name"],
        "alice@xn--exmple-cua.test's organization"
    );

    // So are a zero-width display name and a common password, and nothing is created.
    let hidden = signup(&json!({
        "email": "bob@example.test",
        "password": PASSWORD,
        "display_name": "Bob\u{200B}"
    }));
    assert_invalid(&hidden, "display_name");
    let common = signup(&json!({"email": "bob@example.test", "password": "PassWord1"}));
    assert_invalid(&common, "password");
    let bob = signup(&json!({"email": "bob@example.test", "password": PASSWORD}));
    assert_eq!(bob.status, 201, "{bob:?}");
}
