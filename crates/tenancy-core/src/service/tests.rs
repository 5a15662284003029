//! The use cases against mocked ports: the order of reads and writes inside
//! the transaction, and what happens when the store fails or contends.

use chrono::DateTime;
use mockall::Sequence;
use uuid::Uuid;

use super::*;
use crate::audit::{Action, Actor, AuditEntry, Target, TargetKind};
use crate::decide::{Change, Write};
use crate::entity::MailContent;
use crate::error::StoreError;
use crate::plan::Usage;
use crate::policy::authorize;
use crate::ports::{MockRepository, MockTransaction};
use crate::testing::fakes::{CountingTokens, ManualClock, SequentialIds};

type Mocked = Service<MockRepository, ManualClock, SequentialIds, CountingTokens>;

fn service(repository: MockRepository) -> Mocked {
    let clock = ManualClock::at(DateTime::from_timestamp(1_800_000_000, 0).unwrap());
    Service::new(
        repository,
        clock,
        SequentialIds::default(),
        CountingTokens::default(),
        Settings::default(),
    )
}

fn ann() -> User {
    User {
        id: UserId::from_uuid(Uuid::from_u128(1)),
        email: EmailAddress::parse("ann@example.com").unwrap(),
        display_name: None,
        email_verified: true,
        created_at: DateTime::from_timestamp(0, 0).unwrap(),
    }
}

fn acme() -> Organization {
    Organization {
        id: OrganizationId::from_uuid(Uuid::from_u128(10)),
        name: OrganizationName::parse("Acme").unwrap(),
        plan: PlanId::free(),
        owner_id: ann().id,
        created_at: DateTime::from_timestamp(0, 0).unwrap(),
        deletion: None,
    }
}

fn membership(role: Role) -> Membership {
    Membership {
        organization_id: acme().id,
        user_id: ann().id,
        role,
        joined_at: DateTime::from_timestamp(0, 0).unwrap(),
    }
}

/// A transaction that serves the snapshot of a rename by a member of `role`.
fn rename_snapshot(tx: &mut MockTransaction, seq: &mut Sequence, role: Role) {
    tx.expect_lock_organization()
        .withf(|id| *id == acme().id)
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(()));
    tx.expect_organization()
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(Some(acme())));
    tx.expect_membership()
        .times(1)
        .in_sequence(seq)
        .returning(move |_, _| Ok(Some(membership(role.clone()))));
    tx.expect_active_organization()
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(None));
}

fn repository_of(transactions: Vec<MockTransaction>) -> MockRepository {
    let mut repository = MockRepository::new();
    let mut seq = Sequence::new();
    for tx in transactions {
        repository
            .expect_begin()
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move || Ok(Box::new(tx)));
    }
    repository
}

fn new_name() -> OrganizationName {
    OrganizationName::parse("Acme Two").unwrap()
}

/// Whether `write` is the audit entry `expected`, stamped by the service at
/// its clock's instant, with no request id (the service has no context).
fn is_stamped_audit(write: &Write, expected: &AuditEntry) -> bool {
    matches!(write.change(), Change::Audit(entry) if entry == expected)
        && write.stamp().is_some_and(|stamp| {
            stamp.occurred_at == DateTime::from_timestamp(1_800_000_000, 0).unwrap()
                && stamp.request_id.is_none()
        })
}

/// The audit entry of Ann renaming Acme to "Acme Two".
fn renamed_entry() -> AuditEntry {
    AuditEntry::new(
        acme().id,
        Action::OrganizationRenamed,
        Actor::User(ann().id),
        Target::new(TargetKind::Organization, acme().id, "Acme Two"),
    )
    .changing("name", "Acme", "Acme Two")
}

