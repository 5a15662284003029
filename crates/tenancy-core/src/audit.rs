//! The audit log (R32, D16): every change to an organization records one
//! event, in the transaction of the change.
//!
//! A decision that changes an organization carries an [`AuditEntry`] among
//! its changes: what happened ([`Action`]), who did it ([`Actor`]), to what
//! ([`Target`]) and, for edits, which fields went from what to what. The
//! service stamps it (an id, the instant, the request's id) and the store
//! seals it into an [`AuditEvent`]: the organization's next `seq`, and the
//! hash chain. `hash` is the SHA-256 of the previous event's hash, a line
//! feed, and the event without `hash` in RFC 8785 canonical JSON
//! ([`canonical`]), so [`verify`] can prove from an export alone that no
//! event was changed, dropped or reordered.

pub mod canonical;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::id::{AuditEventId, OrganizationId, UserId};

macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// What an audit event records: the actions of the API, by name.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in the API's order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The action's name in the API (`member.role_changed`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    OrganizationCreated => "organization.created",
    OrganizationRenamed => "organization.renamed",
    OrganizationPlanChanged => "organization.plan_changed",
    OrganizationDeletionScheduled => "organization.deletion_scheduled",
    OrganizationRestored => "organization.restored",
    MemberAdded => "member.added",
    MemberRemoved => "member.removed",
    MemberLeft => "member.left",
    MemberRoleChanged => "member.role_changed",
    InvitationCreated => "invitation.created",
    InvitationResent => "invitation.resent",
    InvitationRevoked => "invitation.revoked",
    InvitationAccepted => "invitation.accepted",
    RoleCreated => "role.created",
    RoleUpdated => "role.updated",
    RoleDeleted => "role.deleted",
    OwnershipTransferRequested => "ownership.transfer_requested",
    OwnershipTransferCancelled => "ownership.transfer_cancelled",
    OwnershipTransferDeclined => "ownership.transfer_declined",
    OwnershipTransferred => "ownership.transferred",
    ConnectionCredentialsRotated => "connection.credentials_rotated",
    WebhookCreated => "webhook.created",
    WebhookUpdated => "webhook.updated",
    WebhookDeleted => "webhook.deleted",
    WebhookSecretRotated => "webhook.secret_rotated",
}

/// A name that is not one of the audit log's actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action {0:?}")]
pub struct UnknownAction(pub String);

impl Action {
    /// The action of a name of the API.
    pub fn parse(name: &str) -> Result<Self, UnknownAction> {
        Self::ALL
            .iter()
            .copied()
            .find(|action| action.name() == name)
            .ok_or_else(|| UnknownAction(name.to_owned()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who made a change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Actor {
    /// A signed-in user.
    User(UserId),
    /// The host, with the service token.
    Service,
    /// The server itself (a background job).
    System,
}

impl Actor {
    /// The actor's type in the API.
    pub const fn kind(self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::Service => "service",
            Actor::System => "system",
        }
    }

    /// The user, if a user acted.
    pub const fn user(self) -> Option<UserId> {
        match self {
            Actor::User(id) => Some(id),
            Actor::Service | Actor::System => None,
        }
    }
}

/// What kind of thing a change was made to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TargetKind {
    Organization,
    User,
    Invitation,
    /// A role, built-in or custom; its id is the role's key.
    Role,
    OwnershipTransfer,
    Connection,
    Webhook,
}

impl TargetKind {
    /// Every kind, in the API's order.
    pub const ALL: [TargetKind; 7] = [
        TargetKind::Organization,
        TargetKind::User,
        TargetKind::Invitation,
        TargetKind::Role,
        TargetKind::OwnershipTransfer,
        TargetKind::Connection,
        TargetKind::Webhook,
    ];

    /// The kind's name in the API.
    pub const fn name(self) -> &'static str {
        match self {
            TargetKind::Organization => "organization",
            TargetKind::User => "user",
            TargetKind::Invitation => "invitation",
            TargetKind::Role => "role",
            TargetKind::OwnershipTransfer => "ownership_transfer",
            TargetKind::Connection => "connection",
            TargetKind::Webhook => "webhook",
        }
    }

    /// The kind of a name of the API.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// How a target is labelled for people: its name, or a user's email address,
/// which the store reads when it writes the event (so that a decision needs
/// no user row it would not read otherwise).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Label {
    Text(String),
    EmailOf(UserId),
}

/// What a change was made to.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Target {
    pub kind: TargetKind,
    pub id: String,
    pub label: Label,
}

