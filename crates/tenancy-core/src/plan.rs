//! Plans, their limits, usage, and the quota decision (D10).

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// The id of a plan (`free`, `pro`, ...).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanId(String);

impl PlanId {
    /// The plan every new organization starts on (R5, R20).
    pub const FREE: &'static str = "free";

    /// Wraps a plan id. Whether a plan of that id exists is the catalog's to say.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The free plan's id.
    pub fn free() -> Self {
        Self::new(Self::FREE)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlanId({:?})", self.0)
    }
}

/// What a quota counts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metered {
    Agents,
    Connections,
    Reports,
    ChatMessagesPerMonth,
    KnowledgeFiles,
    /// The bytes of every knowledge file together.
    StorageBytes,
}

impl Metered {
    /// Every metered quantity.
    pub const ALL: [Self; 6] = [
        Self::Agents,
        Self::Connections,
        Self::Reports,
        Self::ChatMessagesPerMonth,
        Self::KnowledgeFiles,
        Self::StorageBytes,
    ];

    /// The stable name used in the API.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Agents => "agents",
            Self::Connections => "connections",
            Self::Reports => "reports",
            Self::ChatMessagesPerMonth => "chat_messages_per_month",
            Self::KnowledgeFiles => "knowledge_files",
            Self::StorageBytes => "storage_bytes",
        }
    }
}

/// A plan's limits; `None` is unlimited.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub agents: Option<u64>,
    pub connections: Option<u64>,
    pub reports: Option<u64>,
    pub chat_messages_per_month: Option<u64>,
    pub knowledge_files: Option<u64>,
    /// The bytes that all knowledge files may take together.
    pub storage_bytes: Option<u64>,
}

impl Limits {
    /// No limit on anything.
    pub const UNLIMITED: Self = Self {
        agents: None,
        connections: None,
        reports: None,
        chat_messages_per_month: None,
        knowledge_files: None,
        storage_bytes: None,
    };

    /// The limit on one quantity.
    pub const fn of(&self, metered: Metered) -> Option<u64> {
        match metered {
            Metered::Agents => self.agents,
            Metered::Connections => self.connections,
            Metered::Reports => self.reports,
            Metered::ChatMessagesPerMonth => self.chat_messages_per_month,
            Metered::KnowledgeFiles => self.knowledge_files,
            Metered::StorageBytes => self.storage_bytes,
        }
    }
}

/// A plan of the catalog.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    /// Whether members (with `manage_billing`) may pick it themselves; the
    /// others only a host's billing system sets, after payment. A plan that
    /// does not say is not self-serve.
    #[serde(default)]
    pub self_serve: bool,
    pub limits: Limits,
}

/// Why a list of plans is not a usable catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalog has no `free` plan, which new organizations start on")]
    MissingFreePlan,
    #[error("plan `{0}` appears more than once")]
    DuplicatePlan(PlanId),
    #[error("a plan has an empty id")]
    EmptyId,
    #[error("plan `{0}` has an empty name")]
    EmptyName(PlanId),
}

/// The plans an organization can be on. It always holds the `free` plan.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlanCatalog {
    plans: Vec<Plan>,
}

impl PlanCatalog {
    /// Checks a list of plans: unique, non-empty ids and names, `free` among them.
    pub fn new(plans: Vec<Plan>) -> Result<Self, CatalogError> {
        for (i, plan) in plans.iter().enumerate() {
            if plan.id.as_str().trim().is_empty() {
                return Err(CatalogError::EmptyId);
            }
            if plan.name.trim().is_empty() {
                return Err(CatalogError::EmptyName(plan.id.clone()));
            }
            if plans[..i].iter().any(|other| other.id == plan.id) {
                return Err(CatalogError::DuplicatePlan(plan.id.clone()));
            }
        }
        if !plans.iter().any(|plan| plan.id.as_str() == PlanId::FREE) {
            return Err(CatalogError::MissingFreePlan);
        }
        Ok(Self { plans })
    }

