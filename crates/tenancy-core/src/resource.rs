//! What an organization holds (R1): agents, connections, reports and
//! knowledge files, one generic [`Resource`] whose kind-specific part is
//! [`Details`]; and what members do with them: report runs, pins, chats
//! and investigations.
//!
//! The kinds differ only in their details, the capability that manages them
//! and the quota they count toward ([`ResourceKind`]); everything else
//! (organization scoping, authorization, quotas, listing) is one mechanism.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::id::{InvestigationId, OrganizationId, PinId, ReportRunId, ResourceId, UserId};
use crate::plan::Metered;

/// Longest resource name or connection label, in characters.
pub const RESOURCE_NAME_MAX_CHARS: usize = 200;
/// Longest agent description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 4_000;
/// Longest connection type, in characters.
pub const CONNECTION_TYPE_MAX_CHARS: usize = 64;
/// Largest report definition, in bytes of compact JSON.
pub const DEFINITION_MAX_BYTES: usize = 64 * 1024;
/// Longest chat message or investigation question, in characters.
pub const TEXT_MAX_CHARS: usize = 10_000;
/// Most connections one agent may use.
pub const AGENT_CONNECTIONS_MAX: usize = 50;
/// Most entries in one set of credentials.
pub const CREDENTIALS_MAX_ENTRIES: usize = 32;
/// Longest credential name, in bytes.
pub const CREDENTIAL_NAME_MAX_BYTES: usize = 64;
/// Longest credential value, in characters.
pub const CREDENTIAL_VALUE_MAX_CHARS: usize = 8 * 1024;

/// Why a value of a resource is not acceptable. The messages name what is
/// wrong; the HTTP layer reports them per field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must not be empty")]
    Empty,
    #[error("is {chars} characters long, the limit is {max}")]
    TooLong { chars: usize, max: usize },
    #[error("contains a control character at position {position}")]
    ControlCharacter { position: usize },
    #[error("may contain only letters, digits, `_`, `-` and `.`")]
    Charset,
    #[error("is {bytes} bytes as JSON, the limit is {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("has {count} entries, the limit is {max}")]
    TooMany { count: usize, max: usize },
    #[error("`{0}` is not a cron expression: {1}")]
    Cron(String, String),
    #[error("`{0}` is not an IANA time zone name")]
    TimeZone(String),
    #[error("`{0}` is not a media type")]
    ContentType(String),
    #[error("credential `{name}`: {problem}")]
    Credential { name: String, problem: &'static str },
    #[error("is not an encoding of credentials")]
    Encoding,
}

fn trimmed_text(
    input: &str,
    max: usize,
    allow_newlines: bool,
    allow_empty: bool,
) -> Result<String, ValueError> {
    let text = input.trim();
    if text.is_empty() && !allow_empty {
        return Err(ValueError::Empty);
    }
    let allowed = |c: char| allow_newlines && matches!(c, '\n' | '\r' | '\t');
    if let Some(position) = text.chars().position(|c| c.is_control() && !allowed(c)) {
        return Err(ValueError::ControlCharacter { position });
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(ValueError::TooLong { chars, max });
    }
    Ok(text.to_owned())
}

macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident, $max:expr, newlines: $newlines:expr, empty: $empty:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Trims and checks the text.
            pub fn parse(input: &str) -> Result<Self, ValueError> {
                trimmed_text(input, $max, $newlines, $empty).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_value!(
    /// The name of an agent, report or knowledge file, or a connection's
    /// label: trimmed, 1 to 200 characters, no control characters.
    ResourceName, RESOURCE_NAME_MAX_CHARS, newlines: false, empty: false
);
text_value!(
    /// What an agent is for: trimmed, up to 4,000 characters (none is fine),
    /// new lines allowed.
    Description, DESCRIPTION_MAX_CHARS, newlines: true, empty: true
);
text_value!(
    /// A chat message or an investigation's question: trimmed, 1 to 10,000
    /// characters, new lines allowed.
    Text, TEXT_MAX_CHARS, newlines: true, empty: false
);

impl Description {
    /// No description.
    pub fn empty() -> Self {
        Self(String::new())
    }
}

/// What a connection connects to (`postgres`, `datadog`, ...): 1 to 64
/// letters, digits, `_`, `-` or `.`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ConnectionType(String);

impl ConnectionType {
    /// Trims and checks a type.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let text = trimmed_text(input, CONNECTION_TYPE_MAX_CHARS, false, false)?;
        if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(ValueError::Charset);
        }
        Ok(Self(text))
    }

    /// The type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConnectionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionType({:?})", self.0)
    }
}

