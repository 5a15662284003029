//! The store's benchmark (issue 3): the membership lookup behind every
//! authorization, listing a user's organizations and accepting an invitation,
//! on SQLite and on PostgreSQL, each seeded with a million memberships.
//!
//! Run it with `cargo xtask bench store`, which also writes the figures to
//! `docs/benchmarks.md`; `cargo xtask bench store --quick` seeds a tenth of
//! the data for a smoke run. Progress goes to stderr and the markdown section
//! `## Store` to stdout. PostgreSQL is reached through the admin URL in
//! `TENANCY_BENCH_POSTGRES_URL` (by default
//! `postgres://postgres@127.0.0.1:5432/postgres`): the benchmark creates a
//! database of its own there and drops it at the end, as it deletes its
//! SQLite files, also when it fails.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{
    AssertSqlSafe, ConnectOptions as _, Connection as _, PgConnection, QueryBuilder, Sqlite,
    SqliteConnection,
};
use tenancy_core::ports::Repository;
use tenancy_core::service::{Service, Settings};
use tenancy_core::token::SecretToken;
use tenancy_core::value::{RoleDescription, RoleName};
use tenancy_core::{Capability, CapabilitySet, Membership, OrganizationId, Role, RoleKey, UserId};
use tenancy_store::system::{OsTokens, SystemClock, UuidV7};
use tenancy_store::{Backend, SecretKey, Store, StoreOptions};
use uuid::Uuid;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;
type LiveService = Service<Store, SystemClock, UuidV7, OsTokens>;

const POSTGRES_URL_VAR: &str = "TENANCY_BENCH_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The data and the work are the same on every run: only the clock differs.
const RNG_SEED: u64 = 0x7e4a_4e63_7962_656e;

/// The raw query that the store's lookup is compared with: the store's own,
/// the membership with its custom role's definition joined in.
const LOOKUP_SQL: &str = "SELECT m.organization_id, m.user_id, m.role, m.custom_role, m.joined_at, \
                          r.name AS role_name, r.description AS role_description, \
                          r.capabilities AS role_capabilities \
                          FROM memberships m LEFT JOIN roles r \
                          ON r.organization_id = m.organization_id AND r.\"key\" = m.custom_role \
                          WHERE m.organization_id = $1 AND m.user_id = $2";

/// The columns of [`LOOKUP_SQL`].
type LookupRow = (
    Uuid,
    Uuid,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The membership of a looked-up row, its role made as the store makes it:
/// a built-in one, or the custom role of the joined definition.
fn membership_of(row: LookupRow) -> Result<Membership> {
    let (organization_id, user_id, role, custom_role, joined_at, name, description, capabilities) =
        row;
    let role = match (custom_role, name, description, capabilities) {
        (None, ..) => Role::builtin(&role).ok_or_else(|| format!("unknown role `{role}`"))?,
        (Some(key), Some(name), Some(description), Some(capabilities)) => Role::custom(
            RoleKey::parse(&key)?,
            RoleName::parse(&name)?,
            RoleDescription::parse(&description)?,
            CapabilitySet::from_names(&capabilities)?,
        )?,
        (Some(key), ..) => return Err(format!("custom role `{key}` without its definition").into()),
    };
    Ok(Membership {
        organization_id: OrganizationId::from_uuid(organization_id),
        user_id: UserId::from_uuid(user_id),
        role,
        joined_at,
    })
}
/// The SQL that sea-orm's `membership::Entity::find_by_id(..).one(..)`
/// sends, word for word as sea-query 1.0 renders it: `Select::one` adds a
/// limit, bound as a third parameter. The store's lookup sent it until it
/// became a plain `SELECT`; its other `.one()` reads still send this shape.
const SEA_ORM_LOOKUP_SQL_SQLITE: &str = r#"SELECT "memberships"."organization_id", "memberships"."user_id", "memberships"."role", "memberships"."joined_at" FROM "memberships" WHERE "memberships"."organization_id" = ? AND "memberships"."user_id" = ? LIMIT ?"#;
const SEA_ORM_LOOKUP_SQL_POSTGRES: &str = r#"SELECT "memberships"."organization_id", "memberships"."user_id", "memberships"."role", "memberships"."joined_at" FROM "memberships" WHERE "memberships"."organization_id" = $1 AND "memberships"."user_id" = $2 LIMIT $3"#;

/// Which SQL a raw lookup sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawSql {
    /// [`LOOKUP_SQL`].
    Plain,
    /// sea-orm's, with `1` bound to the limit.
    SeaOrm,
}

/// Both pools get the store's default size, so that neither waits for a
/// connection the other would have had.
const POOL_SIZE: u32 = 16;

/// SQLite allows 32,766 bound values per statement; stay below.
const SQLITE_BINDS_PER_STATEMENT: usize = 30_000;
/// Rows per `INSERT ... SELECT FROM UNNEST(...)` on PostgreSQL.
const POSTGRES_ROWS_PER_STATEMENT: usize = 50_000;

const SEED_TARGET: Duration = Duration::from_secs(120);
const SQLITE_LOOKUP_P99_TARGET: Duration = Duration::from_millis(1);
const POSTGRES_LOOKUP_P99_TARGET: Duration = Duration::from_millis(2);
const OVERHEAD_TARGET: f64 = 1.15;

