//! The web console: one HTML page, a script and a style sheet, embedded in the
//! binary and served beside the API.
//!
//! The console is a client of the public JSON API like any other: it holds no
//! policy and gets no private routes. These routes are plain poem routes, not
//! OpenAPI operations, because they serve documents rather than JSON.
//!
//! Every console response carries a strict Content-Security-Policy (scripts,
//! styles and fetches from this origin only, no inline script, no framing),
//! `X-Content-Type-Options: nosniff`, and `Referrer-Policy: no-referrer`, so
//! that the token in an emailed link's path (an invitation, a verification,
//! a password reset) never leaves in a `Referer`.

use poem::http::{HeaderMap, HeaderValue, StatusCode, header};
use poem::{Endpoint, Request, Response, Route, get};

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");
const ICON: &str = include_str!("../console/icon.svg");

/// The paths at which the console's page is served; the script routes among
/// them in the browser. A `:token` segment stands for the token of an emailed
/// link, any one segment.
pub const PAGES: &[&str] = &[
    "/",
    "/signin",
    "/signup",
    "/forgot-password",
    "/verify-email/:token",
    "/reset-password/:token",
    "/account",
    "/agents",
    "/connections",
    "/reports",
    "/knowledge-files",
    "/settings",
    "/settings/billing",
];

/// The landing page of an invitation link, `/invitations/{token}`.
pub const INVITATION_PAGE: &str = "/invitations/:token";

/// The script, style sheet and icon that the page loads.
pub const FILES: [&str; 3] = [
    "/console/console.js",
    "/console/console.css",
    "/console/icon.svg",
];

/// The policy of every console response: nothing comes from anywhere but
/// this origin, nothing inline runs, and no other site may frame the console.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// An embedded file with its content type and a strong validator.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: &'static str,
}

/// FNV-1a over the file, at compile time: the validator changes exactly when
/// the embedded bytes do, without hashing on every request.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `"` + 16 lower-case hex digits + `"`, built at compile time.
const fn etag_of(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! asset {
    ($body:expr, $content_type:expr) => {{
        const TAG: [u8; 18] = etag_of($body.as_bytes());
        Asset {
            body: $body,
            content_type: $content_type,
            etag: match std::str::from_utf8(&TAG) {
                Ok(tag) => tag,
                Err(_) => "\"0\"",
            },
        }
    }};
}

const PAGE: Asset = asset!(INDEX, "text/html; charset=utf-8");
const SCRIPT_ASSET: Asset = asset!(SCRIPT, "text/javascript; charset=utf-8");
const STYLE_ASSET: Asset = asset!(STYLE, "text/css; charset=utf-8");
const ICON_ASSET: Asset = asset!(ICON, "image/svg+xml");

/// Headers on every console response.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// The asset, or 304 when the browser's copy is current. Browsers revalidate
/// every time (`no-cache`), so a new binary's console shows at once.
fn serve(asset: &Asset, request: &Request) -> Response {
    let fresh = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == asset.etag || tag.trim() == "*");
    let mut response = if fresh {
        Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .finish()
    } else {
        Response::builder()
            .status(StatusCode::OK)
            .content_type(asset.content_type)
            .body(asset.body)
    };
    let headers = response.headers_mut();
    secure(headers);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(asset.etag) {
        headers.insert(header::ETAG, etag);
    }
    response
}

/// An embedded file as an endpoint.
struct Served(&'static Asset);

impl Endpoint for Served {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        Ok(serve(self.0, &request))
    }
}

/// The console's routes, added to `route`.
pub(crate) fn mount(mut route: Route) -> Route {
    for path in PAGES.iter().copied().chain([INVITATION_PAGE]) {
        route = route.at(path, get(Served(&PAGE)));
    }
    let [script, style, icon] = FILES;
    route
        .at(script, get(Served(&SCRIPT_ASSET)))
        .at(style, get(Served(&STYLE_ASSET)))
        .at(icon, get(Served(&ICON_ASSET)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_with_content_and_are_quoted_hex() {
        assert_ne!(PAGE.etag, SCRIPT_ASSET.etag);
        for asset in [&PAGE, &SCRIPT_ASSET, &STYLE_ASSET, &ICON_ASSET] {
            assert_eq!(asset.etag.len(), 18);
            assert!(asset.etag.starts_with('"') && asset.etag.ends_with('"'));
            assert!(
                asset.etag[1..17]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn the_page_loads_nothing_inline_and_nothing_from_elsewhere() {
        // The policy forbids inline script; the page must not need any.
        assert!(!INDEX.contains("<script>"));
        assert!(!INDEX.contains("style="));
        assert!(!INDEX.contains("onclick"));
        for text in [INDEX, SCRIPT, STYLE] {
            // The SVG namespace is a name, not an address that is fetched.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            assert!(!text.contains("http://"), "an external address");
            assert!(!text.contains("https://"), "an external address");
            assert!(
                !text.contains("innerHTML"),
                "server text must go in as text"
            );
        }
    }
}
