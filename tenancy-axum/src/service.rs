//! The tower [`Service`] that runs the tenant pipeline.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tenancy_core::{
    PipelineError, PipelineOutcome, Policy, Refusal, RequestView, ScopedFuture, TenantPipeline,
    in_scope,
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
pub struct Tenancy<S> {
    inner: S,
    pipeline: Arc<TenantPipeline>,
    policy: Option<Arc<Policy>>,
}

impl<S> Tenancy<S> {
    /// Wraps `inner`.
    pub const fn new(inner: S, pipeline: Arc<TenantPipeline>, policy: Option<Arc<Policy>>) -> Self {
        Self {
            inner,
            pipeline,
            policy,
        }
    }

    /// The wrapped service.
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
enum Dispatch<F, B> {
    Refused(Response<B>),
    Scoped(ScopedFuture<F>),
    Unscoped(F),
}

/// Puts the pipeline's outcome into the request and calls the inner service (or refuses). The
/// one place that does so, for the immediate and the waiting path alike.
fn dispatch<S, ReqBody, ResBody>(
    inner: &mut S,
    mut req: Request<ReqBody>,
    outcome: Result<PipelineOutcome, PipelineError>,
    policy: Option<Arc<Policy>>,
    spans: [&tracing::Span; 2],
) -> Dispatch<S::Future, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    let ext = req.extensions_mut();
    // A scoped request without a policy needs no `LayerRan`: the scope itself says the layer ran.
    if policy.is_some() || !matches!(outcome, Ok(PipelineOutcome::Scoped(_))) {
        ext.insert(LayerRan { policy });
    }
    match outcome {
        Err(err) => Dispatch::Refused(refusal_response(Refusal::from(&err))),
        Ok(PipelineOutcome::Scoped(scope)) => {
            // A disabled span (no subscriber wants it) records nothing; skipping it saves the
            // field lookups on every request.
            for span in spans {
                if !span.is_disabled() {
                    span.record("tenant_id", tracing::field::display(scope.tenant_id()));
                    span.record("tenant_slug", tracing::field::display(scope.slug()));
                }
            }
            ext.insert(scope.clone());
            Dispatch::Scoped(in_scope(scope, inner.call(req)))
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
            Dispatch::Unscoped(inner.call(req))
        }
    }
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

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let parent = tracing::Span::current();
        let span = tracing::debug_span!("tenancy.request", tenant_id = Empty, tenant_slug = Empty);

        // The hot path: every step answers at once (cache hits), so the inner service is called
        // right here, the service that was made ready (tower's contract), and no future is boxed.
        let now = {
            let _entered = span.enter();
            let view = RequestView::from_request(&req).with_peer(peer(&req));
            self.pipeline.run_now(&view)
        };
        if let Some(outcome) = now {
            let kind = {
                let _entered = span.enter();
                match dispatch(
                    &mut self.inner,
                    req,
                    outcome,
                    self.policy.clone(),
                    [&span, &parent],
                ) {
                    Dispatch::Refused(response) => Kind::Refused {
                        response: Some(response),
                    },
                    Dispatch::Scoped(future) => Kind::Scoped { future },
                    Dispatch::Unscoped(future) => Kind::Unscoped { future },
                }
            };
            return ResponseFuture::new(kind, span);
        }

        // A store must be awaited. The clone is not ready; the ready service goes into the
        // future (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let pipeline = self.pipeline.clone();
        let policy = self.policy.clone();
        let record = span.clone();
        let future = Box::pin(async move {
            let outcome = {
                let view = RequestView::from_request(&req).with_peer(peer(&req));
                pipeline.run(&view).await
            };
            match dispatch(&mut inner, req, outcome, policy, [&record, &parent]) {
                Dispatch::Refused(response) => Ok(response),
                Dispatch::Scoped(future) => future.await,
                Dispatch::Unscoped(future) => future.await,
            }
        });
        ResponseFuture::new(Kind::Slow { future }, span)
    }
}
