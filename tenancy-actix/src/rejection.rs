//! Typed rejections: a status and a JSON body that never leaks internals.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};
use tenancy_core::Refusal;

/// Why a request was refused, by the middleware or by an extractor.
///
/// The response is [`status`](Self::status) with the body
/// `{"error":{"code":..,"message":..}}` ([`body_text`](Self::body_text)); codes, messages and
/// statuses are fixed text from [`Refusal`], identical to what `tenancy-axum` answers:
/// 400 `invalid_tenant` / `tenant_conflict` / `tenant_required`, 401 `unauthenticated`,
/// 403 `not_a_member` / `insufficient_role` / `permission_denied` / `tenant_suspended` / ...,
/// 404 `tenant_not_found`, 500 `tenancy_layer_missing` / `tenancy_policy_missing` / `internal`.
///
/// The middleware and the extractors build them; `From<Refusal>` also turns any [`Refusal`] into one
/// (the same status and body).
///
/// ```
/// use actix_web::{FromRequest, ResponseError, test};
/// use tenancy_actix::{CurrentTenant, TenancyRejection};
/// # actix_web::rt::System::new().block_on(async {
/// // A request that did not go through the middleware: the extractor refuses it.
/// let req = test::TestRequest::get().to_http_request();
/// let rejection: TenancyRejection = CurrentTenant::extract(&req).await.unwrap_err();
/// assert_eq!(rejection.code(), "tenancy_layer_missing");
///
/// let response = rejection.error_response();
/// assert_eq!(response.status(), 500);
/// assert_eq!(response.headers().get("content-type").unwrap(), "application/json");
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TenancyRejection {
    refusal: Refusal,
}

impl TenancyRejection {
    pub(crate) const fn new(refusal: Refusal) -> Self {
        Self { refusal }
    }

    /// The HTTP status (as a number: actix-web 4 and `http` 1 have different status types).
    ///
    /// ```
    /// use tenancy_actix::TenancyRejection;
    /// use tenancy_core::Refusal;
    /// let rejection = TenancyRejection::from(Refusal::INSUFFICIENT_ROLE);
    /// assert_eq!(rejection.status(), 403);
    /// ```
    pub const fn status(&self) -> u16 {
        self.refusal.status().as_u16()
    }

    /// The stable machine-readable code.
    ///
    /// ```
    /// use tenancy_actix::TenancyRejection;
    /// use tenancy_core::Refusal;
    /// assert_eq!(TenancyRejection::from(Refusal::TENANT_REQUIRED).code(), "tenant_required");
    /// ```
    pub const fn code(&self) -> &'static str {
        self.refusal.code()
    }

    /// The JSON body.
    ///
    /// ```
    /// use tenancy_actix::TenancyRejection;
    /// use tenancy_core::Refusal;
    /// let rejection = TenancyRejection::from(Refusal::TENANT_REQUIRED);
    /// assert_eq!(
    ///     rejection.body_text(),
    ///     r#"{"error":{"code":"tenant_required","message":"this route needs a tenant"}}"#
    /// );
    /// ```
    pub fn body_text(&self) -> String {
        self.refusal.json_body()
    }

    /// The framework-neutral refusal.
    ///
    /// ```
    /// use tenancy_actix::TenancyRejection;
    /// use tenancy_core::Refusal;
    /// let rejection = TenancyRejection::from(Refusal::PERMISSION_DENIED);
    /// assert_eq!(rejection.refusal(), Refusal::PERMISSION_DENIED);
    /// assert_eq!(rejection.refusal().message(), "this action is not permitted");
    /// ```
    pub const fn refusal(&self) -> Refusal {
        self.refusal
    }
}

impl fmt::Debug for TenancyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenancyRejection")
            .field("status", &self.status())
            .field("code", &self.code())
            .finish()
    }
}

impl fmt::Display for TenancyRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.refusal.message())
    }
}

impl std::error::Error for TenancyRejection {}

impl From<Refusal> for TenancyRejection {
    fn from(refusal: Refusal) -> Self {
        Self::new(refusal)
    }
}

impl ResponseError for TenancyRejection {
    fn status_code(&self) -> StatusCode {
        actix_status(self.refusal)
    }

    fn error_response(&self) -> HttpResponse {
        refusal_response(self.refusal)
    }
}

fn actix_status(refusal: Refusal) -> StatusCode {
    StatusCode::from_u16(refusal.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The response for a refusal.
pub(crate) fn refusal_response(refusal: Refusal) -> HttpResponse {
    let mut res = HttpResponse::build(actix_status(refusal));
    res.content_type(ContentType::json());
    if let Some(secs) = refusal.retry_after() {
        res.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
    }
    res.body(refusal.json_body())
}
