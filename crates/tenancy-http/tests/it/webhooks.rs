//! Webhooks (API.md "Webhooks"): the secret shown once and stored sealed,
//! the URL's rules, which events queue deliveries (in the transaction of
//! their change), test events, retries by hand and rotation; over SQLite
//! and over the core's in-memory repository.

use poem::http::Method;
use serde_json::{Value, json};
use tenancy_core::service::Settings;

use crate::on_both_backends;
use crate::support::{Person, TestApp};

on_both_backends!(
    the_secret_is_shown_once_and_never_again,
    subscribed_events_queue_deliveries_in_their_transaction,
    a_disabled_webhook_gets_no_new_deliveries_but_tests_and_retries,
    events_and_urls_are_checked,
);

fn hooks(org: &str) -> String {
    format!("/v1/organizations/{org}/webhooks")
}

async fn create(app: &TestApp, owner: &Person, events: Value) -> Value {
    app.post(
        &hooks(&owner.org),
        Some(&owner.token),
        json!({"url": "http://127.0.0.1:9/hook", "events": events, "description": "CRM"}),
    )
    .await
    .expect(201)
    .json()
}

async fn deliveries(app: &TestApp, owner: &Person, webhook: &str) -> Vec<Value> {
    app.get(
        &format!("{}/{webhook}/deliveries?limit=200", hooks(&owner.org)),
        Some(&owner.token),
    )
    .await
    .expect(200)
    .json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The deliveries' types, sorted: the test clock stands still, so every
/// delivery has one instant, and the order among those of one instant (by
/// id) is no promise.
fn types(deliveries: &[Value]) -> Vec<&str> {
    let mut types: Vec<&str> = deliveries
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    types
}

async fn the_secret_is_shown_once_and_never_again(app: TestApp) {
    let owner = app.sign_up("olivia@example.test").await;
    let created = create(&app, &owner, json!(["*"])).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["enabled"], true);
    assert_eq!(created["events"], json!(["*"]));
    let got = app
        .get(&format!("{}/{id}", hooks(&owner.org)), Some(&owner.token))
        .await
        .expect(200);
    let listed = app
        .get(&hooks(&owner.org), Some(&owner.token))
        .await
        .expect(200);
    let rotated = app
        .post(
            &format!("{}/{id}/rotate-secret", hooks(&owner.org)),
            Some(&owner.token),
            json!({}),
        )
        .await
        .expect(200)
        .json();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let log = app
        .get(
            &format!("/v1/organizations/{}/audit-log/export", owner.org),
            Some(&owner.token),
        )
        .await
        .expect(200);
    let body_of = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    for shown in [&secret, &new_secret] {
        let bare = shown.trim_start_matches("whsec_");
        for text in [
            body_of(&got.bytes),
            body_of(&listed.bytes),
            body_of(&log.bytes),
        ] {
            assert!(!text.contains(bare), "a secret leaked: {text}");
        }
        // Sealed at rest: neither its text nor its bytes are in the database.
        let raw = app.raw_database();
        assert!(!raw.windows(bare.len()).any(|w| w == bare.as_bytes()));
        let bytes = tenancy_core::webhook::WebhookSecret::parse(shown).unwrap();
        assert!(!raw.windows(32).any(|w| w == bytes.bytes()));
    }
    let actions: Vec<String> = String::from_utf8(log.bytes)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "organization.created",
            "webhook.created",
            "webhook.secret_rotated"
        ]
    );
}

async fn subscribed_events_queue_deliveries_in_their_transaction(app: TestApp) {
    let owner = app.sign_up("olivia@example.test").await;
    let org = owner.org.clone();
    let members = create(&app, &owner, json!(["member.*", "member.added"])).await;
    assert_eq!(members["events"], json!(["member.*", "member.added"]));
    let everything = create(&app, &owner, json!(["*"])).await;
    let (members, everything) = (
        members["id"].as_str().unwrap().to_owned(),
        everything["id"].as_str().unwrap().to_owned(),
    );
    let bob = app
        .member_as(&owner, &org, "bob@example.test", "viewer")
        .await;
    app.call(
        Method::PUT,
        &format!("/v1/organizations/{org}/members/{}/role", bob.id),
        Some(&owner.token),
        Some(json!({"role": "editor"})),
    )
    .await
    .expect(200);
    // A refused change queues nothing.
    app.call(
        Method::PATCH,
        &format!("/v1/organizations/{org}"),
        Some(&bob.token),
        Some(json!({"name": "Not yours"})),
    )
    .await
    .expect(403);

    let to_members = deliveries(&app, &owner, &members).await;
    assert_eq!(types(&to_members), ["member.added", "member.role_changed"]);
    let to_all = deliveries(&app, &owner, &everything).await;
    assert_eq!(
        types(&to_all),
        [
            "invitation.accepted",
            "invitation.created",
            "member.added",
            "member.role_changed",
            "webhook.created"
        ]
    );
    let log = app
        .get(
            &format!("/v1/organizations/{org}/audit-log?limit=200"),
            Some(&owner.token),
        )
        .await
        .expect(200)
        .json();
    // Each delivery is of an event of the log, pending and untried.
    for delivery in to_all.iter().chain(&to_members) {
        assert_eq!(delivery["status"], "pending");
        assert_eq!(delivery["attempts"], 0);
        assert!(delivery["next_attempt_at"].is_string());
        let event = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == delivery["event_id"])
            .unwrap();
        assert_eq!(event["action"], delivery["type"]);
    }
}

