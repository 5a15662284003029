//! The accounts part of the model (R31, D19): verification and reset links
//! with their lifetimes, single use and supersession; sessions with their
//! absolute lifetime, idle timeout and the once-a-minute record of use;
//! password changes; and the sweep. Written from API.md, independently of
//! `decide::accounts`.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::{Expected, Harness, NOT_FOUND, code, compare, email};
use crate::decide::{AccountMail, SignedUp};
use crate::entity::MailContent;
use crate::error::Error;
use crate::id::SessionId;
use crate::ports::{MailOutbox, Repository};
use crate::testing::fakes::PlainPasswords;
use crate::value::PasswordHash;

/// How long links and sessions live here: the API's defaults, written out
/// again rather than read from the core.
const VERIFICATION_TTL: Duration = Duration::hours(24);
const RESET_TTL: Duration = Duration::hours(1);
const SESSION_TTL: Duration = Duration::days(30);
const IDLE_TIMEOUT: Duration = Duration::days(7);
/// Expired links are kept this long, then swept (and unknown).
const LINK_RETENTION: Duration = Duration::days(7);

/// One operation on accounts. Indices pick among what exists (modulo).
#[derive(Debug, Clone)]
pub enum AccountOp {
    /// A fresh verification email for a user.
    RequestVerification {
        user: usize,
    },
    /// The link of the `link`-th email sent (of either purpose) presented
    /// to `POST /v1/auth/verify-email`.
    Verify {
        link: usize,
    },
    /// The newest verification link sent to a user: the one a person opens.
    /// Mostly (two in three) a user who has not verified yet: they are the
    /// ones who open it.
    VerifyNewest {
        user: usize,
    },
    /// `POST /v1/auth/password-reset` for an address of the pool.
    RequestReset {
        email: usize,
    },
    /// The `link`-th link presented to the reset's confirmation.
    ConfirmReset {
        link: usize,
    },
    /// The newest reset link sent to anyone: the one a person who just
    /// asked for it opens.
    ConfirmNewestReset,
    SignIn {
        user: usize,
    },
    /// A request with the `session`-th session's token.
    UseSession {
        session: usize,
    },
    /// A password change from the `session`-th session, with the right
    /// current password or not.
    ChangePassword {
        session: usize,
        right: bool,
    },
    /// `actor` ends the `session`-th session.
    EndSession {
        actor: usize,
        session: usize,
    },
    Sweep,
}

