//! What the tests share: the binary in a temporary folder, a tiny HTTP/1.1
//! client, a local SMTP server (Python's aiosmtpd) and a reader of RFC 5322
//! messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenancy_http::testing::{Exchange, ResponseValidator};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_tenancy");

/// The environment variables of the binary, which a developer's shell may set.
const OWN_VARIABLES: &[&str] = &[
    "TENANCY_LISTEN",
    "TENANCY_DATABASE",
    "TENANCY_PUBLIC_URL",
    "TENANCY_MAIL_DIR",
    "TENANCY_SMTP_URL",
    "TENANCY_MAIL_FROM",
    "TENANCY_SECRET_KEY_FILE",
    "TENANCY_INVITATION_TTL",
    "TENANCY_VERIFICATION_TTL",
    "TENANCY_ALLOW_UNVERIFIED_INVITERS",
    "TENANCY_SESSION_TTL",
    "TENANCY_SESSION_IDLE_TIMEOUT",
    "TENANCY_DELETION_GRACE",
    "TENANCY_TEST_PURGE_PAUSE",
    "TENANCY_ALLOW_PRIVATE_WEBHOOKS",
    "TENANCY_TEST_WEBHOOK_TIME_SCALE",
    "TENANCY_PLANS",
    "TENANCY_SERVICE_TOKEN",
    "TENANCY_BLOB_DIR",
    "TENANCY_MAX_UPLOAD_BYTES",
    "TENANCY_LOG_FORMAT",
    "TENANCY_TRUSTED_PROXIES",
    "RUST_LOG",
];

/// The rate limits' variables, which [`command`] sets to `0`.
pub(crate) const LIMIT_VARIABLES: &[&str] = &[
    "TENANCY_SIGNIN_FAILURES_PER_EMAIL",
    "TENANCY_AUTH_ATTEMPTS_PER_IP",
    "TENANCY_ACCOUNT_EMAILS_PER_ADDRESS",
    "TENANCY_INVITATIONS_PER_ORGANIZATION",
];

/// The binary, run in `dir` with a clean environment and info logs.
pub(crate) fn command(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir);
    for name in OWN_VARIABLES {
        command.env_remove(name);
    }
    // The tests sign in, sign up and invite far faster than people do, all
    // from 127.0.0.1, so the rate limits are off unless a test is about
    // them (`limits.rs` removes these or overrides them on the command line).
    for name in LIMIT_VARIABLES {
        command.env(name, "0");
    }
    command.env("TENANCY_LOG", "info").env("NO_COLOR", "1");
    command
}

/// Waits until `condition` holds, checking every 50 ms, for at most `timeout`.
pub(crate) fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port that nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Sends a signal to a process with `kill`, so that the tests need no libc.
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// `tenancy serve` on a free port, with its stderr collected.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Where the server writes its emails; `None` when they go over SMTP.
    mail_dir: Option<PathBuf>,
    /// `--public-url`, when given: the base of the emails' links.
    public_url: Option<String>,
}

