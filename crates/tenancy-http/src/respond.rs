//! The success responses that several operations share.

use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;

#[derive(ApiResponse)]
pub(crate) enum Created<T: ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(ApiResponse)]
pub(crate) enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

#[derive(ApiResponse)]
pub(crate) enum Accepted<T: ToJSON + Send + Sync> {
    /// Accepted: queued.
    #[oai(status = 202)]
    Accepted(Json<T>),
}
