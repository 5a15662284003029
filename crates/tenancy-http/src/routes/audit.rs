//! The audit log (R32): the list of an organization's events with its
//! filters, and the export of all of them as NDJSON, streamed page by page.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use tenancy_core::audit::{Action, AuditEvent, AuditQuery};
use tenancy_core::{Operation, OrganizationId, UserId};
use uuid::Uuid;

use super::{Result, Tag};
use crate::auth::Session;
use crate::errors::fails;
use crate::paging;
use crate::problem::ApiError;
use crate::state::AppState;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ActorType {
    /// A signed-in user.
    User,
    /// The host, with the service token.
    Service,
    /// The server itself.
    System,
}

/// Who made a change.
#[derive(Debug, Clone, Object)]
pub(crate) struct AuditActor {
    #[oai(rename = "type")]
    pub(crate) kind: ActorType,
    /// The user's id; `null` for `service` and `system`.
    #[oai(nullable)]
    pub(crate) id: Option<Uuid>,
    /// The user's email address when the event was written; `null` for `service` and `system`.
    #[oai(nullable)]
    pub(crate) email: Option<String>,
}

/// What kind of thing a change was made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum TargetType {
    Organization,
    User,
    Invitation,
    Role,
    OwnershipTransfer,
    Connection,
    Webhook,
}

/// What a change was made to.
#[derive(Debug, Clone, Object)]
pub(crate) struct AuditTarget {
    #[oai(rename = "type")]
    pub(crate) kind: TargetType,
    /// Its id: a UUID, or a role's key.
    pub(crate) id: String,
    /// How people know it: a name, or an email address.
    pub(crate) label: String,
}

/// One field of an edit.
#[derive(Debug, Clone, Object)]
pub(crate) struct FieldChange {
    pub(crate) from: serde_json::Value,
    pub(crate) to: serde_json::Value,
}