async fn a_disabled_webhook_gets_no_new_deliveries_but_tests_and_retries(app: TestApp) {
    let owner = app.sign_up("olivia@example.test").await;
    let org = owner.org.clone();
    let webhook = create(&app, &owner, json!(["organization.*"])).await;
    let id = webhook["id"].as_str().unwrap().to_owned();
    let rename = async |name: &str| {
        app.call(
            Method::PATCH,
            &format!("/v1/organizations/{org}"),
            Some(&owner.token),
            Some(json!({"name": name})),
        )
        .await
        .expect(200);
    };
    rename("Before").await;
    let disabled = app
        .call(
            Method::PATCH,
            &format!("{}/{id}", hooks(&org)),
            Some(&owner.token),
            Some(json!({"enabled": false, "events": ["organization.renamed"]})),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(disabled["enabled"], false);
    rename("While disabled").await;
    assert_eq!(
        types(&deliveries(&app, &owner, &id).await),
        ["organization.renamed"]
    );

    let test = app
        .post(
            &format!("{}/{id}/test", hooks(&org)),
            Some(&owner.token),
            json!({}),
        )
        .await
        .expect(202)
        .json();
    assert_eq!(test["type"], "webhook.test");
    assert_eq!(test["status"], "pending");
    let listed = deliveries(&app, &owner, &id).await;
    assert_eq!(types(&listed), ["organization.renamed", "webhook.test"]);
    let renamed = listed
        .iter()
        .find(|d| d["type"] == "organization.renamed")
        .unwrap();
    let retried = app
        .post(
            &format!(
                "{}/{id}/deliveries/{}/retry",
                hooks(&org),
                renamed["id"].as_str().unwrap()
            ),
            Some(&owner.token),
            json!({}),
        )
        .await
        .expect(202)
        .json();
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["id"], renamed["id"]);
    // No test event is in the audit log; the edit is, with its changes.
    let log = app
        .get(
            &format!("/v1/organizations/{org}/audit-log?limit=200"),
            Some(&owner.token),
        )
        .await
        .expect(200)
        .json();
    let items = log["items"].as_array().unwrap();
    assert!(items.iter().all(|e| e["action"] != "webhook.test"));
    let updated = items
        .iter()
        .find(|e| e["action"] == "webhook.updated")
        .unwrap();
    assert_eq!(updated["target"]["type"], "webhook");
    assert_eq!(
        updated["changes"]["enabled"],
        json!({"from": true, "to": false})
    );
    assert_eq!(
        updated["changes"]["events"],
        json!({"from": ["organization.*"], "to": ["organization.renamed"]})
    );
    // Deleting it takes its deliveries with it.
    app.call(
        Method::DELETE,
        &format!("{}/{id}", hooks(&org)),
        Some(&owner.token),
        None,
    )
    .await
    .expect(204);
    app.get(
        &format!("{}/{id}/deliveries", hooks(&org)),
        Some(&owner.token),
    )
    .await
    .problem(404, "not_found");
}

async fn events_and_urls_are_checked(app: TestApp) {
    let owner = app.sign_up("olivia@example.test").await;
    for events in [
        json!([]),
        json!(["member"]),
        json!(["webhook.test"]),
        json!(["nope.*"]),
    ] {
        app.post(
            &hooks(&owner.org),
            Some(&owner.token),
            json!({"url": "http://127.0.0.1:9/hook", "events": events}),
        )
        .await
        .problem(422, "validation_failed");
    }
    // Without --allow-private-webhooks: https only, public addresses only.
    let strict = TestApp::with_config(
        Settings::default(),
        tenancy_http::ApiConfig {
            allow_private_webhooks: false,
            ..TestApp::config()
        },
    )
    .await;
    let owner = strict.sign_up("olivia@example.test").await;
    for url in [
        "http://203.0.113.7/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "https://user:pass@203.0.113.7/hook",
        "ftp://example.com/",
    ] {
        let reply = strict
            .post(
                &hooks(&owner.org),
                Some(&owner.token),
                json!({"url": url, "events": ["*"]}),
            )
            .await
            .problem(422, "validation_failed");
        assert_eq!(reply.json()["errors"][0]["field"], "url", "{url}");
    }
    // A public address literal is taken (nothing is sent until an event).
    strict
        .post(
            &hooks(&owner.org),
            Some(&owner.token),
            json!({"url": "https://93.184.216.34/hook", "events": ["*"]}),
        )
        .await
        .expect(201);
}
