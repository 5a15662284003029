//! The migration that re-normalizes stored email addresses and cleans
//! stored names: run on rows written before it, as an older release wrote
//! them, on each backend.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, Value};
use sea_orm_migration::MigratorTrait as _;
use tenancy_core::entity::InvitationStatus;
use tenancy_core::service::Settings;
use tenancy_core::value::EmailAddress;
use tenancy_core::{OrganizationId, UserId};
use tenancy_store::migration::Migrator;
use uuid::Uuid;

use crate::support::{TestDb, backends, live, stored_password_hash};

const MIGRATION: &str = "m0006_normalize_emails";

/// A database at the schema of the migration before this one.
async fn before_normalization(backend: tenancy_store::Backend) -> TestDb {
    let db = TestDb::unmigrated(backend).await;
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == MIGRATION)
        .unwrap();
    assert!(before > 0);
    Migrator::up(db.store.connection(), Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    assert!(!applied(db.store.connection()).await);
    db
}

async fn applied(db: &DatabaseConnection) -> bool {
    Migrator::get_applied_migrations(db)
        .await
        .unwrap()
        .iter()
        .any(|m| m.name() == MIGRATION)
}

async fn insert(db: &DatabaseConnection, table: &str, row: Vec<(&str, Value)>) {
    let (columns, values): (Vec<_>, Vec<_>) = row.into_iter().unzip();
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns.into_iter().map(Alias::new))
        .values_panic(values.into_iter().map(SimpleExpr::from))
        .to_owned();
    db.execute(&insert).await.unwrap();
}

/// A password hash that must never appear in a message.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$canary-salt$canary-hash";

async fn user(db: &DatabaseConnection, email: &str, display_name: Option<&str>) -> Uuid {
    let id = Uuid::now_v7();
    insert(
        db,
        "users",
        vec![
            ("id", id.into()),
            ("email", email.into()),
            ("display_name", display_name.map(str::to_owned).into()),
            ("password_hash", HASH.into()),
            ("created_at", Utc::now().into()),
        ],
    )
    .await;
    id
}

async fn organization(db: &DatabaseConnection, name: &str, owner: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    insert(
        db,
        "organizations",
        vec![
            ("id", id.into()),
            ("name", name.into()),
            ("plan", "free".into()),
            ("owner_id", owner.into()),
            ("created_at", Utc::now().into()),
        ],
    )
    .await;
    insert(
        db,
        "memberships",
        vec![
            ("organization_id", id.into()),
            ("user_id", owner.into()),
            ("role", "owner".into()),
            ("joined_at", Utc::now().into()),
        ],
    )
    .await;
    id
}

struct Invite<'a> {
    organization: Uuid,
    email: &'a str,
    inviter: Uuid,
    created_at: DateTime<Utc>,
    state: &'a str,
}

async fn invitation(db: &DatabaseConnection, invite: Invite<'_>) -> Uuid {
    let id = Uuid::now_v7();
    let (accepted_by, changed_at): (Option<Uuid>, Option<DateTime<Utc>>) = match invite.state {
        "accepted" => (Some(invite.inviter), Some(invite.created_at)),
        "revoked" => (None, Some(invite.created_at)),
        _ => (None, None),
    };
    insert(
        db,
        "invitations",
        vec![
            ("id", id.into()),
            ("organization_id", invite.organization.into()),
            ("email", invite.email.into()),
            ("role", "viewer".into()),
            ("token_hash", id.as_bytes().repeat(2).into()),
            ("invited_by", invite.inviter.into()),
            ("created_at", invite.created_at.into()),
            ("expires_at", (invite.created_at + Duration::days(7)).into()),
            ("state", invite.state.into()),
            ("accepted_by", accepted_by.into()),
            ("state_changed_at", changed_at.into()),
        ],
    )
    .await;
    id
}

