//! One conformance suite for both web adapters.
//!
//! The suite is written once against the [`Harness`] trait; [`axum::AxumHarness`] and
//! [`actix::ActixHarness`] implement it in-process (`tower::ServiceExt::oneshot` and
//! `actix_web::test`). Both serve the same routes over the same [`World`] (tenants, members,
//! pipeline, policy), and every case asserts the exact status and the exact body, so the two
//! adapters must agree byte for byte. [`conformance_suite!`](crate::conformance_suite) expands to
//! one `#[test]` per case for a given harness; `tests/conformance_*.rs` instantiate it, and
//! `tests/conformance_agree.rs` also compares full transcripts of both adapters.
//!
//! Routes served by both harnesses (behind the tenancy layer/middleware):
//!
//! | route              | extractor                      | body on success                    |
//! |--------------------|--------------------------------|------------------------------------|
//! | `/whoami`          | `CurrentTenant`                | `{"role":..,"tenant":..}`          |
//! | `/t/{slug}/whoami` | `CurrentTenant`                | same                               |
//! | `/optional`        | `OptionalTenant`               | `{"tenant":..}` (`null` if none)   |
//! | `/admin`           | `RequireRole<Admin>`           | same as `/whoami`                  |
//! | `/leads`           | `RequirePermission<LeadsWrite>`| same as `/whoami`                  |
//! | `/public`          | none                           | `{"ok":true}`                      |
//!
//! The same routes are also served *without* the layer ([`Harness::send_without_layer`]).
//!
//! The world also has a tenant `busy` on plan `tiny`, whose rate limit ([`BUSY_QUOTA`] requests
//! per hour, on a manual clock) the case `rate_limited_per_tenant` exhausts.
//!
//! Every case runs twice, over two worlds that hold the same data: [`World::new`], whose stores
//! and authenticator answer at once (the adapters' synchronous hot path,
//! `TenantPipeline::run_now`), and [`World::waiting`], whose stores and authenticator must be
//! awaited (the boxed path, `TenantPipeline::run`). Both must give the same answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use tenancy_core::{
    AuthenticateError, Authenticator, BearerJwtAuthenticator, HeaderResolver,
    InMemoryMembershipStore, InMemoryTenantStore, JwtAlgorithm, JwtVerifier, ManualClock,
    MembershipStore, PathResolver, Permission, PermissionMarker, Policy, Principal, RateQuota,
    RequestView, ResolverChain, Role, StoreError, SubdomainResolver, Tenant, TenantId, TenantKey,
    TenantPipeline, TenantRateLimiter, TenantScope, TenantStatus, TenantStore, UserId,
};

pub mod actix;
pub mod axum;
pub mod cases;

/// The HMAC secret the test verifier accepts.
pub const SECRET: &[u8] = b"conformance-secret-at-least-32-bytes-long";
/// The pinned issuer.
pub const ISSUER: &str = "https://auth.conformance.test";
/// The pinned audience.
pub const AUDIENCE: &str = "tenancy-conformance";
/// The base domain of the subdomain resolver.
pub const BASE_DOMAIN: &str = "example.test";

/// The permission behind `/leads`, granted to managers and above.
pub struct LeadsWrite;

impl PermissionMarker for LeadsWrite {
    const PERMISSION: Permission = Permission::from_static("leads:write");
}

/// A request, independent of the framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRequest {
    /// Raw path (and query).
    pub path: String,
    /// Headers, in order; repeated names are sent as repeated headers.
    pub headers: Vec<(String, String)>,
}

impl TestRequest {
    /// A GET of `path`.
    pub fn get(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            headers: Vec::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `X-Tenant`.
    #[must_use]
    pub fn tenant(self, slug: &str) -> Self {
        self.header("x-tenant", slug)
    }

    /// Adds `Host`.
    #[must_use]
    pub fn host(self, host: &str) -> Self {
        self.header("host", host)
    }

    /// Adds `Authorization: Bearer <token>`.
    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
}

/// A response, independent of the framework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// Sends requests to one adapter, in-process.
pub trait Harness {
    /// Sends `req` to the routes behind the tenancy layer/middleware.
    fn send(&self, req: TestRequest) -> impl Future<Output = TestResponse>;
    /// Sends `req` to the same routes without the layer/middleware.
    fn send_without_layer(&self, req: TestRequest) -> impl Future<Output = TestResponse>;
}

/// Records every exchange of a harness, to compare two adapters' transcripts.
#[derive(Debug)]
pub struct Recording<H> {
    inner: H,
    /// `(with_layer, request, response)` in order.
    pub transcript: Mutex<Vec<(bool, TestRequest, TestResponse)>>,
}

impl<H> Recording<H> {
    /// Wraps `inner`.
    pub fn new(inner: H) -> Self {
        Self {
            inner,
            transcript: Mutex::new(Vec::new()),
        }
    }

