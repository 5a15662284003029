//! Knowledge files through the use cases, over the in-memory repository and
//! blob store: the capability and a full quota are refused before any
//! content is read, the content streams through a staged blob, the file's
//! number and bytes count toward the plan, and whatever is refused or fails
//! leaves no row and no blob.

use std::sync::Arc;

use chrono::DateTime;
use futures::FutureExt as _;
use futures::executor::block_on;
use futures::io::{AsyncRead, AsyncReadExt as _, Cursor};
use tenancy_core::decide::{AccountMail, PlanChanger};
use tenancy_core::plan::{Limits, Plan, PlanCatalog, PlanId, Usage};
use tenancy_core::ports::{
    BlobKey, MockBlobStore, MockRepository, MockTransaction, Repository, StagedBlob,
};
use tenancy_core::resource::{
    ContentType, Details, KnowledgeFile, Resource, ResourceKind, ResourceName,
};
use tenancy_core::service::{Service, Settings};
use tenancy_core::testing::fakes::{CountingTokens, ManualClock, SequentialIds};
use tenancy_core::testing::{MemoryBlobs, MemoryRepository};
use tenancy_core::value::{EmailAddress, PasswordHash};
use tenancy_core::{Error, OrganizationId, StoreError, UserId};

/// SHA-256 of `hello`, computed independently of the code under test.
const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

/// The largest upload the tests allow.
const MAX: u64 = 1024;

fn service<R: Repository>(
    repository: R,
    blobs: &MemoryBlobs,
    settings: Settings,
) -> Service<R, ManualClock, SequentialIds, CountingTokens> {
    Service::new(
        repository,
        ManualClock::at(DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()),
        SequentialIds::default(),
        CountingTokens::default(),
        settings,
    )
    .with_blobs(Arc::new(blobs.clone()))
}

/// Plans whose knowledge files quotas the tests reach: `free` allows two
/// files and ten bytes, `roomy` (self-serve) nearly anything.
#[expect(
    clippy::unwrap_used,
    reason = "a fixture that cannot be built should stop the test loudly, like the test itself"
)]
fn small_plans() -> Settings {
    let plan = |id: &str, files, bytes| Plan {
        id: PlanId::new(id),
        name: id.to_owned(),
        self_serve: true,
        limits: Limits {
            knowledge_files: files,
            storage_bytes: bytes,
            ..Limits::UNLIMITED
        },
    };
    Settings {
        catalog: PlanCatalog::new(vec![
            plan("free", Some(2), Some(10)),
            plan("roomy", Some(100), None),
        ])
        .unwrap(),
        ..Settings::default()
    }
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

/// Uploads `bytes` as `notes.md`, and tells how many bytes were read.
fn upload(
    tenancy: &Tenancy,
    actor: UserId,
    organization: OrganizationId,
    bytes: &[u8],
) -> (Result<Resource, Error>, u64) {
    let mut content = Cursor::new(bytes.to_vec());
    let result = block_on(tenancy.upload_knowledge_file(
        actor,
        organization,
        name("notes.md"),
        markdown(),
        &mut content,
        MAX,
    ));
    (result, content.position())
}

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
        AccountMail::Send,
    ))
    .unwrap();
    // Inviting needs a verified address: Ann opens her verification link.
    let verification = repository
        .mails()
        .pop()
        .unwrap()
        .content
        .token()
        .unwrap()
        .clone();
    block_on(tenancy.verify_email(verification.expose())).unwrap();
    let acme = ann.default_organization.id;
    block_on(tenancy.invite(
        ann.user.id,
        acme,
        EmailAddress::parse("bob@example.com").unwrap(),
        None,
    ))
    .unwrap();
    let token = repository
        .mails()
        .pop()
        .unwrap()
        .content
        .token()
        .unwrap()
        .expose()
        .to_owned();
    let bob = block_on(tenancy.sign_up(
        EmailAddress::parse("bob@example.com").unwrap(),
        None,
        hash(),
        Some(&token),
        AccountMail::Send,
    ))
    .unwrap();
    assert_eq!(bob.active_organization_id, acme);
    (ann.user.id, bob.user.id, acme)
}

fn read_all(mut content: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut bytes = Vec::new();
    block_on(content.read_to_end(&mut bytes)).unwrap_or_default();
    bytes
}

#[test]
fn a_viewer_is_refused_before_any_content_is_read() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs, Settings::default());
    let (_, bob, acme) = acme_with_a_viewer(&tenancy, &repository);
    let (refused, read) = upload(&tenancy, bob, acme, b"hello");
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    assert_eq!(read, 0);
    assert!(blobs.is_empty(), "{:?}", blobs.keys());
    assert!(repository.snapshot().resources.is_empty());
}

