//! The reference SaaS built on `tenancy`.
#![forbid(unsafe_code)]
