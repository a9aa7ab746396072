//! Both adapters, same requests: equal statuses and byte-equal bodies over the whole suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenancy_tests::conformance::{World, actix, axum, cases};

/// Four transcripts: axum and actix, each over stores that answer at once (the synchronous hot
/// path) and over stores that must be awaited (the boxed path). All four must be identical.
#[test]
fn axum_and_actix_transcripts_are_identical() {
    actix_web::rt::System::new().block_on(async {
        let mut transcripts = Vec::new();
        for world in [World::new as fn() -> World, World::waiting] {
            transcripts.push(
                cases::transcript(world, |w: World| async move {
                    let h = axum::harness(&w).await;
                    (w, h)
                })
                .await,
            );
            transcripts.push(
                cases::transcript(world, |w: World| async move {
                    let h = actix::harness_for(w.pipeline.clone(), w.policy.clone()).await;
                    (w, h)
                })
                .await,
            );
        }
        let reference = &transcripts[0];
        assert!(reference.len() > 80, "only {} exchanges", reference.len());
        for (i, other) in transcripts.iter().enumerate().skip(1) {
            assert_eq!(reference.len(), other.len(), "transcript {i}");
            for (a, b) in reference.iter().zip(other) {
                assert_eq!(a, b, "transcript {i}");
            }
        }
        // Every refusal status of the issue is exercised.
        for status in [200, 400, 401, 403, 404, 429, 500] {
            assert!(reference.iter().any(|e| e.3.status == status), "{status}");
        }
    });
}
