//! Connections of an organization, on the generic path of resources; their
//! credentials are write-only for every role (D9).

use crate::errors::fails;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tenancy_core::resource::{
    ConnectionType, Credentials, Details, NewResource, Resource, ResourceKind, ResourceName,
    ResourcePatch,
};
use tenancy_core::{Operation, ResourceId};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::kinds::{FromResource, Kinds, all_good, optional, org};
use super::{Result, Tag};
use crate::auth::Session;
use crate::body::{Fields, JsonBody};
use crate::paging::list;
use crate::respond::{Created, NoContent};
use crate::state::AppState;

/// A connection as every role sees it: never its credentials (D9).
#[derive(Debug, Clone, Object)]
pub(crate) struct ConnectionBody {
    id: Uuid,
    label: String,
    #[oai(rename = "type")]
    connection_type: String,
    has_credentials: bool,
    #[oai(nullable)]
    credentials_updated_at: Option<DateTime<Utc>>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FromResource for ConnectionBody {
    const KIND: ResourceKind = ResourceKind::Connection;
    fn convert(r: &Resource, _: DateTime<Utc>) -> Option<Self> {
        let Details::Connection(connection) = &r.details else {
            return None;
        };
        Some(Self {
            id: r.id.as_uuid(),
            label: r.name.as_str().to_owned(),
            connection_type: connection.connection_type.as_str().to_owned(),
            has_credentials: connection.credentials_updated_at.is_some(),
            credentials_updated_at: connection.credentials_updated_at,
            created_by: r.created_by.as_uuid(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

list!(
    /// A page of connections, without credentials.
    ConnectionList,
    ConnectionBody
);

/// A new connection. The credentials are stored encrypted and never
/// returned, to anyone (D9).
#[derive(Object)]
pub(crate) struct ConnectionRequest {
    /// Trimmed, 1 to 200 characters.
    label: String,
    /// What it connects to: 1 to 64 letters, digits, `_`, `-` or `.`.
    #[oai(rename = "type")]
    connection_type: String,
    /// Secret names to values: 1 to 32 entries, values of up to 8,192 characters.
    credentials: BTreeMap<String, String>,
}

/// New credentials for a connection, replacing the old ones.
#[derive(Object)]
pub(crate) struct CredentialsRequest {
    credentials: BTreeMap<String, String>,
}

// Bodies that carry secrets never print them.
impl std::fmt::Debug for ConnectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRequest")
            .field("label", &self.label)
            .field("type", &self.connection_type)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CredentialsRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsRequest(..)")
    }
}

/// Changes to a connection.
#[derive(Debug, Object)]
pub(crate) struct ConnectionPatch {
    #[oai(nullable)]
    label: Option<String>,
}

fn credentials(fields: &mut Fields, raw: BTreeMap<String, String>) -> Option<Credentials> {
    let entries = raw.into_iter().map(|(k, v)| (k, Zeroizing::new(v)));
    fields.check("credentials", Credentials::parse(entries))
}

/// The operations of this area.
pub(crate) struct ConnectionsApi(pub(crate) AppState);

#[OpenApi(prefix_path = "/v1/organizations")]
impl ConnectionsApi {
    /// List connections
    ///
    /// Lists the organization's connections, oldest first, never with their credentials:
    /// `has_credentials` and `credentials_updated_at` say whether and when they were set (D9).
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/connections",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "list_connections"
    )]
    async fn connections(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<ConnectionList>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let items = Kinds(&self.0).list(&auth, org(&org_id)).await?;
        Ok(ConnectionList::of(items, limit.0, cursor.0)?)
    }

    /// Create a connection
    ///
    /// Creates a connection with a label, a type and credentials; the credentials are stored
    /// encrypted and never returned, to any role (D9).
    /// The credentials hold 1 to 32 entries of up to 8,192 characters each, within the 1 MiB limit of a JSON
    /// body.
    /// Needs `manage_connections`; counts toward the plan's `connections` limit (D10).
    #[oai(
        path = "/:org_id/connections",
        method = "post",
        tag = "Tag::Resources",
        operation_id = "create_connection"
    )]
    async fn create_connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        body: JsonBody<ConnectionRequest>,
    ) -> Result<
        Created<ConnectionBody>,
        fails![
            Unauthenticated,
            NotFound,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            Forbidden,
            QuotaExceeded,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .create(&auth, org(&org_id), body, |f, body| {
                let label = f.check("label", ResourceName::parse(&body.label));
                let connection_type = f.check("type", ConnectionType::parse(&body.connection_type));
                let credentials = credentials(f, body.credentials);
                Some(NewResource::Connection {
                    label: label?,
                    connection_type: connection_type?,
                    credentials: credentials?,
                })
            })
            .await?)
    }

    /// Get a connection
    ///
    /// Returns one connection of the organization, without its credentials (D9).
    /// Needs `view_resources`.
    #[oai(
        path = "/:org_id/connections/:connection_id",
        method = "get",
        tag = "Tag::Resources",
        operation_id = "get_connection"
    )]
    async fn connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        connection_id: Path<Uuid>,
    ) -> Result<
        Json<ConnectionBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Json(
            Kinds(&self.0)
                .one(&auth, org(&org_id), connection_id.0)
                .await?,
        ))
    }

    /// Relabel a connection
    ///
    /// Changes a connection's label; its type and credentials stay as they are.
    /// Needs `manage_connections`.
    #[oai(
        path = "/:org_id/connections/:connection_id",
        method = "patch",
        tag = "Tag::Resources",
        operation_id = "update_connection"
    )]
    async fn update_connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        connection_id: Path<Uuid>,
        body: JsonBody<ConnectionPatch>,
    ) -> Result<
        Json<ConnectionBody>,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .update(&auth, org(&org_id), connection_id.0, body, |f, body| {
                let label = optional(f, "label", body.label, ResourceName::parse);
                Some(ResourcePatch::Connection { label: label? })
            })
            .await?)
    }

    /// Replace a connection's credentials
    ///
    /// Replaces a connection's credentials and moves `credentials_updated_at`; the old ones are
    /// gone and the new ones are never returned (D9).
    /// The credentials hold 1 to 32 entries of up to 8,192 characters each, within the 1 MiB limit of a JSON
    /// body.
    /// Needs `manage_connections`.
    #[oai(
        path = "/:org_id/connections/:connection_id/credentials",
        method = "put",
        tag = "Tag::Resources",
        operation_id = "rotate_connection_credentials"
    )]
    async fn rotate_credentials(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        connection_id: Path<Uuid>,
        body: JsonBody<CredentialsRequest>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            BadRequest,
            PayloadTooLarge,
            ValidationFailed,
            OrganizationPendingDeletion
        ],
    > {
        let org = org(&org_id);
        let kinds = Kinds(&self.0);
        let caller = kinds
            .authorized(&auth, org, Operation::RotateCredentials)
            .await?;
        let mut fields = Fields::default();
        let parsed = credentials(&mut fields, body.value()?.credentials);
        let parsed = all_good(fields, parsed)?;
        self.0
            .tenancy
            .set_credentials(caller, org, ResourceId::from_uuid(connection_id.0), parsed)
            .await?;
        Ok(NoContent::NoContent)
    }

    /// Delete a connection
    ///
    /// Deletes a connection and erases its credentials; the agents that used it stop using it, and
    /// it leaves every member's sidebar.
    /// Needs `manage_connections`.
    #[oai(
        path = "/:org_id/connections/:connection_id",
        method = "delete",
        tag = "Tag::Resources",
        operation_id = "delete_connection"
    )]
    async fn delete_connection(
        &self,
        auth: Session,
        org_id: Path<Uuid>,
        connection_id: Path<Uuid>,
    ) -> Result<
        NoContent,
        fails![
            Unauthenticated,
            NotFound,
            Forbidden,
            OrganizationPendingDeletion
        ],
    > {
        Ok(Kinds(&self.0)
            .delete(
                &auth,
                org(&org_id),
                ResourceKind::Connection,
                connection_id.0,
            )
            .await?)
    }
}
