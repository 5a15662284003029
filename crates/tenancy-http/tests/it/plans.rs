//! Plans as API.md writes them: which plans members may pick and which only
//! the service token sets, the validation order of a plan change, and the
//! knowledge files quotas: 402 beyond either limit, with nothing stored.

use std::path::{Path, PathBuf};

use poem::http::Method;
use poem::test::{TestForm, TestFormField};
use serde_json::{Value, json};
use tenancy_core::plan::{Limits, Plan, PlanCatalog, PlanId};
use tenancy_core::service::Settings;

use crate::support::{Person, Reply, SERVICE_TOKEN, TestApp};

const MIB: u64 = 1024 * 1024;

/// `free` allows 2 knowledge files and 100 bytes; `roomy` is self-serve and
/// allows far more; `enterprise` is not self-serve.
fn small_plans() -> Settings {
    let plan = |id: &str, self_serve, files, bytes| Plan {
        id: PlanId::new(id),
        name: id.to_owned(),
        self_serve,
        limits: Limits {
            knowledge_files: files,
            storage_bytes: bytes,
            ..Limits::UNLIMITED
        },
    };
    Settings {
        catalog: PlanCatalog::new(vec![
            plan("free", true, Some(2), Some(100)),
            plan("roomy", true, Some(50), Some(MIB)),
            plan("enterprise", false, None, None),
        ])
        .unwrap(),
        ..Settings::default()
    }
}

/// The document a server serves names the plans of its own catalog as the
/// ones a plan change may name; any other id is 422.
#[tokio::test(flavor = "multi_thread")]
async fn the_served_document_lists_this_servers_plans() {
    let app = TestApp::with_settings(small_plans()).await;
    let document = app.get("/openapi.json", None).await.expect(200).json();
    assert_eq!(
        document["components"]["schemas"]["PlanRequest"]["properties"]["plan"]["enum"],
        json!(["free", "roomy", "enterprise"])
    );
    let owner = app.sign_up("owner@example.com").await;
    put_plan(
        &app,
        &owner.org,
        Some(SERVICE_TOKEN),
        json!({"plan": "pro"}),
    )
    .await
    .problem(422, "validation_failed");
    put_plan(
        &app,
        &owner.org,
        Some(SERVICE_TOKEN),
        json!({"plan": "roomy"}),
    )
    .await
    .expect(200);
}

async fn put_plan(app: &TestApp, org: &str, token: Option<&str>, body: Value) -> Reply {
    app.call(
        Method::PUT,
        &format!("/v1/organizations/{org}/billing/plan"),
        token,
        Some(body),
    )
    .await
}

async fn billing(app: &TestApp, owner: &Person) -> Value {
    app.get(
        &format!("/v1/organizations/{}/billing", owner.org),
        Some(&owner.token),
    )
    .await
    .expect(200)
    .json()
}

async fn upload(app: &TestApp, owner: &Person, file_name: &str, bytes: &[u8]) -> Reply {
    app.upload(
        &format!("/v1/organizations/{}/knowledge-files", owner.org),
        Some(&owner.token),
        file_name,
        "text/plain",
        bytes.to_vec(),
    )
    .await
}