/// One event of the audit log. `hash` is the lowercase hex SHA-256 of `prev_hash`, a line feed,
/// and this object without `hash` in RFC 8785 canonical JSON; `prev_hash` is the previous
/// event's `hash` (64 zeros for `seq` 1).
#[derive(Debug, Clone, Object)]
#[oai(rename = "AuditEvent")]
pub(crate) struct AuditEventBody {
    pub(crate) id: Uuid,
    /// The organization's events counted from 1, without gaps, in commit order.
    pub(crate) seq: u64,
    /// RFC 3339 in UTC with microseconds, exactly as hashed.
    pub(crate) occurred_at: String,
    /// One of the actions of the audit log.
    pub(crate) action: String,
    pub(crate) actor: AuditActor,
    pub(crate) target: AuditTarget,
    /// `{field: {"from", "to"}}` for edits, `null` otherwise.
    #[oai(nullable)]
    pub(crate) changes: Option<std::collections::BTreeMap<String, FieldChange>>,
    /// The `x-request-id` of the request that made the change, if any.
    #[oai(nullable)]
    pub(crate) request_id: Option<String>,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

fn actor_type(kind: &str) -> ActorType {
    match kind {
        "user" => ActorType::User,
        "service" => ActorType::Service,
        _ => ActorType::System,
    }
}

fn target_type(kind: tenancy_core::audit::TargetKind) -> TargetType {
    use tenancy_core::audit::TargetKind as K;
    match kind {
        K::Organization => TargetType::Organization,
        K::User => TargetType::User,
        K::Invitation => TargetType::Invitation,
        K::Role => TargetType::Role,
        K::OwnershipTransfer => TargetType::OwnershipTransfer,
        K::Connection => TargetType::Connection,
        K::Webhook => TargetType::Webhook,
    }
}

impl From<&AuditEvent> for AuditEventBody {
    fn from(event: &AuditEvent) -> Self {
        Self {
            id: event.id.as_uuid(),
            seq: event.seq,
            occurred_at: event.occurred_at_text(),
            action: event.action.name().to_owned(),
            actor: AuditActor {
                kind: actor_type(event.actor.kind),
                id: event.actor.id.map(|id| id.as_uuid()),
                email: event.actor.email.clone(),
            },
            target: AuditTarget {
                kind: target_type(event.target.kind),
                id: event.target.id.clone(),
                label: event.target.label.clone(),
            },
            changes: event.changes.as_ref().map(|changes| {
                changes
                    .iter()
                    .map(|(field, change)| {
                        (
                            field.clone(),
                            FieldChange {
                                from: change.from.clone(),
                                to: change.to.clone(),
                            },
                        )
                    })
                    .collect()
            }),
            request_id: event.request_id.clone(),
            prev_hash: event.prev_hash.clone(),
            hash: event.hash.clone(),
        }
    }
}

crate::paging::list!(
    /// A page of the audit log, newest first.
    AuditEventList,
    AuditEventBody
);

/// The export: one event per line, oldest first.
#[derive(ApiResponse)]
enum Export {
    /// Every event of the organization, oldest first, one JSON object (an `AuditEvent`) per
    /// line.
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ok(Binary<poem::Body>),
}

/// How many events the export reads at a time.
const EXPORT_PAGE: usize = 500;

fn parse_instant(field: &'static str, value: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    value
        .map(|text| {
            // RFC 3339 lets `T` and `Z` be lower case.
            DateTime::parse_from_rfc3339(&text.to_ascii_uppercase())
                .map(|at| at.with_timezone(&Utc))
                .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 instant"))
        })
        .transpose()
}

/// The operations of this area.
pub(crate) struct AuditApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl AuditApi {
    /// List an organization's audit log
    ///
    /// The organization's events, newest first: every change to it, each written in the
    /// transaction of the change (R32).
    /// `action` (one action name; any other value is `validation_failed`), `actor_id`, `since` and
    /// `until` (RFC 3339, both inclusive) filter it; they are judged once the caller's access is
    /// checked.
    /// Needs `view_audit_log`.
    #[oai(
        path = "/:org_id/audit-log",
        method = "get",
        tag = "Tag::Audit",
        operation_id = "list_audit_log"
    )]
    #[expect(
        clippy::too_many_arguments,
        reason = "one per query parameter of the API"
    )]
    async fn list(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        // Strings, so that the caller's access is judged (404, 403) before
        // the values (422); the document gives their forms.
        action: Query<Option<String>>,
        actor_id: Query<Option<String>>,
        since: Query<Option<String>>,
        until: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<AuditEventList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ViewAuditLog)
            .await?;
        let action = action
            .0
            .as_deref()
            .map(|name| {
                Action::parse(name)
                    .map_err(|_| ApiError::invalid("action", "not an action of the audit log"))
            })
            .transpose()?;
        let actor = actor_id
            .0
            .as_deref()
            .map(|id| {
                Uuid::parse_str(id)
                    .map(UserId::from_uuid)
                    .map_err(|_| ApiError::invalid("actor_id", "must be a UUID"))
            })
            .transpose()?;
        let since = parse_instant("since", since.0.as_deref())?;
        let until = parse_instant("until", until.0.as_deref())?;
        let (limit, after) = paging::keyset(limit.0, cursor.0.as_deref())?;
        let query = AuditQuery {
            action,
            actor,
            since,
            until,
            before_seq: after.map(|seq| seq as u64),
            limit: limit + 1,
        };
        let mut events = self.0.tenancy.audit_log(caller, org, &query).await?;
        let next_cursor = if events.len() > limit {
            events.truncate(limit);
            events
                .last()
                .and_then(|last| usize::try_from(last.seq).ok())
                .map(paging::keyset_cursor)
        } else {
            None
        };
        Ok(Json(AuditEventList {
            items: events.iter().map(AuditEventBody::from).collect(),
            next_cursor,
        }))
    }

    /// Export an organization's audit log
    ///
    /// Every event of the organization, oldest first, as NDJSON (one `AuditEvent` per line),
    /// streamed: the server reads the log a page at a time. Anyone holding an export can check its
    /// hash chain (`tenancy audit verify <file>`, or `tenancy_core::audit::verify`): `seq` from 1
    /// without gaps, each `prev_hash` the previous `hash`, each `hash` that of its line.
    /// Needs `view_audit_log`, checked again for each page.
    #[oai(
        path = "/:org_id/audit-log/export",
        method = "get",
        tag = "Tag::Audit",
        operation_id = "export_audit_log"
    )]
    async fn export(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<
        Response<Export>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ViewAuditLog)
            .await?;
        // The first page is read before the answer starts, so that a
        // refusal is a status, not a cut body.
        let first = self
            .0
            .tenancy
            .audit_export_page(caller, org, 0, EXPORT_PAGE)
            .await?;
        let tenancy = self.0.tenancy.clone();
        let pages = futures::stream::unfold(Some(first), move |page| {
            let tenancy = tenancy.clone();
            async move {
                let page = page?;
                let mut lines = Vec::new();
                for event in &page {
                    // A serde_json value always serializes.
                    let _ = serde_json::to_writer(&mut lines, &event.to_json());
                    lines.push(b'\n');
                }
                let next = match page.last() {
                    Some(last) if page.len() == EXPORT_PAGE => {
                        match tenancy
                            .audit_export_page(caller, org, last.seq, EXPORT_PAGE)
                            .await
                        {
                            Ok(next) => Some(Ok(next)),
                            Err(error) => Some(Err(error)),
                        }
                    }
                    _ => None,
                };
                match next {
                    // An error past the first page cuts the body short: the
                    // client's chain check then fails at the end.
                    Some(Err(error)) => {
                        tracing::warn!(%error, "audit export stopped");
                        Some((Ok::<_, std::io::Error>(lines), None))
                    }
                    Some(Ok(next)) => Some((Ok(lines), Some(next))),
                    None => Some((Ok(lines), None)),
                }
            }
        });
        Ok(
            Response::new(Export::Ok(Binary(poem::Body::from_bytes_stream(pages))))
                .header("Content-Type", "application/x-ndjson"),
        )
    }
}
