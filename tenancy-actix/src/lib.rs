//! actix-web adapter for `tenancy`.
//!
//! This crate will hold actix-web middleware (`Transform` + `Service`) that presents each request to
//! the framework-neutral pipeline of [`tenancy_core`] and `FromRequest` extractors for the tenant
//! scope, behaving identically to `tenancy-axum`.
//!
//! It is intentionally empty until the adapter issue lands.
#![forbid(unsafe_code)]

pub use tenancy_core;
