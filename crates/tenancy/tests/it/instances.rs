//! Two `tenancy serve` processes on one PostgreSQL database, as a deployment
//! that outgrows one machine runs them: whatever one instance commits, the
//! other decides on at its very next request (D12), and races across the two
//! end as they would within one (D7, D10). 50 rounds of each.
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
