//! The HTTP layer of tenancy: the contract of `../shared/API.md` over the
//! core's use cases, with poem and poem-openapi.
//!
//! Handlers are thin: they parse the request into the core's types, call one
//! use case and convert the outcome. No policy lives here. Every error leaves
//! as RFC 9457 problem details, mapped in [`problem`].

mod allow;
mod auth;
mod body;
pub mod console;
pub mod destination;
mod errors;
mod headers;
mod limits;
mod log;
mod openapi;
mod paging;
mod passwords;
pub mod problem;
mod respond;
mod routes;
mod state;
#[cfg(feature = "test-util")]
pub mod testing;
mod upload;

use poem::endpoint::make_sync;
use poem::middleware::CatchPanic;
use poem::web::Html;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Route};
use poem_openapi::OpenApiService;

pub use crate::limits::{Cidr, CidrError, TrustedProxies};
pub use crate::passwords::{Passwords, default_max_concurrent as default_max_concurrent_hashes};
pub use crate::state::{ApiConfig, AppState, DEFAULT_MAX_UPLOAD_BYTES, Tenancy};

/// The OpenAPI service of the app.
fn service(state: &AppState) -> OpenApiService<routes::Apis, ()> {
    OpenApiService::new(
        routes::apis(state),
        "tenancy",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Organizations and teams: owners invite viewers by email, a permission matrix of capabilities decides who may do what, each organization has its own plan and quotas.",
    )
}

/// The OpenAPI document that the app serves at `/openapi.json`: poem-openapi's,
/// finished by [`openapi::finish`].
pub fn openapi_json(state: &AppState) -> String {
    openapi::finish_json(&service(state).spec(), &state.tenancy.settings().catalog)
}

/// The whole app: the API, its OpenAPI document and Swagger UI, the web
/// console, health, and problem details for every error.
pub fn app(state: AppState) -> impl Endpoint {
    let api = service(&state);
    let raw = api.spec();
    let document = openapi::finish_json(&raw, &state.tenancy.settings().catalog);
    // Swagger UI's page embeds the document as written; it shows the
    // finished one instead, so that it agrees with `/openapi.json`.
    let ui_html = api.swagger_ui_html().replacen(&raw, &document, 1);
    let mut ui_headers = poem::middleware::SetHeader::new();
    for (name, value) in headers::docs_headers(&ui_html) {
        ui_headers = ui_headers.overriding(name, value);
    }
    let ui = Route::new().at(
        "/",
        make_sync(move |_| Html(ui_html.clone())).with(ui_headers),
    );
    let spec = make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(document.clone())
    });
    // The API owns `/v1` and the health checks (its paths are whole, hence
    // no prefix stripping); the console owns `/` and its pages.
    let api = std::sync::Arc::new(api.into_endpoint());
    let routes = Route::new()
        .nest_no_strip("/v1", api.clone())
        .nest_no_strip("/healthz", api.clone())
        .nest_no_strip("/readyz", api)
        .at("/openapi.json", spec)
        .nest("/docs", ui);
    console::mount(routes)
        .catch_all_error(|error| async move { problem::from_poem(error) })
        .with(allow::Allow::of_app())
        .with(CatchPanic::new())
        .around(headers::api)
        .around(log::requests)
}
