//! An in-process authorization benchmark of tenancy-core against cedar-policy
//! and casbin (issue 6). See `README.md` beside `Cargo.toml`.
//!
//! The parent process runs one worker process per engine and size, so that
//! an engine's heap does not weigh on the next one's figures, its peak memory
//! can be read, and an engine that overruns the time budget can be stopped
//! and reported instead of hanging the run.

mod engines;
mod measure;
mod report;
mod workload;

use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engines::{Casbin, CasbinCached, Cedar, Engine, Kind, Tenancy};
use crate::measure::Summary;
use crate::report::{Run, RunResult};
use crate::workload::{Expected, Workload};

/// The binary only prints its errors and never matches on them, so one boxed
/// error type serves better than an enum of every library's errors.
pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "\
usage: peers [options]

  --sizes LIST      memberships per workload, comma-separated (default 50000,100000,1000000)
  --engines LIST    engines to run (default tenancy-core,cedar-policy,casbin,casbin-cached)
  --requests N      requests per workload, half allowed (default 100000)
  --seed N          seed of the workload (default 6)
  --batch N         checks per clock reading in the batched timing (default 16)
  --rounds N        timed passes over the request list, per timing (default 3)
  --repeats N       worker processes per engine and size; figures are their medians (default 5)
  --budget SECS     time allowed to each engine at each size, all phases (default 300)
  --json PATH       also write the figures as JSON to PATH
";

/// What the command line asks for.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Settings {
    pub(crate) sizes: Vec<usize>,
    pub(crate) engines: Vec<&'static str>,
    pub(crate) requests: usize,
    pub(crate) seed: u64,
    pub(crate) batch: usize,
    pub(crate) rounds: usize,
    pub(crate) repeats: usize,
    pub(crate) budget_secs: u64,
    #[serde(skip)]
    json: Option<String>,
}

enum Mode {
    Help,
    Parent(Settings),
    Worker(Kind, usize, Settings),
}

