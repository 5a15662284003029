//! One authorization table: every operation of the API × anonymous,
//! outsider, viewer, owner and removed member, each case on a fresh fixture.
//! A guard test fails when an operation of the OpenAPI document is missing.

use poem::http::Method;
use serde_json::{Value, json};

use crate::support::{Backend, Person, Reply, SERVICE_TOKEN, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Anonymous,
    Outsider,
    Viewer,
    Owner,
    Removed,
}

const EVERYONE: [Who; 5] = [
    Who::Anonymous,
    Who::Outsider,
    Who::Viewer,
    Who::Owner,
    Who::Removed,
];

pub(crate) struct Fixture {
    pub app: TestApp,
    owner: Person,
    viewer: Person,
    outsider: Person,
    removed: Person,
    spare: Person,
    invitation_id: String,
    invitation_token: String,
    /// The owner's session, which only the owner may end.
    owner_session: String,
    /// The open links of an unverified account's verification email and of
    /// the spare member's password reset.
    verification_token: String,
    reset_token: String,
    agent: String,
    connection: String,
    report: String,
    run: String,
    file: String,
    /// Each member's own pin and chat, made while they were members.
    pins: [String; 3],
    chats: [String; 3],
    /// Random secrets in the connection's credentials, set at creation and
    /// by the rotation case: no response, log or table may show them.
    pub canaries: [String; 3],
}

/// The fixture's custom role, which nobody holds.
const ROLE_KEY: &str = "analyst";

pub(crate) async fn fixture() -> Fixture {
    fixture_on(Backend::Sqlite).await
}

pub(crate) async fn fixture_on(backend: Backend) -> Fixture {
    let app = backend.app().await;
    let owner = app.sign_up("owner@example.com").await;
    let org = owner.org.clone();
    let viewer = app.viewer(&owner, &org, "viewer@example.com").await;
    let spare = app.viewer(&owner, &org, "spare@example.com").await;
    let removed = app.viewer(&owner, &org, "removed@example.com").await;
    let base = format!("/v1/organizations/{org}");
    let canaries = [(); 3].map(|()| format!("canary{}", uuid::Uuid::now_v7().simple()));
    let connection = app
        .create(
            &format!("{base}/connections"),
            &owner.token,
            json!({
                "label": "Warehouse",
                "type": "postgres",
                "credentials": {"password": canaries[0], "api_key": canaries[1]}
            }),
            201,
        )
        .await;
    let agent = app
        .create(
            &format!("{base}/agents"),
            &owner.token,
            json!({"name": "Cost bot", "connection_ids": [connection]}),
            201,
        )
        .await;
    let report = app
        .create(
            &format!("{base}/reports"),
            &owner.token,
            json!({"name": "Weekly", "definition": {"query": "select 1"}}),
            201,
        )
        .await;
    let run = app
        .create(
            &format!("{base}/reports/{report}/runs"),
            &owner.token,
            json!({}),
            202,
        )
        .await;
    let file = app
        .upload(
            &format!("{base}/knowledge-files"),
            Some(&owner.token),
            "notes.md",
            "text/markdown",
            b"# notes".to_vec(),
        )
        .await
        .expect(201)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut pins = Vec::new();
    let mut chats = Vec::new();
    for person in [&owner, &viewer, &removed] {
        pins.push(
            app.create(
                &format!("{base}/pins"),
                &person.token,
                json!({"item_type": "agent", "item_id": agent}),
                201,
            )
            .await,
        );
        chats.push(
            app.create(
                &format!("{base}/chats"),
                &person.token,
                json!({"agent_id": agent}),
                201,
            )
            .await,
        );
    }
    app.call(
        Method::DELETE,
        &format!("/v1/organizations/{org}/members/{}", removed.id),
        Some(&owner.token),
        None,
    )
    .await
    .expect(204);
    app.post(
        &format!("{base}/roles"),
        Some(&owner.token),
        json!({"key": ROLE_KEY, "name": "Analyst", "capabilities": ["view_resources", "manage_reports"]}),
    )
    .await
    .expect(201);
    let outsider = app.sign_up("outsider@example.com").await;
    let (invitation_id, invitation_token) = app.invite(&owner, &org, "pending@example.com").await;
    let owner_session = app
        .get("/v1/me/sessions", Some(&owner.token))
        .await
        .expect(200)
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unverified = app.sign_up_unverified("unverified@example.com").await;
    let verification_token = app.link_token(&unverified.email, "verify_email").await;
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"email": spare.email}),
    )
    .await
    .expect(202);
    let reset_token = app.link_token(&spare.email, "reset_password").await;
    Fixture {
        owner_session,
        verification_token,
        reset_token,
        canaries,
        agent,
        connection,
        report,
        run,
        file,
        pins: pins.try_into().unwrap(),
        chats: chats.try_into().unwrap(),
        app,
        owner,
        viewer,
        outsider,
        removed,
        spare,
        invitation_id,
        invitation_token,
    }
}

