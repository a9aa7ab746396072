//! The request pipeline: every outcome and status, with in-memory stores (ATTACKS.md E.24,
//! E.25, E.29, G.37, G.38).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, StatusCode};
use tenancy_core::{
    AuthenticateError, Authenticator, HeaderResolver, InMemoryMembershipStore,
    InMemoryPlatformAdmins, InMemoryTenantStore, MembershipStore, PipelineError, PipelineOutcome,
    Principal, RequestView, ResolverChain, Role, StoreError, SubdomainResolver, Tenant, TenantId,
    TenantKey, TenantPipeline, TenantStatus, TenantStore, UserId,
};
use time::{Duration, OffsetDateTime};

/// The app's authenticator for these tests: `x-user: <uuid>`; anything else is invalid.
struct HeaderUser;

#[async_trait]
impl Authenticator for HeaderUser {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        let Some(v) = req.headers().get("x-user") else {
            return Ok(None);
        };
        let id: UserId = v
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(AuthenticateError::InvalidCredentials(None))?;
        Ok(Some(Principal::user(id)))
    }
}

/// Counts lookups, to show what the pipeline did (not) query.
#[derive(Clone)]
struct Counting<S> {
    inner: S,
    tenant_gets: Arc<AtomicUsize>,
    role_queries: Arc<Mutex<Vec<TenantId>>>,
}

#[async_trait]
impl TenantStore for Counting<InMemoryTenantStore> {
    async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
        self.tenant_gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
}

#[async_trait]
impl MembershipStore for Counting<InMemoryMembershipStore> {
    async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError> {
        self.role_queries.lock().unwrap().push(tenant);
        self.inner.role_of(tenant, user).await
    }
}

struct Failing;

#[async_trait]
impl TenantStore for Failing {
    async fn get(&self, _key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
        Err(StoreError::new(
            "tenant store",
            "connection to 10.1.2.3 refused: relation tenancy.tenants",
        ))
    }
}

struct World {
    tenants: InMemoryTenantStore,
    members: InMemoryMembershipStore,
    tenant_gets: Arc<AtomicUsize>,
    role_queries: Arc<Mutex<Vec<TenantId>>>,
    pipeline: TenantPipeline,
    acme: Tenant,
    globex: Tenant,
    alice: UserId,
    bob: UserId,
    eve: UserId,
}

fn tenant(slug: &str) -> Tenant {
    Tenant::new(TenantId::new_random(), slug.parse().unwrap(), slug)
}

fn world() -> World {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = tenant("acme");
    let globex = tenant("globex");
    let (alice, bob, eve) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    tenants.insert(acme.clone());
    tenants.insert(globex.clone());
    members.insert(acme.id, alice, Role::Owner);
    members.insert(globex.id, bob, Role::Member);
    for (slug, status) in [
        ("frozen", TenantStatus::Suspended),
        ("gone", TenantStatus::Deleted),
        ("fresh", TenantStatus::Provisioning),
        (
            "expired",
            TenantStatus::Trial {
                until: OffsetDateTime::now_utc() - Duration::days(1),
            },
        ),
        (
            "trying",
            TenantStatus::Trial {
                until: OffsetDateTime::now_utc() + Duration::days(14),
            },
        ),
    ] {
        let t = tenant(slug).with_status(status);
        members.insert(t.id, alice, Role::Admin);
        tenants.insert(t);
    }
    let tenant_gets = Arc::new(AtomicUsize::new(0));
    let role_queries = Arc::new(Mutex::new(Vec::new()));
    let pipeline = TenantPipeline::new(
        Arc::new(Counting {
            inner: tenants.clone(),
            tenant_gets: tenant_gets.clone(),
            role_queries: role_queries.clone(),
        }),
        Arc::new(Counting {
            inner: members.clone(),
            tenant_gets: tenant_gets.clone(),
            role_queries: role_queries.clone(),
        }),
    )
    .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    .with_authenticator(Arc::new(HeaderUser));
    World {
        tenants,
        members,
        tenant_gets,
        role_queries,
        pipeline,
        acme,
        globex,
        alice,
        bob,
        eve,
    }
}

fn req(tenant: Option<&str>, user: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Some(t) = tenant {
        h.insert("x-tenant", HeaderValue::from_str(t).unwrap());
    }
    if let Some(u) = user {
        h.insert("x-user", HeaderValue::from_str(u).unwrap());
    }
    h
}

async fn run(p: &TenantPipeline, h: &HeaderMap) -> Result<PipelineOutcome, PipelineError> {
    p.run(&RequestView::new("/", h)).await
}

