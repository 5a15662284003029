//! Races on a multi-threaded runtime, 100 rounds each on every backend:
//! whatever the interleaving, the invariants hold and nothing surfaces as an
//! internal error.

use std::sync::Arc;

use futures::future::join_all;
use tenancy_core::entity::MailContent;
use tenancy_core::plan::{Limits, Plan, PlanCatalog, PlanId};
use tenancy_core::ports::MailOutbox;
use tenancy_core::resource::{
    ConnectionType, Credentials, Definition, Description, NewResource, ResourceKind, ResourceName,
    Text,
};
use tenancy_core::service::{ChatRequest, Settings};
use tenancy_core::value::EmailAddress;
use tenancy_core::{Error, OrganizationId, UserId};

use crate::support::{LiveService, TestDb, backends, live};

const ROUNDS: usize = 100;

fn email(round: usize, who: &str) -> EmailAddress {
    EmailAddress::parse(&format!("{who}{round}@example.com")).unwrap()
}

async fn sign_up(service: &LiveService, email: EmailAddress) -> (UserId, OrganizationId) {
    let signed = crate::support::sign_up(service, email.as_str()).await;
    (signed.user.id, signed.default_organization.id)
}

/// The token of the newest queued invitation to `to`.
async fn token_for(db: &TestDb, to: &EmailAddress) -> String {
    let far = chrono::Utc::now() + chrono::Duration::days(30);
    db.store
        .due(far, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|q| &q.mail.to == to)
        .map(|q| match q.mail.content {
            MailContent::Invitation { token, .. } => token.expose().to_owned(),
        })
        .expect("an invitation email")
}

fn no_internal_errors<T>(results: &[Result<T, Error>]) {
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

fn run(test: impl AsyncFn(Arc<TestDb>, LiveService, usize)) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for backend in backends() {
            let db = Arc::new(TestDb::new(backend).await);
            let service = live(&db.store, settings());
            for round in 0..ROUNDS {
                test(Arc::clone(&db), service.clone(), round).await;
            }
            Arc::into_inner(db).unwrap().remove().await;
        }
    });
}

/// The free plan allows 3 of everything.
fn settings() -> Settings {
    let plan = |id: &str, agents| Plan {
        id: PlanId::new(id),
        name: id.into(),
        limits: Limits {
            agents,
            connections: agents,
            reports: agents,
            chat_messages_per_month: agents,
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
        let pending = service.pending_invitations(owner, org).await.unwrap();
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