/// One operation: how to call it, and the status each caller gets.
pub(crate) struct Case {
    pub method: Method,
    /// The path template as in the OpenAPI document.
    pub template: &'static str,
    pub body: fn(&Fixture) -> Option<Value>,
    /// The token used instead of the caller's session (the service token).
    pub service: bool,
    /// Sent as a multipart upload of a small file instead of JSON.
    pub upload: bool,
    pub expect: fn(Who) -> u16,
}

impl Case {
    /// Runs the case as `who` on the fixture: their token (or the service
    /// token), the path with the fixture's ids, the body or an upload.
    pub(crate) async fn call(&self, f: &Fixture, who: Who) -> Reply {
        let path = path(self.template, f, who);
        let token = if self.service {
            Some(SERVICE_TOKEN)
        } else {
            token(who, f)
        };
        if self.upload {
            f.app
                .upload(&path, token, "more.txt", "text/plain", b"more".to_vec())
                .await
        } else {
            f.app
                .call(self.method.clone(), &path, token, (self.body)(f))
                .await
        }
    }
}

fn none(_: &Fixture) -> Option<Value> {
    None
}

/// Signed-in callers get `ok`; anonymous callers 401.
fn signed_in(ok: u16) -> impl Fn(Who) -> u16 {
    move |who| if who == Who::Anonymous { 401 } else { ok }
}

fn case(
    method: Method,
    template: &'static str,
    body: fn(&Fixture) -> Option<Value>,
    expect: fn(Who) -> u16,
) -> Case {
    Case {
        method,
        template,
        body,
        service: false,
        upload: false,
        expect,
    }
}

