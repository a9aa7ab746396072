//! The adapter conformance suite (tests/src/conformance) against tenancy-axum.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;

fn run<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

tenancy_tests::conformance_suite!(
    run = run,
    harness = tenancy_tests::conformance::axum::harness
);
