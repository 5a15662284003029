//! Custom roles on the real store (R26, D15): the schema refuses a role
//! that does not exist and the deletion of a role still held, a dead
//! invitation keeps the key of a deleted role as history, and a role's new
//! definition is what the next read of a membership carries (D12).

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use sea_orm::sea_query::{Alias, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, TransactionTrait};
use sea_orm_migration::MigratorTrait as _;
use tenancy_core::decide::{Change, SignedUp};
use tenancy_core::entity::{CustomRole, Invitation, InvitationState};
use tenancy_core::ports::Repository;
use tenancy_core::service::Settings;
use tenancy_core::token::SecretToken;
use tenancy_core::value::{EmailAddress, RoleDescription, RoleName};
use tenancy_core::{
    Capability, CapabilitySet, InvitationId, Membership, OrganizationId, Role, RoleKey, StoreError,
    UserId,
};
use tenancy_store::migration::Migrator;
use uuid::Uuid;

use crate::support::{LiveService, TestDb, apply_alone, backends, live, sign_up};

/// A custom role holding `view_resources` and `more`.
fn custom(key: &str, name: &str, more: &[Capability]) -> Role {
    Role::custom(
        RoleKey::custom(key).unwrap(),
        RoleName::parse(name).unwrap(),
        RoleDescription::parse(&format!("{name}, for the tests")).unwrap(),
        CapabilitySet::of(more).with(Capability::ViewResources),
    )
    .unwrap()
}

/// An instant as both databases keep it: whole microseconds.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn row(organization: OrganizationId, role: Role, at: DateTime<Utc>) -> CustomRole {
    CustomRole {
        organization_id: organization,
        role,
        created_at: stored(at),
        updated_at: stored(at),
    }
}

fn member(organization: OrganizationId, user: UserId, role: Role) -> Change {
    Change::InsertMembership(Membership {
        organization_id: organization,
        user_id: user,
        role,
        joined_at: Utc::now(),
    })
}

/// A pending invitation of `email`, expiring `ttl` from now (a negative one:
/// expired by time, still stored as pending).
fn invitation(
    organization: OrganizationId,
    inviter: UserId,
    email: &str,
    role: Role,
    ttl: Duration,
) -> Invitation {
    let mut token = [0_u8; 32];
    getrandom::fill(&mut token).unwrap();
    Invitation {
        id: InvitationId::from_uuid(Uuid::now_v7()),
        organization_id: organization,
        email: EmailAddress::parse(email).unwrap(),
        role,
        token_hash: SecretToken::from_bytes(token).hash(),
        invited_by: inviter,
        created_at: Utc::now(),
        expires_at: Utc::now() + ttl,
        state: InvitationState::Pending,
    }
}

fn set_state(invitation: &Invitation, state: InvitationState) -> Change {
    Change::SetInvitationState {
        organization_id: invitation.organization_id,
        invitation_id: invitation.id,
        state,
    }
}

/// A refusal of the schema: reported, and not as contention (which would
/// have the use case run again).
#[track_caller]
fn refused(result: Result<(), StoreError>, what: &str) {
    match result {
        Ok(()) => panic!("{what}: the database accepted it"),
        Err(error) => assert_eq!(
            error.kind(),
            tenancy_core::error::StoreErrorKind::Other,
            "{what}: {error}"
        ),
    }
}

async fn membership(db: &TestDb, organization: OrganizationId, user: UserId) -> Option<Membership> {
    let mut tx = db.store.read().await.unwrap();
    tx.membership(organization, user).await.unwrap()
}

async fn stored_invitation(db: &TestDb, invitation: &Invitation) -> Invitation {
    let mut tx = db.store.read().await.unwrap();
    let by_id = tx
        .invitation(invitation.organization_id, invitation.id)
        .await
        .unwrap()
        .unwrap();
    let by_token = tx
        .invitation_by_token(&invitation.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id, by_token);
    by_id
}

