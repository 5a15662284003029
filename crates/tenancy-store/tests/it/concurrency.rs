//! Races on a multi-threaded runtime, 100 rounds each on every backend:
//! whatever the interleaving, the invariants hold and nothing surfaces as an
//! internal error.

use std::path::Path;
use std::sync::Arc;

use futures::future::join_all;
use tenancy_core::entity::MailContent;
use tenancy_core::plan::{Limits, Plan, PlanCatalog, PlanId};
use tenancy_core::resource::{
    ConnectionType, ContentType, Credentials, Definition, Description, NewResource, ResourceKind,
    ResourceName, Text,
};
use tenancy_core::service::{ChatRequest, Settings};
use tenancy_core::value::EmailAddress;
use tenancy_core::{Error, OrganizationId, UserId};
use tenancy_store::FsBlobs;

use crate::support::{LiveService, TestDb, backends, live};

pub const ROUNDS: usize = 100;

pub fn email(round: usize, who: &str) -> EmailAddress {
    EmailAddress::parse(&format!("{who}{round}@example.com")).unwrap()
}

pub async fn sign_up(service: &LiveService, email: EmailAddress) -> (UserId, OrganizationId) {
    let signed = crate::support::sign_up(service, email.as_str()).await;
    (signed.user.id, signed.default_organization.id)
}

/// The token of the newest queued invitation to `to`.
pub async fn token_for(db: &TestDb, to: &EmailAddress) -> String {
    crate::support::newest_token(db, to, |c| matches!(c, MailContent::Invitation { .. }))
        .await
        .expect("an invitation email")
}

pub fn no_internal_errors<T>(results: &[Result<T, Error>]) {
    for result in results {
        if let Err(error) = result {
            assert_ne!(
                error.code(),
                "internal",
                "an internal error surfaced: {error}"
            );
        }
    }
}

pub fn run(test: impl AsyncFn(Arc<TestDb>, LiveService, usize)) {
    run_rounds(ROUNDS, test);
}

pub fn run_rounds(rounds: usize, test: impl AsyncFn(Arc<TestDb>, LiveService, usize)) {
    run_rounds_with(rounds, settings(), test);
}

/// [`run`], with other settings.
pub fn run_with(settings: Settings, test: impl AsyncFn(Arc<TestDb>, LiveService, usize)) {
    run_rounds_with(ROUNDS, settings, test);
}

fn run_rounds_with(
    rounds: usize,
    settings: Settings,
    test: impl AsyncFn(Arc<TestDb>, LiveService, usize),
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for backend in backends() {
            let db = Arc::new(TestDb::new(backend).await);
            let service = live(&db.store, settings.clone());
            let started = std::time::Instant::now();
            for round in 0..rounds {
                test(Arc::clone(&db), service.clone(), round).await;
            }
            eprintln!("{backend:?}: {rounds} rounds in {:?}", started.elapsed());
            Arc::into_inner(db).unwrap().remove().await;
        }
    });
}

/// The free plan allows 3 of everything, and 10 bytes of knowledge files.
pub fn settings() -> Settings {
    let plan = |id: &str, agents: Option<u64>| Plan {
        id: PlanId::new(id),
        name: id.into(),
        self_serve: true,
        limits: Limits {
            agents,
            connections: agents,
            reports: agents,
            chat_messages_per_month: agents,
            knowledge_files: agents,
            storage_bytes: agents.map(|_| 10),
        },
    };
    Settings {
        catalog: PlanCatalog::new(vec![plan("free", Some(3)), plan("unlimited", None)]).unwrap(),
        ..Settings::default()
    }
}

