//! The web console's routes: its pages and assets, their security headers,
//! caching, and that the console shadows nothing of the API; and that the
//! script decides its controls by operation, from the table that
//! `GET /v1/roles` serves, naming no capability of its own.

use std::collections::BTreeSet;

use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::test::TestClient;
use regex::Regex;
use serde_json::{Value, json};
use tenancy_core::{Capability, Operation};
use tenancy_http::console::{CONTENT_SECURITY_POLICY, PAGES};

use crate::support::TestApp;

/// A link's token as the pages of emailed links take it.
const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async fn get(app: &TestApp, path: &str, if_none_match: Option<&str>) -> crate::support::Reply {
    let mut request = app.client.get(path);
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    crate::support::Reply::read(request.send().await).await
}

/// The app without the check of every response against the document:
/// `ResponseValidator::is_outside_document` knows the console's pages by
/// their exact paths and the invitation page's template, so it would take
/// `/verify-email/<token>` for a path of the API.
fn unchecked(app: &TestApp) -> TestClient<BoxEndpoint<'static, poem::Response>> {
    TestClient::new(
        tenancy_http::app(app.state.clone())
            .map_to_response()
            .boxed(),
    )
}

/// The console's pages as addresses: a template's `:token` is a token.
fn page_paths() -> Vec<String> {
    PAGES
        .iter()
        .map(|page| page.replace(":token", TOKEN))
        .chain([format!("/invitations/{TOKEN}")])
        .collect()
}

fn header<'a>(reply: &'a crate::support::Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no `{name}` header"))
}

