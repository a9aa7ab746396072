//! The tower [`Service`] that runs the tenant pipeline.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tenancy_core::{
    PipelineError, PipelineOutcome, Policy, Refusal, RequestView, TenantPipeline, TenantScope,
    in_scope, record_scope_on_current_span, record_scope_on_span,
};
use tower_service::Service;
use tracing::field::Empty;

use crate::future::{Kind, ResponseFuture};
use crate::rejection::refusal_response;

/// Present in the extensions of every request that went through [`Tenancy`]: tells the
/// extractors that the layer ran (so a missing scope means "no tenant", not "no layer") and
/// carries the permission policy.
#[derive(Clone)]
pub(crate) struct LayerRan {
    pub(crate) policy: Option<Arc<Policy>>,
}

/// Runs the [`TenantPipeline`] for each request, then calls the inner service with the outcome
/// in the request extensions; a refused request gets its refusal response and never reaches the
/// inner service.
///
/// On success the extensions hold the [`TenantScope`](tenancy_core::TenantScope) (when a tenant
/// was selected), the [`Principal`](tenancy_core::Principal) (when authenticated) and the
/// [`PlatformScope`](tenancy_core::PlatformScope) (platform administrators on tenant-less
/// requests). The inner service also runs inside [`in_scope`], so
/// [`tenancy_core::try_current`] works in handlers.
///
/// Tracing: the request runs in a DEBUG-level `tenancy.request` span (like tower-http's
/// `TraceLayer` spans: free when the subscriber only wants INFO) whose `tenant_id` and `tenant_slug`
/// fields are recorded on success; the same fields are also recorded on the span that was
/// current when the service was called (for example the span of `tower_http::trace::TraceLayer`)
/// if that span declares them (`tenant_id = tracing::field::Empty`, ...).
///
/// Built by [`TenancyLayer`](crate::TenancyLayer).
///
/// ```
/// use std::convert::Infallible;
/// use axum::body::Body;
/// use http::{Request, Response};
/// use tenancy_axum::Tenancy;
/// use tenancy_core::TenantScope;
/// use tower::{ServiceExt, service_fn};
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
/// // Any tower service; here one that reads the scope from the request extensions.
/// let inner = service_fn(|req: Request<Body>| async move {
///     let slug = req.extensions().get::<TenantScope>().map(|s| s.slug().to_string());
///     Ok::<_, Infallible>(Response::new(Body::from(slug.unwrap_or_default())))
/// });
/// let svc = Tenancy::new(inner, Arc::new(pipeline), None);
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let req = Request::get("/")
///     .header("x-tenant", "acme")
///     .header("authorization", "Bearer alice")
///     .body(Body::empty())?;
/// let res = svc.oneshot(req).await?;
/// assert_eq!(axum::body::to_bytes(res.into_body(), 1024).await?, "acme");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Tenancy<S> {
    inner: S,
    pipeline: Arc<TenantPipeline>,
    policy: Option<Arc<Policy>>,
}

impl<S> Tenancy<S> {
    /// Wraps `inner`.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use axum::body::Body;
    /// use http::{Request, Response};
    /// use tenancy_axum::Tenancy;
    /// use tower::{ServiceExt, service_fn};
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
    /// // What `TenancyLayer::new(pipeline).layer(inner)` builds. The inner service runs inside the
    /// // tenant scope, so code far from the request reads it with `try_current`.
    /// let inner = service_fn(|_req: Request<Body>| async {
    ///     let role = tenancy_core::try_current().map(|s| s.role().to_string());
    ///     Ok::<_, Infallible>(Response::new(Body::from(role.unwrap_or_default())))
    /// });
    /// let svc = Tenancy::new(inner, Arc::new(pipeline), None);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let req = Request::get("/")
    ///     .header("x-tenant", "acme")
    ///     .header("authorization", "Bearer alice")
    ///     .body(Body::empty())?;
    /// let res = svc.oneshot(req).await?;
    /// assert_eq!(axum::body::to_bytes(res.into_body(), 1024).await?, "member");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn new(inner: S, pipeline: Arc<TenantPipeline>, policy: Option<Arc<Policy>>) -> Self {
        Self {
            inner,
            pipeline,
            policy,
        }
    }

    /// The wrapped service.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use tenancy_axum::TenancyLayer;
    /// use tower::Layer;
    /// # use std::sync::Arc;
    /// # use tenancy_core::{InMemoryMembershipStore, InMemoryTenantStore, TenantPipeline};
    /// # let pipeline = TenantPipeline::new(
    /// #     Arc::new(InMemoryTenantStore::new()),
    /// #     Arc::new(InMemoryMembershipStore::new()),
    /// # );
    ///
    /// let svc = TenancyLayer::new(Arc::new(pipeline)).layer(Router::new().route("/", get(|| async { "ok" })));
    /// let router: &Router = svc.get_ref();
    /// assert!(router.has_routes());
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone> Clone for Tenancy<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            pipeline: self.pipeline.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Tenancy<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenancy")
            .field("inner", &self.inner)
            .field("policy", &self.policy.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "connect-info")]