impl Server {
    /// Starts `tenancy serve --listen 127.0.0.1:0 ARGS` in `dir` and waits
    /// for the line that names the bound address.
    pub(crate) fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_with(command(dir), args)
    }

    /// Like [`Server::start`], with a prepared command (extra environment).
    pub(crate) fn start_with(mut command: Command, args: &[&str]) -> Self {
        let cwd = command
            .get_current_dir()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let option = |name: &str| {
            args.iter()
                .position(|a| *a == name)
                .and_then(|at| args.get(at + 1))
        };
        let mail_dir = if option("--smtp-url").is_some() {
            None
        } else {
            Some(
                option("--mail-dir")
                    .map_or_else(|| cwd.join("tenancy-data/outbox"), |dir| cwd.join(dir)),
            )
        };
        let public_url = option("--public-url").map(|url| url.trim_end_matches('/').to_owned());
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (ready, ready_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Into the log first: whoever wakes on `ready` may read it.
                {
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let _ = ready.send(addr.parse::<SocketAddr>().ok());
                }
            }
        });
        let addr = match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(addr)) => addr,
            outcome => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the server did not log its address ({outcome:?}); its log:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        SERVERS.lock().unwrap().push(addr);
        Self {
            child,
            addr,
            log,
            mail_dir,
            public_url,
        }
    }

    /// The base of the links in the server's emails.
    pub(crate) fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| self.base_url())
    }

    /// The emails the server has written to `to`, oldest first.
    pub(crate) fn mails_to(&self, to: &str) -> Vec<Mail> {
        let dir = self
            .mail_dir
            .as_ref()
            .expect("the server writes its emails to a folder");
        mails_in(dir, to)
    }

    /// Waits for the newest email to `to` with a `<public-url>/<kind>/<token>`
    /// link (`verify-email`, `reset-password`, `invitations`) that is not
    /// one of `seen`, and returns its token.
    pub(crate) fn wait_for_link(&self, to: &str, kind: &str, seen: &[String]) -> String {
        let base = self.public_url();
        let mut found = None;
        assert!(
            wait_until(Duration::from_secs(30), || {
                found = self
                    .mails_to(to)
                    .iter()
                    .rev()
                    .filter_map(|mail| mail.link_token(&base, kind))
                    .find(|token| !seen.contains(token));
                found.is_some()
            }),
            "no new /{kind}/ email to {to}; the log:\n{}",
            self.log()
        );
        found.unwrap()
    }

    /// Verifies `email` from the link of its newest verification email.
    pub(crate) fn verify(&self, email: &str) {
        let token = self.wait_for_link(email, "verify-email", &[]);
        let verified = self.post("/v1/auth/verify-email", None, &json!({"token": token}));
        assert_eq!(verified.status, 200, "{verified:?}");
    }

    /// Signs a person up and verifies the address from the emailed link;
    /// returns their bearer token.
    pub(crate) fn sign_up_verified(&self, email: &str) -> String {
        let token = self.sign_up(email);
        self.verify(email);
        token
    }

    /// Everything logged so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for a log line containing `needle`.
    pub(crate) fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// Waits for a log line containing every one of `needles`.
    pub(crate) fn wait_for_line(&self, needles: &[&str], timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.log()
                .lines()
                .any(|line| needles.iter().all(|needle| line.contains(needle)))
        })
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit, at most `timeout`.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status
    }

    pub(crate) fn get(&self, path: &str, token: Option<&str>) -> Response {
        request(self.addr, "GET", path, token, None)
    }

    pub(crate) fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        request(self.addr, "POST", path, token, Some(body))
    }

    /// Signs a person up; returns their bearer token.
    pub(crate) fn sign_up(&self, email: &str) -> String {
        let response = self.post(
            "/v1/auth/signup",
            None,
            &json!({"email": email, "password": "correct horse battery"}),
        );
        assert_eq!(response.status, 201, "{response:?}");
        response.json()["token"].as_str().unwrap().to_owned()
    }

    /// Signs an owner up, creates an organization named `name` and invites
    /// `guest` to it.
    pub(crate) fn invite_to_new_organization(&self, owner: &str, name: &str, guest: &str) {
        let token = if self.mail_dir.is_some() {
            self.sign_up_verified(owner)
        } else {
            // Over SMTP, the test verifies the owner itself or runs with
            // `--allow-unverified-inviters`.
            self.sign_up(owner)
        };
        self.invite_to_new_organization_as(&token, name, guest);
    }

    /// Creates an organization named `name` as the holder of `token` and
    /// invites `guest` to it.
    pub(crate) fn invite_to_new_organization_as(&self, token: &str, name: &str, guest: &str) {
        let org = self.post("/v1/organizations", Some(token), &json!({"name": name}));
        assert_eq!(org.status, 201, "{org:?}");
        let org_id = org.json()["id"].as_str().unwrap().to_owned();
        let invitation = self.post(
            &format!("/v1/organizations/{org_id}/invitations"),
            Some(token),
            &json!({"email": guest}),
        );
        assert_eq!(invitation.status, 201, "{invitation:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        SERVERS.lock().unwrap().retain(|addr| *addr != self.addr);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Names in lower case.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, String::from_utf8_lossy(&self.body))
    }
}

/// A knowledge file upload: one multipart `file` part.
pub(crate) fn upload(
    addr: SocketAddr,
    path: &str,
    token: &str,
    file_name: &str,
    bytes: &[u8],
) -> Response {
    let boundary = "tenancy-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/markdown\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    raw_request(
        addr,
        "POST",
        path,
        Some(token),
        Some((&format!("multipart/form-data; boundary={boundary}"), &body)),
        &[],
    )
}

