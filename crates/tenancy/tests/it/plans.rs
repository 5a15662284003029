//! The plans file: its format, its errors, and the server serving it.

use std::path::Path;

use tenancy::plans::parse;
use tenancy_core::plan::PlanId;

use crate::support::Server;

const VALID: &str = r#"
# Limits that are left out are unlimited.
[[plans]]
id = "free"
name = "Free"
[plans.limits]
agents = 1
connections = 2
reports = 3
chat_messages_per_month = 10

[[plans]]
id = "team"
name = "Team"
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
            free.chat_messages_per_month
        ),
        (Some(1), Some(2), Some(3), Some(10))
    );
    let team = catalog.limits_of(&PlanId::new("team"));
    assert_eq!((team.agents, team.connections), (Some(20), None));
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
    assert!(items[2]["limits"]["agents"].is_null());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

    /// Whatever the file holds, parsing it answers (a catalog or an error
    /// naming the problem) and never panics: arbitrary text, and text shaped
    /// like a plans file with random keys and values.
    #[test]
    fn any_plans_file_is_answered_without_a_panic(
        text in proptest::prelude::any::<String>(),
        shaped in "(\\[\\[plans\\]\\]\n|\\[plans\\.limits\\]\n|(id|name|agents|connections|reports|chat_messages_per_month|x) = (\"[a-z]{0,6}\"|-?[0-9]{1,20}|true|\\[\\])\n){0,12}",
    ) {
        let path = std::path::Path::new("plans.toml");
        let _ = parse(&text, path);
        if let Err(error) = parse(&shaped, path) {
            proptest::prop_assert!(error.to_string().contains("plans.toml"), "{}", error);
        }
    }
}
