//! Cross-crate isolation tests for `tenancy`, and the isolation property harness users can run
//! against their own schema.
#![forbid(unsafe_code)]

pub mod conformance;
pub mod isolation;
pub mod span_recorder;
