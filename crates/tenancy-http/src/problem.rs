//! Errors as RFC 9457 problem details, mapped in exactly one place: every
//! error a client can see, ours or poem's, leaves through [`ApiError`].

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object, payload::Payload};
use tenancy_core::{Error, Missing};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct FieldError {
    /// The field, as named in the request.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// RFC 9457 problem details. `code` is the stable, machine-readable part.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:tenancy:problem:<code>`).
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable error code.
    pub code: String,
    /// What happened this time.
    pub detail: String,
    /// The invalid fields, for `validation_failed`.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    /// Seconds after which to try again, sent as `Retry-After` (429, 503).
    #[oai(skip)]
    pub retry_after: Option<u64>,
}

/// Problem details as a payload with their own media type; boxed, so that
/// results carrying one stay small.
#[derive(Debug, Clone)]
pub struct ProblemJson(pub Box<Problem>);

impl Payload for ProblemJson {
    const CONTENT_TYPE: &'static str = PROBLEM_JSON;

    fn schema_ref() -> MetaSchemaRef {
        Problem::schema_ref()
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl IntoResponse for ProblemJson {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.0.to_json_string();
        let mut response = Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON)
            .body(body);
        // A refusal that depends on time always says when to come back (D18).
        let retry_after = match (self.0.retry_after, status) {
            (Some(seconds), _) => Some(seconds.max(1)),
            (None, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) => Some(1),
            (None, _) => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                poem::http::header::RETRY_AFTER,
                poem::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// Every error response of the API. Each operation documents them all.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// Malformed JSON or a wrong content type (`bad_request`).
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// Missing, unknown or signed-out token (`unauthenticated`), or wrong credentials (`invalid_credentials`).
    #[oai(status = 401)]
    Unauthorized(ProblemJson),
    /// The plan's limit is reached (`quota_exceeded`).
    #[oai(status = 402)]
    PaymentRequired(ProblemJson),
    /// The caller lacks the capability (`forbidden`, view-only access), an invitation does not fit (`invitation_email_mismatch`, `role_not_assignable`), or a member picks a plan that is not self-serve (`plan_not_selectable`).
    #[oai(status = 403)]
    Forbidden(ProblemJson),
    /// Nothing here, or nothing the caller may know of (`not_found`).
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The path does not serve this method (`method_not_allowed`).
    #[oai(status = 405)]
    MethodNotAllowed(ProblemJson),
    /// A conflict with the current state (`email_taken`, `already_member`, `invitation_already_accepted`, `owner_cannot_be_removed`).
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// A dead invitation (`invitation_expired`, `invitation_revoked`).
    #[oai(status = 410)]
    Gone(ProblemJson),
    /// The upload is larger than allowed (`payload_too_large`).
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// Well-formed JSON with invalid values (`validation_failed`).
    #[oai(status = 422)]
    Unprocessable(ProblemJson),
    /// Too many requests (`rate_limited`).
    #[oai(status = 429)]
    TooManyRequests(ProblemJson),
    /// Something failed on our side (`internal`).
    #[oai(status = 500)]
    Internal(ProblemJson),
    /// The database does not answer (`unavailable`).
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthenticated",
        402 => "Quota exceeded",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Payload too large",
        422 => "Validation failed",
        429 => "Too many requests",
        503 => "Service unavailable",
        _ => "Internal error",
    }
}

impl ApiError {
    /// A problem of a status, code and detail.
    pub fn new(status: u16, code: &str, detail: impl Into<String>) -> Self {
        Self::with_errors(status, code, detail, None)
    }

    fn with_errors(
        status: u16,
        code: &str,
        detail: impl Into<String>,
        errors: Option<Vec<FieldError>>,
    ) -> Self {
        Self::of(Problem {
            kind: format!("urn:tenancy:problem:{code}"),
            title: title(status).to_owned(),
            status,
            code: code.to_owned(),
            detail: detail.into(),
            errors,
            retry_after: None,
        })
    }

    /// The variant of a problem's status.
    fn of(problem: Problem) -> Self {
        let status = problem.status;
        let problem = ProblemJson(Box::new(problem));
        match status {
            400 => Self::BadRequest(problem),
            401 => Self::Unauthorized(problem),
            402 => Self::PaymentRequired(problem),
            403 => Self::Forbidden(problem),
            404 => Self::NotFound(problem),
            405 => Self::MethodNotAllowed(problem),
            409 => Self::Conflict(problem),
            410 => Self::Gone(problem),
            413 => Self::PayloadTooLarge(problem),
            422 => Self::Unprocessable(problem),
            429 => Self::TooManyRequests(problem),
            503 => Self::Unavailable(problem),
            _ => Self::Internal(problem),
        }
    }