impl<'de> Deserialize<'de> for ConnectionType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A report's definition: a JSON object of at most 64 KiB, opaque to
/// tenancy (the host's report engine reads it).
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
#[serde(transparent)]
pub struct Definition(serde_json::Map<String, serde_json::Value>);

impl Definition {
    /// Checks the size of a definition.
    pub fn parse(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, ValueError> {
        let bytes = serde_json::to_vec(&object).map_or(usize::MAX, |v| v.len());
        if bytes > DEFINITION_MAX_BYTES {
            return Err(ValueError::TooLarge {
                bytes,
                max: DEFINITION_MAX_BYTES,
            });
        }
        Ok(Self(object))
    }

    /// The object.
    pub fn as_object(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Definition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Map::deserialize(d)?;
        Self::parse(raw).map_err(serde::de::Error::custom)
    }
}

/// A media type as a client declared it (`text/markdown`), checked for shape
/// only: it is echoed back on download, never interpreted.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ContentType(String);

impl ContentType {
    /// What a file without a declared type is.
    pub fn octet_stream() -> Self {
        Self("application/octet-stream".to_owned())
    }

    /// Checks a media type: `type/subtype`, printable ASCII, up to 127 bytes.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let text = input.trim();
        let shaped = text.len() <= 127
            && text.split_once('/').is_some_and(|(kind, rest)| {
                !kind.is_empty() && !rest.is_empty() && !kind.contains(';')
            })
            && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if shaped {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(ValueError::ContentType(text.chars().take(140).collect()))
        }
    }

    /// The media type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentType({:?})", self.0)
    }
}

impl<'de> Deserialize<'de> for ContentType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// When a report runs by itself: a cron expression (five fields, or six with
/// seconds) in an IANA time zone.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawSchedule", into = "RawSchedule")]
pub struct Schedule {
    cron: String,
    timezone: chrono_tz::Tz,
}

#[derive(Serialize, Deserialize)]
struct RawSchedule {
    cron: String,
    timezone: String,
}

impl TryFrom<RawSchedule> for Schedule {
    type Error = ValueError;

    fn try_from(raw: RawSchedule) -> Result<Self, ValueError> {
        Self::parse(&raw.cron, Some(&raw.timezone))
    }
}

impl From<Schedule> for RawSchedule {
    fn from(schedule: Schedule) -> Self {
        Self {
            cron: schedule.cron,
            timezone: schedule.timezone.name().to_owned(),
        }
    }
}

/// The cron expression of a schedule has at most this many characters.
pub const CRON_MAX_CHARS: usize = 200;

/// The IANA time zone names that a schedule takes, as its `timezone`.
pub fn time_zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

impl Schedule {
    /// Checks a cron expression and a time zone (UTC when none is given).
    pub fn parse(cron: &str, timezone: Option<&str>) -> Result<Self, ValueError> {
        let cron = cron.trim();
        if cron.is_empty() {
            return Err(ValueError::Empty);
        }
        if cron.len() > CRON_MAX_CHARS {
            return Err(ValueError::TooLong {
                chars: cron.chars().count(),
                max: CRON_MAX_CHARS,
            });
        }
        let parsed = croner::Cron::from_str(cron)
            .map_err(|e| ValueError::Cron(cron.to_owned(), e.to_string()))?;
        let timezone = match timezone.map(str::trim) {
            None | Some("") => chrono_tz::Tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| ValueError::TimeZone(name.chars().take(100).collect()))?,
        };
        // A pattern that never fires (`0 0 31 2 *`) is not a schedule.
        let probe = DateTime::<Utc>::UNIX_EPOCH.with_timezone(&timezone);
        if parsed.find_next_occurrence(&probe, false).is_err() {
            return Err(ValueError::Cron(
                cron.to_owned(),
                "it never fires".to_owned(),
            ));
        }
        Ok(Self {
            cron: cron.to_owned(),
            timezone,
        })
    }

    /// The cron expression as given (trimmed).
    pub fn cron(&self) -> &str {
        &self.cron
    }

    /// The IANA name of the time zone.
    pub fn timezone(&self) -> &str {
        self.timezone.name()
    }

    /// The first time after `now` at which the report runs.
    pub fn next_run_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let cron = croner::Cron::from_str(&self.cron).ok()?;
        cron.find_next_occurrence(&now.with_timezone(&self.timezone), false)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }
}

