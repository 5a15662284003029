//! The purge of a deleted organization (D17), from outside: a server killed
//! with SIGKILL in the middle of a purge (its knowledge files erased, its
//! rows not yet) finishes it after a restart, and then nothing of the
//! organization remains: no row of any table of the SQLite database names
//! its id or holds its canary, no path under the blob folder names it, and
//! every route on it answers 404, its owner's included.
//!
//! The middle of a purge is reached with the test-only knob
//! `TENANCY_TEST_PURGE_PAUSE`, which makes the purge pause between the blobs
//! and the rows. The database is read with Python's standard `sqlite3`
//! module, as `normalization.rs` does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Response, Server, command, request, send_signal, upload, wait_until};

const DATABASE: &str = "tenancy-data/tenancy.db";
const BLOBS: &str = "tenancy-data/blobs";

/// Prints `table.column` for each value of the database (`sys.argv[1]`)
/// that holds the UUID `sys.argv[2]` (as 16 bytes, or as text with or without
/// hyphens, in any case) or the text `sys.argv[3]`, in a text or a blob;
/// then `tables N`, how many tables it read.
const SCAN: &str = r#"
import sqlite3, sys, uuid
db = sqlite3.connect(sys.argv[1])
db.text_factory = bytes
org = uuid.UUID(sys.argv[2])
canary = sys.argv[3].lower().encode()
texts = [str(org).encode(), org.hex.encode(), canary]
tables = [r[0].decode() for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
for table in tables:
    columns = [r[1].decode() for r in db.execute(f'PRAGMA table_info("{table}")')]
    for row in db.execute(f'SELECT * FROM "{table}"'):
        for column, value in zip(columns, row):
            if isinstance(value, (bytes, str)):
                raw = value if isinstance(value, bytes) else value.encode()
                if org.bytes in raw or any(t in raw.lower() for t in texts):
                    print(f"{table}.{column}")
print("tables", len(tables))
"#;

/// The columns (`table.column`) of the database that still name the
/// organization or hold its canary.
fn columns_naming(db: &Path, org: &str, canary: &str) -> BTreeSet<String> {
    let output = Command::new("python3")
        .args(["-c", SCAN])
        .arg(db)
        .args([org, canary])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python3 could not scan the database: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines: Vec<&str> = stdout.lines().collect();
    let tables: usize = lines
        .pop()
        .and_then(|last| last.strip_prefix("tables "))
        .unwrap()
        .parse()
        .unwrap();
    // The schema's tables (users, organizations, memberships, resources,
    // invitations, the outbox, ...): the scan read a real database.
    assert!(tables >= 15, "only {tables} tables in {}", db.display());
    lines.into_iter().map(str::to_owned).collect()
}

/// Every path under `dir`, folders included.
fn paths_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(paths_under(&path));
        }
        found.push(path);
    }
    found
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: Option<&Value>) -> Response {
    request(server.addr, method, path, Some(token), body)
}

