//! The API's error type: a status, a stable code and a message that never leaks internals.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenancy_core::{DenyReason, PipelineError, Refusal};
use tenancy_sqlx::{InvitationError, LifecycleError, MembershipError, TxError};

/// An error answered as `{"error":{"code":"...","message":"..."}}`.
///
/// The message is fixed text chosen by the app (or a library's public message), never a database
/// error, SQL, a constraint name or another tenant's id; causes are logged, not returned.
///
/// ```
/// use axum::response::IntoResponse;
/// use saas::ApiError;
/// let response = ApiError::not_found().into_response();
/// assert_eq!(response.status(), 404);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The public message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 404 `not_found`: an unknown resource, or one of another tenant (indistinguishable).
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "authentication is required",
        )
    }

    /// 401 `invalid_credentials` (login).
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "email or password is wrong",
        )
    }

    /// 403 `forbidden` with a message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 409 with a code and message.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 `invalid_input` with a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
    }

    /// 400 `tenant_required`: a tenant route called without selecting a tenant.
    pub fn tenant_required() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "tenant_required",
            "choose an organisation by subdomain, `X-Tenant` header or `/t/{slug}` path",
        )
    }

    /// 500 `internal`: logs `source` and answers with no detail.
    pub fn internal(source: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %source, source = ?source.source(), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<PipelineError> for ApiError {
    fn from(e: PipelineError) -> Self {
        if let PipelineError::Internal(source) = &e {
            tracing::error!(error = %source, "tenant pipeline failed");
        }
        Self::new(e.status(), e.code(), e.public_message())
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        Self::new(r.status(), r.code(), r.message())
    }
}

impl From<DenyReason> for ApiError {
    fn from(e: DenyReason) -> Self {
        // Deny messages are fixed text about the caller's own role.
        Self::forbidden(e.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(&e)
    }
}

impl From<TxError> for ApiError {
    fn from(e: TxError) -> Self {
        Self::internal(&e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        // The rejection text quotes serde's message (field names and types of our own body
        // types), never stored data.
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            e.body_text(),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(_: PathRejection) -> Self {
        // A path id that is not a UUID names nothing: 404, like an id of another tenant.
        Self::not_found()
    }
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> Self {
        match e {
            MembershipError::Denied(reason) => reason.into(),
            MembershipError::ActorNotMember => {
                Self::forbidden("you are no longer a member of this organisation")
            }
            // Not a member of *this* tenant: whether the user exists elsewhere is not said.
            MembershipError::NotMember(_) => Self::not_found(),
            MembershipError::AlreadyMember(_) => {
                Self::conflict("already_member", "already a member of this organisation")
            }
            MembershipError::LastOwner => Self::conflict(
                "last_owner",
                "the last owner cannot leave, be removed or be demoted",
            ),
            other => Self::internal(&other),
        }
    }
}

impl From<InvitationError> for ApiError {
    fn from(e: InvitationError) -> Self {
        match e {
            InvitationError::Denied(reason) => reason.into(),
            InvitationError::InvalidEmail(_) => {
                Self::invalid("`email` is not a valid email address")
            }
            // Unknown, malformed, another tenant's, or for another email: all the same answer.
            InvitationError::NotFound | InvitationError::EmailMismatch => Self::new(
                StatusCode::NOT_FOUND,
                "invitation_not_found",
                "no such invitation for you",
            ),
            InvitationError::Revoked | InvitationError::AlreadyUsed | InvitationError::Expired => {
                Self::new(
                    StatusCode::CONFLICT,
                    "invitation_unusable",
                    "this invitation was used, revoked or has expired",
                )
            }
            InvitationError::TenantNotActive => Self::new(
                StatusCode::FORBIDDEN,
                "tenant_suspended",
                "this tenant is suspended",
            ),
            InvitationError::InviterLostRights => {
                Self::forbidden("the inviter can no longer grant this role")
            }
            InvitationError::Membership(m) => m.into(),
            other => Self::internal(&other),
        }
    }
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            LifecycleError::NotFound(_) => Self::not_found(),
            LifecycleError::InvalidTransition { .. } => Self::conflict(
                "invalid_transition",
                "the tenant cannot change to this status",
            ),
            LifecycleError::SlugTaken(_) => {
                Self::conflict("slug_taken", "this organisation slug is taken")
            }
            LifecycleError::EmptyName => Self::invalid("`name` is required"),
            other => Self::internal(&other),
        }
    }
}

/// The SQLSTATE of a database error, if any.
pub(crate) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// `Result` with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;