async fn mail(
    db: &DatabaseConnection,
    invitation: Uuid,
    to: &str,
    inviter: &str,
    org: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    let now = Utc::now();
    insert(
        db,
        "mail_outbox",
        vec![
            ("id", id.into()),
            ("to_email", to.into()),
            ("kind", "invitation".into()),
            ("invitation_id", invitation.into()),
            ("organization_name", org.into()),
            ("inviter_email", inviter.into()),
            ("sealed_token", vec![1_u8; 48].into()),
            ("key_id", "test".into()),
            ("expires_at", (now + Duration::days(7)).into()),
            ("created_at", now.into()),
            ("attempts", 0_i32.into()),
            ("next_attempt_at", now.into()),
        ],
    )
    .await;
    id
}

/// One text column of one row.
async fn text(db: &DatabaseConnection, table: &str, column: &str, id: Uuid) -> Option<String> {
    let select = Query::select()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let row = db.query_one(&select).await.unwrap().unwrap();
    row.try_get("", column).unwrap()
}

/// Every email and name column, in a stable order, to compare before and after.
async fn snapshot(db: &DatabaseConnection) -> Vec<String> {
    let mut all = Vec::new();
    for (table, columns) in [
        ("users", &["email", "display_name"][..]),
        ("organizations", &["name"]),
        ("invitations", &["email", "state"]),
        (
            "mail_outbox",
            &["to_email", "inviter_email", "organization_name"],
        ),
    ] {
        let select = Query::select()
            .columns(columns.iter().map(|c| Alias::new(*c)))
            .from(Alias::new(table))
            .order_by(Alias::new("id"), sea_orm::Order::Asc)
            .to_owned();
        for row in db.query_all(&select).await.unwrap() {
            for column in columns {
                let value: Option<String> = row.try_get("", column).unwrap();
                all.push(format!("{table}.{column}={value:?}"));
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_addresses_and_names_are_normalized() {
    for backend in backends() {
        let db = before_normalization(backend).await;
        let conn = db.store.connection();
        let alice = user(
            conn,
            "\u{FF21}LICE@Ex\u{E4}mple.test",
            Some("Ali\u{202E}ce"),
        )
        .await;
        let bob = user(conn, "bob@example.com", None).await;
        let carol = user(conn, "Carol@Example.COM", Some("\u{200B}\u{FEFF}")).await;
        let acme = organization(conn, "Acme\u{200B} Rockets", alice).await;
        let blank = organization(conn, "\u{202E}", bob).await;
        let plain = organization(conn, "Plain", carol).await;

        let now = Utc::now();
        let invite = |organization, email, created_at, state| Invite {
            organization,
            email,
            inviter: alice,
            created_at,
            state,
        };
        // Three pending invitations of one address in one organization: the
        // newest stays, the middle one is revoked, the oldest had expired.
        let oldest = invitation(
            conn,
            invite(
                acme,
                "DAVE@example.com",
                now - Duration::days(30),
                "pending",
            ),
        )
        .await;
        let older = invitation(
            conn,
            invite(acme, "Dave@Example.com", now - Duration::days(2), "pending"),
        )
        .await;
        let newest = invitation(
            conn,
            invite(acme, "dave@example.com", now - Duration::days(1), "pending"),
        )
        .await;
        // The same address elsewhere, or in another state, collides with nothing.
        let elsewhere = invitation(
            conn,
            invite(
                blank,
                "Dave@Example.com",
                now - Duration::days(3),
                "pending",
            ),
        )
        .await;
        let accepted = invitation(
            conn,
            invite(
                acme,
                "Carol@Example.COM",
                now - Duration::days(9),
                "accepted",
            ),
        )
        .await;
        let revoked = invitation(
            conn,
            invite(acme, "dave@EXAMPLE.com", now - Duration::days(8), "revoked"),
        )
        .await;
        let queued = mail(
            conn,
            older,
            "Dave@Example.com",
            "\u{FF21}LICE@Ex\u{E4}mple.test",
            "Acme\u{200B} Rockets",
        )
        .await;
        let untouched = mail(
            conn,
            newest,
            "dave@example.com",
            "alice@xn--exmple-cua.test",
            "Acme Rockets",
        )
        .await;

        // Less a millisecond: PostgreSQL keeps microseconds only.
        let started = Utc::now() - Duration::milliseconds(1);
        db.store.migrate().await.unwrap();
        let finished = Utc::now();
        assert!(applied(conn).await);

        let alice_email = "alice@xn--exmple-cua.test";
        assert_eq!(
            text(conn, "users", "email", alice).await.as_deref(),
            Some(alice_email)
        );
        assert_eq!(
            text(conn, "users", "display_name", alice).await.as_deref(),
            Some("Alice")
        );
        assert_eq!(
            text(conn, "users", "email", bob).await.as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(
            text(conn, "users", "email", carol).await.as_deref(),
            Some("carol@example.com")
        );
        assert_eq!(text(conn, "users", "display_name", carol).await, None);
        assert_eq!(
            text(conn, "organizations", "name", acme).await.as_deref(),
            Some("Acme Rockets")
        );
        assert_eq!(
            text(conn, "organizations", "name", blank).await.as_deref(),
            Some("Unnamed organization")
        );
        assert_eq!(
            text(conn, "organizations", "name", plain).await.as_deref(),
            Some("Plain")
        );

        for id in [oldest, older, newest, elsewhere, revoked] {
            assert_eq!(
                text(conn, "invitations", "email", id).await.as_deref(),
                Some("dave@example.com"),
                "{backend:?}"
            );
        }
        assert_eq!(
            text(conn, "invitations", "email", accepted)
                .await
                .as_deref(),
            Some("carol@example.com")
        );
        let states = [
            (oldest, "expired"),
            (older, "revoked"),
            (newest, "pending"),
            (elsewhere, "pending"),
            (accepted, "accepted"),
            (revoked, "revoked"),
        ];
        for (id, state) in states {
            assert_eq!(
                text(conn, "invitations", "state", id).await.as_deref(),
                Some(state),
                "{backend:?}"
            );
        }
        // Revoked when the migration ran; the expired one records no time, as a re-invite does.
        let changed_at = |id| async move {
            let select = Query::select()
                .column(Alias::new("state_changed_at"))
                .from(Alias::new("invitations"))
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .to_owned();
            let row = conn.query_one(&select).await.unwrap().unwrap();
            row.try_get::<Option<DateTime<Utc>>>("", "state_changed_at")
                .unwrap()
        };
        let revoked_at = changed_at(older).await.unwrap();
        assert!(
            started <= revoked_at && revoked_at <= finished,
            "{revoked_at}"
        );
        assert_eq!(changed_at(oldest).await, None);
        assert_eq!(changed_at(newest).await, None);
        assert_eq!(
            text(conn, "mail_outbox", "to_email", queued)
                .await
                .as_deref(),
            Some("dave@example.com")
        );
        assert_eq!(
            text(conn, "mail_outbox", "inviter_email", queued)
                .await
                .as_deref(),
            Some(alice_email)
        );
        assert_eq!(
            text(conn, "mail_outbox", "organization_name", queued)
                .await
                .as_deref(),
            Some("Acme Rockets")
        );
        assert_eq!(
            text(conn, "mail_outbox", "to_email", untouched)
                .await
                .as_deref(),
            Some("dave@example.com")
        );

        // The store reads every row under the new rules, and finds the
        // account by any spelling of its address.
        let service = live(&db.store, Settings::default());
        for spelling in ["alice@ex\u{E4}mple.test", "ALICE@xn--exmple-cua.test"] {
            let email = EmailAddress::parse(spelling).unwrap();
            let (found, _) = stored_password_hash(&db.store, &email).await.unwrap();
            assert_eq!(found.id, UserId::from_uuid(alice), "{backend:?}");
        }
        let pending = service
            .pending_invitations(UserId::from_uuid(alice), OrganizationId::from_uuid(acme))
            .await
            .unwrap();
        let ids: Vec<Uuid> = pending.value.iter().map(|i| i.id.as_uuid()).collect();
        assert_eq!(ids, [newest], "{backend:?}");
        assert!(
            pending
                .value
                .iter()
                .all(|i| i.status_at(pending.now) == InvitationStatus::Pending)
        );
        let mine = service
            .organizations(UserId::from_uuid(alice))
            .await
            .unwrap();
        assert_eq!(mine.len(), 1);

        // Running the migrations again changes nothing.
        let after = snapshot(conn).await;
        db.store.migrate().await.unwrap();
        assert_eq!(snapshot(conn).await, after);
        db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn colliding_accounts_stop_the_migration_and_change_nothing() {
    for backend in backends() {
        let db = before_normalization(backend).await;
        let conn = db.store.connection();
        let first = user(conn, "Alice@Example.test", Some("Ali\u{200B}ce")).await;
        let second = user(conn, "alice@example.test", None).await;
        let third = user(conn, "\u{FF41}lice@example.test", None).await;
        let bob = user(conn, "bob@ex\u{E4}mple.test", None).await;
        let robert = user(conn, "Bob@XN--EXMPLE-CUA.test", None).await;
        let fine = user(conn, "Carol@Example.com", None).await;
        let acme = organization(conn, "Acme\u{202E}", fine).await;
        let now = Utc::now();
        for email in ["Dave@Example.com", "dave@example.com"] {
            invitation(
                conn,
                Invite {
                    organization: acme,
                    email,
                    inviter: fine,
                    created_at: now,
                    state: "pending",
                },
            )
            .await;
        }
        let before = snapshot(conn).await;

        let error = db.store.migrate().await.unwrap_err().to_string();
        assert!(
            error.contains("cannot normalize the stored email addresses"),
            "{error}"
        );
        assert!(
            error.contains("3 accounts are one address, `alice@example.test`"),
            "{error}"
        );
        for id in [first, second, third] {
            assert!(error.contains(&format!("`{id}`")), "{error}");
        }
        assert!(
            error.contains("2 accounts are one address, `bob@xn--exmple-cua.test`"),
            "{error}"
        );
        assert!(
            error.contains(&format!("`Bob@XN--EXMPLE-CUA.test` of `{robert}`")),
            "{error}"
        );
        assert!(error.contains(&format!("`{bob}`")), "{error}");
        assert!(!error.contains(&fine.to_string()), "{error}");
        assert!(!error.contains("canary"), "{error}");

        // Nothing changed, and the migration is still to run.
        assert_eq!(snapshot(conn).await, before, "{backend:?}");
        assert!(!applied(conn).await, "{backend:?}");

        // Once a person has settled the collisions, it runs.
        for id in [second, third, robert] {
            let delete = Query::delete()
                .from_table(Alias::new("users"))
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .to_owned();
            conn.execute(&delete).await.unwrap();
        }
        db.store.migrate().await.unwrap();
        assert!(applied(conn).await);
        assert_eq!(
            text(conn, "users", "email", first).await.as_deref(),
            Some("alice@example.test")
        );
        assert_eq!(
            text(conn, "users", "display_name", first).await.as_deref(),
            Some("Alice")
        );
        db.remove().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_no_longer_valid_stops_the_migration() {
    for backend in backends() {
        let db = before_normalization(backend).await;
        let conn = db.store.connection();
        // Accepted by the older rules (letters and hyphens), but not
        // Punycode that decodes to a valid label.
        let broken = user(conn, "erin@xn--abc.com", None).await;
        let fine = user(conn, "Frank@Example.com", None).await;
        let before = snapshot(conn).await;
        let error = db.store.migrate().await.unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "the email address `erin@xn--abc.com` of `{broken}` is no longer a valid address"
            )),
            "{error}"
        );
        assert!(!error.contains(&fine.to_string()), "{error}");
        assert_eq!(snapshot(conn).await, before, "{backend:?}");
        assert!(!applied(conn).await, "{backend:?}");
        db.remove().await;
    }
}
