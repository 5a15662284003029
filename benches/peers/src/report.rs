//! The figures as a Markdown table and as JSON, with what they were measured
//! on and the targets they are held to.

use std::fmt::Write as _;

use serde::Serialize;
use tenancy_core::Capability;

use crate::engines::Kind;
use crate::measure::Summary;
use crate::workload::{
    ADMIN_PERCENT, CUSTOM_PERCENT, CUSTOM_ROLES_PER_ORGANIZATION, EDITOR_PERCENT,
    MEMBERSHIPS_PER_USER, USERS_PER_ORGANIZATION, VIEWER_PERCENT,
};
use crate::{Outcome, Settings};

/// The targets of issue 6; issue 15 holds the ratio against cedar-policy
/// and casbin's uncached enforcer, with custom roles in the workload.
const TARGET_RATIO: f64 = 10.0;
const TARGET_MEDIAN_NS: f64 = 200.0;
const TARGET_GROWTH: f64 = 2.0;

/// The machine, read at the start of the run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub(crate) cpu: Option<String>,
    pub(crate) cores: Option<usize>,
    pub(crate) memory_gib: Option<f64>,
    pub(crate) kernel: Option<String>,
    /// When the run started, in UTC.
    pub(crate) date: Option<String>,
    /// The load averages (1, 5, 15 minutes) before and after the run: other
    /// work on the machine shows in the figures.
    pub(crate) load_before: Option<String>,
    pub(crate) load_after: Option<String>,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn load_average() -> Option<String> {
    let text = read("/proc/loadavg")?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

impl Machine {
    pub(crate) fn read() -> Self {
        let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, name)| name.trim().to_owned());
        let memory_gib = read("/proc/meminfo").and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some((kib / 1024.0 / 1024.0 * 10.0).round() / 10.0)
        });
        let date = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_secs()).ok())
            .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
            .map(|date| date.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        Self {
            cpu,
            cores: std::thread::available_parallelism().ok().map(usize::from),
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()),
            date,
            load_before: load_average(),
            load_after: None,
        }
    }
}

/// The versions of the engines, as locked in this workspace.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Versions {
    pub(crate) cedar_policy: Option<String>,
    pub(crate) casbin: Option<String>,
    pub(crate) rustc: &'static str,
}

fn locked_version(name: &str) -> Option<String> {
    let lock = include_str!("../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    let start = lock.find(&needle)? + needle.len();
    let end = start + lock[start..].find('"')?;
    Some(lock[start..end].to_owned())
}

/// How one worker ended.
#[derive(Debug, Clone)]
pub(crate) enum RunResult {
    Done(Box<Outcome>),
    /// Stopped at the budget; says in which phase.
    Timeout(String),
    /// Exited with an error, such as a decision that differs from tenancy-core's.
    Failed(String),
}

/// One worker: one engine at one size in one repeat.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) repeat: usize,
    pub(crate) kind: Kind,
    pub(crate) size: usize,
    pub(crate) result: RunResult,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    Timeout,
    Failed,
}

/// One repeat's figures, kept in the JSON for whoever wants the spread.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Repeat {
    pub(crate) repeat: usize,
    #[serde(flatten)]
    pub(crate) outcome: Outcome,
    /// This repeat's batched median over tenancy-core's in the same repeat.
    pub(crate) median_vs_tenancy: Option<f64>,
}