impl Target {
    /// A target of `kind` with a textual label.
    pub fn new(kind: TargetKind, id: impl fmt::Display, label: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.to_string(),
            label: Label::Text(label.into()),
        }
    }

    /// A user, labelled by their email address.
    pub fn user(id: UserId) -> Self {
        Self {
            kind: TargetKind::User,
            id: id.to_string(),
            label: Label::EmailOf(id),
        }
    }
}

/// One field of an edit: its value before and after.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FieldChange {
    pub from: Value,
    pub to: Value,
}

/// The fields an edit changed, by name.
pub type Changes = BTreeMap<String, FieldChange>;

/// What a decision records of a change to an organization.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditEntry {
    pub organization_id: OrganizationId,
    pub action: Action,
    pub actor: Actor,
    pub target: Target,
    /// Set for the edits of the API (`organization.renamed`, ...), `None`
    /// otherwise.
    pub changes: Option<Changes>,
}

impl AuditEntry {
    /// An entry without field changes.
    pub fn new(
        organization_id: OrganizationId,
        action: Action,
        actor: Actor,
        target: Target,
    ) -> Self {
        Self {
            organization_id,
            action,
            actor,
            target,
            changes: None,
        }
    }

    /// The same entry, with the fields it changed.
    #[must_use]
    pub fn with_changes(mut self, changes: Changes) -> Self {
        self.changes = Some(changes);
        self
    }

    /// The same entry, recording one field's change.
    #[must_use]
    pub fn changing(mut self, field: &str, from: impl Into<Value>, to: impl Into<Value>) -> Self {
        self.changes.get_or_insert_with(Changes::new).insert(
            field.to_owned(),
            FieldChange {
                from: from.into(),
                to: to.into(),
            },
        );
        self
    }
}

/// What the service adds to an entry when it commits: the event's id, its
/// instant (to the microsecond, which both databases keep) and the request
/// that made it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Stamp {
    pub id: AuditEventId,
    pub occurred_at: DateTime<Utc>,
    pub request_id: Option<String>,
}

impl Stamp {
    /// A stamp at `at`, cut to the microsecond.
    pub fn new(id: AuditEventId, at: DateTime<Utc>, request_id: Option<String>) -> Self {
        let micros = at.timestamp_micros();
        Self {
            id,
            occurred_at: DateTime::from_timestamp_micros(micros).unwrap_or(at),
            request_id,
        }
    }
}

/// The longest request id kept; a longer one is cut (an event must not
/// carry whatever a client puts in a header).
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The hash before the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event's actor as stored and served.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ActorRecord {
    pub kind: &'static str,
    pub id: Option<UserId>,
    pub email: Option<String>,
}

/// An event's target as stored and served.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TargetRecord {
    pub kind: TargetKind,
    pub id: String,
    pub label: String,
}

/// One event of an organization's audit log, sealed into its chain.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub organization_id: OrganizationId,
    pub seq: u64,
    pub occurred_at: DateTime<Utc>,
    pub action: Action,
    pub actor: ActorRecord,
    pub target: TargetRecord,
    pub changes: Option<Changes>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The emails that an entry's user labels resolve to, read by the store.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Resolved {
    pub actor_email: Option<String>,
    /// The target user's email, for a [`Label::EmailOf`].
    pub target_email: Option<String>,
}

