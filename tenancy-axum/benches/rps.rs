//! Requests per second over real HTTP/1.1 (loopback TCP, keep-alive) of a minimal axum handler
//! with and without `TenancyLayer`, in the same run, with the tenant and the membership served
//! from the moka caches (cache hits after warm-up).
//!
//! Run with `cargo bench -p tenancy-axum --bench rps`.
//!
//! Four servers are started on ephemeral 127.0.0.1 ports, each an `axum::serve` of:
//!
//! * `bare`: `GET /` → `"ok"`;
//! * `api key`: the same router with `TenancyLayer` (tenant from `X-Tenant`, an API-key style
//!   authenticator, caching tenant and membership stores);
//! * `jwt`: the same with a bearer JWT (HS256) authenticator (`BearerJwtAuthenticator` as
//!   built by `new`: the token is verified once, then served from its verified-token cache with
//!   `exp`/`nbf` checked on every request; `cargo bench --bench overhead` also measures a
//!   token verified on every request);
//! * `noop`: calibration, a layer that does nothing (`tower::util::MapRequestLayer` with the
//!   identity) wrapped around the router: what wrapping alone costs;
//! * `around`: the `api key` configuration with the layer wrapped around the whole router
//!   (`TenancyLayer::layer(router)`, tower style) instead of `Router::layer`: axum then does not
//!   box the layered route and its future on every request.
//!
//! Every server gets exactly the same request bytes (both the API key and the bearer token
//! headers are sent to all of them), so the only difference is the layer. The client is a minimal
//! HTTP/1.1 keep-alive client written here on raw `TcpStream`s (no pipelining: one request in
//! flight per connection): `CONNS` connections, `REQUESTS` requests per round split evenly
//! across them. Rounds interleave (bare, api key, jwt, bare, ...) to cancel drift; the median of
//! the rounds is reported, together with the median of the per-round ratios layer / bare.
//! Every response must be `200` with body `ok`; anything else is counted as a failure and the
//! bench exits non-zero.
//!
//! The server runs on its own multi-thread tokio runtime (`SERVER_THREADS` workers), the client
//! on another (`CLIENT_THREADS` workers), so a run on a 2-core machine gives each one core by
//! default. Settings (environment): `RPS_CONNS` (default 32), `RPS_REQUESTS` (per round, default
//! 100000), `RPS_ROUNDS` (default 7), `RPS_SERVER_THREADS` (default 1), `RPS_CLIENT_THREADS`
//! (default 1), `RPS_ONLY=bare|api|jwt|around|noop` (that server alone, no report: for instruction
//! counts under `valgrind --tool=callgrind`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use tenancy_axum::TenancyLayer;
use tenancy_core::{
    AuthenticateError, Authenticator, BearerJwtAuthenticator, CachingMembershipStore,
    CachingTenantStore, HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, JwtAlgorithm,
    JwtVerifier, Principal, RequestView, Role, Tenant, TenantId, TenantPipeline, UserId,
    authenticator_fn,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::Layer;

const SECRET: &[u8] = b"bench-secret-that-is-at-least-32-bytes";
const API_KEY: &str = "k-1";
/// A header name built once (looking a header up by `&str` parses the name on every call).
static X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An API-key style authenticator: one comparison, the cheapest realistic authenticator. It needs
/// no I/O, so it answers at once and the layer takes its synchronous path.
fn api_key(user: UserId) -> impl Authenticator {
    authenticator_fn(
        move |req: &RequestView<'_>| match req.headers().get(&X_API_KEY) {
            None => Ok(None),
            Some(v) if v.as_bytes() == API_KEY.as_bytes() => Ok(Some(Principal::user(user))),
            Some(_) => Err(AuthenticateError::InvalidCredentials(None)),
        },
    )
}

async fn handler() -> &'static str {
    "ok"
}

fn pipeline(user: UserId, authenticator: Arc<dyn Authenticator>) -> Arc<TenantPipeline> {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    members.insert(acme.id, user, Role::Member);
    tenants.insert(acme);
    Arc::new(
        TenantPipeline::new(
            Arc::new(CachingTenantStore::new(tenants)),
            Arc::new(CachingMembershipStore::new(members)),
        )
        .with_resolver(Arc::new(HeaderResolver::x_tenant()))
        .with_authenticator(authenticator),
    )
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Serves any service of requests (here: the layer around a router).
async fn serve_service<S>(service: S) -> SocketAddr
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let make = axum::ServiceExt::<axum::extract::Request>::into_make_service(service);
    tokio::spawn(async move { axum::serve(listener, make).await.unwrap() });
    addr
}

