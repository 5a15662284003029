//! Every 405 says which methods the path serves, in `Allow` (RFC 9110).

use std::collections::BTreeSet;

use poem::http::Method;

use crate::support::TestApp;

/// Any id: routing decides 405 before anything looks the id up.
const ID: &str = "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b";

fn allow(reply: &crate::support::Reply) -> BTreeSet<String> {
    let value = reply
        .headers
        .get("allow")
        .unwrap_or_else(|| panic!("a 405 without Allow: {reply:?}"))
        .to_str()
        .unwrap();
    value.split(',').map(|m| m.trim().to_owned()).collect()
}

fn set(methods: &[&str]) -> BTreeSet<String> {
    methods.iter().map(|m| (*m).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_method_gets_405_with_the_methods_of_the_path() {
    let app = TestApp::new().await;
    for (method, path, expected) in [
        (Method::TRACE, "/healthz".to_owned(), &["GET", "HEAD"][..]),
        (Method::PUT, "/v1/plans".to_owned(), &["GET", "HEAD"]),
        (
            Method::DELETE,
            format!("/v1/organizations/{ID}"),
            &["GET", "HEAD", "PATCH"],
        ),
        // A literal segment is routed before a parameter at the same place.
        (Method::GET, "/v1/invitations/accept".to_owned(), &["POST"]),
        (
            Method::POST,
            "/v1/invitations/some-token".to_owned(),
            &["GET", "HEAD"],
        ),
        // The console's pages too.
        (Method::POST, "/signin".to_owned(), &["GET", "HEAD"]),
    ] {
        let reply = app
            .call(method.clone(), &path, None, None)
            .await
            .problem(405, "method_not_allowed");
        assert_eq!(allow(&reply), set(expected), "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_path_of_the_document_names_its_methods_in_allow() {
    let app = TestApp::new().await;
    let document = app.get("/openapi.json", None).await.expect(200).json();
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "only {} paths", paths.len());
    for (template, operations) in paths {
        let mut expected: BTreeSet<String> = operations
            .as_object()
            .unwrap()
            .keys()
            .map(|method| method.to_uppercase())
            .collect();
        // poem answers HEAD from GET.
        if expected.contains("GET") {
            expected.insert("HEAD".to_owned());
        }
        let path: String = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    ID
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let reply = app
            .call(Method::TRACE, &path, None, None)
            .await
            .problem(405, "method_not_allowed");
        assert_eq!(allow(&reply), expected, "TRACE {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_other_than_405_carry_no_allow() {
    let app = TestApp::new().await;
    let reply = app.get("/healthz", None).await.expect(200);
    assert!(reply.headers.get("allow").is_none());
    let reply = app.get("/v1/nothing-here", None).await.expect(404);
    assert!(reply.headers.get("allow").is_none());
}
