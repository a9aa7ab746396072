//! PostgreSQL side of `tenancy`.
#![forbid(unsafe_code)]

pub use tenancy_core;
