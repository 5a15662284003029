//! `Allow` on every 405, as RFC 9110 requires: the methods that the path
//! serves.
//!
//! poem's route tree answers a known path with a method it does not serve
//! with a bare 405, without saying which methods it has. So the methods of
//! every path template are gathered once, when the app is built, from the
//! OpenAPI operations and the console's pages, and a 405 is given those of the
//! template its path matches.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use poem::http::{HeaderValue, Method, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::OpenApi;

use crate::console;
use crate::routes::Apis;

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    /// A literal segment, which poem's tree prefers to a parameter.
    Static(String),
    /// `{name}` or `:name`: any one segment.
    Param,
}

/// The methods of each path template of the app.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedMethods {
    templates: Vec<(Vec<Segment>, HeaderValue)>,
}

/// The order in which methods are listed.
const ORDER: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

fn rank(method: &Method) -> usize {
    ORDER
        .iter()
        .position(|known| known == method)
        .unwrap_or(ORDER.len())
}

fn segments(template: &str) -> Vec<Segment> {
    template
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            if segment.starts_with(':') || (segment.starts_with('{') && segment.ends_with('}')) {
                Segment::Param
            } else {
                Segment::Static(segment.to_owned())
            }
        })
        .collect()
}

impl AllowedMethods {
    /// The methods of the app's routes: every operation of the API and the
    /// console's pages and files.
    pub(crate) fn of_app() -> Self {
        let operations = Apis::meta()
            .into_iter()
            .flat_map(|api| api.paths)
            .map(|path| {
                let methods = path
                    .operations
                    .into_iter()
                    .map(|operation| operation.method);
                (path.path, methods.collect::<Vec<_>>())
            });
        let console = console::PAGES
            .iter()
            .copied()
            .chain([console::INVITATION_PAGE])
            .chain(console::FILES)
            .map(|page| (page.to_owned(), vec![Method::GET]));
        Self::new(operations.chain(console))
    }

    /// From path templates and the methods each serves; a template that
    /// appears more than once serves the methods of all. `HEAD` is added
    /// wherever `GET` is served, since poem answers it from `GET`.
    pub(crate) fn new(paths: impl IntoIterator<Item = (String, Vec<Method>)>) -> Self {
        let mut merged: BTreeMap<Vec<Segment>, BTreeSet<(usize, Method)>> = BTreeMap::new();
        for (template, methods) in paths {
            let entry = merged.entry(segments(&template)).or_default();
            for method in methods {
                if method == Method::GET {
                    entry.insert((rank(&Method::HEAD), Method::HEAD));
                }
                entry.insert((rank(&method), method));
            }
        }
        let templates = merged
            .into_iter()
            .filter_map(|(segments, methods)| {
                let list: Vec<&str> = methods.iter().map(|(_, method)| method.as_str()).collect();
                HeaderValue::from_str(&list.join(", "))
                    .ok()
                    .map(|value| (segments, value))
            })
            .collect();
        Self { templates }
    }

    /// The `Allow` value of the template that `path` matches. Where several
    /// match, the one poem's tree routes to wins: at the first segment where
    /// they differ, a literal beats a parameter (`/invitations/accept` over
    /// `/invitations/{token}`).
    pub(crate) fn of(&self, path: &str) -> Option<&HeaderValue> {
        let wanted: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.templates
            .iter()
            .filter(|(template, _)| {
                template.len() == wanted.len()
                    && template
                        .iter()
                        .zip(&wanted)
                        .all(|(segment, part)| match segment {
                            Segment::Static(literal) => literal == part,
                            Segment::Param => true,
                        })
            })
            // `Static` orders before `Param`, so the smallest is the most literal.
            .min_by(|(a, _), (b, _)| a.cmp(b))
            .map(|(_, value)| value)
    }
}

/// The middleware that adds `Allow` to 405 answers.
pub(crate) struct Allow(Arc<AllowedMethods>);

impl Allow {
    pub(crate) fn of_app() -> Self {
        Self(Arc::new(AllowedMethods::of_app()))
    }
}

impl<E: Endpoint> Middleware<E> for Allow {
    type Output = AllowEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AllowEndpoint {
            inner,
            allowed: Arc::clone(&self.0),
        }
    }
}

/// An endpoint whose 405 answers say which methods the path serves.
pub(crate) struct AllowEndpoint<E> {
    inner: E,
    allowed: Arc<AllowedMethods>,
}

impl<E: Endpoint> Endpoint for AllowEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let path = request.uri().path().to_owned();
        let mut response = match self.inner.call(request).await {
            Ok(output) => output.into_response(),
            Err(error) => crate::problem::from_poem(error),
        };
        if response.status().as_u16() == crate::problem::ProblemCode::MethodNotAllowed.status()
            && !response.headers().contains_key(header::ALLOW)
        {
            match self.allowed.of(&path) {
                Some(methods) => {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, methods.clone());
                }
                None => tracing::warn!(path = %path, "a 405 for a path of no known template"),
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> AllowedMethods {
        AllowedMethods::new([
            ("/v1/invitations/{token}".to_owned(), vec![Method::GET]),
            ("/v1/invitations/accept".to_owned(), vec![Method::POST]),
            (
                "/v1/organizations/:org_id".to_owned(),
                vec![Method::PATCH, Method::GET],
            ),
            (
                "/v1/organizations/{org_id}".to_owned(),
                vec![Method::DELETE],
            ),
        ])
    }

    fn of<'a>(allowed: &'a AllowedMethods, path: &str) -> Option<&'a str> {
        allowed.of(path).and_then(|value| value.to_str().ok())
    }

    #[test]
    fn a_path_gets_the_methods_of_its_template_in_a_stable_order() {
        let allowed = allowed();
        assert_eq!(of(&allowed, "/v1/invitations/abc"), Some("GET, HEAD"));
        assert_eq!(of(&allowed, "/v1/invitations/accept"), Some("POST"));
        assert_eq!(
            of(&allowed, "/v1/organizations/0190"),
            Some("GET, HEAD, PATCH, DELETE")
        );
        assert_eq!(of(&allowed, "/v1/organizations"), None);
        assert_eq!(of(&allowed, "/v1/organizations/0190/agents"), None);
    }

    #[test]
    fn every_operation_and_console_page_is_known() {
        let allowed = AllowedMethods::of_app();
        assert_eq!(of(&allowed, "/healthz"), Some("GET, HEAD"));
        assert_eq!(of(&allowed, "/signin"), Some("GET, HEAD"));
        assert_eq!(of(&allowed, "/v1/auth/signup"), Some("POST"));
    }
}