/// Sends `n` requests one after the other on one keep-alive connection; returns the number of
/// responses that were not `200 ok`.
async fn drive(addr: SocketAddr, request: Arc<[u8]>, n: usize) -> usize {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut failures = 0;
    for _ in 0..n {
        stream.write_all(&request).await.unwrap();
        // Read until the head is complete and the body (Content-Length) has arrived.
        let mut filled = 0;
        loop {
            let read = stream.read(&mut buf[filled..]).await.unwrap();
            assert!(read > 0, "server closed the connection");
            filled += read;
            if let Some(end) = response_len(&buf[..filled]) {
                assert_eq!(
                    end, filled,
                    "one request in flight, so no bytes past the response"
                );
                if !(buf[..filled].starts_with(b"HTTP/1.1 200 ") && buf[..filled].ends_with(b"ok"))
                {
                    failures += 1;
                }
                break;
            }
            assert!(filled < buf.len(), "response too large");
        }
    }
    failures
}

/// The length of the complete response at the start of `buf`, if it is all there.
fn response_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).expect("ascii head");
    let len = head
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().expect("content-length"))
        })
        .expect("responses carry content-length");
    (buf.len() >= head_end + len).then_some(head_end + len)
}

/// One round against `addr`: `conns` connections, `requests` in total. Returns (req/s, failures).
async fn round(
    addr: SocketAddr,
    request: &Arc<[u8]>,
    conns: usize,
    requests: usize,
) -> (f64, usize) {
    let per_conn = requests / conns;
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(drive(addr, request.clone(), per_conn)))
        .collect();
    let mut failures = 0;
    for t in tasks {
        failures += t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rps = (per_conn * conns) as f64 / secs;
    (rps, failures)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU time of the server's threads (Linux: `/proc/<pid>/task/<tid>/schedstat`, nanoseconds on
/// CPU, user and kernel). Throughput over loopback on a shared 2-core machine moves with whatever
/// else runs; the server's CPU time per request does not count time the server did not get, so
/// its ratio is the steadier measure of what the layer costs. On other systems it reads 0.
#[derive(Clone, Default)]
struct ServerCpu {
    threads: Arc<std::sync::Mutex<Vec<std::path::PathBuf>>>,
}

impl ServerCpu {
    fn register_current_thread(&self) {
        if let Ok(link) = std::fs::read_link("/proc/thread-self") {
            let path = std::path::Path::new("/proc").join(link).join("schedstat");
            self.threads.lock().unwrap().push(path);
        }
    }

    /// Nanoseconds on CPU so far, all server threads.
    fn nanos(&self) -> u64 {
        self.threads
            .lock()
            .unwrap()
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

fn main() {
    // A production-like subscriber for both sides of the comparison: INFO and above (request
    // spans of tower-http and of this layer are DEBUG, so they stay disabled and cheap).
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .init();
    let conns = env_or("RPS_CONNS", 32);
    let requests = env_or("RPS_REQUESTS", 100_000);
    let rounds = env_or("RPS_ROUNDS", 7);
    let server_threads = env_or("RPS_SERVER_THREADS", 1);
    let client_threads = env_or("RPS_CLIENT_THREADS", 1);

    let server_cpu = ServerCpu::default();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(server_threads)
        .on_thread_start({
            let server_cpu = server_cpu.clone();
            move || server_cpu.register_current_thread()
        })
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()
        .unwrap();

    // The world: one tenant `acme`, one member; the API key and the token both name that user.
    let user = UserId::new_random();
    let verifier = Arc::new(JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256]).unwrap());
    let token = encode(
        &Header::default(),
        &serde_json::json!({ "sub": user.to_string(), "exp": get_current_timestamp() + 3600 }),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();

    let bare = Router::new().route("/", get(handler));
    let api_pipeline = pipeline(user, Arc::new(api_key(user)));
    let with_api = Router::new()
        .route("/", get(handler))
        .layer(TenancyLayer::new(api_pipeline.clone()));
    let with_jwt = Router::new()
        .route("/", get(handler))
        .layer(TenancyLayer::new(pipeline(
            user,
            Arc::new(BearerJwtAuthenticator::new(verifier)),
        )));
    // `with_state(())` turns the handlers into routes once (as `axum::serve` does for a router).
    let around = TenancyLayer::new(api_pipeline).layer(bare.clone().with_state(()));
    let noop = tower::util::MapRequestLayer::new(|req: axum::extract::Request| req)
        .layer(bare.clone().with_state(()));

    let only = std::env::var("RPS_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let addrs: Vec<(usize, SocketAddr)> = server_rt.block_on(async {
        let mut addrs = Vec::new();
        if wanted("bare") {
            addrs.push((0, serve(bare).await));
        }
        if wanted("api") {
            addrs.push((1, serve(with_api).await));
        }
        if wanted("jwt") {
            addrs.push((2, serve(with_jwt).await));
        }
        if wanted("around") {
            addrs.push((3, serve_service(around).await));
        }
        if wanted("noop") {
            addrs.push((4, serve_service(noop).await));
        }
        addrs
    });
    assert!(
        !addrs.is_empty(),
        "RPS_ONLY: expected bare, api, jwt, around or noop"
    );

    // Identical bytes for every server (the Host header aside, which only differs in the port
    // digits, the same length for every ephemeral port in practice).
    let requests_bytes: Vec<Arc<[u8]>> = addrs
        .iter()
        .map(|(_, a)| {
            format!(
                "GET / HTTP/1.1\r\nhost: {a}\r\nx-tenant: acme\r\nx-api-key: {API_KEY}\r\n\
                 authorization: Bearer {token}\r\n\r\n"
            )
            .into_bytes()
            .into()
        })
        .collect();
    let names = [
        "bare",
        "layer, API key",
        "layer, JWT HS256",
        "around router, API key",
        "around router, no-op",
    ];

    if only.is_some() {
        client_rt.block_on(async {
            let (addr, req) = (addrs[0].1, &requests_bytes[0]);
            let mut failures = round(addr, req, conns, requests / 5).await.1;
            for _ in 0..rounds {
                failures += round(addr, req, conns, requests).await.1;
            }
            assert_eq!(failures, 0, "responses other than 200 ok");
        });
        return;
    }

    client_rt.block_on(async {
        // Warm-up: fills the caches, the connection pools of the kernel and the allocator.
        let mut failures = 0;
        for ((_, addr), req) in addrs.iter().zip(&requests_bytes) {
            failures += round(*addr, req, conns, requests / 5).await.1;
        }

        let mut rps: [Vec<f64>; 5] = Default::default();
        let mut ratios: [Vec<f64>; 5] = Default::default();
        // Server CPU nanoseconds per request, per round.
        let mut cpu: [Vec<f64>; 5] = Default::default();
        let mut cpu_ratios: [Vec<f64>; 5] = Default::default();
        for _ in 0..rounds {
            let mut this = [0f64; 5];
            let mut this_cpu = [0f64; 5];
            for ((i, addr), req) in addrs.iter().zip(&requests_bytes) {
                let before = server_cpu.nanos();
                let (r, f) = round(*addr, req, conns, requests).await;
                #[allow(clippy::cast_precision_loss)]
                let per_request = (server_cpu.nanos() - before) as f64 / requests as f64;
                failures += f;
                this[*i] = r;
                rps[*i].push(r);
                cpu[*i].push(per_request);
                this_cpu[*i] = per_request;
            }
            for i in 1..5 {
                ratios[i].push(this[i] / this[0]);
                cpu_ratios[i].push(this_cpu[0] / this_cpu[i]);
            }
        }

        println!(
            "HTTP/1.1 keep-alive over loopback: {conns} connections, {requests} requests x \
             {rounds} rounds (interleaved), server {server_threads} worker thread(s), client \
             {client_threads}; median of rounds"
        );
        let bare = median(rps[0].clone());
        let bare_cpu = median(cpu[0].clone());
        let bare_max = rps[0].iter().copied().fold(0f64, f64::max);
        println!(
            "{:<24} {:>9}        {:>21}  {:>26}  {:>9}  {:>14}",
            "", "req/s", "rounds", "ratio", "server CPU", "CPU ratio"
        );
        for (i, name) in names.iter().enumerate() {
            let r = median(rps[i].clone());
            let min = rps[i].iter().copied().fold(f64::INFINITY, f64::min);
            let max = rps[i].iter().copied().fold(0f64, f64::max);
            let c = median(cpu[i].clone());
            let (ratio, cpu_ratio) = if i == 0 {
                (String::new(), String::new())
            } else {
                (
                    format!(
                        "{:.3} ({:.3}, best {:.3})",
                        r / bare,
                        median(ratios[i].clone()),
                        max / bare_max
                    ),
                    format!("{:.3} ({:.3})", bare_cpu / c, median(cpu_ratios[i].clone())),
                )
            };
            println!(
                "{name:<24} {r:>9.0} req/s  {min:>9.0}..{max:<9.0}  {ratio:>26}  {c:>6.0} ns  {cpu_ratio:>14}"
            );
        }
        println!(
            "ratio: of the medians (median of per-round ratios, ratio of the best rounds); server CPU: nanoseconds on CPU \
             per request, all server threads; CPU ratio: bare / this = the share of bare's \
             throughput a CPU-bound server keeps, of the medians (median of per-round ratios)"
        );
        println!("failures (responses other than 200 ok): {failures}");
        if failures > 0 {
            eprintln!("benchmark invalid: {failures} responses were not 200 ok");
            std::process::exit(1);
        }
    });
}
