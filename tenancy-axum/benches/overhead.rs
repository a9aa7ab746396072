//! Requests per second of a minimal axum handler with and without `TenancyLayer`, in the same
//! run, in-process (`oneshot` in a loop on a current-thread runtime), with the tenant and the
//! membership served from the moka caches (cache hits after warm-up).
//!
//! Run with `cargo bench -p tenancy-axum --bench overhead`. Prints requests per second for each
//! configuration and the ratio layered / bare (target ≥ 0.95). Rounds alternate between the
//! configurations; the best round of each is reported.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use tenancy_axum::TenancyLayer;
use tenancy_core::{
    AuthenticateError, Authenticator, BearerJwtAuthenticator, CachingMembershipStore,
    CachingTenantStore, HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, JwtAlgorithm,
    JwtVerifier, Principal, RequestView, Role, Tenant, TenantId, TenantPipeline, UserId,
};
use tower::Layer;
use tower::ServiceExt;

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes";
/// A header name built once (looking a header up by `&str` parses the name on every call).
static X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");
const ITERS_DEFAULT: u32 = 100_000;
const ROUNDS_DEFAULT: usize = 5;

/// `OVERHEAD_ITERS` / `OVERHEAD_ROUNDS` override the defaults (small values for callgrind).
fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An API-key style authenticator: one comparison, the cheapest realistic authenticator. It
/// needs no I/O, so it answers at once (`authenticate_now`) and the layer takes its synchronous
/// path.
struct ApiKey {
    key: &'static str,
    user: UserId,
}

impl ApiKey {
    fn check(&self, req: &RequestView<'_>) -> Result<Option<Principal>, AuthenticateError> {
        match req.header(&X_API_KEY) {
            None => Ok(None),
            Some(v) if v == self.key.as_bytes() => Ok(Some(Principal::user(self.user))),
            Some(_) => Err(AuthenticateError::InvalidCredentials(None)),
        }
    }
}

#[async_trait]
impl Authenticator for ApiKey {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        self.check(req)
    }

    fn authenticate_now(
        &self,
        req: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthenticateError>> {
        Some(self.check(req))
    }
}

/// The same key check through the async method only (an authenticator that looks keys up in a
/// database would be like this): the layer has to box its future and await.
struct AwaitedApiKey(ApiKey);

#[async_trait]
impl Authenticator for AwaitedApiKey {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        self.0.check(req)
    }
}

async fn handler() -> &'static str {
    "ok"
}

