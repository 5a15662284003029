//! The audit log's rows (R32, D16): sealing an entry into its
//! organization's chain in the transaction of its change, and reading the
//! log by keyset.

use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::Value;
use tenancy_core::audit::{
    Action, AuditEntry, AuditEvent, AuditQuery, Changes, FieldChange, GENESIS, Label, Resolved,
    Stamp, TargetKind, TargetRecord,
};
use tenancy_core::{OrganizationId, StoreError, UserId};
use uuid::Uuid;

use crate::entity::audit_event;
use crate::{Backend, db_error};

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::other(format!("stored audit event is invalid: {detail}"))
}

/// Seals `entry` as the organization's next event and inserts it. The
/// organization's last event and the emails its labels name are read in
/// one statement. Two transactions that take the same `seq` cannot both
/// commit (the unique key): the loser's use case runs again.
pub(crate) async fn record(
    c: &impl ConnectionTrait,
    backend: Backend,
    entry: &AuditEntry,
    stamp: &Stamp,
) -> Result<AuditEvent, StoreError> {
    let target_user = match entry.target.label {
        Label::EmailOf(user) => Some(user),
        Label::Text(_) => None,
    };
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT last.seq, last.hash, \
             (SELECT email FROM users WHERE id = ?2), \
             (SELECT email FROM users WHERE id = ?3) \
             FROM (SELECT 1) AS one LEFT JOIN \
             (SELECT seq, hash FROM audit_events WHERE organization_id = ?1 \
              ORDER BY seq DESC LIMIT 1) AS last ON 1"
        }
        Backend::Postgres => {
            "SELECT last.seq, last.hash, \
             (SELECT email FROM users WHERE id = $2), \
             (SELECT email FROM users WHERE id = $3) \
             FROM (SELECT 1) AS one LEFT JOIN LATERAL \
             (SELECT seq, hash FROM audit_events WHERE organization_id = $1 \
              ORDER BY seq DESC LIMIT 1) AS last ON true"
        }
    };
    let none = Uuid::nil();
    let statement = Statement::from_sql_and_values(
        c.get_database_backend(),
        sql,
        [
            entry.organization_id.as_uuid().into(),
            entry.actor.user().map_or(none, |u| u.as_uuid()).into(),
            target_user.map_or(none, |u| u.as_uuid()).into(),
        ],
    );
    let row = c
        .query_one_raw(statement)
        .await
        .map_err(db_error)?
        .ok_or_else(|| corrupt("no row"))?;
    let last_seq: Option<i64> = row.try_get_by_index(0).map_err(db_error)?;
    let last_hash: Option<String> = row.try_get_by_index(1).map_err(db_error)?;
    let resolved = Resolved {
        actor_email: row.try_get_by_index(2).map_err(db_error)?,
        target_email: row.try_get_by_index(3).map_err(db_error)?,
    };
    let seq = match last_seq {
        Some(last) => u64::try_from(last).map_err(corrupt)? + 1,
        None => 1,
    };
    let prev = last_hash.unwrap_or_else(|| GENESIS.to_owned());
    let event = AuditEvent::seal(entry, stamp, resolved, seq, &prev);
    insert(c, &event).await?;
    Ok(event)
}

