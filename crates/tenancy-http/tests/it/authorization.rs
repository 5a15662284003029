//! One authorization table: every operation of the API × anonymous,
//! outsider, viewer, editor, admin, a custom role's holder, owner, removed
//! member, and the owner and a member of another organization that is
//! pending deletion. A guard test fails when an operation of the OpenAPI
//! document is missing.
//!
//! The expected outcomes come from API.md's matrix, written out below
//! rather than read from the core, so that a wrong policy in the server
//! fails the table. Every call that may change something (a caller the
//! contract lets through, on any method but `GET`) runs on a fresh fixture.
//! The others (refusals and reads) of one row share a fixture, and each of
//! them must leave it as it was: the fixture as the API shows it (the
//! owner's reads of the organization and everything in it, each caller's
//! own account) and the outbox are compared after each such call, and the
//! fixture is rebuilt after a call that went wrong.

use std::collections::BTreeMap;

use futures::StreamExt;
use poem::http::Method;
use serde_json::{Value, json};
use tenancy_core::ports::Clock;

use crate::support::{Backend, Person, Reply, SERVICE_TOKEN, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Anonymous,
    Outsider,
    Viewer,
    Editor,
    Admin,
    /// A member holding the fixture's custom role [`ANALYST`].
    Custom,
    Owner,
    Removed,
    /// The outsider, acting on the organization of its own that is pending
    /// deletion (the fixture's "doomed" organization): only the owner's
    /// reads and the deletion's routes are left to it (API.md "Deleting an
    /// organization").
    PendingOwner,
    /// The removed member, acting on the doomed organization, where it is an
    /// admin: gone for it, as for every member but the owner.
    PendingMember,
}

const EVERYONE: [Who; 10] = [
    Who::Anonymous,
    Who::Outsider,
    Who::Viewer,
    Who::Editor,
    Who::Admin,
    Who::Custom,
    Who::Owner,
    Who::Removed,
    Who::PendingOwner,
    Who::PendingMember,
];

/// API.md's matrix ("Roles and capabilities"), in its order: each
/// capability, and whether owner, admin, editor and viewer hold it.
const MATRIX: [(&str, [bool; 4]); 19] = [
    ("view_resources", [true, true, true, true]),
    ("chat_with_agents", [true, true, true, true]),
    ("run_investigations", [true, true, true, true]),
    ("chat_with_report_results", [true, true, true, true]),
    ("pin_items", [true, true, true, true]),
    ("manage_agents", [true, true, true, false]),
    ("manage_connections", [true, true, true, false]),
    ("manage_reports", [true, true, true, false]),
    ("trigger_report_runs", [true, true, true, false]),
    ("manage_schedules", [true, true, true, false]),
    ("upload_knowledge_files", [true, true, true, false]),
    ("manage_billing", [true, true, false, false]),
    ("manage_members", [true, true, false, false]),
    ("rename_organization", [true, true, false, false]),
    ("manage_roles", [true, true, false, false]),
    ("view_audit_log", [true, true, false, false]),
    ("manage_webhooks", [true, true, false, false]),
    ("delete_organization", [true, false, false, false]),
    ("transfer_ownership", [true, false, false, false]),
];

/// No role but the owner's can ever hold these.
const OWNER_ONLY: [&str; 2] = ["delete_organization", "transfer_ownership"];

/// The custom role that [`Who::Custom`] holds: unlike any built-in role it
/// manages members and reads the audit log without chatting, so its
/// outcomes differ from the viewer's, the editor's and the admin's.
const ANALYST: &[&str] = &[
    "view_resources",
    "pin_items",
    "manage_reports",
    "manage_members",
    "view_audit_log",
];
/// A custom role within [`ANALYST`], held by the fixture's junior member:
/// the one member the custom role's holder may act on.
const REVIEWER: &[&str] = &["view_resources", "manage_reports"];
/// A custom role that nobody holds, to edit and delete.
const ARCHIVED: &[&str] = &["view_resources"];

/// The capabilities of a role of the fixture's organization, by key.
fn role(key: &str) -> Option<Vec<&'static str>> {
    let column = match key {
        "owner" => 0,
        "admin" => 1,
        "editor" => 2,
        "viewer" => 3,
        "analyst" => return Some(ANALYST.to_vec()),
        "reviewer" => return Some(REVIEWER.to_vec()),
        "archived" => return Some(ARCHIVED.to_vec()),
        _ => return None,
    };
    Some(
        MATRIX
            .iter()
            .filter(|(_, holders)| holders[column])
            .map(|(capability, _)| *capability)
            .collect(),
    )
}

fn is_builtin(key: &str) -> bool {
    matches!(key, "owner" | "admin" | "editor" | "viewer")
}

impl Who {
    /// The caller's role in the fixture's organization, if a member.
    fn role(self) -> Option<&'static str> {
        match self {
            Self::Viewer => Some("viewer"),
            Self::Editor => Some("editor"),
            Self::Admin => Some("admin"),
            Self::Custom => Some("analyst"),
            Self::Owner => Some("owner"),
            Self::Anonymous
            | Self::Outsider
            | Self::Removed
            | Self::PendingOwner
            | Self::PendingMember => None,
        }
    }

    fn holds(self, capability: &str) -> bool {
        self.role()
            .and_then(role)
            .is_some_and(|capabilities| capabilities.contains(&capability))
    }

    fn holds_all(self, capabilities: &[&str]) -> bool {
        capabilities.iter().all(|c| self.holds(c))
    }
}

/// The member a row's `{user_id}` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A viewer, whose password the reset link of the fixture resets.
    Spare,
    /// A holder of [`REVIEWER`].
    Junior,
    Editor,
    Admin,
    Custom,
    Owner,
}

impl Target {
    fn role(self) -> &'static str {
        match self {
            Self::Spare => "viewer",
            Self::Junior => "reviewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
            Self::Custom => "analyst",
            Self::Owner => "owner",
        }
    }

    fn is(self, who: Who) -> bool {
        matches!(
            (self, who),
            (Self::Editor, Who::Editor)
                | (Self::Admin, Who::Admin)
                | (Self::Custom, Who::Custom)
                | (Self::Owner, Who::Owner)
        )
    }
}

