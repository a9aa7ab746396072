//! Both adapters, same requests: equal statuses and byte-equal bodies over the whole suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenancy_tests::conformance::{World, actix, axum, cases};

#[test]
fn axum_and_actix_transcripts_are_identical() {
    actix_web::rt::System::new().block_on(async {
        let from_axum = cases::transcript(|w: World| async move {
            let h = axum::harness(&w).await;
            (w, h)
        })
        .await;
        let from_actix = cases::transcript(|w: World| async move {
            let h = actix::harness_for(w.pipeline.clone(), w.policy.clone()).await;
            (w, h)
        })
        .await;
        assert!(from_axum.len() > 80, "only {} exchanges", from_axum.len());
        assert_eq!(from_axum.len(), from_actix.len());
        for (a, b) in from_axum.iter().zip(&from_actix) {
            assert_eq!(a, b);
        }
        // Every refusal status of the issue is exercised.
        for status in [200, 400, 401, 403, 404, 500] {
            assert!(from_axum.iter().any(|e| e.3.status == status), "{status}");
        }
    });
}