async fn insert(c: &impl ConnectionTrait, event: &AuditEvent) -> Result<(), StoreError> {
    let changes = event
        .changes
        .as_ref()
        .map(|changes| changes_json(changes).to_string());
    audit_event::Entity::insert(audit_event::ActiveModel {
        id: Set(event.id.as_uuid()),
        organization_id: Set(event.organization_id.as_uuid()),
        seq: Set(i64::try_from(event.seq).map_err(corrupt)?),
        occurred_at: Set(event.occurred_at),
        action: Set(event.action.name().to_owned()),
        actor_type: Set(event.actor.kind.to_owned()),
        actor_id: Set(event.actor.id.map(|id| id.as_uuid())),
        actor_email: Set(event.actor.email.clone()),
        target_type: Set(event.target.kind.name().to_owned()),
        target_id: Set(event.target.id.clone()),
        target_label: Set(event.target.label.clone()),
        changes: Set(changes),
        request_id: Set(event.request_id.clone()),
        prev_hash: Set(event.prev_hash.clone()),
        hash: Set(event.hash.clone()),
    })
    .exec_without_returning(c)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn changes_json(changes: &Changes) -> Value {
    Value::Object(
        changes
            .iter()
            .map(|(field, change)| {
                (
                    field.clone(),
                    serde_json::json!({"from": change.from, "to": change.to}),
                )
            })
            .collect(),
    )
}

fn parse_changes(text: &str) -> Result<Changes, StoreError> {
    let Value::Object(fields) = serde_json::from_str(text).map_err(corrupt)? else {
        return Err(corrupt("changes are not an object"));
    };
    fields
        .into_iter()
        .map(|(field, mut change)| {
            let from = change.get_mut("from").map(Value::take).unwrap_or_default();
            let to = change.get_mut("to").map(Value::take).unwrap_or_default();
            Ok((field, FieldChange { from, to }))
        })
        .collect()
}

/// An event as read back.
fn to_event(m: audit_event::Model) -> Result<AuditEvent, StoreError> {
    let kind = match m.actor_type.as_str() {
        "user" => "user",
        "service" => "service",
        "system" => "system",
        other => return Err(corrupt(format!("actor type {other:?}"))),
    };
    Ok(AuditEvent {
        id: tenancy_core::id::AuditEventId::from_uuid(m.id),
        organization_id: OrganizationId::from_uuid(m.organization_id),
        seq: u64::try_from(m.seq).map_err(corrupt)?,
        occurred_at: m.occurred_at,
        action: Action::parse(&m.action).map_err(corrupt)?,
        actor: tenancy_core::audit::ActorRecord {
            kind,
            id: m.actor_id.map(UserId::from_uuid),
            email: m.actor_email,
        },
        target: TargetRecord {
            kind: TargetKind::parse(&m.target_type)
                .ok_or_else(|| corrupt(format!("target type {:?}", m.target_type)))?,
            id: m.target_id,
            label: m.target_label,
        },
        changes: m.changes.as_deref().map(parse_changes).transpose()?,
        request_id: m.request_id,
        prev_hash: m.prev_hash,
        hash: m.hash,
    })
}

fn limit_of(limit: usize) -> u64 {
    u64::try_from(limit)
        .unwrap_or(u64::MAX)
        .min(i64::MAX as u64)
}

/// The organization's events as `query` selects them, newest first; at
/// most `query.limit` rows are read, by the unique key or the filter's
/// index.
pub(crate) async fn list(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
    query: &AuditQuery,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut select = audit_event::Entity::find()
        .filter(audit_event::Column::OrganizationId.eq(organization.as_uuid()));
    if let Some(action) = query.action {
        select = select.filter(audit_event::Column::Action.eq(action.name()));
    }
    if let Some(actor) = query.actor {
        select = select.filter(audit_event::Column::ActorId.eq(actor.as_uuid()));
    }
    if let Some(since) = query.since {
        select = select.filter(audit_event::Column::OccurredAt.gte(since));
    }
    if let Some(until) = query.until {
        select = select.filter(audit_event::Column::OccurredAt.lte(until));
    }
    if let Some(before) = query.before_seq {
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        select = select.filter(audit_event::Column::Seq.lt(before));
    }
    select
        .order_by_desc(audit_event::Column::Seq)
        .limit(limit_of(query.limit))
        .all(c)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(to_event)
        .collect()
}

/// The organization's events after `after`, oldest first, at most `limit`.
pub(crate) async fn after(
    c: &impl ConnectionTrait,
    organization: OrganizationId,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEvent>, StoreError> {
    audit_event::Entity::find()
        .filter(audit_event::Column::OrganizationId.eq(organization.as_uuid()))
        .filter(audit_event::Column::Seq.gt(i64::try_from(after).unwrap_or(i64::MAX)))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit_of(limit))
        .all(c)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(to_event)
        .collect()
}
