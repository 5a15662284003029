//! Ownership transfer (R28): the owner offers the organization to a member,
//! who accepts or declines; the owner may withdraw the offer.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tenancy_core::entity::OwnershipTransfer;
use tenancy_core::{Operation, OrganizationId, UserId};
use uuid::Uuid;

use super::organizations::Org;
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::JsonBody;
use crate::problem::ApiError;
use crate::respond::{Created, NoContent};
use crate::state::AppState;

/// Where a transfer is: only a pending one is ever shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum TransferStatus {
    Pending,
}

/// A pending offer of the organization's ownership to one of its members.
#[derive(Debug, Clone, Object)]
pub(crate) struct TransferBody {
    pub(crate) id: Uuid,
    pub(crate) organization_id: Uuid,
    /// The owner who offered it.
    pub(crate) from_user_id: Uuid,
    /// The member it is offered to.
    pub(crate) to_user_id: Uuid,
    pub(crate) status: TransferStatus,
    pub(crate) created_at: DateTime<Utc>,
    /// 72 hours after `created_at`; then it can no longer be accepted.
    pub(crate) expires_at: DateTime<Utc>,
}

impl From<&OwnershipTransfer> for TransferBody {
    fn from(transfer: &OwnershipTransfer) -> Self {
        Self {
            id: transfer.id.as_uuid(),
            organization_id: transfer.organization_id.as_uuid(),
            from_user_id: transfer.from_user_id.as_uuid(),
            to_user_id: transfer.to_user_id.as_uuid(),
            status: TransferStatus::Pending,
            created_at: transfer.created_at,
            expires_at: transfer.expires_at,
        }
    }
}

/// Whom to offer the ownership to.
#[derive(Debug, Object)]
pub(crate) struct TransferRequest {
    /// The id of a member of the organization other than the owner.
    // A string here, so that a malformed id is refused naming this field;
    // `openapi::limits` gives the document its format.
    pub(crate) user_id: String,
}

/// The operations of this area.
pub(crate) struct OwnershipApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl OwnershipApi {
    /// Offer the ownership to a member
    ///
    /// Offers the organization to one of its members other than the owner
    /// (`transfer_target_invalid` otherwise); the offer expires after 72 hours, and the member is
    /// sent an email naming the organization and the owner.
    /// A new offer replaces a pending one.
    /// Refused with `last_owned_organization` when this is the owner's last organization that is
    /// not pending deletion: every user keeps one of their own (D13).
    /// Owner only (`transfer_ownership`), with a verified email address (`email_unverified`
    /// otherwise, unless the server runs with `--allow-unverified-inviters`), checked before the
    /// body is read.
    #[oai(
        path = "/:org_id/ownership-transfer",
        method = "post",
        tag = "Tag::Ownership",
        operation_id = "request_ownership_transfer"
    )]
    async fn request(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<TransferRequest>,
    ) -> Result<
        Created<TransferBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            EmailUnverified,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            TransferTargetInvalid,
            LastOwnedOrganization,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: only the owner learns
        // anything from the body.
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .authorize_verified(caller, org, Operation::TransferOwnership)
            .await?;
        let to = Uuid::parse_str(&body.value()?.user_id)
            .map(UserId::from_uuid)
            .map_err(|_| ApiError::invalid("user_id", "must be a UUID"))?;
        let transfer = self.0.tenancy.request_transfer(caller, org, to).await?;
        Ok(Created::Created(Json((&transfer).into())))
    }

    /// Get the pending ownership transfer
    ///
    /// Returns the pending offer of the organization's ownership, to the owner and to the member
    /// it is offered to; to every other member there is none (404), as once it expired.
    #[oai(
        path = "/:org_id/ownership-transfer",
        method = "get",
        tag = "Tag::Ownership",
        operation_id = "get_ownership_transfer"
    )]
    async fn get(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<
        Json<TransferBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::ViewTransfer)
            .await?;
        let transfer = self.0.tenancy.transfer(caller, org).await?;
        Ok(Json((&transfer).into()))
    }

    /// Withdraw the pending ownership transfer
    ///
    /// The owner withdraws the pending offer; 404 when there is none.
    /// Owner only (`transfer_ownership`).
    #[oai(
        path = "/:org_id/ownership-transfer",
        method = "delete",
        tag = "Tag::Ownership",
        operation_id = "cancel_ownership_transfer"
    )]
    async fn cancel(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::CancelTransfer)
            .await?;
        self.0.tenancy.cancel_transfer(caller, org).await?;
        Ok(NoContent::NoContent)
    }

    /// Accept the ownership
    ///
    /// The member the pending offer names becomes the owner and the previous owner becomes an
    /// `admin`, in one transaction (D8); returns the organization as the new owner sees it.
    /// Any other member is refused with `forbidden`.
    /// An offer past its expiry is `transfer_expired`; `last_owned_organization` when the previous
    /// owner would be left without an organization of their own that is not pending deletion (D13).
    #[oai(
        path = "/:org_id/ownership-transfer/accept",
        method = "post",
        tag = "Tag::Ownership",
        operation_id = "accept_ownership_transfer"
    )]
    async fn accept(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<
        Json<Org>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            TransferExpired,
            LastOwnedOrganization,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::RespondToTransfer)
            .await?;
        let view = self.0.tenancy.accept_transfer(caller, org).await?;
        Ok(Json((&view).into()))
    }

    /// Decline the ownership
    ///
    /// The member the pending offer names turns it down; nothing else changes.
    /// Any other member is refused with `forbidden`; 404 when there is no pending offer.
    #[oai(
        path = "/:org_id/ownership-transfer/decline",
        method = "post",
        tag = "Tag::Ownership",
        operation_id = "decline_ownership_transfer"
    )]
    async fn decline(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::RespondToTransfer)
            .await?;
        self.0.tenancy.decline_transfer(caller, org).await?;
        Ok(NoContent::NoContent)
    }
}
