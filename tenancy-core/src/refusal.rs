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
    ///
    /// ```
    /// use tenancy_core::{Refusal, TenantScope};
    /// /// What an extractor does with the request's extensions: no scope there means no layer ran.
    /// fn scope_of(extension: Option<&TenantScope>) -> Result<TenantScope, Refusal> {
    ///     extension.cloned().ok_or(Refusal::MISSING_LAYER)
    /// }
    /// let refusal = scope_of(None).unwrap_err();
    /// assert_eq!((refusal.status().as_u16(), refusal.code()), (500, "tenancy_layer_missing"));
    /// ```
    pub const MISSING_LAYER: Self = Self::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "tenancy_layer_missing",
        "the tenancy layer is not installed on this route",
    );
    /// 500 `tenancy_policy_missing`: a permission guard ran but no [`Policy`] was configured.
    ///
    /// ```
    /// use tenancy_core::{authorize, require_permission, InMemoryMembershipStore, InMemoryTenantStore,
    ///     Permission, Refusal, Role, Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Owner);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// let leads_read = Permission::from_static("leads:read");
    /// // No policy configured: even an owner is refused (fail closed).
    /// assert_eq!(require_permission(None, &scope, &leads_read), Err(Refusal::MISSING_POLICY));
    /// # });
    /// ```
    pub const MISSING_POLICY: Self = Self::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "tenancy_policy_missing",
        "no permission policy is configured",
    );
    /// 400 `tenant_required`: the route needs a tenant and the request selected none.
    ///
    /// ```
    /// use tenancy_core::{PipelineOutcome, Refusal, TenantScope};
    /// /// A tenant route: a request that selected no tenant is refused.
    /// fn tenant_of(outcome: PipelineOutcome) -> Result<TenantScope, Refusal> {
    ///     match outcome {
    ///         PipelineOutcome::Scoped(scope) => Ok(scope),
    ///         PipelineOutcome::NoTenant { .. } => Err(Refusal::TENANT_REQUIRED),
    ///     }
    /// }
    /// let refused = tenant_of(PipelineOutcome::NoTenant { principal: None, platform: None });
    /// assert_eq!(refused.unwrap_err().message(), "this route needs a tenant");
    /// ```
    pub const TENANT_REQUIRED: Self = Self::new(
        StatusCode::BAD_REQUEST,
        "tenant_required",
        "this route needs a tenant",
    );
    /// 403 `insufficient_role`: the caller's role in the tenant is too low.
    ///
    /// ```
    /// use tenancy_core::{authorize, require_role, InMemoryMembershipStore, InMemoryTenantStore,
    ///     Refusal, Role, Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let bob = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// members.insert(acme.id, bob, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), bob).await.unwrap();
    /// assert_eq!(require_role(&scope, Role::Admin), Err(Refusal::INSUFFICIENT_ROLE));
    /// assert_eq!(Refusal::INSUFFICIENT_ROLE.status(), 403);
    /// # });
    /// ```
    pub const INSUFFICIENT_ROLE: Self = Self::new(
        StatusCode::FORBIDDEN,
        "insufficient_role",
        "your role does not allow this action",
    );
    /// 403 `permission_denied`: the policy denies the action for another reason than the role
    /// (an undeclared permission or role, a permission of the wrong scope kind).
    ///
    /// ```
    /// use tenancy_core::{DenyReason, Refusal};
    /// // A deny that is not about the role level (here: a permission the policy never declared).
    /// assert_eq!(Refusal::from(&DenyReason::UnknownPermission), Refusal::PERMISSION_DENIED);
    /// assert_eq!(Refusal::PERMISSION_DENIED.code(), "permission_denied");
    /// ```
    pub const PERMISSION_DENIED: Self = Self::new(
        StatusCode::FORBIDDEN,
        "permission_denied",
        "this action is not permitted",
    );
    /// 500 `internal`: something failed on the server; the detail goes to the logs only.
    ///
    /// ```
    /// use tenancy_core::Refusal;
    /// fn load_invoices() -> Result<Vec<String>, std::io::Error> {
    ///     Err(std::io::Error::other("connection to 10.0.0.5 refused"))
    /// }
    /// let refusal = load_invoices().map_err(|e| {
    ///     tracing::error!(error = %e, "loading invoices failed"); // the detail stays in the logs
    ///     Refusal::INTERNAL
    /// });
    /// let body = refusal.unwrap_err().json_body();
    /// assert_eq!(body, r#"{"error":{"code":"internal","message":"internal error"}}"#);
    /// ```
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
    ///
    /// ```
    /// use tenancy_core::Refusal;
    /// assert_eq!(Refusal::MISSING_LAYER.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    /// ```
    pub const fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    ///
    /// ```
    /// use tenancy_core::Refusal;
    /// assert_eq!(Refusal::INSUFFICIENT_ROLE.code(), "insufficient_role");
    /// ```
    pub const fn code(&self) -> &'static str {
        self.code
    }

    /// The public message (fixed text).
    ///
    /// ```
    /// use tenancy_core::Refusal;
    /// assert_eq!(Refusal::INSUFFICIENT_ROLE.message(), "your role does not allow this action");
    /// ```
    pub const fn message(&self) -> &'static str {
        self.message
    }

    /// The response body: `{"error":{"code":..,"message":..}}`.
    ///
    /// ```
    /// use tenancy_core::Refusal;
    /// let body: serde_json::Value = serde_json::from_str(&Refusal::PERMISSION_DENIED.json_body())?;
    /// assert_eq!(body["error"]["code"], "permission_denied");
    /// assert_eq!(body["error"]["message"], "this action is not permitted");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
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
///
/// ```
/// use tenancy_core::{Role, RoleMarker, markers};
/// /// What a `RequireRole<R>` extractor reads from its type parameter.
/// fn min_role<R: RoleMarker>() -> Role {
///     R::ROLE
/// }
/// assert_eq!(min_role::<markers::Manager>(), Role::Manager);
/// assert!(Role::Owner.at_least(min_role::<markers::Admin>()));
/// ```
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
///
/// ```
/// use tenancy_core::{authorize, require_role, InMemoryMembershipStore, InMemoryTenantStore, Role,
///     Tenant, TenantId, TenantKey, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// # let alice = UserId::new_random();
/// # tenants.insert(acme.clone());
/// members.insert(acme.id, alice, Role::Manager);
/// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
/// assert!(require_role(&scope, Role::Member).is_ok());
/// assert!(require_role(&scope, Role::Manager).is_ok());
/// let refusal = require_role(&scope, Role::Owner).unwrap_err();
/// assert_eq!(refusal.code(), "insufficient_role");
/// # });
/// ```
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
///
/// ```
/// use tenancy_core::{authorize, require_permission, InMemoryMembershipStore, InMemoryTenantStore,
///     Permission, Policy, Refusal, Role, Tenant, TenantId, TenantKey, UserId};
/// const LEADS_WRITE: Permission = Permission::from_static("leads:write");
/// let policy = Policy::builder().permission(LEADS_WRITE).grant(Role::Manager, [LEADS_WRITE]).build()?;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// # let bob = UserId::new_random();
/// # tenants.insert(acme.clone());
/// members.insert(acme.id, bob, Role::Member);
/// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), bob).await.unwrap();
/// assert_eq!(
///     require_permission(Some(&policy), &scope, &LEADS_WRITE),
///     Err(Refusal::INSUFFICIENT_ROLE)
/// );
/// let undeclared = Permission::from_static("leads:delete");
/// assert_eq!(
///     require_permission(Some(&policy), &scope, &undeclared),
///     Err(Refusal::PERMISSION_DENIED)
/// );
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
