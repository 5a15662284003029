//! The organization's life on the real store, on every backend (R28, R29,
//! D8, D13, D17): races of an ownership transfer's accept against
//! everything that may end it, 100 rounds; two deletion requests at once;
//! a deletion and a restore seen through another instance at once; and a
//! purge that leaves no row of any table naming the organization.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, Statement};
use tenancy_core::decide::NewRole;
use tenancy_core::resource::{
    ConnectionType, Credentials, Definition, Description, NewResource, ResourceKind, ResourceName,
    Text,
};
use tenancy_core::service::{ChatRequest, Settings};
use tenancy_core::value::{OrganizationName, RoleDescription, RoleName};
use tenancy_core::{Capability, CapabilitySet, Error, OrganizationId, RoleKey, UserId};
use tenancy_store::{Backend, Store};
use tokio::sync::Barrier;

use crate::concurrency::{email, no_internal_errors, run_with, sign_up};
use crate::role_races::join;
use crate::support::{LiveService, TestDb, backends, live};

fn lifecycle_settings() -> Settings {
    Settings {
        allow_unverified_inviters: true,
        ..crate::concurrency::settings()
    }
}

/// Runs `test` on a fresh database of every backend, on a multi-threaded
/// runtime, and removes the database after.
fn on_every_backend(test: impl AsyncFn(&TestDb, Backend)) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for backend in backends() {
            let db = TestDb::new(backend).await;
            test(&db, backend).await;
            db.remove().await;
        }
    });
}

/// A second organization of `owner` (so that D13 lets the first go), named
/// `name`.
async fn second_organization(service: &LiveService, owner: UserId, name: &str) -> OrganizationId {
    service
        .create_organization(owner, OrganizationName::parse(name).unwrap())
        .await
        .unwrap()
        .organization
        .id
}

/// One racing call of a use case.
type Racer = std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

async fn all_at_once(calls: Vec<Racer>) -> Vec<Result<(), Error>> {
    let barrier = Arc::new(Barrier::new(calls.len()));
    let handles: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                call.await
            })
        })
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

fn code(result: &Result<(), Error>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(e) => e.code(),
    }
}

/// The stored membership of `user` in `org`, read from the tables.
async fn membership_of(
    service: &LiveService,
    user: UserId,
    org: OrganizationId,
) -> Option<tenancy_core::Membership> {
    let mut tx = tenancy_core::ports::Repository::read(&service.store)
        .await
        .unwrap();
    tx.membership(org, user).await.unwrap()
}

/// Something of the organization in every table a member's work fills:
/// an agent using a connection with credentials, a report and its run, a
/// pin, a chat with a message, an investigation.
async fn fill(service: &LiveService, owner: UserId, org: OrganizationId) {
    let name = || ResourceName::parse("Thing").unwrap();
    let connection = service
        .create_resource(
            owner,
            org,
            NewResource::Connection {
                label: name(),
                connection_type: ConnectionType::parse("postgres").unwrap(),
                credentials: Credentials::parse([(
                    "password".to_owned(),
                    zeroize::Zeroizing::new("pw".to_owned()),
                )])
                .unwrap(),
            },
        )
        .await
        .unwrap();
    let agent = service
        .create_resource(
            owner,
            org,
            NewResource::Agent {
                name: name(),
                description: Description::empty(),
                connection_ids: vec![connection.id],
            },
        )
        .await
        .unwrap();
    let report = service
        .create_resource(
            owner,
            org,
            NewResource::Report {
                name: name(),
                definition: Definition::parse(serde_json::Map::new()).unwrap(),
            },
        )
        .await
        .unwrap();
    let run = service.trigger_run(owner, org, report.id).await.unwrap();
    service
        .pin(owner, org, ResourceKind::Agent, agent.id)
        .await
        .unwrap();
    let chat = service
        .open_chat(owner, org, ChatRequest::Agent(agent.id))
        .await
        .unwrap();
    service
        .send_chat_message(owner, org, chat.id, Text::parse("hello").unwrap())
        .await
        .unwrap();
    service
        .open_chat(owner, org, ChatRequest::ReportRun(run.id))
        .await
        .unwrap();
    service
        .start_investigation(owner, org, agent.id, Text::parse("why?").unwrap())
        .await
        .unwrap();
}