fn number<T: std::str::FromStr>(option: &str, value: Option<String>) -> Result<T> {
    let value = value.ok_or_else(|| format!("`{option}` needs a value"))?;
    value
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{option}` expects a number, not `{value}`").into())
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Mode> {
    let mut settings = Settings {
        sizes: vec![50_000, 100_000, 1_000_000],
        engines: Kind::ALL.iter().map(|kind| kind.name()).collect(),
        requests: 100_000,
        seed: 6,
        batch: 16,
        rounds: 3,
        repeats: 5,
        budget_secs: 300,
        json: None,
    };
    let mut worker = None;
    let mut size = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Mode::Help),
            "--sizes" => {
                let list = args.next().ok_or("`--sizes` needs a value")?;
                settings.sizes = list
                    .split(',')
                    .map(|s| number("--sizes", Some(s.trim().to_owned())))
                    .collect::<Result<_>>()?;
            }
            "--engines" => {
                let list = args.next().ok_or("`--engines` needs a value")?;
                let kinds = list
                    .split(',')
                    .map(|s| Kind::parse(s.trim()))
                    .collect::<Result<Vec<_>>>()?;
                // Always in the reporting order, and never without the
                // reference that the ratios are taken to.
                settings.engines = Kind::ALL
                    .into_iter()
                    .filter(|kind| kind.is_reference() || kinds.contains(kind))
                    .map(Kind::name)
                    .collect();
            }
            "--requests" => settings.requests = number(&arg, args.next())?,
            "--seed" => settings.seed = number(&arg, args.next())?,
            "--batch" => settings.batch = number(&arg, args.next())?,
            "--rounds" => settings.rounds = number(&arg, args.next())?,
            "--repeats" => settings.repeats = number(&arg, args.next())?,
            "--budget" => settings.budget_secs = number(&arg, args.next())?,
            "--json" => settings.json = Some(args.next().ok_or("`--json` needs a path")?),
            "--worker" => {
                worker = Some(Kind::parse(
                    &args.next().ok_or("`--worker` needs an engine")?,
                )?)
            }
            "--size" => size = Some(number(&arg, args.next())?),
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}").into()),
        }
    }
    if settings.sizes.is_empty()
        || settings.batch == 0
        || settings.rounds == 0
        || settings.repeats == 0
        || settings.requests < 4
    {
        return Err(
            "sizes, batch, rounds and repeats must not be empty or zero, and requests at least 4"
                .into(),
        );
    }
    Ok(match (worker, size) {
        (Some(kind), Some(size)) => Mode::Worker(kind, size, settings),
        (None, None) => Mode::Parent(settings),
        _ => return Err("`--worker` and `--size` go together".into()),
    })
}

fn main() -> ExitCode {
    let outcome = parse_args(std::env::args().skip(1)).and_then(|mode| match mode {
        Mode::Help => {
            print!("{USAGE}");
            Ok(true)
        }
        Mode::Parent(settings) => run(&settings),
        Mode::Worker(kind, size, settings) => work(kind, size, &settings).map(|()| true),
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What a worker reports about one engine at one size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub(crate) users: usize,
    pub(crate) organizations: usize,
    pub(crate) memberships: usize,
    /// The custom roles the organizations define, and the memberships that
    /// hold one.
    pub(crate) custom_roles: usize,
    pub(crate) custom_memberships: usize,
    pub(crate) requests: usize,
    pub(crate) allowed_share: f64,
    pub(crate) setup_ms: f64,
    pub(crate) verify_ms: f64,
    pub(crate) batched: Summary,
    pub(crate) per_call: Summary,
    pub(crate) peak_rss_mib: Option<f64>,
}

/// Tells the parent which phase the worker is in, so that a timeout can say
/// where the time went.
fn phase(name: &str) {
    println!("phase {name}");
}

/// The worker: one engine at one size, from the workload to the figures.
fn work(kind: Kind, size: usize, settings: &Settings) -> Result<()> {
    phase("workload");
    let workload = Workload::generate(size, settings.requests, settings.seed)?;
    workload.check_expectations()?;
    let allowed = workload
        .requests
        .iter()
        .filter(|r| r.expected == Expected::Allow)
        .count();
    let allowed_share = allowed as f64 / workload.requests.len() as f64;
    if (allowed_share - 0.5).abs() > 0.01 {
        return Err(format!(
            "{:.1}% of the requests are allowed, not half",
            allowed_share * 100.0
        )
        .into());
    }

    // tenancy-core's decisions are the reference every engine must match;
    // for a peer the reference index is dropped before the peer is built.
    phase("setup");
    let start = Instant::now();
    let reference = Tenancy::build(&workload)?;
    let tenancy_setup = start.elapsed();
    reference.check_denial_reasons(&workload.requests)?;
    let expected: Vec<bool> = workload
        .requests
        .iter()
        .map(|r| r.expected == Expected::Allow)
        .collect();

    let (setup, verify, batched, per_call) = match kind {
        Kind::Tenancy => {
            let (verify, batched, per_call) = exercise(&reference, &workload, &expected, settings)?;
            (tenancy_setup, verify, batched, per_call)
        }
        Kind::Cedar => peer(reference, Cedar::build, &workload, &expected, settings)?,
        Kind::Casbin => peer(reference, Casbin::build, &workload, &expected, settings)?,
        Kind::CasbinCached => peer(
            reference,
            CasbinCached::build,
            &workload,
            &expected,
            settings,
        )?,
    };

    let outcome = Outcome {
        users: workload.users.len(),
        organizations: workload.organizations.len(),
        memberships: workload.memberships.len(),
        custom_roles: workload.roles.len() - workload.builtin_roles().len(),
        custom_memberships: workload.custom_memberships(),
        requests: workload.requests.len(),
        allowed_share,
        setup_ms: setup.as_secs_f64() * 1e3,
        verify_ms: verify.as_secs_f64() * 1e3,
        batched,
        per_call,
        peak_rss_mib: measure::peak_rss_mib(),
    };
    println!("result {}", serde_json::to_string(&outcome)?);
    Ok(())
}

/// Verifies an engine on every request (which also warms it, and fills
/// casbin's cache), then times it both ways.
/// Builds a peer (timing its setup) once the reference index is dropped, so
/// that the two never share the memory, then exercises it.
fn peer<'w, E: Engine>(
    reference: Tenancy<'_>,
    build: impl FnOnce(&'w Workload) -> Result<E>,
    workload: &'w Workload,
    expected: &[bool],
    settings: &Settings,
) -> Result<(Duration, Duration, Summary, Summary)> {
    drop(reference);
    let start = Instant::now();
    let engine = build(workload)?;
    let setup = start.elapsed();
    let (verify, batched, per_call) = exercise(&engine, workload, expected, settings)?;
    Ok((setup, verify, batched, per_call))
}

fn exercise<E: Engine>(
    engine: &E,
    workload: &Workload,
    expected: &[bool],
    settings: &Settings,
) -> Result<(Duration, Summary, Summary)> {
    phase("verify");
    let start = Instant::now();
    let mut mismatches = Vec::new();
    for (request, &allowed) in workload.requests.iter().zip(expected) {
        if engine.decide(request)? != allowed {
            mismatches.push(*request);
        }
    }
    let verify = start.elapsed();
    if let Some(first) = mismatches.first() {
        return Err(format!(
            "{} of {} decisions differ from tenancy-core's, the first on {first:?}",
            mismatches.len(),
            expected.len()
        )
        .into());
    }

    phase("timing");
    let batched = Summary::of(measure::batched(
        engine,
        &workload.requests,
        settings.batch,
        settings.rounds,
    ))
    .ok_or("no batched sample")?;
    let per_call = Summary::of(measure::per_call(
        engine,
        &workload.requests,
        settings.rounds,
    ))
    .ok_or("no per-call sample")?;
    Ok((verify, batched, per_call))
}

/// The parent: every engine at every size, each in a worker, `repeats`
/// times, then the report. Returns whether every engine ran and agreed with
/// tenancy-core.
fn run(settings: &Settings) -> Result<bool> {
    let machine_before = report::Machine::read();
    let timer_overhead = measure::timer_overhead();
    let exe = std::env::current_exe()?;
    let kinds = settings
        .engines
        .iter()
        .map(|name| Kind::parse(name))
        .collect::<Result<Vec<_>>>()?;
    let mut runs: Vec<Run> = Vec::new();
    let mut failed = false;
    // Repeats outermost, so that a passing disturbance of the machine falls
    // on one repeat of every engine rather than on every repeat of one.
    'repeats: for repeat in 1..=settings.repeats {
        for &size in &settings.sizes {
            for &kind in &kinds {
                let overran = runs.iter().any(|run| {
                    run.kind == kind
                        && run.size == size
                        && matches!(run.result, RunResult::Timeout(_))
                });
                if overran {
                    // It would overrun again: spend the budget elsewhere.
                    continue;
                }
                let label = format!(
                    "{} at {size} memberships, repeat {repeat}/{}",
                    kind.name(),
                    settings.repeats
                );
                let result = spawn_worker(&exe, &label, kind, size, settings)?;
                // A wrong decision invalidates the whole comparison.
                let stop = matches!(result, RunResult::Failed(_));
                runs.push(Run {
                    repeat,
                    kind,
                    size,
                    result,
                });
                if stop {
                    failed = true;
                    break 'repeats;
                }
            }
        }
    }
    let report = report::Report::new(settings, machine_before, timer_overhead, &runs);
    print!("{}", report.markdown());
    if let Some(path) = &settings.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
        eprintln!("wrote {path}");
    }
    if failed {
        eprintln!("error: an engine failed; see its message above");
    }
    Ok(!failed)
}

fn spawn_worker(
    exe: &std::path::Path,
    label: &str,
    kind: Kind,
    size: usize,
    settings: &Settings,
) -> Result<RunResult> {
    eprintln!("{label}: starting");
    let mut child = Command::new(exe)
        .args(["--worker", kind.name(), "--size", &size.to_string()])
        .args(["--requests", &settings.requests.to_string()])
        .args(["--seed", &settings.seed.to_string()])
        .args(["--batch", &settings.batch.to_string()])
        .args(["--rounds", &settings.rounds.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the worker has no stdout")?;
    let last_phase = Arc::new(Mutex::new(String::from("start")));
    let reader = {
        let last_phase = Arc::clone(&last_phase);
        let label = label.to_owned();
        let started = Instant::now();
        std::thread::spawn(move || -> Option<String> {
            let mut result = None;
            for line in BufReader::new(stdout)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if let Some(name) = line.strip_prefix("phase ") {
                    eprintln!(
                        "{label}: {name} (at {:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                    if let Ok(mut last) = last_phase.lock() {
                        name.clone_into(&mut last);
                    }
                } else if let Some(json) = line.strip_prefix("result ") {
                    result = Some(json.to_owned());
                }
            }
            result
        })
    };

    let budget = Duration::from_secs(settings.budget_secs);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > budget {
            child.kill()?;
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed().as_secs_f64();
    let result = reader.join().map_err(|_| "the worker's reader panicked")?;
    let phase = last_phase.lock().map(|p| p.clone()).unwrap_or_default();

    Ok(match (status, result) {
        (Some(status), Some(json)) if status.success() => {
            eprintln!("{label}: done in {elapsed:.1} s");
            RunResult::Done(Box::new(serde_json::from_str::<Outcome>(&json)?))
        }
        (None, _) => {
            eprintln!("{label}: stopped after {elapsed:.1} s during {phase}");
            RunResult::Timeout(format!(
                "did not finish within the budget of {} s (stopped during {phase})",
                settings.budget_secs
            ))
        }
        (Some(status), _) => {
            eprintln!("{label}: failed during {phase} ({status})");
            RunResult::Failed(format!("the worker failed during {phase} ({status})"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Mode> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn options_are_read_and_the_reference_is_kept() {
        let Mode::Parent(settings) = parse(&[
            "--sizes",
            "50_000,100000",
            "--engines",
            "cedar-policy",
            "--json",
            "out.json",
        ])
        .unwrap() else {
            panic!("expected the parent mode");
        };
        assert_eq!(settings.sizes, vec![50_000, 100_000]);
        assert_eq!(settings.engines, vec!["tenancy-core", "cedar-policy"]);
        assert_eq!(settings.json.as_deref(), Some("out.json"));
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--worker", "casbin"]).is_err());
        assert!(parse(&["--engines", "opa"]).is_err());
    }
}
