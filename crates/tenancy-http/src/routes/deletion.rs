//! Deleting an organization (R29): the owner schedules the deletion, which
//! hides the organization from everyone else at once, and may restore it
//! until `purge_after`, when the purge takes it for good.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tenancy_core::entity::ScheduledDeletion;
use tenancy_core::{Operation, OrganizationId};
use uuid::Uuid;

use super::organizations::Org;
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::JsonBody;
use crate::respond::Accepted;
use crate::state::AppState;

/// Where a scheduled deletion is: only a pending one is ever shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum DeletionStatus {
    PendingDeletion,
}

/// An organization's scheduled deletion.
#[derive(Debug, Clone, Object)]
pub(crate) struct DeletionBody {
    pub(crate) organization_id: Uuid,
    pub(crate) status: DeletionStatus,
    pub(crate) requested_at: DateTime<Utc>,
    /// From this instant on the organization can no longer be restored, and it is purged.
    pub(crate) purge_after: DateTime<Utc>,
}

impl DeletionBody {
    // The core's view of a deletion is not nameable outside it, so the body
    // is built from its two parts.
    fn new(organization: OrganizationId, deletion: ScheduledDeletion) -> Self {
        Self {
            organization_id: organization.as_uuid(),
            status: DeletionStatus::PendingDeletion,
            requested_at: deletion.requested_at,
            purge_after: deletion.purge_after,
        }
    }
}

/// The confirmation of a deletion.
#[derive(Debug, Object)]
pub(crate) struct DeletionRequest {
    /// The organization's name exactly as it is: not trimmed, case-sensitive.
    pub(crate) confirm_name: String,
}

/// The operations of this area.
pub(crate) struct DeletionApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl DeletionApi {
    /// Schedule an organization's deletion
    ///
    /// Schedules the organization's purge after the grace period (`--deletion-grace`, 30 days by
    /// default).
    /// From the commit on, on every instance, the organization is gone for every member but the
    /// owner (404; out of their switchers, their active organization falls back), its pending
    /// invitations are revoked and a pending ownership transfer ends; the owner can still read it,
    /// read and cancel its deletion, and everything else on it answers
    /// `organization_pending_deletion`.
    /// `confirm_name` must equal the organization's name exactly, untrimmed and case-sensitive
    /// (`validation_failed` otherwise).
    /// A deletion already pending is `deletion_pending`; the caller's last organization that is not
    /// pending deletion is `last_owned_organization` (D13).
    /// Owner only (`delete_organization`), checked before the body is read.
    #[oai(
        path = "/:org_id/deletion",
        method = "post",
        tag = "Tag::Deletion",
        operation_id = "delete_organization"
    )]
    async fn request(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<DeletionRequest>,
    ) -> Result<
        Accepted<DeletionBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            DeletionPending,
            LastOwnedOrganization
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: only the owner learns
        // anything from the body.
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::DeleteOrganization)
            .await?;
        let body = body.value()?;
        let view = self
            .0
            .tenancy
            .request_deletion(caller, org, &body.confirm_name)
            .await?;
        Ok(Accepted::Accepted(Json(DeletionBody::new(
            view.organization_id,
            view.deletion,
        ))))
    }

    /// Get an organization's scheduled deletion
    ///
    /// Returns the scheduled deletion of an organization pending deletion; 404 when none is
    /// scheduled.
    /// Owner only (`delete_organization`).
    #[oai(
        path = "/:org_id/deletion",
        method = "get",
        tag = "Tag::Deletion",
        operation_id = "get_organization_deletion"
    )]
    async fn get(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<Json<DeletionBody>, fails![Unauthenticated, NotFound, Forbidden]> {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ViewDeletion)
            .await?;
        let view = self.0.tenancy.deletion(caller, org).await?;
        Ok(Json(DeletionBody::new(view.organization_id, view.deletion)))
    }

    /// Restore an organization
    ///
    /// Cancels the scheduled deletion before `purge_after`: members, resources, settings and roles
    /// come back as they were, while revoked invitations stay revoked and nobody's active
    /// organization moves back.
    /// Returns the organization as the owner sees it; 404 when it is not pending deletion.
    /// Owner only (`delete_organization`).
    #[oai(
        path = "/:org_id/deletion",
        method = "delete",
        tag = "Tag::Deletion",
        operation_id = "restore_organization"
    )]
    async fn restore(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<Json<Org>, fails![Unauthenticated, NotFound, Forbidden]> {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::RestoreOrganization)
            .await?;
        let view = self.0.tenancy.restore(caller, org).await?;
        Ok(Json((&view).into()))
    }
}
