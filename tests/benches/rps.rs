//! Requests per second over real HTTP/1.1 (loopback TCP, keep-alive) of a minimal handler with
//! and without the tenancy layer, for both adapters, in the same run, with the tenant and the
//! membership served from the caches (cache hits after warm-up).
//!
//! Run with `cargo bench -p tenancy-tests --bench rps`.
//!
//! Servers, each on its own ephemeral 127.0.0.1 port:
//!
//! * `axum bare`: `GET /` → `"ok"`, served by `axum::serve`;
//! * `axum layer, API key`: the same router with `Router::layer(TenancyLayer)` (tenant from
//!   `X-Tenant`, an API-key style authenticator, caching tenant and membership stores);
//! * `axum around, API key`: the layer wrapped around the whole router
//!   (`TenancyLayer::layer(router)`, tower style: axum does not box the layered route);
//! * `axum layer, JWT HS256`: `Router::layer` with `BearerJwtAuthenticator` (token verified once,
//!   then served from its verified-token cache, `exp`/`nbf` checked on every request);
//! * `axum around, no-op`: calibration, an identity `MapRequestLayer` around the router: what the
//!   noise of the measurement looks like when the two sides do the same work;
//! * `axum around, scope only`: the floor of the adapters' contract, a layer around the router
//!   that does no tenancy work at all, only what every request through the real layer gets: a
//!   ready-made `TenantScope` (minted once by the pipeline at start-up) cloned into the request
//!   extensions, and the inner future run inside `in_scope`. The distance between it and the
//!   real layer is the price of the pipeline's steps (resolve, authenticate, look up, mint);
//! * `actix bare` and `actix middleware, API key`: the same handler and configuration on
//!   actix-web (`HttpServer`, one worker);
//! * `axum bare, 2nd instance`: calibration of the method itself, the bare server against
//!   another instance of the very same server (same code): it should read 1.000.
//!
//! Every server gets exactly the same request bytes (the API key and the bearer token are sent to
//! all of them), so the only difference is the layer. The client is a minimal HTTP/1.1 keep-alive
//! client on raw `TcpStream`s (one request in flight per connection); each server has its own
//! `CONNS` connections, opened once and kept for the whole run.
//!
//! How the noise of a shared machine is kept out of the ratios: a virtual machine's speed drifts
//! by tens of percent over seconds, so every layered server is measured in *pairs* of adjacent
//! short windows (`WINDOW` requests each, tens of milliseconds) with a bare server of its
//! framework, the order within a pair alternating; the pairs of the different layered servers
//! take turns, round after round. Each layered server has a bare twin of its own, so both sides
//! of a pair run equally often: with one bare server shared by every pair, the bare server ran
//! in every pair and stayed warm in the caches while each layered server waited for its turn,
//! and a second instance of the bare server itself read 0.95 against it. The report gives, per
//! layered server, the median of its per-pair ratios with the interquartile range, and the ratio
//! of the totals of its pairs. The server's CPU time per request (all server threads, user and
//! kernel, from `/proc/<pid>/task/<tid>/schedstat`) is reported the same way: time the server did
//! not get does not count in it. The no-op layer and the second bare instance are the
//! calibration: their ratios show how far from 1.000 the method reads when both sides do the same
//! work.
//!
//! The servers run on one thread each (axum: a one-worker tokio runtime; actix: one worker), the
//! client on another thread, so a 2-core machine gives each side one core. Settings
//! (environment): `RPS_CONNS` (default 32), `RPS_WINDOW` (requests per window, default 2000),
//! `RPS_ROUNDS` (default 40), `RPS_PIN=1` pins the server threads to CPU 0 and the client to
//! CPU 1 (Linux), `RPS_ONLY=<name>` (one server alone, no report: for instruction counts under
//! `valgrind --tool=callgrind`; names: bare, api, around, jwt, noop, floor, actix-bare,
//! actix-api, bare2).
//! Every response must be `200` with body `ok`; anything else is counted and the bench exits
//! non-zero.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss
)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use tenancy_actix::TenancyMiddleware;
use tenancy_axum::TenancyLayer;
use tenancy_core::{
    AuthenticateError, Authenticator, BearerJwtAuthenticator, CachingMembershipStore,
    CachingTenantStore, HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, JwtAlgorithm,
    JwtVerifier, PipelineOutcome, Principal, RequestView, Role, ScopedFuture, Tenant, TenantId,
    TenantPipeline, TenantScope, UserId, authenticator_fn, in_scope,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
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
/// no I/O, so it answers at once and the adapters take their synchronous path.
fn api_key(user: UserId) -> impl Authenticator {
    authenticator_fn(move |req: &RequestView<'_>| match req.header(&X_API_KEY) {
        None => Ok(None),
        Some(v) if v == API_KEY.as_bytes() => Ok(Some(Principal::user(user))),
        Some(_) => Err(AuthenticateError::InvalidCredentials(None)),
    })
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

/// The floor of the adapters' contract (`axum around, scope only`): no tenancy work, only a
/// ready-made scope put into the request extensions and the inner future run inside it.
#[derive(Clone)]
struct ScopeOnly<S> {
    inner: S,
    scope: TenantScope,
}

impl<S, B> tower::Service<http::Request<B>> for ScopeOnly<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ScopedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.scope.clone());
        in_scope(self.scope.clone(), self.inner.call(req))
    }
}