    /// A refusal that lasts a while (429 `rate_limited`, 503 `unavailable`),
    /// with `Retry-After: seconds`.
    pub fn retry_later(status: u16, code: &str, detail: impl Into<String>, seconds: u64) -> Self {
        let mut problem = Self::new(status, code, detail).problem().clone();
        problem.retry_after = Some(seconds);
        Self::of(problem)
    }

    /// `503 unavailable`: the database does not answer.
    pub fn database_unavailable() -> Self {
        Self::retry_later(
            503,
            "unavailable",
            "the database does not answer; try again shortly",
            2,
        )
    }

    /// `422 validation_failed` naming the invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("`{}`: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::with_errors(422, "validation_failed", detail, Some(errors))
    }

    /// `422 validation_failed` for one field.
    pub fn invalid(field: &str, message: impl ToString) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.to_string(),
        }])
    }

    /// `404 not_found` for an organization, the same bytes whether it is
    /// missing or the caller is not a member (D1).
    pub fn organization_not_found() -> Self {
        Self::from(Error::NotFound(Missing::Organization))
    }

    /// `401 unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::from(Error::Unauthenticated)
    }

    /// The problem inside.
    pub fn problem(&self) -> &Problem {
        match self {
            Self::BadRequest(p)
            | Self::Unauthorized(p)
            | Self::PaymentRequired(p)
            | Self::Forbidden(p)
            | Self::NotFound(p)
            | Self::MethodNotAllowed(p)
            | Self::Conflict(p)
            | Self::Gone(p)
            | Self::PayloadTooLarge(p)
            | Self::Unprocessable(p)
            | Self::TooManyRequests(p)
            | Self::Internal(p)
            | Self::Unavailable(p) => &p.0,
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = match &error {
            Error::NotFound(_) => 404,
            Error::Unauthenticated | Error::InvalidCredentials => 401,
            Error::Forbidden { .. }
            | Error::InvitationEmailMismatch
            | Error::RoleNotAssignable(_)
            | Error::PlanNotSelectable(_) => 403,
            Error::PayloadTooLarge { .. } => 413,
            Error::UploadBroken(_) => 400,
            Error::EmailTaken
            | Error::AlreadyMember
            | Error::InvitationAlreadyAccepted
            | Error::OwnerCannotBeRemoved => 409,
            Error::InvitationExpired | Error::InvitationRevoked => 410,
            Error::QuotaExceeded(_) => 402,
            Error::UnknownPlan(_) => {
                return Self::invalid("plan", error.to_string());
            }
            Error::Invalid { field, message } => return Self::invalid(field, message),
            Error::Store(store)
                if store.kind() == tenancy_core::error::StoreErrorKind::Unavailable =>
            {
                tracing::warn!(error = %store, "the database does not answer");
                return Self::database_unavailable();
            }
            Error::Store(store) => {
                // The details stay in the log; the client learns nothing of
                // the database.
                tracing::error!(error = %store, "store failure");
                return Self::new(
                    500,
                    "internal",
                    "an internal error occurred; it has been logged",
                );
            }
        };
        Self::new(status, error.code(), error.to_string())
    }
}

/// Turns any error that reached the top of the app into problem details:
/// ours pass through; poem's (unknown route, wrong method, unparsable JSON or
/// parameter, missing credentials, oversized body) get theirs.
pub fn from_poem(error: poem::Error) -> Response {
    // A path segment that cannot be what the route expects (an id that is
    // not a UUID) names nothing: like a missing thing.
    let unparsable_id = error.is::<poem_openapi::error::ParsePathError>();
    // A query parameter out of its documented range (`limit=0`) is a
    // well-formed request with an invalid value: 422, naming the parameter.
    if let Some(param) = error.downcast_ref::<poem_openapi::error::ParseParamError>() {
        return ApiError::invalid(param.name, &param.reason).into_response();
    }
    let status = error.status();
    let message = error.to_string();
    let response = error.into_response();
    let is_problem = response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return response;
    }
    let api = match status.as_u16() {
        _ if unparsable_id => ApiError::new(404, "not_found", "no such thing"),
        404 => ApiError::new(404, "not_found", "no such route"),
        405 => ApiError::new(
            405,
            "method_not_allowed",
            "this path does not serve that method",
        ),
        401 => ApiError::unauthenticated(),
        413 => ApiError::new(413, "payload_too_large", "the request body is too large"),
        400 | 415 => ApiError::new(400, "bad_request", message),
        _ if status.is_server_error() => {
            tracing::error!(error = %message, "unhandled error");
            ApiError::new(
                500,
                "internal",
                "an internal error occurred; it has been logged",
            )
        }
        code => ApiError::new(code, "bad_request", message),
    };
    api.into_response()
}
