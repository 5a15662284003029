//! The plans file (`--plans FILE`): a TOML list of plans that replaces the
//! built-in catalog.
//!
//! ```toml
//! [[plans]]
//! id = "free"            # required; new organizations start on `free`
//! name = "Free"          # required, shown to people
//! self_serve = true      # members may pick it; absent: only the host sets it
//! [plans.limits]         # each limit is optional; an absent one is unlimited
//! agents = 3
//! connections = 3
//! reports = 5
//! chat_messages_per_month = 100
//! knowledge_files = 20
//! storage_bytes = 104857600
//!
//! [[plans]]
//! id = "enterprise"
//! name = "Enterprise"    # no `[plans.limits]` at all: everything unlimited
//! ```
//!
//! The catalog must hold a `free` plan, ids must be unique and names
//! non-empty; unknown keys are refused, so that a typo (`agent = 3`) does not
//! silently make a quantity unlimited. A plan without `self_serve` is not
//! self-serve: leaving it out never opens a paid plan to members. Plans are
//! listed in file order.

use std::path::Path;

use serde::Deserialize;
use tenancy_core::plan::{Limits, Plan, PlanCatalog, PlanId};

use crate::Error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlansFile {
    plans: Vec<PlanEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanEntry {
    id: String,
    name: String,
    #[serde(default)]
    self_serve: bool,
    #[serde(default)]
    limits: Limits,
}

/// Reads and checks a plans file.
pub fn load(path: &Path) -> Result<PlanCatalog, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "cannot read the plans file `{}`: {e}",
            path.display()
        ))
    })?;
    parse(&text, path)
}

/// Checks the text of a plans file; `path` only names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<PlanCatalog, Error> {
    let invalid = |why: String| {
        Error::config(format!(
            "invalid plans file `{}`: {}",
            path.display(),
            why.trim_end()
        ))
    };
    let file: PlansFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let plans = file
        .plans
        .into_iter()
        .map(|entry| Plan {
            id: PlanId::new(entry.id),
            name: entry.name,
            self_serve: entry.self_serve,
            limits: entry.limits,
        })
        .collect();
    PlanCatalog::new(plans).map_err(|e| invalid(e.to_string()))
}
