//! Roles and capabilities: the permission matrix, an organization's roles,
//! and its custom roles (R25, R26).

use crate::errors::fails;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::decide::{NewRole, RolePatch};
use tenancy_core::value::{RoleDescription, RoleName};
use tenancy_core::{Capability, CapabilitySet, Operation, OrganizationId, Role, RoleKey};
use uuid::Uuid;

use super::kinds::all_good;
use super::{Result, Tag, capability_names, role_key};
use crate::auth::Session;
use crate::body::{Fields, JsonBody};
use crate::paging::list;
use crate::respond::{Created, NoContent};
use crate::state::AppState;

/// A built-in role of the matrix and what it may do.
#[derive(Debug, Clone, Object)]
pub(crate) struct RoleBody {
    /// The role's key.
    pub(crate) role: String,
    /// Its name, for people.
    pub(crate) name: String,
    /// Its capabilities, in the matrix's order.
    pub(crate) capabilities: Vec<String>,
}

/// A capability and what it allows.
#[derive(Debug, Clone, Object)]
pub(crate) struct CapabilityBody {
    pub(crate) name: String,
    pub(crate) description: String,
    /// Whether a role other than the owner's may hold it: `false` for `delete_organization` and
    /// `transfer_ownership`, which stay with the owner (D14).
    pub(crate) grantable: bool,
}

/// An operation of the table and the one capability it needs.
#[derive(Debug, Clone, Object)]
pub(crate) struct OperationBody {
    /// The operation's stable snake_case name, e.g. `create_agent` or `invite_member`.
    pub(crate) name: String,
    /// The capability a member needs for it.
    pub(crate) capability: String,
    /// What it is, for people.
    pub(crate) description: String,
}

/// The permission matrix.
#[derive(Debug, Clone, Object)]
pub(crate) struct RolesBody {
    /// The built-in roles, most powerful first.
    pub(crate) items: Vec<RoleBody>,
    /// Every capability, in the matrix's order.
    pub(crate) capabilities: Vec<CapabilityBody>,
    /// The table of operations and the capability each needs; clients enable controls from it.
    /// In the order of the API's sections.
    pub(crate) operations: Vec<OperationBody>,
}

impl RolesBody {
    pub(crate) fn matrix() -> Self {
        Self {
            items: Role::BUILTIN
                .iter()
                .map(|role| RoleBody {
                    role: role_key(role),
                    name: role.name().as_str().to_owned(),
                    capabilities: capability_names(role),
                })
                .collect(),
            capabilities: Capability::ALL
                .into_iter()
                .map(|c| CapabilityBody {
                    name: c.name().to_owned(),
                    description: c.description().to_owned(),
                    grantable: c.is_grantable(),
                })
                .collect(),
            operations: Operation::ALL
                .into_iter()
                .map(|op| OperationBody {
                    name: op.name(),
                    capability: op.capability().name().to_owned(),
                    description: op.description(),
                })
                .collect(),
        }
    }
}

/// A role of an organization: one of the four built-in roles, or one of its
/// own.
#[derive(Debug, Clone, Object)]
pub(crate) struct RoleDefinition {
    /// The role's key, unique in the organization.
    pub(crate) key: String,
    /// Its name, for people.
    pub(crate) name: String,
    /// What it is for; empty when nobody said.
    pub(crate) description: String,
    /// Whether it is one of the built-in roles, which cannot be edited or deleted.
    pub(crate) builtin: bool,
    /// Its capabilities, in the matrix's order.
    pub(crate) capabilities: Vec<String>,
}

impl From<&Role> for RoleDefinition {
    fn from(role: &Role) -> Self {
        Self {
            key: role_key(role),
            name: role.name().as_str().to_owned(),
            description: role.description().as_str().to_owned(),
            builtin: role.is_builtin(),
            capabilities: capability_names(role),
        }
    }
}

list!(
    /// A page of an organization's roles.
    RoleList,
    RoleDefinition
);

