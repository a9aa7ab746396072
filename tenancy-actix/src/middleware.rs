//! The middleware: [`TenancyMiddleware`] (the `Transform`, a builder) and [`TenancyService`].

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::future::LocalBoxFuture;
use pin_project_lite::pin_project;
use tenancy_core::{
    HeaderSource, PipelineError, PipelineOutcome, Policy, Refusal, RequestView, ScopedFuture,
    TenantPipeline, in_scope, record_scope_on_current_span, record_scope_on_span,
};
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
    ///
    /// ```
    /// use actix_web::{App, test, web};
    /// use tenancy_actix::{OptionalTenant, TenancyMiddleware};
    ///
    /// async fn home(OptionalTenant(scope): OptionalTenant) -> String {
    ///     scope.map_or_else(|| "welcome".to_owned(), |s| format!("hello {}", s.slug()))
    /// }
    /// # actix_web::rt::System::new().block_on(async {
    /// # use std::sync::Arc;
    /// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, Principal,
    /// #     RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn};
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
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
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(TenancyMiddleware::new(Arc::new(pipeline)))
    ///         .route("/", web::get().to(home)),
    /// )
    /// .await;
    /// let req = test::TestRequest::get()
    ///     .uri("/")
    ///     .insert_header(("x-tenant", "acme"))
    ///     .insert_header(("authorization", "Bearer alice"))
    ///     .to_request();
    /// assert_eq!(test::call_and_read_body(&app, req).await, "hello acme");
    /// let req = test::TestRequest::get().uri("/").to_request();
    /// assert_eq!(test::call_and_read_body(&app, req).await, "welcome");
    /// # });
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
    /// use actix_web::{App, HttpResponse, test, web};
    /// use tenancy_actix::{RequirePermission, TenancyMiddleware};
    /// use tenancy_core::{Permission, PermissionMarker, Policy};
    ///
    /// struct LeadsRead;
    /// impl PermissionMarker for LeadsRead {
    ///     const PERMISSION: Permission = Permission::from_static("leads:read");
    /// }
    /// async fn leads(_: RequirePermission<LeadsRead>) -> HttpResponse {
    ///     HttpResponse::Ok().body("leads")
    /// }
    /// # actix_web::rt::System::new().block_on(async {
    /// # use std::sync::Arc;
    /// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, Principal,
    /// #     RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn};
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
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
    /// let policy = Policy::builder()
    ///     .permission(LeadsRead::PERMISSION)
    ///     .grant(Role::Member, [LeadsRead::PERMISSION])
    ///     .build()
    ///     .unwrap();
    /// let pipeline = Arc::new(pipeline);
    /// let req = || {
    ///     test::TestRequest::get()
    ///         .uri("/leads")
    ///         .insert_header(("x-tenant", "acme"))
    ///         .insert_header(("authorization", "Bearer alice"))
    ///         .to_request()
    /// };
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(TenancyMiddleware::new(pipeline.clone()).with_policy(Arc::new(policy)))
    ///         .route("/leads", web::get().to(leads)),
    /// )
    /// .await;
    /// assert_eq!(test::call_service(&app, req()).await.status(), 200);
    ///
    /// // Without a policy, permission guards fail closed.
    /// let no_policy = test::init_service(
    ///     App::new()
    ///         .wrap(TenancyMiddleware::new(pipeline))
    ///         .route("/leads", web::get().to(leads)),
    /// )
    /// .await;
    /// assert_eq!(test::call_service(&no_policy, req()).await.status(), 500);
    /// # });
    /// ```
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
///
/// ```
/// use actix_web::dev::Transform;
/// use actix_web::test;
/// use tenancy_actix::{TenancyMiddleware, TenancyService};
/// # actix_web::rt::System::new().block_on(async {
/// # use std::sync::Arc;
/// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, Principal,
/// #     RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn};
/// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
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
/// // What `App::wrap` does with the middleware: wrap the inner service.
/// let middleware = TenancyMiddleware::new(Arc::new(pipeline));
/// let svc: TenancyService<_> = middleware.new_transform(test::ok_service()).await.unwrap();
///
/// let req = test::TestRequest::get().insert_header(("x-tenant", "acme")).to_srv_request();
/// let res = test::call_service(&svc, req).await;
/// assert_eq!(res.status(), 401); // anonymous caller on a tenant route
/// # });
/// ```
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

/// How many headers [`ActixHeaders`] indexes on the stack; a request with more is read by
/// scanning actix's map.
const INDEXED: usize = 8;

