//! Webhook deliveries from the real binary to a receiver in the test (R33):
//! every delivery's Standard Webhooks signature verifies, every subscribed
//! event arrives at least once although the server is killed (`SIGKILL`)
//! in the middle of a delivery and restarted, nothing arrives of a change
//! that did not commit, and failed attempts are retried on the schedule of
//! API.md (run 1000 times faster through a test-only time scale).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenancy_core::webhook::{WebhookSecret, verify_signature};

use crate::support::{Server, command, request, send_signal, wait_until};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local HTTP/1.1 receiver: records each request, and answers with the
/// status `answer` picks from how many times it saw that `webhook-id`,
/// after `delay`.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
    /// The ids of the requests answered, in order.
    answered: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(delay: Duration, answer: fn(usize) -> u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::<Received>::new()));
        let answered = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = Arc::clone(&seen);
        let done = Arc::clone(&answered);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut headers = BTreeMap::new();
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || !line.starts_with("POST ") {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let trimmed = line.trim_end();
                        if trimmed.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = trimmed.split_once(':') {
                            headers
                                .insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                        }
                    }
                    let length: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let received = Received {
                        at: Instant::now(),
                        headers,
                        body,
                    };
                    let times = {
                        let mut log = log.lock().unwrap();
                        log.push(received.clone());
                        log.iter().filter(|r| r.id() == received.id()).count()
                    };
                    std::thread::sleep(delay);
                    let status = answer(times);
                    let mut stream = reader.into_inner();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    if stream.flush().is_ok() {
                        done.lock().unwrap().push(received.id().to_owned());
                    }
                });
            }
        });
        Self {
            addr,
            seen,
            answered,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    fn ids(&self) -> BTreeSet<String> {
        self.seen().iter().map(|r| r.id().to_owned()).collect()
    }

    /// The ids received and not yet answered: the deliveries in flight.
    fn in_flight(&self) -> BTreeSet<String> {
        let answered = self.answered.lock().unwrap().clone();
        let mut open: Vec<String> = self.seen().iter().map(|r| r.id().to_owned()).collect();
        for id in answered {
            if let Some(at) = open.iter().position(|o| *o == id) {
                open.remove(at);
            }
        }
        open.into_iter().collect()
    }

    fn times_seen(&self, id: &str) -> usize {
        self.seen().iter().filter(|r| r.id() == id).count()
    }
}

fn patch(server: &Server, path: &str, token: &str, body: &Value) -> u16 {
    request(server.addr, "PATCH", path, Some(token), Some(body)).status
}