/// The owner of `org` by its members' roles, checked against `owner_id`:
/// exactly one member holds the owner's role, and it is the owner.
async fn the_one_owner(service: &LiveService, org: OrganizationId, at: &str) -> UserId {
    let organization = service.organization_for_host(org).await.unwrap();
    let conn = service.store.connection();
    let sql = match service.store.backend_of_connection() {
        Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM memberships WHERE organization_id = ? AND role = 'owner'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM memberships WHERE organization_id = $1 AND role = 'owner'"
        }
    };
    let owners: i64 = conn
        .query_one_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            sql,
            [org.as_uuid().into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(owners, 1, "{at}: {owners} owners' memberships");
    let members = service.members(organization.owner_id, org).await;
    if let Ok(members) = members {
        let crowned: Vec<_> = members.iter().filter(|m| m.role.is_owner()).collect();
        assert_eq!(crowned.len(), 1, "{at}");
        assert_eq!(crowned[0].user.id, organization.owner_id, "{at}");
    }
    organization.owner_id
}

/// A transfer's accept races its cancel, the target's leave, the owner's
/// deletion request and a second transfer request (to another member). Each
/// call is atomic under the organization's lock, so the outcome is one of
/// their orders: the organization keeps exactly one owner, the accept
/// succeeded only if it came before all of the others, and what the others
/// answered fits.
#[test]
fn a_transfer_racing_what_ends_it_leaves_one_owner_and_one_outcome() {
    // How often each call succeeded, over the rounds of both backends, for the log.
    let succeeded = std::sync::Mutex::new(std::collections::BTreeMap::<&str, usize>::new());
    run_with(lifecycle_settings(), async |db, service, round| {
        let at = format!("round {round}");
        let (owner, _) = sign_up(&service, email(round, "owner")).await;
        let name = format!("Shared {round}");
        let org = second_organization(&service, owner, &name).await;
        let target = join(
            &db,
            &service,
            &service,
            (owner, org),
            email(round, "target"),
            "viewer",
        )
        .await;
        let other = join(
            &db,
            &service,
            &service,
            (owner, org),
            email(round, "other"),
            "viewer",
        )
        .await;
        service.request_transfer(owner, org, target).await.unwrap();

        let s = |service: &LiveService| service.clone();
        let calls: Vec<Racer> = vec![
            {
                let service = s(&service);
                Box::pin(async move { service.accept_transfer(target, org).await.map(drop) })
            },
            {
                let service = s(&service);
                Box::pin(async move { service.cancel_transfer(owner, org).await })
            },
            {
                let service = s(&service);
                Box::pin(async move { service.leave(target, org).await })
            },
            {
                let service = s(&service);
                let name = name.clone();
                Box::pin(async move { service.request_deletion(owner, org, &name).await.map(drop) })
            },
            {
                let service = s(&service);
                Box::pin(async move { service.request_transfer(owner, org, other).await.map(drop) })
            },
        ];
        let results = all_at_once(calls).await;
        no_internal_errors(&results);
        let codes: Vec<&str> = results.iter().map(code).collect();
        let [accepted, cancelled, left, deleted, replaced] = [0, 1, 2, 3, 4].map(|i| codes[i]);
        let at = format!(
            "{at}: accept {accepted}, cancel {cancelled}, leave {left}, deletion {deleted}, new request {replaced}"
        );

        let now_owner = the_one_owner(&service, org, &at).await;
        let organization = service.organization_for_host(org).await.unwrap();
        let stored = {
            let mut tx = tenancy_core::ports::Repository::read(&service.store)
                .await
                .unwrap();
            tx.ownership_transfer(org).await.unwrap()
        };
        if accepted == "ok" {
            // First of all: the others met an admin, or an owner who cannot leave.
            assert_eq!(now_owner, target, "{at}");
            assert_eq!(cancelled, "forbidden", "{at}");
            assert_eq!(left, "owner_cannot_leave", "{at}");
            assert_eq!(deleted, "forbidden", "{at}");
            assert_eq!(replaced, "forbidden", "{at}");
            assert!(!organization.is_pending_deletion(), "{at}");
            let previous = service
                .members(target, org)
                .await
                .unwrap()
                .into_iter()
                .find(|m| m.user.id == owner)
                .unwrap();
            assert_eq!(previous.role.key(), &RoleKey::ADMIN, "{at}");
            assert!(stored.is_none(), "{at}: {stored:?}");
        } else {
            assert_eq!(now_owner, owner, "{at}");
            assert!(
                ["not_found", "forbidden"].contains(&accepted),
                "{at}: the accept lost with an unexpected answer"
            );
            // Whatever came first ended the transfer to the target.
            assert!(
                [cancelled, left, deleted, replaced].contains(&"ok"),
                "{at}: the accept lost to nobody"
            );
        }
        assert!(
            [
                "ok",
                "not_found",
                "forbidden",
                "organization_pending_deletion"
            ]
            .contains(&cancelled),
            "{at}"
        );
        assert!(
            ["ok", "owner_cannot_leave", "not_found"].contains(&left),
            "{at}"
        );
        assert_eq!(deleted == "ok", organization.is_pending_deletion(), "{at}");
        if organization.is_pending_deletion() {
            assert!(
                stored.is_none(),
                "{at}: a transfer survived the deletion: {stored:?}"
            );
        }
        if left == "ok" {
            assert!(
                membership_of(&service, target, org).await.is_none(),
                "{at}: left, yet a member"
            );
        }
        if let Some(transfer) = &stored {
            // A transfer that survived was the second one, to a member.
            assert_eq!(replaced, "ok", "{at}");
            assert_eq!(transfer.to_user_id, other, "{at}");
            assert!(membership_of(&service, other, org).await.is_some(), "{at}");
        }
        for (call, answer) in ["accept", "cancel", "leave", "deletion", "new request"]
            .into_iter()
            .zip([accepted, cancelled, left, deleted, replaced])
        {
            if answer == "ok" {
                *succeeded.lock().unwrap().entry(call).or_default() += 1;
            }
        }
        crate::role_races::empty_outbox(&db.store).await;
    });
    eprintln!("calls that succeeded: {:?}", succeeded.lock().unwrap());
}

