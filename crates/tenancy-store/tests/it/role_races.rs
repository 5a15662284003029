//! Races of custom roles on a multi-threaded runtime, 100 rounds each on
//! every backend (R26, D12, D14): a role's deletion against its assignment,
//! a role change against the member's removal, and a role's new definition
//! seen through another instance over the same database. Whatever the
//! interleaving, nobody holds a role that is not there, every call answers
//! with one of the codes its order allows, and none with an internal error.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, Statement};
use tenancy_core::decide::{NewRole, RolePatch};
use tenancy_core::policy::Denial;
use tenancy_core::service::Member;
use tenancy_core::value::{EmailAddress, RoleDescription, RoleName};
use tenancy_core::{Capability, CapabilitySet, Error, OrganizationId, RoleKey, UserId};
use tenancy_store::Store;
use tokio::sync::Barrier;

use crate::concurrency::{ROUNDS, email, no_internal_errors, run, settings, sign_up, token_for};
use crate::support::{LiveService, TestDb, backends, live};

/// A custom role of `key` holding `view_resources` and `more`, made by the
/// owner.
async fn create(
    service: &LiveService,
    owner: UserId,
    org: OrganizationId,
    key: &str,
    more: &[Capability],
) {
    service
        .create_role(
            owner,
            org,
            NewRole {
                key: RoleKey::custom(key).unwrap(),
                name: RoleName::parse(key).unwrap(),
                description: RoleDescription::default(),
                capabilities: CapabilitySet::of(more).with(Capability::ViewResources),
            },
        )
        .await
        .unwrap();
}

/// A new member of `org` with `role`: invited by the owner, signed up and
/// accepted (the accept through `joining`, which may be another instance).
pub async fn join(
    db: &TestDb,
    inviting: &LiveService,
    joining: &LiveService,
    (owner, org): (UserId, OrganizationId),
    email: EmailAddress,
    role: &str,
) -> UserId {
    inviting
        .invite(owner, org, email.clone(), Some(role))
        .await
        .unwrap();
    let (user, _) = sign_up(joining, email.clone()).await;
    let token = token_for(db, &email).await;
    joining.accept(user, &token).await.unwrap();
    user
}

/// Empties the outbox at the end of a round. The helpers find a link by
/// reading every queued email, and invitations stay queued (nothing sends
/// them here): kept, they would make each round slower than the last.
pub async fn empty_outbox(store: &Store) {
    store
        .connection()
        .execute_unprepared("DELETE FROM mail_outbox")
        .await
        .unwrap();
}

/// Rows that name a role their organization does not have, read from the
/// tables themselves: memberships and invitations whose `custom_role` has
/// no row in `roles`, memberships whose `role` is neither built-in nor a
/// role of the organization, and pending invitations likewise (a dead one
/// may keep a deleted key, as history).
async fn orphans(store: &Store) -> [i64; 4] {
    const MISSING: &str = "NOT EXISTS (SELECT 1 FROM roles r \
         WHERE r.organization_id = t.organization_id AND r.\"key\" = t.";
    let queries = [
        format!(
            "SELECT COUNT(*) AS n FROM memberships t \
             WHERE t.custom_role IS NOT NULL AND {MISSING}custom_role)"
        ),
        format!(
            "SELECT COUNT(*) AS n FROM invitations t \
             WHERE t.custom_role IS NOT NULL AND {MISSING}custom_role)"
        ),
        format!(
            "SELECT COUNT(*) AS n FROM memberships t \
             WHERE t.role NOT IN ('owner', 'admin', 'editor', 'viewer') AND {MISSING}role)"
        ),
        format!(
            "SELECT COUNT(*) AS n FROM invitations t WHERE t.state = 'pending' \
             AND t.role NOT IN ('admin', 'editor', 'viewer') AND {MISSING}role)"
        ),
    ];
    let conn = store.connection();
    let mut counts = [0; 4];
    for (count, sql) in counts.iter_mut().zip(queries) {
        *count = conn
            .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
    }
    counts
}

/// Through the service: every member and every pending invitation holds a
/// built-in role or one the organization lists, with the capabilities it
/// lists; and through the tables, no row anywhere names a missing role.
async fn no_missing_roles(service: &LiveService, owner: UserId, org: OrganizationId, at: &str) {
    let roles = service.roles(owner, org).await.unwrap();
    let listed = |role: &tenancy_core::Role| {
        assert!(!role.is_retired(), "{at}: {role:?} is retired");
        assert!(
            roles.iter().any(|r| r.role == *role),
            "{at}: {role:?} is not among the organization's roles {roles:?}"
        );
    };
    for member in service.members(owner, org).await.unwrap() {
        listed(&member.role);
    }
    for invitation in service
        .pending_invitations(owner, org)
        .await
        .unwrap()
        .into_value()
    {
        listed(&invitation.role);
    }
    assert_eq!(
        orphans(&service.store).await,
        [0; 4],
        "{at}: rows on a missing role (memberships' and invitations' custom_role, \
         memberships' and pending invitations' role)"
    );
}