/// The organization's audit log, oldest first, from the export.
fn export(server: &Server, token: &str, org: &str) -> Vec<Value> {
    let reply = server.get(
        &format!("/v1/organizations/{org}/audit-log/export"),
        Some(token),
    );
    assert_eq!(reply.status, 200);
    String::from_utf8(reply.body)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Signs an owner up and subscribes a webhook to everything; returns the
/// token, the organization and the webhook's secret.
fn subscribe(server: &Server, receiver: &Receiver) -> (String, String, WebhookSecret) {
    let token = server.sign_up("olivia@example.test");
    let me = server.get("/v1/me/active-organization", Some(&token));
    let org = me.json()["organization"]["id"].as_str().unwrap().to_owned();
    let created = server.post(
        &format!("/v1/organizations/{org}/webhooks"),
        Some(&token),
        &json!({"url": receiver.url(), "events": ["*"]}),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let secret = WebhookSecret::parse(created.json()["secret"].as_str().unwrap()).unwrap();
    (token, org, secret)
}

/// Every received request carries a valid signature of its body, its body's
/// `data` is an event of the log, and the ids are the log's.
fn check_signed(received: &[Received], secret: &WebhookSecret, log: &[Value]) {
    let by_id: BTreeMap<&str, &Value> =
        log.iter().map(|e| (e["id"].as_str().unwrap(), e)).collect();
    for r in received {
        let timestamp: i64 = r.headers["webhook-timestamp"].parse().unwrap();
        assert!(
            verify_signature(
                secret,
                r.id(),
                timestamp,
                &r.body,
                &r.headers["webhook-signature"]
            ),
            "a delivery's signature does not verify: {r:?}"
        );
        let body = r.json();
        assert_eq!(body["id"], r.id());
        let event = by_id
            .get(r.id())
            .unwrap_or_else(|| panic!("a delivery of no committed event: {body}"));
        assert_eq!(&&body["data"], event, "the delivered event is the log's");
        assert_eq!(body["type"], event["action"]);
    }
}

#[test]
fn every_event_arrives_signed_at_least_once_across_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    // Each answer takes a second, so that the kill lands mid-delivery.
    let receiver = Receiver::start(Duration::from_millis(1000), |_| 200);
    let args = ["--allow-private-webhooks"];
    let mut first = Server::start_with(
        {
            let mut c = command(dir.path());
            c.env("TENANCY_TEST_WEBHOOK_TIME_SCALE", "100");
            c
        },
        &args,
    );
    let (token, org, secret) = subscribe(&first, &receiver);
    for i in 0..8 {
        let status = patch(
            &first,
            &format!("/v1/organizations/{org}"),
            &token,
            &json!({"name": format!("Acme {i}")}),
        );
        assert_eq!(status, 200);
    }
    // A refused change commits nothing, so nothing of it is delivered.
    let refused = patch(
        &first,
        &format!("/v1/organizations/{org}"),
        &token,
        &json!({"name": ""}),
    );
    assert_eq!(refused, 422);
    assert!(
        wait_until(Duration::from_secs(30), || !receiver.seen().is_empty()),
        "no delivery started; the log:\n{}",
        first.log()
    );
    send_signal(first.pid(), "KILL");
    assert!(first.wait_exit(Duration::from_secs(10)).is_some());
    let before = receiver.ids().len();
    // What the killed server was delivering: received, never recorded.
    let interrupted = receiver.in_flight();
    assert!(
        !interrupted.is_empty(),
        "the kill landed between deliveries"
    );

    let second = Server::start_with(
        {
            let mut c = command(dir.path());
            c.env("TENANCY_TEST_WEBHOOK_TIME_SCALE", "100");
            c
        },
        &args,
    );
    let log = export(&second, &token_after_restart(&second, &token), &org);
    let expected: BTreeSet<String> = log
        .iter()
        .filter(|e| e["action"] != "organization.created")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 9, "webhook.created and eight renames");
    assert!(
        wait_until(Duration::from_secs(90), || receiver.ids() == expected),
        "not every event arrived after the restart ({} of {}, {before} before the kill); the log:\n{}",
        receiver.ids().len(),
        expected.len(),
        second.log()
    );
    // The interrupted deliveries came again, from the restarted server,
    // once their lease ran out.
    assert!(
        wait_until(Duration::from_secs(60), || interrupted
            .iter()
            .all(|id| receiver.times_seen(id) >= 2)),
        "an interrupted delivery was not sent again; the log:\n{}",
        second.log()
    );
    check_signed(&receiver.seen(), &secret, &log);
    // The chain of what arrived verifies as the export's does.
    let mut events: Vec<Value> = receiver
        .seen()
        .iter()
        .map(|r| r.json()["data"].clone())
        .collect();
    events.sort_by_key(|e| e["seq"].as_u64().unwrap());
    events.dedup();
    let mut with_first = vec![log[0].clone()];
    with_first.extend(events);
    assert_eq!(tenancy_core::audit::verify(with_first).unwrap().events, 10);
}

/// Sessions survive a restart: the token still works.
fn token_after_restart(server: &Server, token: &str) -> String {
    let me = server.get("/v1/me", Some(token));
    assert_eq!(me.status, 200, "{me:?}");
    token.to_owned()
}

#[test]
fn failed_deliveries_are_retried_on_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    // The first three attempts of every event fail, the fourth succeeds.
    let receiver = Receiver::start(Duration::ZERO, |times| if times < 4 { 503 } else { 204 });
    let server = Server::start_with(
        {
            let mut c = command(dir.path());
            c.env("TENANCY_TEST_WEBHOOK_TIME_SCALE", "1000");
            c
        },
        &["--allow-private-webhooks"],
    );
    let (token, org, secret) = subscribe(&server, &receiver);
    let hooks = server.get(&format!("/v1/organizations/{org}/webhooks"), Some(&token));
    let webhook = hooks.json()["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        wait_until(Duration::from_secs(60), || receiver.seen().len() >= 4),
        "the retries did not come; the log:\n{}",
        server.log()
    );
    let attempts = receiver.seen();
    assert!(attempts.iter().all(|r| r.id() == attempts[0].id()));
    // 5 s, 5 min and 30 min, divided by 1000: 5 ms, 300 ms, 1.8 s; the
    // worker looks at the queue every 250 ms.
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, (least, most)) in gaps.iter().zip([(5, 1000), (300, 1300), (1800, 2800)]) {
        assert!(
            *gap >= Duration::from_millis(least) && *gap <= Duration::from_millis(most),
            "gaps {gaps:?} do not follow the schedule"
        );
    }
    let log = export(&server, &token, &org);
    check_signed(&attempts, &secret, &log);
    // The delivery log says so.
    let delivered = wait_until(Duration::from_secs(10), || {
        let list = server.get(
            &format!("/v1/organizations/{org}/webhooks/{webhook}/deliveries"),
            Some(&token),
        );
        let first = &list.json()["items"][0];
        first["status"] == "delivered" && first["attempts"] == 4 && first["last_status_code"] == 204
    });
    assert!(delivered, "the delivery log does not show the delivery");
}

