//! The reference SaaS built on `tenancy`: accounts, organisations, campaigns and leads, with
//! every tenant read and write inside a [`TenantTx`](tenancy_sqlx::TenantTx) under PostgreSQL
//! row level security.
//!
//! The app is a library ([`router`], [`AppState`]) plus a thin binary, so tests drive it
//! in-process:
//!
//! ```no_run
//! # async fn demo(db: saas::Database) -> Result<(), Box<dyn std::error::Error>> {
//! use saas::{AppConfig, AppState, auth::TokenKeys};
//! let state = AppState::new(db, AppConfig::new("localhost", TokenKeys::random()?))?;
//! let app = saas::router(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod members;
pub mod policy;
pub mod scope;
pub mod web;

pub use app::{AppConfig, AppState, BuildError, Database, router};
pub use config::Settings;
pub use error::{ApiError, ApiResult};