#[test]
fn rename_locks_first_then_writes_and_commits_once() {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    rename_snapshot(&mut tx, &mut seq, Role::OWNER);
    tx.expect_apply()
        .withf(|write| {
            let change = write.change();
            matches!(change, Change::RenameOrganization { name, .. } if name.as_str() == "Acme Two")
                && write.stamp().is_none()
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    // Its audit event, in the same transaction, stamped.
    tx.expect_apply()
        .withf(|write| {
            matches!(write.change(), Change::Audit(e) if e.action == Action::OrganizationRenamed)
                && write.stamp().is_some()
                && is_stamped_audit(write, &renamed_entry())
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let view = futures::executor::block_on(service(repository_of(vec![tx])).rename(
        ann().id,
        acme().id,
        new_name(),
    ))
    .unwrap();
    assert_eq!(view.organization.name.as_str(), "Acme Two");
}

#[test]
fn a_denied_use_case_writes_nothing_and_commits_nothing() {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    rename_snapshot(&mut tx, &mut seq, Role::VIEWER);
    tx.expect_apply().never();
    tx.expect_commit().never();
    let error = futures::executor::block_on(service(repository_of(vec![tx])).rename(
        ann().id,
        acme().id,
        new_name(),
    ))
    .unwrap_err();
    assert_eq!(error.code(), "forbidden");
}

fn contended_rename() -> MockTransaction {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    rename_snapshot(&mut tx, &mut seq, Role::OWNER);
    tx.expect_apply().returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .returning(|| Err(StoreError::contention("serialization failure")));
    tx
}

#[test]
fn contention_runs_the_whole_use_case_again() {
    let mut second = MockTransaction::new();
    let mut seq = Sequence::new();
    rename_snapshot(&mut second, &mut seq, Role::OWNER);
    second
        .expect_apply()
        .withf(|write| matches!(write.change(), Change::RenameOrganization { .. }))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    second
        .expect_apply()
        .withf(|write| {
            matches!(write.change(), Change::Audit(e) if e.action == Action::OrganizationRenamed)
                && write.stamp().is_some()
                && is_stamped_audit(write, &renamed_entry())
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    second.expect_commit().times(1).returning(|| Ok(()));
    let repository = repository_of(vec![contended_rename(), second]);
    let view =
        futures::executor::block_on(service(repository).rename(ann().id, acme().id, new_name()))
            .unwrap();
    assert_eq!(view.organization.name.as_str(), "Acme Two");
}

#[test]
fn contention_that_persists_is_reported_after_the_last_attempt() {
    let repository = repository_of((0..ATTEMPTS).map(|_| contended_rename()).collect());
    let error =
        futures::executor::block_on(service(repository).rename(ann().id, acme().id, new_name()))
            .unwrap_err();
    assert!(
        matches!(&error, Error::Store(e) if e.kind() == crate::error::StoreErrorKind::Contention)
    );
}

#[test]
fn other_store_failures_are_not_retried() {
    let mut repository = MockRepository::new();
    repository
        .expect_begin()
        .times(1)
        .returning(|| Err(StoreError::other("disk on fire")));
    let error =
        futures::executor::block_on(service(repository).rename(ann().id, acme().id, new_name()))
            .unwrap_err();
    assert_eq!(error.code(), "internal");
}

#[test]
fn invite_writes_the_invitation_and_its_email_in_one_transaction() {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    tx.expect_lock_organization()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_user().returning(|_| Ok(Some(ann())));
    tx.expect_organization().returning(|_| Ok(Some(acme())));
    tx.expect_membership()
        .returning(|_, _| Ok(Some(membership(Role::OWNER))));
    tx.expect_user_by_email().returning(|_| Ok(None));
    tx.expect_open_invitation().returning(|_, _| Ok(None));
    tx.expect_apply()
        .withf(|c| matches!(c.change(), Change::InsertInvitation(_)))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    // Its audit event: Ann invited, the invitation labelled by its address.
    tx.expect_apply()
        .withf(|write| {
            matches!(write.change(), Change::Audit(e)
                if e.action == Action::InvitationCreated
                && e.organization_id == acme().id
                && e.actor == Actor::User(ann().id)
                && e.target.kind == TargetKind::Invitation
                && e.target.label == crate::audit::Label::Text("bob@example.com".to_owned())
                && e.changes.is_none())
                && write.stamp().is_some()
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_apply()
        .withf(|c| {
            let c = c.change();
            matches!(c, Change::EnqueueMail(mail)
                if mail.to.as_str() == "bob@example.com"
                && matches!(&mail.content, MailContent::Invitation { token, .. } if token.expose().len() == 43))
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let invitation = futures::executor::block_on(service(repository_of(vec![tx])).invite(
        ann().id,
        acme().id,
        EmailAddress::parse("Bob@Example.com").unwrap(),
        None,
    ))
    .unwrap();
    // The token is the first one the generator made; only its hash is kept.
    let token = SecretToken::from_bytes(CountingTokens::default().generate());
    assert_eq!(invitation.token_hash, token.hash());
    assert_eq!(invitation.email.as_str(), "bob@example.com");
}

#[test]
fn authorization_reads_the_committed_membership_every_time() {
    let mut repository = MockRepository::new();
    let mut seq = Sequence::new();
    for member in [true, false] {
        repository
            .expect_read()
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move || {
                let mut tx = MockTransaction::new();
                tx.expect_organization()
                    .times(1)
                    .returning(|_| Ok(Some(acme())));
                tx.expect_membership()
                    .times(1)
                    .returning(move |_, _| Ok(member.then(|| membership(Role::VIEWER))));
                Ok(Box::new(tx))
            });
    }
    let service = service(repository);
    let check = || {
        futures::executor::block_on(service.authorize(
            ann().id,
            acme().id,
            Capability::ViewResources,
        ))
        .unwrap()
    };
    assert!(check().is_ok());
    // Removed between two requests: the very next check is denied (D12).
    assert_eq!(check(), Err(Denial::NotAMember));
}

fn connection_input() -> crate::resource::NewResource {
    crate::resource::NewResource::Connection {
        label: crate::resource::ResourceName::parse("Warehouse").unwrap(),
        connection_type: crate::resource::ConnectionType::parse("postgres").unwrap(),
        credentials: crate::resource::Credentials::parse([(
            "password".to_owned(),
            zeroize::Zeroizing::new("s3cr3t".to_owned()),
        )])
        .unwrap(),
    }
}

/// A transaction that serves the snapshot of a create by a member of `role`.
fn create_snapshot(tx: &mut MockTransaction, seq: &mut Sequence, role: Role) {
    tx.expect_lock_organization()
        .withf(|id| *id == acme().id)
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(()));
    tx.expect_organization()
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(Some(acme())));
    tx.expect_membership()
        .times(1)
        .in_sequence(seq)
        .returning(move |_, _| Ok(Some(membership(role.clone()))));
    tx.expect_usage()
        .times(1)
        .in_sequence(seq)
        .returning(|_, _| Ok(Usage::default()));
}

#[test]
fn creating_a_connection_locks_first_then_writes_its_row_and_its_credentials() {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    create_snapshot(&mut tx, &mut seq, Role::OWNER);
    tx.expect_apply()
        .withf(
            |c| matches!(c.change(), Change::InsertResource(r) if r.name.as_str() == "Warehouse"),
        )
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_apply()
        .withf(|c| {
            let c = c.change();
            matches!(c, Change::SetCredentials { organization_id, credentials, .. }
                if *organization_id == acme().id && credentials.expose("password") == Some("s3cr3t"))
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let created = futures::executor::block_on(service(repository_of(vec![tx])).create_resource(
        ann().id,
        acme().id,
        connection_input(),
    ))
    .unwrap();
    assert_eq!(created.kind(), crate::resource::ResourceKind::Connection);
    assert_eq!(created.organization_id, acme().id);
}

#[test]
fn a_viewers_create_writes_nothing() {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    create_snapshot(&mut tx, &mut seq, Role::VIEWER);
    tx.expect_apply().never();
    tx.expect_commit().never();
    let error = futures::executor::block_on(service(repository_of(vec![tx])).create_resource(
        ann().id,
        acme().id,
        connection_input(),
    ))
    .unwrap_err();
    assert_eq!(error.code(), "forbidden");
}

#[test]
fn a_host_reads_credentials_without_writing_and_checks_the_grant_again() {
    let grant = authorize(
        ann().id,
        acme().id,
        Some(&membership(Role::VIEWER)),
        Capability::ChatWithAgents,
    )
    .unwrap();
    let connection = crate::resource::Resource {
        id: crate::id::ResourceId::from_uuid(Uuid::from_u128(20)),
        organization_id: acme().id,
        name: crate::resource::ResourceName::parse("Warehouse").unwrap(),
        details: crate::resource::Details::Connection(crate::resource::Connection {
            connection_type: crate::resource::ConnectionType::parse("postgres").unwrap(),
            credentials_updated_at: None,
        }),
        created_by: ann().id,
        created_at: DateTime::from_timestamp(0, 0).unwrap(),
        updated_at: DateTime::from_timestamp(0, 0).unwrap(),
    };
    let mut repository = MockRepository::new();
    repository.expect_begin().never();
    let mut seq = Sequence::new();
    for still_member in [true, false] {
        let connection = connection.clone();
        repository
            .expect_read()
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move || {
                let mut tx = MockTransaction::new();
                tx.expect_organization().returning(|_| Ok(Some(acme())));
                tx.expect_membership()
                    .times(1)
                    .returning(move |_, _| Ok(still_member.then(|| membership(Role::VIEWER))));
                tx.expect_resource()
                    .withf(|org, _| *org == acme().id)
                    .returning(move |_, _| Ok(Some(connection.clone())));
                // Only a member's read gets this far.
                tx.expect_connection_credentials()
                    .times(usize::from(still_member))
                    .returning(|_, _| {
                        Ok(crate::resource::Credentials::parse([(
                            "password".to_owned(),
                            zeroize::Zeroizing::new("s3cr3t".to_owned()),
                        )])
                        .ok())
                    });
                tx.expect_apply().never();
                tx.expect_commit().never();
                Ok(Box::new(tx))
            });
    }
    let service = service(repository);
    let read =
        || futures::executor::block_on(service.connection_credentials(&grant, connection.id));
    let credentials = read().unwrap();
    assert_eq!(credentials.expose("password"), Some("s3cr3t"));
    // Removed since the grant was made: the very next read is refused (D12).
    assert_eq!(read().unwrap_err().code(), "not_found");
}

/// A plan change's snapshot: the organization locked, then read, and for a
/// member their membership.
fn plan_snapshot(tx: &mut MockTransaction, seq: &mut Sequence, member: Option<Role>) {
    tx.expect_lock_organization()
        .withf(|id| *id == acme().id)
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(()));
    tx.expect_organization()
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(Some(acme())));
    match member {
        Some(role) => {
            tx.expect_membership()
                .times(1)
                .in_sequence(seq)
                .returning(move |_, _| Ok(Some(membership(role.clone()))));
        }
        None => {
            tx.expect_membership().never();
        }
    }
}

#[test]
fn the_host_sets_any_plan_without_reading_a_membership() {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    plan_snapshot(&mut tx, &mut seq, None);
    tx.expect_usage()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(Usage::default()));
    tx.expect_apply()
        .withf(|change| {
            let change = change.change();
            matches!(change, Change::ChangePlan { plan, .. } if plan.as_str() == "enterprise")
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    // Its audit event: made by the host, as the service, not by a user.
    tx.expect_apply()
        .withf(|write| {
            let expected = AuditEntry::new(
                acme().id,
                Action::OrganizationPlanChanged,
                Actor::Service,
                Target::new(TargetKind::Organization, acme().id, "Acme"),
            )
            .changing("plan", "free", "enterprise");
            matches!(write.change(), Change::Audit(e) if e.action == Action::OrganizationPlanChanged)
                && write.stamp().is_some()
                && is_stamped_audit(write, &expected)
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let billing = futures::executor::block_on(service(repository_of(vec![tx])).change_plan(
        PlanChanger::Host,
        acme().id,
        PlanId::new("enterprise"),
    ))
    .unwrap();
    assert_eq!(billing.plan.as_str(), "enterprise");
    assert_eq!(billing.limits, crate::plan::Limits::UNLIMITED);
}

#[test]
fn a_member_picking_a_closed_plan_writes_nothing() {
    let mut tx = MockTransaction::new();
    let mut seq = Sequence::new();
    plan_snapshot(&mut tx, &mut seq, Some(Role::OWNER));
    tx.expect_apply().never();
    tx.expect_commit().never();
    let error = futures::executor::block_on(service(repository_of(vec![tx])).change_plan(
        PlanChanger::Member(ann().id),
        acme().id,
        PlanId::new("enterprise"),
    ))
    .unwrap_err();
    assert_eq!(error.code(), "plan_not_selectable");
}

/// An organization whose purge is due at the service's clock.
fn due(n: u128) -> Organization {
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    Organization {
        id: OrganizationId::from_uuid(Uuid::from_u128(n)),
        deletion: Some(crate::entity::ScheduledDeletion {
            requested_at: now - chrono::Duration::days(30),
            purge_after: now,
        }),
        ..acme()
    }
}

/// A transaction of the purge of `organization`, which reads it again under
/// its lock as `found`; only if `purged` are its blobs erased (in `blobs`,
/// while the lock is held) and its rows purged.
fn purge_transaction(
    organization: OrganizationId,
    found: Option<Organization>,
    purged: bool,
    blobs: &mut crate::ports::MockBlobStore,
) -> MockTransaction {
    let mut tx = MockTransaction::new();
    let seq = &mut Sequence::new();
    tx.expect_lock_organization()
        .withf(move |id| *id == organization)
        .times(1)
        .in_sequence(seq)
        .returning(|_| Ok(()));
    tx.expect_organization()
        .withf(move |id| *id == organization)
        .times(1)
        .in_sequence(seq)
        .return_once(move |_| Ok(found));
    if purged {
        blobs
            .expect_delete_organization()
            .withf(move |id| *id == organization)
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(()));
        tx.expect_apply()
            .withf(move |write| {
                *write.change()
                    == Change::PurgeOrganization {
                        organization_id: organization,
                    }
            })
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(()));
    } else {
        tx.expect_apply().never();
    }
    tx.expect_commit()
        .times(1)
        .in_sequence(seq)
        .returning(|| Ok(()));
    tx
}

#[test]
fn the_purge_decides_under_the_lock_then_erases_blobs_then_rows() {
    let (gone, restored) = (due(30), due(31));
    let mut seq = Sequence::new();
    let mut repository = MockRepository::new();
    let listed = vec![gone.id, restored.id];
    repository
        .expect_read()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(move || {
            let mut tx = MockTransaction::new();
            tx.expect_due_purges()
                .withf(|now, limit| {
                    *now == DateTime::from_timestamp(1_800_000_000, 0).unwrap() && *limit == 5
                })
                .times(1)
                .return_once(move |_, _| Ok(listed));
            Ok(Box::new(tx))
        });
    let mut blobs = crate::ports::MockBlobStore::new();
    // For each, a transaction of its own that decides again under the lock,
    // then erases its blobs and its rows. The second is no longer due when
    // read again (another instance, whose clock is behind, restored it): its
    // blobs and rows stay.
    for (organization, found, purged) in [
        (gone.id, Some(gone.clone()), true),
        (
            restored.id,
            Some(Organization {
                deletion: None,
                ..restored.clone()
            }),
            false,
        ),
    ] {
        let tx = purge_transaction(organization, found, purged, &mut blobs);
        repository
            .expect_begin()
            .times(1)
            .in_sequence(&mut seq)
            .return_once(move || Ok(Box::new(tx)));
    }
    let tenancy = service(repository).with_blobs(std::sync::Arc::new(blobs));
    assert_eq!(
        futures::executor::block_on(tenancy.purge_due(5)).unwrap(),
        1
    );
}

#[test]
fn a_purge_that_fails_on_the_blobs_leaves_the_rows_for_the_next_run() {
    let gone = due(30);
    let mut repository = MockRepository::new();
    let listed = vec![gone.id];
    repository.expect_read().times(1).return_once(move || {
        let mut tx = MockTransaction::new();
        tx.expect_due_purges()
            .times(1)
            .return_once(move |_, _| Ok(listed));
        Ok(Box::new(tx))
    });
    // The transaction that decided is never committed: the organization
    // stays due, its rows whole, for the next run.
    let organization = gone.id;
    repository.expect_begin().times(1).return_once(move || {
        let mut tx = MockTransaction::new();
        tx.expect_lock_organization()
            .withf(move |id| *id == organization)
            .times(1)
            .returning(|_| Ok(()));
        tx.expect_organization()
            .times(1)
            .return_once(move |_| Ok(Some(gone)));
        tx.expect_apply().never();
        tx.expect_commit().never();
        Ok(Box::new(tx))
    });
    let mut blobs = crate::ports::MockBlobStore::new();
    blobs
        .expect_delete_organization()
        .times(1)
        .returning(|_| Err(StoreError::unavailable("the disk is gone")));
    let tenancy = service(repository).with_blobs(std::sync::Arc::new(blobs));
    let error = futures::executor::block_on(tenancy.purge_due(5)).unwrap_err();
    assert_eq!(error.code(), "internal");
}