/// One engine at one size: the median over the repeats of each figure.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) engine: &'static str,
    pub(crate) memberships: usize,
    pub(crate) users: usize,
    pub(crate) organizations: usize,
    pub(crate) custom_roles: Option<usize>,
    pub(crate) custom_memberships: Option<usize>,
    pub(crate) requests: usize,
    pub(crate) status: Status,
    pub(crate) note: Option<String>,
    pub(crate) allowed_share: Option<f64>,
    pub(crate) setup_ms: Option<f64>,
    pub(crate) verify_ms: Option<f64>,
    /// Per check, from groups of `batch` checks per pair of clock readings.
    pub(crate) batched: Option<Summary>,
    /// The lowest and highest batched median of the repeats.
    pub(crate) batched_median_range: Option<(f64, f64)>,
    /// Per check, one pair of clock readings each (their cost included).
    pub(crate) per_call: Option<Summary>,
    /// This engine's batched median over tenancy-core's at the same size.
    pub(crate) median_vs_tenancy: Option<f64>,
    /// The lowest and highest of that ratio within single repeats.
    pub(crate) median_vs_tenancy_range: Option<(f64, f64)>,
    /// The same for the per-call medians.
    pub(crate) per_call_median_vs_tenancy: Option<f64>,
    /// The highest peak resident memory of the workers; it includes the
    /// workload.
    pub(crate) peak_rss_mib: Option<f64>,
    pub(crate) repeats: Vec<Repeat>,
}

/// The median of `values`, the mean of the middle two for an even count.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(f64::midpoint(values[n / 2 - 1], values[n / 2])),
    }
}

fn range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Each statistic's median over the repeats.
fn median_summary(summaries: &[Summary]) -> Option<Summary> {
    Some(Summary {
        median_ns: median(summaries.iter().map(|s| s.median_ns).collect())?,
        p99_ns: median(summaries.iter().map(|s| s.p99_ns).collect())?,
        mean_ns: median(summaries.iter().map(|s| s.mean_ns).collect())?,
        samples: summaries.iter().map(|s| s.samples).sum(),
    })
}