/// The request's headers as the pipeline reads them: actix's own map (actix-web 4 uses `http` 0.2
/// types), read in place. Only [`RequestView::headers`] copies them into an `http` 1.x map, on its
/// first call.
///
/// actix's `HeaderMap::get` with a `&str` parses the name into a new `HeaderName` (allocating
/// for names that are not standard), so the names are compared as strings (all lowercase)
/// instead: one walk over actix's map builds a small index of (name, value) pairs on the stack,
/// which every lookup of the request then scans (a request with more than [`INDEXED`] header
/// values is read by walking the map on each lookup). Values `http::HeaderValue::from_bytes`
/// would reject are skipped, as by the copy into an `http` 1.x map: both ways see the same
/// values.
struct ActixHeaders<'a> {
    map: &'a actix_web::http::header::HeaderMap,
    index: [(&'a str, &'a [u8]); INDEXED],
    /// Entries of `index` in use, or `None` when the map has more values than fit.
    indexed: Option<usize>,
}

impl<'a> ActixHeaders<'a> {
    fn new(map: &'a actix_web::http::header::HeaderMap) -> Self {
        let mut index = [("", &[][..]); INDEXED];
        let mut values = map.iter();
        let mut n = 0;
        // `zip` stops at the end of `index` without taking a value it has no slot for.
        for (slot, (name, value)) in index.iter_mut().zip(&mut values) {
            *slot = (name.as_str(), value.as_bytes());
            n += 1;
        }
        Self {
            map,
            index,
            indexed: values.next().is_none().then_some(n),
        }
    }
}

impl ActixHeaders<'_> {
    /// Calls `f` with each value of `name` that `http` 1.x accepts, in order, until it returns
    /// `true`.
    fn each<'s>(&'s self, name: &str, mut f: impl FnMut(&'s [u8]) -> bool) {
        if let Some(len) = self.indexed {
            for &(k, v) in &self.index[..len] {
                if k == name && valid_value(v) && f(v) {
                    return;
                }
            }
        } else {
            for (k, v) in self.map.iter() {
                if k.as_str() == name && valid_value(v.as_bytes()) && f(v.as_bytes()) {
                    return;
                }
            }
        }
    }
}

/// Whether `http` 1.x accepts `value` as a header value (`HeaderValue::from_bytes`, without its
/// copy). actix's HTTP/1 parser stores values without this check.
fn valid_value(value: &[u8]) -> bool {
    // No early exit: the loop is vectorised (a bearer token is hundreds of bytes).
    !value.iter().fold(false, |invalid, &b| {
        invalid | !((b >= 32 && b != 127) || b == b'\t')
    })
}

impl HeaderSource for ActixHeaders<'_> {
    fn nth(&self, name: &str, n: usize) -> Option<&[u8]> {
        let (mut seen, mut found) = (0, None);
        self.each(name, |v| {
            if seen == n {
                found = Some(v);
                return true;
            }
            seen += 1;
            false
        });
        found
    }

    fn first_and_more(&self, name: &str) -> (Option<&[u8]>, bool) {
        let (mut first, mut more) = (None, false);
        self.each(name, |v| {
            if first.is_some() {
                more = true;
                return true;
            }
            first = Some(v);
            false
        });
        (first, more)
    }

    fn len(&self) -> usize {
        self.map
            .iter()
            .filter(|(_, v)| valid_value(v.as_bytes()))
            .count()
    }

    fn to_header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::with_capacity(self.map.len());
        for (name, value) in self.map.iter() {
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
    type Future = TenancyFuture<S::Future, B>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let span = tracing::debug_span!("tenancy.request", tenant_id = Empty, tenant_slug = Empty);
        // The hot path: every step answers at once (cache hits), so the outcome is applied and
        // the inner service called right here, with no boxed future.
        let now = {
            let _entered = span.enter();
            let (source, map) = (ActixHeaders::new(req.headers()), OnceLock::new());
            self.pipeline.run_now(&view_of(&req, &source, &map))
        };
        if let Some(outcome) = now {
            if let Ok(PipelineOutcome::Scoped(scope)) = &outcome {
                // The caller's span is the current one here (ours is entered only in blocks).
                record_scope_on_current_span(scope);
            }
            let kind = {
                let _entered = span.enter();
                apply(&*self.service, req, outcome, self.policy.as_ref(), &span)
            };
            return TenancyFuture { kind, span };
        }
        self.call_slow(req, span)
    }
}

