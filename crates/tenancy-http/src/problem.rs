//! Errors as RFC 9457 problem details, mapped in exactly one place: every
//! error a client can see, ours or poem's, leaves through [`ApiError`].

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object, payload::Payload};
use tenancy_core::error::StoreErrorKind;
use tenancy_core::{Error, Missing};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Declares every problem code once, as one row of a table: the variant, its
/// HTTP status, the stable code string and the title sent with it.
macro_rules! problem_codes {
    ($($(#[$doc:meta])* $variant:ident = $status:literal, $code:literal, $title:literal;)*) => {
        /// The stable, machine-readable codes of problem details, each with one status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum)]
        pub enum ProblemCode {
            $($(#[$doc])* #[oai(rename = $code)] $variant,)*
        }

        impl ProblemCode {
            /// Every code, in the table's order.
            pub const ALL: &[Self] = &[$(Self::$variant),*];

            /// The status, code string and title of this code.
            const fn row(self) -> (u16, &'static str, &'static str) {
                match self {
                    $(Self::$variant => ($status, $code, $title),)*
                }
            }
        }
    };
}

// The titles are those of the statuses, as the API has always sent them.
problem_codes! {
    /// Malformed JSON, a wrong content type, a broken upload.
    BadRequest = 400, "bad_request", "Bad request";
    /// A missing, unknown, expired or signed-out token.
    Unauthenticated = 401, "unauthenticated", "Unauthenticated";
    /// Sign-in with an unknown email or a wrong password (the same body for both).
    InvalidCredentials = 401, "invalid_credentials", "Unauthenticated";
    /// A create, upload or chat message beyond the plan's limit.
    QuotaExceeded = 402, "quota_exceeded", "Quota exceeded";
    /// A member lacks the capability.
    Forbidden = 403, "forbidden", "Forbidden";
    /// Accepting with an account whose email is not the invited one.
    InvitationEmailMismatch = 403, "invitation_email_mismatch", "Forbidden";
    /// Inviting with, or assigning, a role the caller may not give.
    RoleNotAssignable = 403, "role_not_assignable", "Forbidden";
    /// A custom role would hold an owner-only capability or one the caller lacks.
    CapabilityNotGrantable = 403, "capability_not_grantable", "Forbidden";
    /// Inviting or transferring ownership before the caller's email is verified.
    EmailUnverified = 403, "email_unverified", "Forbidden";
    /// A member picks a plan that is not self-serve.
    PlanNotSelectable = 403, "plan_not_selectable", "Forbidden";
    /// An unknown route, a missing thing, or an organization the caller is not a member of.
    NotFound = 404, "not_found", "Not found";
    /// A known path with a method it does not serve.
    MethodNotAllowed = 405, "method_not_allowed", "Method not allowed";
    /// Asking for a verification email when the address is verified.
    AlreadyVerified = 409, "already_verified", "Conflict";
    /// Sign-up with an email that has an account.
    EmailTaken = 409, "email_taken", "Conflict";
    /// Inviting or adding someone who is a member.
    AlreadyMember = 409, "already_member", "Conflict";
    /// An invitation that was used.
    InvitationAlreadyAccepted = 409, "invitation_already_accepted", "Conflict";
    /// Removing the owner.
    OwnerCannotBeRemoved = 409, "owner_cannot_be_removed", "Conflict";
    /// The owner leaving their organization.
    OwnerCannotLeave = 409, "owner_cannot_leave", "Conflict";
    /// Changing the owner's role.
    OwnerRoleImmutable = 409, "owner_role_immutable", "Conflict";
    /// Changing one's own role.
    CannotChangeOwnRole = 409, "cannot_change_own_role", "Conflict";
    /// A custom role's key that the organization already uses.
    RoleKeyTaken = 409, "role_key_taken", "Conflict";
    /// One custom role more than an organization may have.
    RoleLimitReached = 409, "role_limit_reached", "Conflict";
    /// Editing or deleting a built-in role.
    RoleBuiltin = 409, "role_builtin", "Conflict";
    /// Deleting a role that members or invitations hold.
    RoleInUse = 409, "role_in_use", "Conflict";
    /// Leaving the owner without an organization that is not pending deletion.
    LastOwnedOrganization = 409, "last_owned_organization", "Conflict";
    /// Deleting an organization whose deletion is pending.
    DeletionPending = 409, "deletion_pending", "Conflict";
    /// Acting on an organization pending deletion.
    OrganizationPendingDeletion = 409, "organization_pending_deletion", "Conflict";
    /// An ownership transfer to someone who cannot take it.
    TransferTargetInvalid = 409, "transfer_target_invalid", "Conflict";
    /// An expired invitation token.
    InvitationExpired = 410, "invitation_expired", "Gone";
    /// A revoked invitation token.
    InvitationRevoked = 410, "invitation_revoked", "Gone";
    /// An invitation token replaced by a resend.
    InvitationSuperseded = 410, "invitation_superseded", "Gone";
    /// An expired verification or reset token.
    TokenExpired = 410, "token_expired", "Gone";
    /// A used or superseded verification or reset token.
    TokenUsed = 410, "token_used", "Gone";
    /// Accepting an expired ownership transfer.
    TransferExpired = 410, "transfer_expired", "Gone";
    /// An upload over the server's limit, or a JSON body over 1 MiB.
    PayloadTooLarge = 413, "payload_too_large", "Payload too large";
    /// Well-formed JSON with invalid values.
    ValidationFailed = 422, "validation_failed", "Validation failed";
    /// A rate limit was hit; `Retry-After` says when to try again.
    RateLimited = 429, "rate_limited", "Too many requests";
    /// Something failed on our side; the details are in the log.
    Internal = 500, "internal", "Internal error";
    /// The server is saturated or its database does not answer; `Retry-After` is set.
    Unavailable = 503, "unavailable", "Service unavailable";
}

impl ProblemCode {
    /// The HTTP status it is sent with.
    pub const fn status(self) -> u16 {
        self.row().0
    }

    /// The code as clients see it, `snake_case`.
    pub const fn as_str(self) -> &'static str {
        self.row().1
    }

    /// A short summary of the kind of problem.
    pub const fn title(self) -> &'static str {
        self.row().2
    }

    /// The code of a use case's error.
    pub fn of(error: &Error) -> Self {
        match error {
            Error::NotFound(_) => Self::NotFound,
            Error::Unauthenticated => Self::Unauthenticated,
            Error::InvalidCredentials => Self::InvalidCredentials,
            Error::Forbidden { .. } => Self::Forbidden,
            Error::EmailTaken => Self::EmailTaken,
            Error::AlreadyMember => Self::AlreadyMember,
            Error::InvitationAlreadyAccepted => Self::InvitationAlreadyAccepted,
            Error::OwnerCannotBeRemoved => Self::OwnerCannotBeRemoved,
            Error::OwnerCannotLeave => Self::OwnerCannotLeave,
            Error::InvitationExpired => Self::InvitationExpired,
            Error::InvitationRevoked => Self::InvitationRevoked,
            Error::InvitationEmailMismatch => Self::InvitationEmailMismatch,
            Error::AlreadyVerified => Self::AlreadyVerified,
            Error::EmailUnverified => Self::EmailUnverified,
            Error::TokenExpired => Self::TokenExpired,
            Error::TokenUsed => Self::TokenUsed,
            Error::WrongPassword => Self::Forbidden,
            Error::RoleNotAssignable(_) => Self::RoleNotAssignable,
            Error::CapabilityNotGrantable(_) => Self::CapabilityNotGrantable,
            Error::OwnerRoleImmutable => Self::OwnerRoleImmutable,
            Error::CannotChangeOwnRole => Self::CannotChangeOwnRole,
            Error::RoleKeyTaken(_) => Self::RoleKeyTaken,
            Error::RoleLimitReached { .. } => Self::RoleLimitReached,
            Error::RoleBuiltin => Self::RoleBuiltin,
            Error::RoleInUse => Self::RoleInUse,
            Error::InvitationSuperseded => Self::InvitationSuperseded,
            Error::NotTransferTarget => Self::Forbidden,
            Error::TransferExpired => Self::TransferExpired,
            Error::TransferTargetInvalid => Self::TransferTargetInvalid,
            Error::LastOwnedOrganization => Self::LastOwnedOrganization,
            Error::DeletionPending => Self::DeletionPending,
            Error::OrganizationPendingDeletion => Self::OrganizationPendingDeletion,
            Error::QuotaExceeded(_) => Self::QuotaExceeded,
            Error::PlanNotSelectable(_) => Self::PlanNotSelectable,
            Error::PayloadTooLarge { .. } => Self::PayloadTooLarge,
            Error::UploadBroken(_) => Self::BadRequest,
            Error::UnknownPlan(_) | Error::Invalid { .. } => Self::ValidationFailed,
            Error::Store(store) if store.kind() == StoreErrorKind::Unavailable => Self::Unavailable,
            Error::Store(_) => Self::Internal,
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    // Undocumented here so that the schema is a plain reference to the
    // enum, which describes itself.
    pub code: ProblemCode,
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
    /// The caller lacks the capability (`forbidden`, view-only access), an invitation does not fit (`invitation_email_mismatch`), a role or capability cannot be given (`role_not_assignable`, `capability_not_grantable`), the caller's email is not verified (`email_unverified`), or a member picks a plan that is not self-serve (`plan_not_selectable`).
    #[oai(status = 403)]
    Forbidden(ProblemJson),
    /// Nothing here, or nothing the caller may know of (`not_found`).
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The path does not serve this method (`method_not_allowed`).
    #[oai(status = 405)]
    MethodNotAllowed(ProblemJson),
    /// A conflict with the current state (`already_verified`, `email_taken`, `already_member`, `invitation_already_accepted`, `owner_cannot_be_removed`, `owner_cannot_leave`, `owner_role_immutable`, `cannot_change_own_role`, `role_key_taken`, `role_limit_reached`, `role_builtin`, `role_in_use`, `last_owned_organization`, `deletion_pending`, `organization_pending_deletion`, `transfer_target_invalid`).
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// A dead invitation, link or transfer (`invitation_expired`, `invitation_revoked`, `invitation_superseded`, `token_expired`, `token_used`, `transfer_expired`).
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

impl ApiError {
    /// A problem of a code and detail. Private: outside this module errors
    /// are built by the named constructors below, or from the core's errors.
    fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::with_errors(code, detail, None)
    }

    fn with_errors(
        code: ProblemCode,
        detail: impl Into<String>,
        errors: Option<Vec<FieldError>>,
    ) -> Self {
        Self::of(Problem {
            kind: format!("urn:tenancy:problem:{code}"),
            title: code.title().to_owned(),
            status: code.status(),
            code,
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
    pub fn retry_later(code: ProblemCode, detail: impl Into<String>, seconds: u64) -> Self {
        let mut problem = Self::new(code, detail).problem().clone();
        problem.retry_after = Some(seconds);
        Self::of(problem)
    }

    /// `503 unavailable`: the database does not answer.
    pub fn database_unavailable() -> Self {
        Self::retry_later(
            ProblemCode::Unavailable,
            "the database does not answer; try again shortly",
            2,
        )
    }

    /// `500 internal`: the details stay in the log (the caller logs them);
    /// the client learns nothing of them.
    pub fn internal() -> Self {
        Self::new(
            ProblemCode::Internal,
            "an internal error occurred; it has been logged",
        )
    }

    /// `400 bad_request`: a body that is not what the operation reads.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemCode::BadRequest, detail)
    }

    /// `413 payload_too_large`: a body beyond what the server reads.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(ProblemCode::PayloadTooLarge, detail)
    }

    /// `404 not_found` for a route that is not served (as
    /// `POST /v1/authorize` without a service token).
    pub fn no_such_route() -> Self {
        Self::new(ProblemCode::NotFound, "no such route")
    }

    /// `422 validation_failed` naming the invalid fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("`{}`: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::with_errors(ProblemCode::ValidationFailed, detail, Some(errors))
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
        match &error {
            Error::UnknownPlan(_) => Self::invalid("plan", error.to_string()),
            Error::Invalid { field, message } => Self::invalid(field, message),
            // The password hasher reaches the core through its port, where
            // saturation is a store that does not answer; it keeps its own
            // detail.
            Error::Store(store)
                if std::error::Error::source(store)
                    .is_some_and(|source| source.is::<crate::passwords::Saturated>()) =>
            {
                crate::passwords::saturated()
            }
            Error::Store(store) if store.kind() == StoreErrorKind::Unavailable => {
                tracing::warn!(error = %store, "the database does not answer");
                Self::database_unavailable()
            }
            Error::Store(store) => {
                // The details stay in the log; the client learns nothing of
                // the database.
                tracing::error!(error = %store, "store failure");
                Self::internal()
            }
            _ => Self::new(ProblemCode::of(&error), error.to_string()),
        }
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
    let api = match status {
        _ if unparsable_id => ApiError::new(ProblemCode::NotFound, "no such thing"),
        StatusCode::NOT_FOUND => ApiError::no_such_route(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            ProblemCode::MethodNotAllowed,
            "this path does not serve that method",
        ),
        StatusCode::UNAUTHORIZED => ApiError::unauthenticated(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large("the request body is too large")
        }
        _ if status.is_server_error() => {
            tracing::error!(error = %message, "unhandled error");
            ApiError::internal()
        }
        // Every other refusal of poem's (unparsable JSON or query, a wrong
        // content type) is a request the operation cannot read.
        _ => ApiError::bad_request(message),
    };
    api.into_response()
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON as _;
    use tenancy_core::error::StoreError;
    use tenancy_core::plan::{Metered, PlanId, QuotaExceeded};
    use tenancy_core::{Capability, RoleKey};

    use super::*;

    #[test]
    fn every_code_is_sent_as_its_string_with_its_status() {
        let mut seen = std::collections::HashSet::new();
        for &code in ProblemCode::ALL {
            assert!(seen.insert(code.as_str()), "`{code}` appears twice");
            assert_eq!(
                code.to_json(),
                Some(serde_json::Value::from(code.as_str())),
                "the schema's name of `{code}`"
            );
            assert!((400..600).contains(&code.status()), "`{code}`");
            let error = ApiError::new(code, "detail");
            assert_eq!(error.problem().code, code);
            assert_eq!(error.problem().title, code.title());
            assert_eq!(error.problem().kind, format!("urn:tenancy:problem:{code}"));
            // The variant is the one whose documented status is the code's.
            let status = error.into_response().status().as_u16();
            assert_eq!(status, code.status(), "`{code}`");
            assert!(
                code == ProblemCode::Internal
                    || !matches!(ApiError::new(code, ""), ApiError::Internal(_)),
                "`{code}` has no response of its own status"
            );
        }
    }

    #[test]
    fn the_core_errors_keep_their_stable_codes() {
        let quota = QuotaExceeded {
            metered: Metered::Agents,
            limit: 1,
            used: 1,
            adding: 1,
        };
        let errors = [
            Error::NotFound(Missing::Chat),
            Error::Unauthenticated,
            Error::InvalidCredentials,
            Error::Forbidden {
                role: RoleKey::VIEWER,
                capability: Capability::ManageMembers,
            },
            Error::EmailTaken,
            Error::AlreadyMember,
            Error::InvitationAlreadyAccepted,
            Error::OwnerCannotBeRemoved,
            Error::OwnerCannotLeave,
            Error::InvitationExpired,
            Error::InvitationRevoked,
            Error::InvitationEmailMismatch,
            Error::AlreadyVerified,
            Error::EmailUnverified,
            Error::TokenExpired,
            Error::TokenUsed,
            Error::WrongPassword,
            Error::NotFound(Missing::Token),
            Error::NotFound(Missing::Session),
            Error::RoleNotAssignable("owner".to_owned()),
            Error::CapabilityNotGrantable(Capability::DeleteOrganization),
            Error::OwnerRoleImmutable,
            Error::CannotChangeOwnRole,
            Error::RoleKeyTaken(RoleKey::EDITOR),
            Error::RoleLimitReached { max: 20 },
            Error::RoleBuiltin,
            Error::RoleInUse,
            Error::NotFound(Missing::Role),
            Error::NotFound(Missing::Transfer),
            Error::NotFound(Missing::Deletion),
            Error::InvitationSuperseded,
            Error::NotTransferTarget,
            Error::TransferExpired,
            Error::TransferTargetInvalid,
            Error::LastOwnedOrganization,
            Error::DeletionPending,
            Error::OrganizationPendingDeletion,
            Error::QuotaExceeded(quota),
            Error::UnknownPlan(PlanId::new("gold")),
            Error::PlanNotSelectable(PlanId::new("gold")),
            Error::PayloadTooLarge { limit: 1 },
            Error::UploadBroken("cut".to_owned()),
            Error::Invalid {
                field: "name",
                message: "empty".to_owned(),
            },
            Error::Store(StoreError::other("disk")),
        ];
        for error in errors {
            let code = error.code();
            assert_eq!(ProblemCode::of(&error).as_str(), code);
            assert_eq!(ApiError::from(error).problem().code.as_str(), code);
        }
        // The one code that HTTP refines: a database that does not answer.
        let down = Error::Store(StoreError::unavailable("no answer"));
        assert_eq!(ProblemCode::of(&down), ProblemCode::Unavailable);
        let down = ApiError::from(down);
        assert_eq!(down.problem().code, ProblemCode::Unavailable);
        assert!(down.problem().retry_after.is_some());
    }
}