#[test]
fn an_upload_stores_the_content_and_its_digest_and_a_delete_erases_both() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs, Settings::default());
    let (ann, bob, acme) = acme_with_a_viewer(&tenancy, &repository);
    let (file, read) = upload(&tenancy, ann, acme, b"hello");
    let file = file.unwrap();
    assert_eq!(read, 5);
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
    assert_eq!(blobs.content(key).as_deref(), Some(&b"hello"[..]));
    // The staged copy has gone once the file is published.
    assert_eq!(blobs.staged(), 0);

    // Viewers see the file and download it; it counts toward the plan.
    let listed = block_on(tenancy.resources(bob, acme, ResourceKind::KnowledgeFile)).unwrap();
    assert_eq!(listed.value, std::slice::from_ref(&file));
    let (found, content) = block_on(tenancy.knowledge_file_content(bob, acme, file.id))
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(found, file);
    assert_eq!(read_all(content), b"hello");
    assert_eq!(
        block_on(tenancy.billing(ann, acme)).unwrap().usage,
        Usage {
            knowledge_files: 1,
            storage_bytes: 5,
            ..Usage::default()
        }
    );

    // Only the capability deletes, and the content goes with the row.
    let refused =
        block_on(tenancy.delete_resource(bob, acme, ResourceKind::KnowledgeFile, file.id));
    assert_eq!(refused.unwrap_err().code(), "forbidden");
    assert_eq!(blobs.len(), 1);
    block_on(tenancy.delete_resource(ann, acme, ResourceKind::KnowledgeFile, file.id)).unwrap();
    assert!(blobs.is_empty());
    let gone = block_on(tenancy.knowledge_file_content(ann, acme, file.id)).map(|(f, _)| f);
    assert_eq!(gone.unwrap_err().code(), "not_found");
    assert!(
        block_on(tenancy.resources(ann, acme, ResourceKind::KnowledgeFile))
            .unwrap()
            .value
            .is_empty()
    );
    assert_eq!(
        block_on(tenancy.billing(ann, acme)).unwrap().usage,
        Usage::default()
    );
}

#[test]
fn another_organizations_file_is_missing() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs, Settings::default());
    let (ann, bob, acme) = acme_with_a_viewer(&tenancy, &repository);
    let file = upload(&tenancy, ann, acme, b"hello").0.unwrap();
    // Bob owns his own default organization; Acme's file is not in it.
    let bobs = block_on(tenancy.organizations(bob))
        .unwrap()
        .into_iter()
        .find(|view| view.is_owner())
        .unwrap()
        .organization
        .id;
    let elsewhere = block_on(tenancy.knowledge_file_content(bob, bobs, file.id)).map(|(f, _)| f);
    assert_eq!(elsewhere.unwrap_err().code(), "not_found");
    let deleted =
        block_on(tenancy.delete_resource(bob, bobs, ResourceKind::KnowledgeFile, file.id));
    assert_eq!(deleted.unwrap_err().code(), "not_found");
    assert_eq!(blobs.len(), 1);
}

#[test]
fn an_unknown_organization_stores_nothing() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs, Settings::default());
    let (ann, _, _) = acme_with_a_viewer(&tenancy, &repository);
    let nowhere = OrganizationId::from_uuid(uuid::Uuid::from_u128(u128::MAX));
    let (refused, read) = upload(&tenancy, ann, nowhere, b"hello");
    assert_eq!(refused.unwrap_err().code(), "not_found");
    assert_eq!(read, 0);
    assert!(blobs.is_empty());
}

#[test]
fn content_past_the_limit_is_refused_and_never_read_further() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs, Settings::default());
    let (ann, _, acme) = acme_with_a_viewer(&tenancy, &repository);
    let max = usize::try_from(MAX).unwrap();
    let (refused, read) = upload(&tenancy, ann, acme, &vec![b'a'; max * 10]);
    assert!(
        matches!(refused, Err(Error::PayloadTooLarge { limit: MAX })),
        "{refused:?}"
    );
    // One byte past the limit tells; the rest is never asked for.
    assert_eq!(read, MAX + 1);
    assert!(blobs.is_empty(), "{:?}", blobs.keys());
    assert!(repository.snapshot().resources.is_empty());
    // Exactly the limit is fine.
    let (file, read) = upload(&tenancy, ann, acme, &vec![b'a'; max]);
    assert_eq!(read, MAX);
    assert!(matches!(&file.unwrap().details, Details::KnowledgeFile(f) if f.size_bytes == MAX));
}

/// Content that breaks off after a few bytes, as a client that goes away.
struct BrokenOff(usize);

impl AsyncRead for BrokenOff {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("connection reset")));
        }
        let n = self.0.min(buf.len());
        buf[..n].fill(b'x');
        self.0 -= n;
        std::task::Poll::Ready(Ok(n))
    }
}