pub(super) fn op() -> impl Strategy<Value = AccountOp> {
    let i = || any::<usize>();
    prop_oneof![
        2 => i().prop_map(|user| AccountOp::RequestVerification { user }),
        4 => i().prop_map(|link| AccountOp::Verify { link }),
        8 => i().prop_map(|user| AccountOp::VerifyNewest { user }),
        2 => i().prop_map(|email| AccountOp::RequestReset { email }),
        2 => i().prop_map(|link| AccountOp::ConfirmReset { link }),
        3 => Just(AccountOp::ConfirmNewestReset),
        2 => i().prop_map(|user| AccountOp::SignIn { user }),
        4 => i().prop_map(|session| AccountOp::UseSession { session }),
        1 => (i(), any::<bool>())
            .prop_map(|(session, right)| AccountOp::ChangePassword { session, right }),
        1 => (i(), i()).prop_map(|(actor, session)| AccountOp::EndSession { actor, session }),
        1 => Just(AccountOp::Sweep),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Verify,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkState {
    Open,
    Used,
    Superseded,
}

#[derive(Debug, Clone)]
pub(super) struct ModelLink {
    user: usize,
    purpose: Purpose,
    token: String,
    expires_at: DateTime<Utc>,
    state: LinkState,
    /// Removed by a sweep: unknown from then on.
    swept: bool,
}

#[derive(Debug, Clone)]
pub(super) struct ModelSession {
    id: SessionId,
    user: usize,
    token: String,
    opened: DateTime<Utc>,
    last_used: DateTime<Utc>,
    /// Whether the store still holds it (ended sessions are deleted; those
    /// past a lifetime stay until the sweep).
    row: bool,
}

impl ModelSession {
    fn live(&self, now: DateTime<Utc>) -> bool {
        self.row && now < self.opened + SESSION_TTL && now < self.last_used + IDLE_TIMEOUT
    }
}

impl super::Model {
    /// The newest link of `purpose` sent to user `u`, if any.
    fn newest_link(&self, u: usize, purpose: Purpose) -> Option<usize> {
        self.links
            .iter()
            .rposition(|link| link.user == u && link.purpose == purpose)
    }

    /// What presenting link `l` for `purpose` answers.
    fn judge(&self, l: usize, purpose: Purpose) -> Expected {
        let link = &self.links[l];
        if link.swept || link.purpose != purpose {
            return Err(NOT_FOUND);
        }
        match link.state {
            LinkState::Used | LinkState::Superseded => Err("token_used"),
            LinkState::Open if self.now >= link.expires_at => Err("token_expired"),
            LinkState::Open => Ok(()),
        }
    }

    fn supersede(&mut self, user: usize, purpose: Purpose) {
        for link in &mut self.links {
            if link.user == user && link.purpose == purpose && link.state == LinkState::Open {
                link.state = LinkState::Superseded;
            }
        }
    }

    fn end_sessions(&mut self, user: usize, except: Option<usize>) {
        for (s, session) in self.sessions.iter_mut().enumerate() {
            if session.user == user && Some(s) != except {
                session.row = false;
            }
        }
    }
}

/// A user's `n`-th password.
pub(super) fn plain_password(n: u32) -> String {
    format!("secret{n}")
}

/// The hash the harness stores for a user's `n`-th password.
pub(super) fn password(n: u32) -> PasswordHash {
    PlainPasswords::hash(&plain_password(n))
}

fn refused(expected: Expected) -> bool {
    matches!(expected, Err("token_used" | "token_expired"))
}

impl<R> Harness<R>
where
    R: Repository + MailOutbox + Clone,
{
    /// The account emails in the outbox whose links the model does not know
    /// yet: (purpose, recipient, token, expiry).
    async fn new_links(&self) -> Result<Vec<(Purpose, String, String, DateTime<Utc>)>, String> {
        let far = self.model.now + Duration::days(10_000);
        let mails = self
            .outbox
            .due(far, usize::MAX)
            .await
            .map_err(|e| format!("reading the outbox: {e}"))?;
        Ok(mails
            .into_iter()
            .filter_map(|queued| {
                let purpose = match &queued.mail.content {
                    MailContent::VerifyEmail { .. } => Purpose::Verify,
                    MailContent::ResetPassword { .. } => Purpose::Reset,
                    MailContent::Invitation { .. } | MailContent::OwnershipTransfer { .. } => {
                        return None;
                    }
                };
                let expires_at = match &queued.mail.content {
                    MailContent::VerifyEmail { expires_at, .. }
                    | MailContent::ResetPassword { expires_at, .. } => *expires_at,
                    MailContent::Invitation { expires_at, .. }
                    | MailContent::OwnershipTransfer { expires_at, .. } => *expires_at,
                };
                let token = queued.mail.content.token()?.expose().to_owned();
                (!self.model.links.iter().any(|l| l.token == token)).then(|| {
                    (
                        purpose,
                        queued.mail.to.as_str().to_owned(),
                        token,
                        expires_at,
                    )
                })
            })
            .collect())
    }

    /// Takes in the one new link of `purpose` for user `u` that an
    /// operation must have sent (`expected`), or checks that none was sent.
    async fn take_link(
        &mut self,
        u: Option<usize>,
        purpose: Purpose,
        ttl: Duration,
    ) -> Result<(), String> {
        let found = self.new_links().await?;
        let Some(u) = u else {
            ensure!(
                found.is_empty(),
                "emails were sent that the model did not expect: {found:?}"
            );
            return Ok(());
        };
        let to = self.model.users[u].email;
        ensure!(
            found.len() == 1
                && found[0].0 == purpose
                && found[0].1 == to
                && found[0].3 == self.model.now + ttl,
            "expected one {purpose:?} email to {to} living {ttl}, the outbox has {found:?}"
        );
        self.model.supersede(u, purpose);
        let Some((_, _, token, expires_at)) = found.into_iter().next() else {
            return Err("the new link is gone".to_owned());
        };
        self.model.links.push(ModelLink {
            user: u,
            purpose,
            token,
            expires_at,
            state: LinkState::Open,
            swept: false,
        });
        Ok(())
    }

    /// After a sign-up: its session, and its verification link unless an
    /// invitation proved the address.
    pub(super) async fn signed_up(&mut self, u: usize, signed: &SignedUp) -> Result<(), String> {
        ensure!(
            signed.user.email_verified == self.model.users[u].verified,
            "sign-up answered verified = {}, the model has {}",
            signed.user.email_verified,
            self.model.users[u].verified
        );
        let link_for = (!self.model.users[u].verified).then_some(u);
        self.take_link(link_for, Purpose::Verify, VERIFICATION_TTL)
            .await?;
        self.open_session(u, signed.session_token.expose()).await
    }

    async fn open_session(&mut self, u: usize, token: &str) -> Result<(), String> {
        let session = self
            .service
            .session(token)
            .await
            .map_err(|e| format!("a new session of user {u} does not work: {e}"))?;
        ensure!(
            session.user_id == self.model.users[u].id
                && session.created_at == self.model.now
                && session.last_used_at == self.model.now,
            "a new session of user {u} is {session:?}"
        );
        self.model.sessions.push(ModelSession {
            id: session.id,
            user: u,
            token: token.to_owned(),
            opened: self.model.now,
            last_used: self.model.now,
            row: true,
        });
        Ok(())
    }

    /// A request with session `s`: refused unless live; its use recorded
    /// at most once a minute.
    async fn use_session(&mut self, s: usize) -> Result<Result<(), Error>, String> {
        let now = self.model.now;
        let session = &self.model.sessions[s];
        let live = session.live(now);
        let result = self.service.session(&session.token.clone()).await;
        compare(
            "use a session",
            if live { Ok(()) } else { Err("unauthenticated") },
            code(&result),
        )?;
        if !live && self.model.sessions[s].row {
            self.model.events.sessions_expired += 1;
        }
        let Ok(found) = result else {
            return Ok(Err(Error::Unauthenticated));
        };
        let model = &mut self.model.sessions[s];
        if now >= model.last_used + Duration::minutes(1) {
            model.last_used = now;
        }
        ensure!(
            found.id == model.id && found.last_used_at == model.last_used,
            "session {s} read as {found:?}, the model last used it at {}",
            model.last_used
        );
        Ok(Ok(()))
    }

    /// Presents link `l` to `POST /v1/auth/verify-email`.
    async fn verify(&mut self, l: usize) -> Result<(), String> {
        let expected = self.model.judge(l, Purpose::Verify);
        let token = self.model.links[l].token.clone();
        let result = self.service.verify_email(&token).await;
        compare("verify an address", expected, code(&result))?;
        if refused(expected) {
            self.model.events.links_refused += 1;
        }
        if let Ok(user) = result {
            let u = self.model.links[l].user;
            ensure!(
                user.id == self.model.users[u].id && user.email_verified,
                "verifying answered {user:?}"
            );
            self.model.links[l].state = LinkState::Used;
            self.model.users[u].verified = true;
            self.model.events.links_used += 1;
        }
        Ok(())
    }

    /// Presents link `l` to the reset's check and confirmation.
    async fn confirm_reset(&mut self, l: usize) -> Result<(), String> {
        let expected = self.model.judge(l, Purpose::Reset);
        let token = self.model.links[l].token.clone();
        let u = self.model.links[l].user;
        let next = self.model.users[u].password + 1;
        let checked = self.service.check_reset_token(&token).await;
        compare("check a reset link", expected, code(&checked))?;
        let result = self
            .service
            .confirm_password_reset(&token, password(next))
            .await;
        compare("confirm a reset", expected, code(&result))?;
        if refused(expected) {
            self.model.events.links_refused += 1;
        }
        if expected.is_ok() {
            self.model.links[l].state = LinkState::Used;
            let user = &mut self.model.users[u];
            user.password = next;
            user.verified = true;
            self.model.end_sessions(u, None);
            self.model.supersede(u, Purpose::Verify);
            self.model.events.links_used += 1;
            self.model.events.resets += 1;
        }
        Ok(())
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per operation reads best in one place"
    )]
    pub(super) async fn account(&mut self, op: &AccountOp) -> Result<Option<usize>, String> {
        let users = self.model.users.len();
        let links = self.model.links.len();
        let sessions = self.model.sessions.len();
        let now = self.model.now;
        match *op {
            AccountOp::RequestVerification { user } => {
                if users == 0 {
                    return Ok(None);
                }
                let u = user % users;
                let expected = if self.model.users[u].verified {
                    Err("already_verified")
                } else {
                    Ok(())
                };
                let result = self
                    .service
                    .request_verification(self.model.users[u].id)
                    .await;
                compare("request a verification email", expected, code(&result))?;
                let sent = expected.is_ok().then_some(u);
                self.take_link(sent, Purpose::Verify, VERIFICATION_TTL)
                    .await?;
            }
            AccountOp::Verify { link } => {
                if links == 0 {
                    return Ok(None);
                }
                self.verify(link % links).await?;
            }
            AccountOp::VerifyNewest { user } => {
                if users == 0 {
                    return Ok(None);
                }
                let unverified: Vec<usize> = (0..users)
                    .filter(|&u| !self.model.users[u].verified)
                    .collect();
                let u = if unverified.is_empty() || user.is_multiple_of(3) {
                    user % users
                } else {
                    unverified[user % unverified.len()]
                };
                if let Some(l) = self.model.newest_link(u, Purpose::Verify) {
                    self.verify(l).await?;
                }
            }
            AccountOp::RequestReset { email: e } => {
                let (raw, address) = email(e);
                let account = self.model.users.iter().position(|u| u.email == raw);
                let result = self
                    .service
                    .request_password_reset(&address, AccountMail::Send)
                    .await;
                compare("request a reset", Ok(()), code(&result))?;
                self.take_link(account, Purpose::Reset, RESET_TTL).await?;
            }
            AccountOp::ConfirmReset { link } => {
                if links == 0 {
                    return Ok(None);
                }
                self.confirm_reset(link % links).await?;
            }
            AccountOp::ConfirmNewestReset => {
                let newest = (0..links)
                    .rev()
                    .find(|&l| self.model.links[l].purpose == Purpose::Reset);
                if let Some(l) = newest {
                    self.confirm_reset(l).await?;
                }
            }
            AccountOp::SignIn { user } => {
                if users == 0 {
                    return Ok(None);
                }
                let u = user % users;
                let account = self
                    .service
                    .user(self.model.users[u].id)
                    .await
                    .map_err(|e| format!("user {u}: {e}"))?;
                let current = plain_password(self.model.users[u].password);
                let wrong = self
                    .service
                    .check_credentials(
                        Some(&account.email),
                        &format!("{current}!"),
                        &PlainPasswords,
                    )
                    .await
                    .map_err(|e| format!("check a wrong password: {e}"))?;
                ensure!(wrong.is_none(), "a wrong password of user {u} matched");
                let (account, proof) = self
                    .service
                    .check_credentials(Some(&account.email), &current, &PlainPasswords)
                    .await
                    .map_err(|e| format!("check the password: {e}"))?
                    .ok_or_else(|| format!("the password of user {u} did not match"))?;
                let token = self
                    .service
                    .sign_in(&account, proof)
                    .await
                    .map_err(|e| format!("sign in: {e}"))?;
                self.open_session(u, token.expose()).await?;
            }
            AccountOp::UseSession { session } => {
                if sessions == 0 {
                    return Ok(None);
                }
                self.use_session(session % sessions).await?.ok();
            }
            AccountOp::ChangePassword { session, right } => {
                if sessions == 0 {
                    return Ok(None);
                }
                let s = session % sessions;
                if self.use_session(s).await?.is_err() {
                    return Ok(None);
                }
                let u = self.model.sessions[s].user;
                let current = self
                    .service
                    .session(&self.model.sessions[s].token.clone())
                    .await
                    .map_err(|e| format!("session {s}: {e}"))?;
                let next = self.model.users[u].password + 1;
                let mut given = plain_password(self.model.users[u].password);
                if !right {
                    given.push('!');
                }
                let proof = self
                    .service
                    .check_password(current.user_id, &given, &PlainPasswords)
                    .await
                    .map_err(|e| format!("check the password: {e}"))?;
                let result = self
                    .service
                    .change_password(&current, proof, password(next))
                    .await;
                let expected = if right { Ok(()) } else { Err("forbidden") };
                compare("change the password", expected, code(&result))?;
                if right {
                    self.model.users[u].password = next;
                    self.model.end_sessions(u, Some(s));
                }
            }
            AccountOp::EndSession { actor, session } => {
                if users == 0 || sessions == 0 {
                    return Ok(None);
                }
                let (a, s) = (actor % users, session % sessions);
                let target = &self.model.sessions[s];
                let expected = if target.live(now) && target.user == a {
                    Ok(())
                } else {
                    Err(NOT_FOUND)
                };
                let result = self
                    .service
                    .end_session(self.model.users[a].id, target.id)
                    .await;
                compare("end a session", expected, code(&result))?;
                if expected.is_ok() {
                    self.model.sessions[s].row = false;
                }
            }
            AccountOp::Sweep => {
                self.service
                    .sweep_accounts()
                    .await
                    .map_err(|e| format!("sweep: {e}"))?;
                for session in &mut self.model.sessions {
                    if session.opened + SESSION_TTL <= now
                        || session.last_used + IDLE_TIMEOUT <= now
                    {
                        session.row = false;
                    }
                }
                for link in &mut self.model.links {
                    if link.expires_at < now - LINK_RETENTION {
                        link.swept = true;
                    }
                }
            }
        }
        Ok(None)
    }

    /// The accounts' invariants, through the service's reads: each user's
    /// verification and password as the model has them, and exactly the
    /// live sessions listed, newest first, each ending `SESSION_TTL` after
    /// it was opened.
    pub(super) async fn check_accounts(&self) -> Result<(), String> {
        let now = self.model.now;
        for (u, model) in self.model.users.iter().enumerate() {
            let user = self
                .service
                .user(model.id)
                .await
                .map_err(|e| format!("user {u}: {e}"))?;
            ensure!(
                user.email_verified == model.verified,
                "user {u} is verified = {}, the model has {}",
                user.email_verified,
                model.verified
            );
            let matched = self
                .service
                .check_password(model.id, &plain_password(model.password), &PlainPasswords)
                .await
                .map_err(|e| format!("password of user {u}: {e}"))?;
            ensure!(
                matched.is_some(),
                "user {u} has another password than the model's {}",
                model.password
            );
            let listed: Vec<(SessionId, DateTime<Utc>)> = self
                .service
                .sessions(model.id)
                .await
                .map_err(|e| format!("sessions of user {u}: {e}"))?
                .value
                .into_iter()
                .map(|view| (view.session.id, view.expires_at))
                .collect();
            let mut expected: Vec<(SessionId, DateTime<Utc>)> = self
                .model
                .sessions
                .iter()
                .filter(|s| s.user == u && s.live(now))
                .map(|s| (s.id, s.opened + SESSION_TTL))
                .collect();
            expected.reverse();
            ensure!(
                listed == expected,
                "user {u}'s sessions are {listed:?}, the model has {expected:?}"
            );
        }
        Ok(())
    }
}
