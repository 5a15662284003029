//! Organizations and the switcher: the caller's organizations, creating and
//! renaming one, and the active organization.

use crate::errors::fails;
use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tenancy_core::entity::Organization;
use tenancy_core::service::OrganizationView;
use tenancy_core::value::OrganizationName;
use tenancy_core::{Operation, OrganizationId};
use uuid::Uuid;

use super::{Result, Tag, capability_names, role_key};
use crate::auth::Session;
use crate::body::JsonBody;
use crate::paging::list;
use crate::problem::ApiError;
use crate::respond::Created;
use crate::state::AppState;

/// Where an organization is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub(crate) enum OrganizationStatus {
    Active,
    /// Its owner asked for its deletion; it is purged after `purge_after`
    /// unless restored.
    PendingDeletion,
}

impl OrganizationStatus {
    pub(crate) const fn of(organization: &Organization) -> Self {
        if organization.is_pending_deletion() {
            Self::PendingDeletion
        } else {
            Self::Active
        }
    }
}

/// An organization with the caller's own role and capabilities (R15).
#[derive(Debug, Clone, Object)]
pub(crate) struct Org {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    /// The plan id.
    pub(crate) plan: String,
    pub(crate) owner_id: Uuid,
    pub(crate) created_at: DateTime<Utc>,
    /// The key of the caller's role: a built-in one (`owner`, `admin`, `editor`, `viewer`) or
    /// one of the organization's custom roles.
    pub(crate) role: String,
    /// The name of the caller's role, for people (the badge of the switcher).
    pub(crate) role_name: String,
    /// Whether the caller owns it.
    pub(crate) is_owner: bool,
    /// What the caller's role may do here, in the matrix's order: a client disables what is
    /// missing.
    pub(crate) capabilities: Vec<String>,
    pub(crate) status: OrganizationStatus,
    /// When an organization pending deletion is purged for good; `null` otherwise.
    #[oai(nullable)]
    pub(crate) purge_after: Option<DateTime<Utc>>,
}

impl From<&OrganizationView> for Org {
    fn from(view: &OrganizationView) -> Self {
        let o = &view.organization;
        Self {
            id: o.id.as_uuid(),
            name: o.name.as_str().to_owned(),
            plan: o.plan.as_str().to_owned(),
            owner_id: o.owner_id.as_uuid(),
            created_at: o.created_at,
            role: role_key(&view.role),
            role_name: view.role.name().as_str().to_owned(),
            is_owner: view.is_owner(),
            capabilities: capability_names(&view.role),
            status: OrganizationStatus::of(o),
            purge_after: o.deletion.map(|d| d.purge_after),
        }
    }
}

/// An organization in the switcher (R7).
#[derive(Debug, Clone, Object)]
pub(crate) struct SwitcherEntry {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    /// The key of the caller's role.
    pub(crate) role: String,
    /// The name of the caller's role: the badge.
    pub(crate) role_name: String,
    /// A crown in the switcher.
    pub(crate) is_owner: bool,
    /// A checkmark in the switcher.
    pub(crate) is_active: bool,
    pub(crate) status: OrganizationStatus,
}

impl From<&OrganizationView> for SwitcherEntry {
    fn from(view: &OrganizationView) -> Self {
        Self {
            id: view.organization.id.as_uuid(),
            name: view.organization.name.as_str().to_owned(),
            role: role_key(&view.role),
            role_name: view.role.name().as_str().to_owned(),
            is_owner: view.is_owner(),
            is_active: view.is_active,
            status: OrganizationStatus::of(&view.organization),
        }
    }
}

list!(
    /// A page of the caller's organizations.
    OrganizationList,
    SwitcherEntry
);

/// A name for an organization.
#[derive(Debug, Object)]
pub(crate) struct NameRequest {
    /// Trimmed, 1 to 100 characters, no control characters.
    pub(crate) name: String,
}

/// The active organization.
#[derive(Debug, Object)]
pub(crate) struct ActiveResponse {
    pub(crate) organization: SwitcherEntry,
}

/// A choice of active organization.
#[derive(Debug, Object)]
pub(crate) struct SwitchRequest {
    pub(crate) organization_id: Uuid,
}

