//! The web console in a real browser: the seed's story with two people,
//! each in their own headless Chromium, against `tenancy serve`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::browser::{self, Browser, Driver};
use crate::support::{Mail, Server, wait_until};

const PASSWORD: &str = "correct horse battery";

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
    assert_eq!(tooltip.text(), "View-only access");
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

fn sign_up(browser: &Browser, base: &str, email: &str, name: &str) {
    browser.goto(&format!("{base}/"));
    browser.wait_for_path("/signin");
    browser.find("a[href='/signup']").click();
    browser.wait_for_path("/signup");
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
    let mut shown = String::new();
    assert!(
        wait_until(Duration::from_secs(15), || {
            shown = browser
                .script(
                    "const n = document.querySelector('#switcher .name'); return n ? n.textContent : ''",
                    &[],
                )
                .as_str()
                .unwrap_or_default()
                .to_owned();
            shown == name
        }),
        "the switcher shows `{shown}`, not `{name}`"
    );
}

/// The one `.eml` file of the mail folder.
fn invitation_link(mail_dir: &Path, base: &str) -> String {
    let mut files = Vec::new();
    assert!(
        wait_until(Duration::from_secs(15), || {
            files = std::fs::read_dir(mail_dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                        .collect()
                })
                .unwrap_or_default();
            !files.is_empty()
        }),
        "no .eml file in {}",
        mail_dir.display()
    );
    assert_eq!(files.len(), 1, "{files:?}");
    let mail = Mail::parse(&std::fs::read_to_string(&files[0]).unwrap());
    let token = mail.invitation_token(base);
    format!("{base}/invitations/{token}")
}

#[test]
fn the_seed_story_with_an_owner_and_an_invitee_in_two_browsers() {
    if !browser::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mail_dir = dir.path().join("outbox");
    let server = Server::start(dir.path(), &["--mail-dir", mail_dir.to_str().unwrap()]);
    let base = server.base_url();
    let driver = Driver::start(dir.path());
    let owner = driver.browser(&dir.path().join("owner-profile"));
    let guest = driver.browser(&dir.path().join("guest-profile"));
    let shots = screenshots();

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
    owner.find("#nav-agents").click();
    owner.find("#create-agents").click();
    owner.find("#agent-name").fill("Cost watcher");
    owner
        .find("#agent-description")
        .fill("Watches the cloud bill");
    owner.find("dialog[open] button[type=submit]").click();
    owner.find("#agents-table tr td");
    owner.wait_for_text("Cost watcher");

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
    owner.screenshot(&shots.join("settings-organization.png"));
    // The billing tab is there for the owner, with a bar per limited quantity.
    owner.find("#tab-billing").click();
    owner.wait_for_path("/settings/billing");
    assert_eq!(owner.find("#plan-name").text(), "Free");
    assert!(owner.find("#usage-agents").text().contains("1 of 3"));
    assert!(owner.exists("#usage-agents progress"));
    owner.screenshot(&shots.join("settings-billing.png"));

    // The invitee opens the link from the .eml file: organization, inviter
    // and expiry; signs up from it, and is in.
    let link = invitation_link(&mail_dir, &base);
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
    let history = guest.script("return window.history.length", &[]);
    assert!(history.as_u64().unwrap() >= 1);

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
        wait_until(Duration::from_secs(15), || !owner.exists(member)),
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

    // No page broke its own Content-Security-Policy, nor logged an error
    // besides the refusals the story provokes.
    for (who, browser) in [("owner", &owner), ("guest", &guest)] {
        let logs: Vec<String> = browser
            .severe_logs()
            .into_iter()
            .filter(|line| !line.contains("the server responded with a status of 404"))
            .collect();
        assert!(
            logs.iter()
                .all(|line| !line.contains("Content Security Policy")),
            "{who}: {logs:?}"
        );
    }
}
