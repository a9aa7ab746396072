//! The adapter conformance suite (tests/src/conformance) against tenancy-actix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;

fn run<F: Future>(f: F) -> F::Output {
    actix_web::rt::System::new().block_on(f)
}

tenancy_tests::conformance_suite!(
    run = run,
    harness = tenancy_tests::conformance::actix::harness
);