/// The scope the API-key pipeline mints for the benchmark's request.
fn minted_scope(rt: &tokio::runtime::Runtime, pipeline: &TenantPipeline) -> TenantScope {
    let req = http::Request::builder()
        .header("x-tenant", "acme")
        .header(&X_API_KEY, API_KEY)
        .body(())
        .unwrap();
    let outcome = rt.block_on(pipeline.run(&RequestView::from_request(&req)));
    match outcome {
        Ok(PipelineOutcome::Scoped(scope)) => scope,
        other => panic!("the benchmark's request must be admitted: {other:?}"),
    }
}

/// The server threads, for their CPU time (Linux: `/proc/<pid>/task/<tid>/schedstat`, the first
/// field is nanoseconds on CPU, user and kernel). On other systems it reads 0.
#[derive(Clone, Default)]
struct ServerThreads {
    threads: Arc<Mutex<BTreeSet<PathBuf>>>,
    pin: bool,
}

impl ServerThreads {
    /// Called on each server thread as it starts.
    fn register_current_thread(&self) {
        if self.pin {
            pin_current_thread(0);
        }
        if let Ok(link) = std::fs::read_link("/proc/thread-self") {
            let path = std::path::Path::new("/proc").join(link).join("schedstat");
            self.threads.lock().unwrap().insert(path);
        }
    }

    fn cpu_nanos(&self) -> u64 {
        self.threads
            .lock()
            .unwrap()
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

fn pin_current_thread(cpu: usize) {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(core) = cores.into_iter().find(|c| c.id == cpu) {
        core_affinity::set_for_current(core);
    }
}

async fn handler() -> &'static str {
    "ok"
}

async fn actix_handler() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().body("ok")
}

/// Serves `service` with `axum::serve` on `rt`.
fn serve_axum<S>(rt: &tokio::runtime::Runtime, service: S) -> SocketAddr
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
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let make = axum::ServiceExt::<axum::extract::Request>::into_make_service(service);
        tokio::spawn(async move { axum::serve(listener, make).await.unwrap() });
        addr
    })
}

/// Serves the actix-web app built by `$app` (a closure expression) with one worker, on its own
/// thread and actix system; evaluates to its address.
macro_rules! serve_actix {
    ($threads:expr, $app:expr) => {{
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let threads: ServerThreads = $threads.clone();
        let app = $app;
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    // The factory runs on the worker thread as it starts.
                    threads.register_current_thread();
                    app()
                })
                .workers(1)
                .keep_alive(Duration::from_secs(3600))
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                server.await.unwrap();
            });
        });
        addr
    }};
}

