//! `kill -9` while emails are being delivered: the emails a dead server had
//! claimed are delivered by the next one within a minute of its start, and
//! none is lost. The relay is a small SMTP server of the test's own that can
//! hold a message, never answering its end of data, so that the server is
//! caught mid-delivery.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Server, send_signal, wait_until};

/// What the relay saw.
#[derive(Debug, Default)]
struct Seen {
    /// While set, a message's data is read and never answered: the relay
    /// waits for the client to go away and keeps nothing.
    hold: AtomicBool,
    /// Messages held so far.
    held: AtomicUsize,
    /// The recipients of each accepted message, and when it was accepted.
    accepted: Mutex<Vec<(String, Instant)>>,
}

/// A plain SMTP relay on 127.0.0.1, enough for lettre: EHLO, MAIL, RCPT,
/// DATA, RSET, NOOP, QUIT.
struct Relay {
    port: u16,
    seen: Arc<Seen>,
}

impl Relay {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Seen::default());
        let shared = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = converse(stream, &seen);
                });
            }
        });
        Self { port, seen }
    }

    /// The first time a message to `to` was accepted, and how many were.
    fn accepted(&self, to: &str) -> (Option<Instant>, usize) {
        let accepted = self.seen.accepted.lock().unwrap();
        let mut times = accepted
            .iter()
            .filter(|(rcpt, _)| rcpt == to)
            .map(|(_, at)| *at);
        let first = times.next();
        (first, usize::from(first.is_some()) + times.count())
    }
}

fn converse(stream: TcpStream, seen: &Seen) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 relay.test ESMTP\r\n")?;
    let mut rcpts = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250 relay.test\r\n"
        } else if command.starts_with("MAIL FROM:") || command == "RSET" {
            rcpts.clear();
            b"250 ok\r\n"
        } else if command.starts_with("RCPT TO:") {
            let address = line.trim_end()["RCPT TO:".len()..].trim();
            rcpts.push(address.trim_matches(['<', '>']).to_owned());
            b"250 ok\r\n"
        } else if command == "DATA" {
            out.write_all(b"354 go on\r\n")?;
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
            }
            if seen.hold.load(Ordering::SeqCst) {
                seen.held.fetch_add(1, Ordering::SeqCst);
                // No answer: the message is not taken. Wait for the client
                // to go away, and keep nothing.
                let mut rest = Vec::new();
                let _ = lines.read_to_end(&mut rest);
                return Ok(());
            }
            let now = Instant::now();
            seen.accepted
                .lock()
                .unwrap()
                .extend(rcpts.drain(..).map(|rcpt| (rcpt, now)));
            b"250 accepted\r\n"
        } else if command == "NOOP" {
            b"250 ok\r\n"
        } else if command == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        out.write_all(reply)?;
    }
}

#[test]
fn a_kill_during_deliveries_loses_no_email_and_delays_none_past_a_minute() {
    let relay = Relay::start();
    relay.seen.hold.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let smtp_url = format!("smtp://127.0.0.1:{}", relay.port);
    // The owner's address is not verified over SMTP here: the test is about deliveries.
    let args = [
        "--smtp-url",
        smtp_url.as_str(),
        "--allow-unverified-inviters",
    ];
    let mut first = Server::start(dir.path(), &args);

    let token = first.sign_up("owner@example.com");
    let org = first.post("/v1/organizations", Some(&token), &json!({"name": "Acme"}));
    assert_eq!(org.status, 201, "{org:?}");
    let org_id = org.json()["id"].as_str().unwrap().to_owned();
    let guests: Vec<String> = (0..5).map(|i| format!("guest{i}@example.com")).collect();
    for guest in &guests {
        let invited = first.post(
            &format!("/v1/organizations/{org_id}/invitations"),
            Some(&token),
            &json!({"email": guest}),
        );
        assert_eq!(invited.status, 201, "{invited:?}");
    }
    // The worker is mid-delivery: the relay holds a message it claimed.
    assert!(
        wait_until(Duration::from_secs(10), || relay
            .seen
            .held
            .load(Ordering::SeqCst)
            >= 1),
        "no delivery under way; log:\n{}",
        first.log()
    );
    send_signal(first.pid(), "KILL");
    assert!(first.wait_exit(Duration::from_secs(10)).is_some());
    assert!(
        guests.iter().all(|g| relay.accepted(g).1 == 0),
        "the held message was not taken, nor any other"
    );

    relay.seen.hold.store(false, Ordering::SeqCst);
    let restarted = Instant::now();
    let second = Server::start(dir.path(), &args);
    let all_delivered = wait_until(Duration::from_secs(90), || {
        guests.iter().all(|g| relay.accepted(g).0.is_some())
    });
    assert!(
        all_delivered,
        "not every email was delivered after the restart; log:\n{}",
        second.log()
    );
    for guest in &guests {
        let (first_at, _) = relay.accepted(guest);
        let delay = first_at.unwrap() - restarted;
        eprintln!("{guest}: delivered {delay:?} after the restart");
        assert!(
            delay < Duration::from_secs(60),
            "{guest} was delivered {delay:?} after the restart"
        );
    }
    // Each was marked sent: none arrives a second time.
    std::thread::sleep(Duration::from_secs(2));
    for guest in &guests {
        assert_eq!(relay.accepted(guest).1, 1, "{guest}");
    }
}