#[test]
fn tenancy_audit_verify_checks_an_export_and_finds_one_altered_byte() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let token = server.sign_up("olivia@example.test");
    let me = server.get("/v1/me/active-organization", Some(&token));
    let org = me.json()["organization"]["id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let status = patch(
            &server,
            &format!("/v1/organizations/{org}"),
            &token,
            &json!({"name": format!("Acme {i}")}),
        );
        assert_eq!(status, 200);
    }
    let reply = server.get(
        &format!("/v1/organizations/{org}/audit-log/export"),
        Some(&token),
    );
    let path = dir.path().join("acme-audit.ndjson");
    std::fs::write(&path, &reply.body).unwrap();
    let verify = |file: &std::path::Path| {
        std::process::Command::new(crate::support::BIN)
            .args(["audit", "verify"])
            .arg(file)
            .output()
            .unwrap()
    };
    let ok = verify(&path);
    assert!(ok.status.success(), "{ok:?}");
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&reply.body).lines().last().unwrap()).unwrap();
    assert_eq!(
        String::from_utf8(ok.stdout).unwrap().trim(),
        format!(
            "verified 4 events; the last hash is {}",
            last["hash"].as_str().unwrap()
        )
    );
    // One byte of one event: `Acme 1` becomes `Acme 2` in the third line.
    let text = String::from_utf8(reply.body).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replacen("\"label\":\"Acme 1\"", "\"label\":\"Acme 2\"", 1);
    assert_ne!(lines.join("\n"), text.trim_end());
    std::fs::write(&path, lines.join("\n")).unwrap();
    let altered = verify(&path);
    assert_eq!(altered.status.code(), Some(1), "{altered:?}");
    let stderr = String::from_utf8(altered.stderr).unwrap();
    assert!(
        stderr.contains("line 3") && stderr.contains("altered"),
        "{stderr}"
    );
}

#[test]
fn a_rotation_signs_with_both_secrets_and_a_private_address_is_refused_at_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Duration::ZERO, |_| 200);
    let scaled = || {
        let mut c = command(dir.path());
        c.env("TENANCY_TEST_WEBHOOK_TIME_SCALE", "1000");
        c
    };
    let first = Server::start_with(scaled(), &["--allow-private-webhooks"]);
    let (token, org, old) = subscribe(&first, &receiver);
    let hooks = first.get(&format!("/v1/organizations/{org}/webhooks"), Some(&token));
    let webhook = hooks.json()["items"][0]["id"].as_str().unwrap().to_owned();
    let rotated = first.post(
        &format!("/v1/organizations/{org}/webhooks/{webhook}/rotate-secret"),
        Some(&token),
        &json!({}),
    );
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let new = WebhookSecret::parse(rotated.json()["secret"].as_str().unwrap()).unwrap();
    let rotation = |r: &Received| r.json()["type"] == "webhook.secret_rotated";
    assert!(
        wait_until(Duration::from_secs(30), || receiver
            .seen()
            .iter()
            .any(rotation)),
        "the rotation's event did not arrive; the log:\n{}",
        first.log()
    );
    let delivery = receiver.seen().into_iter().find(rotation).unwrap();
    let header = &delivery.headers["webhook-signature"];
    assert_eq!(header.split(' ').count(), 2, "{header}");
    let timestamp: i64 = delivery.headers["webhook-timestamp"].parse().unwrap();
    for secret in [&old, &new] {
        assert!(verify_signature(
            secret,
            delivery.id(),
            timestamp,
            &delivery.body,
            header
        ));
    }
    drop(first);

    // The same webhook once private addresses are no longer allowed: its
    // deliveries are refused at each attempt, and nothing reaches it.
    let second = Server::start_with(scaled(), &[]);
    let before = receiver.seen().len();
    let status = patch(
        &second,
        &format!("/v1/organizations/{org}"),
        &token,
        &json!({"name": "Acme"}),
    );
    assert_eq!(status, 200);
    let refused = wait_until(Duration::from_secs(30), || {
        let list = second.get(
            &format!("/v1/organizations/{org}/webhooks/{webhook}/deliveries"),
            Some(&token),
        );
        let newest = &list.json()["items"][0];
        newest["type"] == "organization.renamed"
            && newest["attempts"].as_u64().unwrap_or(0) >= 2
            && newest["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("destination refused"))
    });
    assert!(
        refused,
        "the delivery was not refused; the log:\n{}",
        second.log()
    );
    assert_eq!(
        receiver.seen().len(),
        before,
        "a refused delivery reached the receiver"
    );
}