/// Sends `n` requests one after the other on one keep-alive connection; returns the stream and
/// the number of responses that were not `200 ok`.
async fn drive(mut stream: TcpStream, request: Arc<[u8]>, n: usize) -> (TcpStream, usize) {
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
    (stream, failures)
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

/// One server under test, with its open connections.
struct Target {
    name: &'static str,
    /// Index of the bare server of the same framework (itself for a bare server).
    baseline: usize,
    request: Arc<[u8]>,
    streams: Vec<TcpStream>,
    /// Layered servers: each window next to the window of the bare server it was paired with
    /// (a bare server's figures are those of the bare halves of its layered servers' pairs).
    pairs: Vec<(Window, Window)>,
}

/// One measured window.
#[derive(Clone, Copy)]
struct Window {
    requests: usize,
    secs: f64,
    cpu_nanos: u64,
}

impl Window {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    fn cpu_per_request(&self) -> f64 {
        self.cpu_nanos as f64 / self.requests as f64
    }
}

/// A ratio's median per pair, its interquartile range, and the ratio of the totals.
fn summary(ratios: &[f64], of_totals: f64) -> String {
    format!(
        "{:.3} [{:.3}..{:.3}] {:.3}",
        quantile(ratios, 0.5),
        quantile(ratios, 0.25),
        quantile(ratios, 0.75),
        of_totals
    )
}

/// Requests per second and CPU nanoseconds per request over many windows.
fn totals<'a>(windows: impl Iterator<Item = &'a Window>) -> (f64, f64) {
    let (mut requests, mut secs, mut cpu) = (0, 0f64, 0u64);
    for w in windows {
        requests += w.requests;
        secs += w.secs;
        cpu += w.cpu_nanos;
    }
    (requests as f64 / secs, cpu as f64 / requests as f64)
}

impl Target {
    async fn connect(
        name: &'static str,
        baseline: usize,
        addr: SocketAddr,
        conns: usize,
        token: &str,
    ) -> Self {
        let request = format!(
            "GET / HTTP/1.1\r\nhost: {addr}\r\nx-tenant: acme\r\nx-api-key: {API_KEY}\r\n\
             authorization: Bearer {token}\r\n\r\n"
        )
        .into_bytes()
        .into();
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            streams.push(stream);
        }
        Self {
            name,
            baseline,
            request,
            streams,
            pairs: Vec::new(),
        }
    }

    /// One window of `requests` spread over the connections, measured. Returns the window and
    /// the number of failures.
    async fn measure(&mut self, requests: usize, threads: &ServerThreads) -> (Window, usize) {
        let before = threads.cpu_nanos();
        let (secs, failures) = self.window(requests).await;
        let window = Window {
            requests: requests / self.streams.len() * self.streams.len(),
            secs,
            cpu_nanos: threads.cpu_nanos() - before,
        };
        (window, failures)
    }

    /// One window of `requests` spread over the connections. Returns (seconds, failures).
    async fn window(&mut self, requests: usize) -> (f64, usize) {
        let per_conn = requests / self.streams.len();
        let start = Instant::now();
        let tasks: Vec<_> = self
            .streams
            .drain(..)
            .map(|s| tokio::spawn(drive(s, self.request.clone(), per_conn)))
            .collect();
        let mut failures = 0;
        for task in tasks {
            let (stream, f) = task.await.unwrap();
            self.streams.push(stream);
            failures += f;
        }
        (start.elapsed().as_secs_f64(), failures)
    }
}

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

