//! Headers that every response of an area carries, set in one place.
//!
//! `/v1` responses (errors included) are never stored by caches, since many
//! carry tokens or personal data, and are never sniffed into another media
//! type. Swagger UI at `/docs` gets a Content-Security-Policy that lets only
//! its own inline script run, and may not be framed.

use base64::Engine as _;
use poem::http::{HeaderName, HeaderValue, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};

/// Adds the API's headers to every response under `/v1`.
pub(crate) async fn api<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let is_api = {
        let path = request.uri().path();
        path == "/v1" || path.starts_with("/v1/")
    };
    let mut response = match next.call(request).await {
        Ok(response) => response.into_response(),
        Err(error) => crate::problem::from_poem(error),
    };
    if is_api {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    Ok(response)
}

/// The headers of Swagger UI's page: a policy that allows its inline
/// scripts by their hashes (so that no injected script runs), its styles,
/// its data: images and requests to this origin only.
pub(crate) fn docs_headers(html: &str) -> Vec<(HeaderName, HeaderValue)> {
    let scripts = inline_blocks(html, "script")
        .map(|code| format!("'sha256-{}'", sha256_base64(code)))
        .collect::<Vec<_>>()
        .join(" ");
    let policy = format!(
        "default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let mut headers = vec![
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        headers.push((header::CONTENT_SECURITY_POLICY, policy));
    }
    headers
}

fn sha256_base64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

/// The contents of every `<tag ...>...</tag>` element of `html`.
fn inline_blocks<'a>(html: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = html;
    std::iter::from_fn(move || {
        let start = rest.find(&open)?;
        let after_open = &rest[start..];
        let body_start = after_open.find('>')? + 1;
        let body = &after_open[body_start..];
        let end = body.find(&close)?;
        rest = &body[end + close.len()..];
        Some(&body[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_whole() {
        let html =
            "<html><script charset=\"UTF-8\">a()</script><p>x</p><script>\nb()\n</script></html>";
        let blocks: Vec<_> = inline_blocks(html, "script").collect();
        assert_eq!(blocks, ["a()", "\nb()\n"]);
        let headers = docs_headers(html);
        let policy = headers
            .iter()
            .find(|(n, _)| n == header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .1
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains(&format!("'sha256-{}'", sha256_base64("a()"))));
        assert!(policy.contains(&format!("'sha256-{}'", sha256_base64("\nb()\n"))));
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