impl Row {
    fn new(kind: Kind, size: usize, requests: usize, runs: &[&Run], all: &[Run]) -> Self {
        let users = size / MEMBERSHIPS_PER_USER;
        let tenancy_in = |repeat: usize| {
            all.iter().find_map(|run| match &run.result {
                RunResult::Done(outcome)
                    if run.repeat == repeat && run.size == size && run.kind.is_reference() =>
                {
                    Some(outcome.batched.median_ns)
                }
                _ => None,
            })
        };
        let repeats: Vec<Repeat> = runs
            .iter()
            .filter_map(|run| match &run.result {
                RunResult::Done(outcome) => Some(Repeat {
                    repeat: run.repeat,
                    outcome: (**outcome).clone(),
                    median_vs_tenancy: tenancy_in(run.repeat)
                        .map(|reference| outcome.batched.median_ns / reference),
                }),
                _ => None,
            })
            .collect();
        let notes: Vec<&str> = runs
            .iter()
            .filter_map(|run| match &run.result {
                RunResult::Timeout(note) | RunResult::Failed(note) => Some(note.as_str()),
                RunResult::Done(_) => None,
            })
            .collect();
        let failed = runs
            .iter()
            .any(|run| matches!(run.result, RunResult::Failed(_)));
        let status = if failed {
            Status::Failed
        } else if repeats.is_empty() {
            Status::Timeout
        } else {
            Status::Ok
        };
        let figure =
            |f: fn(&Outcome) -> f64| median(repeats.iter().map(|r| f(&r.outcome)).collect());
        let batched: Vec<Summary> = repeats.iter().map(|r| r.outcome.batched).collect();
        let per_call: Vec<Summary> = repeats.iter().map(|r| r.outcome.per_call).collect();
        let first = repeats.first().map(|r| &r.outcome);
        Self {
            engine: kind.name(),
            memberships: first.map_or(users * MEMBERSHIPS_PER_USER, |o| o.memberships),
            users: first.map_or(users, |o| o.users),
            organizations: first.map_or(users / USERS_PER_ORGANIZATION, |o| o.organizations),
            custom_roles: first.map(|o| o.custom_roles),
            custom_memberships: first.map(|o| o.custom_memberships),
            requests: first.map_or(requests / 4 * 4, |o| o.requests),
            status,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
            allowed_share: figure(|o| o.allowed_share),
            setup_ms: figure(|o| o.setup_ms),
            verify_ms: figure(|o| o.verify_ms),
            batched: median_summary(&batched),
            batched_median_range: range(batched.iter().map(|s| s.median_ns)),
            per_call: median_summary(&per_call),
            median_vs_tenancy: None,
            median_vs_tenancy_range: range(repeats.iter().filter_map(|r| r.median_vs_tenancy)),
            per_call_median_vs_tenancy: None,
            peak_rss_mib: repeats
                .iter()
                .filter_map(|r| r.outcome.peak_rss_mib)
                .reduce(f64::max),
            repeats,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct EngineInfo {
    pub(crate) engine: &'static str,
    pub(crate) encoding: &'static str,
    pub(crate) timed_section: &'static str,
}

/// How tenancy-core's median grows from the smallest size to the largest.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Growth {
    pub(crate) from_memberships: usize,
    pub(crate) to_memberships: usize,
    /// Of the medians over the repeats.
    pub(crate) median_ratio: f64,
    /// The lowest and highest within single repeats.
    pub(crate) median_ratio_range: Option<(f64, f64)>,
    pub(crate) per_call_median_ratio: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Target {
    pub(crate) target: String,
    /// On the medians over the repeats; `None` when the run cannot tell (an
    /// engine did not finish).
    pub(crate) met: Option<bool>,
    /// In how many repeats the target was met on that repeat's own figures.
    pub(crate) met_in_repeats: usize,
    pub(crate) repeats: usize,
    pub(crate) detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) schema: u32,
    pub(crate) machine: Machine,
    pub(crate) versions: Versions,
    pub(crate) settings: Settings,
    /// What a pair of clock readings costs with nothing between them.
    pub(crate) timer_overhead_ns: Option<Summary>,
    pub(crate) engines: Vec<EngineInfo>,
    pub(crate) results: Vec<Row>,
    pub(crate) tenancy_growth: Option<Growth>,
    pub(crate) targets: Vec<Target>,
}

/// The figures of one repeat that the targets look at: tenancy-core's
/// batched median per size, and each peer's ratio to it per size.
#[derive(Debug, Default)]
struct Figures {
    tenancy: Vec<(usize, f64)>,
    ratios: Vec<(&'static str, usize, f64)>,
    /// The peers of the run.
    peers: Vec<&'static str>,
    sizes_expected: usize,
}

/// Which peers a ratio target counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peers {
    /// Every peer of the run (issue 6).
    All,
    /// All but casbin's cached enforcer (issue 15).
    Uncached,
}

impl Peers {
    fn counts(self, engine: &str) -> bool {
        self == Self::All || engine != Kind::CasbinCached.name()
    }
}

impl Figures {
    /// The ratios of the peers that `peers` counts, and how many there
    /// should be.
    fn ratios_of(&self, peers: Peers) -> (Vec<(&'static str, usize, f64)>, usize) {
        let ratios = self
            .ratios
            .iter()
            .copied()
            .filter(|r| peers.counts(r.0))
            .collect();
        let expected = self.peers.iter().filter(|p| peers.counts(p)).count() * self.sizes_expected;
        (ratios, expected)
    }

    fn ratio_met(&self, peers: Peers) -> Option<bool> {
        let (ratios, expected) = self.ratios_of(peers);
        let closest = ratios.iter().map(|r| r.2).reduce(f64::min)?;
        if closest < TARGET_RATIO {
            Some(false)
        } else {
            (ratios.len() == expected).then_some(true)
        }
    }

    fn median_met(&self) -> Option<bool> {
        let highest = self.tenancy.iter().map(|t| t.1).reduce(f64::max)?;
        if highest > TARGET_MEDIAN_NS {
            Some(false)
        } else {
            (self.tenancy.len() == self.sizes_expected).then_some(true)
        }
    }

    fn growth(&self) -> Option<(usize, usize, f64)> {
        let small = self.tenancy.iter().min_by_key(|t| t.0)?;
        let large = self.tenancy.iter().max_by_key(|t| t.0)?;
        (small.0 != large.0).then(|| (small.0, large.0, large.1 / small.1))
    }
}

impl Report {
    pub(crate) fn new(
        settings: &Settings,
        mut machine: Machine,
        timer_overhead_ns: Option<Summary>,
        runs: &[Run],
    ) -> Self {
        machine.load_after = load_average();
        let kinds: Vec<Kind> = settings
            .engines
            .iter()
            .filter_map(|name| Kind::parse(name).ok())
            .collect();

        let mut results = Vec::new();
        for &size in &settings.sizes {
            for &kind in &kinds {
                let mine: Vec<&Run> = runs
                    .iter()
                    .filter(|run| run.size == size && run.kind == kind)
                    .collect();
                if !mine.is_empty() {
                    results.push(Row::new(kind, size, settings.requests, &mine, runs));
                }
            }
        }
        let references: Vec<(usize, Option<Summary>, Option<Summary>)> = results
            .iter()
            .filter(|row| row.engine == Kind::Tenancy.name())
            .map(|row| (row.memberships, row.batched, row.per_call))
            .collect();
        for row in &mut results {
            let Some((_, Some(batched), Some(per_call))) =
                references.iter().find(|r| r.0 == row.memberships)
            else {
                continue;
            };
            row.median_vs_tenancy = row.batched.map(|s| s.median_ns / batched.median_ns);
            row.per_call_median_vs_tenancy = row.per_call.map(|s| s.median_ns / per_call.median_ns);
        }

        let peers: Vec<&'static str> = kinds
            .iter()
            .filter(|k| !k.is_reference())
            .map(|k| k.name())
            .collect();
        let figures_of = |rows: Vec<(&'static str, usize, Option<f64>, Option<f64>)>| {
            let mut figures = Figures {
                peers: peers.clone(),
                sizes_expected: settings.sizes.len(),
                ..Figures::default()
            };
            for (engine, size, median, ratio) in rows {
                if engine == Kind::Tenancy.name() {
                    figures.tenancy.extend(median.map(|m| (size, m)));
                } else {
                    figures.ratios.extend(ratio.map(|r| (engine, size, r)));
                }
            }
            figures
        };
        let overall = figures_of(
            results
                .iter()
                .map(|row| {
                    (
                        row.engine,
                        row.memberships,
                        row.batched.map(|s| s.median_ns),
                        row.median_vs_tenancy,
                    )
                })
                .collect(),
        );
        let per_repeat: Vec<Figures> = (1..=settings.repeats)
            .map(|repeat| {
                figures_of(
                    results
                        .iter()
                        .flat_map(|row| {
                            row.repeats.iter().filter(|r| r.repeat == repeat).map(|r| {
                                (
                                    row.engine,
                                    row.memberships,
                                    Some(r.outcome.batched.median_ns),
                                    r.median_vs_tenancy,
                                )
                            })
                        })
                        .collect(),
                )
            })
            .collect();

        let tenancy_growth = overall.growth().map(|(from, to, ratio)| Growth {
            from_memberships: from,
            to_memberships: to,
            median_ratio: ratio,
            median_ratio_range: range(per_repeat.iter().filter_map(|f| f.growth()).map(|g| g.2)),
            per_call_median_ratio: {
                let per_call = |size: usize| {
                    references
                        .iter()
                        .find(|r| r.0 == size)
                        .and_then(|r| r.2)
                        .map(|s| s.median_ns)
                };
                per_call(from).zip(per_call(to)).map(|(a, b)| b / a)
            },
        });

        let targets = targets(&overall, &per_repeat, tenancy_growth.as_ref());
        Self {
            schema: 1,
            machine,
            versions: Versions {
                cedar_policy: locked_version("cedar-policy"),
                casbin: locked_version("casbin"),
                rustc: "1.95.0 (the repository's rust-toolchain.toml)",
            },
            settings: settings.clone(),
            timer_overhead_ns,
            engines: kinds
                .into_iter()
                .map(|kind| EngineInfo {
                    engine: kind.name(),
                    encoding: kind.encoding(),
                    timed_section: kind.timed_section(),
                })
                .collect(),
            results,
            tenancy_growth,
            targets,
        }
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "## Authorization: tenancy-core against cedar-policy and casbin\n"
        );
        let _ = writeln!(
            out,
            "Machine: {}, {} cores, {} GiB, Linux {}; {}; load average before {} and after {}.",
            m.cpu.as_deref().unwrap_or("unknown CPU"),
            m.cores.map_or("?".to_owned(), |c| c.to_string()),
            m.memory_gib.map_or("?".to_owned(), |g| g.to_string()),
            m.kernel.as_deref().unwrap_or("?"),
            m.date.as_deref().unwrap_or("unknown date"),
            m.load_before.as_deref().unwrap_or("?"),
            m.load_after.as_deref().unwrap_or("?"),
        );
        let _ = writeln!(
            out,
            "Versions: cedar-policy {}, casbin {}, rustc {}, release profile.",
            self.versions.cedar_policy.as_deref().unwrap_or("?"),
            self.versions.casbin.as_deref().unwrap_or("?"),
            self.versions.rustc,
        );
        let s = &self.settings;
        let (least, most) = CUSTOM_ROLES_PER_ORGANIZATION;
        let custom: Vec<String> = self
            .results
            .iter()
            .filter(|row| row.engine == Kind::Tenancy.name())
            .filter_map(|row| {
                Some(format!(
                    "{} custom roles and {} memberships holding one at {}",
                    thousands(row.custom_roles?),
                    thousands(row.custom_memberships?),
                    thousands(row.memberships)
                ))
            })
            .collect();
        let _ = writeln!(
            out,
            "Workload: seed {}, {} requests per size over all {} capabilities (half allowed: a quarter from non-members, a quarter asking for a capability the role lacks), users = memberships / {MEMBERSHIPS_PER_USER}, organizations = users / {USERS_PER_ORGANIZATION}.",
            s.seed,
            thousands(s.requests),
            Capability::ALL.len(),
        );
        let _ = writeln!(
            out,
            "Roles: the four built-in ones with their matrix, and {least} or {most} custom roles per organization, each holding `view_resources` and each other grantable capability with even odds (keys from a pool of six, so that the same key holds other capabilities in other organizations); one owner per organization, the other memberships {ADMIN_PERCENT}% admin, {EDITOR_PERCENT}% editor, {VIEWER_PERCENT}% viewer and {CUSTOM_PERCENT}% one of the organization's custom roles{}.",
            if custom.is_empty() {
                String::new()
            } else {
                format!(" ({})", custom.join("; "))
            }
        );
        let _ = writeln!(
            out,
            "Runs: each engine at each size ran in its own process, {} times, the engines and sizes taking turns; every figure is the median over those repeats, and \"range\" gives the lowest and highest median of a single repeat.",
            s.repeats
        );
        let _ = writeln!(
            out,
            "Timing: each process made {} timed pass{} over the request list per method; \"median\" and \"p99\" are per check from groups of {} checks timed together; \"per call\" times each check alone and includes the clock's own cost{}.",
            s.rounds,
            if s.rounds == 1 { "" } else { "es" },
            s.batch,
            self.timer_overhead_ns
                .map(|t| format!(
                    " (a pair of readings costs {:.0} ns at the median)",
                    t.median_ns
                ))
                .unwrap_or_default()
        );
        let all_ok = self
            .results
            .iter()
            .all(|row| row.status == Status::Ok && row.note.is_none());
        let _ = writeln!(
            out,
            "{} answered every request before it was timed and agreed with tenancy-core on each; that pass also warmed it.\n",
            if all_ok {
                "Every engine"
            } else {
                "Every engine that finished"
            }
        );

        let _ = writeln!(
            out,
            "| memberships | engine | setup | median ns | range | p99 ns | per-call median ns | per-call p99 ns | median vs tenancy | range | peak RSS MiB |"
        );
        let _ = writeln!(
            out,
            "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"
        );
        for row in &self.results {
            match (row.status, row.batched, row.per_call) {
                (Status::Ok, Some(batched), Some(per_call)) => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        thousands(row.memberships),
                        row.engine,
                        row.setup_ms.map_or("?".to_owned(), duration),
                        nanos(batched.median_ns),
                        row.batched_median_range
                            .map_or(String::new(), |(lo, hi)| format!(
                                "{}–{}",
                                nanos(lo),
                                nanos(hi)
                            )),
                        nanos(batched.p99_ns),
                        nanos(per_call.median_ns),
                        nanos(per_call.p99_ns),
                        ratio(row),
                        row.median_vs_tenancy_range
                            .filter(|_| row.engine != Kind::Tenancy.name())
                            .map_or(String::new(), |(lo, hi)| format!("{lo:.1}–{hi:.1}×")),
                        row.peak_rss_mib
                            .map_or("?".to_owned(), |r| format!("{r:.0}")),
                    );
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "| {} | {} | **{}**: {} | | | | | | | | |",
                        thousands(row.memberships),
                        row.engine,
                        if row.status == Status::Failed {
                            "failed"
                        } else {
                            "no figures"
                        },
                        row.note.as_deref().unwrap_or("no figures"),
                    );
                }
            }
        }
        let incomplete: Vec<&Row> = self
            .results
            .iter()
            .filter(|row| row.status == Status::Ok && row.note.is_some())
            .collect();
        for row in incomplete {
            let _ = writeln!(
                out,
                "\n{} at {} memberships, in {} of {} repeats: {}.",
                row.engine,
                thousands(row.memberships),
                row.repeats.len(),
                self.settings.repeats,
                row.note.as_deref().unwrap_or_default()
            );
        }

