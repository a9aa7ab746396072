//! axum / tower adapter for `tenancy`.
//!
//! [`TenancyLayer`] is a tower layer (usable in any tower stack, not only an axum `Router`): it
//! presents each request to the framework-neutral [`TenantPipeline`](tenancy_core::TenantPipeline)
//! of [`tenancy_core`] — resolve, look up, check status, authenticate, check membership — and
//! inserts the resulting [`TenantScope`](tenancy_core::TenantScope) into the request extensions.
//! A refused request is answered by the layer with a [`TenancyRejection`] and never reaches the
//! handler. This crate holds no resolution or authorisation logic of its own: `tenancy-actix`
//! runs the same pipeline and answers with the same statuses and bodies.
//!
//! Handlers receive the scope through extractors: [`CurrentTenant`], [`OptionalTenant`] (or
//! `Option<CurrentTenant>`), [`RequireRole`], [`RequirePermission`] and, with the `sqlx`
//! feature, `TenantTransaction`.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use tenancy_axum::{CurrentTenant, TenancyLayer};
//! use tenancy_core::{BearerJwtAuthenticator, HeaderResolver, InMemoryMembershipStore,
//!     InMemoryTenantStore, JwtAlgorithm, JwtVerifier, TenantPipeline};
//!
//! async fn whoami(CurrentTenant(scope): CurrentTenant) -> String {
//!     format!("{} in {}", scope.role(), scope.slug())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?;
//! let pipeline = TenantPipeline::new(
//!     Arc::new(InMemoryTenantStore::new()),
//!     Arc::new(InMemoryMembershipStore::new()),
//! )
//! .with_resolver(Arc::new(HeaderResolver::x_tenant()))
//! .with_authenticator(Arc::new(BearerJwtAuthenticator::new(Arc::new(verifier))));
//!
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .layer(TenancyLayer::new(Arc::new(pipeline)));
//! # let _ = app; Ok(()) }
//! ```
//!
//! # Layer order
//!
//! Put [`TenancyLayer`] *inside* tracing and request-id layers (so its refusals are traced and
//! the request span is current when it records the tenant) and *outside* anything that needs the
//! tenant (rate limits keyed by tenant, handlers). With axum, `.layer(a).layer(b)` makes `b` the
//! outer one. Routes that must work without the layer (health checks) can live in a router merged
//! after the layer is applied; a handler that asks for the scope on such a route answers 500
//! `tenancy_layer_missing`.
//!
//! # Around the router or on it
//!
//! `Router::layer(TenancyLayer::new(..))` (above) is the familiar form. Wrapping the whole router
//! instead, tower style, behaves the same and is cheaper per request: axum clones and boxes a
//! route added with `Router::layer`, and its future, on every request (as for any layer added that
//! way). The layer then also runs before routing, so a refused request never reaches the router.
//!
//! ```
//! # use std::sync::Arc;
//! # use axum::{Router, routing::get};
//! # use tenancy_core::{InMemoryMembershipStore, InMemoryTenantStore, TenantPipeline};
//! use tenancy_axum::TenancyLayer;
//! use tower::Layer;
//!
//! # async fn run(listener: tokio::net::TcpListener) -> std::io::Result<()> {
//! # let pipeline = TenantPipeline::new(
//! #     Arc::new(InMemoryTenantStore::new()),
//! #     Arc::new(InMemoryMembershipStore::new()),
//! # );
//! // `with_state(())` turns the handlers into routes once, as `axum::serve(listener, router)`
//! // would do for a bare router.
//! let router: Router = Router::new().route("/", get(|| async { "ok" })).with_state(());
//! let app = TenancyLayer::new(Arc::new(pipeline)).layer(router);
//! axum::serve(listener, axum::ServiceExt::<axum::extract::Request>::into_make_service(app)).await
//! # }
//! ```
//!
//! # Authentication
//!
//! The pipeline's [`Authenticator`](tenancy_core::Authenticator) is one small trait in core; this
//! crate adds nothing to it. [`BearerJwtAuthenticator`](tenancy_core::BearerJwtAuthenticator)
//! ships with core; sessions and cookies are the application's own implementation of that trait.
//!
//! # Features
//!
//! | feature        | enables                                                              |
//! |----------------|----------------------------------------------------------------------|
//! | `sqlx`         | `TenantTransaction`: a `tenancy-sqlx` transaction for the scope      |
//! | `connect-info` | the peer address from axum's `ConnectInfo<SocketAddr>` (trusted proxies) |
//!
//! Minimum supported Rust version: 1.94 (the minimum of sqlx 0.9).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
pub mod future;
mod layer;
mod rejection;
mod service;
#[cfg(feature = "sqlx")]
mod tx;

pub use extract::{CurrentTenant, OptionalTenant, RequirePermission, RequireRole};
pub use layer::TenancyLayer;
pub use rejection::TenancyRejection;
pub use service::Tenancy;
pub use tenancy_core;
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub use tx::TenantTransaction;