/// One racing call of a use case, started when [`all_at_once`] says.
type Call<T> =
    Box<dyn FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<T, Error>> + Send>> + Send>;

/// A racing call: `f` is run once, on the runtime's threads.
fn call<T, F>(f: impl FnOnce() -> F + Send + 'static) -> Call<T>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    Box::new(move || Box::pin(f()))
}

/// Spawns every call at once behind a barrier, so that they start together
/// on the runtime's threads, and collects their answers in order.
async fn all_at_once<T: Send + 'static>(calls: Vec<Call<T>>) -> Vec<Result<T, Error>> {
    let barrier = Arc::new(Barrier::new(calls.len()));
    let handles: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                call().await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

/// How many invitations and role changes race each deletion.
const RACERS: usize = 3;

/// A custom role (`doomed`) is deleted with `reassign_to` while the owner
/// invites people with it and gives it to members. Rounds alternate where
/// its holders go: to `admin`; to another custom role (`backup`); or to
/// `backup` while `backup` itself is deleted (its holders to `admin`), so
/// that the first deletion may find its target gone (422).
///
/// Each call is atomic under the organization's lock, so the outcome is one
/// of the orders: an invitation or a change before the deletion succeeded,
/// and its holder moved with the rest; one after it is
/// `role_not_assignable`, and changed nothing. Afterwards no member and no
/// pending invitation is on a missing role, by the service and by the tables.
#[test]
fn deleting_a_role_while_it_is_given_leaves_nobody_on_a_missing_role() {
    run(async |db, service, round| {
        let (owner, org) = sign_up(&service, email(round, "owner")).await;
        let variant = round % 3;
        create(&service, owner, org, "doomed", &[Capability::ManageAgents]).await;
        if variant > 0 {
            create(
                &service,
                owner,
                org,
                "backup",
                &[Capability::ChatWithAgents],
            )
            .await;
        }
        // Held already by a member and a pending invitation.
        let holder = join(
            &db,
            &service,
            &service,
            (owner, org),
            email(round, "holder"),
            "doomed",
        )
        .await;
        let waiting = email(round, "waiting");
        service
            .invite(owner, org, waiting.clone(), Some("doomed"))
            .await
            .unwrap();
        let mut members = Vec::new();
        for i in 0..RACERS {
            let who = format!("member{i}-");
            members.push(
                join(
                    &db,
                    &service,
                    &service,
                    (owner, org),
                    email(round, &who),
                    "viewer",
                )
                .await,
            );
        }
        let invitees: Vec<EmailAddress> = (0..RACERS)
            .map(|i| email(round, &format!("late{i}-")))
            .collect();

        let reassign_to = if variant == 0 { "admin" } else { "backup" };
        let mut deletions: Vec<Call<()>> = vec![{
            let service = service.clone();
            call(move || async move {
                service
                    .delete_role(owner, org, "doomed", Some(reassign_to))
                    .await
            })
        }];
        if variant == 2 {
            let service = service.clone();
            deletions.push(call(move || async move {
                service
                    .delete_role(owner, org, "backup", Some("admin"))
                    .await
            }));
        }
        let invites = invitees.iter().map(|invitee| {
            let (service, invitee) = (service.clone(), invitee.clone());
            call(move || async move {
                service
                    .invite(owner, org, invitee, Some("doomed"))
                    .await
                    .map(drop)
            })
        });
        let changes = members.iter().map(|&member| {
            let service = service.clone();
            call(move || async move {
                service
                    .change_role(owner, org, member, "doomed")
                    .await
                    .map(|m: Member| {
                        assert_eq!(m.role.key().as_str(), "doomed");
                    })
            })
        });
        let deleting = deletions.len();
        let results = all_at_once(
            deletions
                .into_iter()
                .chain(invites)
                .chain(changes)
                .collect(),
        )
        .await;
        let at = format!("round {round} (variant {variant})");
        no_internal_errors(&results);
        let (deleted, rest) = results.split_at(deleting);
        let (invited, changed) = rest.split_at(RACERS);

        let roles = service.roles(owner, org).await.unwrap();
        let exists = |key: &str| roles.iter().any(|r| r.role.key().as_str() == key);
        match &deleted[0] {
            Ok(()) => assert!(!exists("doomed"), "{at}: deleted, yet listed"),
            // Only when its target went first.
            Err(e) if variant == 2 && e.code() == "validation_failed" => {
                assert!(!exists("backup") && exists("doomed"), "{at}: {e}");
            }
            Err(e) => panic!("{at}: the deletion failed: {e}"),
        }
        if variant == 2 {
            assert!(deleted[1].is_ok(), "{at}: {:?}", deleted[1]);
            assert!(!exists("backup"), "{at}");
        }
        // Where the holders of a role are now.
        let resolve = |key: &str| -> String {
            let mut key = key.to_owned();
            while !exists(&key) {
                key = match key.as_str() {
                    "doomed" => reassign_to.to_owned(),
                    "backup" => "admin".to_owned(),
                    other => panic!("{at}: {other} is neither here nor moved"),
                };
            }
            key
        };
        let doomed_now = resolve("doomed");
        for result in invited.iter().chain(changed) {
            if let Err(e) = result {
                assert_eq!(e.code(), "role_not_assignable", "{at}: {e}");
                assert!(
                    !exists("doomed"),
                    "{at}: refused a role that is still there"
                );
            }
        }

        let now = service.members(owner, org).await.unwrap();
        let role_of = |user: UserId| -> String {
            now.iter()
                .find(|m| m.user.id == user)
                .unwrap_or_else(|| panic!("{at}: a member went missing"))
                .role
                .key()
                .to_string()
        };
        assert_eq!(role_of(holder), doomed_now, "{at}: the first holder");
        for (member, result) in members.iter().zip(changed) {
            let expected = if result.is_ok() {
                doomed_now.as_str()
            } else {
                "viewer"
            };
            assert_eq!(role_of(*member), expected, "{at}: {result:?}");
        }
        let pending = service
            .pending_invitations(owner, org)
            .await
            .unwrap()
            .into_value();
        let invitation_of = |to: &EmailAddress| {
            let mut of: Vec<_> = pending.iter().filter(|i| &i.email == to).collect();
            assert!(of.len() <= 1, "{at}: two pending invitations to {to}");
            of.pop().map(|i| i.role.key().to_string())
        };
        assert_eq!(invitation_of(&waiting), Some(doomed_now.clone()), "{at}");
        for (invitee, result) in invitees.iter().zip(invited) {
            let expected = result.is_ok().then(|| doomed_now.clone());
            assert_eq!(invitation_of(invitee), expected, "{at}: {result:?}");
        }
        assert_eq!(
            pending.len(),
            1 + invited.iter().filter(|r| r.is_ok()).count()
        );
        no_missing_roles(&service, owner, org, &at).await;
        empty_outbox(&db.store).await;
    });
}