/// What a caller should get: a status and, for a refusal, its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub status: u16,
    pub code: Option<&'static str>,
}

const fn ok(status: u16) -> Outcome {
    Outcome { status, code: None }
}

const fn refused(status: u16, code: &'static str) -> Outcome {
    Outcome {
        status,
        code: Some(code),
    }
}

const UNAUTHENTICATED: Outcome = refused(401, "unauthenticated");
const NOT_FOUND: Outcome = refused(404, "not_found");
const FORBIDDEN: Outcome = refused(403, "forbidden");

/// Authentication, then access to the organization, then the capability
/// (API.md's validation order).
fn gate(who: Who, capability: &str) -> Result<(), Outcome> {
    match who {
        Who::Anonymous => Err(UNAUTHENTICATED),
        Who::Outsider | Who::Removed | Who::PendingOwner | Who::PendingMember => Err(NOT_FOUND),
        _ if !who.holds(capability) => Err(FORBIDDEN),
        _ => Ok(()),
    }
}

/// Accepting or declining the fixture's transfer: its target alone, the
/// admin; every other member is refused.
fn transfer_target(who: Who, status: u16) -> Outcome {
    match gate(who, "view_resources") {
        Err(refusal) => refusal,
        Ok(()) if who == Who::Admin => ok(status),
        Ok(()) => FORBIDDEN,
    }
}

