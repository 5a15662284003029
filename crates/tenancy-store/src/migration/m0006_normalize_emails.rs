//! Stored email addresses in the form the core now gives them (NFKC, lower
//! case, the domain in ASCII form), and stored names without the characters
//! that names may no longer hold, so that every row still reads under the
//! new rules and two spellings of one address are one address.
//!
//! - Two accounts whose addresses normalize to one address stop the
//!   migration with a message naming that address: merging accounts is for a
//!   person to decide. So does an address that is no longer valid.
//! - Two pending invitations of one organization that normalize to one
//!   address are resolved as a re-invite resolves them (D5): the newest stays
//!   pending, the older ones are revoked (or expired, when their time was up).
//! - Names lose their bidirectional controls and zero-width characters; a
//!   name of nothing else becomes "Unnamed organization" (a display name
//!   becomes none).
//!
//! Everything is checked before anything is written, and the migration runs
//! in a transaction on both databases: a refused run changes nothing.
//!
//! Unlike the other migrations, this one calls the core (`EmailAddress::parse`
//! and `is_forbidden_in_name`) instead of carrying a copy of the rules: what
//! it writes must be exactly what the running code computes when it looks an
//! address up, and a private copy that drifted from the core would make
//! stored addresses unfindable. If the rules change again, that change needs
//! a migration of its own, which this one then precedes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use sea_orm::QueryResult;
use sea_orm_migration::prelude::*;
use tenancy_core::value::{EmailAddress, is_forbidden_in_name};
use uuid::Uuid;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[derive(Iden)]
enum Users {
    Table,
    Id,
    Email,
    DisplayName,
}

#[derive(Iden)]
enum Organizations {
    Table,
    Id,
    Name,
}

#[derive(Iden)]
enum Invitations {
    Table,
    Id,
    OrganizationId,
    Email,
    State,
    CreatedAt,
    ExpiresAt,
    StateChangedAt,
}

#[derive(Iden)]
enum MailOutbox {
    Table,
    Id,
    ToEmail,
    InviterEmail,
    OrganizationName,
}

/// What a name made only of forbidden characters becomes.
const UNNAMED_ORGANIZATION: &str = "Unnamed organization";

