//! One log line per request, with a request id, and never a token: bearer
//! headers are not logged, and a path's token segment is masked.

use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};

/// The header that carries the request id, in and out.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Masks what may be a secret in a path: the token of an invitation link,
/// in the API's preview and in the console's landing page.
pub(crate) fn loggable_path(path: &str) -> String {
    for prefix in ["/v1/invitations/", "/invitations/"] {
        if let Some(rest) = path.strip_prefix(prefix)
            && rest != "accept"
            && !rest.is_empty()
        {
            return format!("{prefix}<token>");
        }
    }
    path.to_owned()
}

tokio::task_local! {
    /// The id of the request being served, for the audit events it writes.
    static CURRENT: String;
}

/// The core's [`tenancy_core::ports::RequestContext`]: the `x-request-id`
/// of the request that the current task serves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestIds;

impl tenancy_core::ports::RequestContext for RequestIds {
    fn request_id(&self) -> Option<String> {
        CURRENT.try_with(Clone::clone).ok()
    }
}

fn new_request_id() -> String {
    let mut bytes = [0_u8; 8];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) async fn requests<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned);
    let method = request.method().clone();
    let path = loggable_path(request.uri().path());
    let mut response = match CURRENT.scope(id.clone(), next.call(request)).await {
        Ok(response) => response.into_response(),
        Err(error) => crate::problem::from_poem(error),
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_tokens_are_masked() {
        assert_eq!(
            loggable_path("/v1/invitations/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            "/v1/invitations/<token>"
        );
        assert_eq!(
            loggable_path("/invitations/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            "/invitations/<token>"
        );
        assert_eq!(
            loggable_path("/v1/invitations/accept"),
            "/v1/invitations/accept"
        );
        assert_eq!(loggable_path("/v1/organizations"), "/v1/organizations");
    }
}