/// The secrets of a connection (API keys, passwords, tokens): write-only over
/// the API (D9), encrypted at rest by the store, readable only in-process
/// through [`crate::service::Service::connection_credentials`].
///
/// The values are wiped from memory when dropped. The type implements neither
/// `Serialize` nor `Display`, and its `Debug` shows the names only, so that it
/// cannot end up in a response or a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials(BTreeMap<String, Zeroizing<String>>);

impl Credentials {
    /// Checks a set of credentials: 1 to 32 entries, names of 1 to 64
    /// letters, digits, `_`, `-` or `.`, values of 1 to 8,192 characters.
    pub fn parse(
        entries: impl IntoIterator<Item = (String, Zeroizing<String>)>,
    ) -> Result<Self, ValueError> {
        let mut map = BTreeMap::new();
        for (name, value) in entries {
            let problem = if name.is_empty() {
                Some("the name is empty")
            } else if name.len() > CREDENTIAL_NAME_MAX_BYTES {
                Some("the name is longer than 64 bytes")
            } else if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            {
                Some("the name may contain only letters, digits, `_`, `-` and `.`")
            } else if value.is_empty() {
                Some("the value is empty")
            } else if value.chars().count() > CREDENTIAL_VALUE_MAX_CHARS {
                Some("the value is longer than 8,192 characters")
            } else {
                None
            };
            if let Some(problem) = problem {
                let name = name.chars().take(64).collect();
                return Err(ValueError::Credential { name, problem });
            }
            map.insert(name, value);
        }
        if map.is_empty() {
            return Err(ValueError::Empty);
        }
        if map.len() > CREDENTIALS_MAX_ENTRIES {
            return Err(ValueError::TooMany {
                count: map.len(),
                max: CREDENTIALS_MAX_ENTRIES,
            });
        }
        Ok(Self(map))
    }

    /// The names of the entries, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// One secret value, for the host that uses the connection.
    pub fn expose(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str())
    }

    /// The plaintext to encrypt: each name and value preceded by its length
    /// (u32, big-endian). Written into a buffer of the exact size, so no
    /// reallocation leaves a copy behind; wiped when dropped.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let size: usize = self.0.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let mut out = Zeroizing::new(Vec::with_capacity(size));
        for (name, value) in &self.0 {
            for part in [name.as_bytes(), value.as_bytes()] {
                // Both are bounded by `parse`, far below u32::MAX.
                let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(part);
            }
        }
        out
    }

    /// Reads what [`Credentials::to_plaintext`] wrote; any other bytes are an
    /// error, never a panic.
    pub fn from_plaintext(mut bytes: &[u8]) -> Result<Self, ValueError> {
        fn take<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], ValueError> {
            let (len, rest) = bytes.split_first_chunk::<4>().ok_or(ValueError::Encoding)?;
            let len =
                usize::try_from(u32::from_be_bytes(*len)).map_err(|_| ValueError::Encoding)?;
            if len > rest.len() {
                return Err(ValueError::Encoding);
            }
            let (part, rest) = rest.split_at(len);
            *bytes = rest;
            Ok(part)
        }
        let mut entries = Vec::new();
        while !bytes.is_empty() {
            let name = std::str::from_utf8(take(&mut bytes)?).map_err(|_| ValueError::Encoding)?;
            let value = std::str::from_utf8(take(&mut bytes)?).map_err(|_| ValueError::Encoding)?;
            entries.push((name.to_owned(), Zeroizing::new(value.to_owned())));
        }
        Self::parse(entries)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("names", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The kinds of resources.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Agent,
    Connection,
    Report,
    KnowledgeFile,
}

impl ResourceKind {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::Agent,
        Self::Connection,
        Self::Report,
        Self::KnowledgeFile,
    ];

    /// The kinds created from a request body alone, each counting toward a
    /// quota by existing (D10). Knowledge files count too, by number and by
    /// bytes, but they come with their content.
    pub const METERED: [Self; 3] = [Self::Agent, Self::Connection, Self::Report];

    /// The stable name used in the API and the store.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Connection => "connection",
            Self::Report => "report",
            Self::KnowledgeFile => "knowledge_file",
        }
    }

    /// The kind of a stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Its plural, for people.
    pub const fn plural_label(self) -> &'static str {
        match self {
            Self::Agent => "agents",
            Self::Connection => "connections",
            Self::Report => "reports",
            Self::KnowledgeFile => "knowledge files",
        }
    }

    /// The quota its number counts toward, if any. A knowledge file's bytes
    /// also count toward [`Metered::StorageBytes`].
    pub const fn metered(self) -> Option<Metered> {
        match self {
            Self::Agent => Some(Metered::Agents),
            Self::Connection => Some(Metered::Connections),
            Self::Report => Some(Metered::Reports),
            Self::KnowledgeFile => Some(Metered::KnowledgeFiles),
        }
    }

    /// Whether members may pin it to their sidebar.
    pub const fn pinnable(self) -> bool {
        !matches!(self, Self::KnowledgeFile)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an agent is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub description: Description,
    /// The connections it uses, in the organization, without repeats.
    pub connection_ids: Vec<ResourceId>,
}