        if let Some(growth) = &self.tenancy_growth {
            let _ = writeln!(
                out,
                "\ntenancy-core's median grows {:.2}× from {} to {} memberships ({}per call: {}).",
                growth.median_ratio,
                thousands(growth.from_memberships),
                thousands(growth.to_memberships),
                growth
                    .median_ratio_range
                    .map_or(String::new(), |(lo, hi)| format!(
                        "{lo:.2}–{hi:.2}× within single repeats; "
                    )),
                growth
                    .per_call_median_ratio
                    .map_or("?".to_owned(), |r| format!("{r:.2}×")),
            );
        }

        let _ = writeln!(out, "\n### Targets\n");
        for target in &self.targets {
            let verdict = match target.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "undecided",
            };
            let _ = writeln!(
                out,
                "- {}: **{verdict}** on the medians ({}); met in {} of {} repeats on their own figures.",
                target.target, target.detail, target.met_in_repeats, target.repeats
            );
        }

        let _ = writeln!(out, "\n### What each engine does\n");
        for engine in &self.engines {
            let _ = writeln!(
                out,
                "- **{}** encodes the roles as: {}.",
                engine.engine, engine.encoding
            );
            let _ = writeln!(out, "  Timed, per request: {}.", engine.timed_section);
        }
        let _ = writeln!(
            out,
            "- Setup is the time from the workload's in-memory membership list to an engine ready to answer."
        );
        out
    }
}