async fn in_use(db: &TestDb, organization: OrganizationId, key: &str) -> bool {
    let mut tx = db.store.read().await.unwrap();
    tx.role_in_use(organization, &RoleKey::parse(key).unwrap())
        .await
        .unwrap()
}

/// Ann with her organization, and Bob, who has an account and an
/// organization of his own.
async fn people(service: &LiveService) -> (SignedUp, SignedUp) {
    (
        sign_up(service, "ann@example.com").await,
        sign_up(service, "bob@example.com").await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_refuses_roles_that_do_not_exist() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let (ann, bob) = people(&service).await;
        let (org, bobs_org) = (ann.default_organization.id, bob.default_organization.id);
        let analyst = custom("analyst", "Analyst", &[Capability::ViewAuditLog]);

        // No organization has the role yet.
        refused(
            apply_alone(&db, member(org, bob.user.id, analyst.clone())).await,
            "a membership of a missing role",
        );
        refused(
            apply_alone(
                &db,
                Change::InsertInvitation(invitation(
                    org,
                    ann.user.id,
                    "cy@example.com",
                    analyst.clone(),
                    Duration::days(7),
                )),
            )
            .await,
            "a pending invitation of a missing role",
        );

        // Bob's organization has it; Ann's still does not.
        apply_alone(
            &db,
            Change::InsertRole(row(bobs_org, analyst.clone(), Utc::now())),
        )
        .await
        .unwrap();
        refused(
            apply_alone(&db, member(org, bob.user.id, analyst.clone())).await,
            "a membership of another organization's role",
        );
        apply_alone(&db, member(org, bob.user.id, Role::VIEWER))
            .await
            .unwrap();
        refused(
            apply_alone(
                &db,
                Change::SetMemberRole {
                    organization_id: org,
                    user_id: bob.user.id,
                    role: analyst.key().clone(),
                },
            )
            .await,
            "a role change to another organization's role",
        );
        assert_eq!(
            membership(&db, org, bob.user.id).await.unwrap().role,
            Role::VIEWER,
            "{backend:?}"
        );
        assert!(
            apply_alone(
                &db,
                Change::InsertRole(row(bobs_org, analyst.clone(), Utc::now()))
            )
            .await
            .is_err(),
            "{backend:?}: a key taken twice in one organization"
        );
        // Editing a role that is not there changes nothing, and says so.
        assert!(
            apply_alone(
                &db,
                Change::UpdateRole(row(org, analyst.clone(), Utc::now()))
            )
            .await
            .is_err(),
            "{backend:?}: an update of a missing role"
        );
        assert!(
            apply_alone(
                &db,
                Change::DeleteRole {
                    organization_id: org,
                    key: analyst.key().clone(),
                }
            )
            .await
            .is_err(),
            "{backend:?}: a deletion of a missing role"
        );

        // An invitation never grants the owner's role.
        refused(
            apply_alone(
                &db,
                Change::InsertInvitation(invitation(
                    org,
                    ann.user.id,
                    "dee@example.com",
                    Role::OWNER,
                    Duration::days(7),
                )),
            )
            .await,
            "a pending invitation to be owner",
        );
        // A custom role never takes a built-in key (no decision can even
        // make one: the row is written by hand).
        let now = Utc::now();
        let insert = Query::insert()
            .into_table(Alias::new("roles"))
            .columns(
                [
                    "organization_id",
                    "key",
                    "name",
                    "description",
                    "capabilities",
                    "created_at",
                    "updated_at",
                ]
                .map(Alias::new),
            )
            .values_panic(
                [
                    org.as_uuid().into(),
                    "admin".into(),
                    "Admin".into(),
                    "".into(),
                    "view_resources".into(),
                    now.into(),
                    now.into(),
                ]
                .map(SimpleExpr::Value),
            )
            .to_owned();
        assert!(
            db.store.connection().execute(&insert).await.is_err(),
            "{backend:?}: a custom role with a built-in key"
        );
        db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_role_is_not_deleted_and_dead_invitations_keep_its_key() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let (ann, bob) = people(&service).await;
        let org = ann.default_organization.id;
        let analyst = custom("analyst", "Analyst", &[Capability::ManageAgents]);
        let delete = || Change::DeleteRole {
            organization_id: org,
            key: analyst.key().clone(),
        };
        apply_alone(
            &db,
            Change::InsertRole(row(org, analyst.clone(), Utc::now())),
        )
        .await
        .unwrap();
        assert!(!in_use(&db, org, "analyst").await, "{backend:?}");

        // Held by a member.
        apply_alone(&db, member(org, bob.user.id, analyst.clone()))
            .await
            .unwrap();
        assert!(in_use(&db, org, "analyst").await, "{backend:?}");
        refused(
            apply_alone(&db, delete()).await,
            "deleting a role a member holds",
        );
        assert_eq!(
            membership(&db, org, bob.user.id).await.unwrap().role,
            analyst,
            "{backend:?}"
        );
        apply_alone(
            &db,
            Change::SetMemberRole {
                organization_id: org,
                user_id: bob.user.id,
                role: RoleKey::VIEWER,
            },
        )
        .await
        .unwrap();
        assert!(!in_use(&db, org, "analyst").await, "{backend:?}");

        // Held by a pending invitation, even one whose time is up: a resend
        // would revive it.
        let pending = invitation(
            org,
            ann.user.id,
            "cy@example.com",
            analyst.clone(),
            -Duration::days(1),
        );
        apply_alone(&db, Change::InsertInvitation(pending.clone()))
            .await
            .unwrap();
        assert!(in_use(&db, org, "analyst").await, "{backend:?}");
        refused(
            apply_alone(&db, delete()).await,
            "deleting a role a pending invitation holds",
        );

        // Held only by dead invitations: a revoked one, and an accepted one.
        apply_alone(
            &db,
            set_state(&pending, InvitationState::Revoked { at: Utc::now() }),
        )
        .await
        .unwrap();
        let accepted = invitation(
            org,
            ann.user.id,
            "dee@example.com",
            analyst.clone(),
            Duration::days(7),
        );
        apply_alone(&db, Change::InsertInvitation(accepted.clone()))
            .await
            .unwrap();
        apply_alone(
            &db,
            set_state(
                &accepted,
                InvitationState::Accepted {
                    by: bob.user.id,
                    at: Utc::now(),
                },
            ),
        )
        .await
        .unwrap();
        assert!(!in_use(&db, org, "analyst").await, "{backend:?}");
        // While the role exists, they read as the role.
        assert_eq!(stored_invitation(&db, &pending).await.role, analyst);
        apply_alone(&db, delete()).await.unwrap();

        let mut tx = db.store.read().await.unwrap();
        assert_eq!(tx.custom_role(org, analyst.key()).await.unwrap(), None);
        assert!(tx.custom_roles(org).await.unwrap().is_empty());
        drop(tx);
        for dead in [&pending, &accepted] {
            let read = stored_invitation(&db, dead).await;
            assert_eq!(
                read.role,
                Role::retired(analyst.key().clone()),
                "{backend:?}"
            );
            assert!(read.role.capabilities().is_empty(), "{backend:?}");
            assert!(!read.is_open(), "{backend:?}");
        }
        // The key is free again, and a new pending invitation of it is
        // refused until the role exists again.
        refused(
            apply_alone(
                &db,
                Change::InsertInvitation(invitation(
                    org,
                    ann.user.id,
                    "eve@example.com",
                    analyst.clone(),
                    Duration::days(7),
                )),
            )
            .await,
            "a pending invitation of a deleted role",
        );
        db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_role_is_what_the_next_read_carries() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let (ann, bob) = people(&service).await;
        let org = ann.default_organization.id;
        let created = Utc::now() - Duration::hours(1);
        let analyst = custom("analyst", "Analyst", &[]);
        apply_alone(&db, Change::InsertRole(row(org, analyst.clone(), created)))
            .await
            .unwrap();
        apply_alone(&db, member(org, bob.user.id, analyst.clone()))
            .await
            .unwrap();
        assert_eq!(
            membership(&db, org, bob.user.id).await.unwrap().role,
            analyst,
            "{backend:?}"
        );
        assert!(
            service
                .authorize(bob.user.id, org, Capability::ManageAgents)
                .await
                .unwrap()
                .is_err(),
            "{backend:?}"
        );

        // New capabilities, a new name and description.
        let builder = Role::custom(
            analyst.key().clone(),
            RoleName::parse("Senior analyst").unwrap(),
            RoleDescription::parse("").unwrap(),
            analyst
                .capabilities()
                .with(Capability::ManageAgents)
                .with(Capability::ViewAuditLog),
        )
        .unwrap();
        let updated = CustomRole {
            updated_at: stored(Utc::now()),
            ..row(org, builder.clone(), created)
        };
        apply_alone(&db, Change::UpdateRole(updated.clone()))
            .await
            .unwrap();
        let read = membership(&db, org, bob.user.id).await.unwrap();
        assert_eq!(read.role, builder, "{backend:?}");
        assert_eq!(read.role.name().as_str(), "Senior analyst");
        assert!(
            service
                .authorize(bob.user.id, org, Capability::ManageAgents)
                .await
                .unwrap()
                .is_ok(),
            "{backend:?}: the new capability is in force on the next request"
        );
        let mut tx = db.store.read().await.unwrap();
        assert_eq!(
            tx.custom_role(org, analyst.key()).await.unwrap(),
            Some(updated.clone()),
            "{backend:?}"
        );
        // Every read of a membership carries the same definition.
        let members = tx.members(org).await.unwrap();
        let bobs = members
            .iter()
            .find(|(m, _)| m.user_id == bob.user.id)
            .unwrap();
        assert_eq!(bobs.0.role, builder, "{backend:?}");
        let owner = members
            .iter()
            .find(|(m, _)| m.user_id == ann.user.id)
            .unwrap();
        assert_eq!(owner.0.role, Role::OWNER, "{backend:?}");
        let of_bob = tx.memberships_of_user(bob.user.id).await.unwrap();
        assert_eq!(
            of_bob.len(),
            2,
            "{backend:?}: his own organization and Ann's"
        );
        for (m, o) in &of_bob {
            let expected = if o.id == org { &builder } else { &Role::OWNER };
            assert_eq!(&m.role, expected, "{backend:?}");
        }
        drop(tx);

        // Roles list oldest first, ties by key.
        let later = Utc::now();
        for key in ["zeta", "beta"] {
            apply_alone(
                &db,
                Change::InsertRole(row(org, custom(key, key, &[]), later)),
            )
            .await
            .unwrap();
        }
        let mut tx = db.store.read().await.unwrap();
        let keys: Vec<String> = tx
            .custom_roles(org)
            .await
            .unwrap()
            .iter()
            .map(|r| r.role.key().to_string())
            .collect();
        assert_eq!(keys, ["analyst", "beta", "zeta"], "{backend:?}");
        assert!(
            tx.custom_roles(bob.default_organization.id)
                .await
                .unwrap()
                .is_empty()
        );
        drop(tx);

        // Reassigning moves the members and the pending invitations, and
        // leaves the dead ones as they were.
        let pending = invitation(
            org,
            ann.user.id,
            "cy@example.com",
            builder.clone(),
            Duration::days(7),
        );
        let revoked = invitation(
            org,
            ann.user.id,
            "dee@example.com",
            builder.clone(),
            Duration::days(7),
        );
        for i in [&pending, &revoked] {
            apply_alone(&db, Change::InsertInvitation(i.clone()))
                .await
                .unwrap();
        }
        apply_alone(
            &db,
            set_state(&revoked, InvitationState::Revoked { at: Utc::now() }),
        )
        .await
        .unwrap();
        let mut tx = db.store.read().await.unwrap();
        let open = tx.open_invitations(org).await.unwrap();
        assert_eq!(open.len(), 1, "{backend:?}");
        assert_eq!(open[0].role, builder, "{backend:?}");
        assert_eq!(
            tx.open_invitation(org, &pending.email)
                .await
                .unwrap()
                .unwrap()
                .role,
            builder
        );
        drop(tx);
        let mut tx = db.store.begin().await.unwrap();
        for change in [
            Change::ReassignRole {
                organization_id: org,
                from: analyst.key().clone(),
                to: RoleKey::parse("beta").unwrap(),
            },
            Change::DeleteRole {
                organization_id: org,
                key: analyst.key().clone(),
            },
        ] {
            tx.apply(&tenancy_core::testing::forge(change))
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let beta = custom("beta", "beta", &[]);
        assert_eq!(
            membership(&db, org, bob.user.id).await.unwrap().role,
            beta,
            "{backend:?}"
        );
        assert_eq!(stored_invitation(&db, &pending).await.role, beta);
        assert_eq!(
            stored_invitation(&db, &revoked).await.role,
            Role::retired(analyst.key().clone()),
            "{backend:?}"
        );
        // And to a built-in role: the custom column is cleared.
        apply_alone(
            &db,
            Change::ReassignRole {
                organization_id: org,
                from: beta.key().clone(),
                to: RoleKey::EDITOR,
            },
        )
        .await
        .unwrap();
        assert_eq!(
            membership(&db, org, bob.user.id).await.unwrap().role,
            Role::EDITOR
        );
        assert_eq!(stored_invitation(&db, &pending).await.role, Role::EDITOR);
        apply_alone(
            &db,
            Change::DeleteRole {
                organization_id: org,
                key: beta.key().clone(),
            },
        )
        .await
        .unwrap();
        db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migration_keeps_memberships_invitations_and_their_indexes() {
    const MIGRATION: &str = "m0009_roles";
    for backend in backends() {
        let db = TestDb::unmigrated(backend).await;
        let conn = db.store.connection();
        let before = Migrator::migrations()
            .iter()
            .position(|m| m.name() == MIGRATION)
            .unwrap();
        // In one transaction, as `Store::migrate` runs them.
        let tx = conn.begin().await.unwrap();
        Migrator::up(&tx, Some(u32::try_from(before).unwrap()))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let insert = |table: &str, row: Vec<(&str, sea_orm::Value)>| {
            let (columns, values): (Vec<_>, Vec<_>) = row.into_iter().unzip();
            Query::insert()
                .into_table(Alias::new(table))
                .columns(columns.into_iter().map(Alias::new))
                .values_panic(values.into_iter().map(SimpleExpr::from))
                .to_owned()
        };
        let (ann, bob, org) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let joined = Utc::now() - Duration::days(2);
        for (id, email) in [(ann, "ann@example.com"), (bob, "bob@example.com")] {
            conn.execute(&insert(
                "users",
                vec![
                    ("id", id.into()),
                    ("email", email.into()),
                    ("display_name", Option::<String>::None.into()),
                    ("password_hash", "phc".into()),
                    ("created_at", joined.into()),
                ],
            ))
            .await
            .unwrap();
        }
        conn.execute(&insert(
            "organizations",
            vec![
                ("id", org.into()),
                ("name", "Acme".into()),
                ("plan", "free".into()),
                ("owner_id", ann.into()),
                ("created_at", joined.into()),
            ],
        ))
        .await
        .unwrap();
        for (user, role) in [(ann, "owner"), (bob, "viewer")] {
            conn.execute(&insert(
                "memberships",
                vec![
                    ("organization_id", org.into()),
                    ("user_id", user.into()),
                    ("role", role.into()),
                    ("joined_at", joined.into()),
                ],
            ))
            .await
            .unwrap();
        }
        let pending_token = SecretToken::from_bytes([7; 32]);
        let pending = Uuid::now_v7();
        for (id, email, state, token) in [
            (pending, "cy@example.com", "pending", [7_u8; 32]),
            (Uuid::now_v7(), "cy@example.com", "revoked", [8_u8; 32]),
        ] {
            conn.execute(&insert(
                "invitations",
                vec![
                    ("id", id.into()),
                    ("organization_id", org.into()),
                    ("email", email.into()),
                    ("role", "viewer".into()),
                    (
                        "token_hash",
                        SecretToken::from_bytes(token)
                            .hash()
                            .as_bytes()
                            .to_vec()
                            .into(),
                    ),
                    ("invited_by", ann.into()),
                    ("created_at", joined.into()),
                    ("expires_at", (joined + Duration::days(7)).into()),
                    ("state", state.into()),
                    ("accepted_by", Option::<Uuid>::None.into()),
                    (
                        "state_changed_at",
                        (state != "pending").then_some(joined).into(),
                    ),
                ],
            ))
            .await
            .unwrap();
        }

        db.store.migrate().await.unwrap();

        let org_id = OrganizationId::from_uuid(org);
        assert_eq!(
            membership(&db, org_id, UserId::from_uuid(ann))
                .await
                .unwrap()
                .role,
            Role::OWNER
        );
        let mut tx = db.store.read().await.unwrap();
        let members = tx.members(org_id).await.unwrap();
        assert_eq!(
            members
                .iter()
                .map(|(m, _)| m.role.clone())
                .collect::<Vec<_>>(),
            [Role::OWNER, Role::VIEWER],
            "{backend:?}"
        );
        let kept = tx
            .invitation_by_token(&pending_token.hash())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.id.as_uuid(), pending, "{backend:?}");
        assert_eq!(kept.role, Role::VIEWER, "{backend:?}");
        drop(tx);

        // Every index of the rebuilt tables is there again, with the new ones.
        let sql = match backend {
            tenancy_store::Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name IN ('memberships', 'invitations') AND name NOT LIKE 'sqlite_%'"
            }
            tenancy_store::Backend::Postgres => {
                "SELECT indexname AS name FROM pg_indexes \
                 WHERE tablename IN ('memberships', 'invitations')"
            }
        };
        let mut names: Vec<String> = conn
            .query_all_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "name").unwrap())
            .filter(|name| name.starts_with("ix_") || name.starts_with("ux_"))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "ix_invitations_custom_role",
                "ix_invitations_organization_state",
                "ix_memberships_custom_role",
                "ix_memberships_user",
                "ux_invitations_open_email",
                "ux_memberships_owner",
            ],
            "{backend:?}"
        );
        // The unique keys still hold: one open invitation per email, one
        // membership per user, one invitation per token.
        let again = invitation(
            org_id,
            UserId::from_uuid(ann),
            "cy@example.com",
            Role::VIEWER,
            Duration::days(7),
        );
        assert!(
            apply_alone(&db, Change::InsertInvitation(again))
                .await
                .is_err()
        );
        assert!(
            apply_alone(&db, member(org_id, UserId::from_uuid(bob), Role::EDITOR))
                .await
                .is_err()
        );
        db.remove().await;
    }
}

/// One owner per organization (D8) is the schema's rule too, whatever a
/// change writes: neither a second owner's membership nor a change of role
/// to the owner's is stored.
#[tokio::test(flavor = "multi_thread")]
async fn the_database_keeps_one_owner_per_organization() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let (ann, bob) = people(&service).await;
        let org = ann.default_organization.id;
        let second = apply_alone(&db, member(org, bob.user.id, Role::OWNER)).await;
        assert!(second.is_err(), "a second owner was stored");
        apply_alone(&db, member(org, bob.user.id, Role::ADMIN))
            .await
            .unwrap();
        let promoted = apply_alone(
            &db,
            Change::SetMemberRole {
                organization_id: org,
                user_id: bob.user.id,
                role: RoleKey::OWNER,
            },
        )
        .await;
        assert!(promoted.is_err(), "a member was made a second owner");
        let bobs = membership(&db, org, bob.user.id).await.unwrap();
        assert_eq!(bobs.role, Role::ADMIN);
        let anns = membership(&db, org, ann.user.id).await.unwrap();
        assert!(anns.role.is_owner());
    }
}