#[test]
fn an_upload_that_breaks_off_leaves_nothing() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs, Settings::default());
    let (ann, _, acme) = acme_with_a_viewer(&tenancy, &repository);
    let broken = block_on(tenancy.upload_knowledge_file(
        ann,
        acme,
        name("notes.md"),
        markdown(),
        &mut BrokenOff(3),
        MAX,
    ));
    let error = broken.unwrap_err();
    assert_eq!(error.code(), "bad_request");
    assert!(error.to_string().contains("connection reset"), "{error}");
    assert!(blobs.is_empty());
    assert!(repository.snapshot().resources.is_empty());
}

#[test]
fn files_count_toward_their_number_and_their_bytes_and_a_refusal_leaves_nothing() {
    let (repository, blobs) = (MemoryRepository::new(), MemoryBlobs::new());
    let tenancy = service(repository.clone(), &blobs, small_plans());
    let (ann, _, acme) = acme_with_a_viewer(&tenancy, &repository);
    // Ten bytes in all: six fit, five more do not, four do, exactly.
    assert!(upload(&tenancy, ann, acme, b"123456").0.is_ok());
    let (refused, read) = upload(&tenancy, ann, acme, b"12345");
    let Err(Error::QuotaExceeded(quota)) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(
        (quota.metered.name(), quota.limit, quota.used, quota.adding),
        ("storage_bytes", 10, 6, 5)
    );
    // The bytes had to be read to be counted; none of them stayed.
    assert_eq!(read, 5);
    assert_eq!((blobs.len(), blobs.staged()), (1, 0));
    assert!(upload(&tenancy, ann, acme, b"1234").0.is_ok());
    let usage = block_on(tenancy.billing(ann, acme)).unwrap().usage;
    assert_eq!((usage.knowledge_files, usage.storage_bytes), (2, 10));
    // Two files in all: a third is refused before its content is read,
    // even an empty one.
    let (refused, read) = upload(&tenancy, ann, acme, b"");
    assert_eq!(refused.unwrap_err().code(), "quota_exceeded");
    assert_eq!(read, 0);
    assert_eq!((blobs.len(), blobs.staged()), (2, 0));
    assert_eq!(repository.snapshot().resources.len(), 2);

    // A downgrade below usage is allowed (D10); usage stands, uploads stop.
    block_on(tenancy.change_plan(PlanChanger::Member(ann), acme, PlanId::new("roomy"))).unwrap();
    for _ in 0..3 {
        assert!(upload(&tenancy, ann, acme, b"more").0.is_ok());
    }
    let billing =
        block_on(tenancy.change_plan(PlanChanger::Member(ann), acme, PlanId::free())).unwrap();
    assert_eq!(
        (billing.usage.knowledge_files, billing.usage.storage_bytes),
        (5, 22)
    );
    let (refused, read) = upload(&tenancy, ann, acme, b"x");
    assert_eq!(refused.unwrap_err().code(), "quota_exceeded");
    assert_eq!(read, 0);
    assert_eq!(blobs.len(), 5);
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
        deletion: None,
    };
    let membership = tenancy_core::Membership {
        organization_id: acme.id,
        user_id: owner,
        role: tenancy_core::Role::OWNER,
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
    // The content is staged, published under the file's key just before the
    // commit, erased from the key when the commit fails, and the staged copy
    // is discarded last.
    let mut blobs = MockBlobStore::new();
    let mut seq = mockall::Sequence::new();
    blobs
        .expect_stage()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|content| {
            // The content is ready at once; a mock cannot await it.
            let mut bytes = Vec::new();
            let read = content.read_to_end(&mut bytes).now_or_never();
            assert_eq!(read.map(Result::ok), Some(Some(5)));
            assert_eq!(bytes, b"hello");
            Ok(StagedBlob::new("staged-1"))
        });
    let published = Arc::new(std::sync::Mutex::new(None));
    let put = Arc::clone(&published);
    blobs
        .expect_publish()
        .withf(|staged, _| staged.name() == "staged-1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, key| {
            *put.lock().unwrap() = Some(key);
            Ok(())
        });
    let erased = Arc::clone(&published);
    blobs
        .expect_delete()
        .withf(move |key| *erased.lock().unwrap() == Some(*key))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    blobs
        .expect_discard()
        .withf(|staged| staged.name() == "staged-1")
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
        &mut Cursor::new(b"hello".to_vec()),
        MAX,
    ));
    assert_eq!(failed.unwrap_err().code(), "internal");
    let key = published.lock().unwrap().unwrap();
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
    let (failed, read) = upload(&tenancy, ann, acme, b"hello");
    assert_eq!(failed.unwrap_err().code(), "internal");
    assert_eq!(read, 0);
    assert!(repository.snapshot().resources.is_empty());
}
