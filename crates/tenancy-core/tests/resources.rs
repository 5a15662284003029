//! Knowledge files through the use cases, over the in-memory repository and
//! blob store: the capability is checked before any content is stored, the
//! content and its row go together, and a failed commit leaves no blob.

use std::sync::Arc;

use chrono::DateTime;
use futures::executor::block_on;
use tenancy_core::entity::MailContent;
use tenancy_core::plan::Usage;
use tenancy_core::ports::{BlobKey, MockBlobStore, MockRepository, MockTransaction, Repository};
use tenancy_core::resource::{ContentType, Details, KnowledgeFile, ResourceKind, ResourceName};
use tenancy_core::service::{Service, Settings};
use tenancy_core::testing::fakes::{CountingTokens, ManualClock, SequentialIds};
use tenancy_core::testing::{MemoryBlobs, MemoryRepository};
use tenancy_core::value::{EmailAddress, PasswordHash};
use tenancy_core::{Error, OrganizationId, StoreError, UserId};

/// SHA-256 of `hello`, computed independently of the code under test.
const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn service<R: Repository>(
    repository: R,
    blobs: &MemoryBlobs,
) -> Service<R, ManualClock, SequentialIds, CountingTokens> {
    Service::new(
        repository,
        ManualClock::at(DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()),
        SequentialIds::default(),
        CountingTokens::default(),
        Settings::default(),
    )
    .with_blobs(Arc::new(blobs.clone()))
}

#[expect(
    clippy::unwrap_used,
    reason = "a fixture that cannot be built should stop the test loudly, like the test itself"
)]
fn name(raw: &str) -> ResourceName {
    ResourceName::parse(raw).unwrap()
}

#[expect(
    clippy::unwrap_used,
    reason = "a fixture that cannot be built should stop the test loudly, like the test itself"
)]
fn markdown() -> ContentType {
    ContentType::parse("text/markdown").unwrap()
}

type Tenancy = Service<MemoryRepository, ManualClock, SequentialIds, CountingTokens>;

/// Ann owns Acme (her default organization); Bob joined it as a viewer
/// from his invitation's link.
#[expect(
    clippy::unwrap_used,
    reason = "a fixture that cannot be built should stop the test loudly, like the test itself"
)]
fn acme_with_a_viewer(
    tenancy: &Tenancy,
    repository: &MemoryRepository,
) -> (UserId, UserId, OrganizationId) {
    let hash = || PasswordHash::new("$argon2id$test".to_owned());
    let ann = block_on(tenancy.sign_up(
        EmailAddress::parse("ann@example.com").unwrap(),
        None,
        hash(),
        None,
    ))
    .unwrap();
    let acme = ann.default_organization.id;
    block_on(tenancy.invite(
        ann.user.id,
        acme,
        EmailAddress::parse("bob@example.com").unwrap(),
        None,
    ))
    .unwrap();
    let token = match repository.mails().pop().unwrap().content {
        MailContent::Invitation { token, .. } => token.expose().to_owned(),
    };
    let bob = block_on(tenancy.sign_up(
        EmailAddress::parse("bob@example.com").unwrap(),
        None,
        hash(),
        Some(&token),
    ))
    .unwrap();
    assert_eq!(bob.active_organization_id, acme);
    (ann.user.id, bob.user.id, acme)
}

#[test]
fn a_viewer_is_refused_before_anything_is_stored() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs);
    let (_, bob, acme) = acme_with_a_viewer(&tenancy, &repository);
    let refused = block_on(tenancy.upload_knowledge_file(
        bob,
        acme,
        name("notes.md"),
        markdown(),
        b"hello".to_vec(),
    ));
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    assert!(blobs.is_empty(), "{:?}", blobs.keys());
    assert!(repository.snapshot().resources.is_empty());
}

#[test]
fn an_upload_stores_the_content_and_its_digest_and_a_delete_erases_both() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs);
    let (ann, bob, acme) = acme_with_a_viewer(&tenancy, &repository);
    let file = block_on(tenancy.upload_knowledge_file(
        ann,
        acme,
        name("notes.md"),
        markdown(),
        b"hello".to_vec(),
    ))
    .unwrap();
    assert_eq!(
        file.details,
        Details::KnowledgeFile(KnowledgeFile {
            content_type: markdown(),
            size_bytes: 5,
            sha256: HELLO_SHA256.to_owned(),
        })
    );
    assert_eq!((file.organization_id, file.created_by), (acme, ann));
    let key = BlobKey {
        organization_id: acme,
        file_id: file.id,
    };
    assert_eq!(blobs.keys(), [key]);

    // Viewers see the file and download it; it counts toward no quota.
    let listed = block_on(tenancy.resources(bob, acme, ResourceKind::KnowledgeFile)).unwrap();
    assert_eq!(listed, std::slice::from_ref(&file));
    let (found, bytes) = block_on(tenancy.knowledge_file_content(bob, acme, file.id)).unwrap();
    assert_eq!((found, bytes.as_slice()), (file.clone(), &b"hello"[..]));
    assert_eq!(
        block_on(tenancy.billing(ann, acme)).unwrap().usage,
        Usage::default()
    );

    // Only the capability deletes, and the content goes with the row.
    let refused =
        block_on(tenancy.delete_resource(bob, acme, ResourceKind::KnowledgeFile, file.id));
    assert_eq!(refused.unwrap_err().code(), "forbidden");
    assert_eq!(blobs.len(), 1);
    block_on(tenancy.delete_resource(ann, acme, ResourceKind::KnowledgeFile, file.id)).unwrap();
    assert!(blobs.is_empty());
    let gone = block_on(tenancy.knowledge_file_content(ann, acme, file.id));
    assert_eq!(gone.unwrap_err().code(), "not_found");
    assert!(
        block_on(tenancy.resources(ann, acme, ResourceKind::KnowledgeFile))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn another_organizations_file_is_missing() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs);
    let (ann, bob, acme) = acme_with_a_viewer(&tenancy, &repository);
    let file = block_on(tenancy.upload_knowledge_file(
        ann,
        acme,
        name("notes.md"),
        markdown(),
        b"hello".to_vec(),
    ))
    .unwrap();
    // Bob owns his own default organization; Acme's file is not in it.
    let bobs = block_on(tenancy.organizations(bob))
        .unwrap()
        .into_iter()
        .find(|view| view.is_owner())
        .unwrap()
        .organization
        .id;
    let elsewhere = block_on(tenancy.knowledge_file_content(bob, bobs, file.id));
    assert_eq!(elsewhere.unwrap_err().code(), "not_found");
    let deleted =
        block_on(tenancy.delete_resource(bob, bobs, ResourceKind::KnowledgeFile, file.id));
    assert_eq!(deleted.unwrap_err().code(), "not_found");
    assert_eq!(blobs.len(), 1);
}

