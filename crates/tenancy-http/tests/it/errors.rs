//! Every error has the problem shape, poem's own included.

use poem::http::Method;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn poems_own_errors_are_problems_too() {
    let app = TestApp::new().await;
    let ann = app.sign_up("ann@example.com").await;
    app.get("/v1/nothing-here", None)
        .await
        .problem(404, "not_found");
    app.get("/no/such/route", Some(&ann.token))
        .await
        .problem(404, "not_found");
    app.call(Method::DELETE, "/v1/plans", None, None)
        .await
        .problem(405, "method_not_allowed");
    app.call(Method::PUT, "/v1/auth/signup", None, Some(json!({})))
        .await
        .problem(405, "method_not_allowed");
    // An id that cannot be an id names nothing.
    app.get("/v1/organizations/not-a-uuid", Some(&ann.token))
        .await
        .problem(404, "not_found");
    app.get("/v1/organizations", None)
        .await
        .problem(401, "unauthenticated");
    app.get("/v1/organizations", Some("garbage"))
        .await
        .problem(401, "unauthenticated");
    app.get("/v1/invitations/short", None)
        .await
        .problem(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_tell_malformed_from_invalid() {
    let app = TestApp::new().await;
    let ann = app.sign_up("ann@example.com").await;
    // Malformed JSON and a wrong content type: 400.
    let reply = app
        .client
        .post("/v1/organizations")
        .header("authorization", format!("Bearer {}", ann.token))
        .content_type("application/json")
        .body("{\"name\": ")
        .send()
        .await;
    assert_eq!(reply.0.status(), 400);
    assert_eq!(
        reply.0.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let reply = app
        .client
        .post("/v1/organizations")
        .header("authorization", format!("Bearer {}", ann.token))
        .content_type("text/plain")
        .body("name=x")
        .send()
        .await;
    assert_eq!(reply.0.status(), 400);
    // Well-formed JSON with invalid values: 422 naming the fields.
    let reply = app
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "not an email", "password": "short"}),
        )
        .await
        .problem(422, "validation_failed");
    let fields: Vec<String> = reply.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["email", "password"]);
    app.post(
        "/v1/organizations",
        Some(&ann.token),
        json!({"name": "   "}),
    )
    .await
    .problem(422, "validation_failed");
    app.post(
        "/v1/organizations",
        Some(&ann.token),
        json!({"name": "a".repeat(101)}),
    )
    .await
    .problem(422, "validation_failed");
    let missing = app
        .post("/v1/organizations", Some(&ann.token), json!({"label": "x"}))
        .await
        .problem(422, "validation_failed");
    assert_eq!(
        missing.json()["errors"][0]["field"],
        "name",
        "{}",
        missing.json()
    );
    app.post("/v1/organizations", Some(&ann.token), json!({"name": 42}))
        .await
        .problem(422, "validation_failed");
    app.get("/v1/organizations?limit=0", Some(&ann.token))
        .await
        .problem(422, "validation_failed");
    app.get("/v1/organizations?limit=201", Some(&ann.token))
        .await
        .problem(422, "validation_failed");
    app.get("/v1/organizations?cursor=%%%", Some(&ann.token))
        .await
        .problem(422, "validation_failed");
    // Unknown fields are ignored.
    app.post(
        "/v1/organizations",
        Some(&ann.token),
        json!({"name": "Fine", "color": "blue"}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_comes_before_validation() {
    let app = TestApp::new().await;
    let ann = app.sign_up("ann@example.com").await;
    let bob = app.viewer(&ann, &ann.org, "bob@example.com").await;
    let eve = app.sign_up("eve@example.com").await;
    let org = ann.org.clone();
    for (path, body) in [
        (format!("/v1/organizations/{org}"), json!({"name": ""})),
        (
            format!("/v1/organizations/{org}/invitations"),
            json!({"email": "not an email"}),
        ),
    ] {
        let method = if path.ends_with("invitations") {
            Method::POST
        } else {
            Method::PATCH
        };
        app.call(method.clone(), &path, Some(&bob.token), Some(body.clone()))
            .await
            .problem(403, "forbidden");
        app.call(method.clone(), &path, Some(&eve.token), Some(body.clone()))
            .await
            .problem(404, "not_found");
        app.call(method, &path, Some(&ann.token), Some(body))
            .await
            .problem(422, "validation_failed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_carry_an_id() {
    let app = TestApp::new().await;
    let reply = app.get("/healthz", None).await.expect(200);
    assert_eq!(reply.headers.get("x-request-id").unwrap().len(), 16);
    let reply = app
        .client
        .get("/healthz")
        .header("x-request-id", "trace-me-42")
        .send()
        .await;
    assert_eq!(
        reply.0.headers().get("x-request-id").unwrap(),
        "trace-me-42"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_json_body_is_refused_unread() {
    let app = TestApp::new().await;
    let ann = app.sign_up("ann@example.com").await;
    let padding = "x".repeat(2 * 1024 * 1024);
    app.post(
        "/v1/organizations",
        Some(&ann.token),
        json!({"name": "Acme", "padding": padding}),
    )
    .await
    .problem(413, "payload_too_large");
    // Just under the limit, an unknown field is ignored as the contract says.
    let padding = "x".repeat(1000 * 1024);
    app.post(
        "/v1/organizations",
        Some(&ann.token),
        json!({"name": "Acme", "padding": padding}),
    )
    .await
    .expect(201);
}

/// Authentication comes first: every operation that needs a session answers
/// 401 to an unknown token whatever its body (malformed JSON, the wrong
/// content type, invalid values), and its path's ids.
#[tokio::test(flavor = "multi_thread")]
async fn authentication_comes_before_any_body() {
    let app = TestApp::new().await;
    let document: serde_json::Value =
        serde_json::from_str(&tenancy_http::openapi_json(&app.state)).unwrap();
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let needs_session = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("session").is_some()));
            if !needs_session || operation.get("requestBody").is_none() {
                continue;
            }
            let concrete = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        segment.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for (content_type, body) in [
                ("application/json", "{\"name\": "),
                ("text/plain", "hello"),
                ("application/json", "{\"name\": 42, \"email\": []}"),
                ("multipart/form-data; boundary=x", "--x\r\nbroken"),
            ] {
                let reply = app
                    .client
                    .request(method.clone(), &concrete)
                    .header("authorization", "Bearer not-a-session-token")
                    .content_type(content_type)
                    .body(body)
                    .send()
                    .await;
                let reply = crate::support::Reply::read(reply).await;
                assert_eq!(
                    reply.status,
                    401,
                    "{method} {path} with {content_type}: {}",
                    reply.json()
                );
                reply.problem(401, "unauthenticated");
            }
            checked += 1;
        }
    }
    assert!(checked >= 19, "only {checked} operations with a body");
}
