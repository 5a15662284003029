//! `cargo xtask bench soak`: mixed traffic at a steady rate against the SQLite default, for ten minutes.
//!
//! The release binary serves a seeded organization (an owner, an agent, a chat; the enterprise plan so that
//! quotas do not end the run) and one more user. Requests go out on a fixed schedule, whatever the server's pace: each one's
//! latency is counted from the moment it was due, so a stall shows up in the tail instead of silently slowing
//! the load (coordinated omission). The mix, in turn: the owner's switcher, a host's `POST /v1/authorize`,
//! listing agents, creating an agent (deleted again right after), and a chat message.
//! Every answer must be the expected status; anything else is an error, and the run reports them all.
//! The server's resident memory is sampled as it goes and its peak read from `VmHWM` at the end.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Error;
use crate::bench::{machine, today};
use crate::bench_http::{
    Scratch, Server, base64url, build_release, call, load_average, milliseconds, random_bytes,
    request, string_at, thousands,
};

const USAGE: &str =
    "usage: cargo xtask bench soak [--duration SECONDS[s|m]] [--rate REQUESTS_PER_SECOND]";

/// The defaults: ten minutes at 100 requests per second.
const DEFAULT_SECONDS: u64 = 600;
const DEFAULT_RATE: u32 = 100;
/// Windows of the report: ten, whatever the duration.
const WINDOWS: u64 = 10;
/// Threads that send; each takes every n-th slot of the schedule.
const SENDERS: usize = 16;

/// What the mix needs to know about the seed.
struct Seed {
    owner: String,
    /// A user of another organization, whom `POST /v1/authorize` asks about.
    viewer_id: String,
    org: String,
    chat: String,
    service_token: String,
}

/// One request's outcome: when it was due (seconds from the start), its latency, and whether it was right.
#[derive(Clone, Copy)]
struct Sample {
    due_at: f64,
    latency_ms: f64,
    ok: bool,
}

pub fn run(args: &[String]) -> Result<(), Error> {
    let (seconds, rate) = parse(args)?;
    let binary = build_release()?;
    let scratch = Scratch::create()?;
    let database = format!("sqlite://{}", scratch.0.join("tenancy.db").display());
    let service_token = base64url(&random_bytes::<32>()?);
    let mut server = Server::start(&binary, &database, &scratch.0, &service_token)?;
    let seed = seed(server.addr, service_token)?;
    println!(
        "soak: {rate} requests/s for {seconds} s against {}",
        server.addr
    );
    let memory = Arc::new(Mutex::new(Vec::new()));
    let samples = drive(server.addr, &seed, seconds, rate, server.pid, &memory)?;
    let peak_kib = peak_memory_kib(server.pid);
    server.stop()?;
    let memory = memory.lock().map(|m| m.clone()).unwrap_or_default();
    let section = section(seconds, rate, &samples, &memory, peak_kib);
    println!("{section}");
    crate::bench::write_section(&section, "cargo xtask bench soak")
}

fn parse(args: &[String]) -> Result<(u64, u32), Error> {
    let mut seconds = DEFAULT_SECONDS;
    let mut rate = DEFAULT_RATE;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| Error::Usage(format!("`{arg}` needs a value\n{USAGE}")))?;
        match arg.as_str() {
            "--duration" => {
                seconds = crate::bench::seconds(value).ok_or_else(|| {
                    Error::Usage(format!(
                        "`{value}` is not a duration from 1s to 60m\n{USAGE}"
                    ))
                })?;
            }
            "--rate" => {
                rate = value
                    .parse()
                    .ok()
                    .filter(|r| *r > 0)
                    .ok_or_else(|| Error::Usage(format!("`{value}` is not a rate\n{USAGE}")))?;
            }
            other => return Err(Error::Usage(format!("unknown option `{other}`\n{USAGE}"))),
        }
    }
    Ok((seconds, rate))
}