fn peer<B>(req: &Request<B>) -> Option<IpAddr> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

#[cfg(not(feature = "connect-info"))]
fn peer<B>(_req: &Request<B>) -> Option<IpAddr> {
    None
}

/// What the layer does with a request once the pipeline answered.
enum Verdict {
    /// Refuse it with this refusal.
    Refused(Refusal),
    /// Call the inner service inside this tenant scope.
    Scoped(TenantScope),
    /// Call the inner service without a tenant scope.
    Unscoped,
}

/// Puts the pipeline's outcome into the request's extensions and says what to do next. The one
/// place that does so, for the immediate and the waiting path alike. It borrows the request (the
/// caller calls the inner service itself) so that neither the request nor the inner future is
/// moved more than needed on the hot path.
fn prepare<ReqBody>(
    req: &mut Request<ReqBody>,
    outcome: Result<PipelineOutcome, PipelineError>,
    policy: Option<&Arc<Policy>>,
    spans: &[&tracing::Span],
) -> Verdict {
    let ext = req.extensions_mut();
    // A scoped request without a policy needs no `LayerRan`: the scope itself says the layer ran.
    if policy.is_some() || !matches!(outcome, Ok(PipelineOutcome::Scoped(_))) {
        ext.insert(LayerRan {
            policy: policy.cloned(),
        });
    }
    match outcome {
        Err(err) => refused(&err),
        Ok(PipelineOutcome::Scoped(scope)) => {
            for span in spans {
                record_scope_on_span(&scope, span);
            }
            ext.insert(scope.clone());
            Verdict::Scoped(scope)
        }
        Ok(PipelineOutcome::NoTenant {
            principal,
            platform,
        }) => {
            if let Some(p) = principal {
                ext.insert(p);
            }
            if let Some(p) = platform {
                ext.insert(p);
            }
            Verdict::Unscoped
        }
    }
}

/// The verdict for a refused request (the rare path: out of the hot path's cache lines).
#[cold]
#[inline(never)]
fn refused(err: &PipelineError) -> Verdict {
    Verdict::Refused(Refusal::from(err))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Tenancy<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let span = tracing::debug_span!("tenancy.request", tenant_id = Empty, tenant_slug = Empty);

        // The hot path: every step answers at once (cache hits), so the inner service is called
        // right here, the service that was made ready (tower's contract), and no future is boxed.
        let verdict = {
            let _entered = span.enter();
            let now = {
                let view = RequestView::from_request(&req).with_peer(peer(&req));
                self.pipeline.run_now(&view)
            };
            now.map(|outcome| prepare(&mut req, outcome, self.policy.as_ref(), &[&span]))
        };
        if let Some(verdict) = verdict {
            // Each arm builds the response future where it is returned (fewer moves of the
            // inner future, which can be large).
            return match verdict {
                Verdict::Refused(refusal) => ResponseFuture::new(
                    Kind::Refused {
                        response: Some(refusal_response(refusal)),
                    },
                    span,
                ),
                Verdict::Scoped(scope) => {
                    // The caller's span is the current one here (ours is entered only in blocks).
                    record_scope_on_current_span(&scope);
                    let future = {
                        let _entered = span.enter();
                        in_scope(scope, self.inner.call(req))
                    };
                    ResponseFuture::new(Kind::Scoped { future }, span)
                }
                Verdict::Unscoped => {
                    let future = {
                        let _entered = span.enter();
                        self.inner.call(req)
                    };
                    ResponseFuture::new(Kind::Unscoped { future }, span)
                }
            };
        }

        self.call_slow(req, span)
    }
}

impl<S> Tenancy<S> {
    /// A store must be awaited: the pipeline and the inner service run in one boxed future. Out
    /// of line, so the cached path stays short in the instruction cache.
    #[inline(never)]
    fn call_slow<ReqBody, ResBody>(
        &mut self,
        mut req: Request<ReqBody>,
        span: tracing::Span,
    ) -> ResponseFuture<S::Future, ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        ReqBody: Send + 'static,
        ResBody: From<String> + Send + 'static,
    {
        // The clone is not ready; the ready service goes into the future (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let pipeline = self.pipeline.clone();
        let policy = self.policy.clone();
        let record = span.clone();
        // The future runs later, under whatever span polls it: keep the caller's span.
        let parent = tracing::Span::current();
        let future = Box::pin(async move {
            let outcome = {
                let view = RequestView::from_request(&req).with_peer(peer(&req));
                pipeline.run(&view).await
            };
            match prepare(&mut req, outcome, policy.as_ref(), &[&record, &parent]) {
                Verdict::Refused(refusal) => Ok(refusal_response(refusal)),
                Verdict::Scoped(scope) => in_scope(scope, inner.call(req)).await,
                Verdict::Unscoped => inner.call(req).await,
            }
        });
        ResponseFuture::new(Kind::Slow { future }, span)
    }
}