/// Asks for `status` and returns the answer's body.
fn expect(response: Response, status: u16, what: &str) -> Value {
    assert_eq!(response.status, status, "{what}: {response:?}");
    if response.body.is_empty() {
        Value::Null
    } else {
        response.json()
    }
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// What the doomed organization holds, by the path parameters of its routes.
struct Doomed {
    /// The member's bearer token.
    member: String,
    ids: Vec<(&'static str, String)>,
}

/// Fills the organization `org` of `owner` with everything an organization
/// can hold, each name with the canary in it: agents, connections with
/// credentials, reports with a run and a schedule, knowledge files, a custom
/// role, a member (who pins and chats), a pending invitation resent once, and
/// a pending ownership transfer.
fn populate(server: &Server, owner: &str, org: &str, canary: &str) -> Doomed {
    let base = format!("/v1/organizations/{org}");
    let create = |path: &str, token: &str, body: Value, status: u16| {
        expect(
            call(server, "POST", &format!("{base}{path}"), token, Some(&body)),
            status,
            path,
        )
    };
    let connections: Vec<String> = (0..2)
        .map(|i| {
            id(&create(
                "/connections",
                owner,
                json!({
                    "label": format!("Warehouse {i} {canary}"),
                    "type": "postgres",
                    "credentials": {"password": format!("{canary}-secret-{i}")}
                }),
                201,
            ))
        })
        .collect();
    let agents: Vec<String> = (0..2)
        .map(|i| {
            id(&create(
                "/agents",
                owner,
                json!({
                    "name": format!("Agent {i} {canary}"),
                    "description": canary,
                    "connection_ids": connections
                }),
                201,
            ))
        })
        .collect();
    let reports: Vec<String> = (0..2)
        .map(|i| {
            id(&create(
                "/reports",
                owner,
                json!({"name": format!("Report {i} {canary}"), "definition": {"query": canary}}),
                201,
            ))
        })
        .collect();
    let run = id(&create(
        &format!("/reports/{}/runs", reports[0]),
        owner,
        json!({}),
        202,
    ));
    expect(
        call(
            server,
            "PUT",
            &format!("{base}/reports/{}/schedule", reports[0]),
            owner,
            Some(&json!({"cron": "0 9 * * 1", "timezone": "Europe/Paris"})),
        ),
        200,
        "schedule",
    );
    let files: Vec<String> = (0..3)
        .map(|i| {
            let uploaded = upload(
                server.addr,
                &format!("{base}/knowledge-files"),
                owner,
                &format!("notes-{i}.md"),
                format!("# Notes {i}\n{canary}\n").as_bytes(),
            );
            id(&expect(uploaded, 201, "upload"))
        })
        .collect();
    create(
        "/roles",
        owner,
        json!({
            "key": "analyst",
            "name": format!("Analyst {canary}"),
            "description": canary,
            "capabilities": ["view_resources", "chat_with_agents", "pin_items"]
        }),
        201,
    );

    // A member, who joins from an invitation and leaves traces of their own.
    let email = "member@example.com";
    create(
        "/invitations",
        owner,
        json!({"email": email, "role": "editor"}),
        201,
    );
    let token = server.wait_for_link(email, "invitations", &[]);
    let joined = server.post(
        "/v1/auth/signup",
        None,
        &json!({"email": email, "password": "correct horse battery", "invitation_token": token}),
    );
    let joined = expect(joined, 201, "the member's sign-up");
    let member = joined["token"].as_str().unwrap().to_owned();
    let member_id = joined["user"]["id"].as_str().unwrap().to_owned();
    let pin = id(&create(
        "/pins",
        &member,
        json!({"item_type": "agent", "item_id": agents[0]}),
        201,
    ));
    let chat = id(&create(
        "/chats",
        &member,
        json!({"agent_id": agents[0]}),
        201,
    ));
    create(
        &format!("/chats/{chat}/messages"),
        &member,
        json!({"content": format!("hello {canary}")}),
        201,
    );
    create(
        "/investigations",
        &member,
        json!({"agent_id": agents[1], "question": format!("why {canary}?")}),
        202,
    );
    let activated = call(
        server,
        "PUT",
        "/v1/me/active-organization",
        &member,
        Some(&json!({"organization_id": org})),
    );
    expect(activated, 200, "the member's switch");

    // An invitation still pending, resent once (its first token superseded).
    let pending = id(&create(
        "/invitations",
        owner,
        json!({"email": "pending@example.com"}),
        201,
    ));
    create(
        &format!("/invitations/{pending}/resend"),
        owner,
        json!({}),
        200,
    );

    // A transfer offered to the member, which the deletion ends.
    create(
        "/ownership-transfer",
        owner,
        json!({"user_id": member_id}),
        201,
    );

    Doomed {
        member,
        ids: vec![
            ("org_id", org.to_owned()),
            ("agent_id", agents[0].clone()),
            ("connection_id", connections[0].clone()),
            ("report_id", reports[0].clone()),
            ("run_id", run),
            ("file_id", files[0].clone()),
            ("pin_id", pin),
            ("chat_id", chat),
            ("invitation_id", pending),
            ("user_id", member_id),
            ("key", "analyst".to_owned()),
        ],
    }
}

/// Every operation of the served document on the organization, with the
/// ids of what it held in its path (a fresh UUID for any other parameter).
fn routes_on(server: &Server, doomed: &Doomed) -> Vec<(String, String)> {
    let document = server.get("/openapi.json", None).json();
    let mut routes = Vec::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        if !template.starts_with("/v1/organizations/{org_id}") {
            continue;
        }
        let mut path = template.clone();
        for (name, value) in &doomed.ids {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        while let Some(start) = path.find('{') {
            let end = start + path[start..].find('}').unwrap();
            path.replace_range(start..=end, &uuid::Uuid::now_v7().to_string());
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn a_purge_killed_in_its_middle_finishes_after_a_restart_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, blobs) = (dir.path().join(DATABASE), dir.path().join(BLOBS));
    let args = ["--deletion-grace", "0s"];
    let mut paused = command(dir.path());
    paused.env("TENANCY_TEST_PURGE_PAUSE", "120s");
    let mut first = Server::start_with(paused, &args);

    // The owner keeps the organization of their sign-up (D13).
    let owner = first.sign_up_verified("owner@example.com");
    let canary = format!("canary{}", uuid::Uuid::now_v7().simple());
    let name = format!("Doomed {canary}");
    let created = first.post("/v1/organizations", Some(&owner), &json!({"name": name}));
    let org = id(&expect(created, 201, "the organization"));
    let doomed = populate(&first, &owner, &org, &canary);
    let routes = routes_on(&first, &doomed);
    assert!(routes.len() >= 40, "{routes:?}");

    // The scan sees the organization where it lives, and its files are there.
    let before = columns_naming(&db, &org, &canary);
    let tables: BTreeSet<&str> = before
        .iter()
        .filter_map(|column| column.split('.').next())
        .collect();
    // The store's tables, named here only to show what the scan covers.
    for table in [
        "organizations",
        "memberships",
        "active_organizations",
        "resources",
        "connection_credentials",
        "report_runs",
        "pins",
        "chats",
        "chat_messages",
        "investigations",
        "roles",
        "invitations",
        "superseded_invitation_tokens",
        "ownership_transfers",
        "mail_outbox",
    ] {
        assert!(tables.contains(table), "{table} not in {before:?}");
    }
    let org_folder = |path: &PathBuf| path.to_string_lossy().contains(org.as_str());
    assert_eq!(
        paths_under(&blobs)
            .iter()
            .filter(|path| org_folder(path) && path.is_file())
            .count(),
        3,
        "{:?}",
        paths_under(&blobs)
    );

    let deleted = call(
        &first,
        "POST",
        &format!("/v1/organizations/{org}/deletion"),
        &owner,
        Some(&json!({"confirm_name": name})),
    );
    let deleted = expect(deleted, 202, "the deletion");
    assert_eq!(deleted["status"], "pending_deletion", "{deleted}");

    // The purge pauses after the files, before the rows: kill it there.
    assert!(
        first.wait_for_line(
            &["TENANCY_TEST_PURGE_PAUSE", org.as_str()],
            Duration::from_secs(30)
        ),
        "the purge did not reach its middle; log:\n{}",
        first.log()
    );
    assert!(
        !paths_under(&blobs).iter().any(org_folder),
        "{:?}",
        paths_under(&blobs)
    );
    let middle = columns_naming(&db, &org, &canary);
    assert!(
        middle.contains("organizations.id"),
        "the rows went before the kill: {middle:?}"
    );
    // The links of its emails name its address.
    let first_url = first.public_url();
    send_signal(first.pid(), "KILL");
    assert!(first.wait_exit(Duration::from_secs(10)).is_some());
    drop(first);

    // Restarted without the knob, it finishes the purge within seconds.
    let second = Server::start(dir.path(), &args);
    let org_path = format!("/v1/organizations/{org}");
    assert!(
        wait_until(Duration::from_secs(15), || {
            call(&second, "GET", &org_path, &owner, None).status == 404
        }),
        "the purge did not finish after the restart; log:\n{}",
        second.log()
    );
    assert!(
        second.wait_for_log("purged organizations", Duration::from_secs(5)),
        "{}",
        second.log()
    );

    let left = columns_naming(&db, &org, &canary);
    assert!(left.is_empty(), "left in the database: {left:?}");
    let paths: Vec<PathBuf> = paths_under(&blobs).into_iter().filter(org_folder).collect();
    assert!(paths.is_empty(), "left in the blob folder: {paths:?}");
    for file in paths_under(&blobs).iter().filter(|path| path.is_file()) {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&canary),
            "{} holds the canary",
            file.display()
        );
    }

    for (method, path) in &routes {
        let body = matches!(method.as_str(), "POST" | "PUT" | "PATCH").then(|| json!({}));
        let answer = call(&second, method, path, &owner, body.as_ref());
        assert_eq!(answer.status, 404, "{method} {path}: {answer:?}");
    }
    let listed = second.get("/v1/organizations", Some(&owner)).json();
    let listed = listed["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_ne!(listed[0]["id"], org.as_str());
    let active = second.get("/v1/me/active-organization", Some(&owner));
    let active = expect(active, 200, "the owner's active organization");
    assert_eq!(active["organization"]["id"], listed[0]["id"], "{active}");

    // The member is back in their own organization, as after a removal.
    let gone = call(&second, "GET", &org_path, &doomed.member, None);
    assert_eq!(gone.status, 404, "{gone:?}");
    let theirs = second.get("/v1/organizations", Some(&doomed.member)).json();
    let theirs = theirs["items"].as_array().unwrap();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["is_owner"], true, "{theirs:?}");
    let active = second.get("/v1/me/active-organization", Some(&doomed.member));
    let active = expect(active, 200, "the member's active organization");
    assert_eq!(active["organization"]["id"], theirs[0]["id"], "{active}");

    // The resent invitation's links, old and new, lead nowhere now.
    for token in second
        .mails_to("pending@example.com")
        .iter()
        .map(|mail| mail.invitation_token(&first_url))
    {
        let preview = second.get(&format!("/v1/invitations/{token}"), None);
        assert_eq!(preview.status, 404, "{preview:?}");
    }
    assert!(!second.log().contains("panicked"), "{}", second.log());
}