    /// The defaults of the API (agents, connections, reports, chat messages
    /// a month, knowledge files, storage): `free` 3 / 3 / 5 / 100 / 20 /
    /// 100 MiB and `pro` 50 / 50 / 100 / 10000 / 1000 / 10 GiB, both
    /// self-serve; `enterprise` unlimited, set only by the host.
    pub fn builtin() -> Self {
        const MIB: u64 = 1024 * 1024;
        let plan = |id: &str, name: &str, self_serve: bool, limits: [Option<u64>; 6]| Plan {
            id: PlanId::new(id),
            name: name.to_owned(),
            self_serve,
            limits: Limits {
                agents: limits[0],
                connections: limits[1],
                reports: limits[2],
                chat_messages_per_month: limits[3],
                knowledge_files: limits[4],
                storage_bytes: limits[5],
            },
        };
        Self {
            plans: vec![
                plan(
                    "free",
                    "Free",
                    true,
                    [
                        Some(3),
                        Some(3),
                        Some(5),
                        Some(100),
                        Some(20),
                        Some(100 * MIB),
                    ],
                ),
                plan(
                    "pro",
                    "Pro",
                    true,
                    [
                        Some(50),
                        Some(50),
                        Some(100),
                        Some(10_000),
                        Some(1000),
                        Some(10 * 1024 * MIB),
                    ],
                ),
                plan("enterprise", "Enterprise", false, [None; 6]),
            ],
        }
    }

    /// Every plan, in catalog order.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// The plan of that id.
    pub fn get(&self, id: &PlanId) -> Option<&Plan> {
        self.plans.iter().find(|plan| &plan.id == id)
    }

    /// The limits of a plan. An organization whose plan has left the catalog
    /// (a plans file was edited) keeps the free plan's limits rather than
    /// becoming unlimited.
    pub fn limits_of(&self, id: &PlanId) -> Limits {
        self.get(id)
            .or_else(|| self.get(&PlanId::free()))
            .map(|plan| plan.limits)
            .unwrap_or_default()
    }
}

impl Default for PlanCatalog {
    fn default() -> Self {
        Self::builtin()
    }
}

/// A calendar month in UTC, the period of the chat-message quota.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// The UTC calendar month that `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Self {
        Self {
            year: at.year(),
            month: at.month(),
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// What an organization uses now: existing agents, connections, reports and
/// knowledge files with their bytes, and chat messages of the current month.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Usage {
    pub agents: u64,
    pub connections: u64,
    pub reports: u64,
    pub chat_messages_this_month: u64,
    pub knowledge_files: u64,
    /// The sizes of the existing knowledge files, summed.
    pub storage_bytes: u64,
}

impl Usage {
    /// The usage of one quantity.
    pub const fn of(&self, metered: Metered) -> u64 {
        match metered {
            Metered::Agents => self.agents,
            Metered::Connections => self.connections,
            Metered::Reports => self.reports,
            Metered::ChatMessagesPerMonth => self.chat_messages_this_month,
            Metered::KnowledgeFiles => self.knowledge_files,
            Metered::StorageBytes => self.storage_bytes,
        }
    }
}

/// A create that would take usage past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", quota_message(self))]
pub struct QuotaExceeded {
    pub metered: Metered,
    pub limit: u64,
    pub used: u64,
    /// What the create would add: one, or a file's bytes.
    pub adding: u64,
}

fn quota_message(q: &QuotaExceeded) -> String {
    match q.metered {
        Metered::StorageBytes => format!(
            "the plan allows {} bytes of knowledge files, {} are in use, and the file has {}",
            q.limit, q.used, q.adding
        ),
        metered => format!(
            "the plan allows {} {}, and {} are in use",
            q.limit,
            metered.name(),
            q.used
        ),
    }
}

/// Decides whether one more of `metered` fits the limit (D10). Usage above
/// the limit (after a downgrade) is allowed to stand; it only blocks creates.
pub fn check_quota(limits: &Limits, usage: &Usage, metered: Metered) -> Result<(), QuotaExceeded> {
    check_quota_for(limits, usage, metered, 1)
}

