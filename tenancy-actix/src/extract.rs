//! `FromRequest` extractors for handlers behind [`TenancyMiddleware`](crate::TenancyMiddleware).

use std::fmt;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use tenancy_core::{
    PermissionMarker, Refusal, RoleMarker, TenantScope, require_permission, require_role,
};

use crate::middleware::MiddlewareRan;
use crate::rejection::TenancyRejection;

/// The middleware's outcome for this request: `Err` when the middleware did not run.
/// A scoped request without a policy carries only the scope (one extension fewer on the hot
/// path); every other request carries [`MiddlewareRan`].
fn lookup(req: &HttpRequest) -> Result<(Option<TenantScope>, MiddlewareRan), TenancyRejection> {
    let ext = req.extensions();
    let scope = ext.get::<TenantScope>().cloned();
    let ran = match (ext.get::<MiddlewareRan>(), &scope) {
        (Some(ran), _) => ran.clone(),
        (None, Some(_)) => MiddlewareRan { policy: None },
        (None, None) => return Err(TenancyRejection::new(Refusal::MISSING_LAYER)),
    };
    Ok((scope, ran))
}

pub(crate) fn scope_of(
    req: &HttpRequest,
) -> Result<(TenantScope, MiddlewareRan), TenancyRejection> {
    match lookup(req)? {
        (Some(scope), ran) => Ok((scope, ran)),
        (None, _) => Err(TenancyRejection::new(Refusal::TENANT_REQUIRED)),
    }
}

/// The request's tenant scope. Rejects with 400 `tenant_required` when the request selected no
/// tenant, and 500 `tenancy_layer_missing` when [`TenancyMiddleware`](crate::TenancyMiddleware)
/// does not wrap the route. Use [`OptionalTenant`] for routes that work without a tenant (not
/// `Option<CurrentTenant>`: actix turns every error into `None` there, a missing middleware
/// included).
///
/// ```
/// use tenancy_actix::CurrentTenant;
/// async fn handler(CurrentTenant(scope): CurrentTenant) -> String {
///     format!("hello {}", scope.slug())
/// }
/// # let _ = actix_web::web::get().to(handler);
/// ```
#[derive(Debug, Clone)]
pub struct CurrentTenant(pub TenantScope);

impl Deref for CurrentTenant {
    type Target = TenantScope;
    fn deref(&self) -> &TenantScope {
        &self.0
    }
}

impl FromRequest for CurrentTenant {
    type Error = TenancyRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(scope_of(req).map(|(scope, _)| Self(scope)))
    }
}

/// The request's tenant scope if a tenant was selected, for routes that work with or without
/// one. Still 500 `tenancy_layer_missing` without the middleware.
///
/// ```
/// use tenancy_actix::OptionalTenant;
/// async fn handler(OptionalTenant(scope): OptionalTenant) -> String {
///     scope.map_or_else(|| "welcome".to_owned(), |s| format!("hello {}", s.slug()))
/// }
/// # let _ = actix_web::web::get().to(handler);
/// ```
#[derive(Debug, Clone)]
pub struct OptionalTenant(pub Option<TenantScope>);

impl FromRequest for OptionalTenant {
    type Error = TenancyRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(lookup(req).map(|(scope, _)| Self(scope)))
    }
}

/// The tenant scope of a caller whose role is at least `R` (a marker from
/// [`tenancy_core::markers`]); otherwise 403 `insufficient_role`.
///
/// ```
/// use tenancy_actix::RequireRole;
/// use tenancy_actix::tenancy_core::markers::Admin;
/// async fn settings(admin: RequireRole<Admin>) -> String {
///     format!("settings of {}", admin.slug())
/// }
/// # let _ = actix_web::web::get().to(settings);
/// ```
pub struct RequireRole<R> {
    scope: TenantScope,
    _role: PhantomData<fn() -> R>,
}

impl<R> RequireRole<R> {
    /// The scope.
    ///
    /// ```
    /// use tenancy_actix::RequireRole;
    /// use tenancy_actix::tenancy_core::{in_scope, markers::Admin, try_current};
    ///
    /// async fn start_export(admin: RequireRole<Admin>) -> &'static str {
    ///     // An owned scope can move into a background task.
    ///     let scope = admin.into_scope();
    ///     actix_web::rt::spawn(in_scope(scope, async {
    ///         let _tenant = try_current().map(|s| s.tenant_id());
    ///         // ... build the export for `_tenant`
    ///     }));
    ///     "export started"
    /// }
    /// # let _ = actix_web::web::post().to(start_export);
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

impl<R: RoleMarker> FromRequest for RequireRole<R> {
    type Error = TenancyRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready((|| {
            let (scope, _) = scope_of(req)?;
            require_role(&scope, R::ROLE)?;
            Ok(Self {
                scope,
                _role: PhantomData,
            })
        })())
    }
}

/// The tenant scope of a caller whose role holds the permission `P` in the middleware's
/// [`Policy`](tenancy_core::Policy)
/// ([`TenancyMiddleware::with_policy`](crate::TenancyMiddleware::with_policy)); otherwise 403
/// (`insufficient_role` or `permission_denied`), or 500 `tenancy_policy_missing` without a
/// policy.
///
/// ```
/// use tenancy_actix::RequirePermission;
/// use tenancy_actix::tenancy_core::{Permission, PermissionMarker};
///
/// struct LeadsWrite;
/// impl PermissionMarker for LeadsWrite {
///     const PERMISSION: Permission = Permission::from_static("leads:write");
/// }
///
/// async fn create_lead(scope: RequirePermission<LeadsWrite>) -> String {
///     format!("lead created in {}", scope.slug())
/// }
/// # let _ = actix_web::web::post().to(create_lead);
/// ```
pub struct RequirePermission<P> {
    scope: TenantScope,
    _permission: PhantomData<fn() -> P>,
}

impl<P> RequirePermission<P> {
    /// The scope.
    ///
    /// ```
    /// use tenancy_actix::RequirePermission;
    /// use tenancy_actix::tenancy_core::{Permission, PermissionMarker, TenantRef};
    ///
    /// struct ReportsRun;
    /// impl PermissionMarker for ReportsRun {
    ///     const PERMISSION: Permission = Permission::from_static("reports:run");
    /// }
    ///
    /// /// Hands the job to a queue; the worker re-checks it with `TenantRef::rehydrate`.
    /// fn enqueue(job: TenantRef) -> String {
    ///     format!("queued: {job}")
    /// }
    ///
    /// async fn run_report(guard: RequirePermission<ReportsRun>) -> String {
    ///     enqueue(guard.into_scope().to_ref())
    /// }
    /// # let _ = actix_web::web::post().to(run_report);
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

impl<P: PermissionMarker> FromRequest for RequirePermission<P> {
    type Error = TenancyRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready((|| {
            let (scope, ran) = scope_of(req)?;
            require_permission(ran.policy.as_deref(), &scope, &P::PERMISSION)?;
            Ok(Self {
                scope,
                _permission: PhantomData,
            })
        })())
    }
}