fn seed(addr: SocketAddr, service_token: String) -> Result<Seed, Error> {
    let password = "correct horse battery";
    let owner = call(
        addr,
        "POST",
        "/v1/auth/signup",
        None,
        Some(&json!({"email": "owner@soak.example", "password": password})),
        201,
    )?;
    let owner_token = string_at(&owner, "/token")?;
    let org = string_at(&owner, "/default_organization/id")?;
    let base = format!("/v1/organizations/{org}");
    // Unlimited, so that ten minutes of creates and messages never meet a
    // quota; only the host's service token sets a plan that is not self-serve.
    call(
        addr,
        "PUT",
        &format!("{base}/billing/plan"),
        Some(&service_token),
        Some(&json!({"plan": "enterprise"})),
        200,
    )?;
    let agent = call(
        addr,
        "POST",
        &format!("{base}/agents"),
        Some(&owner_token),
        Some(&json!({"name": "Cost bot"})),
        201,
    )?;
    let agent = string_at(&agent, "/id")?;
    // Another user, whom the host asks about: not a member, so the answer is a denial (still a 200).
    let viewer = call(
        addr,
        "POST",
        "/v1/auth/signup",
        None,
        Some(&json!({"email": "viewer@soak.example", "password": password})),
        201,
    )?;
    let viewer_id = string_at(&viewer, "/user/id")?;
    let chat = call(
        addr,
        "POST",
        &format!("{base}/chats"),
        Some(&owner_token),
        Some(&json!({"agent_id": agent})),
        201,
    )?;
    Ok(Seed {
        owner: owner_token,
        viewer_id,
        org,
        chat: string_at(&chat, "/id")?,
        service_token,
    })
}

/// One step of the mix: the request and the status it must get.
fn step(seed: &Seed, slot: u64) -> Vec<(String, String, String, Option<Value>, u16)> {
    let base = format!("/v1/organizations/{}", seed.org);
    match slot % 5 {
        0 => vec![(
            "GET".into(),
            "/v1/organizations".into(),
            seed.owner.clone(),
            None,
            200,
        )],
        1 => vec![(
            "POST".into(),
            "/v1/authorize".into(),
            seed.service_token.clone(),
            Some(
                json!({"user_id": seed.viewer_id, "organization_id": seed.org, "capability": "view_resources"}),
            ),
            200,
        )],
        2 => vec![(
            "GET".into(),
            format!("{base}/agents"),
            seed.owner.clone(),
            None,
            200,
        )],
        3 => vec![(
            "POST".into(),
            format!("{base}/agents"),
            seed.owner.clone(),
            Some(json!({"name": format!("Soak {slot}")})),
            201,
        )],
        _ => vec![(
            "POST".into(),
            format!("{base}/chats/{}/messages", seed.chat),
            seed.owner.clone(),
            Some(json!({"content": format!("message {slot}")})),
            201,
        )],
    }
}