/// What a connection is; its credentials are kept apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub connection_type: ConnectionType,
    pub credentials_updated_at: Option<DateTime<Utc>>,
}

/// What a report is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub definition: Definition,
    pub schedule: Option<Schedule>,
}

/// What a knowledge file is; its content is in the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeFile {
    pub content_type: ContentType,
    pub size_bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

/// The part of a resource that depends on its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Details {
    Agent(Agent),
    Connection(Connection),
    Report(Report),
    KnowledgeFile(KnowledgeFile),
}

impl Details {
    /// The kind these details belong to.
    pub const fn kind(&self) -> ResourceKind {
        match self {
            Self::Agent(_) => ResourceKind::Agent,
            Self::Connection(_) => ResourceKind::Connection,
            Self::Report(_) => ResourceKind::Report,
            Self::KnowledgeFile(_) => ResourceKind::KnowledgeFile,
        }
    }
}

/// A resource of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    pub organization_id: OrganizationId,
    /// The name, or a connection's label.
    pub name: ResourceName,
    pub details: Details,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Resource {
    /// Its kind.
    pub const fn kind(&self) -> ResourceKind {
        self.details.kind()
    }

    /// The connections an agent uses; nothing for other kinds.
    pub fn connection_ids(&self) -> &[ResourceId] {
        match &self.details {
            Details::Agent(agent) => &agent.connection_ids,
            _ => &[],
        }
    }
}

/// Where a run of a report stands. tenancy records the request; the host's
/// report engine moves it on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
}

impl RunStatus {
    /// The stable name used in the API and the store.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
        }
    }

    /// The status of a stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        (name == "queued").then_some(Self::Queued)
    }
}

/// One run of a report, triggered by a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRun {
    pub id: ReportRunId,
    pub organization_id: OrganizationId,
    pub report_id: ResourceId,
    pub status: RunStatus,
    pub triggered_by: UserId,
    pub created_at: DateTime<Utc>,
}

/// An item on one member's sidebar in one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub id: PinId,
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub item_kind: ResourceKind,
    pub item_id: ResourceId,
    pub created_at: DateTime<Utc>,
}

/// A question a member asked an agent to investigate, using its connections
/// on the member's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Investigation {
    pub id: InvestigationId,
    pub organization_id: OrganizationId,
    pub agent_id: ResourceId,
    pub question: Text,
    pub status: RunStatus,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
}

/// What a new resource is made of, as a client gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewResource {
    Agent {
        name: ResourceName,
        description: Description,
        connection_ids: Vec<ResourceId>,
    },
    Connection {
        label: ResourceName,
        connection_type: ConnectionType,
        credentials: Credentials,
    },
    Report {
        name: ResourceName,
        definition: Definition,
    },
    KnowledgeFile {
        name: ResourceName,
        content_type: ContentType,
        size_bytes: u64,
        sha256: String,
    },
}

impl NewResource {
    /// The kind it creates.
    pub const fn kind(&self) -> ResourceKind {
        match self {
            Self::Agent { .. } => ResourceKind::Agent,
            Self::Connection { .. } => ResourceKind::Connection,
            Self::Report { .. } => ResourceKind::Report,
            Self::KnowledgeFile { .. } => ResourceKind::KnowledgeFile,
        }
    }

    /// The connections an agent would use.
    pub fn connection_ids(&self) -> &[ResourceId] {
        match self {
            Self::Agent { connection_ids, .. } => connection_ids,
            _ => &[],
        }
    }
}

/// A partial update; `None` leaves a field as it is. Knowledge files are
/// replaced, not edited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourcePatch {
    Agent {
        name: Option<ResourceName>,
        description: Option<Description>,
        connection_ids: Option<Vec<ResourceId>>,
    },
    Connection {
        label: Option<ResourceName>,
    },
    Report {
        name: Option<ResourceName>,
        definition: Option<Definition>,
    },
}

