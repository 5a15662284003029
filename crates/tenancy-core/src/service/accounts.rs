//! The use cases of accounts (R31): the session behind every request, the
//! verification of addresses, password reset and change, and the sessions a
//! user lists and ends.

use chrono::{DateTime, Utc};

use super::{AsOf, Service};
use crate::decide::{self, AccountMail, PasswordMatched};
use crate::entity::{AccountToken, AccountTokenPurpose, Session, User};
use crate::error::{Error, Missing};
use crate::id::{OrganizationId, SessionId, UserId};
use crate::operation::Operation;
use crate::policy::Grant;
use crate::ports::{Clock, IdGenerator, PasswordVerifier, Repository, TokenGenerator, Transaction};
use crate::token::SecretToken;
use crate::value::{EmailAddress, PasswordHash};

/// A session as its user sees it in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session: Session,
    /// The absolute end, by the lifetimes in force.
    pub expires_at: DateTime<Utc>,
}

/// A presented link's token; anything that is not one of ours is unknown.
fn parse_link(token: &str) -> Result<SecretToken, Error> {
    SecretToken::parse(token).map_err(|_| Error::NotFound(Missing::Token))
}

/// The link of a token, read again under its user's lock, so that two uses
/// of one link are serialized and the second sees the first.
async fn locked_link(
    tx: &mut Box<dyn Transaction>,
    token: &SecretToken,
) -> Result<(Option<AccountToken>, Option<User>), Error> {
    let Some(found) = tx.account_token(&token.hash()).await? else {
        return Ok((None, None));
    };
    tx.lock_user(found.user_id).await?;
    let link = tx.account_token(&token.hash()).await?;
    let user = tx.user(found.user_id).await?;
    Ok((link, user))
}