fn targets(overall: &Figures, per_repeat: &[Figures], growth: Option<&Growth>) -> Vec<Target> {
    let repeats = per_repeat.len();
    let count = |met: fn(&Figures) -> Option<bool>| {
        per_repeat.iter().filter(|f| met(f) == Some(true)).count()
    };

    let ratio_target = |peers: Peers, which: &str| {
        let (ratios, expected) = overall.ratios_of(peers);
        let closest = ratios.iter().min_by(|a, b| a.2.total_cmp(&b.2));
        Target {
            target: format!(
                "tenancy-core at least {TARGET_RATIO}× faster than {which} at every size"
            ),
            met: overall.ratio_met(peers),
            met_in_repeats: per_repeat
                .iter()
                .filter(|f| f.ratio_met(peers) == Some(true))
                .count(),
            repeats,
            detail: closest.map_or("no such peer finished".to_owned(), |(engine, size, gap)| {
                format!(
                    "the closest is {engine} at {} memberships, {gap:.1}× slower{}",
                    thousands(*size),
                    if ratios.len() == expected {
                        ""
                    } else {
                        "; some peers did not finish"
                    }
                )
            }),
        }
    };
    let uncached_target = ratio_target(
        Peers::Uncached,
        "cedar-policy and casbin's uncached enforcer (issue 15)",
    );
    let all_target = ratio_target(
        Peers::All,
        "every peer, casbin's warm cached enforcer included (issue 6)",
    );

    let slowest = overall.tenancy.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    let median_target = Target {
        target: format!("tenancy-core median at most {TARGET_MEDIAN_NS:.0} ns at every size"),
        met: overall.median_met(),
        met_in_repeats: count(Figures::median_met),
        repeats,
        detail: slowest.map_or(
            "tenancy-core did not finish".to_owned(),
            |(size, median)| {
                format!(
                    "the highest is {} ns at {} memberships",
                    nanos(*median),
                    thousands(*size)
                )
            },
        ),
    };

    let growth_met = |f: &Figures| f.growth().map(|g| g.2 <= TARGET_GROWTH);
    let growth_target = Target {
        target: format!(
            "tenancy-core's median grows at most {TARGET_GROWTH}× from the smallest size to the largest"
        ),
        met: growth.map(|g| g.median_ratio <= TARGET_GROWTH),
        met_in_repeats: per_repeat
            .iter()
            .filter(|f| growth_met(f) == Some(true))
            .count(),
        repeats,
        detail: growth.map_or("needs two sizes".to_owned(), |g| {
            format!(
                "{:.2}× from {} to {} memberships",
                g.median_ratio,
                thousands(g.from_memberships),
                thousands(g.to_memberships)
            )
        }),
    };
    vec![uncached_target, all_target, median_target, growth_target]
}

