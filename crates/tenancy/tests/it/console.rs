//! The web console in a real browser: the seed's story with two people,
//! each in their own headless Chromium, against `tenancy serve`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::browser::{Browser, Kind};
use crate::support::{Server, wait_until};

const PASSWORD: &str = "correct horse battery";

/// The passwords of the account scenario after a change and after a reset.
const CHANGED_PASSWORD: &str = "staple battery horse";
const RESET_PASSWORD: &str = "battery staple correct";

/// A password long enough that only the server refuses it: a common one.
const COMMON_PASSWORD: &str = "password123";

/// A connection's secret, which no page may ever hold after it is sent.
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

/// The page as it stands, with the values typed into its fields.
fn page_source(browser: &Browser) -> String {
    browser
        .script(
            "return document.documentElement.outerHTML + Array.from(document.querySelectorAll('input, textarea')).map((e) => e.value).join(' ')",
            &[],
        )
        .as_str()
        .unwrap()
        .to_owned()
}

/// Where the screenshots go for people to look at: `target/console/`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("console")
}

/// The switcher's entries as the page shows them.
fn switcher_entries(browser: &Browser) -> Vec<Value> {
    let entries = browser.script(
        "return Array.from(document.querySelectorAll('#switcher-menu [role=menuitemradio]')).map((item) => ({
            name: item.querySelector('.org-name').textContent,
            crown: item.querySelector('[data-icon=crown]') !== null,
            badge: item.querySelector('.badge') ? item.querySelector('.badge').textContent : null,
            check: item.querySelector('[data-icon=check]') !== null,
            checked: item.getAttribute('aria-checked'),
        }))",
        &[],
    );
    entries.as_array().unwrap().clone()
}

