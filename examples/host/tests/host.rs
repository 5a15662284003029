//! The example host end to end: tenancy's routes and the host's own one in
//! one app, over a real store.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test should stop loudly"
)]

use std::sync::Arc;

use poem::EndpointExt;
use poem::test::{TestClient, TestResponse};
use serde_json::{Value, json};
use tenancy_core::service::Settings;
use tenancy_example_host::{Warehouse, app};
use tenancy_http::{ApiConfig, AppState};
use tenancy_store::{FsBlobs, SecretKey, Store, StoreOptions};

const KEY: &str = "warehouse-key-1234";

async fn json_of(response: TestResponse) -> Value {
    response.0.into_body().into_json().await.unwrap()
}

#[tokio::test]
async fn a_viewer_uses_a_connection_through_the_host_until_removed() {
    let dir = std::env::temp_dir().join(format!("tenancy-host-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(StoreOptions::new(
        format!("sqlite://{}", dir.join("t.db").display()),
        SecretKey::generate("test").unwrap(),
    ))
    .await
    .unwrap();
    let state = AppState::new(
        store.clone(),
        Settings::default(),
        Arc::new(FsBlobs::new(dir.join("blobs"))),
        ApiConfig::default(),
    );
    let client = TestClient::new(
        app(
            state.clone(),
            Warehouse {
                api_key: KEY.to_owned(),
            },
        )
        .map_to_response(),
    );
    let sign_up = async |email: &str| {
        json_of(
            client
                .post("/v1/auth/signup")
                .body_json(&json!({"email": email, "password": "correct horse battery"}))
                .send()
                .await,
        )
        .await
    };
    // Through tenancy's routes, mounted in the host: an owner, a connection
    // holding the warehouse key, and a viewer invited and accepted.
    let owner = sign_up("owner@example.com").await;
    let owner_token = owner["token"].as_str().unwrap().to_owned();
    let org = owner["default_organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let connection = client
        .post(format!("/v1/organizations/{org}/connections"))
        .header("authorization", format!("Bearer {owner_token}"))
        .body_json(
            &json!({"label": "Warehouse", "type": "bigquery", "credentials": {"api_key": KEY}}),
        )
        .send()
        .await;
    connection.assert_status(poem::http::StatusCode::CREATED);
    let connection = json_of(connection).await["id"].as_str().unwrap().to_owned();
    // The owner's address is verified from her email's link before she invites.
    let due_link = async |pick: fn(&tenancy_core::entity::MailContent) -> bool| {
        use tenancy_core::ports::MailOutbox;
        store
            .due(chrono::Utc::now() + chrono::Duration::days(1), 10)
            .await
            .unwrap()
            .into_iter()
            .find(|q| pick(&q.mail.content))
            .and_then(|q| q.mail.content.token().map(|t| t.expose().to_owned()))
            .unwrap()
    };
    let verification =
        due_link(|c| matches!(c, tenancy_core::entity::MailContent::VerifyEmail { .. })).await;
    client
        .post("/v1/auth/verify-email")
        .body_json(&json!({"token": verification}))
        .send()
        .await
        .assert_status_is_ok();
    let invitation = client
        .post(format!("/v1/organizations/{org}/invitations"))
        .header("authorization", format!("Bearer {owner_token}"))
        .body_json(&json!({"email": "viewer@example.com"}))
        .send()
        .await;
    invitation.assert_status(poem::http::StatusCode::CREATED);
    let token =
        due_link(|c| matches!(c, tenancy_core::entity::MailContent::Invitation { .. })).await;
    let viewer = json_of(
        client
            .post("/v1/auth/signup")
            .body_json(&json!({
                "email": "viewer@example.com",
                "password": "correct horse battery",
                "invitation_token": token
            }))
            .send()
            .await,
    )
    .await;
    assert_eq!(viewer["invitation"]["status"], "accepted");
    let viewer_token = viewer["token"].as_str().unwrap().to_owned();
    let outsider = sign_up("outsider@example.com").await;
    let outsider_token = outsider["token"].as_str().unwrap().to_owned();

    // The host's own route: the viewer's grant opens the credentials in the
    // process; the response carries the warehouse's rows, not the key.
    let report = format!("/host/organizations/{org}/cost-report?connection={connection}");
    let call = async |token: &str| {
        client
            .get(&report)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
    };
    let answer = call(&viewer_token).await;
    answer.assert_status_is_ok();
    let text = answer.0.into_body().into_string().await.unwrap();
    assert_eq!(text, r#"{"daily_costs":[120,95,410]}"#);
    assert!(!text.contains(KEY));
    call(&outsider_token)
        .await
        .assert_status(poem::http::StatusCode::NOT_FOUND);
    client
        .get(&report)
        .send()
        .await
        .assert_status(poem::http::StatusCode::UNAUTHORIZED);

    // Removed: the very next request is refused.
    let viewer_id = viewer["user"]["id"].as_str().unwrap();
    client
        .delete(format!("/v1/organizations/{org}/members/{viewer_id}"))
        .header("authorization", format!("Bearer {owner_token}"))
        .send()
        .await
        .assert_status(poem::http::StatusCode::NO_CONTENT);
    call(&viewer_token)
        .await
        .assert_status(poem::http::StatusCode::NOT_FOUND);
    std::fs::remove_dir_all(dir).unwrap();
}
