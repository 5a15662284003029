//! The one path that every kind of resource takes: authorize the kind's
//! operation before the body is read or validated, call the generic
//! use case, convert. Only the bodies and their parsing differ per kind, and
//! they live in the kind's module.

use chrono::{DateTime, Utc};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use tenancy_core::resource::{NewResource, Resource, ResourceKind, ResourcePatch, ValueError};
use tenancy_core::{Operation, OrganizationId, ResourceId, UserId};
use uuid::Uuid;

use super::Result;
use crate::auth::Session;
use crate::body::{Fields, JsonBody};
use crate::problem::ApiError;
use crate::respond::{Created, NoContent};
use crate::state::AppState;

/// A resource's body, by its kind. Each conversion is handed only resources
/// of its kind (the use cases filter by kind); another kind is a bug, which
/// leaves as a 500 rather than a wrong body.
pub(crate) trait FromResource: poem_openapi::types::ToJSON + Send + Sync + Sized {
    const KIND: ResourceKind;
    /// `now` is the instant of the use case that gave the resource (its
    /// `AsOf`, or the `updated_at` it wrote), for what is derived from time
    /// (the next run of a schedule).
    fn convert(resource: &Resource, now: DateTime<Utc>) -> Option<Self>;

    fn from_resource(resource: &Resource, now: DateTime<Utc>) -> Result<Self> {
        Self::convert(resource, now).ok_or_else(|| {
            tracing::error!(id = %resource.id, kind = %resource.kind(), expected = %Self::KIND, "resource of another kind");
            ApiError::internal()
        })
    }
}

/// A list of ids wrapped in their type, when the request gives one.
pub(crate) fn ids<T>(raw: Option<Vec<Uuid>>, wrap: fn(Uuid) -> T) -> Option<Vec<T>> {
    raw.map(|ids| ids.into_iter().map(wrap).collect())
}

/// A field of a patch: absent stays absent, present is parsed.
pub(crate) fn optional<T>(
    fields: &mut Fields,
    name: &str,
    raw: Option<String>,
    parse: fn(&str) -> std::result::Result<T, ValueError>,
) -> Option<Option<T>> {
    match raw {
        None => Some(None),
        Some(raw) => fields.check(name, parse(&raw)).map(Some),
    }
}

/// Returns the parsed value once every field is known good.
pub(crate) fn all_good<T>(fields: Fields, value: Option<T>) -> Result<T> {
    fields.finish()?;
    value.ok_or_else(|| ApiError::invalid("body", "invalid request"))
}

/// What every kind shares: who calls, where, with which capability.
pub(crate) struct Kinds<'a>(pub(crate) &'a AppState);

impl Kinds<'_> {
    pub(crate) async fn caller(&self, auth: &Session) -> Result<UserId> {
        self.0.caller(&auth.0.token).await
    }

    /// The caller, once they may do `operation` in `org` (404 for
    /// non-members, 403 for the rest), before any body is looked at.
    pub(crate) async fn authorized(
        &self,
        auth: &Session,
        org: OrganizationId,
        operation: Operation,
    ) -> Result<UserId> {
        self.0.authorized(&auth.0.token, org, operation).await
    }

    pub(crate) async fn list<B: FromResource>(
        &self,
        auth: &Session,
        org: OrganizationId,
    ) -> Result<Vec<B>> {
        let caller = self.caller(auth).await?;
        let found = self.0.tenancy.resources(caller, org, B::KIND).await?;
        found
            .value
            .iter()
            .map(|r| B::from_resource(r, found.now))
            .collect()
    }

    pub(crate) async fn one<B: FromResource>(
        &self,
        auth: &Session,
        org: OrganizationId,
        id: Uuid,
    ) -> Result<B> {
        let caller = self.caller(auth).await?;
        let found = self
            .0
            .tenancy
            .resource(caller, org, B::KIND, ResourceId::from_uuid(id))
            .await?;
        B::from_resource(&found.value, found.now)
    }

    /// Authorizes, then parses the body with `parse`, then creates.
    pub(crate) async fn create<B: FromResource, T>(
        &self,
        auth: &Session,
        org: OrganizationId,
        body: JsonBody<T>,
        parse: impl FnOnce(&mut Fields, T) -> Option<NewResource>,
    ) -> Result<Created<B>> {
        let caller = self
            .authorized(auth, org, Operation::CreateResource(B::KIND))
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let input = parse(&mut fields, body);
        let input = all_good(fields, input)?;
        let created = self.0.tenancy.create_resource(caller, org, input).await?;
        // The use case's own instant: what it wrote as `updated_at`.
        Ok(Created::Created(Json(B::from_resource(
            &created,
            created.updated_at,
        )?)))
    }

    /// Authorizes, then parses the patch with `parse`, then edits.
    pub(crate) async fn update<B: FromResource, T>(
        &self,
        auth: &Session,
        org: OrganizationId,
        id: Uuid,
        body: JsonBody<T>,
        parse: impl FnOnce(&mut Fields, T) -> Option<ResourcePatch>,
    ) -> Result<Json<B>> {
        let caller = self
            .authorized(auth, org, Operation::UpdateResource(B::KIND))
            .await?;
        let body = body.value()?;
        let mut fields = Fields::default();
        let patch = parse(&mut fields, body);
        let patch = all_good(fields, patch)?;
        let updated = self
            .0
            .tenancy
            .update_resource(caller, org, ResourceId::from_uuid(id), patch)
            .await?;
        Ok(Json(B::from_resource(&updated, updated.updated_at)?))
    }

    pub(crate) async fn delete(
        &self,
        auth: &Session,
        org: OrganizationId,
        kind: ResourceKind,
        id: Uuid,
    ) -> Result<NoContent> {
        let caller = self.caller(auth).await?;
        self.0
            .tenancy
            .delete_resource(caller, org, kind, ResourceId::from_uuid(id))
            .await?;
        Ok(NoContent::NoContent)
    }
}

/// The organization a path names.
pub(crate) fn org(id: &Path<Uuid>) -> OrganizationId {
    OrganizationId::from_uuid(id.0)
}