fn expect_err(
    res: Result<PipelineOutcome, PipelineError>,
    status: StatusCode,
    code: &str,
) -> PipelineError {
    match res {
        Err(e) => {
            assert_eq!((e.status(), e.code()), (status, code), "{e:?}");
            for secret in ["acme", "globex", "frozen", "gone", "10.1.2.3", "relation"] {
                assert!(
                    !e.public_message().contains(secret),
                    "{}",
                    e.public_message()
                );
            }
            e
        }
        Ok(o) => panic!("expected {status} {code}, got {o:?}"),
    }
}

#[tokio::test]
async fn member_gets_a_scope() {
    let w = world();
    let h = req(Some("acme"), Some(&w.alice.to_string()));
    match run(&w.pipeline, &h).await.unwrap() {
        PipelineOutcome::Scoped(scope) => {
            assert_eq!(scope.tenant_id(), w.acme.id);
            assert_eq!(scope.user_id(), w.alice);
            assert_eq!(scope.role(), Role::Owner);
        }
        other => panic!("{other:?}"),
    }
    // By id too.
    let h = req(Some(&w.globex.id.to_string()), Some(&w.bob.to_string()));
    match run(&w.pipeline, &h).await.unwrap() {
        PipelineOutcome::Scoped(scope) => assert_eq!(scope.slug(), &w.globex.slug),
        other => panic!("{other:?}"),
    }
    // Trial still running.
    let h = req(Some("trying"), Some(&w.alice.to_string()));
    assert!(matches!(
        run(&w.pipeline, &h).await.unwrap(),
        PipelineOutcome::Scoped(_)
    ));
}