fn drive(
    addr: SocketAddr,
    seed: &Seed,
    seconds: u64,
    rate: u32,
    pid: u32,
    memory: &Arc<Mutex<Vec<(f64, u64)>>>,
) -> Result<Vec<Sample>, Error> {
    let total = seconds * u64::from(rate);
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = Instant::now();
    let samples = Mutex::new(Vec::with_capacity(usize::try_from(total).unwrap_or(0)));
    let created = Mutex::new(Vec::<String>::new());
    let done = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(rss) = resident_kib(pid)
                    && let Ok(mut memory) = memory.lock()
                {
                    memory.push((start.elapsed().as_secs_f64(), rss));
                }
                thread::sleep(Duration::from_secs(5));
            }
        });
        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let (samples, created) = (&samples, &created);
                scope.spawn(move || {
                    let mut slot = sender as u64;
                    while slot < total {
                        let due = start + interval * u32::try_from(slot).unwrap_or(u32::MAX);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            thread::sleep(wait);
                        }
                        for (method, path, token, body, expected) in step(seed, slot) {
                            let reply = request(addr, &method, &path, Some(&token), body.as_ref());
                            let latency_ms = due.elapsed().as_secs_f64() * 1000.0;
                            let ok = reply.as_ref().is_ok_and(|r| r.status == expected);
                            if let Ok(reply) = &reply
                                && expected == 201
                                && path.ends_with("/agents")
                                && let Ok(value) = serde_json::from_str::<Value>(&reply.body)
                                && let Some(id) = value["id"].as_str()
                                && let Ok(mut created) = created.lock()
                            {
                                created.push(id.to_owned());
                            }
                            if let Ok(mut samples) = samples.lock() {
                                samples.push(Sample {
                                    due_at: (due - start).as_secs_f64(),
                                    latency_ms,
                                    ok,
                                });
                            }
                        }
                        // Agents created by the mix are deleted by it too, so the table stays small.
                        let next = created.lock().ok().and_then(|mut c| c.pop());
                        if let Some(id) = next {
                            let path = format!("/v1/organizations/{}/agents/{id}", seed.org);
                            let due = Instant::now();
                            let reply = request(addr, "DELETE", &path, Some(&seed.owner), None);
                            if let Ok(mut samples) = samples.lock() {
                                samples.push(Sample {
                                    due_at: (due - start).as_secs_f64(),
                                    latency_ms: due.elapsed().as_secs_f64() * 1000.0,
                                    ok: reply.is_ok_and(|r| r.status == 204),
                                });
                            }
                        }
                        slot += SENDERS as u64;
                    }
                })
            })
            .collect();
        for sender in senders {
            let _ = sender.join();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    samples
        .into_inner()
        .map_err(|_| Error::Other("a sender panicked".to_owned()))
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

fn resident_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

fn peak_memory_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn section(
    seconds: u64,
    rate: u32,
    samples: &[Sample],
    memory: &[(f64, u64)],
    peak_kib: Option<u64>,
) -> String {
    let mut out = String::new();
    let errors = samples.iter().filter(|s| !s.ok).count();
    let _ = writeln!(out, "## Soak\n");
    let _ = writeln!(
        out,
        "`cargo xtask bench soak`: the release binary on its SQLite default, {rate} requests/s on a fixed schedule for {seconds} s (latency counted from when each request was due), a mix of the owner's switcher, `POST /v1/authorize`, listing agents, creating and deleting agents, and chat messages; load average at the end: {}.\n",
        load_average()
    );
    let _ = writeln!(
        out,
        "- Requests: {}; errors (any other status, or no answer): {errors} (expected: none).",
        thousands(samples.len() as u64)
    );
    let _ = writeln!(
        out,
        "- Server peak memory (`VmHWM`): {}.\n",
        peak_kib.map_or_else(
            || "not read".to_owned(),
            |kib| format!("{:.1} MiB", kib as f64 / 1024.0)
        )
    );
    let _ = writeln!(
        out,
        "| window | requests | errors | p50 | p99 | max | resident memory |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let width = seconds as f64 / WINDOWS as f64;
    for window in 0..WINDOWS {
        let (from, to) = (window as f64 * width, (window + 1) as f64 * width);
        let inside: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.due_at >= from && s.due_at < to)
            .collect();
        let mut latencies: Vec<f64> = inside.iter().map(|s| s.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let rss = memory
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .map(|(_, kib)| *kib)
            .max();
        let _ = writeln!(
            out,
            "| {:.0}–{:.0} s | {} | {} | {} | {} | {} | {} |",
            from,
            to,
            thousands(inside.len() as u64),
            inside.iter().filter(|s| !s.ok).count(),
            milliseconds(percentile(&latencies, 50.0)),
            milliseconds(percentile(&latencies, 99.0)),
            milliseconds(latencies.last().copied().unwrap_or(0.0)),
            rss.map_or_else(
                || "–".to_owned(),
                |kib| format!("{:.1} MiB", kib as f64 / 1024.0)
            ),
        );
    }
    let _ = writeln!(out, "\nMachine: {}; {}.", machine(), today());
    out
}
