//! Reading the audit log (R32): the list with its filters, and the export,
//! page by page. Both are reads of the committed log, authorized on each
//! call, so that a member who lost `view_audit_log` reads no further page.

use super::Service;
use super::resources::Scope;
use crate::audit::{AuditEvent, AuditQuery};
use crate::error::Error;
use crate::id::{OrganizationId, UserId};
use crate::operation::Operation;
use crate::ports::{Clock, IdGenerator, Repository, TokenGenerator};

impl<R, C, I, T> Service<R, C, I, T>
where
    R: Repository,
    C: Clock,
    I: IdGenerator,
    T: TokenGenerator,
{
    /// The organization's events as `query` selects them, newest first
    /// (`view_audit_log`).
    pub async fn audit_log(
        &self,
        actor: UserId,
        organization: OrganizationId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, Error> {
        let mut tx = self.repository.read().await?;
        Scope::read(&mut tx, organization, actor)
            .await?
            .access()
            .grant(Operation::ViewAuditLog)?;
        Ok(tx.audit_events(organization, query).await?)
    }

    /// One page of the export: the events after `after`, oldest first, at
    /// most `limit` (`view_audit_log`). An export reads pages until one
    /// comes back short.
    pub async fn audit_export_page(
        &self,
        actor: UserId,
        organization: OrganizationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, Error> {
        let mut tx = self.repository.read().await?;
        Scope::read(&mut tx, organization, actor)
            .await?
            .access()
            .grant(Operation::ViewAuditLog)?;
        Ok(tx.audit_events_after(organization, after, limit).await?)
    }
}
