//! actix-web adapter for `tenancy`.
//!
//! [`TenancyMiddleware`] (a `Transform`, built like a builder) wraps an app or scope in
//! [`TenancyService`], which presents each request to the framework-neutral
//! [`TenantPipeline`](tenancy_core::TenantPipeline) of [`tenancy_core`] and inserts the resulting
//! [`TenantScope`](tenancy_core::TenantScope) into the request extensions. Refused requests are
//! answered with a [`TenancyRejection`] and never reach the handler. The statuses and JSON bodies
//! are the same as `tenancy-axum`'s, because both adapters take them from
//! [`Refusal`](tenancy_core::Refusal); this crate holds no resolution or authorisation logic.
//!
//! Extractors: [`CurrentTenant`], [`OptionalTenant`], [`RequireRole`], [`RequirePermission`] and,
//! with the `sqlx` feature, `TenantTransaction`.
//!
//! ```
//! use std::sync::Arc;
//! use actix_web::{App, test, web};
//! use tenancy_actix::{CurrentTenant, TenancyMiddleware};
//! use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore,
//!     TenantPipeline};
//!
//! async fn whoami(CurrentTenant(scope): CurrentTenant) -> String {
//!     scope.slug().to_string()
//! }
//!
//! # actix_web::rt::System::new().block_on(async {
//! let pipeline = TenantPipeline::new(
//!     Arc::new(InMemoryTenantStore::new()),
//!     Arc::new(InMemoryMembershipStore::new()),
//! )
//! .with_resolver(Arc::new(HeaderResolver::x_tenant()));
//! let app = test::init_service(
//!     App::new()
//!         .wrap(TenancyMiddleware::new(Arc::new(pipeline)))
//!         .route("/whoami", web::get().to(whoami)),
//! )
//! .await;
//! // No tenant selected: the extractor refuses with 400 `tenant_required`.
//! let res = test::call_service(&app, test::TestRequest::get().uri("/whoami").to_request()).await;
//! assert_eq!(res.status(), 400);
//! # });
//! ```
//!
//! # Authentication
//!
//! The pipeline's [`Authenticator`](tenancy_core::Authenticator) is one small trait in core;
//! [`BearerJwtAuthenticator`](tenancy_core::BearerJwtAuthenticator) ships with core; sessions and
//! cookies are the application's own implementation of that trait.
//!
//! # Features
//!
//! | feature | enables                                                         |
//! |---------|-----------------------------------------------------------------|
//! | `sqlx`  | `TenantTransaction`: a `tenancy-sqlx` transaction for the scope |
//!
//! Minimum supported Rust version: 1.94 (the minimum of sqlx 0.9).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod middleware;
mod rejection;
#[cfg(feature = "sqlx")]
mod tx;

pub use extract::{CurrentTenant, OptionalTenant, RequirePermission, RequireRole};
pub use middleware::{TenancyFuture, TenancyMiddleware, TenancyService};
pub use rejection::TenancyRejection;
pub use tenancy_core;
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub use tx::TenantTransaction;