/// One HTTP/1.1 request on its own connection.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let body = body.map(|b| serde_json::to_vec(b).unwrap());
    raw_request(
        addr,
        method,
        path,
        token,
        body.as_deref().map(|b| ("application/json", b)),
        &[],
    )
}

/// The `tenancy serve` processes running now, whose every response is checked against the served document;
/// other servers (chromedriver, geckodriver) are not.
static SERVERS: Mutex<Vec<SocketAddr>> = Mutex::new(Vec::new());

/// One HTTP/1.1 request on its own connection, with a body of a media type
/// and extra headers. A response of `tenancy serve` must conform to its
/// OpenAPI document, or the test fails (`ResponseValidator::assert_conforms`).
pub(crate) fn raw_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
    extra: &[(&str, &str)],
) -> Response {
    let response = exchange(addr, method, path, token, body, extra);
    if SERVERS.lock().unwrap().contains(&addr) && !ResponseValidator::is_outside_document(path) {
        let headers: Vec<(&str, &str)> = response
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        validator(addr).assert_conforms(&Exchange {
            method,
            path,
            status: response.status,
            headers: &headers,
            body: &response.body,
        });
    }
    response
}

/// The document that the first server of this test binary serves, as a validator.
fn validator(addr: SocketAddr) -> &'static ResponseValidator {
    static VALIDATOR: OnceLock<ResponseValidator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let document = exchange(addr, "GET", "/openapi.json", None, None, &[]);
        assert_eq!(document.status, 200, "GET /openapi.json: {document:?}");
        ResponseValidator::new(std::str::from_utf8(&document.body).unwrap())
            .unwrap_or_else(|error| panic!("the served OpenAPI document: {error}"))
    })
}

/// [`raw_request`] without the check.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
    extra: &[(&str, &str)],
) -> Response {
    let (content_type, body) = body.unwrap_or(("", &[]));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    // Read the head, then as much body as it announces: some servers
    // (chromedriver) keep the connection open despite `Connection: close`.
    let mut raw = Vec::new();
    let mut buffer = [0_u8; 16 * 1024];
    let split = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "the connection closed before a response head");
        raw.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = raw[split + 4..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut buffer).unwrap();
                assert!(
                    n > 0,
                    "the connection closed {} bytes early",
                    length - body.len()
                );
                body.extend_from_slice(&buffer[..n]);
            }
            body.truncate(length);
        }
        None => {
            stream.read_to_end(&mut body).unwrap();
        }
    }
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
}

/// Whether Python's aiosmtpd is importable. Without it a test that needs a
/// real SMTP server skips with a note, except under `CI=true`, where the
/// missing tool fails the test (`.ci/run` installs it).
pub(crate) fn aiosmtpd_available() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !available {
        let note = "python3 with aiosmtpd is needed for the SMTP tests; install it with `pip install aiosmtpd`";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{note}");
        }
        eprintln!("skipping: {note} (under CI=true this fails)");
    }
    available
}

/// A message as the SMTP server received it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) mail_from: String,
    pub(crate) rcpt_tos: Vec<String>,
    pub(crate) data: String,
}

/// A local SMTP server (aiosmtpd) that stores each message it receives as a
/// JSON file: the envelope and the data.
pub(crate) struct SmtpSink {
    child: Child,
    out: tempfile::TempDir,
    pub(crate) port: u16,
}

const SINK: &str = r#"
import json, os, pathlib, sys, time
from aiosmtpd.controller import Controller

host, port, out = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])

class Sink:
    async def handle_DATA(self, server, session, envelope):
        name = str(time.time_ns())
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.original_content.decode("utf-8", "replace"),
        }
        temp = out / f".{name}.tmp"
        temp.write_text(json.dumps(record))
        os.rename(temp, out / f"{name}.json")
        return "250 Message accepted for delivery"

controller = Controller(Sink(), hostname=host, port=port)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