/// How much to seed and how many times to measure.
#[derive(Debug, Clone, Copy)]
struct Size {
    name: &'static str,
    /// Users, each owning one organization (and so one owner membership).
    users: usize,
    /// Every membership: the owners' plus viewers on random pairs.
    memberships: usize,
    lookups: usize,
    lookup_warmup: usize,
    listings: usize,
    listing_warmup: usize,
    accepts: usize,
    accept_warmup: usize,
}

const FULL: Size = Size {
    name: "full",
    users: 100_000,
    memberships: 1_000_000,
    lookups: 20_000,
    lookup_warmup: 2_000,
    listings: 5_000,
    listing_warmup: 500,
    accepts: 2_000,
    accept_warmup: 100,
};

const QUICK: Size = Size {
    name: "quick",
    users: 10_000,
    memberships: 100_000,
    lookups: 5_000,
    lookup_warmup: 500,
    listings: 1_000,
    listing_warmup: 100,
    accepts: 500,
    accept_warmup: 25,
};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let mut size = FULL;
    let mut benchmarking = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            // `cargo bench` passes `--bench`; `cargo test --benches` does not,
            // and a test run should not spend minutes seeding.
            "--bench" => benchmarking = true,
            "--quick" => size = QUICK,
            other => return Err(format!("unknown argument `{other}` (expected `--quick`)").into()),
        }
    }
    if !benchmarking {
        eprintln!("this is a benchmark: run it with `cargo xtask bench store [--quick]`");
        return Ok(());
    }
    let admin_url = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());

    eprintln!(
        "generating the {} data set: {} users and organizations, {} memberships",
        size.name,
        thousands(size.users),
        thousands(size.memberships)
    );
    let data = Dataset::generate(size, Utc::now())?;
    let sqlite = bench_sqlite(&data).await?;
    let postgres = bench_postgres(&data, &admin_url).await?;
    print!("{}", markdown(&data, &[sqlite, postgres]));
    Ok(())
}

// ---------------------------------------------------------------------------
// The data set.

/// splitmix64: a tiny, fast generator, good enough to spread pairs and fixed
/// by its seed so that every run seeds the same rows.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (Lemire's multiply-shift, bias below 2^-32 here).
    fn below(&mut self, bound: usize) -> usize {
        let wide = u128::from(self.next_u64()) * bound as u128;
        usize::try_from(wide >> 64).unwrap_or(0)
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut bytes = [0_u8; N];
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        bytes
    }

    /// A UUID v7 at `at`, like the ids the store's `UuidV7` makes, so that the
    /// primary-key indexes have the shape they have in production.
    fn uuid_v7(&mut self, at: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &self.bytes()).into_uuid()
    }
}

/// A fresh user with a pending invitation to an organization, whose token we
/// keep so that the user can accept it.
#[derive(Debug)]
struct Invitee {
    user: Uuid,
    email: String,
    invitation: Uuid,
    organization: usize,
    token: SecretToken,
}

#[derive(Debug)]
struct Dataset {
    size: Size,
    /// When the data set's history begins; rows are spread after it.
    epoch: DateTime<Utc>,
    /// When the invitations were sent; they expire a week later.
    now: DateTime<Utc>,
    /// User `i` owns organization `i`.
    users: Vec<Uuid>,
    organizations: Vec<Uuid>,
    /// (organization, user) indexes of the viewer memberships, sorted.
    viewers: Vec<(u32, u32)>,
    /// Every membership as `organization << 32 | user`, to pick non-members.
    members: HashSet<u64>,
    /// How many organizations each user belongs to, to check the listings.
    organizations_per_user: Vec<u32>,
    invitees: Vec<Invitee>,
}

fn pair_key(organization: usize, user: usize) -> u64 {
    ((organization as u64) << 32) | user as u64
}

impl Dataset {
    fn generate(size: Size, now: DateTime<Utc>) -> Result<Self> {
        let mut rng = Rng(RNG_SEED);
        let epoch = Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .ok_or("the epoch is a valid instant")?;
        let at = |seconds: usize| epoch + chrono::Duration::seconds(seconds as i64);
        let users: Vec<Uuid> = (0..size.users).map(|i| rng.uuid_v7(at(i))).collect();
        let organizations: Vec<Uuid> = (0..size.users).map(|i| rng.uuid_v7(at(i))).collect();
        let index = |i: usize| u32::try_from(i).map_err(|_| "the data set is too large");

        let mut members: HashSet<u64> = HashSet::with_capacity(size.memberships);
        let mut organizations_per_user = vec![1_u32; size.users];
        for i in 0..size.users {
            members.insert(pair_key(i, i));
        }
        let mut viewers = Vec::with_capacity(size.memberships - size.users);
        while members.len() < size.memberships {
            let (organization, user) = (rng.below(size.users), rng.below(size.users));
            if members.insert(pair_key(organization, user)) {
                viewers.push((index(organization)?, index(user)?));
                organizations_per_user[user] += 1;
            }
        }
        // Sorted by primary key, the inserts append to its index.
        viewers.sort_unstable();

        let invitees = (0..size.accepts + size.accept_warmup)
            .map(|i| Invitee {
                user: rng.uuid_v7(now),
                email: format!("invitee{i}@bench.example.com"),
                invitation: rng.uuid_v7(now),
                organization: rng.below(size.users),
                token: SecretToken::from_bytes(rng.bytes()),
            })
            .collect();
        Ok(Self {
            size,
            epoch,
            now,
            users,
            organizations,
            viewers,
            members,
            organizations_per_user,
            invitees,
        })
    }

    fn at(&self, seconds: usize) -> DateTime<Utc> {
        self.epoch + chrono::Duration::seconds(seconds as i64)
    }

