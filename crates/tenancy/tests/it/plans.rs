//! The plans file: its format, its errors, and the server serving it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tenancy::plans::parse;
use tenancy_core::plan::PlanId;

use crate::support::{Server, files_under, request, upload};

const VALID: &str = r#"
# Limits that are left out are unlimited; plans that do not say are not self-serve.
[[plans]]
id = "free"
name = "Free"
self_serve = true
[plans.limits]
agents = 1
connections = 2
reports = 3
chat_messages_per_month = 10
knowledge_files = 4
storage_bytes = 5000

[[plans]]
id = "team"
name = "Team"
self_serve = false
[plans.limits]
agents = 20

[[plans]]
id = "unlimited"
name = "Unlimited"
"#;

fn error_of(text: &str) -> String {
    parse(text, Path::new("conf/plans.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_valid_file_replaces_the_catalog_in_file_order() {
    let catalog = parse(VALID, Path::new("plans.toml")).unwrap();
    let ids: Vec<&str> = catalog.plans().iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["free", "team", "unlimited"]);
    let free = catalog.limits_of(&PlanId::free());
    assert_eq!(
        (
            free.agents,
            free.connections,
            free.reports,
            free.chat_messages_per_month,
            free.knowledge_files,
            free.storage_bytes
        ),
        (Some(1), Some(2), Some(3), Some(10), Some(4), Some(5000))
    );
    let team = catalog.limits_of(&PlanId::new("team"));
    assert_eq!(
        (
            team.agents,
            team.connections,
            team.knowledge_files,
            team.storage_bytes
        ),
        (Some(20), None, None, None)
    );
    // Only `free` says it is self-serve; `team` says it is not, and
    // `unlimited` does not say, so it is not.
    let self_serve: Vec<bool> = catalog.plans().iter().map(|p| p.self_serve).collect();
    assert_eq!(self_serve, [true, false, false]);
    assert_eq!(
        catalog.limits_of(&PlanId::new("unlimited")),
        Default::default()
    );
    assert_eq!(catalog.plans()[1].name, "Team");
}

#[test]
fn a_file_without_free_is_refused() {
    let error = error_of("[[plans]]\nid = \"pro\"\nname = \"Pro\"\n");
    assert!(
        error.starts_with("invalid plans file `conf/plans.toml`: "),
        "{error}"
    );
    assert!(error.contains("no `free` plan"), "{error}");
    assert!(error_of("plans = []").contains("no `free` plan"));
}

#[test]
fn unknown_fields_are_refused_wherever_they_are() {
    for (text, field) in [
        (
            "[[plans]]\nid = \"free\"\nname = \"Free\"\nprice = 0\n",
            "price",
        ),
        (
            "[[plans]]\nid = \"free\"\nname = \"Free\"\n[plans.limits]\nagent = 3\n",
            "agent",
        ),
        (
            "currency = \"EUR\"\n[[plans]]\nid = \"free\"\nname = \"Free\"\n",
            "currency",
        ),
    ] {
        let error = error_of(text);
        assert!(error.contains("conf/plans.toml"), "{error}");
        assert!(
            error.contains(&format!("unknown field `{field}`")),
            "{error}"
        );
    }
}

#[test]
fn duplicate_ids_are_refused() {
    let text =
        "[[plans]]\nid = \"free\"\nname = \"Free\"\n\n[[plans]]\nid = \"free\"\nname = \"Again\"\n";
    let error = error_of(text);
    assert!(error.contains("conf/plans.toml"), "{error}");
    assert!(
        error.contains("plan `free` appears more than once"),
        "{error}"
    );
}

#[test]
fn other_mistakes_are_named() {
    for (text, expected) in [
        ("[[plans]]\nname = \"Free\"\n", "missing field `id`"),
        ("[[plans]]\nid = \"free\"\n", "missing field `name`"),
        (
            "[[plans]]\nid = \"free\"\nname = \" \"\n",
            "plan `free` has an empty name",
        ),
        ("[[plans]]\nid = \"\"\nname = \"Free\"\n", "empty id"),
        (
            "[[plans]]\nid = \"free\"\nname = \"Free\"\n[plans.limits]\nagents = -1\n",
            "agents",
        ),
        (
            "[[plans]]\nid = \"free\"\nname = \"Free\"\n[plans.limits]\nagents = \"3\"\n",
            "agents",
        ),
        (
            "[[plans]]\nid = \"free\"\nname = \"Free\"\n[plans.limits]\nstorage_bytes = -1\n",
            "storage_bytes",
        ),
        (
            "[[plans]]\nid = \"free\"\nname = \"Free\"\nself_serve = \"yes\"\n",
            "self_serve",
        ),
        ("[[plans]\n", "TOML parse error"),
        ("", "missing field `plans`"),
    ] {
        let error = error_of(text);
        assert!(error.contains("conf/plans.toml"), "{error}");
        assert!(error.contains(expected), "expected `{expected}` in {error}");
    }
}

#[test]
fn the_server_serves_the_plans_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plans.toml"), VALID).unwrap();
    let server = Server::start(dir.path(), &["--plans", "plans.toml"]);
    let plans = server.get("/v1/plans", None);
    assert_eq!(plans.status, 200, "{plans:?}");
    let plans = plans.json();
    let items = plans["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["free", "team", "unlimited"]);
    assert_eq!(items[0]["limits"]["agents"], 1);
    assert_eq!(items[0]["limits"]["knowledge_files"], 4);
    assert_eq!(items[0]["limits"]["storage_bytes"], 5000);
    assert!(items[2]["limits"]["agents"].is_null());
    assert!(items[2]["limits"]["storage_bytes"].is_null());
    let self_serve: Vec<bool> = items
        .iter()
        .map(|p| p["self_serve"].as_bool().unwrap())
        .collect();
    assert_eq!(self_serve, [true, false, false]);
}

const SMALL: &str = r#"
[[plans]]
id = "free"
name = "Free"
self_serve = true
[plans.limits]
knowledge_files = 2
storage_bytes = 100

[[plans]]
id = "enterprise"
name = "Enterprise"
"#;

const SERVICE_TOKEN: &str = "c2VydmljZS10b2tlbi1mb3ItdGhlLWJpbmFyeS0xMjM";

#[test]
fn the_server_keeps_plans_to_the_host_and_files_to_their_quotas() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plans.toml"), SMALL).unwrap();
    // What a crashed run left staged: one upload long dead, one just begun.
    let staging = dir.path().join("blobs/.staging");
    std::fs::create_dir_all(&staging).unwrap();
    let dead = staging.join("0123abcd");
    std::fs::write(&dead, b"dead").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&dead)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    let recent = staging.join("4567abcd");
    std::fs::write(&recent, b"recent").unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--plans",
            "plans.toml",
            "--service-token",
            SERVICE_TOKEN,
            "--blob-dir",
            "blobs",
        ],
    );
    assert!(!dead.exists(), "{}", server.log());
    assert!(recent.exists());
    std::fs::remove_file(&recent).unwrap();

    let owner = server.sign_up("owner@example.com");
    let me = server.get("/v1/me", Some(&owner)).json();
    let org = me["active_organization_id"].as_str().unwrap().to_owned();
    let plan = format!("/v1/organizations/{org}/billing/plan");
    let enterprise = json!({"plan": "enterprise"});
    // The owner cannot pick a plan that the file leaves closed; the host can.
    let refused = request(server.addr, "PUT", &plan, Some(&owner), Some(&enterprise));
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.json()["code"], "plan_not_selectable");
    let set = request(
        server.addr,
        "PUT",
        &plan,
        Some(SERVICE_TOKEN),
        Some(&enterprise),
    );
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.json()["plan"], "enterprise");
    let back = request(
        server.addr,
        "PUT",
        &plan,
        Some(SERVICE_TOKEN),
        Some(&json!({"plan": "free"})),
    );
    assert_eq!(back.status, 200, "{back:?}");

    // Two files and a hundred bytes: past either, 402 and nothing stored.
    let files = format!("/v1/organizations/{org}/knowledge-files");
    let first = upload(server.addr, &files, &owner, "../../a.txt", &[b'a'; 60]);
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.json()["name"], "a.txt");
    let too_big = upload(server.addr, &files, &owner, "b.txt", &[b'b'; 41]);
    assert_eq!(too_big.status, 402, "{too_big:?}");
    assert_eq!(too_big.json()["code"], "quota_exceeded");
    let second = upload(server.addr, &files, &owner, "c.txt", &[b'c'; 40]);
    assert_eq!(second.status, 201, "{second:?}");
    let third = upload(server.addr, &files, &owner, "d.txt", b"");
    assert_eq!(third.status, 402, "{third:?}");
    let billing = server
        .get(&format!("/v1/organizations/{org}/billing"), Some(&owner))
        .json();
    assert_eq!(billing["usage"]["knowledge_files"], 2);
    assert_eq!(billing["usage"]["storage_bytes"], 100);
    let mut on_disk = files_under(&dir.path().join("blobs"));
    on_disk.sort();
    let mut expected: Vec<PathBuf> = [&first, &second]
        .iter()
        .map(|r| {
            dir.path()
                .join("blobs")
                .join(&org)
                .join(r.json()["id"].as_str().unwrap())
        })
        .collect();
    expected.sort();
    assert_eq!(on_disk, expected);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

    /// Whatever the file holds, parsing it answers (a catalog or an error
    /// naming the problem) and never panics: arbitrary text, and text shaped
    /// like a plans file with random keys and values.
    #[test]
    fn any_plans_file_is_answered_without_a_panic(
        text in proptest::prelude::any::<String>(),
        shaped in "(\\[\\[plans\\]\\]\n|\\[plans\\.limits\\]\n|(id|name|self_serve|agents|connections|reports|chat_messages_per_month|knowledge_files|storage_bytes|x) = (\"[a-z]{0,6}\"|-?[0-9]{1,20}|true|\\[\\])\n){0,12}",
    ) {
        let path = std::path::Path::new("plans.toml");
        let _ = parse(&text, path);
        if let Err(error) = parse(&shaped, path) {
            proptest::prop_assert!(error.to_string().contains("plans.toml"), "{}", error);
        }
    }
}