/// The owner changes a member's role while the member is removed: by the
/// owner (who may always remove them), or by a gatekeeper, a custom role of
/// `manage_members` alone, who may remove the member only while the
/// member's role holds nothing more. The new role is `editor` or a custom
/// one (`wide`); both hold more than the gatekeeper.
///
/// Either the member is gone (the removal succeeded; the change came before
/// it or answered 404), or the member is there with the new role (the
/// change came first and the gatekeeper was then refused): never a member
/// with a role nobody asked for, never an internal error.
#[test]
fn a_role_change_racing_the_removal_ends_consistent() {
    run(async |db, service, round| {
        let (owner, org) = sign_up(&service, email(round, "owner")).await;
        create(&service, owner, org, "minimal", &[]).await;
        create(
            &service,
            owner,
            org,
            "gatekeeper",
            &[Capability::ManageMembers],
        )
        .await;
        create(
            &service,
            owner,
            org,
            "wide",
            &[Capability::ManageAgents, Capability::ChatWithAgents],
        )
        .await;
        let gatekeeper = join(
            &db,
            &service,
            &service,
            (owner, org),
            email(round, "gatekeeper"),
            "gatekeeper",
        )
        .await;
        let member = join(
            &db,
            &service,
            &service,
            (owner, org),
            email(round, "member"),
            "minimal",
        )
        .await;
        let target = if round % 2 == 0 { "editor" } else { "wide" };
        let remover = if round % 4 < 2 { owner } else { gatekeeper };
        let changing = {
            let service = service.clone();
            call(move || async move {
                service
                    .change_role(owner, org, member, target)
                    .await
                    .map(|m| {
                        assert_eq!(m.role.key().as_str(), target);
                        assert_eq!(m.user.id, member);
                    })
            })
        };
        let removing = {
            let service = service.clone();
            call(move || async move { service.remove_member(remover, org, member).await })
        };
        let results = all_at_once(vec![changing, removing]).await;
        let at = format!(
            "round {round} ({target}, removed by the {})",
            if remover == owner {
                "owner"
            } else {
                "gatekeeper"
            }
        );
        no_internal_errors(&results);
        let (changed, removed) = (&results[0], &results[1]);
        let now = service.members(owner, org).await.unwrap();
        let present = now.iter().find(|m| m.user.id == member);
        match (changed, removed, present) {
            // Removed: after the change (by the owner alone, who holds more than
            // any role), or before it, which then finds nobody.
            (Ok(()), Ok(()), None) if remover == owner => {}
            (Err(e), Ok(()), None) if e.code() == "not_found" => {}
            // Changed first; the gatekeeper then holds less than they do.
            (Ok(()), Err(e), Some(m)) if remover == gatekeeper && e.code() == "forbidden" => {
                assert_eq!(m.role.key().as_str(), target, "{at}");
            }
            (changed, removed, present) => panic!(
                "{at}: the change answered {changed:?}, the removal {removed:?}, \
                 and the member is {present:?}"
            ),
        }
        // In force at once: the new role's capabilities, or none at all.
        let granted = service
            .authorize(member, org, Capability::ManageAgents)
            .await
            .unwrap();
        match present {
            Some(_) => assert!(granted.is_ok(), "{at}: {granted:?}"),
            None => assert_eq!(granted.unwrap_err(), Denial::NotAMember, "{at}"),
        }
        assert_eq!(now.len(), 2 + usize::from(present.is_some()), "{at}");
        no_missing_roles(&service, owner, org, &at).await;
        empty_outbox(&db.store).await;
    });
}

