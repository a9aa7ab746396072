//! The tower [`Layer`] that wraps services in [`Tenancy`].

use std::fmt;
use std::sync::Arc;

use tenancy_core::{Policy, TenantPipeline};
use tower_layer::Layer;

use crate::service::Tenancy;

/// Wraps services in [`Tenancy`], which runs the [`TenantPipeline`] for every request.
///
/// Cloning is cheap (two `Arc`s). See the [crate docs](crate) for an example and for where the
/// layer belongs in a stack.
///
/// ```
/// use axum::{Router, body::Body, routing::get};
/// use http::{Request, StatusCode};
/// use tenancy_axum::{CurrentTenant, TenancyLayer};
/// use tower::ServiceExt;
/// # use std::sync::Arc;
/// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, Principal,
/// #     RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn};
/// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// # let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
/// # let alice = UserId::new_random();
/// # tenants.insert(acme.clone());
/// # members.insert(acme.id, alice, Role::Member);
/// # let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
/// #     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
/// #     .with_authenticator(Arc::new(authenticator_fn(move |req: &RequestView<'_>| {
/// #         match req.header(&http::header::AUTHORIZATION) {
/// #             Some(b"Bearer alice") => Ok(Some(Principal::user(alice))),
/// #             _ => Ok(None),
/// #         }
/// #     })));
///
/// let app = Router::new()
///     .route("/leads", get(|CurrentTenant(scope): CurrentTenant| async move { scope.slug().to_string() }))
///     .layer(TenancyLayer::new(Arc::new(pipeline)));
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let req = Request::get("/leads")
///     .header("x-tenant", "acme")
///     .header("authorization", "Bearer alice")
///     .body(Body::empty())?;
/// assert_eq!(app.clone().oneshot(req).await?.status(), StatusCode::OK);
///
/// // Refused by the layer (anonymous caller): the handler never runs.
/// let req = Request::get("/leads").header("x-tenant", "acme").body(Body::empty())?;
/// assert_eq!(app.oneshot(req).await?.status(), StatusCode::UNAUTHORIZED);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct TenancyLayer {
    pipeline: Arc<TenantPipeline>,
    policy: Option<Arc<Policy>>,
}

impl TenancyLayer {
    /// A layer running `pipeline`. Without a policy, [`RequirePermission`](crate::RequirePermission)
    /// answers 500 `tenancy_policy_missing`.
    ///
    /// ```
    /// use axum::{Router, body::Body, routing::get};
    /// use http::Request;
    /// use tenancy_axum::{OptionalTenant, TenancyLayer};
    /// use tower::{Layer, ServiceExt};
    /// # use std::sync::Arc;
    /// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, Principal,
    /// #     RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn};
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// # let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
    /// #     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    /// #     .with_authenticator(Arc::new(authenticator_fn(move |req: &RequestView<'_>| {
    /// #         match req.header(&http::header::AUTHORIZATION) {
    /// #             Some(b"Bearer alice") => Ok(Some(Principal::user(alice))),
    /// #             _ => Ok(None),
    /// #         }
    /// #     })));
    ///
    /// let router: Router = Router::new().route(
    ///     "/",
    ///     get(|OptionalTenant(scope): OptionalTenant| async move {
    ///         scope.map_or_else(|| "welcome".to_owned(), |s| format!("hello {}", s.slug()))
    ///     }),
    /// );
    /// // Around the whole router, tower style.
    /// let app = TenancyLayer::new(Arc::new(pipeline)).layer(router);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let res = app.oneshot(Request::get("/").body(Body::empty())?).await?;
    /// let body = axum::body::to_bytes(res.into_body(), 1024).await?;
    /// assert_eq!(body, "welcome");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn new(pipeline: Arc<TenantPipeline>) -> Self {
        Self {
            pipeline,
            policy: None,
        }
    }

    /// The permission policy that [`RequirePermission`](crate::RequirePermission) checks against.
    ///
    /// ```
    /// use axum::{Router, body::Body, routing::get};
    /// use http::{Request, StatusCode};
    /// use tenancy_axum::{RequirePermission, TenancyLayer};
    /// use tenancy_core::{Permission, PermissionMarker, Policy};
    /// use tower::ServiceExt;
    /// # use std::sync::Arc;
    /// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, Principal,
    /// #     RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn};
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// # let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
    /// #     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    /// #     .with_authenticator(Arc::new(authenticator_fn(move |req: &RequestView<'_>| {
    /// #         match req.header(&http::header::AUTHORIZATION) {
    /// #             Some(b"Bearer alice") => Ok(Some(Principal::user(alice))),
    /// #             _ => Ok(None),
    /// #         }
    /// #     })));
    ///
    /// struct LeadsRead;
    /// impl PermissionMarker for LeadsRead {
    ///     const PERMISSION: Permission = Permission::from_static("leads:read");
    /// }
    /// let policy = Policy::builder()
    ///     .permission(LeadsRead::PERMISSION)
    ///     .grant(Role::Member, [LeadsRead::PERMISSION])
    ///     .build()?;
    /// let pipeline = Arc::new(pipeline);
    /// let routes = || Router::new().route("/leads", get(|_: RequirePermission<LeadsRead>| async { "leads" }));
    /// let app = routes().layer(TenancyLayer::new(pipeline.clone()).with_policy(Arc::new(policy)));
    /// let no_policy = routes().layer(TenancyLayer::new(pipeline));
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let req = || {
    ///     Request::get("/leads")
    ///         .header("x-tenant", "acme")
    ///         .header("authorization", "Bearer alice")
    ///         .body(Body::empty())
    /// };
    /// assert_eq!(app.oneshot(req()?).await?.status(), StatusCode::OK);
    /// // Without a policy, permission guards fail closed.
    /// assert_eq!(no_policy.oneshot(req()?).await?.status(), StatusCode::INTERNAL_SERVER_ERROR);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_policy(mut self, policy: Arc<Policy>) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl fmt::Debug for TenancyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenancyLayer")
            .field("pipeline", &self.pipeline)
            .field("policy", &self.policy.is_some())
            .finish()
    }
}

impl<S> Layer<S> for TenancyLayer {
    type Service = Tenancy<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Tenancy::new(inner, self.pipeline.clone(), self.policy.clone())
    }
}