/// Decides whether `adding` more of `metered` (a file's bytes, say) fit the
/// limit: usage after the create may reach the limit, never pass it.
pub fn check_quota_for(
    limits: &Limits,
    usage: &Usage,
    metered: Metered,
    adding: u64,
) -> Result<(), QuotaExceeded> {
    let used = usage.of(metered);
    match limits.of(metered) {
        // Saturating: a sum past `u64::MAX` is past every limit.
        Some(limit) if used.saturating_add(adding) > limit => Err(QuotaExceeded {
            metered,
            limit,
            used,
            adding,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_the_api_defaults() {
        const MIB: u64 = 1024 * 1024;
        let catalog = PlanCatalog::builtin();
        let free = catalog.limits_of(&PlanId::free());
        assert_eq!(
            Metered::ALL.map(|m| free.of(m)),
            [
                Some(3),
                Some(3),
                Some(5),
                Some(100),
                Some(20),
                Some(100 * MIB)
            ]
        );
        let pro = catalog.limits_of(&PlanId::new("pro"));
        assert_eq!(
            Metered::ALL.map(|m| pro.of(m)),
            [
                Some(50),
                Some(50),
                Some(100),
                Some(10_000),
                Some(1000),
                Some(10 * 1024 * MIB)
            ]
        );
        assert_eq!(
            catalog.limits_of(&PlanId::new("enterprise")),
            Limits::UNLIMITED
        );
        assert_eq!(Limits::UNLIMITED, Limits::default());
        let self_serve: Vec<(&str, bool)> = catalog
            .plans()
            .iter()
            .map(|p| (p.id.as_str(), p.self_serve))
            .collect();
        assert_eq!(
            self_serve,
            [("free", true), ("pro", true), ("enterprise", false)]
        );
        assert!(PlanCatalog::new(catalog.plans().to_vec()).is_ok());
    }

    #[test]
    fn a_plan_that_does_not_say_is_not_self_serve() {
        let plan: Plan = serde_json::from_str(r#"{"id": "team", "name": "Team", "limits": {}}"#)
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!plan.self_serve);
        assert_eq!(plan.limits, Limits::UNLIMITED);
    }

    #[test]
    fn catalog_rejects_bad_lists() {
        let free = PlanCatalog::builtin().plans()[0].clone();
        let pro = PlanCatalog::builtin().plans()[1].clone();
        assert_eq!(
            PlanCatalog::new(vec![pro.clone()]),
            Err(CatalogError::MissingFreePlan)
        );
        assert_eq!(
            PlanCatalog::new(vec![free.clone(), pro.clone(), pro.clone()]),
            Err(CatalogError::DuplicatePlan(PlanId::new("pro")))
        );
        let nameless = Plan {
            name: " ".into(),
            ..pro
        };
        assert_eq!(
            PlanCatalog::new(vec![free, nameless]),
            Err(CatalogError::EmptyName(PlanId::new("pro")))
        );
    }

    #[test]
    fn unknown_plan_falls_back_to_free_limits() {
        let catalog = PlanCatalog::builtin();
        assert_eq!(
            catalog.limits_of(&PlanId::new("gone")),
            catalog.limits_of(&PlanId::free())
        );
    }

    #[test]
    fn quota_blocks_at_the_limit_and_allows_below() {
        let limits = PlanCatalog::builtin().limits_of(&PlanId::free());
        let mut usage = Usage {
            agents: 2,
            ..Usage::default()
        };
        assert!(check_quota(&limits, &usage, Metered::Agents).is_ok());
        usage.agents = 3;
        assert_eq!(
            check_quota(&limits, &usage, Metered::Agents),
            Err(QuotaExceeded {
                metered: Metered::Agents,
                limit: 3,
                used: 3,
                adding: 1,
            })
        );
        usage.agents = 40;
        assert!(check_quota(&limits, &usage, Metered::Agents).is_err());
        assert!(check_quota(&Limits::default(), &usage, Metered::Agents).is_ok());
    }

    #[test]
    fn bytes_may_reach_the_limit_but_not_pass_it() {
        let limits = Limits {
            storage_bytes: Some(100),
            ..Limits::UNLIMITED
        };
        let usage = Usage {
            storage_bytes: 60,
            ..Usage::default()
        };
        assert!(check_quota_for(&limits, &usage, Metered::StorageBytes, 40).is_ok());
        let refused = check_quota_for(&limits, &usage, Metered::StorageBytes, 41);
        assert_eq!(
            refused,
            Err(QuotaExceeded {
                metered: Metered::StorageBytes,
                limit: 100,
                used: 60,
                adding: 41,
            })
        );
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err(
                "the plan allows 100 bytes of knowledge files, 60 are in use, and the file has 41"
                    .to_owned()
            )
        );
        // A sum that would overflow is past every limit, not back below it.
        let full = Usage {
            storage_bytes: u64::MAX,
            ..Usage::default()
        };
        let huge = Limits {
            storage_bytes: Some(u64::MAX - 1),
            ..Limits::UNLIMITED
        };
        assert!(check_quota_for(&huge, &full, Metered::StorageBytes, 2).is_err());
        assert!(check_quota_for(&Limits::UNLIMITED, &full, Metered::StorageBytes, 2).is_ok());
    }

    #[test]
    fn month_is_the_utc_calendar_month() {
        let at = DateTime::parse_from_rfc3339("2026-01-31T23:30:00-02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Month::of(at),
            Month {
                year: 2026,
                month: 2
            }
        );
        assert_eq!(Month::of(at).to_string(), "2026-02");
    }
}