impl ResourcePatch {
    /// The kind it edits.
    pub const fn kind(&self) -> ResourceKind {
        match self {
            Self::Agent { .. } => ResourceKind::Agent,
            Self::Connection { .. } => ResourceKind::Connection,
            Self::Report { .. } => ResourceKind::Report,
        }
    }

    /// The connections an agent would use after the patch, if it sets them.
    pub fn connection_ids(&self) -> &[ResourceId] {
        match self {
            Self::Agent {
                connection_ids: Some(ids),
                ..
            } => ids,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(entries: &[(&str, &str)]) -> Result<Credentials, ValueError> {
        Credentials::parse(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Zeroizing::new((*v).to_owned()))),
        )
    }

    #[test]
    fn credentials_round_trip_and_never_show_values() {
        let c = creds(&[("api_key", "s3cr3t-canary"), ("user", "ann")]).unwrap();
        let debug = format!("{c:?}");
        assert!(
            debug.contains("api_key") && !debug.contains("s3cr3t-canary"),
            "{debug}"
        );
        let plain = c.to_plaintext();
        assert_eq!(Credentials::from_plaintext(&plain).unwrap(), c);
        assert_eq!(c.expose("api_key"), Some("s3cr3t-canary"));
    }

    #[test]
    fn credentials_refuse_bad_entries() {
        assert_eq!(creds(&[]), Err(ValueError::Empty));
        assert!(creds(&[("", "v")]).is_err());
        assert!(creds(&[("a b", "v")]).is_err());
        assert!(creds(&[("k", "")]).is_err());
        let long = "x".repeat(CREDENTIAL_VALUE_MAX_CHARS + 1);
        assert!(creds(&[("k", &long)]).is_err());
        // The limit counts characters, as the document's `maxLength` does.
        let wide = "é".repeat(CREDENTIAL_VALUE_MAX_CHARS);
        assert!(creds(&[("k", &wide)]).is_ok());
        let many: Vec<(String, String)> = (0..=CREDENTIALS_MAX_ENTRIES)
            .map(|i| (format!("k{i}"), "v".to_owned()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(matches!(creds(&many), Err(ValueError::TooMany { .. })));
    }

    #[test]
    fn credentials_decoding_refuses_garbage() {
        for bytes in [
            &b"\x00\x00\x00\x05ab"[..],
            b"\xff\xff\xff\xff",
            b"\x00\x00",
            b"",
        ] {
            assert!(Credentials::from_plaintext(bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn schedules_parse_cron_and_time_zone() {
        let s = Schedule::parse("0 9 * * 1-5", Some("Europe/Paris")).unwrap();
        assert_eq!((s.cron(), s.timezone()), ("0 9 * * 1-5", "Europe/Paris"));
        let monday = DateTime::parse_from_rfc3339("2026-11-30T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = s.next_run_after(monday).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-30T08:00:00+00:00");
        assert_eq!(
            Schedule::parse("*/5 * * * *", None).unwrap().timezone(),
            "UTC"
        );
        for bad in ["", "not cron", "61 * * * *", "* * * *", "0 0 31 2 *"] {
            assert!(Schedule::parse(bad, None).is_err(), "{bad}");
        }
        assert!(matches!(
            Schedule::parse("0 9 * * *", Some("Mars/Olympus")),
            Err(ValueError::TimeZone(_))
        ));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), s);
    }

    #[test]
    fn names_and_types_are_checked() {
        assert_eq!(
            ResourceName::parse("  Cost bot ").unwrap().as_str(),
            "Cost bot"
        );
        assert!(ResourceName::parse(" ").is_err());
        assert!(ResourceName::parse("a\nb").is_err());
        assert!(Text::parse("line one\nline two").is_ok());
        assert!(ConnectionType::parse("postgres").is_ok());
        assert!(ConnectionType::parse("post gres").is_err());
        assert!(ContentType::parse("text/markdown").is_ok());
        assert!(ContentType::parse("markdown").is_err());
        let big = serde_json::json!({"x": "y".repeat(DEFINITION_MAX_BYTES)});
        let serde_json::Value::Object(big) = big else {
            unreachable!()
        };
        assert!(Definition::parse(big).is_err());
    }

    #[test]
    fn every_kind_has_a_stable_name() {
        for kind in ResourceKind::ALL {
            assert_eq!(ResourceKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(
            ResourceKind::ALL.map(|k| k.metered()),
            [
                Some(Metered::Agents),
                Some(Metered::Connections),
                Some(Metered::Reports),
                Some(Metered::KnowledgeFiles)
            ]
        );
    }
}