fn entry<'a>(entries: &'a [Value], name: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` in the switcher: {entries:?}"))
}

/// The control `css` is shown, marked disabled for assistive technology,
/// explained by the tooltip "View-only access", and does nothing when used.
fn assert_view_only(browser: &Browser, css: &str) {
    assert_disabled(browser, css, "View-only access");
}

/// The tooltip of a control that is disabled because the console could not
/// load the table of operations (`GET /v1/roles`): it fails closed.
const NO_PERMISSIONS: &str = "Permissions could not be loaded: reload the page to try again";

/// The control `css` is shown, marked disabled for assistive technology,
/// explained by the tooltip `reason`, and does nothing when used.
fn assert_disabled(browser: &Browser, css: &str, reason: &str) {
    let control = browser.find(css);
    assert_eq!(
        control.attribute("aria-disabled").as_deref(),
        Some("true"),
        "`{css}` is not disabled"
    );
    let tooltip_id = control
        .attribute("aria-describedby")
        .unwrap_or_else(|| panic!("`{css}` has no description"));
    let tooltip = browser.find(&format!("#{tooltip_id}"));
    assert_eq!(tooltip.attribute("role").as_deref(), Some("tooltip"));
    assert!(!tooltip.displayed(), "the tooltip of `{css}` shows unasked");
    browser.hover(&control);
    assert!(
        wait_until(Duration::from_secs(5), || tooltip.displayed()),
        "hovering `{css}` shows no tooltip"
    );
    assert_eq!(tooltip.text(), reason);
    let path = browser.path();
    control.click();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!browser.exists("dialog[open]"), "`{css}` opened a dialog");
    assert_eq!(browser.path(), path, "`{css}` navigated");
}

fn assert_enabled(browser: &Browser, css: &str) {
    let control = browser.find(css);
    assert_eq!(
        control.attribute("aria-disabled"),
        None,
        "`{css}` is disabled"
    );
}

/// Every control of the page has a name a screen reader can say: form
/// fields a `<label>` (or `aria-label`), buttons and links their text (or
/// `aria-label`).
fn assert_labelled(browser: &Browser, page: &str) {
    let unnamed = browser.script(
        "const unnamed = [];
        for (const el of document.querySelectorAll('input, select, textarea')) {
            if (el.type === 'hidden') continue;
            const label = el.getAttribute('aria-label') || Array.from(el.labels || []).map((l) => l.textContent).join(' ');
            if (!label.trim()) unnamed.push(el.outerHTML.slice(0, 160));
        }
        for (const el of document.querySelectorAll('button, a, [role=menuitem], [role=menuitemradio], [role=tab]')) {
            const name = el.getAttribute('aria-label') || el.textContent;
            if (!name.trim()) unnamed.push(el.outerHTML.slice(0, 160));
        }
        return unnamed",
        &[],
    );
    assert_eq!(unnamed, json!([]), "controls without a name on {page}");
}

fn sign_up(browser: &Browser, base: &str, email: &str, name: &str) {
    browser.goto(&format!("{base}/"));
    browser.wait_for_path("/signin");
    browser.find("a[href='/signup']").click();
    browser.wait_for_path("/signup");
    assert_labelled(browser, "the sign-up page");
    browser.find("#signup-email").fill(email);
    browser.find("#signup-name").fill(name);
    browser.find("#signup-password").fill(PASSWORD);
    browser.find("#signup-form button[type=submit]").click();
    browser.find("#switcher");
}

fn switcher_name(browser: &Browser) -> String {
    browser.find("#switcher .name").text()
}

fn wait_for_switcher(browser: &Browser, name: &str) {
    let mut shown = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            shown = browser.text_of("#switcher .name");
            shown.as_deref() == Some(name)
        }),
        "the switcher shows {shown:?}, not `{name}`"
    );
    browser.settle();
}

/// The console's address of the newest `/<kind>/<token>` link emailed to
/// `email` (`invitations`, `verify-email`, `reset-password`), waiting for the
/// mail worker to write it.
fn link_for(server: &Server, email: &str, kind: &str) -> String {
    let token = server.wait_for_link(email, kind, &[]);
    format!("{}/{kind}/{token}", server.base_url())
}

/// The session token that the tab keeps.
fn session_of(browser: &Browser) -> String {
    browser
        .script("return sessionStorage.getItem('tenancy.session')", &[])
        .as_str()
        .expect("a session in the tab")
        .to_owned()
}

/// Opens the link of the newest verification email to `email` in `browser`,
/// which says the address is verified, and goes on to the console.
fn verify_in(browser: &Browser, server: &Server, email: &str) {
    browser.goto(&link_for(server, email, "verify-email"));
    let status = browser.find("#verify-status").text();
    assert_eq!(
        status,
        format!("{email} is verified. You can invite people to your organizations now.")
    );
    browser.find("#verify-continue").click();
    browser.wait_for_path("/");
}

/// One test per scenario and browser, each skipped (outside CI) when its
/// browser is missing.
macro_rules! in_browsers {
    ($($test:ident: $scenario:ident in $kind:ident;)*) => {$(
        #[test]
        fn $test() {
            if Kind::$kind.available() {
                $scenario(Kind::$kind);
            }
        }
    )*};
}

in_browsers! {
    the_seed_story_in_chromium: seed_story in Chromium;
    the_seed_story_in_firefox: seed_story in Firefox;
    the_invitation_page_in_chromium: invitation_page in Chromium;
    the_invitation_page_in_firefox: invitation_page in Firefox;
    the_account_story_in_chromium: account_story in Chromium;
    the_account_story_in_firefox: account_story in Firefox;
}

/// The seed's story with an owner and an invitee, each in a browser of their own.
fn seed_story(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("outbox");
    let server = Server::start(dir.path(), &["--mail-dir", mail_dir.to_str().unwrap()]);
    let base = server.base_url();
    let owner = Browser::open(kind, dir.path(), "owner");
    let guest = Browser::open(kind, dir.path(), "guest");
    let shots = screenshots().join(kind.name());

    // The owner signs up and lands in the default organization.
    sign_up(&owner, &base, "owner@example.com", "Olivia");
    assert_eq!(switcher_name(&owner), "Olivia's organization");
    // The session lives in sessionStorage, never in the address.
    let token = owner.script("return sessionStorage.getItem('tenancy.session')", &[]);
    let token = token.as_str().unwrap();
    assert_eq!(token.len(), 43, "a session token is stored");
    assert!(
        !owner
            .script("return window.location.href", &[])
            .as_str()
            .unwrap()
            .contains(token)
    );

    // Create New Organization, at the bottom of the switcher's dropdown; the
    // new organization becomes the active one.
    owner.find("#switcher").click();
    let last = owner.script(
        "const items = document.querySelectorAll('#switcher-menu [role^=menuitem]'); return items[items.length - 1].id",
        &[],
    );
    assert_eq!(last, "create-organization");
    owner.find("#create-organization").click();
    // Escape cancels the dialog and gives the focus back to the switcher.
    owner.find("#new-organization-name");
    owner.press("\u{E00C}");
    assert!(
        wait_until(Duration::from_secs(10), || !owner.exists("dialog")),
        "the dialog stays open"
    );
    assert_eq!(
        owner.script("return document.activeElement.id", &[]),
        json!("switcher")
    );
    owner.find("#switcher").click();
    owner.find("#create-organization").click();
    owner.find("#new-organization-name").fill("Acme Rockets");
    owner
        .find("#create-organization-dialog button[type=submit]")
        .click();
    wait_for_switcher(&owner, "Acme Rockets");
    owner.find("#switcher").click();
    let entries = switcher_entries(&owner);
    assert_eq!(entries.len(), 2, "{entries:?}");
    for name in ["Acme Rockets", "Olivia's organization"] {
        let e = entry(&entries, name);
        assert_eq!(e["crown"], true, "{e}");
        assert_eq!(e["badge"], Value::Null, "{e}");
    }
    assert_eq!(entry(&entries, "Acme Rockets")["check"], true);
    assert_eq!(entry(&entries, "Acme Rockets")["checked"], "true");
    assert_eq!(entry(&entries, "Olivia's organization")["check"], false);
    owner.screenshot(&shots.join("switcher-owner.png"));
    owner.press("\u{E00C}"); // Escape closes the menu.
    assert_eq!(
        owner
            .find("#switcher")
            .attribute("aria-expanded")
            .as_deref(),
        Some("false")
    );

    // The owner may create everything.
    for kind in ["agents", "connections", "reports", "knowledge-files"] {
        owner.find(&format!("#nav-{kind}")).click();
        owner.wait_for_path(&format!("/{kind}"));
        assert_enabled(&owner, &format!("#create-{kind}"));
    }
    // The controls follow the table of operations from `GET /v1/roles`:
    // without it, even the owner's are disabled, and say why. The page
    // asks again on the next navigation, and they come back. A fresh load
    // of a page that needs no table (the form for a forgotten password)
    // leaves none in memory, and the request for it then fails.
    owner.goto(&format!("{base}/forgot-password"));
    owner.find("#forgot-form");
    owner.script(
        "window.realFetch = window.fetch;
        window.fetch = (input, init) => (String(input) === '/v1/roles'
            ? Promise.reject(new TypeError('Failed to fetch'))
            : window.realFetch(input, init));
        navigate('/agents', { replace: true });",
        &[],
    );
    owner.wait_for_path("/agents");
    assert_disabled(&owner, "#create-agents", NO_PERMISSIONS);
    assert_disabled(&owner, "#nav-settings", NO_PERMISSIONS);
    owner.script(
        "window.fetch = window.realFetch; navigate('/agents', { replace: true });",
        &[],
    );
    assert_enabled(&owner, "#create-agents");
    assert_enabled(&owner, "#nav-settings");
    owner.find("#nav-agents").click();
    owner.find("#create-agents").click();
    owner.find("#agent-name").fill("Cost watcher");
    owner
        .find("#agent-description")
        .fill("Watches the cloud bill");
    assert_labelled(&owner, "the new agent dialog");
    owner.find("dialog[open] button[type=submit]").click();
    owner.find("#agents-table tr td");
    owner.wait_for_text("Cost watcher");
    assert_labelled(&owner, "the agents page");

    // A connection: its secret goes in once and never comes back, to anyone.
    owner.find("#nav-connections").click();
    owner.find("#create-connections").click();
    owner.find("#connection-label").fill("Production AWS");
    owner.find("#connection-type").fill("aws");
    owner
        .find("#connection-secret-name")
        .fill("secret_access_key");
    owner.find("#connection-secret-value").fill(SECRET);
    owner.find("dialog[open] button[type=submit]").click();
    owner.find("#connections-table tr td");
    owner.wait_for_text("Production AWS");
    assert!(
        !owner.exists("dialog"),
        "the dialog with the secret is gone"
    );
    assert!(!page_source(&owner).contains(SECRET));

    // A report's definition must be JSON: the dialog says so and stays open.
    owner.find("#nav-reports").click();
    owner.find("#create-reports").click();
    owner.find("#report-name").fill("Monthly costs");
    owner.find("#report-definition").fill("{not json");
    owner.find("dialog[open] button[type=submit]").click();
    owner.wait_for_text("The definition is not valid JSON.");
    owner
        .find("#report-definition")
        .fill(r#"{"query": "cost by service"}"#);
    owner.find("dialog[open] button[type=submit]").click();
    owner.find("#reports-table tr td");
    owner.wait_for_text("Monthly costs");

    // A knowledge file, uploaded from the file picker.
    let runbook = dir.path().join("runbook.md");
    std::fs::write(&runbook, "# Runbook\n\nRestart the thing.\n").unwrap();
    owner.find("#nav-knowledge-files").click();
    owner.find("#create-knowledge-files").click();
    owner
        .find("#knowledge-file")
        .fill(runbook.to_str().unwrap());
    owner.find("dialog[open] button[type=submit]").click();
    owner.find("#knowledge-files-table tr td");
    owner.wait_for_text("runbook.md");
    owner.find("#nav-agents").click();

    // Inviting needs a verified address: the owner opens the link of the
    // verification email that her sign-up sent.
    verify_in(&owner, &server, "owner@example.com");

    // Settings > Organization: invite by email; the pending invitation shows
    // with its expiry date.
    assert_enabled(&owner, "#nav-settings");
    owner.find("#nav-settings").click();
    owner.wait_for_path("/settings");
    owner.find("#invite-email").fill("Guest@Example.com");
    owner.find("#invite").click();
    let row = owner.find("#invitations-table tr[data-email='guest@example.com']");
    let expires = owner.script(
        "return document.querySelector(\"#invitations-table tr[data-email='guest@example.com'] time\").getAttribute('datetime')",
        &[],
    );
    let expires: DateTime<Utc> = expires.as_str().unwrap().parse().unwrap();
    let days = (expires - Utc::now()).num_hours();
    assert!((7 * 24 - 1..=7 * 24).contains(&days), "expires in {days} h");
    assert!(row.text().contains("viewer"), "{}", row.text());
    owner.wait_for_text("Invitation sent to guest@example.com.");
    assert_labelled(&owner, "the settings page");
    owner.screenshot(&shots.join("settings-organization.png"));
    // The billing tab is there for the owner, with a bar per limited quantity.
    owner.find("#tab-billing").click();
    owner.wait_for_path("/settings/billing");
    assert_eq!(owner.find("#plan-name").text(), "Free");
    assert!(owner.find("#usage-agents").text().contains("1 of 3"));
    assert!(owner.exists("#usage-agents progress"));
    assert!(
        owner
            .find("#usage-storage_bytes")
            .text()
            .contains("of 100 MiB")
    );
    // Only the self-serve plans are offered: enterprise is set by the host.
    assert!(owner.exists("#plan-select option[value=pro]"));
    assert!(!owner.exists("#plan-select option[value=enterprise]"));
    owner.screenshot(&shots.join("settings-billing.png"));
    // Each organization has its own plan: upgrading Acme raises its limits.
    owner.script("document.getElementById('plan-select').value = 'pro'", &[]);
    owner.find("#change-plan").click();
    let mut usage = String::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            usage = owner.text_of("#usage-agents").unwrap_or_default();
            usage.contains("1 of 50")
        }),
        "after the upgrade: {usage}"
    );
    assert_eq!(owner.find("#plan-name").text(), "Pro");

    // The invitee opens the link from the .eml file: organization, inviter
    // and expiry; signs up from it, and is in.
    let link = link_for(&server, "guest@example.com", "invitations");
    guest.goto(&link);
    assert_eq!(
        guest.find("#invitation-organization").text(),
        "Acme Rockets"
    );
    assert_eq!(
        guest.find("#invitation-inviter").text(),
        "owner@example.com"
    );
    assert!(!guest.find("#invitation-expires").text().is_empty());
    assert_eq!(
        guest.script("return document.getElementById('signup-email').value", &[]),
        json!("guest@example.com"),
        "the invited address is filled in"
    );
    assert_labelled(&guest, "the invitation page");
    guest.screenshot(&shots.join("invitation.png"));
    guest.find("#signup-name").fill("Gus");
    guest.find("#signup-password").fill(PASSWORD);
    guest
        .find("#invitation-signup-form button[type=submit]")
        .click();
    wait_for_switcher(&guest, "Acme Rockets");
    assert_eq!(
        guest.path(),
        "/",
        "the link's token is gone from the address"
    );

    // Crown on the owned organization, role badge on the invited one,
    // checkmark on the active one.
    guest.find("#switcher").click();
    let entries = switcher_entries(&guest);
    assert_eq!(entries.len(), 2, "{entries:?}");
    let acme = entry(&entries, "Acme Rockets");
    assert_eq!(acme["crown"], false, "{acme}");
    assert_eq!(acme["badge"], "viewer", "{acme}");
    assert_eq!(acme["check"], true, "{acme}");
    let own = entry(&entries, "Gus's organization");
    assert_eq!(own["crown"], true, "{own}");
    assert_eq!(own["badge"], Value::Null, "{own}");
    assert_eq!(own["check"], false, "{own}");
    assert_labelled(&guest, "the app with the switcher open");
    guest.screenshot(&shots.join("switcher-viewer.png"));
    guest.press("\u{E00C}");

    // The viewer sees the owner's agent, and every create and settings
    // control disabled with the tooltip.
    guest.wait_for_text("Cost watcher");
    for kind in ["agents", "connections", "reports", "knowledge-files"] {
        guest.find(&format!("#nav-{kind}")).click();
        guest.wait_for_path(&format!("/{kind}"));
        assert_view_only(&guest, &format!("#create-{kind}"));
    }
    assert_view_only(&guest, "#nav-settings");
    guest.screenshot(&shots.join("viewer-disabled.png"));
    // The viewer sees the connection's label and type, never its secret.
    guest.find("#nav-connections").click();
    guest.wait_for_text("Production AWS");
    assert!(guest.text_of("#connections-table").unwrap().contains("aws"));
    assert!(!page_source(&guest).contains(SECRET));
    assert_view_only(&guest, "#connections-table [data-action=delete]");

    // Pinning is for viewers too, and a pin shows in its owner's sidebar only.
    guest.find("#nav-agents").click();
    let row = "#agents-table tr[data-name='Cost watcher']";
    assert_view_only(&guest, &format!("{row} [data-action=delete]"));
    guest.find(&format!("{row} [data-action=pin]")).click();
    let mut pinned = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            pinned = guest.text_of("#pinned");
            pinned.as_deref() == Some("Cost watcher")
        }),
        "the sidebar's pins: {pinned:?}"
    );
    guest.settle();
    assert_eq!(
        guest
            .find(&format!("{row} [data-action=pin]"))
            .attribute("aria-label")
            .as_deref(),
        Some("Unpin Cost watcher")
    );
    owner.goto(&format!("{base}/agents"));
    owner.find("#agents-table");
    assert!(!owner.exists("#pinned"), "another member's pin shows");
    // Typing the address of Settings shows it with every control disabled,
    // and no billing.
    guest.goto(&format!("{base}/settings/billing"));
    guest.wait_for_path("/settings");
    assert!(guest.exists("#members-view-only"));
    assert_view_only(&guest, "#rename");
    assert_view_only(&guest, "#invite");
    assert!(
        !guest.exists("#tab-billing"),
        "billing is shown to a viewer"
    );
    assert!(!guest.exists("#usage-agents"));
    assert_eq!(
        guest.script(
            "return document.getElementById('organization-name').disabled",
            &[]
        ),
        json!(true)
    );

    // The keyboard alone switches organizations: open the menu with the
    // arrow key, move to the other organization, press Enter.
    guest.goto(&format!("{base}/agents"));
    wait_for_switcher(&guest, "Acme Rockets");
    // The first Tab reaches "Skip to content", which moves the focus to the
    // page's content.
    guest.press("\u{E004}");
    assert_eq!(
        guest.script("return document.activeElement.textContent", &[]),
        json!("Skip to content")
    );
    guest.press("\u{E007}");
    assert_eq!(
        guest.script("return document.activeElement.id", &[]),
        json!("content")
    );
    guest.find("#switcher").focus();
    guest.press("\u{E015}"); // ArrowDown opens the menu on the active entry.
    assert_eq!(
        guest.script(
            "return document.activeElement.getAttribute('aria-checked')",
            &[]
        ),
        json!("true")
    );
    let target = guest.script(
        "return document.activeElement.querySelector('.org-name').textContent",
        &[],
    );
    assert_eq!(target, "Acme Rockets");
    // Down until the focus is on the other organization.
    for _ in 0..3 {
        let focused = guest.script(
            "const n = document.activeElement.querySelector('.org-name'); return n ? n.textContent : null",
            &[],
        );
        if focused == "Gus's organization" {
            break;
        }
        guest.press("\u{E015}");
    }
    guest.press("\u{E007}"); // Enter.
    wait_for_switcher(&guest, "Gus's organization");
    // Back to Acme Rockets with the mouse.
    guest.find("#switcher").click();
    guest
        .find("#switcher-menu button[aria-checked='false']")
        .click();
    wait_for_switcher(&guest, "Acme Rockets");

    // The owner removes the member from Settings > Organization.
    owner.goto(&format!("{base}/settings"));
    let member = "#members-table tr[data-email='guest@example.com']";
    assert!(owner.find(member).text().contains("viewer"));
    owner.find(&format!("{member} button")).click();
    let question = owner.accept_dialog();
    assert!(question.contains("guest@example.com"), "{question}");
    assert!(
        wait_until(Duration::from_secs(30), || !owner.exists(member)),
        "the member is still listed"
    );

    // The member's very next page load lands in their own organization.
    guest.goto(&format!("{base}/agents"));
    wait_for_switcher(&guest, "Gus's organization");
    let notice = guest.find("#access-notice").text();
    assert!(
        notice.contains("no longer have access to Acme Rockets"),
        "{notice}"
    );
    assert!(
        !guest
            .script("return document.body.innerText", &[])
            .as_str()
            .unwrap()
            .contains("Cost watcher")
    );
    guest.find("#switcher").click();
    let entries = switcher_entries(&guest);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["name"], "Gus's organization");
    guest.screenshot(&shots.join("removed-member.png"));

    // The owner revokes an invitation from Settings; its link dies.
    owner.goto(&format!("{base}/settings"));
    owner.find("#invite-email").fill("temp@example.com");
    owner.find("#invite").click();
    let temp = "#invitations-table tr[data-email='temp@example.com']";
    owner.find(&format!("{temp} button")).click();
    assert!(
        wait_until(Duration::from_secs(30), || {
            owner.settle();
            !owner.exists(temp)
        }),
        "the revoked invitation is still listed"
    );
    let dead = link_for(&server, "temp@example.com", "invitations");
    let token = dead.rsplit('/').next().unwrap();
    let preview = server.get(&format!("/v1/invitations/{token}"), None);
    assert_eq!(preview.json()["status"], "revoked", "{preview:?}");

    // And renames the organization: the switcher follows.
    owner.find("#organization-name").fill("Acme Rocketry");
    owner.find("#rename").click();
    wait_for_switcher(&owner, "Acme Rocketry");

    // The owner deletes a report, after confirming.
    owner.goto(&format!("{base}/reports"));
    owner
        .find("#reports-table tr[data-name='Monthly costs'] [data-action=delete]")
        .click();
    let question = owner.accept_dialog();
    assert!(question.contains("Monthly costs"), "{question}");
    owner.find("#reports-empty");

    // No page broke its own Content-Security-Policy, failed a request or
    // threw: the browser logged no warning and no error (chromedriver alone
    // exposes the browser's log).
    for (who, browser) in [("owner", &owner), ("guest", &guest)] {
        if let Some(logs) = browser.severe_logs() {
            assert!(logs.is_empty(), "{who}: {logs:?}");
        }
    }
}

/// Signs `email` up through the API; returns the token and default organization id.
fn account(server: &Server, email: &str) -> (String, String) {
    let reply = server.post(
        "/v1/auth/signup",
        None,
        &json!({"email": email, "password": PASSWORD}),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let body = reply.json();
    (
        body["token"].as_str().unwrap().to_owned(),
        body["default_organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// Invites `email` to `org` through the API; returns the invitation's id and
/// the link of its email, the newest `.eml` file addressed to `email`.
fn invite(server: &Server, owner: &str, org: &str, email: &str) -> (String, String) {
    let reply = server.post(
        &format!("/v1/organizations/{org}/invitations"),
        Some(owner),
        &json!({"email": email}),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let link = link_for(server, email, "invitations");
    (id, link)
}

/// The landing page of invitation links: an existing account signs in from
/// it; dead and foreign links say why.
fn invitation_page(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("outbox");
    let server = Server::start(dir.path(), &["--mail-dir", mail_dir.to_str().unwrap()]);
    let base = server.base_url();
    let (owner, _) = account(&server, "owner@example.com");
    server.verify("owner@example.com");
    let globex = server.post(
        "/v1/organizations",
        Some(&owner),
        &json!({"name": "Globex"}),
    );
    assert_eq!(globex.status, 201, "{globex:?}");
    let globex = globex.json()["id"].as_str().unwrap().to_owned();
    account(&server, "carol@example.com");
    let (_, carol_link) = invite(&server, &owner, &globex, "carol@example.com");
    let (dave, dave_link) = invite(&server, &owner, &globex, "dave@example.com");
    let (_, erin_link) = invite(&server, &owner, &globex, "erin@example.com");
    let revoked = crate::support::request(
        server.addr,
        "DELETE",
        &format!("/v1/organizations/{globex}/invitations/{dave}"),
        Some(&owner),
        None,
    );
    assert_eq!(revoked.status, 204, "{revoked:?}");

    let carol = Browser::open(kind, dir.path(), "carol");

    // An unknown token, and a revoked link: the page says so and offers no form.
    carol.goto(&format!(
        "{base}/invitations/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    ));
    carol.wait_for_text("Invitation not found");
    assert!(!carol.exists("form"));
    carol.goto(&dave_link);
    assert!(carol.find("#invitation-status").text().contains("revoked"));
    // A dead link no longer names the organization, the inviter or the invitee.
    assert!(!carol.exists("#invitation-organization"));
    assert!(!carol.find("main").text().contains("Globex"));
    assert!(!carol.exists("form"));

    // Carol has an account: from her link she switches to the sign-in form,
    // her address filled in, signs in, and the invitation is accepted.
    carol.goto(&carol_link);
    carol.find("#invitation-toggle").click();
    assert!(carol.find("#invitation-signin-form").displayed());
    assert!(!carol.find("#invitation-signup-form").displayed());
    assert_eq!(
        carol.script("return document.getElementById('signin-email').value", &[]),
        json!("carol@example.com")
    );
    carol.find("#signin-password").fill(PASSWORD);
    carol
        .find("#invitation-signin-form button[type=submit]")
        .click();
    wait_for_switcher(&carol, "Globex");
    assert_eq!(carol.path(), "/");

    // Signed in, she opens a link meant for someone else: the page says who
    // she is, and accepting is refused with the reason.
    carol.goto(&erin_link);
    carol.wait_for_text("Signed in as carol@example.com");
    carol.find("#accept-form button[type=submit]").click();
    let alert = carol.find("#accept-form [role=alert]");
    assert!(
        wait_until(Duration::from_secs(10), || !alert.text().is_empty()),
        "no reason shown"
    );
    assert!(
        alert.text().contains(
            "This invitation is for erin@example.com, and you are signed in as carol@example.com"
        ),
        "{}",
        alert.text()
    );
    // Her used link does not re-admit anyone and says it was accepted.
    carol.goto(&carol_link);
    assert!(
        carol
            .find("#invitation-status")
            .text()
            .contains("already been accepted")
    );

    // Signed out, a page of the app asks her to sign in first, then shows.
    carol.goto(&format!("{base}/agents"));
    carol.find("#sign-out").click();
    carol.wait_for_path("/signin");
    assert_eq!(
        carol.script("return sessionStorage.getItem('tenancy.session')", &[]),
        Value::Null,
        "the session is gone from the tab"
    );
    carol.goto(&format!("{base}/reports"));
    carol.wait_for_path("/signin");
    carol.find("#signin-email").fill("carol@example.com");
    carol.find("#signin-password").fill("not her password");
    carol.find("#signin-form button[type=submit]").click();
    carol.wait_for_text("The email or the password is wrong.");
    carol.find("#signin-password").fill(PASSWORD);
    carol.find("#signin-form button[type=submit]").click();
    carol.wait_for_path("/reports");
    wait_for_switcher(&carol, "Globex");
    let title = carol.script("return document.title", &[]);
    assert_eq!(title, "Reports \u{b7} Globex \u{b7} tenancy");

    // Two clicks in a row: the page drawn is the one of the last address,
    // whichever answer comes last.
    carol.script(
        "document.getElementById('nav-agents').click(); document.getElementById('nav-connections').click()",
        &[],
    );
    carol.wait_for_path("/connections");
    assert_eq!(carol.text_of("#content h1").as_deref(), Some("Connections"));

    // Her session ends elsewhere: the next thing she does asks her to sign in.
    let session = carol.script("return sessionStorage.getItem('tenancy.session')", &[]);
    let signed_out = server.post("/v1/auth/signout", session.as_str(), &json!({}));
    assert_eq!(signed_out.status, 204, "{signed_out:?}");
    carol.find("#switcher").click();
    carol
        .find("#switcher-menu button[aria-checked='false']")
        .click();
    carol.wait_for_path("/signin");

    // An address under /invitations/ that is no token is no invitation.
    carol.goto(&format!("{base}/invitations/accept"));
    carol.wait_for_text("Invitation not found");
}

/// Signs `email` in through the API, as on another device; returns the token.
fn sign_in(server: &Server, email: &str, password: &str) -> String {
    let reply = server.post(
        "/v1/auth/signin",
        None,
        &json!({"email": email, "password": password}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// The status of `GET /v1/me` with `token`: 200 while its session lives.
fn me_status(server: &Server, token: &str) -> u16 {
    server.get("/v1/me", Some(token)).status
}

/// What the browser logged at warning level or above, less the lines of the
/// requests that the API refused on purpose (a 4xx is logged as an error).
fn unexpected_logs(browser: &Browser) -> Option<Vec<String>> {
    browser.severe_logs().map(|logs| {
        logs.into_iter()
            .filter(|line| !line.contains("the server responded with a status of 4"))
            .collect()
    })
}

/// A new account as a person lives it in the console: inviting waits for a
/// verified address, the account page ends another session and changes the
/// password, and a forgotten password is reset from its emailed link, which
/// ends every session.
fn account_story(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("outbox");
    let server = Server::start(dir.path(), &["--mail-dir", mail_dir.to_str().unwrap()]);
    let base = server.base_url();
    let email = "ann@example.com";
    let ann = Browser::open(kind, dir.path(), "ann");
    let shots = screenshots().join(kind.name());

    sign_up(&ann, &base, email, "Ann");
    let token = session_of(&ann);
    let me = server.get("/v1/me", Some(&token)).json();
    assert_eq!(me["user"]["email_verified"], false, "{me}");

    // Unverified, her invitation is refused, and Settings says what to do.
    ann.find("#nav-settings").click();
    ann.wait_for_path("/settings");
    let notice = ann.find("#invite-unverified");
    assert!(!notice.displayed(), "the notice shows before any refusal");
    ann.find("#invite-email").fill("bob@example.com");
    ann.find("#invite").click();
    assert!(
        wait_until(Duration::from_secs(10), || notice.displayed()),
        "no notice after the refusal"
    );
    assert!(
        notice.text().contains(&format!(
            "Verify your email address before you invite anyone: open the link in the verification email sent to {email}."
        )),
        "{}",
        notice.text()
    );
    assert!(ann.exists("#invitations-empty"), "an invitation is listed");
    assert_labelled(&ann, "the settings page with the verification notice");
    // A new verification email supersedes the one of the sign-up.
    let first = server.wait_for_link(email, "verify-email", &[]);
    ann.find("#invite-resend-verification").click();
    ann.wait_for_text("A new verification email is on its way");
    let second = server.wait_for_link(email, "verify-email", std::slice::from_ref(&first));
    ann.screenshot(&shots.join("settings-unverified.png"));
    // The account page says the address is not verified, and offers the same button.
    ann.find("#invite-unverified a[href='/account']").click();
    ann.wait_for_path("/account");
    assert!(ann.find("#account-email").text().ends_with("not verified"));
    assert!(ann.find("#verify-notice #resend-verification").displayed());

    // The older link says it was replaced; the newer one verifies.
    ann.goto(&format!("{base}/verify-email/{first}"));
    assert_eq!(ann.find("h1").text(), "Link already used");
    assert!(
        ann.find("#verify-status")
            .text()
            .contains("already used or replaced by a newer email")
    );
    ann.goto(&format!("{base}/verify-email/{second}"));
    ann.wait_for_text(&format!("{email} is verified."));
    assert_labelled(&ann, "the verification page");
    ann.screenshot(&shots.join("verified.png"));
    ann.find("#verify-continue").click();
    ann.wait_for_path("/");
    let me = server.get("/v1/me", Some(&token)).json();
    assert_eq!(me["user"]["email_verified"], true, "{me}");
    // An unknown token, and no token at all, are no link.
    ann.goto(&format!(
        "{base}/verify-email/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    ));
    assert_eq!(ann.find("h1").text(), "Link not valid");
    ann.goto(&format!("{base}/verify-email/short"));
    assert_eq!(ann.find("h1").text(), "Link not valid");

    // Verified, she invites.
    ann.goto(&format!("{base}/settings"));
    ann.find("#invite-email").fill("bob@example.com");
    ann.find("#invite").click();
    ann.find("#invitations-table tr[data-email='bob@example.com']");
    ann.wait_for_text("Invitation sent to bob@example.com.");
    assert!(!ann.find("#invite-unverified").displayed());

    // She signs in on another device; the account page lists both sessions,
    // this one marked, and ends the other.
    let other = sign_in(&server, email, PASSWORD);
    let sessions = server.get("/v1/me/sessions", Some(&other)).json();
    let other_id = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ann.find("#nav-account").click();
    ann.wait_for_path("/account");
    assert!(ann.find("#account-email").text().ends_with(" verified"));
    assert!(!ann.exists("#verify-notice"));
    let rows = ann.script(
        "return Array.from(document.querySelectorAll('#sessions-table tbody tr')).map((row) => ({
            id: row.dataset.id,
            current: row.dataset.current,
            text: row.innerText,
            end: row.querySelector('[data-action=end]') !== null,
            times: row.querySelectorAll('time[datetime]').length,
        }))",
        &[],
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (this, elsewhere) = if rows[0]["id"] == other_id.as_str() {
        (&rows[1], &rows[0])
    } else {
        (&rows[0], &rows[1])
    };
    assert_eq!(elsewhere["id"], other_id.as_str(), "{rows:?}");
    assert_eq!(this["current"], "true", "{this}");
    assert!(this["text"].as_str().unwrap().contains("this session"));
    assert_eq!(this["end"], false, "the current session has an End button");
    assert_eq!(elsewhere["current"], "false", "{elsewhere}");
    assert_eq!(elsewhere["end"], true, "{elsewhere}");
    for row in [this, elsewhere] {
        assert_eq!(row["times"], 3, "created, last used, expires: {row}");
    }
    assert_labelled(&ann, "the account page");
    ann.screenshot(&shots.join("account.png"));
    let row = format!("#sessions-table tr[data-id='{other_id}']");
    ann.find(&format!("{row} [data-action=end]")).click();
    assert!(
        wait_until(Duration::from_secs(30), || {
            ann.settle();
            !ann.exists(&row)
        }),
        "the ended session is still listed"
    );
    assert_eq!(me_status(&server, &other), 401, "the ended session");
    assert_eq!(me_status(&server, &token), 200, "this session");

    // A password change: a wrong current password and a common new one are
    // refused with their reasons; then the other sessions end, this one goes on.
    let other = sign_in(&server, email, PASSWORD);
    ann.find("#current-password").fill("not my password");
    ann.find("#new-password").fill(CHANGED_PASSWORD);
    ann.find("#change-password").click();
    ann.wait_for_text("The current password is wrong.");
    ann.find("#current-password").fill(PASSWORD);
    ann.find("#new-password").fill(COMMON_PASSWORD);
    ann.find("#change-password").click();
    ann.wait_for_text("New password: password is one of the 10,000 most common passwords.");
    ann.find("#new-password").fill(CHANGED_PASSWORD);
    ann.find("#change-password").click();
    ann.wait_for_text("Your password is changed, and your other sessions have ended.");
    assert_eq!(me_status(&server, &other), 401, "another session");
    assert_eq!(me_status(&server, &token), 200, "this session");
    ann.settle();
    assert_eq!(
        ann.script(
            "return document.querySelectorAll('#sessions-table tbody tr').length",
            &[]
        ),
        json!(1)
    );

    // On another device she has forgotten it: "Forgot password?" on the
    // sign-in page asks for a link, and the answer tells nothing of the account.
    let phone = Browser::open(kind, dir.path(), "phone");
    phone.goto(&format!("{base}/signin"));
    phone.find("#forgot-password").click();
    phone.wait_for_path("/forgot-password");
    assert_labelled(&phone, "the forgotten-password page");
    phone.find("#forgot-email").fill("nobody@example.com");
    phone.find("#forgot-form button[type=submit]").click();
    let nobody = phone.find("#forgot-sent").text();
    assert!(
        nobody.starts_with("If an account exists for nobody@example.com, an email"),
        "{nobody}"
    );
    assert!(nobody.contains("is on its way"), "{nobody}");
    phone.goto(&format!("{base}/forgot-password"));
    phone.find("#forgot-email").fill(email);
    phone.find("#forgot-form button[type=submit]").click();
    let sent = phone.find("#forgot-sent").text();
    assert_eq!(sent, nobody.replace("nobody@example.com", email));

    // The emailed link: the new password follows the sign-up rules.
    let reset = link_for(&server, email, "reset-password");
    phone.goto(&reset);
    assert_labelled(&phone, "the password reset page");
    assert_eq!(
        phone
            .find("#reset-password")
            .attribute("minlength")
            .as_deref(),
        Some("8")
    );
    phone.find("#reset-password").fill(COMMON_PASSWORD);
    phone.find("#reset-form button[type=submit]").click();
    phone.wait_for_text("Password: password is one of the 10,000 most common passwords.");
    phone.find("#reset-password").fill(RESET_PASSWORD);
    phone.find("#reset-form button[type=submit]").click();
    assert!(
        phone
            .find("#reset-done")
            .text()
            .contains("you are signed out everywhere")
    );
    phone.screenshot(&shots.join("password-reset.png"));

    // Every session ended, the one of her first browser too: its next page
    // asks her to sign in.
    assert_eq!(me_status(&server, &token), 401, "the old session");
    ann.goto(&format!("{base}/account"));
    ann.wait_for_path("/signin");
    // The used link says so.
    ann.goto(&reset);
    ann.find("#reset-password").fill(RESET_PASSWORD);
    ann.find("#reset-form button[type=submit]").click();
    assert!(
        ann.find("#reset-status")
            .text()
            .contains("already used or replaced by a newer email")
    );

    // She signs in on the phone with the new password; the old ones fail.
    for old in [PASSWORD, CHANGED_PASSWORD] {
        let refused = server.post(
            "/v1/auth/signin",
            None,
            &json!({"email": email, "password": old}),
        );
        assert_eq!(refused.status, 401, "{refused:?}");
    }
    phone.find("#reset-signin").click();
    phone.wait_for_path("/signin");
    phone.find("#signin-email").fill(email);
    phone.find("#signin-password").fill(RESET_PASSWORD);
    phone.find("#signin-form button[type=submit]").click();
    wait_for_switcher(&phone, "Ann's organization");
    assert_eq!(me_status(&server, &session_of(&phone)), 200);

    // On a server whose verification links live a second, an expired link
    // asks for a new email: sign in first, and the account page offers it.
    let short = tempfile::tempdir().unwrap();
    let short_mail = short.path().join("outbox");
    let brief = Server::start(
        short.path(),
        &[
            "--mail-dir",
            short_mail.to_str().unwrap(),
            "--verification-ttl",
            "1s",
        ],
    );
    brief.sign_up("cy@example.com");
    let expired = link_for(&brief, "cy@example.com", "verify-email");
    std::thread::sleep(Duration::from_millis(1500));
    phone.goto(&expired);
    assert_eq!(phone.find("h1").text(), "Link expired");
    assert!(phone.find("#verify-status").text().contains("has expired"));
    phone.find("#verify-signin").click();
    phone.wait_for_path("/signin");
    phone.find("#signin-email").fill("cy@example.com");
    phone.find("#signin-password").fill(PASSWORD);
    phone.find("#signin-form button[type=submit]").click();
    phone.wait_for_path("/account");
    phone.find("#verify-notice #resend-verification").click();
    phone.wait_for_text("A new verification email is on its way");
    let fresh = brief.wait_for_link(
        "cy@example.com",
        "verify-email",
        &[expired.rsplit('/').next().unwrap().to_owned()],
    );
    assert_eq!(fresh.len(), 43);

    // No page broke the Content-Security-Policy or threw.
    for (who, browser) in [("ann", &ann), ("phone", &phone)] {
        if let Some(logs) = unexpected_logs(browser) {
            assert!(logs.is_empty(), "{who}: {logs:?}");
        }
    }
}