impl AuditEvent {
    /// Seals a stamped entry as the organization's event `seq`, after the
    /// event whose hash is `prev_hash` ([`GENESIS`] for the first).
    pub fn seal(
        entry: &AuditEntry,
        stamp: &Stamp,
        resolved: Resolved,
        seq: u64,
        prev_hash: &str,
    ) -> Self {
        let label = match &entry.target.label {
            Label::Text(text) => text.clone(),
            Label::EmailOf(_) => resolved.target_email.unwrap_or_default(),
        };
        let mut event = Self {
            id: stamp.id,
            organization_id: entry.organization_id,
            seq,
            occurred_at: stamp.occurred_at,
            action: entry.action,
            actor: ActorRecord {
                kind: entry.actor.kind(),
                id: entry.actor.user(),
                email: entry.actor.user().and(resolved.actor_email),
            },
            target: TargetRecord {
                kind: entry.target.kind,
                id: entry.target.id.clone(),
                label,
            },
            changes: entry.changes.clone(),
            request_id: stamp.request_id.clone(),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        event.hash = chain_hash(prev_hash, &event.body());
        event
    }

    /// The instant as the API writes it (RFC 3339, UTC, microseconds): the
    /// form that is hashed.
    pub fn occurred_at_text(&self) -> String {
        self.occurred_at
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// The event as the API serves it, without `hash`: what is hashed.
    pub fn body(&self) -> Value {
        let changes = self.changes.as_ref().map(|changes| {
            Value::Object(
                changes
                    .iter()
                    .map(|(field, change)| {
                        (field.clone(), json!({"from": change.from, "to": change.to}))
                    })
                    .collect(),
            )
        });
        json!({
            "id": self.id.to_string(),
            "seq": self.seq,
            "occurred_at": self.occurred_at_text(),
            "action": self.action.name(),
            "actor": {
                "type": self.actor.kind,
                "id": self.actor.id.map(|id| id.to_string()),
                "email": self.actor.email,
            },
            "target": {
                "type": self.target.kind.name(),
                "id": self.target.id,
                "label": self.target.label,
            },
            "changes": changes,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
        })
    }

    /// The event as the API serves it: the body and its `hash`.
    pub fn to_json(&self) -> Value {
        let mut body = self.body();
        if let Value::Object(members) = &mut body {
            members.insert("hash".to_owned(), Value::String(self.hash.clone()));
        }
        body
    }
}

/// The chain's hash of an event's body after `prev_hash`.
pub fn chain_hash(prev_hash: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical::to_string(body).as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// Which events of an organization's log to read, newest first (the list of
/// the API): filters, and a keyset cursor.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct AuditQuery {
    pub action: Option<Action>,
    pub actor: Option<UserId>,
    /// Inclusive bounds of `occurred_at`.
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this `seq` (the previous page's last).
    pub before_seq: Option<u64>,
    /// At most this many (the store reads no more).
    pub limit: usize,
}

impl AuditQuery {
    /// Whether an event passes the filters and the cursor (for stores that
    /// filter in memory, and for tests).
    pub fn admits(&self, event: &AuditEvent) -> bool {
        self.action.is_none_or(|action| event.action == action)
            && self.actor.is_none_or(|actor| event.actor.id == Some(actor))
            && self.since.is_none_or(|since| event.occurred_at >= since)
            && self.until.is_none_or(|until| event.occurred_at <= until)
            && self.before_seq.is_none_or(|before| event.seq < before)
    }
}

/// Where and why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("event {index} is not a JSON object with a string `hash`")]
    Malformed { index: usize },
    #[error("event {index} has seq {found:?}, expected {expected}")]
    Seq {
        index: usize,
        expected: u64,
        found: Option<u64>,
    },
    #[error("event {index} (seq {seq}) does not follow the previous event's hash")]
    Broken { index: usize, seq: u64 },
    #[error("event {index} (seq {seq}) was altered: its hash does not match its content")]
    Altered { index: usize, seq: u64 },
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// How many events it holds.
    pub events: u64,
    /// The last event's hash ([`GENESIS`] for none): whoever keeps it can
    /// later check that no event was dropped from the end either.
    pub head: String,
}

/// A chain checked one event at a time, oldest first (an export read line
/// by line holds one line at a time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    head: String,
    count: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Self {
            head: GENESIS.to_owned(),
            count: 0,
        }
    }
}

impl Chain {
    /// Checks the next event: its `seq` is the next one, its `prev_hash`
    /// the previous event's `hash`, its `hash` that of its content.
    pub fn push(&mut self, event: Value) -> Result<(), ChainError> {
        let index = usize::try_from(self.count).unwrap_or(usize::MAX);
        let Value::Object(mut members) = event else {
            return Err(ChainError::Malformed { index });
        };
        let Some(Value::String(hash)) = members.remove("hash") else {
            return Err(ChainError::Malformed { index });
        };
        let expected = self.count + 1;
        let seq = members.get("seq").and_then(Value::as_u64);
        if seq != Some(expected) {
            return Err(ChainError::Seq {
                index,
                expected,
                found: seq,
            });
        }
        if members.get("prev_hash").and_then(Value::as_str) != Some(self.head.as_str()) {
            return Err(ChainError::Broken {
                index,
                seq: expected,
            });
        }
        if chain_hash(&self.head, &Value::Object(members)) != hash {
            return Err(ChainError::Altered {
                index,
                seq: expected,
            });
        }
        self.head = hash;
        self.count = expected;
        Ok(())
    }

    /// What the events so far verified.
    pub fn finish(self) -> Verified {
        Verified {
            events: self.count,
            head: self.head,
        }
    }
}