impl<S> TenancyService<S> {
    /// A store must be awaited: the pipeline and the inner service run in one boxed future. Out
    /// of line, so the cached path stays short in the instruction cache.
    #[inline(never)]
    fn call_slow<B>(&self, req: ServiceRequest, span: tracing::Span) -> TenancyFuture<S::Future, B>
    where
        S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>
            + 'static,
        B: MessageBody + 'static,
    {
        let service = self.service.clone();
        let pipeline = self.pipeline.clone();
        let policy = self.policy.clone();
        // The future runs later, under whatever span polls it: keep the caller's span.
        let parent = tracing::Span::current();
        let record = span.clone();
        let future = Box::pin(async move {
            let outcome = {
                let (source, map) = (ActixHeaders::new(req.headers()), OnceLock::new());
                pipeline.run(&view_of(&req, &source, &map)).await
            };
            if let Ok(PipelineOutcome::Scoped(scope)) = &outcome {
                record_scope_on_span(scope, &parent);
            }
            let kind = apply(&*service, req, outcome, policy.as_ref(), &record);
            // Already polled inside the span (by the outer future).
            TenancyFuture {
                kind,
                span: tracing::Span::none(),
            }
            .await
        });
        TenancyFuture {
            kind: Kind::Slow { future },
            span,
        }
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
/// service is called before this returns.
fn apply<S, B>(
    service: &S,
    req: ServiceRequest,
    outcome: Result<PipelineOutcome, PipelineError>,
    policy: Option<&Arc<Policy>>,
    span: &tracing::Span,
) -> Kind<S::Future, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    // A scoped request without a policy needs no marker: the scope itself says the middleware
    // ran (see `extract::lookup`).
    if policy.is_some() || !matches!(outcome, Ok(PipelineOutcome::Scoped(_))) {
        req.extensions_mut().insert(MiddlewareRan {
            policy: policy.cloned(),
        });
    }
    match outcome {
        Err(err) => refused(req, &err),
        Ok(PipelineOutcome::Scoped(scope)) => {
            record_scope_on_span(&scope, span);
            req.extensions_mut().insert(scope.clone());
            Kind::Scoped {
                future: in_scope(scope, service.call(req)),
            }
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
            Kind::Unscoped {
                future: service.call(req),
            }
        }
    }
}

/// The refusal response (the rare path: out of the hot path's cache lines).
#[cold]
#[inline(never)]
fn refused<F, B>(req: ServiceRequest, err: &PipelineError) -> Kind<F, B> {
    let res = refusal_response(Refusal::from(err));
    Kind::Refused {
        response: Some(req.into_response(res).map_into_right_body()),
    }
}

/// The boxed future of a request the pipeline could not answer at once (a cache miss).
type SlowFuture<B> =
    LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>;

pin_project! {
    /// The future returned by [`TenancyService`]: the inner service's future (inside the tenant
    /// scope when there is one), a refusal, or — when the pipeline had to wait for a store — a
    /// boxed future that runs the pipeline and then the inner service. Polled inside the
    /// request's `tenancy.request` span.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use actix_web::{App, HttpResponse, test, web};
    /// use tenancy_actix::TenancyMiddleware;
    /// use tenancy_core::{InMemoryMembershipStore, InMemoryTenantStore, TenantPipeline};
    ///
    /// # actix_web::rt::System::new().block_on(async {
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(InMemoryTenantStore::new()),
    ///     Arc::new(InMemoryMembershipStore::new()),
    /// );
    /// let app = test::init_service(
    ///     App::new()
    ///         .wrap(TenancyMiddleware::new(Arc::new(pipeline)))
    ///         .route("/", web::get().to(|| async { HttpResponse::Ok().finish() })),
    /// )
    /// .await;
    /// // `call_service` awaits a `TenancyFuture` (no tenant selected: the handler runs unscoped).
    /// let res = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
    /// assert_eq!(res.status(), 200);
    /// # });
    /// ```
    pub struct TenancyFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
        span: tracing::Span,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        /// Refused before the inner service was called.
        Refused { response: Option<ServiceResponse<EitherBody<B>>> },
        /// A tenant scope: the inner future runs with it as the task-local scope.
        Scoped { #[pin] future: ScopedFuture<F> },
        /// No tenant selected.
        Unscoped { #[pin] future: F },
        /// The pipeline needed to wait: everything happens in here.
        Slow { future: SlowFuture<B> },
    }
}

impl<F, B> Future for TenancyFuture<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match this.kind.project() {
            // Polled again after completion: stay pending rather than panic.
            KindProj::Refused { response } => response
                .take()
                .map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
            KindProj::Scoped { future } => future
                .poll(cx)
                .map(|r| r.map(ServiceResponse::map_into_left_body)),
            KindProj::Unscoped { future } => future
                .poll(cx)
                .map(|r| r.map(ServiceResponse::map_into_left_body)),
            KindProj::Slow { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B> fmt::Debug for TenancyFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Refused { .. } => "refused",
            Kind::Scoped { .. } => "scoped",
            Kind::Unscoped { .. } => "unscoped",
            Kind::Slow { .. } => "slow",
        };
        f.debug_struct("TenancyFuture")
            .field("kind", &kind)
            .finish_non_exhaustive()
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
        let source = ActixHeaders::new(&map);
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
        fn answers_as_the_copied_map(list in proptest::collection::vec((0usize..5, value()), 0..20)) {
            let map = actix_map(&list);
            let source = ActixHeaders::new(&map);
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
                // The one-pass duplicate check, over the stack index (up to `INDEXED` values)
                // and over actix's map (more).
                prop_assert_eq!(
                    source.first_and_more(name.as_str()),
                    HeaderSource::first_and_more(&copy, name.as_str())
                );
            }
            prop_assert!(cell.get().is_none());
        }
    }
}