/// The capabilities that a custom role may gain and lose: every grantable
/// one but `view_resources`, which every role holds.
fn toggled() -> Vec<Capability> {
    CapabilitySet::GRANTABLE
        .iter()
        .filter(|c| *c != Capability::ViewResources)
        .collect()
}

/// Two instances over one database (two pools on the same PostgreSQL
/// database, or on the same SQLite file): a custom role's capabilities
/// changed through instance A are in force through instance B on its very
/// next call, added and removed, in every round (D12); and so is a member's
/// change of role.
#[test]
fn a_role_changed_on_one_instance_is_in_force_on_the_other_at_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let toggled = toggled();
    runtime.block_on(async {
        for backend in backends() {
            let db = TestDb::new(backend).await;
            let other = db.another_instance().await;
            let (a, b) = (live(&db.store, settings()), live(&other, settings()));
            let started = std::time::Instant::now();
            for round in 0..ROUNDS {
                let at = format!("{backend:?}, round {round}");
                let (owner, org) = sign_up(&a, email(round, "owner")).await;
                create(&a, owner, org, "flex", &[]).await;
                let member = join(&db, &a, &b, (owner, org), email(round, "member"), "flex").await;
                let capability = toggled[round % toggled.len()];
                let lacks = Denial::LacksCapability {
                    role: RoleKey::custom("flex").unwrap(),
                    capability,
                };
                let on_b = async || b.authorize(member, org, capability).await.unwrap();
                assert_eq!(on_b().await.unwrap_err(), lacks, "{at}");
                for with in [true, false] {
                    let capabilities = if with {
                        CapabilitySet::of(&[Capability::ViewResources, capability])
                    } else {
                        CapabilitySet::of(&[Capability::ViewResources])
                    };
                    let updated = a
                        .update_role(
                            owner,
                            org,
                            "flex",
                            RolePatch {
                                capabilities: Some(capabilities),
                                ..RolePatch::default()
                            },
                        )
                        .await
                        .unwrap();
                    assert_eq!(updated.role.capabilities(), capabilities, "{at}");
                    match on_b().await {
                        Ok(grant) if with => {
                            assert_eq!(grant.capabilities(), capabilities, "{at}");
                        }
                        Err(denial) if !with => assert_eq!(denial, lacks, "{at}"),
                        other => panic!("{at}: with {capability} {with}, B answered {other:?}"),
                    }
                }
                // A member's change of role, the same way.
                a.change_role(owner, org, member, "editor").await.unwrap();
                let editor = b
                    .authorize(member, org, Capability::ManageAgents)
                    .await
                    .unwrap();
                assert!(editor.is_ok(), "{at}: {editor:?}");
                a.change_role(owner, org, member, "flex").await.unwrap();
                assert!(
                    b.authorize(member, org, Capability::ManageAgents)
                        .await
                        .unwrap()
                        .is_err(),
                    "{at}"
                );
                empty_outbox(&db.store).await;
            }
            eprintln!("{backend:?}: {ROUNDS} rounds in {:?}", started.elapsed());
            other.close().await.unwrap();
            db.remove().await;
        }
    });
}