#[test]
fn fifty_concurrent_accepts_make_one_membership() {
    run(async |db, service, round| {
        let (owner, org) = sign_up(&service, email(round, "owner")).await;
        let invitee_email = email(round, "invitee");
        service
            .invite(owner, org, invitee_email.clone(), None)
            .await
            .unwrap();
        let (invitee, _) = sign_up(&service, invitee_email.clone()).await;
        let token = token_for(&db, &invitee_email).await;
        let results = join_all((0..50).map(|_| {
            let service = service.clone();
            let token = token.clone();
            tokio::spawn(async move { service.accept(invitee, &token).await })
        }))
        .await;
        let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        no_internal_errors(&results);
        // Every accept by the rightful invitee succeeds: one joins, the
        // others find them a member already (idempotent).
        assert!(
            results.iter().all(Result::is_ok),
            "round {round}: {results:?}"
        );
        let members = service.members(owner, org).await.unwrap();
        assert_eq!(members.len(), 2, "round {round}");
        assert_eq!(members.iter().filter(|m| m.user.id == invitee).count(), 1);
    });
}

/// A new resource of a metered kind, as a client would send it.
fn new_resource(kind: ResourceKind) -> NewResource {
    let name = ResourceName::parse("Racer").unwrap();
    match kind {
        ResourceKind::Agent => NewResource::Agent {
            name,
            description: Description::empty(),
            connection_ids: Vec::new(),
        },
        ResourceKind::Connection => NewResource::Connection {
            label: name,
            connection_type: ConnectionType::parse("postgres").unwrap(),
            credentials: Credentials::parse([(
                "password".to_owned(),
                zeroize::Zeroizing::new("pw".to_owned()),
            )])
            .unwrap(),
        },
        ResourceKind::Report | ResourceKind::KnowledgeFile => NewResource::Report {
            name,
            definition: Definition::parse(serde_json::Map::new()).unwrap(),
        },
    }
}

/// 50 concurrent creates against a limit of 3, rotating through agents,
/// connections, reports and chat messages (D10): exactly 3 succeed, the
/// rest are `quota_exceeded`, and the billing view counts 3.
#[test]
fn fifty_concurrent_creates_at_a_limit_of_three_leave_three() {
    run(async |_db, service, round| {
        let (owner, org) = sign_up(&service, email(round, "owner")).await;
        let kind = [
            ResourceKind::Agent,
            ResourceKind::Connection,
            ResourceKind::Report,
        ]
        .get(round % 4)
        .copied();
        let results: Vec<Result<(), Error>> = match kind {
            Some(kind) => join_all((0..50).map(|_| {
                let service = service.clone();
                tokio::spawn(async move {
                    service
                        .create_resource(owner, org, new_resource(kind))
                        .await
                        .map(drop)
                })
            }))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect(),
            None => {
                let agent = service
                    .create_resource(owner, org, new_resource(ResourceKind::Agent))
                    .await
                    .unwrap();
                let chat = service
                    .open_chat(owner, org, ChatRequest::Agent(agent.id))
                    .await
                    .unwrap();
                join_all((0..50).map(|i| {
                    let service = service.clone();
                    let text = Text::parse(&format!("message {i}")).unwrap();
                    tokio::spawn(async move {
                        service
                            .send_chat_message(owner, org, chat.id, text)
                            .await
                            .map(drop)
                    })
                }))
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect()
            }
        };
        no_internal_errors(&results);
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            3,
            "round {round} ({kind:?})"
        );
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| e.code() == "quota_exceeded")
        );
        let usage = service.billing(owner, org).await.unwrap().usage;
        let used = match kind {
            Some(ResourceKind::Agent) => usage.agents,
            Some(ResourceKind::Connection) => usage.connections,
            Some(_) => usage.reports,
            None => usage.chat_messages_this_month,
        };
        assert_eq!(used, 3, "round {round} ({kind:?})");
    });
}

