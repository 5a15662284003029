//! The errors each operation declares: a set of problem codes in the
//! operation's type, from which its document lists exactly the statuses it
//! can answer, with the codes of each.
//!
//! The set is a constant of the type (`Fails<{ codes(&[..]) }>`, written
//! [`fails!`]), so a handler states its errors where it states its success,
//! and nothing else has to be kept beside it. `internal` and `unavailable`
//! belong to every set: any operation can meet a bug or a database that does
//! not answer.
//!
//! An error outside its operation's set is a bug in the declaration: it is
//! logged, and in debug builds (every test, every fuzzing run) it is turned
//! into a 500 so that it cannot go unnoticed; a release build still sends the
//! real problem, which is more use to a client than a 500.

use poem::IntoResponse;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;

use crate::problem::{ApiError, ProblemCode, ProblemJson};

impl ProblemCode {
    /// This code's bit in a set of codes.
    pub(crate) const fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

/// The set of `list`, with `internal` and `unavailable`.
pub(crate) const fn codes(list: &[ProblemCode]) -> u64 {
    let mut set = ProblemCode::Internal.bit() | ProblemCode::Unavailable.bit();
    let mut i = 0;
    while i < list.len() {
        set |= list[i].bit();
        i += 1;
    }
    set
}

/// The error type of an operation that can fail with the codes given, as
/// `fails![NotFound, Forbidden]`.
macro_rules! fails {
    ($($code:ident),* $(,)?) => {
        $crate::errors::Fails<{ $crate::errors::codes(&[$($crate::problem::ProblemCode::$code),*]) }>
    };
}
pub(crate) use fails;

/// An error of an operation whose codes are `CODES` (see [`codes`]).
#[derive(Debug)]
pub struct Fails<const CODES: u64>(ApiError);

impl<const CODES: u64> Fails<CODES> {
    /// Whether the set holds `code`.
    const fn holds(code: ProblemCode) -> bool {
        CODES & code.bit() != 0
    }

    /// The declared codes, in the table's order.
    fn declared() -> impl Iterator<Item = ProblemCode> {
        ProblemCode::ALL
            .iter()
            .copied()
            .filter(|code| Self::holds(*code))
    }
}

impl<const CODES: u64> From<ApiError> for Fails<CODES> {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl<const CODES: u64> From<tenancy_core::Error> for Fails<CODES> {
    fn from(error: tenancy_core::Error) -> Self {
        Self(ApiError::from(error))
    }
}

impl<const CODES: u64> IntoResponse for Fails<CODES> {
    fn into_response(self) -> poem::Response {
        let code = self.0.problem().code;
        if Self::holds(code) {
            return self.0.into_response();
        }
        let declared: Vec<&str> = Self::declared().map(ProblemCode::as_str).collect();
        tracing::error!(
            %code,
            ?declared,
            "an operation answered a problem code it does not declare"
        );
        if cfg!(debug_assertions) {
            ApiError::internal().into_response()
        } else {
            self.0.into_response()
        }
    }
}

impl<const CODES: u64> From<Fails<CODES>> for poem::Error {
    fn from(error: Fails<CODES>) -> Self {
        poem::Error::from_response(error.into_response())
    }
}

impl<const CODES: u64> ApiResponse for Fails<CODES> {
    fn meta() -> MetaResponses {
        let mut statuses: Vec<u16> = Self::declared().map(ProblemCode::status).collect();
        statuses.sort_unstable();
        statuses.dedup();
        let responses = statuses
            .into_iter()
            .map(|status| {
                let codes: Vec<String> = Self::declared()
                    .filter(|code| code.status() == status)
                    .map(|code| format!("`{code}`"))
                    .collect();
                let description = interned(format!("{}: {}.", title(status), codes.join(", ")));
                let headers = match status {
                    429 | 503 => vec![MetaHeader {
                        name: "Retry-After".to_owned(),
                        description: Some("Seconds after which to try again.".to_owned()),
                        required: true,
                        deprecated: false,
                        schema: u64::schema_ref(),
                    }],
                    _ => Vec::new(),
                };
                MetaResponse {
                    description,
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: ProblemJson::CONTENT_TYPE,
                        schema: ProblemJson::schema_ref(),
                    }],
                    headers,
                }
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        ProblemJson::register(registry);
    }
}

/// A description as poem-openapi's registry wants it, `&'static str`: each
/// distinct text is leaked once, and a program has a few dozen of them,
/// however often its document is built.
fn interned(text: String) -> &'static str {
    static TEXTS: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut texts = TEXTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = texts.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(leaked);
    leaked
}

/// What a status means, before the codes of this operation under it.
fn title(status: u16) -> &'static str {
    match status {
        400 => "The request cannot be read",
        401 => "The caller is not authenticated",
        402 => "The plan's limit is reached",
        403 => "The caller may not do this",
        404 => "Nothing here that the caller may know of",
        405 => "The path does not serve this method",
        409 => "A conflict with the current state",
        410 => "The token or transfer is dead",
        413 => "The body is larger than allowed",
        422 => "Well-formed, with invalid values",
        429 => "Too many requests; try again after `Retry-After` seconds",
        503 => "Saturated, or the database does not answer; try again after `Retry-After` seconds",
        _ => "Something failed on our side; it has been logged",
    }
}
