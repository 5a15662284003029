//! The audit log (API.md "Audit log"): what each change records, the list's
//! filters and pages, the export's chain, and who may read them; over SQLite
//! and over the core's in-memory repository.

use poem::http::Method;
use serde_json::{Value, json};
use tenancy_core::audit;

use crate::on_both_backends;
use crate::support::{Person, Reply, SERVICE_TOKEN, TestApp};

on_both_backends!(
    every_change_records_its_event_with_actor_target_and_changes,
    the_list_filters_and_pages_without_repeats,
    the_export_streams_a_chain_that_verifies,
    only_those_with_view_audit_log_read_it,
);

fn log_path(org: &str) -> String {
    format!("/v1/organizations/{org}/audit-log")
}

async fn events(app: &TestApp, person: &Person, org: &str, query: &str) -> Vec<Value> {
    let reply = app
        .get(
            &format!("{}?limit=200{query}", log_path(org)),
            Some(&person.token),
        )
        .await
        .expect(200);
    reply.json()["items"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

async fn with_request_id(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    id: &str,
) -> Reply {
    let request = app
        .client
        .request(method, path)
        .header("authorization", format!("Bearer {token}"))
        .header("x-request-id", id)
        .body_json(&body);
    Reply::read(request.send().await).await
}

async fn every_change_records_its_event_with_actor_target_and_changes(app: TestApp) {
    let olivia = app.sign_up("olivia@example.test").await;
    let org = olivia.org.clone();
    with_request_id(
        &app,
        Method::PATCH,
        &format!("/v1/organizations/{org}"),
        &olivia.token,
        json!({"name": "Acme"}),
        "req-rename-1",
    )
    .await
    .expect(200);
    let bob = app
        .member_as(&olivia, &org, "bob@example.test", "viewer")
        .await;
    app.call(
        Method::PUT,
        &format!("/v1/organizations/{org}/members/{}/role", bob.id),
        Some(&olivia.token),
        Some(json!({"role": "editor"})),
    )
    .await
    .expect(200);
    // A refused change records nothing.
    app.call(
        Method::PATCH,
        &format!("/v1/organizations/{org}"),
        Some(&bob.token),
        Some(json!({"name": "Taken over"})),
    )
    .await
    .expect(403);
    app.call(
        Method::PUT,
        &format!("/v1/organizations/{org}/billing/plan"),
        Some(SERVICE_TOKEN),
        Some(json!({"plan": "enterprise"})),
    )
    .await
    .expect(200);
    app.call(
        Method::DELETE,
        &format!("/v1/organizations/{org}/members/{}", bob.id),
        Some(&olivia.token),
        None,
    )
    .await
    .expect(204);

    let log = events(&app, &olivia, &org, "").await;
    let expected = vec![
        "member.removed",
        "organization.plan_changed",
        "member.role_changed",
        "member.added",
        "invitation.accepted",
        "invitation.created",
        "organization.renamed",
        "organization.created",
    ];
    assert_eq!(actions(&log), expected, "{log:#?}");
    let seqs: Vec<u64> = log.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let n = seqs.len() as u64;
    assert_eq!(seqs, (1..=n).rev().collect::<Vec<_>>());

    let created = log.last().unwrap();
    assert_eq!(
        created["actor"],
        json!({"type": "user", "id": olivia.id, "email": olivia.email})
    );
    assert_eq!(created["target"]["type"], "organization");
    assert_eq!(created["target"]["id"], org.as_str());
    assert_eq!(created["changes"], Value::Null);
    assert_eq!(created["prev_hash"], audit::GENESIS);

    let renamed = &log[log.len() - 2];
    assert_eq!(renamed["request_id"], "req-rename-1");
    assert_eq!(renamed["target"]["label"], "Acme");
    assert_eq!(renamed["changes"]["name"]["to"], "Acme");
    assert!(
        renamed["changes"]["name"]["from"]
            .as_str()
            .unwrap()
            .contains("olivia")
    );
    // Every answer carries a request id, and an event has the one of its request.
    assert!(
        log[0]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    let added = log.iter().find(|e| e["action"] == "member.added").unwrap();
    assert_eq!(added["actor"]["id"], bob.id.as_str());
    assert_eq!(
        added["target"],
        json!({"type": "user", "id": bob.id, "label": bob.email})
    );
    let changed = log
        .iter()
        .find(|e| e["action"] == "member.role_changed")
        .unwrap();
    assert_eq!(
        changed["changes"],
        json!({"role": {"from": "viewer", "to": "editor"}})
    );
    assert_eq!(changed["actor"]["email"], olivia.email.as_str());
    let removed = &log[0];
    assert_eq!(removed["target"]["label"], bob.email.as_str());
    let plan = &log[1];
    assert_eq!(
        plan["actor"],
        json!({"type": "service", "id": null, "email": null})
    );
    assert_eq!(
        plan["changes"],
        json!({"plan": {"from": "free", "to": "enterprise"}})
    );
    // Each event names the previous one's hash.
    for pair in log.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"]);
    }
}

async fn the_list_filters_and_pages_without_repeats(app: TestApp) {
    let olivia = app.sign_up("olivia@example.test").await;
    let org = olivia.org.clone();
    for i in 0..6 {
        app.call(
            Method::PATCH,
            &format!("/v1/organizations/{org}"),
            Some(&olivia.token),
            Some(json!({"name": format!("Acme {i}")})),
        )
        .await
        .expect(200);
        app.clock.advance(chrono::Duration::minutes(1));
    }
    let bob = app
        .member_as(&olivia, &org, "bob@example.test", "admin")
        .await;
    app.call(
        Method::PATCH,
        &format!("/v1/organizations/{org}"),
        Some(&bob.token),
        Some(json!({"name": "Bob's"})),
    )
    .await
    .expect(200);

    let renamed = events(&app, &olivia, &org, "&action=organization.renamed").await;
    assert_eq!(renamed.len(), 7);
    let by_bob = events(&app, &olivia, &org, &format!("&actor_id={}", bob.id)).await;
    assert_eq!(
        actions(&by_bob),
        [
            "organization.renamed",
            "member.added",
            "invitation.accepted"
        ]
    );
    let all = events(&app, &olivia, &org, "").await;
    let middle = all[all.len() / 2]["occurred_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = events(&app, &olivia, &org, &format!("&since={middle}")).await;
    let until = events(&app, &olivia, &org, &format!("&until={middle}")).await;
    // Both bounds are inclusive (the instants share one form, so their
    // text orders as they do).
    let at = |e: &Value| e["occurred_at"].as_str().unwrap().to_owned();
    let expected_since: Vec<&Value> = all.iter().filter(|e| at(e) >= middle).collect();
    let expected_until: Vec<&Value> = all.iter().filter(|e| at(e) <= middle).collect();
    assert_eq!(since.iter().collect::<Vec<_>>(), expected_since);
    assert_eq!(until.iter().collect::<Vec<_>>(), expected_until);
    assert!(!since.is_empty() && since.len() < all.len() && until.len() < all.len());

    // Pages of 2, with a change between two pages: nothing is repeated or skipped.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("&cursor={c}"));
        let page = app
            .get(
                &format!("{}?limit=2{query}", log_path(&org)),
                Some(&olivia.token),
            )
            .await
            .expect(200)
            .json();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        if seen.len() == 2 {
            app.call(
                Method::PATCH,
                &format!("/v1/organizations/{org}"),
                Some(&olivia.token),
                Some(json!({"name": "Between pages"})),
            )
            .await
            .expect(200);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let n = all.len() as u64;
    assert_eq!(seen, (1..=n).rev().collect::<Vec<_>>());

    for bad in [
        "action=member.promoted",
        "action=webhook.test",
        "actor_id=not-a-uuid",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "cursor=nope",
    ] {
        app.get(&format!("{}?{bad}", log_path(&org)), Some(&olivia.token))
            .await
            .problem(422, "validation_failed");
    }
}

async fn the_export_streams_a_chain_that_verifies(app: TestApp) {
    let olivia = app.sign_up("olivia@example.test").await;
    let org = olivia.org.clone();
    // More events than one page of the export.
    for i in 0..510 {
        app.call(
            Method::PATCH,
            &format!("/v1/organizations/{org}"),
            Some(&olivia.token),
            Some(json!({"name": format!("Acme {i}")})),
        )
        .await
        .expect(200);
    }
    let reply = app
        .get(&format!("{}/export", log_path(&org)), Some(&olivia.token))
        .await
        .expect(200);
    assert_eq!(reply.content_type(), "application/x-ndjson");
    let text = String::from_utf8(reply.bytes.clone()).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 511);
    let verified = audit::verify(lines.clone()).unwrap();
    assert_eq!(verified.events, 511);
    // The export and the list serve the same objects.
    let newest = events(&app, &olivia, &org, "&limit=1").await;
    assert_eq!(&newest[0], lines.last().unwrap());
    assert_eq!(verified.head, newest[0]["hash"].as_str().unwrap());

    // One byte changed in one line is found.
    let mut altered = lines;
    altered[100]["target"]["label"] = json!("Acme 99!");
    assert!(matches!(
        audit::verify(altered),
        Err(audit::ChainError::Altered { index: 100, .. })
    ));
}

async fn only_those_with_view_audit_log_read_it(app: TestApp) {
    let olivia = app.sign_up("olivia@example.test").await;
    let org = olivia.org.clone();
    let admin = app
        .member_as(&olivia, &org, "ada@example.test", "admin")
        .await;
    let editor = app
        .member_as(&olivia, &org, "eddie@example.test", "editor")
        .await;
    let outsider = app.sign_up("mallory@example.test").await;
    for path in [log_path(&org), format!("{}/export", log_path(&org))] {
        app.get(&path, Some(&admin.token)).await.expect(200);
        app.get(&path, Some(&editor.token))
            .await
            .problem(403, "forbidden");
        app.get(&path, Some(&outsider.token))
            .await
            .problem(404, "not_found");
        app.get(&path, None).await.problem(401, "unauthenticated");
        // Access is judged before the filters.
        app.get(&format!("{path}?action=nope"), Some(&outsider.token))
            .await
            .problem(404, "not_found");
    }
    // Reading the log writes nothing to it.
    let before = events(&app, &olivia, &org, "").await.len();
    app.get(&log_path(&org), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(events(&app, &olivia, &org, "").await.len(), before);
}
