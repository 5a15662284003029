//! The core's `RateLimiter` port: one row per counted hit in
//! `rate_limit_hits`, named by the key's pseudonym and kept until the hit
//! leaves its window.
//!
//! A hit is one short transaction: it serializes with every other hit of
//! the key (on PostgreSQL an advisory lock on the key, on SQLite the write
//! lock of `BEGIN IMMEDIATE`), reads the key's live hits, asks the core's
//! [`judge`] and records the hit only if it is allowed. Instances sharing
//! one database therefore share every count.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};
use tenancy_core::StoreError;
use tenancy_core::error::StoreErrorKind;
use tenancy_core::limits::{Judgement, LimitKey, Pepper, RateLimit, RetryAfter, judge};
use tenancy_core::ports::RateLimiter;
use uuid::Uuid;

use crate::{Backend, Store, db_error};

/// The first key of the advisory locks of hits (`rate` in ASCII); the
/// second is taken from the key's pseudonym. Keys that share a lock only
/// wait for each other a moment longer.
const LOCK_CLASS: i32 = 0x7261_7465;

/// How many expired rows a hit deletes at most: more than the one it adds,
/// so that the table stays the size of the live hits, and few enough that a
/// hit stays short.
const PRUNE_BATCH: i64 = 64;

/// How many times a hit is tried when the database reports contention.
const ATTEMPTS: usize = 8;

/// `?` placeholders as the backend spells them.
fn statement(backend: Backend, sql: &str, values: Vec<Value>) -> Statement {
    match backend {
        Backend::Sqlite => Statement::from_sql_and_values(DbBackend::Sqlite, sql, values),
        Backend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push('$');
                    numbered.push_str(&n.to_string());
                } else {
                    numbered.push(c);
                }
            }
            Statement::from_sql_and_values(DbBackend::Postgres, numbered, values)
        }
    }
}

impl Store {
    /// The pepper of the pseudonyms, from the key every instance shares.
    fn pepper(&self) -> Pepper {
        Pepper::derive(self.sealer.key().expose())
    }

    async fn hit_once(
        &self,
        name: &[u8; 32],
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        // The write lock first, so that no other hit slips in between the
        // count and the record.
        let tx = self.begin_writing().await?;
        if self.backend == Backend::Postgres {
            let [a, b, c, d, ..] = *name;
            tx.execute_raw(statement(
                self.backend,
                "SELECT pg_advisory_xact_lock(?, ?)",
                vec![LOCK_CLASS.into(), i32::from_be_bytes([a, b, c, d]).into()],
            ))
            .await
            .map_err(db_error)?;
        }
        let expiries = self.live_hits(&tx, name, limit, now).await?;
        match judge(limit, &expiries, now) {
            Judgement::Refused(retry) => {
                tx.rollback().await.map_err(db_error)?;
                Ok(Err(retry))
            }
            Judgement::Allowed { expires_at } => {
                tx.execute_raw(statement(
                    self.backend,
                    "INSERT INTO rate_limit_hits (id, key_hash, expires_at) VALUES (?, ?, ?)",
                    vec![
                        Uuid::now_v7().into(),
                        name.to_vec().into(),
                        expires_at.into(),
                    ],
                ))
                .await
                .map_err(db_error)?;
                self.prune(&tx, now).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(Ok(()))
            }
        }
    }

    /// When the newest `limit.max()` live hits of a key expire.
    async fn live_hits(
        &self,
        tx: &DatabaseTransaction,
        name: &[u8; 32],
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let rows = tx
            .query_all_raw(statement(
                self.backend,
                "SELECT expires_at FROM rate_limit_hits WHERE key_hash = ? AND expires_at > ? \
                 ORDER BY expires_at DESC LIMIT ?",
                vec![
                    name.to_vec().into(),
                    now.into(),
                    i64::from(limit.max()).into(),
                ],
            ))
            .await
            .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                row.try_get::<DateTime<Utc>>("", "expires_at")
                    .map_err(db_error)
            })
            .collect()
    }

    /// Deletes a batch of expired hits of any key. On PostgreSQL rows that
    /// another transaction holds are skipped, so that pruning never waits.
    async fn prune(&self, tx: &DatabaseTransaction, now: DateTime<Utc>) -> Result<(), StoreError> {
        let sql = match self.backend {
            Backend::Postgres => {
                "DELETE FROM rate_limit_hits WHERE id IN (SELECT id FROM rate_limit_hits \
                 WHERE expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED)"
            }
            Backend::Sqlite => {
                "DELETE FROM rate_limit_hits WHERE id IN (SELECT id FROM rate_limit_hits \
                 WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)"
            }
        };
        tx.execute_raw(statement(
            self.backend,
            sql,
            vec![now.into(), PRUNE_BATCH.into()],
        ))
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

#[async_trait]
impl RateLimiter for Store {
    async fn hit(
        &self,
        key: &LimitKey,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RetryAfter>, StoreError> {
        let name = key.pseudonym(&self.pepper());
        let mut attempt = 1;
        loop {
            match self.hit_once(&name, limit, now).await {
                Err(e) if e.kind() == StoreErrorKind::Contention && attempt < ATTEMPTS => {
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn clear(&self, key: &LimitKey) -> Result<(), StoreError> {
        let name = key.pseudonym(&self.pepper());
        self.db
            .execute_raw(statement(
                self.backend,
                "DELETE FROM rate_limit_hits WHERE key_hash = ?",
                vec![name.to_vec().into()],
            ))
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgresql() {
        let sql = |backend| statement(backend, "a = ? AND b = ?", vec![]).sql;
        assert_eq!(sql(Backend::Postgres), "a = $1 AND b = $2");
        assert_eq!(sql(Backend::Sqlite), "a = ? AND b = ?");
    }
}
