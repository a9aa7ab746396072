//! The response future of [`Tenancy`](crate::Tenancy).

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
