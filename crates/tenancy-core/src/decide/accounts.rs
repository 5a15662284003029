//! The decisions about accounts themselves (R31, D19): verifying the
//! address, resetting and changing the password, and the sessions that a
//! user holds, with their lifetimes.

use chrono::{DateTime, Duration, Utc};

use super::{Change, Decision};
use crate::entity::{
    AccountToken, AccountTokenPurpose, AccountTokenState, MailContent, OutgoingMail,
    PASSWORD_RESET_TTL, Session, SessionLifetimes, User,
};
use crate::error::{Error, Missing};
use crate::id::{AccountTokenId, MailId, SessionId, UserId};
use crate::token::SecretToken;
use crate::value::PasswordHash;

/// How long an expired link is kept before the sweep removes it: until then
/// it answers `token_expired`, afterwards it is unknown (404).
pub const ACCOUNT_TOKEN_RETENTION: Duration = Duration::days(7);

/// What a new link needs that the core cannot make itself.
#[derive(Debug, Clone)]
pub struct AccountLink {
    pub token_id: AccountTokenId,
    pub mail_id: MailId,
    pub token: SecretToken,
}

/// Whether an account email may be sent: the rate limit of emails per
/// address (counted by the caller) withholds it without telling the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountMail {
    Send,
    Withhold,
}

/// Inviting and transferring an organization need a verified address (R31).
pub fn require_verified(user: &User) -> Result<(), Error> {
    if user.email_verified {
        Ok(())
    } else {
        Err(Error::EmailUnverified)
    }
}

/// A new link of `purpose` for `user`: the open ones of the same purpose
/// are superseded (D19), and the email goes to the outbox.
pub(super) fn account_link(
    user: &User,
    purpose: AccountTokenPurpose,
    link: AccountLink,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Vec<Change> {
    let expires_at = now + ttl;
    let token = AccountToken {
        id: link.token_id,
        user_id: user.id,
        purpose,
        token_hash: link.token.hash(),
        created_at: now,
        expires_at,
        state: AccountTokenState::Open,
    };
    let content = match purpose {
        AccountTokenPurpose::VerifyEmail => MailContent::VerifyEmail {
            token_id: link.token_id,
            token: link.token,
            expires_at,
        },
        AccountTokenPurpose::ResetPassword => MailContent::ResetPassword {
            token_id: link.token_id,
            token: link.token,
            expires_at,
        },
    };
    vec![
        Change::SupersedeAccountTokens {
            user_id: user.id,
            purpose,
            at: now,
        },
        Change::InsertAccountToken(token),
        Change::EnqueueMail(OutgoingMail {
            id: link.mail_id,
            to: user.email.clone(),
            created_at: now,
            content,
        }),
    ]
}

/// Judges a presented link: unknown or of another purpose is 404; used or
/// superseded is told before expired.
pub fn judge_link(
    token: Option<&AccountToken>,
    purpose: AccountTokenPurpose,
    now: DateTime<Utc>,
) -> Result<&AccountToken, Error> {
    let token = token
        .filter(|token| token.purpose == purpose)
        .ok_or(Error::NotFound(Missing::Token))?;
    match token.state {
        AccountTokenState::Used { .. } | AccountTokenState::Superseded { .. } => {
            Err(Error::TokenUsed)
        }
        AccountTokenState::Open if now >= token.expires_at => Err(Error::TokenExpired),
        AccountTokenState::Open => Ok(token),
    }
}

/// Uses a link of `purpose`: judged, its user found, the link used up, and
/// the address verified (the link came to it).
fn use_link<'a>(
    token: Option<&AccountToken>,
    purpose: AccountTokenPurpose,
    user: Option<&'a User>,
    now: DateTime<Utc>,
) -> Result<(Vec<Change>, &'a User), Error> {
    let token = judge_link(token, purpose, now)?;
    let user = user
        .filter(|user| user.id == token.user_id)
        .ok_or(Error::NotFound(Missing::Token))?;
    let mut changes = vec![Change::UseAccountToken {
        id: token.id,
        at: now,
    }];
    if !user.email_verified {
        changes.push(Change::MarkEmailVerified {
            user_id: user.id,
            at: now,
        });
    }
    Ok((changes, user))
}

/// Whether a verification email may be asked for: not once the address is
/// verified.
pub fn require_unverified(user: &User) -> Result<(), Error> {
    if user.email_verified {
        Err(Error::AlreadyVerified)
    } else {
        Ok(())
    }
}