    /// The recorded exchanges.
    pub fn take(&self) -> Vec<(bool, TestRequest, TestResponse)> {
        std::mem::take(&mut *self.transcript.lock().unwrap())
    }
}

impl<H: Harness> Harness for Recording<H> {
    async fn send(&self, req: TestRequest) -> TestResponse {
        let res = self.inner.send(req.clone()).await;
        self.transcript
            .lock()
            .unwrap()
            .push((true, req, res.clone()));
        res
    }

    async fn send_without_layer(&self, req: TestRequest) -> TestResponse {
        let res = self.inner.send_without_layer(req.clone()).await;
        self.transcript
            .lock()
            .unwrap()
            .push((false, req, res.clone()));
        res
    }
}

/// The users of the [`World`].
#[derive(Debug, Clone, Copy)]
pub struct Users {
    /// Owner of `acme`.
    pub alice: UserId,
    /// Member of `acme`.
    pub bob: UserId,
    /// Admin of `globex` only.
    pub carol: UserId,
    /// Member of the suspended `initech` and of the deleted `umbrella`.
    pub dave: UserId,
    /// Manager of `acme`.
    pub manny: UserId,
    /// Member of nothing.
    pub mallory: UserId,
}

/// Tenants, members, the pipeline and the policy shared by both harnesses.
#[derive(Debug)]
pub struct World {
    /// The tenant store.
    pub tenants: Arc<InMemoryTenantStore>,
    /// The membership store (mutable: revocation tests remove rows).
    pub members: Arc<InMemoryMembershipStore>,
    /// The pipeline both adapters run.
    pub pipeline: Arc<TenantPipeline>,
    /// The permission policy.
    pub policy: Arc<Policy>,
    /// The users.
    pub users: Users,
    /// `acme` (active).
    pub acme: TenantId,
    /// `globex` (active).
    pub globex: TenantId,
    /// Whether the stores and the authenticator must be awaited ([`World::waiting`]).
    pub waiting: bool,
    /// The rate limiter's clock (the `busy` tenant's quota is [`BUSY_QUOTA`] per hour).
    pub clock: ManualClock,
}

/// Requests per hour admitted for the `busy` tenant (plan `tiny`); every other tenant has a quota
/// no case reaches.
pub const BUSY_QUOTA: u32 = 3;

/// Hides the immediate answers (`get_now`, `role_of_now`, `authenticate_now`) of a store or an
/// authenticator, so the pipeline has to await it.
#[derive(Debug, Clone)]
pub struct Waiting<T>(pub T);

#[async_trait]
impl<T: TenantStore> TenantStore for Waiting<T> {
    async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
        self.0.get(key).await
    }
}

#[async_trait]
impl<T: MembershipStore> MembershipStore for Waiting<T> {
    async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError> {
        self.0.role_of(tenant, user).await
    }
}

#[async_trait]
impl<T: Authenticator> Authenticator for Waiting<T> {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        self.0.authenticate(req).await
    }
}

fn nonzero(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n).unwrap()
}

fn tenant(slug: &str, status: TenantStatus) -> Tenant {
    Tenant::new(TenantId::new_random(), slug.parse().unwrap(), slug).with_status(status)
}

impl World {
    /// A fresh world: tenants `acme`, `globex` (active), `initech` (suspended), `umbrella`
    /// (deleted); resolvers subdomain of [`BASE_DOMAIN`], `X-Tenant` and path prefix `/t`, all of
    /// which must agree; HS256 bearer JWTs with pinned issuer and audience. The stores and the
    /// authenticator answer at once when they can.
    pub fn new() -> Self {
        Self::build(false)
    }

    /// The same world, but every store lookup and every authentication has to be awaited.
    pub fn waiting() -> Self {
        Self::build(true)
    }

