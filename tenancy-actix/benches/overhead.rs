//! Requests per second of a minimal actix-web handler with and without `TenancyMiddleware`, in
//! the same run, in-process (`actix_web::test::call_service` in a loop), with the tenant and the
//! membership served from the caches (cache hits after warm-up). The counterpart of
//! `cargo bench -p tenancy-axum --bench overhead`.
//!
//! Run with `cargo bench -p tenancy-actix --bench overhead`. Rounds alternate between the
//! configurations; the best round of each is reported with the ratio middleware / bare.
//! `OVERHEAD_ITERS` / `OVERHEAD_ROUNDS` override the defaults.
//!
//! `OVERHEAD_ONLY=bare|layer` runs that configuration alone (`OVERHEAD_ROUNDS` + 1 loops of
//! `OVERHEAD_ITERS` requests, no warm-up) and prints nothing, for instruction counts under
//! `valgrind --tool=callgrind`: the difference of the totals of two runs with different
//! `OVERHEAD_ITERS`, divided by the difference of requests, is the cost of one request.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, HttpResponse, test, web};
use tenancy_actix::TenancyMiddleware;
use tenancy_core::{
    AuthenticateError, CachingMembershipStore, CachingTenantStore, HeaderResolver,
    InMemoryMembershipStore, InMemoryTenantStore, Principal, RequestView, Role, Tenant, TenantId,
    TenantPipeline, UserId, authenticator_fn,
};

static X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn handler() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

fn pipeline(user: UserId) -> Arc<TenantPipeline> {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    members.insert(acme.id, user, Role::Member);
    tenants.insert(acme);
    let api_key = authenticator_fn(move |req: &RequestView<'_>| match req.header(&X_API_KEY) {
        None => Ok(None),
        Some(v) if v == b"k-1" => Ok(Some(Principal::user(user))),
        Some(_) => Err(AuthenticateError::InvalidCredentials(None)),
    });
    Arc::new(
        TenantPipeline::new(
            Arc::new(CachingTenantStore::new(tenants)),
            Arc::new(CachingMembershipStore::new(members)),
        )
        .with_resolver(Arc::new(HeaderResolver::x_tenant()))
        .with_authenticator(Arc::new(api_key)),
    )
}

async fn rps<S, B>(app: &S, iters: u32) -> f64
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let start = Instant::now();
    for _ in 0..iters {
        let req = test::TestRequest::get()
            .uri("/")
            .insert_header(("x-tenant", "acme"))
            .insert_header(("x-api-key", "k-1"))
            .to_request();
        let res = test::call_service(app, req).await;
        assert_eq!(res.status(), 200);
    }
    f64::from(iters) / start.elapsed().as_secs_f64()
}

#[actix_web::main]
async fn main() {
    // A production-like subscriber for both sides of the comparison (as the axum bench): INFO
    // and above, so the middleware's DEBUG span stays disabled. Without any subscriber, tracing
    // would hand every span to the `log` crate instead.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let (iters, rounds) = (
        setting("OVERHEAD_ITERS", 100_000),
        setting("OVERHEAD_ROUNDS", 5),
    );
    let user = UserId::new_random();
    let bare = test::init_service(App::new().route("/", web::get().to(handler))).await;
    let layered = test::init_service(
        App::new()
            .wrap(TenancyMiddleware::new(pipeline(user)))
            .route("/", web::get().to(handler)),
    )
    .await;
    if let Ok(only) = std::env::var("OVERHEAD_ONLY") {
        for _ in 0..=rounds {
            let _ = match only.as_str() {
                "bare" => rps(&bare, iters).await,
                "layer" => rps(&layered, iters).await,
                other => panic!("OVERHEAD_ONLY={other}: expected bare or layer"),
            };
        }
        return;
    }
    // Warm-up: fills the caches and the allocator.
    let _ = rps(&bare, iters / 5).await;
    let _ = rps(&layered, iters / 5).await;
    let (mut best_bare, mut best_layered) = (0f64, 0f64);
    for _ in 0..rounds {
        best_bare = best_bare.max(rps(&bare, iters).await);
        best_layered = best_layered.max(rps(&layered, iters).await);
    }
    let per = |r: f64| Duration::from_secs_f64(1.0 / r);
    println!("{iters} requests x {rounds} rounds, best round, one core, in-process call_service");
    println!(
        "bare app                  {best_bare:>12.0} req/s  {:>9.2?}/req",
        per(best_bare)
    );
    println!(
        "middleware, API key       {best_layered:>12.0} req/s  {:>9.2?}/req  ratio {:.3}",
        per(best_layered),
        best_layered / best_bare
    );
}
