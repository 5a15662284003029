//! The canary scan (D9, R22): connection credentials hold random canaries;
//! every operation of the authorization table runs as owner and as viewer;
//! no response body or header, no log line (at TRACE, the database driver's
//! included) and no byte of the database files may contain a canary.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use crate::authorization::{Who, cases, fixture};

/// Everything logged by this test binary from the first canary test on.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide log capture: a global subscriber, because the
/// database driver logs from its own threads.
fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .expect("no other global subscriber in this test binary");
        logs
    })
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_response_log_or_table_shows_a_credential() {
    let logs = logs();
    let mut leaks = Vec::new();
    let mut calls = 0;
    let mut canaries = Vec::new();
    for case in cases() {
        for who in [Who::Owner, Who::Viewer] {
            let f = fixture().await;
            let reply = case.call(&f, who).await;
            calls += 1;
            let mut seen = reply.bytes.clone();
            for (name, value) in &reply.headers {
                seen.extend_from_slice(name.as_str().as_bytes());
                seen.extend_from_slice(value.as_bytes());
            }
            // After the rotation case the database holds the third canary.
            let raw = f.app.raw_database();
            assert!(
                contains(&raw, "Warehouse"),
                "the database scan sees nothing"
            );
            for canary in &f.canaries {
                if contains(&seen, canary) {
                    leaks.push(format!(
                        "response of {} {} as {who:?}",
                        case.method, case.template
                    ));
                }
                if contains(&raw, canary) {
                    leaks.push(format!("database after {} {}", case.method, case.template));
                }
            }
            canaries.extend(f.canaries.iter().cloned());
        }
    }
    let logged = logs.0.lock().unwrap().clone();
    assert!(
        contains(&logged, "/connections"),
        "the log capture saw no request"
    );
    for canary in &canaries {
        if contains(&logged, canary) {
            leaks.push("the logs".to_owned());
        }
    }
    assert!(calls >= 100, "only {calls} calls were scanned");
    assert!(leaks.is_empty(), "credentials leaked into: {leaks:#?}");
}
