//! The schema backs the invariants even if a decision were wrong: the
//! database itself refuses what must never be.

use chrono::Utc;
use tenancy_core::decide::Change;
use tenancy_core::entity::{Invitation, InvitationState};
use tenancy_core::ports::Repository;
use tenancy_core::service::Settings;
use tenancy_core::token::SecretToken;
use tenancy_core::value::EmailAddress;
use tenancy_core::{InvitationId, Membership, OrganizationId, Role, UserId};

use crate::support::{TestDb, apply_alone, backends, live, sign_up};

#[tokio::test(flavor = "multi_thread")]
async fn the_database_refuses_what_must_never_be() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let signed = sign_up(&service, "ann@example.com").await;
        let (ann, org) = (signed.user.id, signed.default_organization.id);

        // A second membership of the same user in the same organization.
        let again = Change::InsertMembership(Membership {
            organization_id: org,
            user_id: ann,
            role: Role::VIEWER,
            joined_at: Utc::now(),
        });
        assert!(apply_alone(&db, again).await.is_err(), "{backend:?}");

        // A membership of nobody, or in no organization (foreign keys).
        let ghost = Change::InsertMembership(Membership {
            organization_id: org,
            user_id: UserId::from_uuid(uuid::Uuid::now_v7()),
            role: Role::VIEWER,
            joined_at: Utc::now(),
        });
        assert!(apply_alone(&db, ghost).await.is_err(), "{backend:?}");
        let nowhere = Change::InsertMembership(Membership {
            organization_id: OrganizationId::from_uuid(uuid::Uuid::now_v7()),
            user_id: ann,
            role: Role::VIEWER,
            joined_at: Utc::now(),
        });
        assert!(apply_alone(&db, nowhere).await.is_err(), "{backend:?}");

        // Two open invitations of one email in one organization.
        let invitation = |n: u8| Invitation {
            id: InvitationId::from_uuid(uuid::Uuid::now_v7()),
            organization_id: org,
            email: EmailAddress::parse("bob@example.com").unwrap(),
            role: Role::VIEWER,
            token_hash: SecretToken::from_bytes([n; 32]).hash(),
            invited_by: ann,
            created_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::days(7),
            state: InvitationState::Pending,
        };
        let first = invitation(1);
        apply_alone(&db, Change::InsertInvitation(first.clone()))
            .await
            .unwrap();
        assert!(
            apply_alone(&db, Change::InsertInvitation(invitation(2)))
                .await
                .is_err(),
            "{backend:?}: a second open invitation of one email"
        );
        // Once the first is closed, the email can be invited again...
        apply_alone(
            &db,
            Change::SetInvitationState {
                organization_id: org,
                invitation_id: first.id,
                state: InvitationState::Revoked { at: Utc::now() },
            },
        )
        .await
        .unwrap();
        apply_alone(&db, Change::InsertInvitation(invitation(2)))
            .await
            .unwrap();
        // ...but never with a token hash that is already taken.
        let mut same_token = invitation(2);
        same_token.email = EmailAddress::parse("cy@example.com").unwrap();
        assert!(
            apply_alone(&db, Change::InsertInvitation(same_token))
                .await
                .is_err(),
            "{backend:?}: a duplicate token hash"
        );
        // A closed invitation does not change state again.
        assert!(
            apply_alone(
                &db,
                Change::SetInvitationState {
                    organization_id: org,
                    invitation_id: first.id,
                    state: InvitationState::Accepted {
                        by: ann,
                        at: Utc::now()
                    },
                },
            )
            .await
            .is_err(),
            "{backend:?}: a revoked invitation was accepted"
        );
        // A read-only unit of work cannot write.
        let mut reader = db.store.read().await.unwrap();
        assert!(
            reader
                .apply(&tenancy_core::testing::forge(
                    Change::SetActiveOrganization {
                        user_id: ann,
                        organization_id: org
                    }
                ))
                .await
                .is_err()
        );
        db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_idempotent_and_the_sqlite_file_is_created_with_its_folder() {
    let dir = std::env::temp_dir().join(format!("tenancy-store-{}", uuid::Uuid::now_v7()));
    let url = format!("sqlite://{}/nested/tenancy.db", dir.display());
    let options = tenancy_store::StoreOptions::new(url, crate::support::test_key());
    let store = tenancy_store::Store::open(options.clone()).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await.unwrap();
    let store = tenancy_store::Store::open(options).await.unwrap();
    store.ping().await.unwrap();
    store.close().await.unwrap();
    assert!(dir.join("nested/tenancy.db").exists());
    std::fs::remove_dir_all(dir).unwrap();
}
