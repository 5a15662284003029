//! Real browsers for the console's tests: Debian's Chromium and Firefox ESR,
//! headless, driven over the W3C WebDriver protocol through `chromedriver`
//! and `geckodriver`.
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
const FIREFOX: &str = "/usr/bin/firefox-esr";

/// The W3C name of an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a test waits for the page to show something.
const PATIENCE: Duration = Duration::from_secs(30);

/// The browsers the console is tested in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Debian's Chromium with its chromedriver.
    Chromium,
    /// Debian's Firefox ESR with Mozilla's geckodriver (from crates.io).
    Firefox,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Chromium => "chromium",
            Self::Firefox => "firefox",
        }
    }

    /// The browser and its driver, if both are installed.
    fn programs(self) -> Option<(PathBuf, PathBuf)> {
        let (browser, driver) = match self {
            Self::Chromium => (PathBuf::from(CHROMIUM), PathBuf::from(CHROMEDRIVER)),
            Self::Firefox => (PathBuf::from(FIREFOX), on_path("geckodriver")?),
        };
        (browser.exists() && driver.exists()).then_some((browser, driver))
    }

    /// Whether the browser and its driver are installed. Without them a
    /// browser test skips with a note, except under `CI=true`, where that
    /// fails (`.ci/run` installs both).
    pub(crate) fn available(self) -> bool {
        let present = self.programs().is_some();
        let install = match self {
            Self::Chromium => "apt-get install chromium chromium-driver",
            Self::Firefox => "apt-get install firefox-esr; cargo install geckodriver",
        };
        if !present {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and {} or its driver is missing; `.ci/run` installs them ({install})",
                self.name()
            );
            eprintln!(
                "skipped: {} or its driver is missing ({install})",
                self.name()
            );
        }
        present
    }
}

/// The first `name` on `PATH`, or in cargo's install folder.
fn on_path(name: &str) -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cargo_home.map(|home| home.join("bin")))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A WebDriver server process (chromedriver or geckodriver) on a free port,
/// one per browser: geckodriver serves a single session.
struct Driver {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Driver {
    fn start(program: &Path, log: PathBuf) -> Self {
        let port = free_port();
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
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
            panic!(
                "{} did not get ready; its log:\n{}",
                program.display(),
                driver.log()
            );
        }
        driver
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser with its own profile (its own sessionStorage, like a person
/// on another machine), driven through its own driver process.
pub(crate) struct Browser {
    kind: Kind,
    driver: SocketAddr,
    session: String,
    // Dropped after the session is deleted (fields drop in order).
    _process: Driver,
}

impl Browser {
    /// Starts `kind` headless, with its files under `dir/name`.
    pub(crate) fn open(kind: Kind, dir: &Path, name: &str) -> Self {
        let (program, driver) = kind.programs().unwrap();
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        let process = Driver::start(&driver, home.join("driver.log"));
        let options = match kind {
            Kind::Chromium => json!({
                "browserName": "chrome",
                "goog:loggingPrefs": { "browser": "ALL" },
                "goog:chromeOptions": {
                    "binary": program,
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--lang=en-US",
                        format!("--user-data-dir={}", home.join("profile").display()),
                    ],
                },
            }),
            Kind::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": program,
                    "args": ["-headless"],
                    "prefs": { "intl.accept_languages": "en-US" },
                },
            }),
        };
        let response = request(
            process.addr,
            "POST",
            "/session",
            None,
            Some(&json!({ "capabilities": { "alwaysMatch": options } })),
        );
        assert_eq!(
            response.status,
            200,
            "{response:?}\ndriver log:\n{}",
            process.log()
        );
        let session = response.json()["value"]["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        let browser = Self {
            kind,
            driver: process.addr,
            session,
            _process: process,
        };
        browser.ok(
            "POST",
            "/window/rect",
            Some(&json!({ "width": 1280, "height": 860 })),
        );
        browser
    }

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

    /// The text of what `css` selects right now, read in one step (no
    /// element reference that a redraw could make stale).
    pub(crate) fn text_of(&self, css: &str) -> Option<String> {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null",
            &[json!(css)],
        )
        .as_str()
        .map(str::to_owned)
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
                // Away first: a pointer that does not move hovers nothing new
                // in Firefox, even when the page under it changed.
                "actions": [
                    { "type": "pointerMove", "duration": 0, "origin": "viewport", "x": 0, "y": 0 },
                    { "type": "pointerMove", "duration": 0, "origin": origin, "x": 0, "y": 0 },
                ],
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
    /// last call: a Content-Security-Policy violation shows up here. Only
    /// chromedriver offers the log; `None` for Firefox.
    pub(crate) fn severe_logs(&self) -> Option<Vec<String>> {
        if self.kind != Kind::Chromium {
            return None;
        }
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
        let lines = response.json()["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE" || entry["level"] == "WARNING")
            .filter_map(|entry| entry["message"].as_str().map(str::to_owned))
            .collect();
        Some(lines)
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