/// How the contract answers each caller of a row.
#[derive(Clone, Copy)]
pub(crate) enum Rule {
    /// No authentication: everyone gets the same.
    Public(u16),
    /// Every signed-in caller gets this; anonymous callers 401.
    SignedIn(Outcome),
    /// A member holding the capability gets the status.
    Member(&'static str, u16),
    /// `DELETE .../members/{user_id}`.
    Remove(Target),
    /// `PUT .../members/{user_id}/role` with this role.
    ChangeRole(Target, &'static str),
    /// `POST .../invitations` with this role (`None`: the default, viewer).
    Invite(Option<&'static str>),
    /// `POST .../roles` with these capabilities.
    CreateRole(&'static [&'static str]),
    /// `PATCH .../roles/{key}`.
    UpdateRole(&'static str),
    /// `DELETE .../roles/{key}`.
    DeleteRole(&'static str),
    /// `PUT .../billing/plan` with a member's session and this plan.
    ChangePlan(&'static str),
    /// Anything else.
    Other(fn(Who) -> Outcome),
}

impl Rule {
    pub(crate) fn expect(self, who: Who) -> Outcome {
        self.judge(who).unwrap_or_else(|refusal| refusal)
    }

    fn judge(self, who: Who) -> Result<Outcome, Outcome> {
        match self {
            Self::Public(status) => Ok(ok(status)),
            Self::SignedIn(_) if who == Who::Anonymous => Err(UNAUTHENTICATED),
            Self::SignedIn(outcome) => Ok(outcome),
            Self::Member(capability, status) => gate(who, capability).map(|()| ok(status)),
            Self::Remove(target) => {
                gate(who, "manage_members")?;
                if target == Target::Owner {
                    return Err(refused(409, "owner_cannot_be_removed"));
                }
                // API.md does not say what removing oneself by this route
                // answers (leaving is its own route): the table does not ask.
                assert!(
                    !target.is(who),
                    "{who:?} removing itself is not in the table"
                );
                if !who.holds_all(&role(target.role()).unwrap_or_default()) {
                    return Err(FORBIDDEN);
                }
                Ok(ok(204))
            }
            Self::ChangeRole(target, new) => {
                gate(who, "manage_members")?;
                if target == Target::Owner {
                    return Err(refused(409, "owner_role_immutable"));
                }
                let assignable = new != "owner"
                    && role(new).is_some_and(|c| who.holds_all(&c))
                    && who.holds_all(&role(target.role()).unwrap_or_default());
                if target.is(who) {
                    // API.md does not order `cannot_change_own_role` against
                    // `role_not_assignable`: the table asks neither together.
                    assert!(assignable, "{who:?} changing its own role to `{new}`");
                    return Err(refused(409, "cannot_change_own_role"));
                }
                if !assignable {
                    return Err(refused(403, "role_not_assignable"));
                }
                Ok(ok(200))
            }
            Self::Invite(key) => {
                gate(who, "manage_members")?;
                let key = key.unwrap_or("viewer");
                if key == "owner" || !role(key).is_some_and(|c| who.holds_all(&c)) {
                    return Err(refused(403, "role_not_assignable"));
                }
                Ok(ok(201))
            }
            Self::CreateRole(capabilities) => {
                gate(who, "manage_roles")?;
                if capabilities.iter().any(|c| OWNER_ONLY.contains(c))
                    || !who.holds_all(capabilities)
                {
                    return Err(refused(403, "capability_not_grantable"));
                }
                Ok(ok(201))
            }
            Self::UpdateRole(key) | Self::DeleteRole(key) => {
                gate(who, "manage_roles")?;
                if is_builtin(key) {
                    return Err(refused(409, "role_builtin"));
                }
                if !who.holds_all(&role(key).unwrap_or_default()) {
                    return Err(refused(403, "capability_not_grantable"));
                }
                let held = matches!(key, "analyst" | "reviewer");
                match self {
                    Self::DeleteRole(_) if held => Err(refused(409, "role_in_use")),
                    Self::DeleteRole(_) => Ok(ok(204)),
                    _ => Ok(ok(200)),
                }
            }
            Self::ChangePlan(plan) => {
                gate(who, "manage_billing")?;
                if plan == "enterprise" {
                    return Err(refused(403, "plan_not_selectable"));
                }
                Ok(ok(200))
            }
            Self::Other(expect) => Ok(expect(who)),
        }
    }
}

pub(crate) struct Fixture {
    pub app: TestApp,
    owner: Person,
    viewer: Person,
    editor: Person,
    admin: Person,
    custom: Person,
    junior: Person,
    outsider: Person,
    removed: Person,
    spare: Person,
    invitation_id: String,
    invitation_token: String,
    /// The outsider's organization pending deletion, in which the removed
    /// member is an admin; named as the fixture's organization, so that a
    /// row's `confirm_name` fits both.
    doomed: String,
    /// The owner's session, which only the owner may end.
    owner_session: String,
    /// The open links of an unverified account's verification email and of
    /// the spare member's password reset.
    verification_token: String,
    reset_token: String,
    agent: String,
    /// A webhook of the organization, and a test delivery of it.
    webhook: String,
    delivery: String,
    connection: String,
    report: String,
    run: String,
    file: String,
    /// Each member's own pin and chat, made while they were members, in the
    /// order of [`own`]; the custom role's holder made its chat as a viewer.
    pins: [String; 6],
    chats: [String; 6],
    /// Random secrets in the connection's credentials, set at creation and
    /// by the rotation case: no response, log or table may show them.
    pub canaries: [String; 3],
}

/// The index of a caller's own pin and chat in the fixture (the owner's for
/// callers who have none).
fn own(who: Who) -> usize {
    match who {
        Who::Viewer => 1,
        Who::Removed => 2,
        Who::Editor => 3,
        Who::Admin => 4,
        Who::Custom => 5,
        Who::Anonymous | Who::Outsider | Who::Owner | Who::PendingOwner | Who::PendingMember => 0,
    }
}

/// The custom role that a row's `{key}` names unless it says otherwise.
const ROLE_KEY: &str = "archived";

/// A person who signs up from the link of an invitation into the owner's
/// organization with the role `key`.
async fn join(app: &TestApp, owner: &Person, key: &str, email: String) -> Person {
    let (_, token) = app.invite_as(owner, &owner.org, &email, Some(key)).await;
    let body = app
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": email, "password": "correct horse battery", "invitation_token": token}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(body["invitation"]["status"], "accepted", "{body}");
    assert_eq!(body["user"]["email_verified"], true, "{body}");
    Person {
        id: body["user"]["id"].as_str().unwrap().to_owned(),
        email,
        token: body["token"].as_str().unwrap().to_owned(),
        org: body["default_organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

pub(crate) async fn fixture() -> Fixture {
    fixture_on(Backend::Sqlite).await
}

pub(crate) async fn fixture_on(backend: Backend) -> Fixture {
    let app = backend.app().await;
    let owner = app.sign_up("owner@example.com").await;
    let org = owner.org.clone();
    let base = format!("/v1/organizations/{org}");
    let roles = format!("{base}/roles");
    let created = futures::future::join_all(
        [
            ("analyst", "Analyst", ANALYST),
            ("reviewer", "Reviewer", REVIEWER),
            (ROLE_KEY, "Archived", ARCHIVED),
        ]
        .map(|(key, name, capabilities)| {
            app.post(
                &roles,
                Some(&owner.token),
                json!({"key": key, "name": name, "capabilities": capabilities}),
            )
        }),
    )
    .await;
    for reply in created {
        reply.expect(201);
    }
    // The members join at once, each signing up from its invitation's link
    // (which accepts it and verifies the address in one request): password
    // hashing dominates a fixture, and hashes run side by side.
    // The custom role's holder joins as a viewer to open a chat of its own,
    // then is given the custom role, which cannot chat.
    let (members, outsider, unverified) = tokio::join!(
        futures::future::join_all(
            [
                ("viewer", "viewer"),
                ("spare", "viewer"),
                ("removed", "viewer"),
                ("editor", "editor"),
                ("admin", "admin"),
                ("custom", "viewer"),
                ("junior", "reviewer"),
            ]
            .map(|(name, key)| join(&app, &owner, key, format!("{name}@example.com"))),
        ),
        app.sign_up("outsider@example.com"),
        app.sign_up_unverified("unverified@example.com"),
    );
    let [viewer, spare, removed, editor, admin, custom, junior] = members.try_into().unwrap();
    let canaries = [(); 3].map(|()| format!("canary{}", uuid::Uuid::now_v7().simple()));
    let (connections, reports, files) = (
        format!("{base}/connections"),
        format!("{base}/reports"),
        format!("{base}/knowledge-files"),
    );
    let (connection, report, file) = tokio::join!(
        app.create(
            &connections,
            &owner.token,
            json!({
                "label": "Warehouse",
                "type": "postgres",
                "credentials": {"password": canaries[0], "api_key": canaries[1]}
            }),
            201,
        ),
        app.create(
            &reports,
            &owner.token,
            json!({"name": "Weekly", "definition": {"query": "select 1"}}),
            201,
        ),
        async {
            app.upload(
                &files,
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
                .to_owned()
        },
    );
    let (agents, runs) = (
        format!("{base}/agents"),
        format!("{base}/reports/{report}/runs"),
    );
    let (agent, run) = tokio::join!(
        app.create(
            &agents,
            &owner.token,
            json!({"name": "Cost bot", "connection_ids": [connection]}),
            201,
        ),
        app.create(&runs, &owner.token, json!({}), 202,),
    );
    let (pins, chats): (Vec<String>, Vec<String>) = futures::future::join_all(
        [&owner, &viewer, &removed, &editor, &admin, &custom].map(|person| async {
            let pin = app
                .create(
                    &format!("{base}/pins"),
                    &person.token,
                    json!({"item_type": "agent", "item_id": agent}),
                    201,
                )
                .await;
            let chat = app
                .create(
                    &format!("{base}/chats"),
                    &person.token,
                    json!({"agent_id": agent}),
                    201,
                )
                .await;
            (pin, chat)
        }),
    )
    .await
    .into_iter()
    .unzip();
    let changed = app
        .call(
            Method::PUT,
            &format!("{base}/members/{}/role", custom.id),
            Some(&owner.token),
            Some(json!({"role": "analyst"})),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(changed["role"], "analyst", "{changed}");
    app.call(
        Method::DELETE,
        &format!("{base}/members/{}", removed.id),
        Some(&owner.token),
        None,
    )
    .await
    .expect(204);
    let (invitation_id, invitation_token) = app.invite(&owner, &org, "pending@example.com").await;
    // The owner keeps an organization of its own beside this one, so that
    // it may offer or delete this one; this one stays its active one. It has
    // offered the ownership to the admin.
    app.create(
        "/v1/organizations",
        &owner.token,
        json!({"name": "Spare"}),
        201,
    )
    .await;
    app.call(
        Method::PUT,
        "/v1/me/active-organization",
        Some(&owner.token),
        Some(json!({"organization_id": org})),
    )
    .await
    .expect(200);
    app.post(
        &format!("{base}/ownership-transfer"),
        Some(&owner.token),
        json!({"user_id": admin.id}),
    )
    .await
    .expect(201);
    // The doomed organization: the outsider's, with the removed member as
    // an admin, pending deletion.
    let name = organization_name(&owner);
    let doomed = app
        .create(
            "/v1/organizations",
            &outsider.token,
            json!({"name": name}),
            201,
        )
        .await;
    let (_, token) = app
        .invite_as(&outsider, &doomed, &removed.email, Some("admin"))
        .await;
    app.post(
        "/v1/invitations/accept",
        Some(&removed.token),
        json!({"token": token}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/v1/organizations/{doomed}/deletion"),
        Some(&outsider.token),
        json!({"confirm_name": name}),
    )
    .await
    .expect(202);
    let owner_session = app
        .get("/v1/me/sessions", Some(&owner.token))
        .await
        .expect(200)
        .json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verification_token = app.link_token(&unverified.email, "verify_email").await;
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({"email": spare.email}),
    )
    .await
    .expect(202);
    let reset_token = app.link_token(&spare.email, "reset_password").await;
    let webhook = app
        .create(
            &format!("{base}/webhooks"),
            &owner.token,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["member.*"]}),
            201,
        )
        .await;
    let delivery = app
        .post(
            &format!("{base}/webhooks/{webhook}/test"),
            Some(&owner.token),
            json!({}),
        )
        .await
        .expect(202)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture {
        webhook,
        delivery,
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
        editor,
        admin,
        custom,
        junior,
        outsider,
        removed,
        spare,
        invitation_id,
        invitation_token,
        doomed,
    }
}

/// The name of the fixture's organization: its owner's default one.
fn organization_name(owner: &Person) -> String {
    format!("{}'s organization", owner.email)
}

impl Fixture {
    fn person(&self, who: Who) -> Option<&Person> {
        match who {
            Who::Anonymous => None,
            Who::Outsider => Some(&self.outsider),
            Who::Viewer => Some(&self.viewer),
            Who::Editor => Some(&self.editor),
            Who::Admin => Some(&self.admin),
            Who::Custom => Some(&self.custom),
            Who::Owner => Some(&self.owner),
            Who::Removed | Who::PendingMember => Some(&self.removed),
            Who::PendingOwner => Some(&self.outsider),
        }
    }

    fn target(&self, target: Target) -> &Person {
        match target {
            Target::Spare => &self.spare,
            Target::Junior => &self.junior,
            Target::Editor => &self.editor,
            Target::Admin => &self.admin,
            Target::Custom => &self.custom,
            Target::Owner => &self.owner,
        }
    }

    /// Everything the fixture holds that a caller could change, as its
    /// owner, each signed-in caller and the outbox see it: what a call
    /// that changes nothing leaves as it was.
    async fn view(&self) -> BTreeMap<String, String> {
        let base = format!("/v1/organizations/{}", self.owner.org);
        let mut paths: Vec<(Who, String)> = [
            base.clone(),
            format!("{base}/members"),
            format!("{base}/invitations?status=all"),
            format!("{base}/roles"),
            format!("{base}/billing"),
            format!("{base}/agents"),
            format!("{base}/connections"),
            format!("{base}/reports"),
            format!("{base}/reports/{}/runs", self.report),
            format!("{base}/knowledge-files"),
            format!("{base}/investigations"),
            format!("{base}/pins"),
            format!("{base}/chats"),
            format!("{base}/chats/{}/messages", self.chats[0]),
            format!("{base}/ownership-transfer"),
        ]
        .into_iter()
        .map(|path| (Who::Owner, path))
        .collect();
        let doomed = format!("/v1/organizations/{}", self.doomed);
        paths.push((Who::PendingOwner, doomed.clone()));
        paths.push((Who::PendingOwner, format!("{doomed}/deletion")));
        paths.push((
            Who::Anonymous,
            format!("/v1/invitations/{}", self.invitation_token),
        ));
        // The pending callers are the outsider and the removed member.
        for who in EVERYONE {
            if !matches!(who, Who::Anonymous | Who::PendingOwner | Who::PendingMember) {
                for path in [
                    "/v1/me",
                    "/v1/me/sessions",
                    "/v1/organizations",
                    "/v1/me/active-organization",
                ] {
                    paths.push((who, path.to_owned()));
                }
            }
        }
        let mut view = BTreeMap::new();
        for (who, path) in paths {
            let token = self.person(who).map(|p| p.token.as_str());
            let reply = self.app.get(&path, token).await;
            view.insert(
                format!("GET {path} as {who:?}"),
                format!(
                    "{} {}",
                    reply.status.as_u16(),
                    String::from_utf8_lossy(&reply.bytes)
                ),
            );
        }
        let far = self.app.clock.now() + chrono::Duration::days(3650);
        let mut mails: Vec<String> = self
            .app
            .outbox
            .due(far, usize::MAX)
            .await
            .unwrap()
            .iter()
            .map(|queued| format!("{} to {}", queued.mail.id, queued.mail.to.as_str()))
            .collect();
        mails.sort();
        view.insert("the outbox".to_owned(), mails.join(", "));
        view
    }
}

/// One operation: how to call it, and the outcome each caller gets.
pub(crate) struct Case {
    pub method: Method,
    /// The path template as in the OpenAPI document.
    pub template: &'static str,
    pub body: fn(&Fixture) -> Option<Value>,
    /// The token used instead of the caller's session (the service token).
    pub service: bool,
    /// Sent as a multipart upload of a small file instead of JSON.
    pub upload: bool,
    pub rule: Rule,
}

impl Case {
    /// Runs the case as `who` on the fixture: their token (or the service
    /// token), the path with the fixture's ids, the body or an upload.
    pub(crate) async fn call(&self, f: &Fixture, who: Who) -> Reply {
        let path = self.path(f, who);
        let token = if self.service {
            Some(SERVICE_TOKEN)
        } else {
            f.person(who).map(|p| p.token.as_str())
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

    /// The path for a caller: each parameter names the fixture's thing of
    /// its kind, and for pins and chats the caller's own.
    fn path(&self, f: &Fixture, who: Who) -> String {
        let org = match who {
            Who::PendingOwner | Who::PendingMember => &f.doomed,
            _ => &f.owner.org,
        };
        self.template
            .replace("{org_id}", org)
            .replace("{agent_id}", &f.agent)
            .replace("{webhook_id}", &f.webhook)
            .replace("{delivery_id}", &f.delivery)
            .replace("{connection_id}", &f.connection)
            .replace("{report_id}", &f.report)
            .replace("{file_id}", &f.file)
            .replace("{pin_id}", &f.pins[own(who)])
            .replace("{chat_id}", &f.chats[own(who)])
            .replace("{user_id}", &f.target(self.target()).id)
            .replace("{invitation_id}", &f.invitation_id)
            .replace("{token}", &f.invitation_token)
            .replace("{session_id}", &f.owner_session)
            .replace("{key}", self.key())
    }

    /// The member `{user_id}` names: the one the rule acts on, else the
    /// spare viewer.
    fn target(&self) -> Target {
        match self.rule {
            Rule::Remove(target) | Rule::ChangeRole(target, _) => target,
            _ => Target::Spare,
        }
    }

    /// The role `{key}` names: the one the rule edits or deletes.
    fn key(&self) -> &'static str {
        match self.rule {
            Rule::UpdateRole(key) | Rule::DeleteRole(key) => key,
            _ => ROLE_KEY,
        }
    }

    /// What `who` gets. On the doomed organization its member gets 404
    /// and its owner 409 on everything but what API.md leaves to it;
    /// anywhere else the pending callers are the people they are, outsiders
    /// to the fixture's organization. The service token acts in the doomed
    /// organization as in any other: nothing in API.md holds it back.
    pub(crate) fn expect(&self, who: Who) -> Outcome {
        let on_organization = self.template.starts_with("/v1/organizations/{org_id}");
        match who {
            Who::PendingMember if on_organization && !self.service => NOT_FOUND,
            Who::PendingOwner if on_organization && !self.service => self.pending_owner(),
            Who::PendingMember | Who::PendingOwner => self.rule.expect(Who::Outsider),
            _ => self.rule.expect(who),
        }
    }

    /// What the owner of an organization pending deletion gets on a route
    /// of it: it reads the organization and its deletion, and restores it.
    fn pending_owner(&self) -> Outcome {
        let get = self.method == Method::GET;
        match self.template {
            "/v1/organizations/{org_id}" if get => ok(200),
            "/v1/organizations/{org_id}/deletion" if get || self.method == Method::DELETE => {
                ok(200)
            }
            "/v1/organizations/{org_id}/deletion" if self.method == Method::POST => {
                refused(409, "deletion_pending")
            }
            _ => refused(409, "organization_pending_deletion"),
        }
    }

    /// Whether the call may change the fixture: then it runs on a fresh one.
    fn may_change(&self, who: Who) -> bool {
        self.method != Method::GET && self.expect(who).status < 400
    }

    fn service(self) -> Self {
        Self {
            service: true,
            ..self
        }
    }

    fn upload(self) -> Self {
        Self {
            upload: true,
            ..self
        }
    }

    /// The differences between the reply and the contract, if any.
    fn check(&self, who: Who, reply: &Reply) -> Option<String> {
        let expected = self.expect(who);
        let status = reply.status.as_u16();
        let body = reply.json();
        let mut wrong = status != expected.status;
        if let Some(code) = expected.code {
            wrong |= body["code"] != code;
        }
        if reply.status.is_client_error() && reply.content_type() != "application/problem+json" {
            wrong = true;
        }
        wrong.then(|| {
            format!(
                "{} {} as {who:?}: expected {}{}, got {status} {} {}",
                self.method,
                self.template,
                expected.status,
                expected.code.map(|c| format!(" `{c}`")).unwrap_or_default(),
                reply.content_type(),
                String::from_utf8_lossy(&reply.bytes)
            )
        })
    }
}

fn none(_: &Fixture) -> Option<Value> {
    None
}

fn case(
    method: Method,
    template: &'static str,
    body: fn(&Fixture) -> Option<Value>,
    rule: Rule,
) -> Case {
    Case {
        method,
        template,
        body,
        service: false,
        upload: false,
        rule,
    }
}

use Rule::{Member, SignedIn};

pub(crate) fn cases() -> Vec<Case> {
    vec![
        case(
            Method::POST,
            "/v1/auth/signup",
            |_| Some(json!({"email": "new@example.com", "password": "long enough pass"})),
            Rule::Public(201),
        ),
        case(
            Method::POST,
            "/v1/auth/signin",
            |f| Some(json!({"email": f.owner.email, "password": "correct horse battery"})),
            Rule::Public(200),
        ),
        case(Method::POST, "/v1/auth/signout", none, SignedIn(ok(204))),
        case(Method::GET, "/v1/me", none, SignedIn(ok(200))),
        // Every caller's address is verified already.
        case(
            Method::POST,
            "/v1/me/verification-email",
            none,
            SignedIn(refused(409, "already_verified")),
        ),
        case(
            Method::POST,
            "/v1/auth/verify-email",
            |f| Some(json!({"token": f.verification_token})),
            Rule::Public(200),
        ),
        case(
            Method::POST,
            "/v1/auth/password-reset",
            |f| Some(json!({"email": f.owner.email})),
            Rule::Public(202),
        ),
        case(
            Method::POST,
            "/v1/auth/password-reset/confirm",
            |f| Some(json!({"token": f.reset_token, "password": "a brand new secret"})),
            Rule::Public(204),
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
            SignedIn(ok(204)),
        ),
        case(Method::GET, "/v1/me/sessions", none, SignedIn(ok(200))),
        // The owner's session: anyone else's id for it is not found.
        case(
            Method::DELETE,
            "/v1/me/sessions/{session_id}",
            none,
            Rule::Other(|who| match who {
                Who::Anonymous => UNAUTHENTICATED,
                Who::Owner => ok(204),
                _ => NOT_FOUND,
            }),
        ),
        case(Method::GET, "/v1/organizations", none, SignedIn(ok(200))),
        case(
            Method::POST,
            "/v1/organizations",
            |_| Some(json!({"name": "Another"})),
            SignedIn(ok(201)),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}",
            |_| Some(json!({"name": "Renamed"})),
            Member("rename_organization", 200),
        ),
        case(
            Method::GET,
            "/v1/me/active-organization",
            none,
            SignedIn(ok(200)),
        ),
        case(
            Method::PUT,
            "/v1/me/active-organization",
            |f| Some(json!({"organization_id": f.owner.org})),
            Member("view_resources", 200),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/members",
            none,
            Member("manage_members", 200),
        ),
        // Removing needs every capability of the member's role (D14).
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/members/{user_id}",
            none,
            Rule::Remove(Target::Spare),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/members/{user_id}",
            none,
            Rule::Remove(Target::Junior),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/members/{user_id}",
            none,
            Rule::Remove(Target::Editor),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/members/{user_id}",
            none,
            Rule::Remove(Target::Owner),
        ),
        // Every member may leave but the owner.
        case(
            Method::POST,
            "/v1/organizations/{org_id}/leave",
            none,
            Rule::Other(|who| match gate(who, "view_resources") {
                Err(refusal) => refusal,
                Ok(()) if who == Who::Owner => refused(409, "owner_cannot_leave"),
                Ok(()) => ok(204),
            }),
        ),
        // Changing a role needs every capability of the current and the
        // new role (D14).
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "editor"})),
            Rule::ChangeRole(Target::Spare, "editor"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "owner"})),
            Rule::ChangeRole(Target::Spare, "owner"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "nonexistent"})),
            Rule::ChangeRole(Target::Spare, "nonexistent"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "analyst"})),
            Rule::ChangeRole(Target::Junior, "analyst"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "viewer"})),
            Rule::ChangeRole(Target::Junior, "viewer"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "viewer"})),
            Rule::ChangeRole(Target::Admin, "viewer"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "reviewer"})),
            Rule::ChangeRole(Target::Custom, "reviewer"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/members/{user_id}/role",
            |_| Some(json!({"role": "admin"})),
            Rule::ChangeRole(Target::Owner, "admin"),
        ),
        // Inviting with a role needs every capability of the role (D14),
        // the default role (viewer) included: the custom role's holder lacks
        // `chat_with_agents` and the rest of the viewer's capabilities.
        case(
            Method::POST,
            "/v1/organizations/{org_id}/invitations",
            |_| Some(json!({"email": "someone@example.com"})),
            Rule::Invite(None),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/invitations",
            |_| Some(json!({"email": "someone@example.com", "role": "viewer"})),
            Rule::Invite(Some("viewer")),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/invitations",
            |_| Some(json!({"email": "someone@example.com", "role": "reviewer"})),
            Rule::Invite(Some("reviewer")),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/invitations",
            |_| Some(json!({"email": "someone@example.com", "role": "admin"})),
            Rule::Invite(Some("admin")),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/invitations",
            |_| Some(json!({"email": "someone@example.com", "role": "owner"})),
            Rule::Invite(Some("owner")),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/invitations",
            none,
            Member("manage_members", 200),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/invitations/{invitation_id}",
            none,
            Member("manage_members", 204),
        ),
        // Resending keeps the invitation's role, which the caller must be
        // able to give (D14): the custom role's holder lacks the viewer's.
        case(
            Method::POST,
            "/v1/organizations/{org_id}/invitations/{invitation_id}/resend",
            none,
            Rule::Other(|who| match gate(who, "manage_members") {
                Err(refusal) => refusal,
                Ok(()) if !who.holds_all(&role("viewer").unwrap_or_default()) => {
                    refused(403, "role_not_assignable")
                }
                Ok(()) => ok(200),
            }),
        ),
        // The owner has offered the ownership to the admin; a new offer
        // replaces it.
        case(
            Method::POST,
            "/v1/organizations/{org_id}/ownership-transfer",
            |f| Some(json!({"user_id": f.spare.id})),
            Member("transfer_ownership", 201),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/ownership-transfer",
            none,
            Rule::Other(|who| match gate(who, "view_resources") {
                Err(refusal) => refusal,
                Ok(()) if matches!(who, Who::Owner | Who::Admin) => ok(200),
                Ok(()) => NOT_FOUND,
            }),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/ownership-transfer",
            none,
            Member("transfer_ownership", 204),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/ownership-transfer/accept",
            none,
            Rule::Other(|who| transfer_target(who, 200)),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/ownership-transfer/decline",
            none,
            Rule::Other(|who| transfer_target(who, 204)),
        ),
        // Nothing is pending deletion in the fixture's organization.
        case(
            Method::POST,
            "/v1/organizations/{org_id}/deletion",
            |f| Some(json!({"confirm_name": organization_name(&f.owner)})),
            Member("delete_organization", 202),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/deletion",
            none,
            Rule::Other(|who| gate(who, "delete_organization").map_or_else(|r| r, |()| NOT_FOUND)),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/deletion",
            none,
            Rule::Other(|who| gate(who, "delete_organization").map_or_else(|r| r, |()| NOT_FOUND)),
        ),
        // Webhooks: `manage_webhooks` for everything.
        case(
            Method::POST,
            "/v1/organizations/{org_id}/webhooks",
            |_| Some(json!({"url": "http://127.0.0.1:9/other", "events": ["*"]})),
            Member("manage_webhooks", 201),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/webhooks",
            none,
            Member("manage_webhooks", 200),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/webhooks/{webhook_id}",
            none,
            Member("manage_webhooks", 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/webhooks/{webhook_id}",
            |_| Some(json!({"description": "Our CRM", "enabled": false})),
            Member("manage_webhooks", 200),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/webhooks/{webhook_id}",
            none,
            Member("manage_webhooks", 204),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/webhooks/{webhook_id}/rotate-secret",
            |_| Some(json!({})),
            Member("manage_webhooks", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/webhooks/{webhook_id}/test",
            |_| Some(json!({})),
            Member("manage_webhooks", 202),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/webhooks/{webhook_id}/deliveries",
            none,
            Member("manage_webhooks", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            |_| Some(json!({})),
            Member("manage_webhooks", 202),
        ),
        // The audit log: read and exported with `view_audit_log` only.
        case(
            Method::GET,
            "/v1/organizations/{org_id}/audit-log",
            none,
            Member("view_audit_log", 200),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/audit-log/export",
            none,
            Member("view_audit_log", 200),
        ),
        case(
            Method::GET,
            "/v1/invitations/{token}",
            none,
            Rule::Public(200),
        ),
        // The pending invitation is for another email than any caller's.
        case(
            Method::POST,
            "/v1/invitations/accept",
            |f| Some(json!({"token": f.invitation_token})),
            SignedIn(refused(403, "invitation_email_mismatch")),
        ),
        case(Method::GET, "/v1/plans", none, Rule::Public(200)),
        case(Method::GET, "/v1/roles", none, Rule::Public(200)),
        // Custom roles: every member lists them, `manage_roles` manages them,
        // and nobody puts an owner-only capability into one (D14).
        case(
            Method::GET,
            "/v1/organizations/{org_id}/roles",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/roles",
            |_| {
                Some(
                    json!({"key": "auditor", "name": "Auditor", "capabilities": ["view_resources"]}),
                )
            },
            Rule::CreateRole(&["view_resources"]),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/roles",
            |_| {
                Some(json!({
                    "key": "deleter",
                    "name": "Deleter",
                    "capabilities": ["view_resources", "delete_organization"]
                }))
            },
            Rule::CreateRole(&["view_resources", "delete_organization"]),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/roles",
            |_| {
                Some(json!({
                    "key": "heir",
                    "name": "Heir",
                    "capabilities": ["view_resources", "transfer_ownership"]
                }))
            },
            Rule::CreateRole(&["view_resources", "transfer_ownership"]),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/roles/{key}",
            |_| Some(json!({"name": "Old"})),
            Rule::UpdateRole(ROLE_KEY),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/roles/{key}",
            |_| Some(json!({"name": "Reader"})),
            Rule::UpdateRole("viewer"),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/roles/{key}",
            none,
            Rule::DeleteRole(ROLE_KEY),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/roles/{key}",
            none,
            Rule::DeleteRole("reviewer"),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/roles/{key}",
            none,
            Rule::DeleteRole("viewer"),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/billing",
            none,
            Member("manage_billing", 200),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/billing/plan",
            |_| Some(json!({"plan": "pro"})),
            Rule::ChangePlan("pro"),
        ),
        // Only the host's billing system sets a plan that is not self-serve.
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/billing/plan",
            |_| Some(json!({"plan": "enterprise"})),
            Rule::ChangePlan("enterprise"),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/billing/plan",
            |_| Some(json!({"plan": "enterprise"})),
            Rule::Public(200),
        )
        .service(),
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
            Rule::Other(|_| UNAUTHENTICATED),
        ),
        case(
            Method::POST,
            "/v1/authorize",
            |f| {
                Some(json!({
                    "user_id": f.viewer.id,
                    "organization_id": f.owner.org,
                    "capability": "view_resources"
                }))
            },
            Rule::Public(200),
        )
        .service(),
        case(Method::GET, "/healthz", none, Rule::Public(200)),
        case(Method::GET, "/readyz", none, Rule::Public(200)),
        // Resources (API.md: "Reading needs `view_resources`; writing needs
        // the capability named").
        case(
            Method::GET,
            "/v1/organizations/{org_id}/agents",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/agents",
            |_| Some(json!({"name": "Another agent"})),
            Member("manage_agents", 201),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/agents/{agent_id}",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/agents/{agent_id}",
            |_| Some(json!({"description": "Finds cost spikes"})),
            Member("manage_agents", 200),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/agents/{agent_id}",
            none,
            Member("manage_agents", 204),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/connections",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/connections",
            |_| Some(json!({"label": "CRM", "type": "hubspot", "credentials": {"token": "t"}})),
            Member("manage_connections", 201),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/connections/{connection_id}",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/connections/{connection_id}",
            |_| Some(json!({"label": "Warehouse (prod)"})),
            Member("manage_connections", 200),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/connections/{connection_id}/credentials",
            |f| Some(json!({"credentials": {"password": f.canaries[2]}})),
            Member("manage_connections", 204),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/connections/{connection_id}",
            none,
            Member("manage_connections", 204),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/reports",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/reports",
            |_| Some(json!({"name": "Daily", "definition": {}})),
            Member("manage_reports", 201),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/reports/{report_id}",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::PATCH,
            "/v1/organizations/{org_id}/reports/{report_id}",
            |_| Some(json!({"name": "Weekly costs"})),
            Member("manage_reports", 200),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/reports/{report_id}",
            none,
            Member("manage_reports", 204),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/reports/{report_id}/runs",
            none,
            Member("trigger_report_runs", 202),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/reports/{report_id}/runs",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::PUT,
            "/v1/organizations/{org_id}/reports/{report_id}/schedule",
            |_| Some(json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"})),
            Member("manage_schedules", 200),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/reports/{report_id}/schedule",
            none,
            Member("manage_schedules", 204),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/knowledge-files",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/knowledge-files",
            none,
            Member("upload_knowledge_files", 201),
        )
        .upload(),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/knowledge-files/{file_id}",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/knowledge-files/{file_id}/content",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/knowledge-files/{file_id}",
            none,
            Member("upload_knowledge_files", 204),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/pins",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/pins",
            |f| Some(json!({"item_type": "report", "item_id": f.report})),
            Member("pin_items", 201),
        ),
        case(
            Method::DELETE,
            "/v1/organizations/{org_id}/pins/{pin_id}",
            none,
            Member("pin_items", 204),
        ),
        case(
            Method::GET,
            "/v1/organizations/{org_id}/chats",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/chats",
            |f| Some(json!({"report_run_id": f.run})),
            Member("chat_with_report_results", 201),
        ),
        // Each caller's own chat, with an agent. Reading it needs
        // `view_resources`, as every reading of this section of API.md (so
        // the custom role's holder reads the chat it opened as a viewer);
        // writing in it needs `chat_with_agents`, the chat's subject.
        case(
            Method::GET,
            "/v1/organizations/{org_id}/chats/{chat_id}/messages",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/chats/{chat_id}/messages",
            |_| Some(json!({"content": "Why did costs spike?"})),
            Member("chat_with_agents", 201),
        ),
        // Listing investigations is reading ("GET list", no capability
        // named): `view_resources`, not `run_investigations`.
        case(
            Method::GET,
            "/v1/organizations/{org_id}/investigations",
            none,
            Member("view_resources", 200),
        ),
        case(
            Method::POST,
            "/v1/organizations/{org_id}/investigations",
            |f| Some(json!({"agent_id": f.agent, "question": "What changed?"})),
            Member("run_investigations", 202),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_for_every_caller() {
    every_operation_for_every_caller_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_for_every_caller_in_memory() {
    every_operation_for_every_caller_on(Backend::Memory).await;
}

/// Some of a row's callers, and whether they share one fixture.
#[derive(Debug, Clone)]
struct Unit {
    case: usize,
    callers: Vec<Who>,
    shared: bool,
}

/// How many units run at once: building a fixture waits on the database and
/// on password hashing, so a few overlap well even on two cores.
const AT_ONCE: usize = 3;

async fn every_operation_for_every_caller_on(backend: Backend) {
    let table = cases();
    let mut units = Vec::new();
    for (index, case) in table.iter().enumerate() {
        let (fresh, shared): (Vec<Who>, Vec<Who>) =
            EVERYONE.into_iter().partition(|&who| case.may_change(who));
        units.push(Unit {
            case: index,
            callers: shared,
            shared: true,
        });
        units.extend(fresh.into_iter().map(|who| Unit {
            case: index,
            callers: vec![who],
            shared: false,
        }));
    }
    units.retain(|unit| !unit.callers.is_empty());
    let calls: usize = units.iter().map(|unit| unit.callers.len()).sum();
    assert_eq!(calls, table.len() * EVERYONE.len());
    assert!(table.len() >= 90, "only {} rows", table.len());
    let results: Vec<Vec<String>> = futures::stream::iter(units)
        .map(|unit| tokio::spawn(run(backend, unit)))
        .buffer_unordered(AT_ONCE)
        .map(|joined| joined.unwrap_or_else(|error| vec![format!("a unit panicked: {error}")]))
        .collect()
        .await;
    let mut failures: Vec<String> = results.into_iter().flatten().collect();
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {calls} calls went against the contract:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs a unit's callers of its row, each on a fresh fixture, or all on one
/// that each must leave as it was (rebuilt after a call that went wrong).
async fn run(backend: Backend, unit: Unit) -> Vec<String> {
    let table = cases();
    let case = &table[unit.case];
    let mut failures = Vec::new();
    let mut fixture: Option<(Fixture, BTreeMap<String, String>)> = None;
    for who in unit.callers {
        if !unit.shared {
            let f = fixture_on(backend).await;
            let reply = case.call(&f, who).await;
            failures.extend(case.check(who, &reply));
            continue;
        }
        let (f, before) = match fixture.take() {
            Some(built) => built,
            None => {
                let f = fixture_on(backend).await;
                let view = f.view().await;
                (f, view)
            }
        };
        let reply = case.call(&f, who).await;
        let wrong = case.check(who, &reply);
        let after = f.view().await;
        let changed: Vec<String> = before
            .iter()
            .filter(|(key, seen)| after.get(*key) != Some(*seen))
            .map(|(key, seen)| {
                format!(
                    "\n  and changed {key}:\n    before: {seen}\n    after:  {}",
                    after.get(key).map_or("", String::as_str)
                )
            })
            .collect();
        let clean = wrong.is_none() && changed.is_empty();
        if !clean {
            let head = wrong.unwrap_or_else(|| {
                format!(
                    "{} {} as {who:?}: answered {} as expected",
                    case.method,
                    case.template,
                    reply.status.as_u16()
                )
            });
            failures.push(format!("{head}{}", changed.concat()));
        }
        if clean {
            fixture = Some((f, before));
        }
    }
    failures
}

/// The matrix written out above is the one the server applies to each
/// member of the fixture: an organization's body lists the caller's own
/// capabilities in the order of the matrix.
#[tokio::test(flavor = "multi_thread")]
async fn each_member_holds_the_capabilities_of_its_role() {
    let f = fixture_on(Backend::Memory).await;
    for who in EVERYONE {
        let Some(key) = who.role() else { continue };
        let token = f.person(who).map(|p| p.token.as_str());
        let org = f
            .app
            .get(&format!("/v1/organizations/{}", f.owner.org), token)
            .await
            .expect(200)
            .json();
        assert_eq!(org["role"], key, "{who:?}: {org}");
        assert_eq!(org["is_owner"], who == Who::Owner, "{who:?}: {org}");
        assert_eq!(
            org["capabilities"],
            json!(role(key).unwrap()),
            "{who:?} holds `{key}`"
        );
    }
    // The custom role's outcomes differ from every built-in role's.
    for key in ["owner", "admin", "editor", "viewer"] {
        assert_ne!(role(key).unwrap(), ANALYST, "{key}");
    }
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
