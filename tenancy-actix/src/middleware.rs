//! The middleware: [`TenancyMiddleware`] (the `Transform`, a builder) and [`TenancyService`].

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::future::LocalBoxFuture;
use tenancy_core::{
    PipelineError, PipelineOutcome, Policy, Refusal, RequestView, TenantPipeline, in_scope,
    record_scope_on_current_span, record_scope_on_span,
};
use tracing::Instrument;
use tracing::field::Empty;

use crate::rejection::refusal_response;

/// Present in the extensions of every request that went through [`TenancyService`]: tells the
/// extractors that the middleware ran and carries the permission policy.
#[derive(Clone)]
pub(crate) struct MiddlewareRan {
    pub(crate) policy: Option<Arc<Policy>>,
}

/// actix-web middleware that runs the [`TenantPipeline`] for every request.
///
/// A refused request is answered with a [`TenancyRejection`](crate::TenancyRejection) response
/// and never reaches the handler. Otherwise the request extensions hold the
/// [`TenantScope`](tenancy_core::TenantScope) (when a tenant was selected), the
/// [`Principal`](tenancy_core::Principal) (when authenticated) and the
/// [`PlatformScope`](tenancy_core::PlatformScope) (platform administrators on tenant-less
/// requests), and the handler runs inside [`in_scope`].
///
/// Tracing: the request runs in a DEBUG-level `tenancy.request` span (like tower-http's
/// `TraceLayer` spans: free when the subscriber only wants INFO) whose `tenant_id` and `tenant_slug`
/// fields are recorded on success, and the same fields are recorded on the span current when the
/// middleware was called, if it declares them.
///
/// Register it with `wrap`; actix runs the *last* `wrap` first, so wrap logging/tracing after
/// (outside) this middleware.
///
/// ```
/// use std::sync::Arc;
/// use actix_web::{App, web};
/// use tenancy_actix::{CurrentTenant, TenancyMiddleware};
/// use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore,
///     TenantPipeline};
///
/// async fn whoami(CurrentTenant(scope): CurrentTenant) -> String {
///     format!("{} in {}", scope.role(), scope.slug())
/// }
///
/// let pipeline = TenantPipeline::new(
///     Arc::new(InMemoryTenantStore::new()),
///     Arc::new(InMemoryMembershipStore::new()),
/// )
/// .with_resolver(Arc::new(HeaderResolver::x_tenant()));
/// let app = App::new()
///     .wrap(TenancyMiddleware::new(Arc::new(pipeline)))
///     .route("/whoami", web::get().to(whoami));
/// # let _ = app;
/// ```
#[derive(Clone)]
#[must_use = "the middleware does nothing until it is passed to `App::wrap`"]
pub struct TenancyMiddleware {
    pipeline: Arc<TenantPipeline>,
    policy: Option<Arc<Policy>>,
}

impl TenancyMiddleware {
    /// Middleware running `pipeline`. Without a policy,
    /// [`RequirePermission`](crate::RequirePermission) answers 500 `tenancy_policy_missing`.
    pub const fn new(pipeline: Arc<TenantPipeline>) -> Self {
        Self {
            pipeline,
            policy: None,
        }
    }

    /// The permission policy that [`RequirePermission`](crate::RequirePermission) checks against.
    pub fn with_policy(mut self, policy: Arc<Policy>) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl fmt::Debug for TenancyMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenancyMiddleware")
            .field("pipeline", &self.pipeline)
            .field("policy", &self.policy.is_some())
            .finish()
    }
}

impl<S, B> Transform<S, ServiceRequest> for TenancyMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = TenancyService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(TenancyService {
            service: Rc::new(service),
            pipeline: self.pipeline.clone(),
            policy: self.policy.clone(),
        }))
    }
}

/// The service built by [`TenancyMiddleware`]; see there.
pub struct TenancyService<S> {
    service: Rc<S>,
    pipeline: Arc<TenantPipeline>,
    policy: Option<Arc<Policy>>,
}

impl<S> fmt::Debug for TenancyService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenancyService")
            .field("policy", &self.policy.is_some())
            .finish_non_exhaustive()
    }
}

/// The request's headers as an `http` 1.x map (actix-web 4 uses `http` 0.2 types). Names and
/// values are copied byte for byte; every name and value actix accepted is valid in both.
fn headers_of(req: &ServiceRequest) -> http::HeaderMap {
    let mut map = http::HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers().iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    map
}

impl<S, B> Service<ServiceRequest> for TenancyService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let span = tracing::debug_span!("tenancy.request", tenant_id = Empty, tenant_slug = Empty);
        // The hot path: every step answers at once (cache hits), so the outcome is applied and
        // the inner service called right here, without the pipeline's future.
        let now = {
            let _entered = span.enter();
            let headers = headers_of(&req);
            self.pipeline.run_now(&view_of(&req, &headers))
        };
        if let Some(outcome) = now {
            if let Ok(PipelineOutcome::Scoped(scope)) = &outcome {
                // The caller's span is the current one here (ours is entered only in blocks).
                record_scope_on_current_span(scope);
            }
            let next = {
                let _entered = span.enter();
                apply(&*self.service, req, outcome, self.policy.clone(), &span)
            };
            return Box::pin(next.instrument(span));
        }

        let service = self.service.clone();
        let pipeline = self.pipeline.clone();
        let policy = self.policy.clone();
        let parent = tracing::Span::current();
        let record = span.clone();
        Box::pin(
            async move {
                let outcome = {
                    let headers = headers_of(&req);
                    pipeline.run(&view_of(&req, &headers)).await
                };
                if let Ok(PipelineOutcome::Scoped(scope)) = &outcome {
                    record_scope_on_span(scope, &parent);
                }
                apply(&*service, req, outcome, policy, &record).await
            }
            .instrument(span),
        )
    }
}

/// The pipeline's view of an actix request (`headers` from [`headers_of`]).
fn view_of<'a>(req: &'a ServiceRequest, headers: &'a http::HeaderMap) -> RequestView<'a> {
    let uri = req.uri();
    RequestView::new(uri.path(), headers)
        .with_authority(uri.authority().map(|a| a.as_str()))
        .with_peer(req.peer_addr().map(|a| a.ip()))
}

/// Puts the pipeline's outcome into the request and calls the inner service (or answers the
/// refusal): the one place that does so, for the immediate and the awaited path alike. The inner
/// service is called before this returns; the returned future only awaits its response.
fn apply<S, B>(
    service: &S,
    req: ServiceRequest,
    outcome: Result<PipelineOutcome, PipelineError>,
    policy: Option<Arc<Policy>>,
    span: &tracing::Span,
) -> LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    req.extensions_mut().insert(MiddlewareRan { policy });
    match outcome {
        Err(err) => {
            let res = refusal_response(Refusal::from(&err));
            let res = req.into_response(res).map_into_right_body();
            Box::pin(std::future::ready(Ok(res)))
        }
        Ok(PipelineOutcome::Scoped(scope)) => {
            record_scope_on_span(&scope, span);
            req.extensions_mut().insert(scope.clone());
            let fut = service.call(req);
            Box::pin(async move {
                in_scope(scope, fut)
                    .await
                    .map(ServiceResponse::map_into_left_body)
            })
        }
        Ok(PipelineOutcome::NoTenant {
            principal,
            platform,
        }) => {
            {
                let mut ext = req.extensions_mut();
                if let Some(p) = principal {
                    ext.insert(p);
                }
                if let Some(p) = platform {
                    ext.insert(p);
                }
            }
            let fut = service.call(req);
            Box::pin(async move { fut.await.map(ServiceResponse::map_into_left_body) })
        }
    }
}
