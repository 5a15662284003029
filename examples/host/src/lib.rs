//! A host service that embeds tenancy, as a model for yours.
//!
//! The host is a cost-analytics product. It mounts tenancy's whole HTTP API
//! (sign-up, organizations, invitations, resources) in its own poem app and
//! adds one route of its own, `GET /host/organizations/{org_id}/cost-report?connection={id}`,
//! which:
//!
//! 1. authenticates the caller with tenancy's session tokens,
//! 2. asks tenancy, in-process, whether the caller may use
//!    `run_investigations` in the organization: the [`Grant`] it gets back
//!    is the proof the next step requires,
//! 3. reads the connection's credentials through that grant (viewers
//!    included: they use connections without ever seeing them, R22), and
//! 4. queries the "warehouse" with them; the credentials never leave the
//!    process.
//!
//! A removed member's very next request is refused (D12): the grant is
//! decided from the committed state on every call.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Endpoint, EndpointExt, Request, Route, handler};
use serde_json::{Value, json};
use tenancy_core::{Capability, Error, OrganizationId, ResourceId};
use tenancy_http::AppState;
use uuid::Uuid;

/// What the host itself needs: here, the key that its (pretend) data
/// warehouse accepts.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pub api_key: String,
}

impl Warehouse {
    /// A query against the warehouse; only the right key gets rows.
    fn daily_costs(&self, api_key: &str) -> Option<Vec<u64>> {
        (api_key == self.api_key).then(|| vec![120, 95, 410])
    }
}

/// The host's app: tenancy's routes at the root, the host's under `/host`.
pub fn app(state: AppState, warehouse: Warehouse) -> impl Endpoint {
    let tenancy = tenancy_http::app(state.clone());
    Route::new()
        .at(
            "/host/organizations/:org_id/cost-report",
            cost_report.data(state).data(Arc::new(warehouse)),
        )
        .nest("/", tenancy)
}

#[derive(Debug, serde::Deserialize)]
struct ReportQuery {
    connection: Uuid,
}

fn problem(status: StatusCode, code: &str) -> poem::Response {
    poem::Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(json!({"status": status.as_u16(), "code": code}).to_string())
}

/// The host's own route, guarded by tenancy's authorization.
#[handler]
async fn cost_report(
    request: &Request,
    Path(org_id): Path<Uuid>,
    Query(query): Query<ReportQuery>,
    state: Data<&AppState>,
    warehouse: Data<&Arc<Warehouse>>,
) -> poem::Response {
    let Some(token) = bearer(request) else {
        return problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    };
    let Ok(user) = state.caller(token).await else {
        return problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    };
    let organization = OrganizationId::from_uuid(org_id);
    let grant = match state
        .tenancy
        .authorize(user, organization, Capability::RunInvestigations)
        .await
    {
        Ok(Ok(grant)) => grant,
        // A member without the capability: 403; anyone else learns nothing.
        Ok(Err(denial)) => {
            let error = Error::from(denial);
            let status = if error.code() == "forbidden" {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::NOT_FOUND
            };
            return problem(status, error.code());
        }
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    let credentials = match state
        .tenancy
        .connection_credentials(&grant, ResourceId::from_uuid(query.connection))
        .await
    {
        Ok(credentials) => credentials,
        Err(error) if error.code() == "not_found" => {
            return problem(StatusCode::NOT_FOUND, "not_found");
        }
        Err(_) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    let rows = credentials
        .expose("api_key")
        .and_then(|key| warehouse.daily_costs(key));
    let body: Value = match rows {
        Some(rows) => json!({"daily_costs": rows}),
        None => return problem(StatusCode::BAD_GATEWAY, "warehouse_refused"),
    };
    poem::Response::builder()
        .content_type("application/json")
        .body(body.to_string())
}

fn bearer(request: &Request) -> Option<&str> {
    request
        .header("authorization")?
        .strip_prefix("Bearer ")
        .map(str::trim)
}
