//! The layer records `tenant_id` and `tenant_slug` on its `tenancy.request` span and on the
//! caller's span (when that span declares the fields) for a scoped request, and records nothing
//! for a refused one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response};
use tenancy_axum::TenancyLayer;
use tenancy_core::{
    AuthenticateError, Authenticator, HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore,
    Principal, RequestView, Role, Tenant, TenantId, TenantPipeline, UserId,
};
use tenancy_tests::span_recorder::Recorder;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tracing::Instrument;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};

fn user_of(req: &RequestView<'_>) -> Option<Principal> {
    req.headers()
        .get("x-user")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .map(Principal::user)
}

/// Answers only through the async method: the layer has to await the pipeline.
struct UserHeader;

#[async_trait::async_trait]
impl Authenticator for UserHeader {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        Ok(user_of(req))
    }
}

/// Runs one scoped and one refused request under a subscriber that records span fields, keeping
/// only spans at `max_level` or more severe. Returns the recorded `(span, field, value)` triples
/// and the tenant id. `immediate`: the authenticator answers at once, so the layer takes its
/// synchronous path (`run_now`); otherwise it must await (`run`).
fn scenario(
    max_level: LevelFilter,
    immediate: bool,
) -> (Vec<(&'static str, String, String)>, TenantId) {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let alice = UserId::new_random();
    members.insert(acme.id, alice, Role::Member);
    let acme_id = acme.id;
    tenants.insert(acme);
    let authenticator: Arc<dyn Authenticator> = if immediate {
        Arc::new(tenancy_core::authenticator_fn(|req: &RequestView<'_>| {
            Ok(user_of(req))
        }))
    } else {
        Arc::new(UserHeader)
    };
    let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
        .with_resolver(Arc::new(HeaderResolver::x_tenant()))
        .with_authenticator(authenticator);
    let svc = ServiceBuilder::new()
        .layer(TenancyLayer::new(Arc::new(pipeline)))
        .service(service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));

    let request = |tenant: &str| {
        Request::builder()
            .header("x-tenant", tenant)
            .header("x-user", alice.to_string())
            .body(())
            .unwrap()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let rec = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(rec.clone().with_filter(max_level));
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            // A caller span declaring the fields, as a TraceLayer span would.
            let caller = tracing::info_span!(
                "caller",
                tenant_id = tracing::field::Empty,
                tenant_slug = tracing::field::Empty
            );
            let res = svc
                .clone()
                .oneshot(request("acme"))
                .instrument(caller)
                .await
                .unwrap();
            assert_eq!(res.status(), 200);

            // A refused request (unknown tenant) records no tenant on its spans.
            let refused = tracing::info_span!(
                "refused",
                tenant_id = tracing::field::Empty,
                tenant_slug = tracing::field::Empty
            );
            let res = svc
                .clone()
                .oneshot(request("globex"))
                .instrument(refused)
                .await
                .unwrap();
            assert_eq!(res.status(), 404);
        });
    });

    let fields = rec.fields();
    (fields, acme_id)
}

#[test]
fn scoped_request_records_tenant_on_layer_span_and_caller_span() {
    for immediate in [true, false] {
        scoped_request_records_tenant(immediate);
    }
}

fn scoped_request_records_tenant(immediate: bool) {
    let (fields, acme_id) = scenario(LevelFilter::TRACE, immediate);
    for span in ["tenancy.request", "caller"] {
        assert!(
            fields.contains(&(span, "tenant_id".to_owned(), acme_id.to_string())),
            "{span}: {fields:?}"
        );
        assert!(
            fields.contains(&(span, "tenant_slug".to_owned(), "acme".to_owned())),
            "{span}: {fields:?}"
        );
    }
    assert!(
        !fields.iter().any(|(span, _, _)| *span == "refused"),
        "{fields:?}"
    );
    // Exactly one scoped request: one tenant_id on each of the layer's and the caller's span.
    let layer_ids = fields
        .iter()
        .filter(|(span, f, _)| *span == "tenancy.request" && f == "tenant_id")
        .count();
    assert_eq!(layer_ids, 1, "{fields:?}");
}

/// `tenancy.request` is a DEBUG span: a subscriber that keeps INFO never sees it (so it costs
/// nothing), and the caller's INFO span still gets the tenant.
#[test]
fn info_subscriber_gets_the_tenant_on_the_caller_span_only() {
    for immediate in [true, false] {
        info_subscriber_gets_the_tenant(immediate);
    }
}

fn info_subscriber_gets_the_tenant(immediate: bool) {
    let (fields, acme_id) = scenario(LevelFilter::INFO, immediate);
    assert!(
        fields.contains(&("caller", "tenant_id".to_owned(), acme_id.to_string())),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("caller", "tenant_slug".to_owned(), "acme".to_owned())),
        "{fields:?}"
    );
    assert!(
        !fields
            .iter()
            .any(|(span, _, _)| span.starts_with("tenancy.")),
        "{fields:?}"
    );
}