#[tokio::test]
async fn no_tenant_selected() {
    let w = world();
    match run(&w.pipeline, &req(None, None)).await.unwrap() {
        PipelineOutcome::NoTenant {
            principal,
            platform,
        } => {
            assert!(principal.is_none());
            assert!(platform.is_none());
        }
        other => panic!("{other:?}"),
    }
    match run(&w.pipeline, &req(None, Some(&w.bob.to_string())))
        .await
        .unwrap()
    {
        PipelineOutcome::NoTenant { principal, .. } => {
            assert_eq!(principal.unwrap().user_id, w.bob)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.tenant_gets.load(Ordering::SeqCst), 0);
    // Invalid credentials are 401 even without a tenant.
    expect_err(
        run(&w.pipeline, &req(None, Some("not-a-user"))).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[tokio::test]
async fn platform_admins_get_a_platform_scope_only_without_a_tenant() {
    let w = world();
    let admins = InMemoryPlatformAdmins::new();
    admins.insert(w.eve);
    let p = w.pipeline.clone().with_platform_admins(Arc::new(admins));
    match run(&p, &req(None, Some(&w.eve.to_string()))).await.unwrap() {
        PipelineOutcome::NoTenant { platform, .. } => {
            assert_eq!(platform.unwrap().admin_id(), w.eve)
        }
        other => panic!("{other:?}"),
    }
    match run(&p, &req(None, Some(&w.bob.to_string()))).await.unwrap() {
        PipelineOutcome::NoTenant { platform, .. } => assert!(platform.is_none()),
        other => panic!("{other:?}"),
    }
    // A platform admin has no authority on a tenant route (ATTACKS F.35).
    expect_err(
        run(&p, &req(Some("acme"), Some(&w.eve.to_string()))).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
}

#[tokio::test]
async fn malformed_selection_is_400() {
    let w = world();
    for bad in ["ACME", "ac", "admin", "acme,globex", ""] {
        let e = expect_err(
            run(&w.pipeline, &req(Some(bad), Some(&w.alice.to_string()))).await,
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
        );
        assert!(matches!(e, PipelineError::InvalidTenant(_)));
    }
    let mut h = req(Some("acme"), Some(&w.alice.to_string()));
    h.append("x-tenant", HeaderValue::from_static("acme"));
    expect_err(
        run(&w.pipeline, &h).await,
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
    );
    assert_eq!(w.tenant_gets.load(Ordering::SeqCst), 0);
}

fn chained(w: &World) -> TenantPipeline {
    w.pipeline
        .clone()
        .with_resolver(Arc::new(ResolverChain::all_agree(vec![
            Box::new(SubdomainResolver::new("localhost").unwrap()),
            Box::new(HeaderResolver::x_tenant()),
        ])))
}

fn with_host(mut h: HeaderMap, host: &str) -> HeaderMap {
    h.insert(HOST, HeaderValue::from_str(host).unwrap());
    h
}

#[tokio::test]
async fn conflicting_sources_are_400() {
    let w = world();
    let p = chained(&w);
    let alice = w.alice.to_string();
    // Subdomain A, header B (E.25).
    let h = with_host(req(Some("globex"), Some(&alice)), "acme.localhost");
    expect_err(
        run(&p, &h).await,
        StatusCode::BAD_REQUEST,
        "tenant_conflict",
    );
    // Subdomain slug A, header id of B: found out after the lookup, before membership.
    let h = with_host(
        req(Some(&w.globex.id.to_string()), Some(&alice)),
        "acme.localhost",
    );
    expect_err(
        run(&p, &h).await,
        StatusCode::BAD_REQUEST,
        "tenant_conflict",
    );
    assert!(w.role_queries.lock().unwrap().is_empty());
    // Positive control: slug and id of the same tenant agree.
    let h = with_host(
        req(Some(&w.acme.id.to_string()), Some(&alice)),
        "acme.localhost",
    );
    assert!(
        matches!(run(&p, &h).await.unwrap(), PipelineOutcome::Scoped(s) if s.tenant_id() == w.acme.id)
    );
    // Sources agreeing.
    let h = with_host(req(Some("acme"), Some(&alice)), "acme.localhost");
    assert!(matches!(
        run(&p, &h).await.unwrap(),
        PipelineOutcome::Scoped(_)
    ));
}

#[tokio::test]
async fn anonymous_on_a_tenant_route_is_401_before_any_lookup() {
    let w = world();
    for tenant in ["acme", "nosuchtenant", "frozen"] {
        expect_err(
            run(&w.pipeline, &req(Some(tenant), None)).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
    }
    // No existence oracle: the registry was never asked.
    assert_eq!(w.tenant_gets.load(Ordering::SeqCst), 0);
    expect_err(
        run(&w.pipeline, &req(Some("acme"), Some("garbage"))).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[tokio::test]
async fn header_selects_but_membership_authorises() {
    // E.24: a user of A with `X-Tenant: B` gets 403, and no scope for B exists.
    let w = world();
    let alice = w.alice.to_string();
    let control = run(&w.pipeline, &req(Some("acme"), Some(&alice)))
        .await
        .unwrap();
    assert!(matches!(control, PipelineOutcome::Scoped(s) if s.tenant_id() == w.acme.id));

    let e = expect_err(
        run(&w.pipeline, &req(Some("globex"), Some(&alice))).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert!(matches!(e, PipelineError::NotMember { .. }));
    let e = expect_err(
        run(
            &w.pipeline,
            &req(Some(&w.globex.id.to_string()), Some(&alice)),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert!(matches!(e, PipelineError::NotMember { .. }));
    // Unknown tenant: 404.
    expect_err(
        run(&w.pipeline, &req(Some("nosuchtenant"), Some(&alice))).await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    );
    expect_err(
        run(
            &w.pipeline,
            &req(Some(&TenantId::new_random().to_string()), Some(&alice)),
        )
        .await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    );
    // A stranger.
    expect_err(
        run(&w.pipeline, &req(Some("acme"), Some(&w.eve.to_string()))).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
}

#[tokio::test]
async fn lifecycle_statuses() {
    let w = world();
    let alice = w.alice.to_string();
    for (slug, status, code) in [
        ("frozen", StatusCode::FORBIDDEN, "tenant_suspended"),
        ("fresh", StatusCode::FORBIDDEN, "tenant_provisioning"),
        ("expired", StatusCode::FORBIDDEN, "tenant_trial_expired"),
        // Deleted is indistinguishable from unknown (G.38).
        ("gone", StatusCode::NOT_FOUND, "tenant_not_found"),
    ] {
        expect_err(
            run(&w.pipeline, &req(Some(slug), Some(&alice))).await,
            status,
            code,
        );
    }
    // Non-members learn nothing about the lifecycle of a tenant.
    let eve = w.eve.to_string();
    for slug in ["frozen", "fresh", "expired"] {
        expect_err(
            run(&w.pipeline, &req(Some(slug), Some(&eve))).await,
            StatusCode::FORBIDDEN,
            "not_a_member",
        );
    }
    expect_err(
        run(&w.pipeline, &req(Some("gone"), Some(&eve))).await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    );

    // Suspending takes effect on the next request (G.37); reactivating restores access.
    let h = req(Some("acme"), Some(&alice));
    assert!(run(&w.pipeline, &h).await.is_ok());
    w.tenants
        .insert(w.acme.clone().with_status(TenantStatus::Suspended));
    expect_err(
        run(&w.pipeline, &h).await,
        StatusCode::FORBIDDEN,
        "tenant_suspended",
    );
    w.tenants
        .insert(w.acme.clone().with_status(TenantStatus::Active));
    assert!(run(&w.pipeline, &h).await.is_ok());
}

#[tokio::test]
async fn revoked_membership_is_403_on_the_next_run() {
    let w = world();
    let h = req(Some("globex"), Some(&w.bob.to_string()));
    assert!(matches!(
        run(&w.pipeline, &h).await.unwrap(),
        PipelineOutcome::Scoped(_)
    ));
    w.members.remove(w.globex.id, w.bob);
    expect_err(
        run(&w.pipeline, &h).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    // Role changes are seen too.
    w.members.insert(w.globex.id, w.bob, Role::Admin);
    match run(&w.pipeline, &h).await.unwrap() {
        PipelineOutcome::Scoped(s) => assert_eq!(s.role(), Role::Admin),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn store_failure_is_500_without_detail() {
    let w = world();
    let p = w.pipeline.clone().with_tenant_store(Arc::new(Failing));
    let e = expect_err(
        run(&p, &req(Some("acme"), Some(&w.alice.to_string()))).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
    );
    assert_eq!(e.public_message(), "internal error");
    assert!(!e.to_string().contains("10.1.2.3"));
    // The cause is kept for logs.
    assert!(std::error::Error::source(&e).is_some());
}

#[tokio::test]
async fn without_resolver_or_authenticator_nothing_is_scoped() {
    let w = world();
    let p = TenantPipeline::new(Arc::new(w.tenants.clone()), Arc::new(w.members.clone()));
    let h = req(Some("acme"), Some(&w.alice.to_string()));
    assert!(matches!(
        run(&p, &h).await.unwrap(),
        PipelineOutcome::NoTenant {
            principal: None,
            platform: None
        }
    ));
    let p = p.with_resolver(Arc::new(HeaderResolver::x_tenant()));
    expect_err(
        run(&p, &h).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[cfg(feature = "jwt")]
mod jwt {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;
    use tenancy_core::{BearerJwtAuthenticator, JwtAlgorithm, JwtClaimResolver, JwtVerifier};

    use super::*;

    const SECRET: &[u8] = b"pipeline-test-secret-of-32-bytes-or-more";

    fn token(sub: UserId, tenant: &str, exp_offset: i64) -> HeaderMap {
        let exp = get_current_timestamp() as i64 + exp_offset;
        let claims = json!({"sub": sub.to_string(), "tenant": tenant, "exp": exp, "iss": "test"});
        let t = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    }

    #[tokio::test]
    async fn jwt_claim_resolver_and_bearer_authenticator() {
        let w = world();
        let verifier = Arc::new(
            JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])
                .unwrap()
                .with_issuer("test"),
        );
        let p = w
            .pipeline
            .clone()
            .with_resolver(Arc::new(JwtClaimResolver::new(verifier.clone(), "tenant")))
            .with_authenticator(Arc::new(BearerJwtAuthenticator::new(verifier)));
        let h = token(w.alice, "acme", 600);
        assert!(
            matches!(run(&p, &h).await.unwrap(), PipelineOutcome::Scoped(s) if s.tenant_id() == w.acme.id)
        );
        // A valid token naming a tenant the user is not a member of.
        expect_err(
            run(&p, &token(w.alice, "globex", 600)).await,
            StatusCode::FORBIDDEN,
            "not_a_member",
        );
        // Expired token: 401 from the resolver, before any lookup.
        let before = w.tenant_gets.load(Ordering::SeqCst);
        expect_err(
            run(&p, &token(w.alice, "acme", -3600)).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
        assert_eq!(w.tenant_gets.load(Ordering::SeqCst), before);
    }
}

/// A minimal subscriber recording the fields of `tenancy.pipeline` spans.
mod trace {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;

    #[derive(Default, Clone)]
    struct Recorder {
        fields: Arc<Mutex<Vec<(String, String)>>>,
        next: Arc<Mutex<u64>>,
    }

    struct Collect<'a>(&'a Mutex<Vec<(String, String)>>);

    impl Visit for Collect<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0
                .lock()
                .unwrap()
                .push((field.name().to_owned(), format!("{value:?}")));
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            span.record(&mut Collect(&self.fields));
            let mut n = self.next.lock().unwrap();
            *n += 1;
            Id::from_u64(*n)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Collect(&self.fields));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn success_records_tenant_id_and_slug() {
        let w = world();
        let rec = Recorder::default();
        let h = req(Some("acme"), Some(&w.alice.to_string()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(rec.clone(), || {
            rt.block_on(run(&w.pipeline, &h)).unwrap();
        });
        let fields = rec.fields.lock().unwrap().clone();
        assert!(
            fields.contains(&("tenant_id".to_owned(), w.acme.id.to_string())),
            "{fields:?}"
        );
        assert!(
            fields.contains(&("tenant_slug".to_owned(), "acme".to_owned())),
            "{fields:?}"
        );
    }
}
