//! The middleware records `tenant_id` and `tenant_slug` on its `tenancy.request` span and on the
//! caller's span (when that span declares the fields) for a scoped request, on its synchronous
//! path (every step answers at once) and on its awaited path alike; a refused request records
//! nothing. The actix counterpart of `span_fields_axum.rs`; both use one `Recorder`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use actix_web::test as actix_test;
use actix_web::{App, HttpResponse, web};
use tenancy_actix::TenancyMiddleware;
use tenancy_core::{
    AuthenticateError, Authenticator, HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore,
    Principal, RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn,
};
use tenancy_tests::span_recorder::Recorder;
use tracing::Instrument;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};

fn user_of(req: &RequestView<'_>) -> Option<Principal> {
    req.headers()
        .get("x-user")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .map(Principal::user)
}

/// Answers only through the async method: the middleware has to await the pipeline.
struct AwaitedUserHeader;

#[async_trait::async_trait]
impl Authenticator for AwaitedUserHeader {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        Ok(user_of(req))
    }
}

/// One scoped and one refused request under a recording subscriber (spans at `max_level` or
/// more severe). Returns the recorded `(span, field, value)` triples and the tenant id.
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
        Arc::new(authenticator_fn(|req: &RequestView<'_>| Ok(user_of(req))))
    } else {
        Arc::new(AwaitedUserHeader)
    };
    let pipeline = Arc::new(
        TenantPipeline::new(Arc::new(tenants), Arc::new(members))
            .with_resolver(Arc::new(HeaderResolver::x_tenant()))
            .with_authenticator(authenticator),
    );

    let rec = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(rec.clone().with_filter(max_level));
    tracing::subscriber::with_default(subscriber, || {
        actix_web::rt::System::new().block_on(async {
            let app = actix_test::init_service(
                App::new()
                    .wrap(TenancyMiddleware::new(pipeline))
                    .route("/", web::get().to(|| async { HttpResponse::Ok().finish() })),
            )
            .await;
            let request = |tenant: &str| {
                actix_test::TestRequest::get()
                    .uri("/")
                    .insert_header(("x-tenant", tenant))
                    .insert_header(("x-user", alice.to_string()))
                    .to_request()
            };
            // A caller span declaring the fields, as a logger span would.
            let caller = tracing::info_span!(
                "caller",
                tenant_id = tracing::field::Empty,
                tenant_slug = tracing::field::Empty
            );
            let res = actix_test::call_service(&app, request("acme"))
                .instrument(caller)
                .await;
            assert_eq!(res.status(), 200);

            let refused = tracing::info_span!(
                "refused",
                tenant_id = tracing::field::Empty,
                tenant_slug = tracing::field::Empty
            );
            let res = actix_test::call_service(&app, request("globex"))
                .instrument(refused)
                .await;
            assert_eq!(res.status(), 404);
        });
    });
    let fields = rec.fields();
    (fields, acme_id)
}

#[test]
fn scoped_request_records_tenant_on_middleware_span_and_caller_span() {
    for immediate in [true, false] {
        let (fields, acme_id) = scenario(LevelFilter::TRACE, immediate);
        for span in ["tenancy.request", "caller"] {
            assert!(
                fields.contains(&(span, "tenant_id".to_owned(), acme_id.to_string())),
                "immediate={immediate} {span}: {fields:?}"
            );
            assert!(
                fields.contains(&(span, "tenant_slug".to_owned(), "acme".to_owned())),
                "immediate={immediate} {span}: {fields:?}"
            );
        }
        assert!(
            !fields.iter().any(|(span, _, _)| *span == "refused"),
            "immediate={immediate}: {fields:?}"
        );
        let ids = fields
            .iter()
            .filter(|(span, f, _)| *span == "tenancy.request" && f == "tenant_id")
            .count();
        assert_eq!(ids, 1, "immediate={immediate}: {fields:?}");
    }
}

#[test]
fn info_subscriber_gets_the_tenant_on_the_caller_span_only() {
    for immediate in [true, false] {
        let (fields, acme_id) = scenario(LevelFilter::INFO, immediate);
        assert!(
            fields.contains(&("caller", "tenant_id".to_owned(), acme_id.to_string())),
            "immediate={immediate}: {fields:?}"
        );
        assert!(
            !fields
                .iter()
                .any(|(span, _, _)| span.starts_with("tenancy.")),
            "immediate={immediate}: {fields:?}"
        );
    }
}