/// Asking for a fresh verification email: refused once verified.
pub fn request_verification(
    user: &User,
    link: AccountLink,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Decision<()>, Error> {
    require_unverified(user)?;
    Ok(Decision::new(
        account_link(user, AccountTokenPurpose::VerifyEmail, link, ttl, now),
        (),
    ))
}

/// Verifying an address with the link of its email.
pub fn verify_email(
    token: Option<&AccountToken>,
    user: Option<&User>,
    now: DateTime<Utc>,
) -> Result<Decision<User>, Error> {
    let (changes, user) = use_link(token, AccountTokenPurpose::VerifyEmail, user, now)?;
    let verified = User {
        email_verified: true,
        ..user.clone()
    };
    Ok(Decision::new(changes, verified))
}

/// Asking for a password reset: a link for an account that exists, nothing
/// for an address without one, and nothing while the emails of the address
/// are withheld. The caller answers the same either way.
pub fn request_password_reset(
    account: Option<&User>,
    mail: AccountMail,
    link: AccountLink,
    now: DateTime<Utc>,
) -> Decision<()> {
    let changes = match (account, mail) {
        (Some(user), AccountMail::Send) => account_link(
            user,
            AccountTokenPurpose::ResetPassword,
            link,
            PASSWORD_RESET_TTL,
            now,
        ),
        _ => Vec::new(),
    };
    Decision::new(changes, ())
}

/// Setting a new password from a reset link: every session of the user
/// ends, the address counts as verified, and the verification links still
/// open are superseded, as they have nothing left to prove.
pub fn confirm_password_reset(
    token: Option<&AccountToken>,
    user: Option<&User>,
    password_hash: PasswordHash,
    now: DateTime<Utc>,
) -> Result<Decision<UserId>, Error> {
    let (mut changes, user) = use_link(token, AccountTokenPurpose::ResetPassword, user, now)?;
    changes.extend([
        Change::SetPassword {
            user_id: user.id,
            password_hash,
        },
        Change::EndSessionsOf {
            user_id: user.id,
            except: None,
        },
        Change::SupersedeAccountTokens {
            user_id: user.id,
            purpose: AccountTokenPurpose::VerifyEmail,
            at: now,
        },
    ]);
    Ok(Decision::new(changes, user.id))
}

/// Changing the password, once the caller has checked the current one
/// (`current_matches`): every other session of the user ends.
pub fn change_password(
    user: &User,
    current_session: SessionId,
    current: Option<super::PasswordMatched>,
    password_hash: PasswordHash,
) -> Result<Decision<()>, Error> {
    if current.is_none_or(|proof| proof.user() != user.id) {
        return Err(Error::WrongPassword);
    }
    Ok(Decision::new(
        vec![
            Change::SetPassword {
                user_id: user.id,
                password_hash,
            },
            Change::EndSessionsOf {
                user_id: user.id,
                except: Some(current_session),
            },
        ],
        (),
    ))
}

/// Authenticating a request: the session must be live by both lifetimes;
/// its use is written down when the last record of it is older than the
/// resolution. The outcome is the session as it now stands.
pub fn authenticate(
    session: Option<&Session>,
    lifetimes: SessionLifetimes,
    now: DateTime<Utc>,
) -> Result<Decision<Session>, Error> {
    let session = session
        .filter(|session| lifetimes.is_live(session, now))
        .ok_or(Error::Unauthenticated)?;
    if !SessionLifetimes::use_is_due(session, now) {
        return Ok(Decision::new(Vec::new(), session.clone()));
    }
    Ok(Decision::new(
        vec![Change::TouchSession {
            session_id: session.id,
            at: now,
        }],
        Session {
            last_used_at: now,
            ..session.clone()
        },
    ))
}

/// Signing out: the session of the token ends, if it is still live (an
/// ended one is unauthenticated, like any other request with it).
pub fn sign_out(
    session: Option<&Session>,
    lifetimes: SessionLifetimes,
    now: DateTime<Utc>,
) -> Result<Decision<()>, Error> {
    let session = session
        .filter(|session| lifetimes.is_live(session, now))
        .ok_or(Error::Unauthenticated)?;
    Ok(Decision::new(
        vec![Change::EndSession {
            user_id: session.user_id,
            session_id: session.id,
        }],
        (),
    ))
}

/// Ending one of the caller's own sessions; another user's, or one that a
/// lifetime already ended, is not found.
pub fn end_session(
    actor: UserId,
    session: Option<&Session>,
    lifetimes: SessionLifetimes,
    now: DateTime<Utc>,
) -> Result<Decision<()>, Error> {
    let session = session
        .filter(|session| session.user_id == actor && lifetimes.is_live(session, now))
        .ok_or(Error::NotFound(Missing::Session))?;
    Ok(Decision::new(
        vec![Change::EndSession {
            user_id: actor,
            session_id: session.id,
        }],
        (),
    ))
}

/// The periodic sweep: sessions ended by a lifetime, and links expired
/// longer than [`ACCOUNT_TOKEN_RETENTION`] ago.
pub fn sweep_accounts(lifetimes: SessionLifetimes, now: DateTime<Utc>) -> Decision<()> {
    Decision::new(
        vec![
            Change::SweepSessions {
                opened_by: now - lifetimes.ttl,
                last_used_by: now - lifetimes.idle_timeout,
            },
            Change::SweepAccountTokens {
                expired_before: now - ACCOUNT_TOKEN_RETENTION,
            },
        ],
        (),
    )
}
