//! Two `tenancy serve` processes on one PostgreSQL database, as a deployment
//! that outgrows one machine runs them: whatever one instance commits, the
//! other decides on at its very next request (D12), and races across the two
//! end as they would within one (D7, D10). 50 rounds of each; and an
//! organization's deletion and restore (R29), and its purge by both
//! instances' purge jobs at once (D17).
//!
//! Needs `TENANCY_TEST_POSTGRES_URL` (an admin URL; the test creates and
//! drops its own database) and `psql`. Without them the test skips with a
//! note, except under `CI=true`, where it fails.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Database, Server, request};

const ROUNDS: usize = 50;
const PUBLIC_URL: &str = "http://tenancy.test";

/// Two instances on one database, sharing the key and the mail folder, with
/// a plan of 3 agents so that a quota is quick to reach.
fn two_instances(dir: &Path, database: &Database) -> (Server, Server) {
    two_instances_with(dir, database, &[])
}

/// [`two_instances`] with more options.
fn two_instances_with(dir: &Path, database: &Database, more: &[&str]) -> (Server, Server) {
    std::fs::write(
        dir.join("plans.toml"),
        "[[plans]]\nid = \"free\"\nname = \"Free\"\n[plans.limits]\nagents = 3\n",
    )
    .unwrap();
    let args = [
        "--database",
        &database.url,
        "--public-url",
        PUBLIC_URL,
        "--plans",
        "plans.toml",
    ];
    let args = [&args[..], more].concat();
    // The first creates the key file and migrates; the second finds both done.
    let a = Server::start(dir, &args);
    let b = Server::start(dir, &args);
    (a, b)
}

fn call(server: &Server, method: &str, path: &str, token: &str, body: Option<&Value>) -> u16 {
    request(server.addr, method, path, Some(token), body).status
}

struct Team {
    owner: String,
    org: String,
}

/// An owner (through `a`) with a new organization.
fn team(a: &Server, round: usize, what: &str) -> Team {
    let owner = a.sign_up_verified(&format!("owner-{what}-{round}@example.com"));
    let org = a.post(
        "/v1/organizations",
        Some(&owner),
        &json!({"name": format!("{what} {round}")}),
    );
    assert_eq!(org.status, 201, "{org:?}");
    Team {
        owner,
        org: org.json()["id"].as_str().unwrap().to_owned(),
    }
}

fn invite(server: &Server, team: &Team, email: &str) {
    let invited = server.post(
        &format!("/v1/organizations/{}/invitations", team.org),
        Some(&team.owner),
        &json!({"email": email}),
    );
    assert_eq!(invited.status, 201, "{invited:?}");
}

fn members(server: &Server, team: &Team) -> Vec<Value> {
    let list = server.get(
        &format!("/v1/organizations/{}/members", team.org),
        Some(&team.owner),
    );
    assert_eq!(list.status, 200, "{list:?}");
    list.json()["items"].as_array().unwrap().clone()
}