/// The operations of this area.
pub(crate) struct OrganizationsApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl OrganizationsApi {
    /// List the caller's organizations
    ///
    /// Lists every organization the caller owns or is a member of, for the switcher, with the
    /// caller's role, whether they own it and whether it is the active one (R7).
    /// An organization pending deletion is listed to its owner alone, with `status`
    /// `pending_deletion`; its other members no longer see it.
    /// Oldest membership first; at a tie the caller's own organization comes first.
    /// Any signed-in user.
    #[oai(
        path = "/organizations",
        method = "get",
        tag = "Tag::Organizations",
        operation_id = "list_organizations"
    )]
    async fn organizations(
        &self,
        auth: Session,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<Json<OrganizationList>, fails![Unauthenticated, ValidationFailed]> {
        let caller = self.0.caller(&auth.0.token).await?;
        let views = self.0.tenancy.organizations(caller).await?;
        let entries = views.iter().map(SwitcherEntry::from).collect();
        Ok(OrganizationList::of(entries, limit.0, cursor.0)?)
    }

    /// Create an organization
    ///
    /// Creates an organization owned by the caller, on the `free` plan and without resources, and
    /// makes it the caller's active organization (R5).
    /// The name is trimmed and has 1 to 100 characters, without control, bidirectional or
    /// zero-width characters.
    /// Any signed-in user; there is no limit on how many organizations a user creates.
    #[oai(
        path = "/organizations",
        method = "post",
        tag = "Tag::Organizations",
        operation_id = "create_organization"
    )]
    async fn create_organization(
        &self,
        auth: Session,
        body: JsonBody<NameRequest>,
    ) -> Result<
        Created<Org>,
        fails![
            Unauthenticated,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        let name = OrganizationName::parse(&body.value()?.name)
            .map_err(|e| ApiError::invalid("name", e))?;
        let view = self.0.tenancy.create_organization(caller, name).await?;
        Ok(Created::Created(Json((&view).into())))
    }

    /// Get an organization
    ///
    /// Returns an organization with the caller's own role, ownership and capabilities (R15), so
    /// that a client can disable what the caller may not do.
    /// An organization pending deletion is shown to its owner alone, with `status`
    /// `pending_deletion` and its `purge_after`.
    /// Any member (`view_resources`); to anyone else the organization is as missing as an unknown
    /// one (D1).
    #[oai(
        path = "/organizations/:org_id",
        method = "get",
        tag = "Tag::Organizations",
        operation_id = "get_organization"
    )]
    async fn organization(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
    ) -> Result<Json<Org>, fails![Unauthenticated, NotFound]> {
        let caller = self.0.caller(&auth.0.token).await?;
        let view = self
            .0
            .tenancy
            .organization(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        Ok(Json((&view).into()))
    }

    /// Rename an organization
    ///
    /// Sets the organization's name, trimmed, 1 to 100 characters, and returns the organization as
    /// the caller sees it.
    /// Needs `rename_organization`, checked before the body is read.
    #[oai(
        path = "/organizations/:org_id",
        method = "patch",
        tag = "Tag::Organizations",
        operation_id = "rename_organization"
    )]
    async fn rename(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<NameRequest>,
    ) -> Result<
        Json<Org>,
        fails![
            Unauthenticated,
            NotFound,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::RenameOrganization)
            .await?;
        let name = OrganizationName::parse(&body.value()?.name)
            .map_err(|e| ApiError::invalid("name", e))?;
        let view = self.0.tenancy.rename(caller, org, name).await?;
        Ok(Json((&view).into()))
    }

    /// Get the caller's active organization
    ///
    /// Returns the caller's active organization as an entry of the switcher.
    /// When the stored choice is no longer accessible (the caller was removed from it, left it, or
    /// it is pending deletion), it falls back to the caller's default organization if the caller
    /// can still reach it, else to the oldest active organization the caller owns, and stores that
    /// choice (R19); a restore moves nobody back.
    /// Any signed-in user.
    #[oai(
        path = "/me/active-organization",
        method = "get",
        tag = "Tag::Organizations",
        operation_id = "get_active_organization"
    )]
    async fn active(&self, auth: Session) -> Result<Json<ActiveResponse>, fails![Unauthenticated]> {
        let caller = self.0.caller(&auth.0.token).await?;
        let view = self.0.tenancy.active_organization(caller).await?;
        Ok(Json(ActiveResponse {
            organization: (&view).into(),
        }))
    }

    /// Switch the caller's active organization
    ///
    /// Makes an organization the caller belongs to their active one and returns it as an entry of
    /// the switcher (R8).
    /// The choice is stored per user, so it holds across sessions and devices.
    /// Any member of that organization; an organization pending deletion cannot be the active one
    /// (`organization_pending_deletion` for its owner, 404 for everyone else).
    #[oai(
        path = "/me/active-organization",
        method = "put",
        tag = "Tag::Organizations",
        operation_id = "set_active_organization"
    )]
    async fn switch(
        &self,
        auth: Session,
        body: JsonBody<SwitchRequest>,
    ) -> Result<
        Json<ActiveResponse>,
        fails![
            Unauthenticated,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            NotFound,
            OrganizationPendingDeletion
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        let body = body.value()?;
        let view = self
            .0
            .tenancy
            .switch_active(caller, OrganizationId::from_uuid(body.organization_id))
            .await?;
        Ok(Json(ActiveResponse {
            organization: (&view).into(),
        }))
    }
}