#[test]
fn an_unknown_organization_stores_nothing() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs);
    let (ann, _, _) = acme_with_a_viewer(&tenancy, &repository);
    let nowhere = OrganizationId::from_uuid(uuid::Uuid::from_u128(u128::MAX));
    let refused = block_on(tenancy.upload_knowledge_file(
        ann,
        nowhere,
        name("notes.md"),
        markdown(),
        b"hello".to_vec(),
    ));
    assert_eq!(refused.unwrap_err().code(), "not_found");
    assert!(blobs.is_empty());
}

#[test]
fn a_failed_commit_leaves_no_blob() {
    let owner = UserId::from_uuid(uuid::Uuid::from_u128(1));
    let acme = tenancy_core::entity::Organization {
        id: OrganizationId::from_uuid(uuid::Uuid::from_u128(10)),
        name: tenancy_core::value::OrganizationName::parse("Acme").unwrap(),
        plan: tenancy_core::plan::PlanId::free(),
        owner_id: owner,
        created_at: DateTime::from_timestamp(0, 0).unwrap(),
    };
    let membership = tenancy_core::Membership {
        organization_id: acme.id,
        user_id: owner,
        role: tenancy_core::Role::Owner,
        joined_at: DateTime::from_timestamp(0, 0).unwrap(),
    };
    let snapshot = |tx: &mut MockTransaction| {
        let (acme, membership) = (acme.clone(), membership.clone());
        tx.expect_lock_organization().returning(|_| Ok(()));
        tx.expect_organization()
            .returning(move |_| Ok(Some(acme.clone())));
        tx.expect_membership()
            .returning(move |_, _| Ok(Some(membership.clone())));
        tx.expect_usage().returning(|_, _| Ok(Usage::default()));
    };
    let mut repository = MockRepository::new();
    let mut reader = MockTransaction::new();
    snapshot(&mut reader);
    repository
        .expect_read()
        .times(1)
        .return_once(move || Ok(Box::new(reader)));
    let mut writer = MockTransaction::new();
    snapshot(&mut writer);
    writer.expect_apply().times(1).returning(|_| Ok(()));
    writer
        .expect_commit()
        .times(1)
        .returning(|| Err(StoreError::other("disk full")));
    repository
        .expect_begin()
        .times(1)
        .return_once(move || Ok(Box::new(writer)));
    // The content is stored, then erased again under the same key.
    let mut blobs = MockBlobStore::new();
    let mut seq = mockall::Sequence::new();
    let stored = Arc::new(std::sync::Mutex::new(None));
    let put = Arc::clone(&stored);
    blobs
        .expect_put()
        .withf(|_, bytes| bytes == b"hello")
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |key, _| {
            *put.lock().unwrap() = Some(key);
            Ok(())
        });
    let erased = Arc::clone(&stored);
    blobs
        .expect_delete()
        .withf(move |key| *erased.lock().unwrap() == Some(*key))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    let tenancy = Service::new(
        repository,
        ManualClock::at(DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        SequentialIds::default(),
        CountingTokens::default(),
        Settings::default(),
    )
    .with_blobs(Arc::new(blobs));
    let failed = block_on(tenancy.upload_knowledge_file(
        owner,
        acme.id,
        name("notes.md"),
        markdown(),
        b"hello".to_vec(),
    ));
    assert_eq!(failed.unwrap_err().code(), "internal");
    let key = stored.lock().unwrap().unwrap();
    assert_eq!(key.organization_id, acme.id);
}

#[test]
fn without_a_blob_store_uploads_fail_and_store_nothing() {
    let repository = MemoryRepository::new();
    let tenancy = Service::new(
        repository.clone(),
        ManualClock::at(DateTime::from_timestamp(1_800_000_000, 0).unwrap()),
        SequentialIds::default(),
        CountingTokens::default(),
        Settings::default(),
    );
    let (ann, _, acme) = acme_with_a_viewer(&tenancy, &repository);
    let failed = block_on(tenancy.upload_knowledge_file(
        ann,
        acme,
        name("notes.md"),
        markdown(),
        b"hello".to_vec(),
    ));
    assert_eq!(failed.unwrap_err().code(), "internal");
    assert!(repository.snapshot().resources.is_empty());
}
