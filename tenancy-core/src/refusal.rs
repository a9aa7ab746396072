//! Refusals as data: what the web adapters answer when a request may not proceed, defined once
//! here so that `tenancy-axum` and `tenancy-actix` cannot drift apart.

use http::StatusCode;

use crate::decision::DenyReason;
use crate::permission::{Permission, Policy};
use crate::pipeline::PipelineError;
use crate::{Role, TenantScope};

/// A refusal an adapter turns into an HTTP response: a status, a stable machine-readable code
/// and a fixed public message.
///
/// The body is always `{"error":{"code":"..","message":".."}}` ([`json_body`](Self::json_body)).
/// Codes and messages are `'static` text chosen here: they never carry tenant names, ids, SQL or
/// any other internal detail, whatever caused the refusal.
///
/// ```
/// use tenancy_core::Refusal;
/// let r = Refusal::TENANT_REQUIRED;
/// assert_eq!(r.status(), 400);
/// assert_eq!(r.code(), "tenant_required");
/// assert_eq!(
///     r.json_body(),
///     r#"{"error":{"code":"tenant_required","message":"this route needs a tenant"}}"#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
    retry_after: Option<u64>,
}

impl Refusal {
    /// 500 `tenancy_layer_missing`: a handler asked for the tenant scope but the tenancy
    /// layer/middleware did not run for this route (a wiring bug of the application).
    pub const MISSING_LAYER: Self = Self::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "tenancy_layer_missing",
        "the tenancy layer is not installed on this route",
    );
    /// 500 `tenancy_policy_missing`: a permission guard ran but no [`Policy`] was configured.
    pub const MISSING_POLICY: Self = Self::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "tenancy_policy_missing",
        "no permission policy is configured",
    );
    /// 400 `tenant_required`: the route needs a tenant and the request selected none.
    pub const TENANT_REQUIRED: Self = Self::new(
        StatusCode::BAD_REQUEST,
        "tenant_required",
        "this route needs a tenant",
    );
    /// 403 `insufficient_role`: the caller's role in the tenant is too low.
    pub const INSUFFICIENT_ROLE: Self = Self::new(
        StatusCode::FORBIDDEN,
        "insufficient_role",
        "your role does not allow this action",
    );
    /// 403 `permission_denied`: the policy denies the action for another reason than the role
    /// (an undeclared permission or role, a permission of the wrong scope kind).
    pub const PERMISSION_DENIED: Self = Self::new(
        StatusCode::FORBIDDEN,
        "permission_denied",
        "this action is not permitted",
    );
    /// 500 `internal`: something failed on the server; the detail goes to the logs only.
    pub const INTERNAL: Self = Self::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    );

    const fn new(status: StatusCode, code: &'static str, message: &'static str) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
        }
    }

    /// Seconds after which a refused request may be retried: the adapters send it as the
    /// `Retry-After` header (set on 429 `rate_limited`).
    ///
    /// ```
    /// use tenancy_core::{LimitKind, PipelineError, RateLimited, Refusal};
    /// use std::time::Duration;
    /// let limited = PipelineError::RateLimited(RateLimited::new(
    ///     LimitKind::Tenant,
    ///     Duration::from_millis(1500),
    /// ));
    /// let r = Refusal::from(&limited);
    /// assert_eq!((r.status().as_u16(), r.code(), r.retry_after()), (429, "rate_limited", Some(2)));
    /// assert_eq!(Refusal::TENANT_REQUIRED.retry_after(), None);
    /// ```
    pub const fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The HTTP status.
    pub const fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// The public message (fixed text).
    pub const fn message(&self) -> &'static str {
        self.message
    }

    /// The response body: `{"error":{"code":..,"message":..}}`.
    pub fn json_body(&self) -> String {
        serde_json::json!({ "error": { "code": self.code, "message": self.message } }).to_string()
    }
}

impl From<&PipelineError> for Refusal {
    fn from(e: &PipelineError) -> Self {
        let refusal = Self::new(e.status(), e.code(), e.public_message());
        match e {
            PipelineError::RateLimited(limited) => Self {
                retry_after: Some(limited.retry_after_secs()),
                ..refusal
            },
            _ => refusal,
        }
    }
}

impl From<PipelineError> for Refusal {
    fn from(e: PipelineError) -> Self {
        Self::from(&e)
    }
}

impl From<&DenyReason> for Refusal {
    fn from(reason: &DenyReason) -> Self {
        match reason {
            DenyReason::NotGranted { .. }
            | DenyReason::InsufficientRole
            | DenyReason::OwnerOnly
            | DenyReason::AboveOwnRole
            | DenyReason::TargetNotBelow => Self::INSUFFICIENT_ROLE,
            DenyReason::UnknownPermission
            | DenyReason::UnknownRole
            | DenyReason::WrongScope
            | DenyReason::InvalidAssignment => Self::PERMISSION_DENIED,
        }
    }
}

/// A type standing for a minimum built-in [`Role`], so that it can be named in a type: the
/// adapters' `RequireRole<R>` extractors take such an `R`. Ready-made markers are in
/// [`markers`].
///
/// ```
/// use tenancy_core::{Role, RoleMarker, markers::Admin};
/// assert_eq!(Admin::ROLE, Role::Admin);
/// ```
pub trait RoleMarker: Send + Sync + 'static {
    /// The minimum role.
    const ROLE: Role;
}

/// Marker types for the built-in roles, for `RequireRole<R>` extractors.
pub mod markers {
    use super::RoleMarker;
    use crate::Role;

    macro_rules! marker {
        ($(#[$doc:meta] $name:ident => $role:expr;)*) => {$(
            #[$doc]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
            pub struct $name;
            impl RoleMarker for $name {
                const ROLE: Role = $role;
            }
        )*};
    }

    marker! {
        /// At least [`Role::Owner`].
        Owner => Role::Owner;
        /// At least [`Role::Admin`].
        Admin => Role::Admin;
        /// At least [`Role::Manager`].
        Manager => Role::Manager;
        /// At least [`Role::Member`] (any member).
        Member => Role::Member;
    }
}

/// The role guard the adapters run: `Ok` when the scope's role is `min` or above, otherwise
/// [`Refusal::INSUFFICIENT_ROLE`].
pub fn require_role(scope: &TenantScope, min: Role) -> Result<(), Refusal> {
    if scope.role().at_least(min) {
        Ok(())
    } else {
        Err(Refusal::INSUFFICIENT_ROLE)
    }
}

/// The permission guard the adapters run: checks `permission` for the scope against `policy`.
/// No policy is [`Refusal::MISSING_POLICY`] (fail closed); a deny maps through
/// `From<&DenyReason>`.
pub fn require_permission(
    policy: Option<&Policy>,
    scope: &TenantScope,
    permission: &Permission,
) -> Result<(), Refusal> {
    let Some(policy) = policy else {
        return Err(Refusal::MISSING_POLICY);
    };
    policy
        .check(scope, permission)
        .into_result()
        .map_err(|reason| Refusal::from(&reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_fixed_json() {
        let v: serde_json::Value =
            serde_json::from_str(&Refusal::MISSING_LAYER.json_body()).unwrap_or_default();
        assert_eq!(v["error"]["code"], "tenancy_layer_missing");
        assert_eq!(Refusal::MISSING_LAYER.status(), 500);
        assert_eq!(Refusal::INSUFFICIENT_ROLE.status(), 403);
    }

    #[test]
    fn deny_reasons_are_403() {
        let r = Refusal::from(&DenyReason::UnknownPermission);
        assert_eq!(r.status(), 403);
        assert_eq!(r.code(), "permission_denied");
    }
}