fn request(auth: &(&'static str, String)) -> http::Request<Body> {
    http::Request::builder()
        .uri("/")
        .header("x-tenant", "acme")
        .header(auth.0, auth.1.as_str())
        .body(Body::empty())
        .unwrap()
}

async fn rps<S>(service: &S, auth: &(&'static str, String)) -> f64
where
    S: tower::Service<http::Request<Body>, Response = axum::response::Response> + Clone,
    S::Error: std::fmt::Debug,
{
    let iters = setting("OVERHEAD_ITERS", ITERS_DEFAULT);
    let start = Instant::now();
    for _ in 0..iters {
        let res = service.clone().oneshot(request(auth)).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    f64::from(iters) / start.elapsed().as_secs_f64()
}

fn pipeline(authenticator: Arc<dyn Authenticator>, user: UserId) -> Arc<TenantPipeline> {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    members.insert(acme.id, user, Role::Member);
    tenants.insert(acme);
    let p = TenantPipeline::new(
        Arc::new(CachingTenantStore::new(tenants)),
        Arc::new(CachingMembershipStore::new(members)),
    )
    .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    .with_authenticator(authenticator);
    Arc::new(p)
}

fn main() {
    // A production-like subscriber for both sides of the comparison: INFO and above (request
    // spans of tower-http and of this layer are DEBUG, so they stay disabled and cheap).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let (iters, rounds) = (
        setting("OVERHEAD_ITERS", ITERS_DEFAULT),
        setting("OVERHEAD_ROUNDS", ROUNDS_DEFAULT),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Configuration 1: API key authenticator (answered at once, or only through the async
    // method: `awaited`).
    let user = UserId::new_random();
    let api_pipeline = pipeline(Arc::new(ApiKey { key: "k-1", user }), user);
    let api_auth = ("x-api-key", "k-1".to_owned());
    let awaited_pipeline = pipeline(Arc::new(AwaitedApiKey(ApiKey { key: "k-1", user })), user);

    // Configuration 2: bearer JWT (HS256), verified once and then served from the authenticator's
    // verified-token cache (the default); configuration 3: the same token verified on every
    // request (`without_cache`).
    let verifier = Arc::new(JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256]).unwrap());
    let jwt_user = UserId::new_random();
    let jwt_pipeline = pipeline(
        Arc::new(BearerJwtAuthenticator::new(verifier.clone())),
        jwt_user,
    );
    let verify_pipeline = pipeline(
        Arc::new(BearerJwtAuthenticator::new(verifier).without_cache()),
        jwt_user,
    );
    let now = get_current_timestamp();
    let token = encode(
        &Header::default(),
        &serde_json::json!({ "sub": jwt_user.to_string(), "exp": now + 3600 }),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let jwt_auth = ("authorization", format!("Bearer {token}"));

    let api_pipeline_alone = api_pipeline.clone();
    let jwt_pipeline_alone = jwt_pipeline.clone();
    // `with_state(())` turns every handler into a route once, as `axum::serve` does (without it
    // axum converts the handler, and re-applies `Router::layer` layers, on every request).
    let bare = Router::new().route("/", get(handler)).with_state(());
    let with_api = Router::new()
        .route("/", get(handler))
        .layer(TenancyLayer::new(api_pipeline.clone()))
        .with_state(());
    let with_jwt = Router::new()
        .route("/", get(handler))
        .layer(TenancyLayer::new(jwt_pipeline))
        .with_state(());
    let with_verify = Router::new()
        .route("/", get(handler))
        .layer(TenancyLayer::new(verify_pipeline))
        .with_state(());
    let with_awaited = Router::new()
        .route("/", get(handler))
        .layer(TenancyLayer::new(awaited_pipeline))
        .with_state(());
    // The layer around the whole router (tower style) instead of `Router::layer`: axum does not
    // box the layered route's service and future on every request.
    let around = TenancyLayer::new(api_pipeline).layer(bare.clone());

    // `OVERHEAD_ONLY=bare|api|around|jwt|verify|awaited`: run that configuration alone and print nothing else,
    // for instruction counts under `valgrind --tool=callgrind` (deterministic on a busy machine:
    // compare the totals of two runs).
    if let Ok(only) = std::env::var("OVERHEAD_ONLY") {
        rt.block_on(async {
            for _ in 0..=rounds {
                let _ = match only.as_str() {
                    "bare" => rps(&bare, &api_auth).await,
                    "api" => rps(&with_api, &api_auth).await,
                    "around" => rps(&around, &api_auth).await,
                    "jwt" => rps(&with_jwt, &jwt_auth).await,
                    "verify" => rps(&with_verify, &jwt_auth).await,
                    "awaited" => rps(&with_awaited, &api_auth).await,
                    other => {
                        panic!("OVERHEAD_ONLY={other}: expected bare, api, around, jwt, verify or awaited")
                    }
                };
            }
        });
        return;
    }

    rt.block_on(async {
        // Warm-up: fills the caches and the allocator.
        for r in [&bare, &with_api, &with_awaited] {
            let _ = rps(r, &api_auth).await;
        }
        let _ = rps(&around, &api_auth).await;
        let _ = rps(&with_jwt, &jwt_auth).await;
        let _ = rps(&with_verify, &jwt_auth).await;

        let (mut best_bare, mut best_api, mut best_jwt, mut best_awaited, mut best_around) =
            (0f64, 0f64, 0f64, 0f64, 0f64);
        let mut best_verify = 0f64;
        for _ in 0..rounds {
            best_bare = best_bare.max(rps(&bare, &api_auth).await);
            best_api = best_api.max(rps(&with_api, &api_auth).await);
            best_around = best_around.max(rps(&around, &api_auth).await);
            best_jwt = best_jwt.max(rps(&with_jwt, &jwt_auth).await);
            best_verify = best_verify.max(rps(&with_verify, &jwt_auth).await);
            best_awaited = best_awaited.max(rps(&with_awaited, &api_auth).await);
        }
        // The pipeline alone (no router, no layer), to split the layer's cost.
        let alone = |p: Arc<TenantPipeline>, auth: (&'static str, String)| async move {
            let req = request(&auth);
            let mut best = 0f64;
            for _ in 0..rounds {
                let start = Instant::now();
                for _ in 0..iters {
                    let view = RequestView::from_request(&req);
                    let outcome = match p.run_now(&view) {
                        Some(outcome) => outcome,
                        None => p.run(&view).await,
                    };
                    assert!(outcome.is_ok());
                }
                best = best.max(f64::from(iters) / start.elapsed().as_secs_f64());
            }
            best
        };
        let api_alone = alone(api_pipeline_alone, api_auth.clone()).await;
        let jwt_alone = alone(jwt_pipeline_alone, jwt_auth.clone()).await;
        let per = |r: f64| Duration::from_secs_f64(1.0 / r);
        println!("{iters} requests x {rounds} rounds, best round, one core, in-process oneshot");
        println!(
            "bare router              {best_bare:>12.0} req/s  {:>9.2?}/req",
            per(best_bare)
        );
        println!(
            "layer, API key auth      {best_api:>12.0} req/s  {:>9.2?}/req  ratio {:.3}",
            per(best_api),
            best_api / best_bare
        );
        println!(
            "around router, API key   {best_around:>12.0} req/s  {:>9.2?}/req  ratio {:.3}",
            per(best_around),
            best_around / best_bare
        );
        println!(
            "layer, JWT HS256 cached  {best_jwt:>12.0} req/s  {:>9.2?}/req  ratio {:.3}",
            per(best_jwt),
            best_jwt / best_bare
        );
        println!(
            "layer, JWT verified      {best_verify:>12.0} req/s  {:>9.2?}/req  ratio {:.3}",
            per(best_verify),
            best_verify / best_bare
        );
        println!(
            "layer, API key awaited   {best_awaited:>12.0} req/s  {:>9.2?}/req  ratio {:.3}",
            per(best_awaited),
            best_awaited / best_bare
        );
        println!(
            "pipeline alone, API key  {api_alone:>12.0} req/s  {:>9.2?}/req",
            per(api_alone)
        );
        println!(
            "pipeline alone, JWT      {jwt_alone:>12.0} req/s  {:>9.2?}/req",
            per(jwt_alone)
        );
    });
}