fn ratio(row: &Row) -> String {
    if row.engine == Kind::Tenancy.name() {
        return "reference".to_owned();
    }
    match row.median_vs_tenancy {
        Some(r) if r >= 1.0 => format!("{r:.1}× slower"),
        Some(r) => format!("{:.1}× faster", 1.0 / r),
        None => "?".to_owned(),
    }
}

fn nanos(ns: f64) -> String {
    if ns < 100.0 {
        format!("{ns:.1}")
    } else {
        thousands(ns.round() as usize)
    }
}

fn duration(ms: f64) -> String {
    if ms < 1_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1_000.0)
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(50_000), "50,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(nanos(87.25), "87.2");
        assert_eq!(nanos(12_345.4), "12,345");
        assert_eq!(duration(12.34), "12.3 ms");
        assert_eq!(duration(2_500.0), "2.50 s");
    }

    fn outcome(size: usize, median_ns: f64) -> Outcome {
        let summary = Summary {
            median_ns,
            p99_ns: 2.0 * median_ns,
            mean_ns: median_ns,
            samples: 10,
        };
        Outcome {
            users: size / 5,
            organizations: size / 50,
            memberships: size,
            custom_roles: size / 20,
            custom_memberships: size / 4,
            requests: 100,
            allowed_share: 0.5,
            setup_ms: 1.0,
            verify_ms: 1.0,
            batched: summary,
            per_call: summary,
            peak_rss_mib: Some(10.0),
        }
    }

    fn settings(repeats: usize) -> Settings {
        Settings {
            sizes: vec![1_000, 10_000],
            engines: vec![Kind::Tenancy.name(), Kind::Cedar.name()],
            requests: 100,
            seed: 1,
            batch: 16,
            rounds: 1,
            repeats,
            budget_secs: 1,
            json: None,
        }
    }

    fn done(repeat: usize, kind: Kind, size: usize, median_ns: f64) -> Run {
        Run {
            repeat,
            kind,
            size,
            result: RunResult::Done(Box::new(outcome(size, median_ns))),
        }
    }

    #[test]
    fn medians_over_repeats_ratios_growth_and_targets() {
        let runs = vec![
            done(1, Kind::Tenancy, 1_000, 40.0),
            done(1, Kind::Cedar, 1_000, 4_000.0),
            done(1, Kind::Tenancy, 10_000, 100.0),
            done(1, Kind::Cedar, 10_000, 900.0),
            done(2, Kind::Tenancy, 1_000, 50.0),
            done(2, Kind::Cedar, 1_000, 5_000.0),
            done(2, Kind::Tenancy, 10_000, 60.0),
            done(2, Kind::Cedar, 10_000, 1_200.0),
            done(3, Kind::Tenancy, 1_000, 45.0),
            done(3, Kind::Cedar, 1_000, 4_500.0),
            done(3, Kind::Tenancy, 10_000, 80.0),
            done(3, Kind::Cedar, 10_000, 1_000.0),
        ];
        let report = Report::new(&settings(3), Machine::read(), None, &runs);
        let row = |engine: Kind, size: usize| {
            report
                .results
                .iter()
                .find(|row| row.engine == engine.name() && row.memberships == size)
                .unwrap()
        };
        assert_eq!(row(Kind::Tenancy, 10_000).batched.unwrap().median_ns, 80.0);
        assert_eq!(
            row(Kind::Tenancy, 10_000).batched_median_range,
            Some((60.0, 100.0))
        );
        assert_eq!(row(Kind::Cedar, 10_000).median_vs_tenancy, Some(12.5));
        assert_eq!(
            row(Kind::Cedar, 10_000).median_vs_tenancy_range,
            Some((9.0, 20.0))
        );
        let growth = report.tenancy_growth.as_ref().unwrap();
        assert_eq!(growth.median_ratio, 80.0 / 45.0);
        // Ratio: 12.5x on the medians, but repeat 1 has only 9x at 10,000.
        assert_eq!(report.targets[0].met, Some(true));
        assert_eq!(report.targets[0].met_in_repeats, 2);
        assert_eq!(report.targets[1].met, Some(true));
        assert_eq!(report.targets[2].met, Some(true));
        // Growth: 1.78x on the medians; 2.5x, 1.2x and 1.78x per repeat.
        assert_eq!(report.targets[3].met, Some(true));
        assert_eq!(report.targets[3].met_in_repeats, 2);
        assert!(report.markdown().starts_with("## "));
    }

    #[test]
    fn the_cached_enforcer_counts_for_issue_6s_target_only() {
        let runs = vec![
            done(1, Kind::Tenancy, 1_000, 40.0),
            done(1, Kind::Cedar, 1_000, 4_000.0),
            done(1, Kind::CasbinCached, 1_000, 200.0),
        ];
        let mut settings = settings(1);
        settings.sizes = vec![1_000];
        settings.engines = vec![
            Kind::Tenancy.name(),
            Kind::Cedar.name(),
            Kind::CasbinCached.name(),
        ];
        let report = Report::new(&settings, Machine::read(), None, &runs);
        assert_eq!(report.targets[0].met, Some(true));
        assert!(report.targets[0].detail.contains("cedar-policy"));
        assert_eq!(report.targets[1].met, Some(false));
        assert!(report.targets[1].detail.contains("casbin-cached"));
    }

    #[test]
    fn a_peer_that_overran_leaves_the_ratio_undecided() {
        let runs = vec![
            done(1, Kind::Tenancy, 1_000, 40.0),
            done(1, Kind::Cedar, 1_000, 4_000.0),
            done(1, Kind::Tenancy, 10_000, 50.0),
            Run {
                repeat: 1,
                kind: Kind::Cedar,
                size: 10_000,
                result: RunResult::Timeout("did not finish".to_owned()),
            },
        ];
        let report = Report::new(&settings(1), Machine::read(), None, &runs);
        assert_eq!(report.results[3].status, Status::Timeout);
        assert_eq!(report.targets[0].met, None);
        assert_eq!(report.targets[1].met, None);
        assert!(report.markdown().contains("did not finish"));
    }

    #[test]
    fn the_engines_versions_are_read_from_the_lock_file() {
        assert!(locked_version("cedar-policy").unwrap().starts_with("4."));
        assert!(locked_version("casbin").unwrap().starts_with("2."));
    }
}