/// Two deletion requests at once: one 202, one `deletion_pending`.
#[test]
fn two_deletion_requests_make_one_deletion() {
    run_with(lifecycle_settings(), async |db, service, round| {
        let (owner, _) = sign_up(&service, email(round, "owner")).await;
        let name = format!("Doomed {round}");
        let org = second_organization(&service, owner, &name).await;
        let calls: Vec<Racer> = (0..2)
            .map(|_| {
                let service = service.clone();
                let name = name.clone();
                Box::pin(async move { service.request_deletion(owner, org, &name).await.map(drop) })
                    as Racer
            })
            .collect();
        let results = all_at_once(calls).await;
        no_internal_errors(&results);
        let mut codes: Vec<&str> = results.iter().map(code).collect();
        codes.sort_unstable();
        assert_eq!(codes, ["deletion_pending", "ok"], "round {round}");
        assert!(
            service
                .organization_for_host(org)
                .await
                .unwrap()
                .is_pending_deletion()
        );
        crate::role_races::empty_outbox(&db.store).await;
    });
}

/// A deletion through instance A hides the organization through B on B's
/// very next call, and B's members fall back to their own; a restore
/// through B brings it back through A (R29, D12).
#[test]
fn a_deletion_and_a_restore_are_seen_through_another_instance_at_once() {
    on_every_backend(async |db, backend| {
        let other = db.another_instance().await;
        let (a, b) = (
            live(&db.store, lifecycle_settings()),
            live(&other, lifecycle_settings()),
        );
        for round in 0..10 {
            let at = format!("{backend:?}, round {round}");
            let (owner, _) = sign_up(&a, email(round, "owner")).await;
            let name = format!("Seen {round}");
            let org = second_organization(&a, owner, &name).await;
            let member = join(db, &a, &b, (owner, org), email(round, "member"), "viewer").await;
            assert_eq!(
                b.active_organization(member).await.unwrap().organization.id,
                org,
                "{at}"
            );
            a.request_deletion(owner, org, &name).await.unwrap();
            assert_eq!(
                b.organization(member, org).await.unwrap_err().code(),
                "not_found",
                "{at}"
            );
            assert!(
                !b.organizations(member)
                    .await
                    .unwrap()
                    .iter()
                    .any(|view| view.organization.id == org),
                "{at}"
            );
            let fallback = b.active_organization(member).await.unwrap();
            assert_ne!(fallback.organization.id, org, "{at}");
            assert!(fallback.is_owner(), "{at}: falls back to their own");
            assert!(
                b.authorize(owner, org, Capability::ViewResources)
                    .await
                    .unwrap()
                    .is_err(),
                "{at}"
            );
            let restored = b.restore(owner, org).await.unwrap();
            assert!(!restored.organization.is_pending_deletion(), "{at}");
            assert_eq!(
                a.organization(member, org).await.unwrap().organization.id,
                org
            );
            // A restore moves nobody back.
            assert_ne!(
                a.active_organization(member).await.unwrap().organization.id,
                org,
                "{at}"
            );
        }
        other.close().await.unwrap();
    });
}