fn assert_secured(reply: &crate::support::Reply) {
    assert_eq!(
        header(reply, "content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(header(reply, "x-content-type-options"), "nosniff");
    assert_eq!(header(reply, "referrer-policy"), "no-referrer");
    assert_eq!(header(reply, "x-frame-options"), "DENY");
}

#[tokio::test]
async fn every_page_is_the_console_with_strict_headers() {
    let app = TestApp::new().await;
    let client = unchecked(&app);
    for path in page_paths() {
        let reply = crate::support::Reply::read(client.get(&path).send().await)
            .await
            .expect(200);
        assert_eq!(reply.content_type(), "text/html; charset=utf-8", "{path}");
        assert_secured(&reply);
        let html = String::from_utf8(reply.bytes.clone()).unwrap();
        assert!(
            html.contains("<script src=\"/console/console.js\" defer></script>"),
            "{path}"
        );
        // The page is the same whatever the token: nothing of it is echoed.
        assert!(!html.contains(TOKEN));
    }
    // The pages of the account's emailed links and forms are among them.
    for page in [
        "/verify-email/:token",
        "/reset-password/:token",
        "/forgot-password",
        "/account",
    ] {
        assert!(PAGES.contains(&page), "{page}");
    }
    // The policy: nothing inline, nothing from elsewhere, no framing.
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
}

#[tokio::test]
async fn assets_have_their_types_and_revalidate_with_etags() {
    let app = TestApp::new().await;
    for (path, content_type, needle) in [
        (
            "/console/console.js",
            "text/javascript; charset=utf-8",
            "sessionStorage",
        ),
        (
            "/console/console.css",
            "text/css; charset=utf-8",
            ".switcher",
        ),
        ("/console/icon.svg", "image/svg+xml", "<svg"),
        ("/", "text/html; charset=utf-8", "<!doctype html>"),
    ] {
        let reply = get(&app, path, None).await.expect(200);
        assert_eq!(reply.content_type(), content_type, "{path}");
        assert_secured(&reply);
        assert_eq!(header(&reply, "cache-control"), "no-cache");
        assert!(
            String::from_utf8_lossy(&reply.bytes).contains(needle),
            "{path}"
        );
        let etag = header(&reply, "etag").to_owned();
        let again = get(&app, path, Some(&etag)).await.expect(304);
        assert!(again.bytes.is_empty());
        assert_eq!(header(&again, "etag"), etag);
        // A stale tag gets the whole file.
        get(&app, path, Some("\"0000000000000000\""))
            .await
            .expect(200);
    }
}

#[tokio::test]
async fn the_console_shadows_nothing_of_the_api() {
    let app = TestApp::new().await;
    // The API still answers as the contract says, around the console's routes.
    app.get("/v1/plans", None).await.expect(200);
    app.get("/healthz", None).await.expect(200);
    app.get("/readyz", None).await.expect(200);
    app.get("/openapi.json", None).await.expect(200);
    app.get("/v1/me", None)
        .await
        .problem(401, "unauthenticated");
    app.get("/v1/nothing-here", None)
        .await
        .problem(404, "not_found");
    app.get(
        "/v1/invitations/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        None,
    )
    .await
    .problem(404, "not_found");
    app.call(Method::DELETE, "/v1/plans", None, None)
        .await
        .problem(405, "method_not_allowed");
    // Paths that are neither stay problems, and the console's pages take
    // only GET.
    app.get("/nothing-here", None)
        .await
        .problem(404, "not_found");
    app.get("/console/missing.js", None)
        .await
        .problem(404, "not_found");
    app.get("/invitations/a/b", None)
        .await
        .problem(404, "not_found");
    app.call(Method::POST, "/signin", None, None)
        .await
        .problem(405, "method_not_allowed");
    // The pages of emailed links take one segment, and GET only.
    let client = unchecked(&app);
    for path in [
        "/verify-email",
        "/verify-email/a/b",
        "/reset-password",
        "/reset-password/a/b",
    ] {
        crate::support::Reply::read(client.get(path).send().await)
            .await
            .problem(404, "not_found");
    }
    for page in ["verify-email", "reset-password"] {
        let reply = crate::support::Reply::read(
            client
                .request(Method::POST, format!("/{page}/{TOKEN}"))
                .send()
                .await,
        )
        .await
        .problem(405, "method_not_allowed");
        assert_eq!(header(&reply, "allow"), "GET, HEAD", "/{page}/");
    }
}

/// The script as the server embeds it.
const SCRIPT: &str = include_str!("../../console/console.js");

/// The script's references to operations: every `allowed(context, '<name>')`,
/// the one way the script asks whether a control is allowed.
fn operation_references() -> Regex {
    Regex::new(r"\ballowed\([a-z]+, '([a-z_]+)'\)").unwrap()
}

#[test]
fn the_console_names_no_capability() {
    // Some operations share their capability's name (`rename_organization`):
    // as operations they may appear, so the references go first.
    let rest = operation_references().replace_all(SCRIPT, "allowed(operation)");
    for capability in Capability::ALL {
        let name = Regex::new(&format!(r"\b{}\b", capability.name())).unwrap();
        let found: Vec<&str> = rest.lines().filter(|line| name.is_match(line)).collect();
        assert!(
            found.is_empty(),
            "console.js names the capability `{capability}` outside an operation: {found:?}"
        );
    }
}

#[test]
fn every_operation_the_console_names_is_in_the_table() {
    let known: BTreeSet<String> = Operation::ALL.iter().map(|op| op.name()).collect();
    let used: BTreeSet<&str> = operation_references()
        .captures_iter(SCRIPT)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    let unknown: Vec<&&str> = used.iter().filter(|name| !known.contains(**name)).collect();
    assert!(unknown.is_empty(), "not in `Operation::ALL`: {unknown:?}");
    // Every control of the matrix's areas follows an operation.
    for name in [
        "create_agent",
        "delete_knowledge_file",
        "pin",
        "rename_organization",
        "invite_member",
        "list_members",
        "view_billing",
        "change_plan",
    ] {
        assert!(used.contains(name), "console.js never asks for `{name}`");
    }
    // No check names its operation any other way (a variable, a template):
    // each call of `allowed` but its definition is a reference above.
    let calls = Regex::new(r"\ballowed\(")
        .unwrap()
        .find_iter(SCRIPT)
        .count();
    let references = operation_references().find_iter(SCRIPT).count();
    assert!(SCRIPT.contains("function allowed(context, operation)"));
    assert_eq!(
        calls,
        references + 1,
        "a call of `allowed` without a literal operation"
    );
}

#[tokio::test]
async fn the_roles_matrix_serves_the_table_of_operations() {
    let app = TestApp::new().await;
    let matrix = app.get("/v1/roles", None).await.expect(200).json();
    let expected: Vec<Value> = Operation::ALL
        .iter()
        .map(|op| {
            json!({
                "name": op.name(),
                "capability": op.capability().name(),
                "description": op.description(),
            })
        })
        .collect();
    assert_eq!(matrix["operations"], Value::Array(expected));
    // The fields of API.md stay as they were beside it.
    assert_eq!(matrix["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        matrix["capabilities"].as_array().map(Vec::len),
        Some(Capability::ALL.len())
    );
    let create_agent = matrix["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|op| op["name"] == "create_agent"))
        .expect("`create_agent` in the table");
    assert_eq!(create_agent["capability"], "manage_agents");
}
