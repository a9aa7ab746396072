//! axum / tower adapter for `tenancy`.
//!
//! This crate will hold a tower `Layer`/`Service` pair that presents each request to the
//! framework-neutral pipeline of [`tenancy_core`] and inserts the resulting tenant scope into the
//! request extensions, plus the extractors handlers use to receive it.
//!
//! It is intentionally empty until the adapter issue lands.
#![forbid(unsafe_code)]

pub use tenancy_core;