/// The id of an organization as every column may hold it: the UUID's text,
/// and its 16 bytes in hex (SQLite stores UUIDs as blobs).
struct Needle {
    text: String,
    hex: String,
}

/// Every (table, column) that holds the organization's id, anywhere: each
/// column of each table is searched, as text and, on SQLite, as bytes.
async fn rows_naming(store: &Store, org: OrganizationId) -> Vec<(String, String, i64)> {
    let needle = Needle {
        text: org.as_uuid().hyphenated().to_string(),
        hex: org.as_uuid().simple().to_string().to_uppercase(),
    };
    let conn = store.connection();
    let backend = conn.get_database_backend();
    let query = |sql: String| Statement::from_string(backend, sql);
    let columns: Vec<(String, String)> = match store.backend_of_connection() {
        Backend::Sqlite => {
            let tables = conn
                .query_all_raw(query(
                    "SELECT name FROM sqlite_master WHERE type = 'table'".to_owned(),
                ))
                .await
                .unwrap();
            let mut columns = Vec::new();
            for table in tables {
                let table: String = table.try_get("", "name").unwrap();
                for column in conn
                    .query_all_raw(query(format!("PRAGMA table_info(\"{table}\")")))
                    .await
                    .unwrap()
                {
                    columns.push((table.clone(), column.try_get("", "name").unwrap()));
                }
            }
            columns
        }
        Backend::Postgres => conn
            .query_all_raw(query(
                "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
                 WHERE table_schema = current_schema()"
                    .to_owned(),
            ))
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.try_get("", "t").unwrap(), row.try_get("", "c").unwrap()))
            .collect(),
    };
    assert!(columns.len() > 50, "only {} columns found", columns.len());
    let mut found = Vec::new();
    for (table, column) in columns {
        let condition = match store.backend_of_connection() {
            Backend::Sqlite => format!(
                "CAST(\"{column}\" AS TEXT) LIKE '%{text}%' OR hex(\"{column}\") LIKE '%{hex}%'",
                text = needle.text,
                hex = needle.hex
            ),
            Backend::Postgres => format!(
                "CAST(\"{column}\" AS TEXT) LIKE '%{text}%' OR CAST(\"{column}\" AS TEXT) LIKE '%{lower}%'",
                text = needle.text,
                lower = needle.hex.to_lowercase()
            ),
        };
        let n: i64 = conn
            .query_one_raw(query(format!(
                "SELECT COUNT(*) AS n FROM \"{table}\" WHERE {condition}"
            )))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "n")
            .unwrap();
        if n > 0 {
            found.push((table, column, n));
        }
    }
    found
}