    /// When viewer membership `k` (in `viewers`) began: after every owner's.
    fn joined_at(&self, k: usize) -> DateTime<Utc> {
        self.at(self.size.users + k)
    }

    fn user_email(i: usize) -> String {
        format!("user{i}@bench.example.com")
    }

    fn rows(&self) -> usize {
        // Users and organizations, their active organizations, memberships,
        // and the invitees with their invitations.
        3 * self.size.users + self.size.memberships + 2 * self.invitees.len()
    }

    /// `count` (organization, user) index pairs, members and non-members
    /// alternating.
    fn lookup_pairs(&self, rng: &mut Rng, count: usize) -> Vec<(usize, usize, bool)> {
        let n = self.size.users;
        (0..count)
            .map(|i| {
                if i.is_multiple_of(2) {
                    let k = rng.below(self.size.memberships);
                    match k.checked_sub(n) {
                        None => (k, k, true),
                        Some(v) => {
                            let (o, u) = self.viewers[v];
                            (o as usize, u as usize, true)
                        }
                    }
                } else {
                    loop {
                        let (o, u) = (rng.below(n), rng.below(n));
                        if !self.members.contains(&pair_key(o, u)) {
                            break (o, u, false);
                        }
                    }
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Seeding: bulk inserts of the same Rust types that sea-orm binds (`Uuid`,
// `DateTime<Utc>`, `String`, `Vec<u8>`) through the same sqlx, so that the
// store reads the rows back as if it had written them.

/// Multi-row `INSERT`s of `rows` on SQLite, as many per statement as the
/// limit of bound values allows.
async fn insert_sqlite<T>(
    conn: &mut SqliteConnection,
    head: &'static str,
    columns: usize,
    rows: impl ExactSizeIterator<Item = T>,
    mut push: impl FnMut(&mut sqlx::query_builder::Separated<'_, Sqlite, &'static str>, T),
) -> Result<()> {
    let per_statement = SQLITE_BINDS_PER_STATEMENT / columns;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let mut query = QueryBuilder::<Sqlite>::new(head);
        query.push_values(rows.by_ref().take(per_statement), |mut row, item| {
            push(&mut row, item);
        });
        query.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

async fn seed_sqlite(pool: &SqlitePool, data: &Dataset) -> Result<()> {
    let n = data.size.users;
    let mut tx = pool.begin().await?;
    insert_sqlite(
        &mut tx,
        "INSERT INTO users (id, email, display_name, password_hash, created_at) ",
        5,
        data.users.iter().enumerate(),
        |row, (i, id)| {
            row.push_bind(*id)
                .push_bind(Dataset::user_email(i))
                .push_bind(None::<String>)
                .push_bind("bench")
                .push_bind(data.at(i));
        },
    )
    .await?;
    insert_sqlite(
        &mut tx,
        "INSERT INTO organizations (id, name, plan, owner_id, created_at) ",
        5,
        data.organizations.iter().enumerate(),
        |row, (i, id)| {
            row.push_bind(*id)
                .push_bind(format!("Organization {i}"))
                .push_bind("free")
                .push_bind(data.users[i])
                .push_bind(data.at(i));
        },
    )
    .await?;
    // Sign-up makes a user's own organization active; so does the seed.
    insert_sqlite(
        &mut tx,
        "INSERT INTO active_organizations (user_id, organization_id) ",
        2,
        0..n,
        |row, i| {
            row.push_bind(data.users[i])
                .push_bind(data.organizations[i]);
        },
    )
    .await?;
    insert_sqlite(
        &mut tx,
        "INSERT INTO memberships (organization_id, user_id, role, joined_at) ",
        4,
        0..n,
        |row, i| {
            row.push_bind(data.organizations[i])
                .push_bind(data.users[i])
                .push_bind(Role::OWNER.key().as_str())
                .push_bind(data.at(i));
        },
    )
    .await?;
    insert_sqlite(
        &mut tx,
        "INSERT INTO memberships (organization_id, user_id, role, joined_at) ",
        4,
        data.viewers.iter().enumerate(),
        |row, (k, &(o, u))| {
            row.push_bind(data.organizations[o as usize])
                .push_bind(data.users[u as usize])
                .push_bind(Role::VIEWER.key().as_str())
                .push_bind(data.joined_at(k));
        },
    )
    .await?;
    insert_sqlite(
        &mut tx,
        "INSERT INTO users (id, email, display_name, password_hash, created_at) ",
        5,
        data.invitees.iter(),
        |row, invitee| {
            row.push_bind(invitee.user)
                .push_bind(invitee.email.clone())
                .push_bind(None::<String>)
                .push_bind("bench")
                .push_bind(data.now);
        },
    )
    .await?;
    insert_sqlite(
        &mut tx,
        "INSERT INTO invitations (id, organization_id, email, role, token_hash, invited_by, \
         created_at, expires_at, state, accepted_by, state_changed_at) ",
        11,
        data.invitees.iter(),
        |row, invitee| {
            row.push_bind(invitee.invitation)
                .push_bind(data.organizations[invitee.organization])
                .push_bind(invitee.email.clone())
                .push_bind(Role::VIEWER.key().as_str())
                .push_bind(invitee.token.hash().as_bytes().to_vec())
                .push_bind(data.users[invitee.organization])
                .push_bind(data.now)
                .push_bind(data.now + chrono::Duration::days(7))
                .push_bind("pending")
                .push_bind(None::<Uuid>)
                .push_bind(None::<DateTime<Utc>>);
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Runs `sql` once per chunk of `len` rows, binding one array per column:
/// `INSERT ... SELECT * FROM UNNEST($1::uuid[], ...)` sends a chunk as a
/// handful of values, which PostgreSQL inserts about as fast as `COPY`.
async fn insert_postgres<F>(
    conn: &mut PgConnection,
    sql: &'static str,
    len: usize,
    bind: F,
) -> Result<()>
where
    F: for<'a> Fn(
        sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments>,
        std::ops::Range<usize>,
    ) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments>,
{
    let mut start = 0;
    while start < len {
        let end = (start + POSTGRES_ROWS_PER_STATEMENT).min(len);
        bind(sqlx::query(sql), start..end)
            .execute(&mut *conn)
            .await?;
        start = end;
    }
    Ok(())
}

async fn seed_postgres(pool: &PgPool, data: &Dataset) -> Result<()> {
    let n = data.size.users;
    let mut tx = pool.begin().await?;
    insert_postgres(
        &mut tx,
        "INSERT INTO users (id, email, display_name, password_hash, created_at) \
         SELECT id, email, NULL, 'bench', created_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[]) AS t (id, email, created_at)",
        n,
        |query, range| {
            query
                .bind(data.users[range.clone()].to_vec())
                .bind(range.clone().map(Dataset::user_email).collect::<Vec<_>>())
                .bind(range.map(|i| data.at(i)).collect::<Vec<_>>())
        },
    )
    .await?;
    insert_postgres(
        &mut tx,
        "INSERT INTO organizations (id, name, plan, owner_id, created_at) \
         SELECT id, name, 'free', owner_id, created_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[]) \
         AS t (id, name, owner_id, created_at)",
        n,
        |query, range| {
            query
                .bind(data.organizations[range.clone()].to_vec())
                .bind(
                    range
                        .clone()
                        .map(|i| format!("Organization {i}"))
                        .collect::<Vec<_>>(),
                )
                .bind(data.users[range.clone()].to_vec())
                .bind(range.map(|i| data.at(i)).collect::<Vec<_>>())
        },
    )
    .await?;
    insert_postgres(
        &mut tx,
        "INSERT INTO active_organizations (user_id, organization_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[])",
        n,
        |query, range| {
            query
                .bind(data.users[range.clone()].to_vec())
                .bind(data.organizations[range].to_vec())
        },
    )
    .await?;
    insert_postgres(
        &mut tx,
        "INSERT INTO memberships (organization_id, user_id, role, joined_at) \
         SELECT organization_id, user_id, 'owner', joined_at \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) \
         AS t (organization_id, user_id, joined_at)",
        n,
        |query, range| {
            query
                .bind(data.organizations[range.clone()].to_vec())
                .bind(data.users[range.clone()].to_vec())
                .bind(range.map(|i| data.at(i)).collect::<Vec<_>>())
        },
    )
    .await?;
    insert_postgres(
        &mut tx,
        "INSERT INTO memberships (organization_id, user_id, role, joined_at) \
         SELECT organization_id, user_id, 'viewer', joined_at \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) \
         AS t (organization_id, user_id, joined_at)",
        data.viewers.len(),
        |query, range| {
            let pairs = &data.viewers[range.clone()];
            query
                .bind(
                    pairs
                        .iter()
                        .map(|&(o, _)| data.organizations[o as usize])
                        .collect::<Vec<_>>(),
                )
                .bind(
                    pairs
                        .iter()
                        .map(|&(_, u)| data.users[u as usize])
                        .collect::<Vec<_>>(),
                )
                .bind(range.map(|k| data.joined_at(k)).collect::<Vec<_>>())
        },
    )
    .await?;
    insert_postgres(
        &mut tx,
        "INSERT INTO users (id, email, display_name, password_hash, created_at) \
         SELECT id, email, NULL, 'bench', $3 \
         FROM UNNEST($1::uuid[], $2::text[]) AS t (id, email)",
        data.invitees.len(),
        |query, range| {
            let invitees = &data.invitees[range];
            query
                .bind(invitees.iter().map(|i| i.user).collect::<Vec<_>>())
                .bind(invitees.iter().map(|i| i.email.clone()).collect::<Vec<_>>())
                .bind(data.now)
        },
    )
    .await?;
    insert_postgres(
        &mut tx,
        "INSERT INTO invitations (id, organization_id, email, role, token_hash, invited_by, \
         created_at, expires_at, state, accepted_by, state_changed_at) \
         SELECT id, organization_id, email, 'viewer', token_hash, invited_by, \
         $6, $7, 'pending', NULL, NULL \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::uuid[]) \
         AS t (id, organization_id, email, token_hash, invited_by)",
        data.invitees.len(),
        |query, range| {
            let invitees = &data.invitees[range];
            query
                .bind(invitees.iter().map(|i| i.invitation).collect::<Vec<_>>())
                .bind(
                    invitees
                        .iter()
                        .map(|i| data.organizations[i.organization])
                        .collect::<Vec<_>>(),
                )
                .bind(invitees.iter().map(|i| i.email.clone()).collect::<Vec<_>>())
                .bind(
                    invitees
                        .iter()
                        .map(|i| i.token.hash().as_bytes().to_vec())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    invitees
                        .iter()
                        .map(|i| data.users[i.organization])
                        .collect::<Vec<_>>(),
                )
                .bind(data.now)
                .bind(data.now + chrono::Duration::days(7))
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// The two databases, created fresh and removed at the end.

/// An sqlx pool, used without sea-orm.
#[derive(Debug, Clone)]
enum RawPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl RawPool {
    /// The pool under the store's sea-orm connection: the raw lookups run on
    /// the very connections the store's do, with the same settings, the same
    /// per-connection caches and the same pool behaviour, so that what
    /// differs is only the code in between.
    fn of_store(store: &Store) -> Self {
        match store.backend() {
            Backend::Sqlite => {
                Self::Sqlite(store.connection().get_sqlite_connection_pool().clone())
            }
            Backend::Postgres => {
                Self::Postgres(store.connection().get_postgres_connection_pool().clone())
            }
        }
    }

    async fn seed(&self, data: &Dataset) -> Result<()> {
        match self {
            Self::Sqlite(pool) => seed_sqlite(pool, data).await,
            Self::Postgres(pool) => seed_postgres(pool, data).await,
        }
    }

    /// Refreshes the planner's statistics after the bulk load, as autovacuum
    /// would have by the time such a database serves traffic.
    async fn analyze(&self) -> Result<()> {
        match self {
            Self::Sqlite(pool) => {
                sqlx::query("ANALYZE").execute(pool).await?;
            }
            Self::Postgres(pool) => {
                sqlx::query("VACUUM (ANALYZE)").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// The membership of `user` in `organization`, read the way the store
    /// reads it but without sea-orm: one prepared statement, the same
    /// columns decoded, the same conversion to the core's type. sea-orm's
    /// old `find_by_id` SQL reads the four columns of the membership alone.
    async fn membership(
        &self,
        sql: RawSql,
        organization: Uuid,
        user: Uuid,
    ) -> Result<Option<Membership>> {
        type Row = (Uuid, Uuid, String, DateTime<Utc>);
        let alone = |row: Option<Row>| {
            row.map(|(organization_id, user_id, role, joined_at)| {
                (
                    organization_id,
                    user_id,
                    role,
                    None,
                    joined_at,
                    None,
                    None,
                    None,
                )
            })
        };
        let row: Option<LookupRow> = match (self, sql) {
            (Self::Sqlite(pool), RawSql::Plain) => {
                sqlx::query_as(LOOKUP_SQL)
                    .bind(organization)
                    .bind(user)
                    .fetch_optional(pool)
                    .await?
            }
            (Self::Sqlite(pool), RawSql::SeaOrm) => alone(
                sqlx::query_as(SEA_ORM_LOOKUP_SQL_SQLITE)
                    .bind(organization)
                    .bind(user)
                    .bind(1_i64)
                    .fetch_optional(pool)
                    .await?,
            ),
            (Self::Postgres(pool), RawSql::Plain) => {
                sqlx::query_as(LOOKUP_SQL)
                    .bind(organization)
                    .bind(user)
                    .fetch_optional(pool)
                    .await?
            }
            (Self::Postgres(pool), RawSql::SeaOrm) => alone(
                sqlx::query_as(SEA_ORM_LOOKUP_SQL_POSTGRES)
                    .bind(organization)
                    .bind(user)
                    .bind(1_i64)
                    .fetch_optional(pool)
                    .await?,
            ),
        };
        row.map(membership_of).transpose()
    }

    /// The database's version, for the record.
    async fn version(&self) -> Result<String> {
        Ok(match self {
            Self::Sqlite(pool) => {
                let version: String = sqlx::query_scalar("SELECT sqlite_version()")
                    .fetch_one(pool)
                    .await?;
                format!("SQLite {version}")
            }
            Self::Postgres(pool) => {
                let version: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(pool)
                    .await?;
                format!("PostgreSQL {version}")
            }
        })
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// A name of our own for each database: letters, digits and underscores.
fn unique_name() -> Result<String> {
    let mut bytes = [0_u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a name: {e}"))?;
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("tenancy_bench_{}_{random}", std::process::id()))
}

/// The SQLite file and its WAL companions, deleted when this is dropped.
#[derive(Debug)]
struct SqliteFiles(PathBuf);

impl Drop for SqliteFiles {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.0.clone().into_os_string();
            file.push(suffix);
            // Already gone is fine; anything else is worth a line.
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    eprintln!("cannot remove `{}`: {e}", file.display());
                }
                _ => {}
            }
        }
    }
}

async fn bench_sqlite(data: &Dataset) -> Result<Report> {
    let files = SqliteFiles(std::env::temp_dir().join(format!("{}.db", unique_name()?)));
    let url = format!("sqlite://{}", files.0.display());
    eprintln!("SQLite: {}", files.0.display());
    // A second pool for a diagnostic: the store's settings (see
    // `Store::connect`) but no ping before each acquire.
    let options = SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        .disable_statement_logging();
    let report = async {
        let store = Store::open(StoreOptions::new(url, SecretKey::generate("bench")?)).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let unpinged = RawPool::Sqlite(pool);
        let report = bench_backend("SQLite", &store, &unpinged, data).await;
        unpinged.close().await;
        store.close().await?;
        report
    }
    .await;
    drop(files);
    report
}

/// Replaces the database name of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

async fn bench_postgres(data: &Dataset, admin_url: &str) -> Result<Report> {
    let name = unique_name()?;
    let mut admin = PgConnection::connect(admin_url).await.map_err(|e| {
        format!("cannot reach PostgreSQL through {POSTGRES_URL_VAR} (or its default): {e}")
    })?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    eprintln!("PostgreSQL: database {name}");
    let url = with_database(admin_url, &name);
    let report = async {
        let store = Store::open(StoreOptions::new(
            url.clone(),
            SecretKey::generate("bench")?,
        ))
        .await?;
        let options = PgConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        let unpinged = RawPool::Postgres(pool);
        let report = bench_backend("PostgreSQL", &store, &unpinged, data).await;
        unpinged.close().await;
        store.close().await?;
        report
    }
    .await;
    // FORCE ends the pools' connections should closing them have failed.
    let dropped = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    admin.close().await?;
    let report = report?;
    dropped?;
    Ok(report)
}

// ---------------------------------------------------------------------------
// Measuring.

/// Latencies of one operation, one call at a time.
#[derive(Debug, Clone)]
struct Stats {
    count: usize,
    mean: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Result<Self> {
        samples.sort_unstable();
        let count = samples.len();
        let max = *samples.last().ok_or("no samples")?;
        // Nearest rank: the smallest sample with at least p of them at or below it.
        let rank = |p: f64| samples[((p * count as f64).ceil() as usize).clamp(1, count) - 1];
        let total: Duration = samples.iter().sum();
        Ok(Self {
            count,
            mean: total / u32::try_from(count)?,
            p50: rank(0.50),
            p99: rank(0.99),
            max,
        })
    }
}

#[derive(Debug)]
struct Report {
    backend: &'static str,
    version: String,
    lookup_p99_target: Duration,
    rows: usize,
    insert: Duration,
    analyze: Duration,
    store_lookup: Stats,
    authorize: Stats,
    raw_lookup: Stats,
    raw_sea_orm_sql: Stats,
    sea_orm_statement: Stats,
    raw_unpinged: Stats,
    organizations: Stats,
    accept: Stats,
    /// The one-minute load average before the lookups and after the accepts.
    load: (String, String),
}

/// The one-minute load average, to tell a quiet machine from a busy one.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// What a lookup found must be what the seed put there; a benchmark that
/// times wrong answers measures nothing.
fn check(what: &str, found: bool, expected: bool, organization: usize, user: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} of (organization {organization}, user {user}) found {found}, expected {expected}"
        )
        .into())
    }
}

/// The lookup through sea-orm's connection with the SQL written once, and
/// without the store's unit of work: what is left of sea-orm's cost when the
/// statement is not built per call.
async fn sea_orm_statement(
    store: &Store,
    backend: DbBackend,
    organization: Uuid,
    user: Uuid,
) -> Result<Option<Membership>> {
    let statement =
        Statement::from_sql_and_values(backend, LOOKUP_SQL, [organization.into(), user.into()]);
    let Some(row) = store.connection().query_one_raw(statement).await? else {
        return Ok(None);
    };
    membership_of((
        row.try_get("", "organization_id")?,
        row.try_get("", "user_id")?,
        row.try_get("", "role")?,
        row.try_get("", "custom_role")?,
        row.try_get("", "joined_at")?,
        row.try_get("", "role_name")?,
        row.try_get("", "role_description")?,
        row.try_get("", "role_capabilities")?,
    ))
    .map(Some)
}

/// The ways of looking a membership up, measured side by side.
#[derive(Debug, Clone, Copy)]
enum Lookup {
    Store,
    Authorize,
    Raw,
    /// Raw sqlx sending the SQL of sea-orm's `find_by_id(..).one(..)`: the
    /// price of its bound `LIMIT`, without sea-orm.
    RawSeaOrmSql,
    /// sea-orm's connection with the SQL written once.
    SeaOrmStatement,
    /// Raw sqlx on a second pool that does not ping before each acquire.
    RawUnpinged,
}

const LOOKUPS: [Lookup; 6] = [
    Lookup::Store,
    Lookup::Authorize,
    Lookup::Raw,
    Lookup::RawSeaOrmSql,
    Lookup::SeaOrmStatement,
    Lookup::RawUnpinged,
];

/// Everything a lookup may go through.
#[derive(Debug)]
struct Paths<'a> {
    store: &'a Store,
    service: LiveService,
    /// The store's own pool.
    raw: RawPool,
    unpinged: &'a RawPool,
}

async fn lookup(paths: &Paths<'_>, kind: Lookup, organization: Uuid, user: Uuid) -> Result<bool> {
    let Paths {
        store,
        service,
        raw,
        unpinged,
    } = paths;
    let (organization_id, user_id) = (
        OrganizationId::from_uuid(organization),
        UserId::from_uuid(user),
    );
    Ok(match kind {
        Lookup::Store => store
            .read()
            .await?
            .membership(organization_id, user_id)
            .await?
            .is_some(),
        Lookup::Authorize => service
            .authorize(user_id, organization_id, Capability::ViewResources)
            .await?
            .is_ok(),
        Lookup::Raw => raw
            .membership(RawSql::Plain, organization, user)
            .await?
            .is_some(),
        Lookup::RawSeaOrmSql => raw
            .membership(RawSql::SeaOrm, organization, user)
            .await?
            .is_some(),
        Lookup::SeaOrmStatement => {
            let backend = store.connection().get_database_backend();
            sea_orm_statement(store, backend, organization, user)
                .await?
                .is_some()
        }
        Lookup::RawUnpinged => unpinged
            .membership(RawSql::Plain, organization, user)
            .await?
            .is_some(),
    })
}

async fn bench_backend(
    backend: &'static str,
    store: &Store,
    unpinged: &RawPool,
    data: &Dataset,
) -> Result<Report> {
    let size = data.size;
    let raw = RawPool::of_store(store);
    eprintln!("{backend}: seeding {} rows", thousands(data.rows()));
    let started = Instant::now();
    raw.seed(data).await?;
    let insert = started.elapsed();
    let started = Instant::now();
    raw.analyze().await?;
    let analyze = started.elapsed();
    eprintln!(
        "{backend}: seeded in {:.1} s, analyzed in {:.1} s",
        insert.as_secs_f64(),
        analyze.as_secs_f64()
    );

    let paths = Paths {
        store,
        service: Service::new(
            store.clone(),
            SystemClock,
            UuidV7,
            OsTokens,
            Settings::default(),
        ),
        raw: raw.clone(),
        unpinged,
    };
    let service = &paths.service;
    let mut rng = Rng(RNG_SEED ^ 0x6c6f_6f6b_7570);

    // Warm-up: every measured pair once, so that the pages they touch are
    // cached, and other pairs through every path, so that the pooled
    // connections have prepared their statements.
    let pairs = data.lookup_pairs(&mut rng, size.lookups);
    eprintln!("{backend}: warming up");
    for &(o, u, member) in &pairs {
        let found = raw
            .membership(RawSql::Plain, data.organizations[o], data.users[u])
            .await?
            .is_some();
        check("warm-up lookup", found, member, o, u)?;
    }
    for &(o, u, member) in &data.lookup_pairs(&mut rng, size.lookup_warmup) {
        for kind in LOOKUPS {
            let found = lookup(&paths, kind, data.organizations[o], data.users[u]).await?;
            check("warm-up lookup", found, member, o, u)?;
        }
    }

    // Every way on every pair, interleaved in an order that rotates from one
    // pair to the next, so that drift in the machine's load reaches all alike.
    eprintln!("{backend}: {} lookups each way", thousands(pairs.len()));
    let load = load_average();
    let mut samples: [Vec<Duration>; LOOKUPS.len()] = Default::default();
    for (i, &(o, u, member)) in pairs.iter().enumerate() {
        for j in 0..LOOKUPS.len() {
            let which = (i + j) % LOOKUPS.len();
            let started = Instant::now();
            let found =
                lookup(&paths, LOOKUPS[which], data.organizations[o], data.users[u]).await?;
            samples[which].push(started.elapsed());
            check("lookup", found, member, o, u)?;
        }
    }
    let [
        store_lookup,
        authorize,
        raw_lookup,
        raw_sea_orm_sql,
        sea_orm_statement,
        raw_unpinged,
    ] = samples.map(Stats::of);

    eprintln!("{backend}: {} listings", thousands(size.listings));
    let users: Vec<usize> = (0..size.listing_warmup + size.listings)
        .map(|_| rng.below(size.users))
        .collect();
    let mut listing = Vec::with_capacity(size.listings);
    for (i, &u) in users.iter().enumerate() {
        let started = Instant::now();
        let views = service
            .organizations(UserId::from_uuid(data.users[u]))
            .await?;
        let elapsed = started.elapsed();
        if i >= size.listing_warmup {
            listing.push(elapsed);
        }
        let expected = data.organizations_per_user[u] as usize;
        if views.len() != expected || views.iter().filter(|v| v.is_active).count() != 1 {
            return Err(format!(
                "user {u} sees {} organizations, expected {expected} with one active",
                views.len()
            )
            .into());
        }
    }

    eprintln!("{backend}: {} accepts", thousands(size.accepts));
    let mut accepting = Vec::with_capacity(size.accepts);
    for (i, invitee) in data.invitees.iter().enumerate() {
        let started = Instant::now();
        let view = service
            .accept(UserId::from_uuid(invitee.user), invitee.token.expose())
            .await?;
        let elapsed = started.elapsed();
        if i >= size.accept_warmup {
            accepting.push(elapsed);
        }
        if view.organization.id.as_uuid() != data.organizations[invitee.organization]
            || view.role != Role::VIEWER
        {
            return Err(format!("invitee {i} joined the wrong organization or role").into());
        }
    }

    Ok(Report {
        backend,
        version: raw.version().await?,
        lookup_p99_target: match store.backend() {
            Backend::Sqlite => SQLITE_LOOKUP_P99_TARGET,
            Backend::Postgres => POSTGRES_LOOKUP_P99_TARGET,
        },
        rows: data.rows(),
        insert,
        analyze,
        store_lookup: store_lookup?,
        authorize: authorize?,
        raw_lookup: raw_lookup?,
        raw_sea_orm_sql: raw_sea_orm_sql?,
        sea_orm_statement: sea_orm_statement?,
        raw_unpinged: raw_unpinged?,
        organizations: Stats::of(listing)?,
        accept: Stats::of(accepting)?,
        load: (load, load_average()),
    })
}

// ---------------------------------------------------------------------------
// The markdown section.

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

fn markdown(data: &Dataset, reports: &[Report]) -> String {
    let size = data.size;
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line("## Store".to_owned());
    line(String::new());
    if size.name != FULL.name {
        line(format!(
            "A `{}` run: a smaller seed for a smoke test, not the figures of record.",
            size.name
        ));
    }
    line(format!(
        "Seed: {} users each owning one organization ({} owner memberships) and {} viewer memberships on distinct random (organization, user) pairs, {} memberships in all, generated from a fixed RNG seed.",
        thousands(size.users),
        thousands(size.users),
        thousands(size.memberships - size.users),
        thousands(size.memberships),
    ));
    line(format!(
        "Each user's own organization is their active one, and {} more users each hold a pending invitation for the accept benchmark.",
        thousands(data.invitees.len()),
    ));
    line("The store's migrations create the schema; bulk multi-row `INSERT`s in one transaction fill it (`INSERT ... SELECT FROM UNNEST` on PostgreSQL), then `ANALYZE` (`VACUUM (ANALYZE)` on PostgreSQL).".to_owned());
    line(format!(
        "Latencies are of one call at a time, in microseconds, after a warm-up; the lookups alternate members and non-members over {} pairs, and the ways of looking up run interleaved, in rotating order, on the same pairs.",
        thousands(size.lookups),
    ));
    line(format!(
        "The raw sqlx lookups run on the store's own pool (the sqlx pool under its sea-orm connection, up to {POOL_SIZE} connections, pinging each connection before handing it out), so that both sides use the same connections; only the last diagnostic uses a second pool of the same size that skips the ping."
    ));
    line(String::new());

    line("### Seeding".to_owned());
    line(String::new());
    line("| Backend | Rows | Inserts | ANALYZE | Total | Target | Met |".to_owned());
    line("|---|---:|---:|---:|---:|---|---|".to_owned());
    for r in reports {
        let total = r.insert + r.analyze;
        line(format!(
            "| {} | {} | {:.1} s | {:.1} s | {:.1} s | < {} s | {} |",
            r.backend,
            thousands(r.rows),
            r.insert.as_secs_f64(),
            r.analyze.as_secs_f64(),
            total.as_secs_f64(),
            SEED_TARGET.as_secs(),
            met(total < SEED_TARGET),
        ));
    }
    line(String::new());

    line("### Latency".to_owned());
    line(String::new());
    line(
        "| Backend | Operation | n | mean µs | p50 µs | p99 µs | max µs | Target | Met |"
            .to_owned(),
    );
    line("|---|---|---:|---:|---:|---:|---:|---|---|".to_owned());
    for r in reports {
        let target = format!(
            "p99 ≤ {} µs",
            thousands(r.lookup_p99_target.as_micros() as usize)
        );
        let rows: [(&str, &Stats, Option<bool>); 8] = [
            (
                "membership lookup, store: `read().membership(org, user)`",
                &r.store_lookup,
                Some(r.store_lookup.p99 <= r.lookup_p99_target),
            ),
            (
                "membership lookup, use case: `service.authorize(..)`",
                &r.authorize,
                Some(r.authorize.p99 <= r.lookup_p99_target),
            ),
            (
                "membership lookup, raw sqlx prepared `SELECT`",
                &r.raw_lookup,
                None,
            ),
            (
                "diagnostic: raw sqlx sending the SQL of sea-orm's `find_by_id(..).one(..)` (`... LIMIT ?`, 1 bound)",
                &r.raw_sea_orm_sql,
                None,
            ),
            (
                "diagnostic: sea-orm's `query_one_raw` sending the raw `SELECT`, no query builder",
                &r.sea_orm_statement,
                None,
            ),
            (
                "diagnostic: raw sqlx on a second pool that skips the ping before each acquire",
                &r.raw_unpinged,
                None,
            ),
            (
                "list a user's organizations: `service.organizations(user)`",
                &r.organizations,
                None,
            ),
            (
                "accept an invitation: `service.accept(user, token)`",
                &r.accept,
                None,
            ),
        ];
        for (operation, stats, verdict) in rows {
            let (target, verdict) = match verdict {
                Some(ok) => (target.as_str(), met(ok)),
                None => ("", ""),
            };
            line(format!(
                "| {} | {operation} | {} | {} | {} | {} | {} | {target} | {verdict} |",
                r.backend,
                thousands(stats.count),
                micros(stats.mean),
                micros(stats.p50),
                micros(stats.p99),
                micros(stats.max),
            ));
        }
    }
    line(String::new());

    line("### sea-orm overhead".to_owned());
    line(String::new());
    line("The store's lookup over the raw sqlx lookup of the same pairs.".to_owned());
    line("The diagnostic rows above price sea-orm's parts against the raw lookup.".to_owned());
    line("The first sends, through raw sqlx, the SQL that sea-orm's `find_by_id(..).one(..)` writes: its `LIMIT` is a bound parameter, which SQLite folds into the compiled statement and so prepares again whenever it is bound, that is on every call (PostgreSQL does not); the store's other `.one()` reads still pay this.".to_owned());
    line("The second sends the raw SQL through sea-orm's connection: the price of sea-orm's own layers.".to_owned());
    line("The third runs the raw lookup on a second pool that does not ping each connection before handing it out: what the store would gain from dropping that round trip.".to_owned());
    line(String::new());
    line("| Backend | Percentile | Store µs | Raw sqlx µs | Ratio | Target | Met |".to_owned());
    line("|---|---|---:|---:|---:|---|---|".to_owned());
    for r in reports {
        for (percentile, store, raw) in [
            ("p50", r.store_lookup.p50, r.raw_lookup.p50),
            ("p99", r.store_lookup.p99, r.raw_lookup.p99),
        ] {
            let ratio = store.as_secs_f64() / raw.as_secs_f64();
            line(format!(
                "| {} | {percentile} | {} | {} | {ratio:.2}× | ≤ {OVERHEAD_TARGET:.2}× | {} |",
                r.backend,
                micros(store),
                micros(raw),
                met(ratio <= OVERHEAD_TARGET),
            ));
        }
    }
    line(String::new());
    for r in reports {
        line(format!(
            "{}: {}, one-minute load average {} before the lookups and {} after the accepts.",
            r.backend, r.version, r.load.0, r.load.1,
        ));
    }
    out
}
