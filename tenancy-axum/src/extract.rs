//! Extractors for handlers behind [`TenancyLayer`](crate::TenancyLayer).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use tenancy_core::{
    PermissionMarker, Policy, Refusal, RoleMarker, TenantScope, require_permission, require_role,
};

use crate::rejection::TenancyRejection;
use crate::service::LayerRan;

/// The layer's outcome for this request: the scope (if any) and the policy (if configured);
/// `Err` when the layer did not run. A scoped request without a policy carries only the scope
/// (one extension fewer on the hot path); every other request carries [`LayerRan`].
fn lookup(parts: &Parts) -> Result<(Option<&TenantScope>, Option<&Policy>), TenancyRejection> {
    let scope = parts.extensions.get::<TenantScope>();
    let ran = parts.extensions.get::<LayerRan>();
    if scope.is_none() && ran.is_none() {
        return Err(TenancyRejection::new(Refusal::MISSING_LAYER));
    }
    Ok((scope, ran.and_then(|r| r.policy.as_deref())))
}

fn scope_of(parts: &Parts) -> Result<(TenantScope, Option<&Policy>), TenancyRejection> {
    match lookup(parts)? {
        (Some(scope), policy) => Ok((scope.clone(), policy)),
        (None, _) => Err(TenancyRejection::new(Refusal::TENANT_REQUIRED)),
    }
}

/// The request's tenant scope. Rejects with 400 `tenant_required` when the request selected no
/// tenant, and 500 `tenancy_layer_missing` when [`TenancyLayer`](crate::TenancyLayer) is not
/// installed on the route. `Option<CurrentTenant>` (or [`OptionalTenant`]) accepts requests
/// without a tenant.
///
/// ```
/// use tenancy_axum::CurrentTenant;
/// async fn handler(CurrentTenant(scope): CurrentTenant) -> String {
///     format!("hello {}", scope.slug())
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Debug, Clone)]
pub struct CurrentTenant(pub TenantScope);

impl Deref for CurrentTenant {
    type Target = TenantScope;
    fn deref(&self) -> &TenantScope {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = TenancyRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        scope_of(parts).map(|(scope, _)| Self(scope))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentTenant {
    type Rejection = TenancyRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        lookup(parts).map(|(scope, _)| scope.cloned().map(Self))
    }
}

/// The request's tenant scope if a tenant was selected, for routes that work with or without
/// one. Still 500 `tenancy_layer_missing` without the layer: a missing layer is never read as
/// "no tenant".
///
/// ```
/// use tenancy_axum::OptionalTenant;
/// async fn handler(OptionalTenant(scope): OptionalTenant) -> String {
///     scope.map_or_else(|| "welcome".to_owned(), |s| format!("hello {}", s.slug()))
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Debug, Clone)]
pub struct OptionalTenant(pub Option<TenantScope>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalTenant {
    type Rejection = TenancyRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        lookup(parts).map(|(scope, _)| Self(scope.cloned()))
    }
}

/// The tenant scope of a caller whose role is at least `R` (a marker from
/// [`tenancy_core::markers`]); otherwise 403 `insufficient_role`.
///
/// ```
/// use tenancy_axum::RequireRole;
/// use tenancy_axum::tenancy_core::markers::Admin;
/// async fn settings(admin: RequireRole<Admin>) -> String {
///     format!("settings of {}", admin.slug())
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::get(settings);
/// ```
pub struct RequireRole<R> {
    scope: TenantScope,
    _role: PhantomData<fn() -> R>,
}

impl<R> RequireRole<R> {
    /// The scope.
    ///
    /// ```
    /// use tenancy_axum::RequireRole;
    /// use tenancy_axum::tenancy_core::{in_scope, markers::Admin, try_current};
    ///
    /// async fn start_export(admin: RequireRole<Admin>) -> &'static str {
    ///     // An owned scope can move into a background task.
    ///     let scope = admin.into_scope();
    ///     tokio::spawn(in_scope(scope, async {
    ///         let _tenant = try_current().map(|s| s.tenant_id());
    ///         // ... build the export for `_tenant`
    ///     }));
    ///     "export started"
    /// }
    /// # let _: axum::routing::MethodRouter = axum::routing::post(start_export);
    /// ```
    pub fn into_scope(self) -> TenantScope {
        self.scope
    }
}

impl<R> Deref for RequireRole<R> {
    type Target = TenantScope;
    fn deref(&self) -> &TenantScope {
        &self.scope
    }
}

impl<R> fmt::Debug for RequireRole<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequireRole").field(&self.scope).finish()
    }
}

impl<S: Send + Sync, R: RoleMarker> FromRequestParts<S> for RequireRole<R> {
    type Rejection = TenancyRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (scope, _) = scope_of(parts)?;
        require_role(&scope, R::ROLE)?;
        Ok(Self {
            scope,
            _role: PhantomData,
        })
    }
}

/// The tenant scope of a caller whose role holds the permission `P` in the layer's
/// [`Policy`](tenancy_core::Policy) ([`TenancyLayer::with_policy`](crate::TenancyLayer::with_policy));
/// otherwise 403 (`insufficient_role` or `permission_denied`), or 500 `tenancy_policy_missing`
/// when the layer has no policy.
///
/// ```
/// use tenancy_axum::RequirePermission;
/// use tenancy_axum::tenancy_core::{Permission, PermissionMarker};
///
/// struct LeadsWrite;
/// impl PermissionMarker for LeadsWrite {
///     const PERMISSION: Permission = Permission::from_static("leads:write");
/// }
///
/// async fn create_lead(scope: RequirePermission<LeadsWrite>) -> String {
///     format!("lead created in {}", scope.slug())
/// }
/// # let _: axum::routing::MethodRouter = axum::routing::post(create_lead);
/// ```
pub struct RequirePermission<P> {
    scope: TenantScope,
    _permission: PhantomData<fn() -> P>,
}

impl<P> RequirePermission<P> {
    /// The scope.
    ///
    /// ```
    /// use tenancy_axum::RequirePermission;
    /// use tenancy_axum::tenancy_core::{Permission, PermissionMarker};
    ///
    /// struct ReportsRun;
    /// impl PermissionMarker for ReportsRun {
    ///     const PERMISSION: Permission = Permission::from_static("reports:run");
    /// }
    ///
    /// async fn enqueue_report(guard: RequirePermission<ReportsRun>) -> String {
    ///     // A job payload references the scope; the worker re-checks it with `TenantRef::rehydrate`.
    ///     let job = guard.into_scope().to_ref();
    ///     serde_json::to_string(&job).unwrap_or_default()
    /// }
    /// # let _: axum::routing::MethodRouter = axum::routing::post(enqueue_report);
    /// ```
    pub fn into_scope(self) -> TenantScope {
        self.scope
    }
}

impl<P> Deref for RequirePermission<P> {
    type Target = TenantScope;
    fn deref(&self) -> &TenantScope {
        &self.scope
    }
}

impl<P> fmt::Debug for RequirePermission<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequirePermission")
            .field(&self.scope)
            .finish()
    }
}

impl<S: Send + Sync, P: PermissionMarker> FromRequestParts<S> for RequirePermission<P> {
    type Rejection = TenancyRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (scope, policy) = scope_of(parts)?;
        require_permission(policy, &scope, &P::PERMISSION)?;
        Ok(Self {
            scope,
            _permission: PhantomData,
        })
    }
}