/// Members with the capability get `ok`, members without it 403, everyone
/// else learns nothing (404), anonymous callers 401.
macro_rules! member_op {
    ($owner:expr, $viewer:expr) => {
        |who| match who {
            Who::Anonymous => 401,
            Who::Outsider | Who::Removed => 404,
            Who::Viewer => $viewer,
            Who::Owner => $owner,
        }
    };
}

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case(
            Method::POST,
            "/v1/auth/signup",
            |_| Some(json!({"email": "new@example.com", "password": "long enough pass"})),
            |_| 201,
        ),
        case(
            Method::POST,
            "/v1/auth/signin",
            |f| Some(json!({"email": f.owner.email, "password": "correct horse battery"})),
            |_| 200,
        ),
        case(Method::POST, "/v1/auth/signout", none, |who| {
            if who == Who::Anonymous { 401 } else { 204 }
        }),
        case(Method::GET, "/v1/me", none, |who| signed_in(200)(who)),
        // Every caller's address is verified already.
        case(Method::POST, "/v1/me/verification-email", none, |who| {
            signed_in(409)(who)
        }),
        case(
            Method::POST,
            "/v1/auth/verify-email",
            |f| Some(json!({"token": f.verification_token})),
            |_| 200,
        ),
        case(
            Method::POST,
            "/v1/auth/password-reset",
            |f| Some(json!({"email": f.owner.email})),
            |_| 202,
        ),
        case(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            |f| Some(json!({"token": f.reset_token, "password": "a brand new secret"})),
            |_| 204,
        ),
        case(
            Method::PUT,
            "/v1/me/password",
            |_| {
                Some(json!({
                    "current_password": "correct horse battery",
                    "new_password": "a brand new secret"
                }))
            },
            |who| signed_in(204)(who),
        ),
        case(Method::GET, "/v1/me/sessions", none, |who| {
            signed_in(200)(who)
        }),
        // The owner's session: anyone else's id for it is not found.
        case(
            Method::DELETE,
            "/v1/me/sessions/{session_id}",
            none,
            |who| match who {
                Who::Anonymous => 401,
                Who::Owner => 204,
                _ => 404,
            },
        ),
        case(Method::GET, "/v1/organizations", none, |who| {
            signed_in(200)(who)
        }),
        case(
            Method::POST,
            "/v1/organizations",
            |_| Some(json!({"name": "Another"})),
            |who| signed_in(201)(who),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}",
            |_| Some(json!({"name": "Renamed"})),
            member_op!(200, 403),
        ),
        case(Method::GET, "/v1/me/active-organization", none, |who| {
            signed_in(200)(who)
        }),
        case(
            Method::PUT,
            "/v1/me/active-organization",
            |f| Some(json!({"organization_id": f.owner.org})),
            member_op!(200, 200),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/members",
            none,
            member_op!(200, 403),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/members/{user_id}",
            none,
            member_op!(204, 403),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "editor"})),
            member_op!(200, 403),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/invitations",
            |_| Some(json!({"email": "someone@example.com"})),
            member_op!(201, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/invitations",
            none,
            member_op!(200, 403),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/invitations/{invitation_id}",
            none,
            member_op!(204, 403),
        ),
        case(Method::GET, "/v1/invitations/{token}", none, |_| 200),
        // The pending invitation is for another email than any caller's.
        case(
            Method::POST,
            "/v1/invitations/accept",
            |f| Some(json!({"token": f.invitation_token})),
            |who| signed_in(403)(who),
        ),
        case(Method::GET, "/v1/plans", none, |_| 200),
        case(Method::GET, "/v1/roles", none, |_| 200),
        // Custom roles: every member lists them, `manage_roles` manages them.
        case(
            Method::GET,
            "/v1/organizations/{org_id}/roles",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/roles",
            |_| {
                Some(
                    json!({"key": "auditor", "name": "Auditor", "capabilities": ["view_resources"]}),
                )
            },
            member_op!(201, 403),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/roles/{key}",
            |_| Some(json!({"name": "Data analyst"})),
            member_op!(200, 403),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/roles/{key}",
            none,
            member_op!(204, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/billing",
            none,
            member_op!(200, 403),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/billing/plan",
            |_| Some(json!({"plan": "pro"})),
            member_op!(200, 403),
        ),
        // Only the host's billing system sets a plan that is not self-serve.
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/billing/plan",
            |_| Some(json!({"plan": "enterprise"})),
            member_op!(403, 403),
        ),
        Case {
            method: Method::PUT,
            template: "/v1/organizations/{org_id}/billing/plan",
            body: |_| Some(json!({"plan": "enterprise"})),
            service: true,
            upload: false,
            expect: |_| 200,
        },
        // A user's session is not the service token: everyone gets 401.
        case(
            Method::POST,
            "/v1/authorize",
            |f| {
                Some(json!({
                    "user_id": f.owner.id,
                    "organization_id": f.owner.org,
                    "capability": "manage_members"
                }))
            },
            |_| 401,
        ),
        Case {
            method: Method::POST,
            template: "/v1/authorize",
            body: |f| {
                Some(json!({
                    "user_id": f.viewer.id,
                    "organization_id": f.owner.org,
                    "capability": "view_resources"
                }))
            },
            service: true,
            upload: false,
            expect: |_| 200,
        },
        case(Method::GET, "/healthz", none, |_| 200),
        case(Method::GET, "/readyz", none, |_| 200),
        // Resources: viewers read and use, owners also manage.
        case(
            Method::GET,
            "/v1/organizations/{org_id}/agents",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/agents",
            |_| Some(json!({"name": "Another agent"})),
            member_op!(201, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/agents/{agent_id}",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/agents/{agent_id}",
            |_| Some(json!({"description": "Finds cost spikes"})),
            member_op!(200, 403),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/agents/{agent_id}",
            none,
            member_op!(204, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/connections",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/connections",
            |_| Some(json!({"label": "CRM", "type": "hubspot", "credentials": {"token": "t"}})),
            member_op!(201, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/connections/{connection_id}",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/connections/{connection_id}",
            |_| Some(json!({"label": "Warehouse (prod)"})),
            member_op!(200, 403),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/connections/{connection_id}/credentials",
            |f| Some(json!({"credentials": {"password": f.canaries[2]}})),
            member_op!(204, 403),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/connections/{connection_id}",
            none,
            member_op!(204, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/reports",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/reports",
            |_| Some(json!({"name": "Daily", "definition": {}})),
            member_op!(201, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/reports/{report_id}",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/reports/{report_id}",
            |_| Some(json!({"name": "Weekly costs"})),
            member_op!(200, 403),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/reports/{report_id}",
            none,
            member_op!(204, 403),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/reports/{report_id}/runs",
            none,
            member_op!(202, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/reports/{report_id}/runs",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/reports/{report_id}/schedule",
            |_| Some(json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"})),
            member_op!(200, 403),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/reports/{report_id}/schedule",
            none,
            member_op!(204, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/knowledge-files",
            none,
            member_op!(200, 200),
        ),
        Case {
            method: Method::POST,
            template: "/v1/organizations/{org_id}/knowledge-files",
            body: none,
            service: false,
            upload: true,
            expect: member_op!(201, 403),
        },
        case(
            Method::GET,
            "/v1/organizations/{org_id}/knowledge-files/{file_id}",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/knowledge-files/{file_id}/content",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/knowledge-files/{file_id}",
            none,
            member_op!(204, 403),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/pins",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/pins",
            |f| Some(json!({"item_type": "report", "item_id": f.report})),
            member_op!(201, 201),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/pins/{pin_id}",
            none,
            member_op!(204, 204),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/chats",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/chats",
            |f| Some(json!({"report_run_id": f.run})),
            member_op!(201, 201),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/chats/{chat_id}/messages",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/chats/{chat_id}/messages",
            |_| Some(json!({"content": "Why did costs spike?"})),
            member_op!(201, 201),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/investigations",
            none,
            member_op!(200, 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/investigations",
            |f| Some(json!({"agent_id": f.agent, "question": "What changed?"})),
            member_op!(202, 202),
        ),
    ]
}

/// The path of a case for a caller: each parameter names the fixture's
/// thing of its kind, and for pins and chats the caller's own (the owner's
/// for callers who have none).
pub(crate) fn path(template: &str, f: &Fixture, who: Who) -> String {
    let own = match who {
        Who::Viewer => 1,
        Who::Removed => 2,
        _ => 0,
    };
    template
        .replace("{org_id}", &f.owner.org)
        .replace("{agent_id}", &f.agent)
        .replace("{connection_id}", &f.connection)
        .replace("{report_id}", &f.report)
        .replace("{file_id}", &f.file)
        .replace("{pin_id}", &f.pins[own])
        .replace("{chat_id}", &f.chats[own])
        .replace("{user_id}", &f.spare.id)
        .replace("{invitation_id}", &f.invitation_id)
        .replace("{token}", &f.invitation_token)
        .replace("{session_id}", &f.owner_session)
        .replace("{key}", ROLE_KEY)
}

pub(crate) fn token(who: Who, f: &Fixture) -> Option<&str> {
    match who {
        Who::Anonymous => None,
        Who::Outsider => Some(&f.outsider.token),
        Who::Viewer => Some(&f.viewer.token),
        Who::Owner => Some(&f.owner.token),
        Who::Removed => Some(&f.removed.token),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_for_every_caller() {
    every_operation_for_every_caller_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_for_every_caller_in_memory() {
    every_operation_for_every_caller_on(Backend::Memory).await;
}

async fn every_operation_for_every_caller_on(backend: Backend) {
    let mut failures = Vec::new();
    for case in cases() {
        for who in EVERYONE {
            let f = fixture_on(backend).await;
            let reply = case.call(&f, who).await;
            let expected = (case.expect)(who);
            if reply.status.as_u16() != expected {
                failures.push(format!(
                    "{} {} as {who:?}: expected {expected}, got {} {}",
                    case.method,
                    case.template,
                    reply.status.as_u16(),
                    String::from_utf8_lossy(&reply.bytes)
                ));
            }
            if reply.status.is_client_error() {
                assert_eq!(
                    reply.content_type(),
                    "application/problem+json",
                    "{} {} as {who:?}",
                    case.method,
                    case.template
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_of_the_document_is_in_the_table() {
    let app = TestApp::new().await;
    let document = app.get("/openapi.json", None).await.expect(200).json();
    let table: Vec<(String, String)> = cases()
        .iter()
        .map(|c| (c.method.as_str().to_lowercase(), c.template.to_owned()))
        .collect();
    let mut missing = Vec::new();
    let paths = document["paths"].as_object().expect("paths");
    assert!(
        paths.len() >= 15,
        "the document lists only {} paths",
        paths.len()
    );
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            if !table.contains(&(method.clone(), path.clone())) {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations missing from the authorization table: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outsiders_404_is_byte_identical_to_a_missing_organizations() {
    let f = fixture().await;
    let missing = uuid::Uuid::now_v7();
    for (template, method) in [
        ("/v1/organizations/{}", Method::GET),
        ("/v1/organizations/{}/members", Method::GET),
        ("/v1/organizations/{}/billing", Method::GET),
        ("/v1/organizations/{}/invitations", Method::GET),
        ("/v1/organizations/{}/agents", Method::GET),
        ("/v1/organizations/{}/connections", Method::GET),
        ("/v1/organizations/{}/knowledge-files", Method::GET),
        ("/v1/organizations/{}/chats", Method::GET),
    ] {
        let theirs = f
            .app
            .call(
                method.clone(),
                &template.replace("{}", &f.owner.org),
                Some(&f.outsider.token),
                None,
            )
            .await
            .problem(404, "not_found");
        let nothing = f
            .app
            .call(
                method,
                &template.replace("{}", &missing.to_string()),
                Some(&f.outsider.token),
                None,
            )
            .await
            .problem(404, "not_found");
        assert_eq!(theirs.bytes, nothing.bytes, "{template}");
        assert_eq!(theirs.content_type(), nothing.content_type());
    }
}
