//! The middleware: [`TenancyMiddleware`] (the `Transform`, a builder) and [`TenancyService`].

use std::fmt;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::future::LocalBoxFuture;
use tenancy_core::{
    HeaderSource, PipelineError, PipelineOutcome, Policy, Refusal, RequestView, TenantPipeline,
    in_scope, record_scope_on_current_span, record_scope_on_span,
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

/// The request's headers as the pipeline reads them: actix's own map (actix-web 4 uses `http` 0.2
/// types), read in place. Only [`RequestView::headers`] copies them into an `http` 1.x map, on its
/// first call.
///
/// actix's `HeaderMap::get` with a `&str` parses the name into a new `HeaderName` (allocating
/// for names that are not standard), so [`nth`](HeaderSource::nth) scans the names instead,
/// comparing them (all lowercase) as strings, and then looks the values up by the name found. Values `http::HeaderValue::from_bytes` would reject
/// are skipped, as by the copy into an `http` 1.x map: both ways see the same values.
struct ActixHeaders<'a>(&'a actix_web::http::header::HeaderMap);

impl ActixHeaders<'_> {
    fn values<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s [u8]> + use<'s, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n.as_str() == name)
            .map(|(_, v)| v.as_bytes())
            .filter(|v| valid_value(v))
    }
}

/// Whether `http` 1.x accepts `value` as a header value (`HeaderValue::from_bytes`, without its
/// copy). actix's HTTP/1 parser stores values without this check.
fn valid_value(value: &[u8]) -> bool {
    value.iter().all(|&b| (b >= 32 && b != 127) || b == b'\t')
}

impl HeaderSource for ActixHeaders<'_> {
    fn nth(&self, name: &str, n: usize) -> Option<&[u8]> {
        self.values(name).nth(n)
    }

    fn len(&self) -> usize {
        self.0
            .iter()
            .filter(|(_, v)| valid_value(v.as_bytes()))
            .count()
    }

    fn to_header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::with_capacity(self.0.len());
        for (name, value) in self.0.iter() {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_str().as_bytes()),
                http::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                map.append(name, value);
            }
        }
        map
    }
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
            let (source, map) = (ActixHeaders(req.headers()), OnceLock::new());
            self.pipeline.run_now(&view_of(&req, &source, &map))
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
                    let (source, map) = (ActixHeaders(req.headers()), OnceLock::new());
                    pipeline.run(&view_of(&req, &source, &map)).await
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

/// The pipeline's view of an actix request, its headers read through `source` (`map` is where
/// [`RequestView::headers`] puts its copy, if anything calls it).
fn view_of<'a>(
    req: &'a ServiceRequest,
    source: &'a ActixHeaders<'a>,
    map: &'a OnceLock<http::HeaderMap>,
) -> RequestView<'a> {
    let uri = req.uri();
    RequestView::with_header_source(uri.path(), source, map)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    use proptest::prelude::*;

    use super::*;

    const NAMES: [&str; 5] = [
        "host",
        "X-Tenant",
        "authorization",
        "x-forwarded-host",
        "accept",
    ];

    fn actix_map(list: &[(usize, Vec<u8>)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (i, v) in list {
            map.append(
                HeaderName::from_bytes(NAMES[*i].as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn reads_actix_headers_in_place() {
        let map = actix_map(&[
            (1, b"acme".to_vec()),
            (4, b"text/html".to_vec()),
            (1, b"other".to_vec()),
            (4, "caf\u{e9}".as_bytes().to_vec()),
        ]);
        let source = ActixHeaders(&map);
        assert_eq!(source.nth("x-tenant", 0), Some(&b"acme"[..]));
        assert_eq!(source.nth("x-tenant", 1), Some(&b"other"[..]));
        assert_eq!(source.nth("x-tenant", 2), None);
        assert_eq!(
            source.nth("X-Tenant", 0),
            None,
            "names are compared lowercase"
        );
        assert_eq!(source.nth("host", 0), None);
        assert_eq!(source.len(), 4);
        let cell = OnceLock::new();
        let view = RequestView::with_header_source("/", &source, &cell);
        let accept: Vec<&[u8]> = view.header_values(&http::header::ACCEPT).collect();
        assert_eq!(accept, [&b"text/html"[..], "caf\u{e9}".as_bytes()]);
        assert_eq!(view.header_str(&http::header::ACCEPT), Some("text/html"));
        assert!(cell.get().is_none());
        assert_eq!(view.headers().len(), 4);
    }

    fn value() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..10)
    }

    proptest! {
        /// The source answers as the `http` 1.x map it builds (the map the middleware used to
        /// build for every request) does.
        #[test]
        fn answers_as_the_copied_map(list in proptest::collection::vec((0usize..5, value()), 0..10)) {
            let map = actix_map(&list);
            let source = ActixHeaders(&map);
            let copy = source.to_header_map();
            let cell = OnceLock::new();
            let a = RequestView::with_header_source("/", &source, &cell);
            let b = RequestView::new("/", &copy);
            prop_assert_eq!(a.header_count(), b.header_count());
            prop_assert_eq!(copy.len(), list.len());
            for name in NAMES {
                let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
                prop_assert_eq!(a.header(&name), b.header(&name));
                prop_assert_eq!(
                    a.header_values(&name).collect::<Vec<_>>(),
                    b.header_values(&name).collect::<Vec<_>>()
                );
            }
            prop_assert!(cell.get().is_none());
        }
    }
}
