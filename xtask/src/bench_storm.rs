//! `cargo xtask bench storm [--baseline BINARY]`: a storm of sign-ins against the release build of `tenancy serve` on
//! SQLite, 500 of them, 64 at a time, half with the right password and half with a wrong one, as an attacker guessing
//! passwords would send them. It reports the server's peak resident memory and the sign-ins answered per second, then
//! replaces the `## Sign-in storm` section of `docs/benchmarks.md`.
//!
//! `--baseline BINARY` runs the same storm against another build (for example the previous release) in the same run,
//! so that the two stand side by side; without it the section quotes the figure of issue 12 for the build before it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::bench_http::{Scratch, Server, base64url, build_release, call, random_bytes, request};
use crate::{Error, bench};

const HEADING: &str = "## Sign-in storm";
const SIGN_INS: usize = 500;
const AT_ONCE: usize = 64;
const PASSWORD: &str = "correct horse battery";
/// The figure for the build before bounded hashing: 64 concurrent wrong sign-ins.
const BEFORE: &str = "1.7 GiB after 64 concurrent sign-ins, 4.1 GiB after 128 more (issue 12)";
/// The server's peak resident memory the issue asks for.
const TARGET_MIB: f64 = 160.0;

pub fn run(args: &[String]) -> Result<(), Error> {
    let baseline = match args {
        [] => None,
        [flag, path] if flag == "--baseline" => Some(PathBuf::from(path)),
        _ => {
            return Err(Error::Usage(
                "usage: cargo xtask bench storm [--baseline BINARY]".to_owned(),
            ));
        }
    };
    let binary = build_release()?;
    let current = storm(&binary)?;
    let previous = baseline.as_deref().map(storm).transpose()?;
    let section = section(&current, previous.as_ref());
    println!("\n{section}");
    bench::write_section(&section, "cargo xtask bench storm")
}

/// What one storm measured.
#[derive(Debug)]
struct Storm {
    binary: String,
    idle_rss_mib: f64,
    peak_rss_mib: f64,
    after_rss_mib: f64,
    seconds: f64,
    statuses: BTreeMap<u16, usize>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// One storm against `binary` on SQLite. The benchmarks' server turns the rate limits off: the storm comes from one
/// address here, and stands for an attacker with many, whom those limits would not stop.
fn storm(binary: &Path) -> Result<Storm, Error> {
    let dir = Scratch::create()?;
    let database = format!("sqlite://{}", dir.0.join("tenancy.db").display());
    let service_token = base64url(&random_bytes::<32>()?);
    let mut server = Server::start(binary, &database, &dir.0, &service_token)?;
    let addr = server.addr;
    call(
        addr,
        "POST",
        "/v1/auth/signup",
        None,
        Some(&json!({"email": "storm@example.com", "password": PASSWORD})),
        201,
    )?;
    let idle_rss_mib = rss_mib(server.pid, "VmRSS:")?;
    println!(
        "storm: {SIGN_INS} sign-ins, {AT_ONCE} at a time, against {}",
        binary.display()
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let next = Arc::clone(&next);
            thread::spawn(move || {
                let mut answers = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= SIGN_INS {
                        return answers;
                    }
                    let password = if i.is_multiple_of(2) {
                        PASSWORD
                    } else {
                        "wrong horse battery"
                    };
                    let sent = Instant::now();
                    let status = request(
                        addr,
                        "POST",
                        "/v1/auth/signin",
                        None,
                        Some(&json!({"email": "storm@example.com", "password": password})),
                    )
                    .map_or(0, |reply| reply.status);
                    answers.push((status, sent.elapsed()));
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(
            worker
                .join()
                .map_err(|_| Error::Other("a storm worker panicked".to_owned()))?,
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak_rss_mib = rss_mib(server.pid, "VmHWM:")?;
    thread::sleep(Duration::from_secs(1));
    let after_rss_mib = rss_mib(server.pid, "VmRSS:")?;
    server.stop()?;
    let mut statuses = BTreeMap::new();
    for (status, _) in &answers {
        *statuses.entry(*status).or_insert(0) += 1;
    }
    let mut latencies: Vec<f64> = answers
        .iter()
        .map(|(_, elapsed)| elapsed.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(index).copied().unwrap_or(f64::NAN)
    };
    let storm = Storm {
        binary: binary.display().to_string(),
        idle_rss_mib,
        peak_rss_mib,
        after_rss_mib,
        seconds,
        statuses,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
    };
    println!("{storm:?}");
    Ok(storm)
}

fn rss_mib(pid: u32, field: &str) -> Result<f64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|error| format!("cannot read /proc/{pid}/status: {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0)
        .ok_or_else(|| Error::Other(format!("no `{field}` in /proc/{pid}/status")))
}

fn section(current: &Storm, previous: Option<&Storm>) -> String {
    let mut out = format!(
        "{HEADING}\n\n\
         {SIGN_INS} sign-ins to one account from {AT_ONCE} connections at a time, half with a wrong password, against the release build on SQLite with the default `--max-concurrent-hashes` (twice the CPUs).\n\
         Resident memory is read from `/proc/<pid>/status` of the server: `VmHWM` for the peak, `VmRSS` before and a second after the storm.\n\n\
         | build | peak resident | target | before | after | sign-ins/s | p50 | p99 | max | answers |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for (name, storm) in
        std::iter::once(("this build", current)).chain(previous.map(|p| ("baseline", p)))
    {
        let met = if storm.peak_rss_mib <= TARGET_MIB {
            "met"
        } else {
            "not met"
        };
        let answers = storm
            .statuses
            .iter()
            .map(|(status, count)| format!("{count} × {status}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "| {name} (`{}`) | {:.0} MiB | ≤ {TARGET_MIB:.0} MiB: {met} | {:.0} MiB | {:.0} MiB | {:.1} | {:.0} ms | {:.0} ms | {:.0} ms | {answers} |\n",
            storm.binary,
            storm.peak_rss_mib,
            storm.idle_rss_mib,
            storm.after_rss_mib,
            SIGN_INS as f64 / storm.seconds,
            storm.p50_ms,
            storm.p99_ms,
            storm.max_ms,
        ));
    }
    if previous.is_none() {
        out.push_str(&format!(
            "\nThe build before bounded hashing, measured when issue 12 was filed: {BEFORE}.\n"
        ));
    }
    out
}
