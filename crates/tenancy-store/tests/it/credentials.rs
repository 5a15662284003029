//! Connection credentials at rest (D9): sealed with the organization and the
//! connection as associated data, never in the clear, and a sealed value
//! that was tampered with or moved to another row does not open.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use tenancy_core::resource::{ConnectionType, Credentials, NewResource, ResourceName};
use tenancy_core::service::Settings;
use tenancy_core::{Capability, Error, OrganizationId, ResourceId, UserId};
use zeroize::Zeroizing;

use crate::support::{LiveService, TestDb, backends, live, sign_up};
use crate::tokens::{contains, raw_contents};

fn canary() -> String {
    format!("canary-{}", uuid::Uuid::now_v7().simple())
}

fn credentials(secret: &str) -> Credentials {
    Credentials::parse([
        ("api_key".to_owned(), Zeroizing::new(secret.to_owned())),
        ("user".to_owned(), Zeroizing::new("svc".to_owned())),
    ])
    .unwrap()
}

async fn connection(
    service: &LiveService,
    owner: UserId,
    org: OrganizationId,
    label: &str,
    secret: &str,
) -> ResourceId {
    service
        .create_resource(
            owner,
            org,
            NewResource::Connection {
                label: ResourceName::parse(label).unwrap(),
                connection_type: ConnectionType::parse("postgres").unwrap(),
                credentials: credentials(secret),
            },
        )
        .await
        .unwrap()
        .id
}

async fn read(
    service: &LiveService,
    user: UserId,
    org: OrganizationId,
    id: ResourceId,
) -> Result<Credentials, Error> {
    let grant = service
        .authorize(user, org, Capability::ChatWithAgents)
        .await
        .unwrap()
        .expect("a member");
    service.connection_credentials(&grant, id).await
}

/// The sealed bytes of a connection's credentials, as stored.
async fn sealed(db: &TestDb, id: ResourceId) -> Vec<u8> {
    let (backend, sql) = dialect(
        db,
        "SELECT sealed FROM connection_credentials WHERE connection_id = $1",
    );
    let row = db
        .store
        .connection()
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::Uuid(Some(id.as_uuid()))],
        ))
        .await
        .unwrap()
        .expect("a credentials row");
    row.try_get("", "sealed").unwrap()
}

/// Overwrites the sealed bytes of a connection's credentials.
async fn overwrite(db: &TestDb, id: ResourceId, bytes: Vec<u8>) {
    let (backend, sql) = dialect(
        db,
        "UPDATE connection_credentials SET sealed = $1 WHERE connection_id = $2",
    );
    let done = db
        .store
        .connection()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::Bytes(Some(bytes)), Value::Uuid(Some(id.as_uuid()))],
        ))
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

fn dialect(db: &TestDb, postgres: &str) -> (DbBackend, String) {
    match db.store.backend() {
        tenancy_store::Backend::Postgres => (DbBackend::Postgres, postgres.to_owned()),
        tenancy_store::Backend::Sqlite => (
            DbBackend::Sqlite,
            postgres.replace("$1", "?").replace("$2", "?"),
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_sealed_and_open_only_for_a_member() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let owner = sign_up(&service, "ann@example.com").await;
        let (ann, org) = (owner.user.id, owner.default_organization.id);
        let (first, second) = (canary(), canary());
        let id = connection(&service, ann, org, "Warehouse", &first).await;
        assert_eq!(
            read(&service, ann, org, id)
                .await
                .unwrap()
                .expose("api_key"),
            Some(first.as_str())
        );
        service
            .set_credentials(ann, org, id, credentials(&second))
            .await
            .unwrap();
        let opened = read(&service, ann, org, id).await.unwrap();
        assert_eq!(opened.expose("api_key"), Some(second.as_str()));
        // Nobody's grant of another organization opens them.
        let other = sign_up(&service, "bob@example.com").await;
        let foreign = service
            .authorize(
                other.user.id,
                other.default_organization.id,
                Capability::ChatWithAgents,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            service
                .connection_credentials(&foreign, id)
                .await
                .unwrap_err()
                .code(),
            "not_found"
        );
        let raw = raw_contents(&db).await;
        assert!(
            contains(&raw, b"Warehouse"),
            "{backend:?}: the scan saw nothing"
        );
        for secret in [&first, &second] {
            assert!(
                !contains(&raw, secret.as_bytes()),
                "{backend:?}: credentials in the clear"
            );
        }
        db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_or_moved_credentials_do_not_open() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let service = live(&db.store, Settings::default());
        let ann = sign_up(&service, "ann@example.com").await;
        let bob = sign_up(&service, "bob@example.com").await;
        let (a, org_a) = (ann.user.id, ann.default_organization.id);
        let (b, org_b) = (bob.user.id, bob.default_organization.id);
        let one = connection(&service, a, org_a, "One", &canary()).await;
        let two = connection(&service, a, org_a, "Two", &canary()).await;
        let theirs = connection(&service, b, org_b, "Theirs", &canary()).await;
        let original = sealed(&db, one).await;
        assert!(read(&service, a, org_a, one).await.is_ok());

        // Every single flipped bit is detected.
        for bit in [0, 8 * 24, 8 * original.len() - 1] {
            let mut bent = original.clone();
            bent[bit / 8] ^= 1 << (bit % 8);
            overwrite(&db, one, bent).await;
            let error = read(&service, a, org_a, one).await.unwrap_err();
            assert_eq!(error.code(), "internal", "{backend:?} bit {bit}: {error}");
        }
        overwrite(&db, one, original.clone()).await;
        assert!(read(&service, a, org_a, one).await.is_ok());

        // Another connection's ciphertext, in the same organization or in
        // another one, does not open in this row.
        overwrite(&db, two, original.clone()).await;
        let error = read(&service, a, org_a, two).await.unwrap_err();
        assert_eq!(error.code(), "internal", "{backend:?}: {error}");
        overwrite(&db, theirs, original).await;
        let error = read(&service, b, org_b, theirs).await.unwrap_err();
        assert_eq!(error.code(), "internal", "{backend:?}: {error}");
        db.remove().await;
    }
}