/// Every file under a folder, staged or published.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The files that the organization's knowledge files name, and no other.
async fn assert_only_listed_files_on_disk(app: &TestApp, owner: &Person) {
    let listed = app
        .get(
            &format!("/v1/organizations/{}/knowledge-files", owner.org),
            Some(&owner.token),
        )
        .await
        .expect(200)
        .json();
    let mut expected: Vec<PathBuf> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            app.blob_dir()
                .join(&owner.org)
                .join(f["id"].as_str().unwrap())
        })
        .collect();
    expected.sort();
    assert_eq!(files_under(&app.blob_dir()), expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plans_say_which_are_self_serve_and_their_file_limits() {
    let app = TestApp::new().await;
    let plans = app.get("/v1/plans", None).await.expect(200).json();
    let items = plans["items"].as_array().unwrap();
    let summary: Vec<(&str, bool, Value, Value)> = items
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap(),
                p["self_serve"].as_bool().unwrap(),
                p["limits"]["knowledge_files"].clone(),
                p["limits"]["storage_bytes"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("free", true, json!(20), json!(100 * MIB)),
            ("pro", true, json!(1000), json!(10 * 1024 * MIB)),
            ("enterprise", false, Value::Null, Value::Null),
        ]
    );
    let enterprise = &items[2]["limits"];
    assert!(
        enterprise.as_object().unwrap().values().all(Value::is_null),
        "{enterprise}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn members_pick_self_serve_plans_and_only_the_service_token_sets_the_others() {
    let app = TestApp::new().await;
    let owner = app.sign_up("owner@example.com").await;
    let viewer = app.viewer(&owner, &owner.org, "viewer@example.com").await;
    let outsider = app.sign_up("outsider@example.com").await;
    let enterprise = json!({"plan": "enterprise"});

    // Even the owner cannot pick a plan that is not self-serve, and nothing changes.
    let refused = put_plan(&app, &owner.org, Some(&owner.token), enterprise.clone())
        .await
        .problem(403, "plan_not_selectable");
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("`enterprise`")
    );
    assert_eq!(billing(&app, &owner).await["plan"], "free");
    // A viewer lacks the capability, an outsider learns nothing.
    put_plan(&app, &owner.org, Some(&viewer.token), enterprise.clone())
        .await
        .problem(403, "forbidden");
    put_plan(&app, &owner.org, Some(&outsider.token), enterprise.clone())
        .await
        .problem(404, "not_found");

    // The host's billing system sets it, with no member behind the token.
    let set = put_plan(&app, &owner.org, Some(SERVICE_TOKEN), enterprise.clone())
        .await
        .expect(200)
        .json();
    assert_eq!(set["plan"], "enterprise");
    assert!(
        set["limits"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_null)
    );
    assert_eq!(billing(&app, &owner).await["plan"], "enterprise");
    // The owner may still move back to a self-serve plan.
    let back = put_plan(&app, &owner.org, Some(&owner.token), json!({"plan": "pro"}))
        .await
        .expect(200)
        .json();
    assert_eq!(back["plan"], "pro");
    assert_eq!(back["limits"]["knowledge_files"], 1000);
    // And the service token sets self-serve plans too.
    put_plan(
        &app,
        &owner.org,
        Some(SERVICE_TOKEN),
        json!({"plan": "free"}),
    )
    .await
    .expect(200);
    assert_eq!(billing(&app, &owner).await["plan"], "free");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_change_is_judged_in_the_documented_order() {
    let app = TestApp::new().await;
    let owner = app.sign_up("owner@example.com").await;
    let viewer = app.viewer(&owner, &owner.org, "viewer@example.com").await;
    let outsider = app.sign_up("outsider@example.com").await;
    let nowhere = uuid::Uuid::now_v7().to_string();
    let malformed = |token: Option<&str>, org: &str| {
        let request = app
            .client
            .put(format!("/v1/organizations/{org}/billing/plan"))
            .content_type("application/json")
            .body("{not json");
        let request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        async move { Reply::read(request.send().await).await }
    };

    // Unknown plans are invalid, naming the field, whoever asks.
    for token in [owner.token.as_str(), SERVICE_TOKEN] {
        let invalid = put_plan(&app, &owner.org, Some(token), json!({"plan": "gold"}))
            .await
            .problem(422, "validation_failed");
        assert_eq!(invalid.json()["errors"][0]["field"], "plan");
    }
    // Authentication first: no token or a wrong one is 401 whatever the body.
    malformed(None, &owner.org)
        .await
        .problem(401, "unauthenticated");
    malformed(Some(&"x".repeat(43)), &owner.org)
        .await
        .problem(401, "unauthenticated");
    // Then access: 404 for an organization that is not there (for the
    // service token too) or not the caller's, 403 without the capability.
    let missing = malformed(Some(SERVICE_TOKEN), &nowhere)
        .await
        .problem(404, "not_found");
    let not_theirs = malformed(Some(&outsider.token), &owner.org)
        .await
        .problem(404, "not_found");
    assert_eq!(missing.bytes, not_theirs.bytes);
    put_plan(&app, &nowhere, Some(SERVICE_TOKEN), json!({"plan": "pro"}))
        .await
        .problem(404, "not_found");
    malformed(Some(&viewer.token), &owner.org)
        .await
        .problem(403, "forbidden");
    // Then the body.
    malformed(Some(&owner.token), &owner.org)
        .await
        .problem(400, "bad_request");
    malformed(Some(SERVICE_TOKEN), &owner.org)
        .await
        .problem(400, "bad_request");
    put_plan(&app, &owner.org, Some(&owner.token), json!({}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(billing(&app, &owner).await["plan"], "free");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_route_documents_both_ways_in() {
    let app = TestApp::new().await;
    let document = app.get("/openapi.json", None).await.expect(200).json();
    let security = &document["paths"]["/v1/organizations/{org_id}/billing/plan"]["put"]["security"];
    assert_eq!(
        security,
        &json!([{"session": []}, {"service_token": []}]),
        "{security}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_beyond_the_number_of_files_get_402_and_store_nothing() {
    let app = TestApp::with_settings(small_plans()).await;
    let owner = app.sign_up("owner@example.com").await;
    upload(&app, &owner, "one.txt", b"1").await.expect(201);
    upload(&app, &owner, "two.txt", b"22").await.expect(201);
    let refused = upload(&app, &owner, "three.txt", b"333")
        .await
        .problem(402, "quota_exceeded");
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("knowledge_files")
    );
    let usage = billing(&app, &owner).await["usage"].clone();
    assert_eq!(
        (&usage["knowledge_files"], &usage["storage_bytes"]),
        (&json!(2), &json!(3))
    );
    assert_only_listed_files_on_disk(&app, &owner).await;
    assert_eq!(files_under(&app.blob_dir()).len(), 2);

    // A deletion makes room again, and the usage follows.
    let listed = app
        .get(
            &format!("/v1/organizations/{}/knowledge-files", owner.org),
            Some(&owner.token),
        )
        .await
        .json();
    let first = listed["items"][0]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::DELETE,
        &format!("/v1/organizations/{}/knowledge-files/{first}", owner.org),
        Some(&owner.token),
        None,
    )
    .await
    .expect(204);
    let usage = billing(&app, &owner).await["usage"].clone();
    assert_eq!(
        (&usage["knowledge_files"], &usage["storage_bytes"]),
        (&json!(1), &json!(2))
    );
    upload(&app, &owner, "three.txt", b"333").await.expect(201);
    assert_only_listed_files_on_disk(&app, &owner).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_beyond_the_storage_get_402_and_store_nothing() {
    let app = TestApp::with_settings(small_plans()).await;
    let owner = app.sign_up("owner@example.com").await;
    upload(&app, &owner, "big.txt", &[b'a'; 60])
        .await
        .expect(201);
    let refused = upload(&app, &owner, "bigger.txt", &[b'b'; 41])
        .await
        .problem(402, "quota_exceeded");
    let detail = refused.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("100 bytes") && detail.contains("41"),
        "{detail}"
    );
    assert_only_listed_files_on_disk(&app, &owner).await;
    assert_eq!(files_under(&app.blob_dir()).len(), 1);
    // Exactly up to the limit is fine.
    upload(&app, &owner, "fits.txt", &[b'c'; 40])
        .await
        .expect(201);
    let usage = billing(&app, &owner).await["usage"].clone();
    assert_eq!(
        (&usage["knowledge_files"], &usage["storage_bytes"]),
        (&json!(2), &json!(100))
    );
    assert_only_listed_files_on_disk(&app, &owner).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_downgrade_below_usage_is_allowed_and_stops_uploads() {
    let app = TestApp::with_settings(small_plans()).await;
    let owner = app.sign_up("owner@example.com").await;
    put_plan(
        &app,
        &owner.org,
        Some(&owner.token),
        json!({"plan": "roomy"}),
    )
    .await
    .expect(200);
    for i in 0..3 {
        upload(&app, &owner, &format!("f{i}.txt"), &[b'x'; 50])
            .await
            .expect(201);
    }
    let down = put_plan(
        &app,
        &owner.org,
        Some(&owner.token),
        json!({"plan": "free"}),
    )
    .await
    .expect(200)
    .json();
    assert_eq!(down["limits"]["knowledge_files"], 2);
    assert_eq!(down["usage"]["knowledge_files"], 3);
    assert_eq!(down["usage"]["storage_bytes"], 150);
    upload(&app, &owner, "empty.txt", b"")
        .await
        .problem(402, "quota_exceeded");
    assert_only_listed_files_on_disk(&app, &owner).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn uploaded_names_keep_only_their_last_path_segment() {
    let app = TestApp::new().await;
    let owner = app.sign_up("owner@example.com").await;
    let files_path = format!("/v1/organizations/{}/knowledge-files", owner.org);
    for (sent, kept) in [
        ("../../x.md", "x.md"),
        ("..\\..\\y.md", "y.md"),
        ("/etc/passwd", "passwd"),
        ("C:\\Users\\ann\\notes.md", "notes.md"),
    ] {
        let file = upload(&app, &owner, sent, b"content")
            .await
            .expect(201)
            .json();
        assert_eq!(file["name"], kept, "{sent}");
    }
    for sent in ["../..", "dir/", "..", "a\\."] {
        let refused = upload(&app, &owner, sent, b"content")
            .await
            .problem(422, "validation_failed");
        assert_eq!(refused.json()["errors"][0]["field"], "file", "{sent}");
    }
    // A part without a file name names no file either.
    let form = TestForm::new().field(
        TestFormField::bytes(b"content".to_vec())
            .name("file")
            .content_type("text/plain"),
    );
    let nameless = app
        .post_form(&files_path, Some(&owner.token), form)
        .await
        .problem(422, "validation_failed");
    assert_eq!(nameless.json()["errors"][0]["field"], "file");
    // A part by another name, before the file or instead of it, is refused
    // rather than read past: the body holds one `file` part and no other.
    for form in [
        TestForm::new()
            .field(TestFormField::text("note").name("comment"))
            .field(
                TestFormField::bytes(b"content".to_vec())
                    .name("file")
                    .filename("extra.md"),
            ),
        TestForm::new().field(
            TestFormField::bytes(b"content".to_vec())
                .name("files")
                .filename("misnamed.md"),
        ),
    ] {
        let refused = app
            .post_form(&files_path, Some(&owner.token), form)
            .await
            .problem(422, "validation_failed");
        assert_eq!(refused.json()["errors"][0]["field"], "file");
    }
    // A part after the file is found once the file is read, before anything
    // is committed: the upload is refused as malformed.
    let trailing = TestForm::new()
        .field(
            TestFormField::bytes(b"content".to_vec())
                .name("file")
                .filename("trailing.md"),
        )
        .field(TestFormField::text("note").name("comment"));
    let refused = app
        .post_form(&files_path, Some(&owner.token), trailing)
        .await
        .problem(400, "bad_request");
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("`comment` follows the file"),
        "{}",
        refused.json()
    );
    // Only the four files with names are stored.
    assert_eq!(files_under(&app.blob_dir()).len(), 4);
    assert_only_listed_files_on_disk(&app, &owner).await;
}