/// The files under a folder and its subfolders.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// 20 concurrent uploads at the free plan's limits of 3 files and 10 bytes
/// (D10), each checked in the organization's lock: 1-byte files stop at
/// the count (3 stored), 4-byte files at the bytes (2 stored, 8 bytes).
/// The rest are `quota_exceeded` and leave no row and no file, staged or
/// published.
#[test]
fn twenty_concurrent_uploads_at_the_file_and_byte_limits_never_overshoot() {
    run_rounds(20, async |_db, service, round| {
        let dir = std::env::temp_dir().join(format!("tenancy-race-{}", uuid::Uuid::now_v7()));
        let blobs = FsBlobs::new(&dir);
        let service = service.with_blobs(Arc::new(blobs.clone()));
        let (owner, org) = sign_up(&service, email(round, "owner")).await;
        let (size, stored) = if round % 2 == 0 { (1, 3) } else { (4, 2) };
        let results: Vec<Result<(), Error>> = join_all((0..20).map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let mut content = futures::io::Cursor::new(vec![b'x'; size]);
                service
                    .upload_knowledge_file(
                        owner,
                        org,
                        ResourceName::parse(&format!("file {i}.txt")).unwrap(),
                        ContentType::parse("text/plain").unwrap(),
                        &mut content,
                        1024,
                    )
                    .await
                    .map(drop)
            })
        }))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        no_internal_errors(&results);
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            stored,
            "round {round}: {results:?}"
        );
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| e.code() == "quota_exceeded")
        );
        let usage = service.billing(owner, org).await.unwrap().usage;
        assert_eq!(
            (usage.knowledge_files, usage.storage_bytes),
            (stored as u64, (stored * size) as u64),
            "round {round}"
        );
        let files = service
            .resources(owner, org, ResourceKind::KnowledgeFile)
            .await
            .unwrap()
            .into_value();
        assert_eq!(files.len(), stored);
        // Exactly the stored files' contents are on disk, none staged.
        let mut on_disk = files_under(&dir);
        on_disk.sort();
        let mut expected: Vec<_> = files
            .iter()
            .map(|f| dir.join(org.to_string()).join(f.id.to_string()))
            .collect();
        expected.sort();
        assert_eq!(on_disk, expected, "round {round}");
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn twenty_concurrent_reinvites_leave_one_pending_invitation() {
    run(async |_db, service, round| {
        let (owner, org) = sign_up(&service, email(round, "owner")).await;
        let invitee = email(round, "invitee");
        let results = join_all((0..20).map(|_| {
            let service = service.clone();
            let invitee = invitee.clone();
            tokio::spawn(async move { service.invite(owner, org, invitee, None).await })
        }))
        .await;
        let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        no_internal_errors(&results);
        assert!(
            results.iter().all(Result::is_ok),
            "round {round}: {results:?}"
        );
        let pending = service
            .pending_invitations(owner, org)
            .await
            .unwrap()
            .into_value();
        assert_eq!(pending.len(), 1, "round {round}");
    });
}

#[test]
fn a_removal_racing_an_accept_ends_consistent() {
    run(async |db, service, round| {
        let (owner, org) = sign_up(&service, email(round, "owner")).await;
        let invitee_email = email(round, "invitee");
        service
            .invite(owner, org, invitee_email.clone(), None)
            .await
            .unwrap();
        let (invitee, _) = sign_up(&service, invitee_email.clone()).await;
        let token = token_for(&db, &invitee_email).await;
        let accepting = {
            let service = service.clone();
            tokio::spawn(async move { service.accept(invitee, &token).await })
        };
        let removing = {
            let service = service.clone();
            tokio::spawn(async move { service.remove_member(owner, org, invitee).await })
        };
        let accepted = accepting.await.unwrap();
        let removed = removing.await.unwrap();
        assert!(accepted.is_ok(), "round {round}: {accepted:?}");
        let member = service
            .members(owner, org)
            .await
            .unwrap()
            .iter()
            .any(|m| m.user.id == invitee);
        match removed {
            // The accept came first: the removal undid it.
            Ok(()) => assert!(!member, "round {round}: removed but still a member"),
            // The removal came first and found no member: the accept stands.
            Err(ref e) if e.code() == "not_found" => assert!(member, "round {round}"),
            Err(e) => panic!("round {round}: the removal failed: {e}"),
        }
        // Either way the invitation is used up and never admits anyone again.
        let again = service
            .accept(invitee, &token_for(&db, &invitee_email).await)
            .await;
        if member {
            assert!(again.is_ok());
        } else {
            assert_eq!(again.unwrap_err().code(), "invitation_already_accepted");
        }
    });
}
