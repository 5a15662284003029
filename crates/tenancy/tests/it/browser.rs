//! A real browser for the console's tests: Debian's Chromium, headless,
//! driven over the W3C WebDriver protocol through `chromedriver`.
//!
//! WebDriver is JSON over HTTP, so the client is the tests' own tiny HTTP
//! client and a few lines per command; no client crate is needed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{free_port, request, wait_until};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C name of an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a test waits for the page to show something.
const PATIENCE: Duration = Duration::from_secs(15);

/// Whether Chromium and its driver are installed. Without them the browser
/// tests skip with a note, except under `CI=true`, where that fails
/// (`.ci/run` installs both from Debian's packages).
pub(crate) fn available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true and {CHROMIUM} or {CHROMEDRIVER} is missing; `.ci/run` installs them \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "skipped: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        );
    }
    present
}

/// A `chromedriver` process on a free port.
pub(crate) struct Driver {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Driver {
    pub(crate) fn start(dir: &Path) -> Self {
        let port = free_port();
        let log = dir.join("chromedriver.log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut driver = Self { child, addr, log };
        let ready = wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(addr).is_ok()
                && request(addr, "GET", "/status", None, None).json()["value"]["ready"] == true
        });
        if !ready {
            let _ = driver.child.kill();
            panic!("chromedriver did not get ready; its log:\n{}", driver.log());
        }
        driver
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A new browser with its own profile: its own sessionStorage, like a
    /// second person on another machine.
    pub(crate) fn browser(&self, profile: &Path) -> Browser {
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--window-size=1280,860",
                            "--lang=en-US",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let response = request(self.addr, "POST", "/session", None, Some(&capabilities));
        assert_eq!(
            response.status,
            200,
            "{response:?}\nchromedriver log:\n{}",
            self.log()
        );
        let session = response.json()["value"]["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        Browser {
            driver: self.addr,
            session,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub(crate) struct Browser {
    driver: SocketAddr,
    session: String,
}

impl Browser {
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Value> {
        let path = format!("/session/{}{path}", self.session);
        let body = match (method, body) {
            ("POST", None) => Some(json!({})),
            (_, body) => body.cloned(),
        };
        let response = request(self.driver, method, &path, None, body.as_ref());
        let value = response.json()["value"].clone();
        if response.status == 200 {
            Ok(value)
        } else {
            Err(value)
        }
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.command(method, path, body)
            .unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"))
    }

    pub(crate) fn goto(&self, url: &str) {
        self.ok("POST", "/url", Some(&json!({ "url": url })));
    }

    pub(crate) fn path(&self) -> String {
        self.script("return window.location.pathname", &[])
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Runs `body` as a function in the page, with `args`, and returns what it returns.
    pub(crate) fn script(&self, body: &str, args: &[Value]) -> Value {
        self.ok(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": body, "args": args })),
        )
    }

    fn find_now(&self, css: &str) -> Option<String> {
        let found = self
            .command(
                "POST",
                "/element",
                Some(&json!({ "using": "css selector", "value": css })),
            )
            .ok()?;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits until the console has drawn its page (`#app` is not aria-busy).
    pub(crate) fn settle(&self) {
        let settled = wait_until(PATIENCE, || {
            self.script(
                "const app = document.getElementById('app'); return document.readyState === 'complete' && app !== null && app.getAttribute('aria-busy') !== 'true'",
                &[],
            ) == true
        });
        assert!(settled, "the page at {} is still busy", self.path());
    }

    /// The element `css` selects once the page is drawn, waiting for it to appear.
    pub(crate) fn find(&self, css: &str) -> Element<'_> {
        self.settle();
        let mut id = None;
        if !wait_until(PATIENCE, || {
            id = self.find_now(css);
            id.is_some()
        }) {
            let page = self.script("return document.body.innerText", &[]);
            panic!(
                "no `{css}` within {PATIENCE:?} at {}; the page says:\n{}",
                self.path(),
                page.as_str().unwrap_or_default()
            );
        }
        Element {
            browser: self,
            id: id.unwrap(),
        }
    }

    /// Whether `css` selects something right now.
    pub(crate) fn exists(&self, css: &str) -> bool {
        self.find_now(css).is_some()
    }

    /// Waits until the page's visible text contains `text`.
    pub(crate) fn wait_for_text(&self, text: &str) {
        let mut page = String::new();
        let seen = wait_until(PATIENCE, || {
            page = self
                .script("return document.body.innerText", &[])
                .as_str()
                .unwrap_or_default()
                .to_owned();
            page.contains(text)
        });
        assert!(
            seen,
            "`{text}` never showed at {}; the page says:\n{page}",
            self.path()
        );
    }

    /// Waits until the location's path is `path`.
    pub(crate) fn wait_for_path(&self, path: &str) {
        let mut now = String::new();
        let arrived = wait_until(PATIENCE, || {
            now = self.path();
            now == path
        });
        assert!(arrived, "still at {now}, expected {path}");
        self.settle();
    }

    /// Presses keys on whatever has the focus (W3C key actions).
    pub(crate) fn press(&self, keys: &str) {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.push(json!({ "type": "keyDown", "value": key.to_string() }));
            actions.push(json!({ "type": "keyUp", "value": key.to_string() }));
        }
        self.ok(
            "POST",
            "/actions",
            Some(&json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        );
        self.ok("DELETE", "/actions", None);
    }

    /// Moves the pointer over `element`, as a person hovering.
    pub(crate) fn hover(&self, element: &Element<'_>) {
        let origin = json!({ ELEMENT: element.id });
        self.ok(
            "POST",
            "/actions",
            Some(&json!({ "actions": [{
                "type": "pointer",
                "id": "mouse",
                "parameters": { "pointerType": "mouse" },
                "actions": [{ "type": "pointerMove", "duration": 0, "origin": origin, "x": 0, "y": 0 }],
            }] })),
        );
    }

    /// Accepts the `window.confirm` that is showing, waiting for it.
    pub(crate) fn accept_dialog(&self) -> String {
        let mut text = None;
        assert!(
            wait_until(PATIENCE, || {
                text = self.command("GET", "/alert/text", None).ok();
                text.is_some()
            }),
            "no dialog showed"
        );
        self.ok("POST", "/alert/accept", None);
        text.unwrap().as_str().unwrap_or_default().to_owned()
    }

    /// A PNG of the window, written to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let data = self.ok("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// What the browser's console logged at warning level or above, since the
    /// last call: a Content-Security-Policy violation shows up here.
    pub(crate) fn severe_logs(&self) -> Vec<String> {
        let driver = self.driver;
        let path = format!("/session/{}/se/log", self.session);
        let response = request(
            driver,
            "POST",
            &path,
            None,
            Some(&json!({ "type": "browser" })),
        );
        assert_eq!(response.status, 200, "the browser's log: {response:?}");
        response.json()["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
            .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(
            self.driver,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
            None,
        );
    }
}

/// An element of the page.
pub(crate) struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    /// A real click: the browser checks the element can take it.
    pub(crate) fn click(&self) {
        self.browser.ok("POST", &self.path("/click"), None);
    }

    /// Types `text` into the element, after clearing it.
    pub(crate) fn fill(&self, text: &str) {
        self.browser.ok("POST", &self.path("/clear"), None);
        self.browser
            .ok("POST", &self.path("/value"), Some(&json!({ "text": text })));
    }

    pub(crate) fn text(&self) -> String {
        self.browser
            .ok("GET", &self.path("/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An attribute, `None` when absent.
    pub(crate) fn attribute(&self, name: &str) -> Option<String> {
        self.browser
            .ok("GET", &self.path(&format!("/attribute/{name}")), None)
            .as_str()
            .map(str::to_owned)
    }

    pub(crate) fn displayed(&self) -> bool {
        self.browser
            .ok("GET", &self.path("/displayed"), None)
            .as_bool()
            .unwrap_or(false)
    }

    /// Gives the element the keyboard focus.
    pub(crate) fn focus(&self) {
        self.browser
            .script("arguments[0].focus()", &[json!({ ELEMENT: self.id })]);
    }
}
