//! Resources as API.md writes them: bodies, quotas, references across
//! organizations, uploads, schedules, pins, chats and investigations.

use poem::http::Method;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::{MAX_UPLOAD_BYTES, Person, TestApp};

struct Team {
    app: TestApp,
    owner: Person,
    viewer: Person,
    base: String,
}

async fn team() -> Team {
    let app = TestApp::new().await;
    let owner = app.sign_up("owner@example.com").await;
    let viewer = app.viewer(&owner, &owner.org, "viewer@example.com").await;
    let base = format!("/v1/organizations/{}", owner.org);
    Team {
        app,
        owner,
        viewer,
        base,
    }
}

impl Team {
    async fn create(&self, what: &str, body: Value) -> Value {
        self.app
            .post(
                &format!("{}/{what}", self.base),
                Some(&self.owner.token),
                body,
            )
            .await
            .expect(201)
            .json()
    }

    async fn connection(&self, secret: &str) -> Value {
        self.create(
            "connections",
            json!({"label": "Warehouse", "type": "postgres", "credentials": {"password": secret}}),
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_never_show_credentials_to_anyone() {
    let t = team().await;
    let created = t.connection("hunter2-secret").await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["label"], "Warehouse");
    assert_eq!(created["type"], "postgres");
    assert_eq!(created["has_credentials"], true);
    assert!(created.get("credentials").is_none());
    let first_rotation = created["credentials_updated_at"].clone();
    t.app.clock.advance(chrono::Duration::minutes(5));
    t.app
        .call(
            Method::PUT,
            &format!("{}/connections/{id}/credentials", t.base),
            Some(&t.owner.token),
            Some(json!({"credentials": {"password": "rotated-secret"}})),
        )
        .await
        .expect(204);
    for person in [&t.owner, &t.viewer] {
        let one = t
            .app
            .get(&format!("{}/connections/{id}", t.base), Some(&person.token))
            .await
            .expect(200);
        let text = String::from_utf8_lossy(&one.bytes).into_owned();
        assert!(!text.contains("secret"), "{text}");
        let body = one.json();
        assert_ne!(body["credentials_updated_at"], first_rotation);
        let list = t
            .app
            .get(&format!("{}/connections", t.base), Some(&person.token))
            .await
            .expect(200);
        assert!(!String::from_utf8_lossy(&list.bytes).contains("secret"));
    }
    // Empty or malformed credentials are refused, naming the field.
    let bad = t
        .app
        .post(
            &format!("{}/connections", t.base),
            Some(&t.owner.token),
            json!({"label": "X", "type": "pg", "credentials": {}}),
        )
        .await
        .problem(422, "validation_failed")
        .json();
    assert_eq!(bad["errors"][0]["field"], "credentials");
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_count_existing_resources_and_billing_reports_them() {
    let t = team().await;
    for i in 0..3 {
        t.create("agents", json!({"name": format!("Agent {i}")}))
            .await;
    }
    let refused = t
        .app
        .post(
            &format!("{}/agents", t.base),
            Some(&t.owner.token),
            json!({"name": "One too many"}),
        )
        .await
        .problem(402, "quota_exceeded");
    assert!(String::from_utf8_lossy(&refused.bytes).contains("agents"));
    let agents = t
        .app
        .get(&format!("{}/agents", t.base), Some(&t.viewer.token))
        .await
        .expect(200)
        .json();
    assert_eq!(agents["items"].as_array().unwrap().len(), 3);
    let billing = t
        .app
        .get(&format!("{}/billing", t.base), Some(&t.owner.token))
        .await
        .expect(200)
        .json();
    assert_eq!(billing["usage"]["agents"], 3);
    // Deleting one makes room again (D10 counts existing resources).
    let first = agents["items"][0]["id"].as_str().unwrap();
    t.app
        .call(
            Method::DELETE,
            &format!("{}/agents/{first}", t.base),
            Some(&t.owner.token),
            None,
        )
        .await
        .expect(204);
    t.app
        .get(&format!("{}/agents/{first}", t.base), Some(&t.owner.token))
        .await
        .problem(404, "not_found");
    t.create("agents", json!({"name": "Replacement"})).await;
    // Knowledge files count toward their own quotas, not the agents'.
    for i in 0..4 {
        t.app
            .upload(
                &format!("{}/knowledge-files", t.base),
                Some(&t.owner.token),
                &format!("f{i}.txt"),
                "text/plain",
                b"xy".to_vec(),
            )
            .await
            .expect(201);
    }
    let usage = t
        .app
        .get(&format!("{}/billing", t.base), Some(&t.owner.token))
        .await
        .expect(200)
        .json()["usage"]
        .clone();
    assert_eq!(
        usage,
        json!({
            "agents": 3,
            "connections": 0,
            "reports": 0,
            "chat_messages_this_month": 0,
            "knowledge_files": 4,
            "storage_bytes": 8
        })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_of_another_organization_are_missing() {
    let t = team().await;
    let theirs = t.app.sign_up("other@example.com").await;
    let their_base = format!("/v1/organizations/{}", theirs.org);
    let their_connection = t
        .app
        .post(
            &format!("{their_base}/connections"),
            Some(&theirs.token),
            json!({"label": "Theirs", "type": "s3", "credentials": {"key": "k"}}),
        )
        .await
        .expect(201)
        .json();
    let their_id = their_connection["id"].as_str().unwrap();
    // Under our organization's path their id names nothing.
    t.app
        .get(
            &format!("{}/connections/{their_id}", t.base),
            Some(&t.owner.token),
        )
        .await
        .problem(404, "not_found");
    t.app
        .call(
            Method::DELETE,
            &format!("{}/connections/{their_id}", t.base),
            Some(&t.owner.token),
            None,
        )
        .await
        .problem(404, "not_found");
    // An agent cannot use their connection, nor an unknown one: to this
    // organization both are missing things (404), and nothing is created.
    for missing in [their_id.to_owned(), uuid::Uuid::now_v7().to_string()] {
        let refused = t
            .app
            .post(
                &format!("{}/agents", t.base),
                Some(&t.owner.token),
                json!({"name": "Spy", "connection_ids": [missing]}),
            )
            .await
            .problem(404, "not_found")
            .json();
        assert_eq!(refused["detail"], "connection not found");
    }
    let agents = t
        .app
        .get(&format!("{}/agents", t.base), Some(&t.owner.token))
        .await
        .json();
    assert!(
        agents["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|agent| agent["name"] != "Spy"),
        "{agents}"
    );
    // A connection's id is not an agent's.
    let ours = t.connection("pw").await;
    t.app
        .get(
            &format!("{}/agents/{}", t.base, ours["id"].as_str().unwrap()),
            Some(&t.owner.token),
        )
        .await
        .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_connection_detaches_it_from_agents() {
    let t = team().await;
    let connection = t.connection("pw").await;
    let cid = connection["id"].as_str().unwrap();
    let agent = t
        .create(
            "agents",
            json!({"name": "Cost bot", "description": "Finds spikes", "connection_ids": [cid, cid]}),
        )
        .await;
    assert_eq!(agent["connection_ids"], json!([cid]));
    let aid = agent["id"].as_str().unwrap();
    t.app
        .call(
            Method::DELETE,
            &format!("{}/connections/{cid}", t.base),
            Some(&t.owner.token),
            None,
        )
        .await
        .expect(204);
    let agent = t
        .app
        .get(&format!("{}/agents/{aid}", t.base), Some(&t.viewer.token))
        .await
        .expect(200)
        .json();
    assert_eq!(agent["connection_ids"], json!([]));
    assert_eq!(agent["description"], "Finds spikes");
    // A patch changes only what it names.
    let patched = t
        .app
        .call(
            Method::PATCH,
            &format!("{}/agents/{aid}", t.base),
            Some(&t.owner.token),
            Some(json!({"name": "Spike finder"})),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(patched["name"], "Spike finder");
    assert_eq!(patched["description"], "Finds spikes");
}

#[tokio::test(flavor = "multi_thread")]
async fn knowledge_files_upload_download_and_refuse_oversized() {
    let t = team().await;
    let path = format!("{}/knowledge-files", t.base);
    let content = b"# Runbook\nRestart the thing.\n".to_vec();
    let file = t
        .app
        .upload(
            &path,
            Some(&t.owner.token),
            "runbook.md",
            "text/markdown",
            content.clone(),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(file["name"], "runbook.md");
    assert_eq!(file["content_type"], "text/markdown");
    assert_eq!(file["size_bytes"], content.len());
    let digest: String = Sha256::digest(&content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(file["sha256"], digest);
    let id = file["id"].as_str().unwrap();
    let download = t
        .app
        .get(&format!("{path}/{id}/content"), Some(&t.viewer.token))
        .await
        .expect(200);
    assert_eq!(download.bytes, content);
    assert_eq!(download.content_type(), "text/markdown");
    let header = |name: &str| {
        download
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"runbook.md\""
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert!(header("content-security-policy").contains("sandbox"));
    // Viewers read but do not upload or delete.
    t.app
        .upload(
            &path,
            Some(&t.viewer.token),
            "mine.md",
            "text/markdown",
            b"x".to_vec(),
        )
        .await
        .problem(403, "forbidden");
    t.app
        .call(
            Method::DELETE,
            &format!("{path}/{id}"),
            Some(&t.viewer.token),
            None,
        )
        .await
        .problem(403, "forbidden");
    t.app
        .call(
            Method::DELETE,
            &format!("{path}/{id}"),
            Some(&t.owner.token),
            None,
        )
        .await
        .expect(204);
    t.app
        .get(&format!("{path}/{id}/content"), Some(&t.owner.token))
        .await
        .problem(404, "not_found");
}

/// A definition is opaque: any JSON value, `null` included, at any depth.
#[tokio::test(flavor = "multi_thread")]
async fn a_definition_keeps_its_nulls() {
    let t = team().await;
    let definition = json!({"filter": null, "columns": [null, 1], "by": {"day": null}});
    let report = t
        .create(
            "reports",
            json!({"name": "Nulls", "definition": definition}),
        )
        .await;
    assert_eq!(report["definition"], definition);
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_validate_cron_and_time_zone() {
    let t = team().await;
    let report = t
        .create(
            "reports",
            json!({"name": "Weekly", "definition": {"sql": "select 1"}}),
        )
        .await;
    let rid = report["id"].as_str().unwrap();
    assert_eq!(report["definition"], json!({"sql": "select 1"}));
    assert_eq!(report["schedule"], Value::Null);
    let path = format!("{}/reports/{rid}/schedule", t.base);
    for (body, field) in [
        (json!({"cron": "not cron"}), "cron"),
        (json!({"cron": "61 * * * *"}), "cron"),
        (
            json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
    ] {
        let problem = t
            .app
            .call(Method::PUT, &path, Some(&t.owner.token), Some(body))
            .await
            .problem(422, "validation_failed")
            .json();
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let schedule = t
        .app
        .call(
            Method::PUT,
            &path,
            Some(&t.owner.token),
            Some(json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"})),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(schedule["cron"], "0 9 * * 1-5");
    assert_eq!(schedule["timezone"], "Europe/Paris");
    // 2026-03-10 12:00 UTC is a Tuesday; 9:00 in Paris is 8:00 UTC.
    assert_eq!(schedule["next_run_at"], "2026-03-11T08:00:00+00:00");
    let report = t
        .app
        .get(&format!("{}/reports/{rid}", t.base), Some(&t.viewer.token))
        .await
        .expect(200)
        .json();
    assert_eq!(report["schedule"]["cron"], "0 9 * * 1-5");
    t.app
        .call(Method::DELETE, &path, Some(&t.owner.token), None)
        .await
        .expect(204);
    let report = t
        .app
        .get(&format!("{}/reports/{rid}", t.base), Some(&t.owner.token))
        .await
        .expect(200)
        .json();
    assert_eq!(report["schedule"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_chats_and_investigations_belong_to_their_members() {
    let t = team().await;
    let agent = t.create("agents", json!({"name": "Cost bot"})).await;
    let aid = agent["id"].as_str().unwrap();
    let report = t
        .create("reports", json!({"name": "Weekly", "definition": {}}))
        .await;
    let rid = report["id"].as_str().unwrap();
    let run = t
        .app
        .post(
            &format!("{}/reports/{rid}/runs", t.base),
            Some(&t.owner.token),
            json!({}),
        )
        .await
        .expect(202)
        .json();
    assert_eq!(run["status"], "queued");
    assert_eq!(run["report_id"], rid);
    // The viewer chats about the run's results and with the agent.
    let run_chat = t
        .app
        .post(
            &format!("{}/chats", t.base),
            Some(&t.viewer.token),
            json!({"report_run_id": run["id"]}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(run_chat["report_run_id"], run["id"]);
    assert_eq!(run_chat["agent_id"], Value::Null);
    let chat = t
        .app
        .post(
            &format!("{}/chats", t.base),
            Some(&t.viewer.token),
            json!({"agent_id": aid}),
        )
        .await
        .expect(201)
        .json();
    let messages = format!("{}/chats/{}/messages", t.base, chat["id"].as_str().unwrap());
    let sent = t
        .app
        .post(&messages, Some(&t.viewer.token), json!({"content": "Why?"}))
        .await
        .expect(201)
        .json();
    assert_eq!(sent["content"], "Why?");
    // Both or neither subject: 422.
    t.app
        .post(
            &format!("{}/chats", t.base),
            Some(&t.viewer.token),
            json!({"agent_id": aid, "report_run_id": run["id"]}),
        )
        .await
        .problem(422, "validation_failed");
    // The owner sees neither the viewer's chats nor their messages.
    let owners = t
        .app
        .get(&format!("{}/chats", t.base), Some(&t.owner.token))
        .await
        .expect(200)
        .json();
    assert_eq!(owners["items"], json!([]));
    t.app
        .get(&messages, Some(&t.owner.token))
        .await
        .problem(404, "not_found");
    t.app
        .post(&messages, Some(&t.owner.token), json!({"content": "Hi"}))
        .await
        .problem(404, "not_found");
    let investigation = t
        .app
        .post(
            &format!("{}/investigations", t.base),
            Some(&t.viewer.token),
            json!({"agent_id": aid, "question": "What changed last week?"}),
        )
        .await
        .expect(202)
        .json();
    assert_eq!(investigation["status"], "queued");
    let mine = t
        .app
        .get(&format!("{}/investigations", t.base), Some(&t.viewer.token))
        .await
        .expect(200)
        .json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let owners = t
        .app
        .get(&format!("{}/investigations", t.base), Some(&t.owner.token))
        .await
        .expect(200)
        .json();
    assert_eq!(owners["items"], json!([]));
    // Removed, the viewer's chat stops at the next message (R19).
    t.app
        .call(
            Method::DELETE,
            &format!("{}/members/{}", t.base, t.viewer.id),
            Some(&t.owner.token),
            None,
        )
        .await
        .expect(204);
    t.app
        .post(
            &messages,
            Some(&t.viewer.token),
            json!({"content": "Still here?"}),
        )
        .await
        .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn pins_are_per_member_and_idempotent() {
    let t = team().await;
    let agent = t.create("agents", json!({"name": "Cost bot"})).await;
    let pin = json!({"item_type": "agent", "item_id": agent["id"]});
    let path = format!("{}/pins", t.base);
    let first = t
        .app
        .post(&path, Some(&t.viewer.token), pin.clone())
        .await
        .expect(201)
        .json();
    let again = t
        .app
        .post(&path, Some(&t.viewer.token), pin.clone())
        .await
        .expect(201)
        .json();
    assert_eq!(first["id"], again["id"]);
    // The wrong type for the id is missing; an unknown type is invalid.
    t.app
        .post(
            &path,
            Some(&t.viewer.token),
            json!({"item_type": "report", "item_id": agent["id"]}),
        )
        .await
        .problem(404, "not_found");
    t.app
        .post(
            &path,
            Some(&t.viewer.token),
            json!({"item_type": "knowledge_file", "item_id": agent["id"]}),
        )
        .await
        .problem(422, "validation_failed");
    let owners = t
        .app
        .get(&path, Some(&t.owner.token))
        .await
        .expect(200)
        .json();
    assert_eq!(owners["items"], json!([]));
    let pin_path = format!("{path}/{}", first["id"].as_str().unwrap());
    t.app
        .call(Method::DELETE, &pin_path, Some(&t.owner.token), None)
        .await
        .problem(404, "not_found");
    // Deleting the item unpins it everywhere.
    t.app
        .call(
            Method::DELETE,
            &format!("{}/agents/{}", t.base, agent["id"].as_str().unwrap()),
            Some(&t.owner.token),
            None,
        )
        .await
        .expect(204);
    let viewers = t
        .app
        .get(&path, Some(&t.viewer.token))
        .await
        .expect(200)
        .json();
    assert_eq!(viewers["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_uploads_get_413_and_store_nothing() {
    let t = team().await;
    let path = format!("{}/knowledge-files", t.base);
    let too_big = vec![b'a'; usize::try_from(MAX_UPLOAD_BYTES).unwrap() + 1];
    t.app
        .upload(
            &path,
            Some(&t.owner.token),
            "big.bin",
            "application/octet-stream",
            too_big,
        )
        .await
        .problem(413, "payload_too_large");
    // Nothing of it stays, not even staged.
    let leftovers: Vec<_> = std::fs::read_dir(t.app.blob_dir().join(".staging"))
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!t.app.blob_dir().join(&t.owner.org).exists());
    let just_right = vec![b'a'; usize::try_from(MAX_UPLOAD_BYTES).unwrap()];
    t.app
        .upload(
            &path,
            Some(&t.owner.token),
            "ok.bin",
            "application/octet-stream",
            just_right,
        )
        .await
        .expect(201);
    let list = t
        .app
        .get(&path, Some(&t.owner.token))
        .await
        .expect(200)
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Not multipart: 400; no `file` part: 422.
    t.app
        .post(&path, Some(&t.owner.token), json!({"file": "x"}))
        .await
        .problem(400, "bad_request");
}

#[tokio::test(flavor = "multi_thread")]
async fn nested_values_of_the_wrong_type_are_refused() {
    let t = team().await;
    for (what, body, field) in [
        (
            "connections",
            json!({"label": "X", "type": "pg", "credentials": {"password": 42}}),
            "credentials",
        ),
        (
            "agents",
            json!({"name": "X", "connection_ids": [7]}),
            "connection_ids",
        ),
        (
            "agents",
            json!({"name": "X", "connection_ids": [null]}),
            "connection_ids",
        ),
    ] {
        let problem = t
            .app
            .post(&format!("{}/{what}", t.base), Some(&t.owner.token), body)
            .await
            .problem(422, "validation_failed")
            .json();
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
}
