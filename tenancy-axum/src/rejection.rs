//! Typed rejections: a status and a JSON body that never leaks internals.

use std::fmt;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use tenancy_core::Refusal;

/// Why a request was refused, by the layer or by an extractor.
///
/// The response is [`status`](Self::status) with the body
/// `{"error":{"code":..,"message":..}}` ([`body_text`](Self::body_text)); codes and messages
/// are fixed text from [`Refusal`], the same as `tenancy-actix` answers:
///
/// | status | code | when |
/// |--------|------|------|
/// | 400 | `invalid_tenant`, `tenant_conflict`, `tenant_required` | malformed or disagreeing selection; a tenant route without one |
/// | 401 | `unauthenticated` | no or invalid credentials |
/// | 403 | `not_a_member`, `insufficient_role`, `permission_denied`, `tenant_suspended`, ... | membership, role, lifecycle |
/// | 404 | `tenant_not_found` | unknown or deleted tenant |
/// | 500 | `tenancy_layer_missing`, `tenancy_policy_missing`, `internal` | wiring bugs, store failures |
///
/// The layer and the extractors build them; `From<Refusal>` also turns any [`Refusal`] into one
/// (the same status and body).
///
/// ```
/// use axum::extract::FromRequestParts;
/// use axum::response::IntoResponse;
/// use tenancy_axum::{CurrentTenant, TenancyRejection};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // A request that did not go through the layer: the extractor refuses it.
/// let (mut parts, ()) = http::Request::new(()).into_parts();
/// let rejection: TenancyRejection =
///     CurrentTenant::from_request_parts(&mut parts, &()).await.unwrap_err();
/// assert_eq!(rejection.code(), "tenancy_layer_missing");
///
/// let response = rejection.into_response();
/// assert_eq!(response.status(), 500);
/// assert_eq!(response.headers()["content-type"], "application/json");
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

    /// The HTTP status.
    ///
    /// ```
    /// use tenancy_axum::TenancyRejection;
    /// use tenancy_core::Refusal;
    /// let rejection = TenancyRejection::from(Refusal::INSUFFICIENT_ROLE);
    /// assert_eq!(rejection.status(), http::StatusCode::FORBIDDEN);
    /// ```
    pub const fn status(&self) -> StatusCode {
        self.refusal.status()
    }

    /// The stable machine-readable code.
    ///
    /// ```
    /// use tenancy_axum::TenancyRejection;
    /// use tenancy_core::Refusal;
    /// assert_eq!(TenancyRejection::from(Refusal::TENANT_REQUIRED).code(), "tenant_required");
    /// ```
    pub const fn code(&self) -> &'static str {
        self.refusal.code()
    }

    /// The JSON body.
    ///
    /// ```
    /// use tenancy_axum::TenancyRejection;
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
    /// use tenancy_axum::TenancyRejection;
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
            .field("status", &self.status().as_u16())
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

impl IntoResponse for TenancyRejection {
    fn into_response(self) -> Response {
        refusal_response::<Body>(self.refusal)
    }
}

/// The response for a refusal, in any body type that can be built from a `String`.
#[cold]
pub(crate) fn refusal_response<B: From<String>>(refusal: Refusal) -> http::Response<B> {
    let mut res = http::Response::new(B::from(refusal.json_body()));
    *res.status_mut() = refusal.status();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = refusal.retry_after() {
        res.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}