impl<R, C, I, T> Service<R, C, I, T>
where
    R: Repository,
    C: Clock,
    I: IdGenerator,
    T: TokenGenerator,
{
    /// The live session of a bearer token, on every request: a session
    /// ended by sign-out, a reset, its lifetime or its idle timeout is
    /// refused at once. Its use is written at most once a minute, in a
    /// transaction of its own; otherwise this is a read.
    pub async fn session(&self, token: &str) -> Result<Session, Error> {
        let token = SecretToken::parse(token).map_err(|_| Error::Unauthenticated)?;
        let lifetimes = self.settings.sessions;
        let mut reader = self.repository.read().await?;
        let found = reader.session(&token.hash()).await?;
        let decision = decide::authenticate(found.as_ref(), lifetimes, self.clock.now())?;
        if decision.changes().is_empty() {
            return Ok(decision.into_parts().1);
        }
        drop(reader);
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let found = tx.session(&token.hash()).await?;
            let decision = decide::authenticate(found.as_ref(), lifetimes, now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Like [`Service::authorize`], for the routes that also need a verified
    /// address (inviting): the denial first, then `email_unverified`, so
    /// that HTTP answers 404 and 403 before it looks at the body.
    pub async fn authorize_verified(
        &self,
        user: UserId,
        organization: OrganizationId,
        operation: Operation,
    ) -> Result<Grant, Error> {
        let mut tx = self.repository.read().await?;
        let org = tx.organization(organization).await?;
        let membership = tx.membership(organization, user).await?;
        let (grant, _) = decide::authorize_in(user, org.as_ref(), membership.as_ref(), operation)?;
        if !self.settings.allow_unverified_inviters {
            let account = tx.user(user).await?.ok_or(Error::NotFound(Missing::User))?;
            decide::require_verified(&account)?;
        }
        Ok(grant)
    }

    /// The address a fresh verification email would go to, for the caller to
    /// count it against its limit before asking; `already_verified` when none
    /// would go.
    pub async fn verification_address(&self, user: UserId) -> Result<EmailAddress, Error> {
        let mut tx = self.repository.read().await?;
        let account = tx.user(user).await?.ok_or(Error::NotFound(Missing::User))?;
        decide::require_unverified(&account)?;
        Ok(account.email)
    }

    /// Sends a fresh verification email; the older links stop working.
    pub async fn request_verification(&self, user: UserId) -> Result<(), Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_user(user).await?;
            let account = tx.user(user).await?.ok_or(Error::NotFound(Missing::User))?;
            let decision = decide::request_verification(
                &account,
                self.new_link(),
                self.settings.verification_ttl,
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Verifies an address with the token of its email's link.
    pub async fn verify_email(&self, token: &str) -> Result<User, Error> {
        let token = parse_link(token)?;
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let (link, user) = locked_link(&mut tx, &token).await?;
            let decision = decide::verify_email(link.as_ref(), user.as_ref(), now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Sends a reset link if the address has an account and `mail` lets
    /// it go; answers the same whether it does or not.
    pub async fn request_password_reset(
        &self,
        email: &EmailAddress,
        mail: AccountMail,
    ) -> Result<(), Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let account = match tx.user_by_email(email).await? {
                Some(found) => {
                    tx.lock_user(found.id).await?;
                    tx.user(found.id).await?
                }
                None => None,
            };
            let decision =
                decide::request_password_reset(account.as_ref(), mail, self.new_link(), now);
            self.commit_at(tx, decision, now).await
        })
    }

    /// Judges a reset token before the new password is hashed (slowly): a
    /// dead link is told as such whatever the password.
    pub async fn check_reset_token(&self, token: &str) -> Result<(), Error> {
        let token = parse_link(token)?;
        let mut tx = self.repository.read().await?;
        let link = tx.account_token(&token.hash()).await?;
        decide::judge_link(
            link.as_ref(),
            AccountTokenPurpose::ResetPassword,
            self.clock.now(),
        )?;
        Ok(())
    }

    /// Sets the new password of a reset link: every session of the user
    /// ends, and the address counts as verified.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        password_hash: PasswordHash,
    ) -> Result<UserId, Error> {
        let token = parse_link(token)?;
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            let (link, user) = locked_link(&mut tx, &token).await?;
            let decision = decide::confirm_password_reset(
                link.as_ref(),
                user.as_ref(),
                password_hash.clone(),
                now,
            )?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Checks a user's password with `verifier`, for a change of password:
    /// the proof when it matches, `None` otherwise.
    pub async fn check_password(
        &self,
        user: UserId,
        password: &str,
        verifier: &dyn PasswordVerifier,
    ) -> Result<Option<PasswordMatched>, Error> {
        let stored = {
            let mut tx = self.repository.read().await?;
            let account = tx.user(user).await?.ok_or(Error::NotFound(Missing::User))?;
            tx.credentials(&account.email).await?.map(|(_, hash)| hash)
        };
        let matches = verifier.verify(password, stored.as_ref()).await?;
        Ok(matches.then(|| PasswordMatched::of(user)))
    }

    /// Changes the password of the session's user, with the proof that the
    /// current one matched ([`Self::check_password`]; `None` is
    /// `WrongPassword`): the other sessions end.
    pub async fn change_password(
        &self,
        session: &Session,
        current: Option<PasswordMatched>,
        password_hash: PasswordHash,
    ) -> Result<(), Error> {
        retrying!(async {
            let mut tx = self.repository.begin().await?;
            tx.lock_user(session.user_id).await?;
            let account = tx
                .user(session.user_id)
                .await?
                .ok_or(Error::NotFound(Missing::User))?;
            let decision =
                decide::change_password(&account, session.id, current, password_hash.clone())?;
            self.commit(tx, decision).await
        })
    }

    /// The user's live sessions, newest first.
    pub async fn sessions(&self, user: UserId) -> Result<AsOf<Vec<SessionView>>, Error> {
        let lifetimes = self.settings.sessions;
        let mut tx = self.repository.read().await?;
        let now = self.clock.now();
        let value = tx
            .sessions_of(user)
            .await?
            .into_iter()
            .filter(|session| lifetimes.is_live(session, now))
            .map(|session| SessionView {
                expires_at: lifetimes.expires_at(&session),
                session,
            })
            .collect();
        Ok(AsOf { value, now })
    }

    /// Ends one of the user's own sessions.
    pub async fn end_session(&self, user: UserId, session: SessionId) -> Result<(), Error> {
        retrying!(async {
            let now = self.clock.now();
            let mut tx = self.repository.begin().await?;
            tx.lock_user(user).await?;
            let found = tx.session_by_id(session).await?;
            let decision = decide::end_session(user, found.as_ref(), self.settings.sessions, now)?;
            self.commit_at(tx, decision, now).await
        })
    }

    /// Removes ended sessions and long-expired links; run periodically.
    pub async fn sweep_accounts(&self) -> Result<(), Error> {
        retrying!(async {
            let now = self.clock.now();
            let tx = self.repository.begin().await?;
            let decision = decide::sweep_accounts(self.settings.sessions, now);
            self.commit_at(tx, decision, now).await
        })
    }
}