fn main() {
    // A production-like subscriber for both sides of the comparison: INFO and above (request
    // spans of tower-http and of the adapters are DEBUG, so they stay disabled and cheap).
    // actix-server's start-up lines are left out of the report.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info,actix_server=warn"))
        .init();
    let conns = env_or("RPS_CONNS", 32);
    let window = env_or("RPS_WINDOW", 2000);
    let rounds = env_or("RPS_ROUNDS", 40);
    let pin = std::env::var("RPS_PIN").is_ok_and(|v| v == "1");
    let only = std::env::var("RPS_ONLY").ok();

    let threads = ServerThreads {
        pin,
        ..ServerThreads::default()
    };
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start({
            let threads = threads.clone();
            move || threads.register_current_thread()
        })
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(move || {
            if pin {
                pin_current_thread(1);
            }
        })
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
    let api_pipeline = pipeline(user, Arc::new(api_key(user)));
    let jwt_pipeline = pipeline(user, Arc::new(BearerJwtAuthenticator::new(verifier)));

    // `with_state(())` turns the handlers into routes once (as `axum::serve` does for a router).
    let bare = Router::new().route("/", get(handler)).with_state(());
    let configs: [(&'static str, &'static str, usize); 9] = [
        ("bare", "axum bare", 0),
        ("api", "axum layer, API key", 0),
        ("around", "axum around, API key", 0),
        ("jwt", "axum layer, JWT HS256", 0),
        ("noop", "axum around, no-op", 0),
        ("floor", "axum around, scope only", 0),
        ("actix-bare", "actix bare", 6),
        ("actix-api", "actix middleware, API key", 6),
        ("bare2", "axum bare, 2nd instance", 0),
    ];
    // The handler's route with the layer added by `Router::layer`.
    let route_layered = |pipeline: &Arc<TenantPipeline>| {
        Router::new()
            .route("/", get(handler))
            .layer(TenancyLayer::new(pipeline.clone()))
            .with_state(())
    };
    let wanted = |key: &str| only.as_deref().is_none_or(|o| o == key);
    // Starts the server of config `i`.
    let start = |i: usize| match i {
        0 | 8 => serve_axum(&server_rt, bare.clone()),
        1 => serve_axum(&server_rt, route_layered(&api_pipeline)),
        2 => serve_axum(
            &server_rt,
            TenancyLayer::new(api_pipeline.clone()).layer(bare.clone()),
        ),
        3 => serve_axum(&server_rt, route_layered(&jwt_pipeline)),
        4 => serve_axum(
            &server_rt,
            tower::util::MapRequestLayer::new(|req: axum::extract::Request| req)
                .layer(bare.clone()),
        ),
        5 => serve_axum(
            &server_rt,
            ScopeOnly {
                inner: bare.clone(),
                scope: minted_scope(&server_rt, &api_pipeline),
            },
        ),
        6 => serve_actix!(threads, || {
            actix_web::App::new().route("/", actix_web::web::get().to(actix_handler))
        }),
        _ => serve_actix!(threads, {
            let pipeline = api_pipeline.clone();
            move || {
                actix_web::App::new()
                    .wrap(TenancyMiddleware::new(pipeline.clone()))
                    .route("/", actix_web::web::get().to(actix_handler))
            }
        }),
    };
    // (name, index of its baseline in `servers` — itself for a bare server —, address); every
    // layered server right after its bare twin (see the module docs for why twins).
    let mut servers: Vec<(&'static str, usize, SocketAddr)> = Vec::new();
    for (i, (key, name, baseline)) in configs.iter().copied().enumerate() {
        if !wanted(key) {
            continue;
        }
        if only.is_some() {
            // One server alone, its own baseline.
            servers.push((name, 0, start(i)));
            continue;
        }
        if baseline == i {
            // Bare servers are started as the twins of the layered ones.
            continue;
        }
        servers.push((configs[baseline].1, servers.len(), start(baseline)));
        servers.push((name, servers.len() - 1, start(i)));
    }
    assert!(
        !servers.is_empty(),
        "RPS_ONLY: expected bare, api, around, jwt, noop, floor, actix-bare, actix-api or bare2"
    );

    client_rt.block_on(async {
        let mut targets = Vec::new();
        for (name, baseline, addr) in servers {
            targets.push(Target::connect(name, baseline, addr, conns, &token).await);
        }
        // Warm-up: fills the caches, the kernel's buffers and the allocator.
        let mut failures = 0;
        for t in &mut targets {
            failures += t.window(window * 2).await.1;
        }

        // Each layered server is measured in pairs of adjacent windows with its framework's bare
        // server, in alternating order; the pairs of the different layered servers take turns.
        let layered: Vec<usize> = (0..targets.len())
            .filter(|&i| targets[i].baseline != i)
            .collect();
        for round in 0..rounds {
            for (k, &i) in layered.iter().enumerate() {
                let b = targets[i].baseline;
                let (layer_first, bare_first) = if (round + k) % 2 == 0 {
                    let l = targets[i].measure(window, &threads).await;
                    let b = targets[b].measure(window, &threads).await;
                    (l, b)
                } else {
                    let b = targets[b].measure(window, &threads).await;
                    let l = targets[i].measure(window, &threads).await;
                    (l, b)
                };
                failures += layer_first.1 + bare_first.1;
                targets[i].pairs.push((layer_first.0, bare_first.0));
            }
            if layered.is_empty() {
                // One bare server alone (`RPS_ONLY`).
                failures += targets[0].measure(window, &threads).await.1;
            }
        }
        if only.is_some() {
            assert_eq!(failures, 0, "responses other than 200 ok");
            return;
        }

        println!(
            "HTTP/1.1 keep-alive over loopback: {conns} connections per server; {rounds} rounds, \
             each measuring every layered server against a bare twin of its own in two adjacent \
             windows of {window} requests (alternating order); one server thread, one client \
             thread{}",
            if pin { ", pinned to CPUs 0 and 1" } else { "" }
        );
        println!(
            "{:<27} {:>8}  {:>29}  {:>10}  {:>29}",
            "", "req/s", "throughput ratio", "server CPU", "CPU ratio (bare / this)"
        );
        let mut bare_rows: Vec<&str> = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            if t.baseline == i {
                // One row per framework: the bare halves of all its pairs, over every twin.
                if bare_rows.contains(&t.name) {
                    continue;
                }
                bare_rows.push(t.name);
                let (rps, cpu) = totals(
                    targets
                        .iter()
                        .filter(|l| targets[l.baseline].name == t.name)
                        .flat_map(|l| l.pairs.iter().map(|(_, b)| b)),
                );
                println!("{:<27} {rps:>8.0}  {:>29}  {cpu:>7.0} ns", t.name, "");
                continue;
            }
            let ratios: Vec<f64> = t.pairs.iter().map(|(l, b)| l.rps() / b.rps()).collect();
            let cpu_ratios: Vec<f64> = t
                .pairs
                .iter()
                .map(|(l, b)| b.cpu_per_request() / l.cpu_per_request())
                .collect();
            let (rps, cpu) = totals(t.pairs.iter().map(|(l, _)| l));
            let (bare_rps, bare_cpu) = totals(t.pairs.iter().map(|(_, b)| b));
            println!(
                "{:<27} {rps:>8.0}  {:>29}  {cpu:>7.0} ns  {:>29}",
                t.name,
                summary(&ratios, rps / bare_rps),
                summary(&cpu_ratios, bare_cpu / cpu),
            );
        }
        println!(
            "ratios: median of the per-pair ratios against the layered server's bare twin \
             [interquartile range], then the ratio of the totals of those pairs; server CPU: \
             nanoseconds on CPU per request, all server threads, user and kernel"
        );
        println!("failures (responses other than 200 ok): {failures}");
        if failures > 0 {
            eprintln!("benchmark invalid: {failures} responses were not 200 ok");
            std::process::exit(1);
        }
    });
}