/// Checks a whole log, oldest first, as served by the export (one JSON
/// object per event): `seq` counts from 1 without gaps, each `prev_hash` is
/// the previous event's `hash`, and each `hash` is that of its event.
pub fn verify<I>(events: I) -> Result<Verified, ChainError>
where
    I: IntoIterator<Item = Value>,
{
    let mut chain = Chain::default();
    for event in events {
        chain.push(event)?;
    }
    Ok(chain.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn entry(n: u128) -> AuditEntry {
        AuditEntry::new(
            OrganizationId::from_uuid(Uuid::from_u128(1)),
            Action::OrganizationRenamed,
            Actor::User(UserId::from_uuid(Uuid::from_u128(2))),
            Target::new(
                TargetKind::Organization,
                Uuid::from_u128(1),
                format!("Acme {n}"),
            ),
        )
        .changing("name", format!("Acme {}", n - 1), format!("Acme {n}"))
    }

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let stamp = Stamp::new(
                    AuditEventId::from_uuid(Uuid::from_u128(100 + u128::from(seq))),
                    DateTime::from_timestamp(
                        1_800_000_000 + i64::try_from(seq).unwrap(),
                        123_456_789,
                    )
                    .unwrap(),
                    Some(format!("req-{seq}")),
                );
                let resolved = Resolved {
                    actor_email: Some("olivia@example.test".into()),
                    target_email: None,
                };
                let event = AuditEvent::seal(&entry(u128::from(seq)), &stamp, resolved, seq, &prev);
                prev = event.hash.clone();
                event
            })
            .collect()
    }

    #[test]
    fn action_names_round_trip_and_are_unique() {
        assert_eq!(Action::ALL.len(), 25);
        for action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Ok(*action));
        }
        assert!(Action::parse("webhook.test").is_err());
        assert!(Action::parse("member").is_err());
    }

    #[test]
    fn a_chain_verifies_and_names_its_head() {
        let events = chain(5);
        let verified = verify(events.iter().map(AuditEvent::to_json)).unwrap();
        assert_eq!(verified.events, 5);
        assert_eq!(verified.head, events[4].hash);
        assert_eq!(events[0].prev_hash, GENESIS);
        assert_eq!(events[0].hash.len(), 64);
        assert_eq!(verify(Vec::new()).unwrap().head, GENESIS);
    }

    #[test]
    fn the_hash_is_sha256_of_prev_hash_newline_and_canonical_body() {
        let event = &chain(1)[0];
        let text = format!("{}\n{}", GENESIS, canonical::to_string(&event.body()));
        let digest = Sha256::digest(text.as_bytes());
        assert_eq!(event.hash, hex(&digest));
        assert!(
            text.contains(r#""occurred_at":"2027-01-15T08:00:01.123456Z""#),
            "{text}"
        );
        assert!(
            text.contains(r#""changes":{"name":{"from":"Acme 0","to":"Acme 1"}}"#),
            "{text}"
        );
    }

    #[test]
    fn any_altered_dropped_or_reordered_event_is_found() {
        let lines: Vec<Value> = chain(4).iter().map(AuditEvent::to_json).collect();

        let mut altered = lines.clone();
        altered[2]["target"]["label"] = Value::String("Acme X".into());
        assert_eq!(
            verify(altered),
            Err(ChainError::Altered { index: 2, seq: 3 })
        );

        let mut dropped = lines.clone();
        dropped.remove(1);
        assert!(matches!(
            verify(dropped),
            Err(ChainError::Seq { index: 1, .. })
        ));

        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert!(verify(swapped).is_err());

        // Renumbering after a drop does not help: the chain breaks.
        let mut renumbered = lines.clone();
        renumbered.remove(1);
        renumbered[1]["seq"] = Value::from(2);
        assert_eq!(
            verify(renumbered),
            Err(ChainError::Broken { index: 1, seq: 2 })
        );

        let mut rehashed = lines;
        rehashed[3]["hash"] = Value::String(GENESIS.into());
        assert!(matches!(verify(rehashed), Err(ChainError::Altered { .. })));
    }

    #[test]
    fn a_service_or_system_actor_has_no_id_or_email() {
        let mut entry = entry(1);
        entry.actor = Actor::Service;
        let stamp = Stamp::new(
            AuditEventId::from_uuid(Uuid::from_u128(9)),
            DateTime::UNIX_EPOCH,
            None,
        );
        let resolved = Resolved {
            actor_email: Some("leak@example.test".into()),
            target_email: None,
        };
        let event = AuditEvent::seal(&entry, &stamp, resolved, 1, GENESIS);
        let body = event.body();
        assert_eq!(
            body["actor"],
            json!({"type": "service", "id": null, "email": null})
        );
        assert_eq!(body["request_id"], Value::Null);
    }
}
