//! Operations: health of the process and of its database.

use crate::errors::fails;
use poem_openapi::OpenApi;

use super::{Result, Tag};
use crate::problem::ApiError;
use crate::state::AppState;

/// The operations of this area.
pub(crate) struct OperationsApi(pub(crate) AppState);

#[OpenApi]
impl OperationsApi {
    /// Check that the process runs
    ///
    /// Answers `ok` for as long as the process runs, without asking the database.
    /// No authentication.
    #[oai(
        path = "/healthz",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "healthz"
    )]
    async fn healthz(&self) -> poem_openapi::payload::PlainText<&'static str> {
        poem_openapi::payload::PlainText("ok")
    }

    /// Check that the database answers
    ///
    /// Answers `ready` when the database answers a ping, so that a load balancer can hold traffic
    /// back while it does not.
    /// No authentication.
    #[oai(
        path = "/readyz",
        method = "get",
        tag = "Tag::Operations",
        operation_id = "readyz"
    )]
    async fn readyz(&self) -> Result<poem_openapi::payload::PlainText<&'static str>, fails![]> {
        self.0
            .tenancy
            .ping()
            .await
            .map_err(|_| ApiError::database_unavailable())?;
        Ok(poem_openapi::payload::PlainText("ready"))
    }
}