/// At most this many problems are listed; the message counts the rest.
const PROBLEMS_SHOWN: usize = 20;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// On SQLite too (where the runner otherwise runs migrations outside
    /// one), so that a failure part way leaves the data as it was.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let now = Utc::now();
        let mut problems = Problems::default();

        let users = plan_users(db, &mut problems).await?;
        let invitations = plan_invitations(db, now, &mut problems).await?;
        let outbox = plan_outbox(db, &mut problems).await?;
        let organizations = plan_organizations(db).await?;
        problems.into_result()?;

        // Invitations leave the pending state before any address changes, so
        // that the unique index on pending (organization, email) never sees
        // two of them at once.
        for (id, state, at) in invitations.closed {
            let update = Query::update()
                .table(Invitations::Table)
                .value(Invitations::State, state)
                .value(Invitations::StateChangedAt, at)
                .and_where(Expr::col(Invitations::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        for (id, email) in invitations.emails {
            let update = Query::update()
                .table(Invitations::Table)
                .value(Invitations::Email, email)
                .and_where(Expr::col(Invitations::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        for (id, email, display_name) in users {
            let update = Query::update()
                .table(Users::Table)
                .value(Users::Email, email)
                .value(Users::DisplayName, display_name)
                .and_where(Expr::col(Users::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        for (id, to, inviter, name) in outbox {
            let update = Query::update()
                .table(MailOutbox::Table)
                .value(MailOutbox::ToEmail, to)
                .value(MailOutbox::InviterEmail, inviter)
                .value(MailOutbox::OrganizationName, name)
                .and_where(Expr::col(MailOutbox::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        for (id, name) in organizations {
            let update = Query::update()
                .table(Organizations::Table)
                .value(Organizations::Name, name)
                .and_where(Expr::col(Organizations::Id).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
        Ok(())
    }
}

/// Why the migration cannot run, each reason on its own.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    fn into_result(self) -> Result<(), DbErr> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut message =
            String::from("cannot normalize the stored email addresses, so nothing was changed");
        for problem in self.0.iter().take(PROBLEMS_SHOWN) {
            let _ = write!(message, "; {problem}");
        }
        if self.0.len() > PROBLEMS_SHOWN {
            let _ = write!(message, "; and {} more", self.0.len() - PROBLEMS_SHOWN);
        }
        message.push_str(
            "; change or remove the rows named (one account per address), then migrate again",
        );
        Err(DbErr::Migration(message))
    }
}

/// `raw` in its normal form, or a problem naming the row.
fn normalize(raw: &str, what: &str, id: Uuid, problems: &mut Problems) -> Option<String> {
    match EmailAddress::parse(raw) {
        Ok(email) => Some(email.as_str().to_owned()),
        Err(error) => {
            problems.push(format!(
                "the {what} `{raw}` of `{id}` is no longer a valid address: {error}"
            ));
            None
        }
    }
}

/// `name` without its forbidden characters, trimmed, or `None` when nothing is left.
fn clean_name(name: &str) -> Option<String> {
    let kept: String = name
        .chars()
        .filter(|&ch| !is_forbidden_in_name(ch))
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T, DbErr> {
    row.try_get("", column)
}

/// The users whose address or display name changes: (id, email, display name).
async fn plan_users(
    db: &SchemaManagerConnection<'_>,
    problems: &mut Problems,
) -> Result<Vec<(Uuid, String, Option<String>)>, DbErr> {
    let select = Query::select()
        .columns([Users::Id, Users::Email, Users::DisplayName])
        .from(Users::Table)
        .order_by(Users::Id, Order::Asc)
        .to_owned();
    let mut by_address: BTreeMap<String, Vec<(Uuid, String)>> = BTreeMap::new();
    let mut changes = Vec::new();
    for row in db.query_all(&select).await? {
        let id: Uuid = get(&row, "id")?;
        let raw: String = get(&row, "email")?;
        let display_name: Option<String> = get(&row, "display_name")?;
        let cleaned = display_name.as_deref().and_then(clean_name);
        let Some(email) = normalize(&raw, "email address", id, problems) else {
            continue;
        };
        if email != raw || cleaned != display_name {
            changes.push((id, email.clone(), cleaned));
        }
        by_address.entry(email).or_default().push((id, raw));
    }
    for (address, accounts) in by_address.into_iter().filter(|(_, a)| a.len() > 1) {
        let spellings: Vec<String> = accounts
            .iter()
            .map(|(id, raw)| format!("`{raw}` of `{id}`"))
            .collect();
        problems.push(format!(
            "{} accounts are one address, `{address}`: {}",
            accounts.len(),
            spellings.join(", ")
        ));
    }
    Ok(changes)
}

/// A pending invitation, ordered by age (ids break ties: they are v7, so
/// time-ordered too).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    created_at: DateTime<Utc>,
    id: Uuid,
    expires_at: DateTime<Utc>,
}

/// What becomes of the invitations.
#[derive(Default)]
struct InvitationPlan {
    /// Older duplicates leaving the pending state: (id, state, changed at).
    closed: Vec<(Uuid, &'static str, Option<DateTime<Utc>>)>,
    /// Addresses to rewrite: (id, email).
    emails: Vec<(Uuid, String)>,
}

async fn plan_invitations(
    db: &SchemaManagerConnection<'_>,
    now: DateTime<Utc>,
    problems: &mut Problems,
) -> Result<InvitationPlan, DbErr> {
    let select = Query::select()
        .columns([
            Invitations::Id,
            Invitations::OrganizationId,
            Invitations::Email,
            Invitations::State,
            Invitations::CreatedAt,
            Invitations::ExpiresAt,
        ])
        .from(Invitations::Table)
        .order_by(Invitations::Id, Order::Asc)
        .to_owned();
    let mut plan = InvitationPlan::default();
    let mut pending: BTreeMap<(Uuid, String), Vec<Pending>> = BTreeMap::new();
    for row in db.query_all(&select).await? {
        let id: Uuid = get(&row, "id")?;
        let raw: String = get(&row, "email")?;
        let Some(email) = normalize(&raw, "invited address", id, problems) else {
            continue;
        };
        if email != raw {
            plan.emails.push((id, email.clone()));
        }
        if get::<String>(&row, "state")? == "pending" {
            let organization: Uuid = get(&row, "organization_id")?;
            pending
                .entry((organization, email))
                .or_default()
                .push(Pending {
                    created_at: get(&row, "created_at")?,
                    id,
                    expires_at: get(&row, "expires_at")?,
                });
        }
    }
    for (_, mut group) in pending.into_iter().filter(|(_, g)| g.len() > 1) {
        // The newest stays.
        group.sort_unstable();
        group.pop();
        for Pending { id, expires_at, .. } in group {
            // As a re-invite does: one whose time was up says "expired",
            // any other says "revoked".
            plan.closed.push(if now >= expires_at {
                (id, "expired", None)
            } else {
                (id, "revoked", Some(now))
            });
        }
    }
    Ok(plan)
}

/// The queued emails whose addresses or organization name change:
/// (id, to, inviter, organization name).
async fn plan_outbox(
    db: &SchemaManagerConnection<'_>,
    problems: &mut Problems,
) -> Result<Vec<(Uuid, String, String, String)>, DbErr> {
    let select = Query::select()
        .columns([
            MailOutbox::Id,
            MailOutbox::ToEmail,
            MailOutbox::InviterEmail,
            MailOutbox::OrganizationName,
        ])
        .from(MailOutbox::Table)
        .order_by(MailOutbox::Id, Order::Asc)
        .to_owned();
    let mut changes = Vec::new();
    for row in db.query_all(&select).await? {
        let id: Uuid = get(&row, "id")?;
        let raw_to: String = get(&row, "to_email")?;
        let raw_inviter: String = get(&row, "inviter_email")?;
        let raw_name: String = get(&row, "organization_name")?;
        let to = normalize(&raw_to, "recipient", id, problems);
        let inviter = normalize(&raw_inviter, "inviter's address", id, problems);
        let (Some(to), Some(inviter)) = (to, inviter) else {
            continue;
        };
        let name = clean_name(&raw_name).unwrap_or_else(|| UNNAMED_ORGANIZATION.to_owned());
        if to != raw_to || inviter != raw_inviter || name != raw_name {
            changes.push((id, to, inviter, name));
        }
    }
    Ok(changes)
}

/// The organizations whose name changes: (id, name).
async fn plan_organizations(
    db: &SchemaManagerConnection<'_>,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    let select = Query::select()
        .columns([Organizations::Id, Organizations::Name])
        .from(Organizations::Table)
        .order_by(Organizations::Id, Order::Asc)
        .to_owned();
    let mut changes = Vec::new();
    for row in db.query_all(&select).await? {
        let id: Uuid = get(&row, "id")?;
        let raw: String = get(&row, "name")?;
        let name = clean_name(&raw).unwrap_or_else(|| UNNAMED_ORGANIZATION.to_owned());
        if name != raw {
            changes.push((id, name));
        }
    }
    Ok(changes)
}