#[test]
fn two_instances_share_one_postgresql() {
    let Some(database) = Database::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_instances(dir.path(), &database);

    // A removal through one instance holds on the very next request
    // through the other.
    let teams: Vec<Team> = (0..ROUNDS).map(|r| team(&a, r, "removal")).collect();
    for (round, team) in teams.iter().enumerate() {
        invite(&a, team, &format!("viewer-{round}@example.com"));
    }
    for (round, team) in teams.iter().enumerate() {
        let email = format!("viewer-{round}@example.com");
        let token = a.wait_for_link(&email, "invitations", &[]);
        let joined = b.post(
            "/v1/auth/signup",
            None,
            &json!({"email": email, "password": "correct horse battery", "invitation_token": token}),
        );
        assert_eq!(joined.status, 201, "{joined:?}");
        let joined = joined.json();
        assert_eq!(joined["invitation"]["status"], "accepted", "round {round}");
        let viewer = joined["token"].as_str().unwrap().to_owned();
        let viewer_id = joined["user"]["id"].as_str().unwrap().to_owned();
        let org_path = format!("/v1/organizations/{}", team.org);
        assert_eq!(
            call(&b, "GET", &org_path, &viewer, None),
            200,
            "round {round}"
        );
        assert_eq!(
            call(
                &a,
                "DELETE",
                &format!("{org_path}/members/{viewer_id}"),
                &team.owner,
                None
            ),
            204,
            "round {round}"
        );
        assert_eq!(
            call(&b, "GET", &org_path, &viewer, None),
            404,
            "round {round}"
        );
        assert_eq!(
            call(&b, "GET", &format!("{org_path}/agents"), &viewer, None),
            404,
            "round {round}"
        );
    }

    // One invitation accepted at the same moment through both instances:
    // one membership, and both answers succeed (accepting again is idempotent).
    let teams: Vec<Team> = (0..ROUNDS).map(|r| team(&a, r, "accept")).collect();
    let guests: Vec<String> = (0..ROUNDS)
        .map(|r| b.sign_up(&format!("guest-{r}@example.com")))
        .collect();
    for (round, team) in teams.iter().enumerate() {
        invite(&b, team, &format!("guest-{round}@example.com"));
    }
    for (round, (team, guest)) in teams.iter().zip(&guests).enumerate() {
        let token = a.wait_for_link(&format!("guest-{round}@example.com"), "invitations", &[]);
        let body = json!({"token": token});
        let accept =
            |server: &Server| call(server, "POST", "/v1/invitations/accept", guest, Some(&body));
        let statuses = std::thread::scope(|s| {
            let x = s.spawn(|| accept(&a));
            let y = s.spawn(|| accept(&b));
            [x.join().unwrap(), y.join().unwrap()]
        });
        assert_eq!(statuses, [200, 200], "round {round}");
        assert_eq!(members(&a, team).len(), 2, "round {round}");
    }

    // 50 concurrent creates split across both instances against a limit
    // of 3 agents: exactly 3 exist afterwards.
    for round in 0..ROUNDS {
        let team = team(&a, round, "quota");
        let path = format!("/v1/organizations/{}/agents", team.org);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..50)
                .map(|i| {
                    let server = if i % 2 == 0 { &a } else { &b };
                    let (path, owner) = (&path, &team.owner);
                    s.spawn(move || {
                        call(
                            server,
                            "POST",
                            path,
                            owner,
                            Some(&json!({"name": format!("Agent {i}")})),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let created = statuses.iter().filter(|s| **s == 201).count();
        let refused = statuses.iter().filter(|s| **s == 402).count();
        assert_eq!((created, refused), (3, 47), "round {round}: {statuses:?}");
        let listed = b.get(&path, Some(&team.owner));
        assert_eq!(
            listed.json()["items"].as_array().unwrap().len(),
            3,
            "round {round}"
        );
    }
    assert!(!a.log().contains("panicked") && !b.log().contains("panicked"));
}

/// Rounds of the deletion test: each signs two people up.
const LIFECYCLE_ROUNDS: usize = 10;

fn active_organization(server: &Server, token: &str) -> Value {
    let active = server.get("/v1/me/active-organization", Some(token));
    assert_eq!(active.status, 200, "{active:?}");
    active.json()["organization"].clone()
}

#[test]
fn a_deletion_and_a_restore_hold_on_the_next_request_through_the_other_instance() {
    let Some(database) = Database::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_instances(dir.path(), &database);
    for round in 0..LIFECYCLE_ROUNDS {
        let team = team(&a, round, "deletion");
        let email = format!("member-{round}@example.com");
        invite(&a, &team, &email);
        let token = a.wait_for_link(&email, "invitations", &[]);
        let joined = b.post(
            "/v1/auth/signup",
            None,
            &json!({"email": email, "password": "correct horse battery", "invitation_token": token}),
        );
        assert_eq!(joined.status, 201, "{joined:?}");
        let member = joined.json()["token"].as_str().unwrap().to_owned();
        let org_path = format!("/v1/organizations/{}", team.org);
        let switched = call(
            &b,
            "PUT",
            "/v1/me/active-organization",
            &member,
            Some(&json!({"organization_id": team.org})),
        );
        assert_eq!(switched, 200, "round {round}");
        assert_eq!(active_organization(&a, &member)["id"], team.org.as_str());

        // Deleted through A: gone for the member on B's very next request.
        let deleted = request(
            a.addr,
            "POST",
            &format!("{org_path}/deletion"),
            Some(&team.owner),
            Some(&json!({"confirm_name": format!("deletion {round}")})),
        );
        assert_eq!(deleted.status, 202, "round {round}: {deleted:?}");
        assert_eq!(
            call(&b, "GET", &org_path, &member, None),
            404,
            "round {round}"
        );
        assert_eq!(
            call(&b, "GET", &format!("{org_path}/agents"), &member, None),
            404,
            "round {round}"
        );
        let own = active_organization(&b, &member);
        assert_ne!(own["id"], team.org.as_str(), "round {round}");
        assert_eq!(own["is_owner"], true, "round {round}: {own}");
        let listed = b.get("/v1/organizations", Some(&member)).json();
        assert!(
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|org| org["id"] != team.org.as_str()),
            "round {round}: {listed}"
        );
        // The owner sees it pending through B, and can do nothing else with it.
        let pending = b.get(&org_path, Some(&team.owner));
        assert_eq!(pending.status, 200, "round {round}: {pending:?}");
        assert_eq!(
            pending.json()["status"],
            "pending_deletion",
            "round {round}"
        );
        assert_eq!(
            call(&b, "GET", &format!("{org_path}/agents"), &team.owner, None),
            409,
            "round {round}"
        );

        // Restored through B: back for the member on A's very next request,
        // whose active organization stays where it fell back to.
        let restored = call(
            &b,
            "DELETE",
            &format!("{org_path}/deletion"),
            &team.owner,
            None,
        );
        assert_eq!(restored, 200, "round {round}");
        let back = a.get(&org_path, Some(&member));
        assert_eq!(back.status, 200, "round {round}: {back:?}");
        assert_eq!(back.json()["status"], "active", "round {round}");
        assert_eq!(
            call(&a, "GET", &format!("{org_path}/agents"), &member, None),
            200,
            "round {round}"
        );
        assert_eq!(
            active_organization(&a, &member)["id"],
            own["id"],
            "round {round}"
        );
        assert_eq!(
            call(
                &a,
                "GET",
                &format!("{org_path}/deletion"),
                &team.owner,
                None
            ),
            404,
            "round {round}"
        );
    }
    assert!(!a.log().contains("panicked") && !b.log().contains("panicked"));
}

#[test]
fn the_purge_jobs_of_two_instances_purge_each_organization_once() {
    let Some(database) = Database::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_instances_with(dir.path(), &database, &["--deletion-grace", "0s"]);
    // One owner, who keeps the organization of their sign-up (D13).
    let owner = a.sign_up("owner-purge@example.com");
    let orgs: Vec<String> = (0..25)
        .map(|i| {
            let server = if i % 2 == 0 { &a } else { &b };
            let name = format!("Purged {i}");
            let org = server.post("/v1/organizations", Some(&owner), &json!({"name": name}));
            assert_eq!(org.status, 201, "{org:?}");
            let org = org.json()["id"].as_str().unwrap().to_owned();
            let path = format!("/v1/organizations/{org}");
            let file = crate::support::upload(
                server.addr,
                &format!("{path}/knowledge-files"),
                &owner,
                "notes.md",
                b"# notes",
            );
            assert_eq!(file.status, 201, "{file:?}");
            let agent = json!({"name": "Agent"});
            assert_eq!(
                call(
                    server,
                    "POST",
                    &format!("{path}/agents"),
                    &owner,
                    Some(&agent)
                ),
                201
            );
            let deleted = request(
                server.addr,
                "POST",
                &format!("{path}/deletion"),
                Some(&owner),
                Some(&json!({"confirm_name": name})),
            );
            assert_eq!(deleted.status, 202, "{deleted:?}");
            org
        })
        .collect();
    let all_gone = crate::support::wait_until(std::time::Duration::from_secs(30), || {
        orgs.iter()
            .all(|org| call(&b, "GET", &format!("/v1/organizations/{org}"), &owner, None) == 404)
    });
    assert!(
        all_gone,
        "not every organization was purged;\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    let listed = a.get("/v1/organizations", Some(&owner)).json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    let left: Vec<_> = crate::support::files_under(&dir.path().join("tenancy-data/blobs"))
        .into_iter()
        .filter(|path| {
            orgs.iter()
                .any(|org| path.to_string_lossy().contains(org.as_str()))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
    for server in [&a, &b] {
        let log = server.log();
        assert!(
            !log.contains("cannot purge") && !log.contains("panicked"),
            "{log}"
        );
    }
}