/// An organization with something in every table is purged: afterwards no
/// row of any table names it, the users whose active organization it was
/// fall back, a second run changes nothing, and the owner's other
/// organization is untouched (D17).
#[test]
fn a_purge_leaves_no_row_naming_the_organization() {
    on_every_backend(async |db, backend| {
        let settings = Settings {
            deletion_grace: chrono::Duration::zero(),
            catalog: tenancy_core::plan::PlanCatalog::builtin(),
            ..lifecycle_settings()
        };
        let service = live(&db.store, settings);
        let (owner, own) = sign_up(&service, email(0, "owner")).await;
        let name = "Everything";
        let org = second_organization(&service, owner, name).await;
        let member = join(
            db,
            &service,
            &service,
            (owner, org),
            email(0, "member"),
            "viewer",
        )
        .await;
        service
            .create_role(
                owner,
                org,
                NewRole {
                    key: RoleKey::custom("analyst").unwrap(),
                    name: RoleName::parse("Analyst").unwrap(),
                    description: RoleDescription::default(),
                    capabilities: CapabilitySet::of(&[Capability::ViewResources]),
                },
            )
            .await
            .unwrap();
        let second = join(
            db,
            &service,
            &service,
            (owner, org),
            email(0, "second"),
            "viewer",
        )
        .await;
        service
            .change_role(owner, org, second, "analyst")
            .await
            .unwrap();
        let invited = service
            .invite(owner, org, email(0, "invited"), Some("analyst"))
            .await
            .unwrap();
        service.resend(owner, org, invited.id).await.unwrap();
        service.request_transfer(owner, org, member).await.unwrap();
        fill(&service, owner, org).await;
        assert!(!rows_naming(&db.store, org).await.is_empty());

        service.request_deletion(owner, org, name).await.unwrap();
        assert_eq!(service.purge_due(10).await.unwrap(), 1);
        let left = rows_naming(&db.store, org).await;
        assert!(
            left.is_empty(),
            "{backend:?}: rows naming the purged organization: {left:?}"
        );
        assert_eq!(service.purge_due(10).await.unwrap(), 0, "a second run");
        assert_eq!(
            service.organization(owner, org).await.unwrap_err().code(),
            "not_found"
        );
        let fallback = service.active_organization(member).await.unwrap();
        assert!(fallback.is_owner(), "{backend:?}");
        assert_eq!(
            service
                .active_organization(owner)
                .await
                .unwrap()
                .organization
                .id,
            own
        );
        assert!(service.organization(owner, own).await.is_ok());
    });
}

/// After giving her default organization (the one made at sign-up) away,
/// a user whose active organization goes falls back to it, where she is an
/// admin now, rather than to another one she owns (R19).
#[test]
fn the_fallback_is_the_default_organization_while_it_is_reachable() {
    on_every_backend(async |db, backend| {
        let service = live(&db.store, lifecycle_settings());
        let (ann, default) = sign_up(&service, email(0, "ann")).await;
        let bob = join(
            db,
            &service,
            &service,
            (ann, default),
            email(0, "bob"),
            "viewer",
        )
        .await;
        let kept = second_organization(&service, ann, "Kept").await;
        service.request_transfer(ann, default, bob).await.unwrap();
        service.accept_transfer(bob, default).await.unwrap();
        let doomed = second_organization(&service, ann, "Doomed").await;
        assert_eq!(
            service
                .active_organization(ann)
                .await
                .unwrap()
                .organization
                .id,
            doomed
        );
        service
            .request_deletion(ann, doomed, "Doomed")
            .await
            .unwrap();
        let fallback = service.active_organization(ann).await.unwrap();
        assert_eq!(fallback.organization.id, default, "{backend:?}");
        assert_eq!(fallback.role.key(), &RoleKey::ADMIN, "{backend:?}");
        // Out of it too: the oldest one she owns.
        service.remove_member(bob, default, ann).await.unwrap();
        let fallback = service.active_organization(ann).await.unwrap();
        assert_eq!(fallback.organization.id, kept, "{backend:?}");
    });
}
