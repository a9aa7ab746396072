//! The response future of [`Tenancy`](crate::Tenancy).
//!
//! Its type can be named, so code that wraps the tenancy service keeps an unboxed future:
//!
//! ```
//! use std::convert::Infallible;
//! use axum::{Router, body::Body, extract::Request};
//! use tenancy_axum::{Tenancy, future::ResponseFuture};
//! use tower::Service;
//!
//! type RouterFuture = <Router as Service<Request>>::Future;
//!
//! /// Calls the app (already made ready) without boxing its future.
//! fn call(app: &mut Tenancy<Router>, req: Request) -> ResponseFuture<RouterFuture, Body, Infallible> {
//!     app.call(req)
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;
use tenancy_core::ScopedFuture;

/// The boxed future of a request the pipeline could not answer at once (a cache miss).
pub(crate) type SlowFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send + 'static>>;

pin_project! {
    /// The future returned by [`Tenancy`](crate::Tenancy): the inner service's future (inside the
    /// tenant scope when there is one), a refusal, or — when the pipeline had to wait for a store
    /// — a boxed future that runs the pipeline and then the inner service.
    ///
    /// Polled inside the request's `tenancy.request` span.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use axum::{Router, body::Body, routing::get};
    /// use http::{Request, StatusCode};
    /// use tenancy_axum::{TenancyLayer, future::ResponseFuture};
    /// use tower::{Layer, Service, ServiceExt};
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
    /// let router: Router = Router::new().route("/", get(|| async { "ok" })).with_state(());
    /// let mut app = TenancyLayer::new(Arc::new(pipeline)).layer(router);
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let req = Request::get("/").header("x-tenant", "acme").body(Body::empty())?;
    /// let ready = ServiceExt::<Request<Body>>::ready(&mut app).await?;
    /// let future: ResponseFuture<_, Body, Infallible> = ready.call(req);
    /// // Anonymous caller on a tenant route: the future holds the refusal, the router is not called.
    /// assert_eq!(future.await?.status(), StatusCode::UNAUTHORIZED);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
        span: tracing::Span,
    }
}

pin_project! {
    #[project = KindProj]
    pub(crate) enum Kind<F, B, E> {
        /// Refused before the inner service was called.
        Refused { response: Option<Response<B>> },
        /// A tenant scope: the inner future runs with it as the task-local scope.
        Scoped { #[pin] future: ScopedFuture<F> },
        /// No tenant selected.
        Unscoped { #[pin] future: F },
        /// The pipeline needed to wait: everything happens in here.
        Slow { future: SlowFuture<B, E> },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    #[inline]
    pub(crate) fn new(kind: Kind<F, B, E>, span: tracing::Span) -> Self {
        Self { kind, span }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        match this.kind.project() {
            // Polled again after completion: stay pending rather than panic.
            KindProj::Refused { response } => response
                .take()
                .map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
            KindProj::Scoped { future } => future.poll(cx),
            KindProj::Unscoped { future } => future.poll(cx),
            KindProj::Slow { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Refused { .. } => "refused",
            Kind::Scoped { .. } => "scoped",
            Kind::Unscoped { .. } => "unscoped",
            Kind::Slow { .. } => "slow",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}