    fn build(waiting: bool) -> Self {
        let tenants = Arc::new(InMemoryTenantStore::new());
        let members = Arc::new(InMemoryMembershipStore::new());
        let acme = tenant("acme", TenantStatus::Active);
        let globex = tenant("globex", TenantStatus::Active);
        let initech = tenant("initech", TenantStatus::Suspended);
        let umbrella = tenant("umbrella", TenantStatus::Deleted);
        let mut busy = tenant("busy", TenantStatus::Active);
        busy.plan = "tiny".to_owned();
        let users = Users {
            alice: UserId::new_random(),
            bob: UserId::new_random(),
            carol: UserId::new_random(),
            dave: UserId::new_random(),
            manny: UserId::new_random(),
            mallory: UserId::new_random(),
        };
        members.insert(acme.id, users.alice, Role::Owner);
        members.insert(acme.id, users.bob, Role::Member);
        members.insert(acme.id, users.manny, Role::Manager);
        members.insert(globex.id, users.carol, Role::Admin);
        members.insert(initech.id, users.dave, Role::Member);
        members.insert(umbrella.id, users.dave, Role::Member);
        members.insert(busy.id, users.alice, Role::Member);
        members.insert(busy.id, users.bob, Role::Member);
        let (acme_id, globex_id) = (acme.id, globex.id);
        for t in [acme, globex, initech, umbrella, busy] {
            tenants.insert(t);
        }

        let verifier = JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])
            .unwrap()
            .with_issuer(ISSUER)
            .with_audience(AUDIENCE);
        let resolver = ResolverChain::all_agree(vec![
            Box::new(SubdomainResolver::new(BASE_DOMAIN).unwrap()),
            Box::new(HeaderResolver::x_tenant()),
            Box::new(PathResolver::prefix("t").unwrap()),
        ]);
        let authenticator = BearerJwtAuthenticator::new(Arc::new(verifier));
        let clock = ManualClock::new();
        let limiter = TenantRateLimiter::builder(RateQuota::per_second(nonzero(1_000_000)))
            .with_plan_quota("tiny", RateQuota::per_hour(nonzero(BUSY_QUOTA)))
            .with_clock(clock.clone())
            .build();
        let pipeline = if waiting {
            TenantPipeline::new(
                Arc::new(Waiting((*tenants).clone())),
                Arc::new(Waiting((*members).clone())),
            )
            .with_authenticator(Arc::new(Waiting(authenticator)))
        } else {
            TenantPipeline::new(tenants.clone(), members.clone())
                .with_authenticator(Arc::new(authenticator))
        }
        .with_resolver(Arc::new(resolver))
        .with_rate_limiter(Arc::new(limiter));
        let policy = Policy::builder()
            .permission(LeadsWrite::PERMISSION)
            .grant(Role::Manager, [LeadsWrite::PERMISSION])
            .build()
            .unwrap();
        Self {
            tenants,
            members,
            pipeline: Arc::new(pipeline),
            policy: Arc::new(policy),
            users,
            acme: acme_id,
            globex: globex_id,
            waiting,
            clock,
        }
    }

    /// A valid token for `user`.
    pub fn token(&self, user: UserId) -> String {
        self.token_with(json!({ "sub": user.to_string() }), Algorithm::HS256, SECRET)
    }

    /// A token with `overrides` merged into valid claims (`sub` unset unless given), signed with
    /// `alg` and `secret`.
    pub fn token_with(&self, overrides: Value, alg: Algorithm, secret: &[u8]) -> String {
        let now = get_current_timestamp();
        let mut claims = json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now - 10,
            "exp": now + 600,
        });
        if let (Some(c), Some(o)) = (claims.as_object_mut(), overrides.as_object()) {
            for (k, v) in o {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// Base64url without padding, for hand-made tokens.
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The body of `/whoami`, `/admin` and `/leads`.
pub fn scope_body(scope: &TenantScope) -> String {
    json!({ "tenant": scope.slug().as_str(), "role": scope.role().as_str() }).to_string()
}

/// The body of `/optional`.
pub fn optional_body(scope: Option<&TenantScope>) -> String {
    json!({ "tenant": scope.map(|s| s.slug().as_str()) }).to_string()
}

/// The body of `/public`.
pub fn public_body() -> String {
    json!({ "ok": true }).to_string()
}

/// Invokes `$callback!($($args)*; case, case, ...)` with the name of every conformance case
/// (each is a function in [`cases`]).
#[macro_export]
macro_rules! for_each_conformance_case {
    ($callback:path, $($args:tt)*) => {
        $callback!($($args)*;
            scoped_by_header,
            scoped_by_subdomain,
            scoped_by_path,
            host_is_normalised,
            agreeing_sources_are_accepted,
            spoofed_header_against_membership,
            spoofed_header_for_unknown_tenant,
            disagreeing_sources,
            malformed_selection,
            host_tricks,
            path_tricks,
            forwarded_headers_without_trusted_proxy,
            jwt_attacks,
            invalid_token_on_public_route,
            anonymous_on_tenant_route,
            suspended_tenant,
            deleted_tenant,
            revoked_membership,
            role_guard,
            permission_guard,
            tenant_required_and_optional,
            missing_layer,
            rate_limited_per_tenant
        );
    };
}

/// Expands to one `#[test]` per conformance case, for the harness made by the async function
/// `$make(&World)`, each run to completion by `$run(future)` (for example
/// `actix_web::rt::System::new().block_on` wrapped in a function).
#[macro_export]
macro_rules! conformance_suite {
    (run = $run:path, harness = $make:path) => {
        $crate::for_each_conformance_case!($crate::conformance_suite, @tests $run, $make);
    };
    (@tests $run:path, $make:path; $($case:ident),* $(,)?) => {
        /// Stores and authenticator that answer at once: the synchronous hot path.
        mod immediate {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $run(async {
                        let world = $crate::conformance::World::new();
                        let harness = $make(&world).await;
                        $crate::conformance::cases::$case(&harness, &world).await;
                    });
                }
            )*
        }
        /// Stores and authenticator that must be awaited: the boxed path.
        mod waiting {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $run(async {
                        let world = $crate::conformance::World::waiting();
                        let harness = $make(&world).await;
                        $crate::conformance::cases::$case(&harness, &world).await;
                    });
                }
            )*
        }
    };
}