/// A custom role to create.
#[derive(Debug, Object)]
pub(crate) struct RoleRequest {
    /// 2 to 40 characters of `a-z`, `0-9`, `_` and `-`, starting with a letter, and not a built-in
    /// role's key.
    pub(crate) key: String,
    /// Trimmed, 1 to 60 characters.
    pub(crate) name: String,
    /// Trimmed, at most 500 characters; empty when absent or `null`.
    #[oai(nullable)]
    pub(crate) description: Option<String>,
    /// Names of the matrix, each at most once, `view_resources` among them.
    pub(crate) capabilities: Vec<String>,
}

/// What to change of a custom role; an absent or `null` field stays as it is.
#[derive(Debug, Object)]
pub(crate) struct RolePatchRequest {
    /// Trimmed, 1 to 60 characters.
    #[oai(nullable)]
    pub(crate) name: Option<String>,
    /// Trimmed, at most 500 characters; `""` clears it.
    #[oai(nullable)]
    pub(crate) description: Option<String>,
    /// The whole new set: names of the matrix, each at most once, `view_resources` among them.
    #[oai(nullable)]
    pub(crate) capabilities: Option<Vec<String>>,
}

/// The set that a request names: each name one of the matrix, none twice.
/// `view_resources` and what the caller may give are the use case's to judge.
fn capability_set(fields: &mut Fields, names: &[String]) -> Option<CapabilitySet> {
    let mut set = CapabilitySet::EMPTY;
    for name in names {
        let capability = fields.check("capabilities", Capability::parse(name))?;
        if set.contains(capability) {
            let twice: std::result::Result<(), String> =
                Err(format!("`{capability}` appears more than once"));
            fields.check("capabilities", twice);
            return None;
        }
        set = set.with(capability);
    }
    Some(set)
}

fn description(fields: &mut Fields, raw: &str) -> Option<RoleDescription> {
    fields.check("description", RoleDescription::parse(raw))
}