impl SmtpSink {
    /// Starts the server on 127.0.0.1:`port` and waits until it answers.
    pub(crate) fn start(port: u16) -> Self {
        let out = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .args(["-c", SINK, "127.0.0.1", &port.to_string()])
            .arg(out.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = ready.send(line);
        });
        let line = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default();
        if line.trim() != "ready" {
            let _ = child.kill();
            panic!("the SMTP server did not start on port {port}");
        }
        Self { child, out, port }
    }

    /// Every message received so far, oldest first.
    pub(crate) fn messages(&self) -> Vec<Received> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.out.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let record: Value =
                    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                Received {
                    mail_from: record["mail_from"].as_str().unwrap().to_owned(),
                    rcpt_tos: record["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_owned())
                        .collect(),
                    data: record["data"].as_str().unwrap().to_owned(),
                }
            })
            .collect()
    }

    /// Waits for the first message.
    pub(crate) fn wait_for_message(&self, timeout: Duration) -> Option<Received> {
        let mut first = None;
        wait_until(timeout, || {
            first = self.messages().into_iter().next();
            first.is_some()
        });
        first
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An RFC 5322 message, read just enough for the tests: unfolded headers
/// and the body decoded from its transfer encoding.
#[derive(Debug)]
pub(crate) struct Mail {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Mail {
    pub(crate) fn parse(raw: &str) -> Self {
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .expect("a message with CRLF line endings and a body");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("a folded line after a header");
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else {
                let (name, value) = line.split_once(':').expect("a header line");
                headers.push((name.to_owned(), value.trim().to_owned()));
            }
        }
        let mail = Self {
            headers,
            body: String::new(),
        };
        let body = match mail.header("Content-Transfer-Encoding") {
            Some(e) if e.eq_ignore_ascii_case("quoted-printable") => decode_quoted_printable(body),
            Some(e) if e.eq_ignore_ascii_case("7bit") || e.eq_ignore_ascii_case("8bit") => {
                body.to_owned()
            }
            other => panic!("unexpected Content-Transfer-Encoding {other:?}"),
        };
        Self { body, ..mail }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The accept link's token, checked to be 43 base64url characters.
    pub(crate) fn invitation_token(&self, public_url: &str) -> String {
        self.link_token(public_url, "invitations")
            .unwrap_or_else(|| panic!("no invitation link in:\n{}", self.body))
    }

    /// The token of a `<public_url>/<kind>/<token>` link, checked to be 43
    /// base64url characters; `None` without such a link.
    pub(crate) fn link_token(&self, public_url: &str, kind: &str) -> Option<String> {
        let prefix = format!("{public_url}/{kind}/");
        let start = self.body.find(&prefix)? + prefix.len();
        let token: String = self.body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert_eq!(token.len(), 43, "{token}");
        Some(token)
    }
}

/// The `.eml` files in `dir` addressed to `to`, oldest first.
pub(crate) fn mails_in(dir: &Path, to: &str) -> Vec<Mail> {
    let mut mails: Vec<(std::time::SystemTime, String, Mail)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| {
                    let modified = e.metadata().ok()?.modified().ok()?;
                    let text = std::fs::read_to_string(e.path()).ok()?;
                    // A file being written may not be whole yet.
                    text.contains("\r\n\r\n").then_some(())?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    Some((modified, name, Mail::parse(&text)))
                })
                .filter(|(_, _, mail)| mail.header("To") == Some(to))
                .collect()
        })
        .unwrap_or_default();
    mails.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    mails.into_iter().map(|(_, _, mail)| mail).collect()
}

fn decode_quoted_printable(text: &str) -> String {
    let text = text.replace("=\r\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A fresh database on the test server, dropped at the end.
pub(crate) struct Database {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl Database {
    /// `None` (with a note) when no PostgreSQL is configured, outside CI.
    pub(crate) fn create() -> Option<Self> {
        let Ok(admin) = std::env::var("TENANCY_TEST_POSTGRES_URL") else {
            let note = "TENANCY_TEST_POSTGRES_URL is not set";
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "{note}: under CI=true the PostgreSQL tests must run"
            );
            eprintln!("skipping: {note} (under CI=true this fails)");
            return None;
        };
        let name = format!("tenancy_bin_{}", uuid::Uuid::now_v7().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = match admin.rsplit_once('/') {
            Some((root, _)) if root.contains("://") && root.matches('/').count() >= 2 => {
                format!("{root}/{name}")
            }
            _ => format!("{admin}/{name}"),
        };
        Some(Self { admin, name, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

pub(crate) fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .status()
        .expect("psql runs");
    assert!(status.success(), "psql failed: {sql}");
}

/// Every file under a folder and its subfolders (not the folders).
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}