/// The operations of this area.
pub(crate) struct RolesApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1")]
impl RolesApi {
    /// List the built-in roles and the capabilities
    ///
    /// Returns the permission matrix: each built-in role (`owner`, `admin`, `editor`, `viewer`)
    /// with its name and capabilities, and each capability with a description and whether a role
    /// other than the owner's may hold it (`grantable`), all in the matrix's order.
    /// `operations` is the table of operations and the capability each needs; clients enable
    /// controls from it: a member may ask for an operation when the organization's
    /// `capabilities` include the operation's `capability`.
    /// Organizations add custom roles: `GET /v1/organizations/{org_id}/roles` lists them.
    /// No authentication.
    #[oai(
        path = "/roles",
        method = "get",
        tag = "Tag::Roles",
        operation_id = "list_roles"
    )]
    async fn matrix(&self) -> Json<RolesBody> {
        Json(RolesBody::matrix())
    }

    /// List an organization's roles
    ///
    /// Lists the roles that members of the organization may hold: the four built-in roles first,
    /// in the matrix's order, then the organization's custom roles, oldest first.
    /// Any member (`view_resources`).
    #[oai(
        path = "/organizations/:org_id/roles",
        method = "get",
        tag = "Tag::Roles",
        operation_id = "list_organization_roles"
    )]
    async fn roles(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<RoleList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        let roles = self
            .0
            .tenancy
            .roles(caller, OrganizationId::from_uuid(org_id.0))
            .await?;
        let bodies = roles.iter().map(|view| (&view.role).into()).collect();
        Ok(RoleList::of(bodies, limit.0, cursor.0)?)
    }

    /// Create a custom role
    ///
    /// Creates a role of the organization with a key, a name, a description and a set of
    /// capabilities, which members can then be given and invited with (R26).
    /// The key has 2 to 40 characters of `a-z`, `0-9`, `_` and `-`, starts with a letter and is not
    /// a built-in role's; the name has 1 to 60 characters and the description at most 500, both
    /// trimmed; the capabilities are names of the matrix, each at most once, and include
    /// `view_resources` (422 otherwise).
    /// An owner-only capability, or one the caller lacks, is `capability_not_grantable` (D14); a key
    /// the organization uses already is `role_key_taken`; an organization has at most 20 custom
    /// roles (`role_limit_reached`).
    /// Needs `manage_roles`, checked before the body is read.
    #[oai(
        path = "/organizations/:org_id/roles",
        method = "post",
        tag = "Tag::Roles",
        operation_id = "create_role"
    )]
    async fn create_role(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<RoleRequest>,
    ) -> Result<
        Created<RoleDefinition>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            CapabilityNotGrantable,
            RoleKeyTaken,
            RoleLimitReached,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::CreateRole)
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let key = fields.check("key", RoleKey::custom(&body.key));
        let name = fields.check("name", RoleName::parse(&body.name));
        let description = description(&mut fields, body.description.as_deref().unwrap_or(""));
        let capabilities = capability_set(&mut fields, &body.capabilities);
        let input = (|| {
            Some(NewRole {
                key: key?,
                name: name?,
                description: description?,
                capabilities: capabilities?,
            })
        })();
        let input = all_good(fields, input)?;
        let created = self.0.tenancy.create_role(caller, org, input).await?;
        Ok(Created::Created(Json((&created.role).into())))
    }

    /// Edit a custom role
    ///
    /// Changes a custom role's name, description or capabilities (the whole new set) and returns
    /// the role; what is absent stays.
    /// Members holding the role have its new capabilities on their next request, on every
    /// instance (R26, D12).
    /// The caller must hold every capability of the role, before and after the change
    /// (`capability_not_grantable` otherwise, D14); a built-in role cannot be edited
    /// (`role_builtin`).
    /// Needs `manage_roles`, checked before the body is read.
    #[oai(
        path = "/organizations/:org_id/roles/:key",
        method = "patch",
        tag = "Tag::Roles",
        operation_id = "update_role"
    )]
    async fn update_role(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        key: Path<String>,
        body: JsonBody<RolePatchRequest>,
    ) -> Result<
        Json<RoleDefinition>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            CapabilityNotGrantable,
            RoleBuiltin,
            OrganizationPendingDeletion
        ],
    > {
        let org = OrganizationId::from_uuid(org_id.0);
        // Authorization comes before validation: a non-member or a viewer
        // learns nothing from the body.
        let caller = self
            .0
            .authorized(&auth.0.token, org, Operation::UpdateRole)
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let name = match &body.name {
            None => Some(None),
            Some(raw) => fields.check("name", RoleName::parse(raw)).map(Some),
        };
        let description = match &body.description {
            None => Some(None),
            Some(raw) => description(&mut fields, raw).map(Some),
        };
        let capabilities = match &body.capabilities {
            None => Some(None),
            Some(names) => capability_set(&mut fields, names).map(Some),
        };
        let patch = (|| {
            Some(RolePatch {
                name: name?,
                description: description?,
                capabilities: capabilities?,
            })
        })();
        let patch = all_good(fields, patch)?;
        let updated = self
            .0
            .tenancy
            .update_role(caller, org, &key.0, patch)
            .await?;
        Ok(Json((&updated.role).into()))
    }

    /// Delete a custom role
    ///
    /// Deletes a custom role of the organization.
    /// A role that members or pending invitations hold is `role_in_use`, unless `reassign_to` names
    /// another role the caller could assign: those members and invitations then move to it in the
    /// same transaction. `reassign_to` naming `owner`, the role itself or no role of the
    /// organization is 422; naming a role holding a capability the caller lacks is
    /// `role_not_assignable`.
    /// The caller must hold every capability of the role (`capability_not_grantable` otherwise,
    /// D14); a built-in role cannot be deleted (`role_builtin`).
    /// Needs `manage_roles`.
    #[oai(
        path = "/organizations/:org_id/roles/:key",
        method = "delete",
        tag = "Tag::Roles",
        operation_id = "delete_role"
    )]
    async fn delete_role(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        key: Path<String>,
        /// The key of the role that the holders of the deleted one move to.
        reassign_to: Query<Option<String>>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            CapabilityNotGrantable,
            RoleNotAssignable,
            RoleBuiltin,
            RoleInUse,
            OrganizationPendingDeletion
        ],
    > {
        let caller = self.0.caller(&auth.0.token).await?;
        self.0
            .tenancy
            .delete_role(
                caller,
                OrganizationId::from_uuid(org_id.0),
                &key.0,
                reassign_to.0.as_deref(),
            )
            .await?;
        Ok(NoContent::NoContent)
    }
}
