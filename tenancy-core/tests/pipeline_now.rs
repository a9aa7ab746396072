//! `TenantPipeline::run_now` (the adapters' synchronous hot path) against `run` (the reference):
//! for every request of a generated world, an immediate answer is exactly the answer `run` gives,
//! through plain in-memory stores, through warm caches, and after a change went through the
//! caches' invalidation hooks. And the hot path is really taken: a warm, admitted request is
//! answered by `run_now`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use tenancy_core::{
    AuthenticateError, Authenticator, CachingMembershipStore, CachingTenantStore, HeaderResolver,
    InMemoryMembershipStore, InMemoryPlatformAdmins, InMemoryTenantStore,
    MembershipCacheInvalidator, MembershipStore, PipelineError, PipelineOutcome, Principal,
    RequestView, ResolverChain, Role, StoreError, SubdomainResolver, Tenant,
    TenantCacheInvalidator, TenantId, TenantKey, TenantPipeline, TenantStatus, TenantStore, UserId,
    authenticator_fn,
};
use time::{Duration, OffsetDateTime};

/// Hides the immediate answers of a store, so `run` must await it: the reference behaviour.
struct Slow<S>(S);

#[async_trait]
impl TenantStore for Slow<InMemoryTenantStore> {
    async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
        self.0.get(key).await
    }
}

#[async_trait]
impl MembershipStore for Slow<InMemoryMembershipStore> {
    async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError> {
        self.0.role_of(tenant, user).await
    }
}

/// The same check as the fast authenticator, through the async method only.
struct SlowAuth;

fn user_of(req: &RequestView<'_>) -> Result<Option<Principal>, AuthenticateError> {
    let Some(v) = req.headers().get("x-user") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.parse::<UserId>().ok())
        .map(|u| Some(Principal::user(u)))
        .ok_or(AuthenticateError::InvalidCredentials(None))
}

#[async_trait]
impl Authenticator for SlowAuth {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        user_of(req)
    }
}

/// What a pipeline answered, comparable across pipelines.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Scoped {
        tenant: TenantId,
        user: UserId,
        role: Role,
    },
    NoTenant {
        principal: Option<Principal>,
        platform: bool,
    },
    Refused {
        status: u16,
        code: &'static str,
    },
}

fn answer(r: Result<PipelineOutcome, PipelineError>) -> Answer {
    match r {
        Ok(PipelineOutcome::Scoped(s)) => Answer::Scoped {
            tenant: s.tenant_id(),
            user: s.user_id(),
            role: s.role(),
        },
        Ok(PipelineOutcome::NoTenant {
            principal,
            platform,
        }) => Answer::NoTenant {
            principal,
            platform: platform.is_some(),
        },
        Err(e) => Answer::Refused {
            status: e.status().as_u16(),
            code: e.code(),
        },
    }
}

struct World {
    tenants: InMemoryTenantStore,
    members: InMemoryMembershipStore,
    list: Vec<Tenant>,
    users: Vec<UserId>,
    reference: TenantPipeline,
    plain: TenantPipeline,
    cached: TenantPipeline,
    tenant_cache: Arc<CachingTenantStore<InMemoryTenantStore>>,
    member_cache: Arc<CachingMembershipStore<InMemoryMembershipStore>>,
}

fn statuses() -> Vec<TenantStatus> {
    vec![
        TenantStatus::Active,
        TenantStatus::Active,
        TenantStatus::Suspended,
        TenantStatus::Deleted,
        TenantStatus::Provisioning,
        TenantStatus::Trial {
            until: OffsetDateTime::now_utc() + Duration::days(3),
        },
        TenantStatus::Trial {
            until: OffsetDateTime::now_utc() - Duration::days(3),
        },
    ]
}

fn resolver() -> ResolverChain {
    // Header or subdomain; when both are present they must agree.
    ResolverChain::all_agree(vec![
        Box::new(HeaderResolver::x_tenant()),
        Box::new(SubdomainResolver::new("example.com").unwrap()),
    ])
}

/// `memberships[u][t]`: the role of user `u` in tenant `t`, if any.
fn world(memberships: &[[Option<Role>; 7]; 3]) -> World {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let list: Vec<Tenant> = statuses()
        .into_iter()
        .enumerate()
        .map(|(i, status)| {
            Tenant::new(
                TenantId::new_random(),
                format!("tenant-{i}").parse().unwrap(),
                "T",
            )
            .with_status(status)
        })
        .collect();
    let users: Vec<UserId> = (0..3).map(|_| UserId::new_random()).collect();
    for t in &list {
        tenants.insert(t.clone());
    }
    for (u, row) in memberships.iter().enumerate() {
        for (t, role) in row.iter().enumerate() {
            if let Some(role) = role {
                members.insert(list[t].id, users[u], *role);
            }
        }
    }
    let admins = InMemoryPlatformAdmins::new();
    admins.insert(users[2]);
    let admins = Arc::new(admins);
    let tenant_cache = Arc::new(CachingTenantStore::new(tenants.clone()));
    let member_cache = Arc::new(CachingMembershipStore::new(members.clone()));
    let fast_auth = Arc::new(authenticator_fn(user_of));
    let reference = TenantPipeline::new(
        Arc::new(Slow(tenants.clone())),
        Arc::new(Slow(members.clone())),
    )
    .with_resolver(Arc::new(resolver()))
    .with_authenticator(Arc::new(SlowAuth))
    .with_platform_admins(admins.clone());
    let plain = TenantPipeline::new(Arc::new(tenants.clone()), Arc::new(members.clone()))
        .with_resolver(Arc::new(resolver()))
        .with_authenticator(fast_auth.clone())
        .with_platform_admins(admins.clone());
    let cached = TenantPipeline::new(tenant_cache.clone(), member_cache.clone())
        .with_resolver(Arc::new(resolver()))
        .with_authenticator(fast_auth)
        .with_platform_admins(admins);
    World {
        tenants,
        members,
        list,
        users,
        reference,
        plain,
        cached,
        tenant_cache,
        member_cache,
    }
}

/// A request: tenant selection by header (slug, id, unknown, malformed) and/or host, caller.
#[derive(Debug, Clone)]
struct Req {
    header: Option<Sel>,
    host: Option<Sel>,
    user: Option<usize>,
    bad_credentials: bool,
}

#[derive(Debug, Clone, Copy)]
enum Sel {
    Slug(usize),
    Id(usize),
    UnknownSlug,
    Malformed,
}

fn sel() -> impl Strategy<Value = Sel> {
    prop_oneof![
        (0usize..7).prop_map(Sel::Slug),
        (0usize..7).prop_map(Sel::Id),
        Just(Sel::UnknownSlug),
        Just(Sel::Malformed),
    ]
}

fn req() -> impl Strategy<Value = Req> {
    (
        proptest::option::of(sel()),
        proptest::option::weighted(0.3, sel()),
        proptest::option::of(0usize..3),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(header, host, user, bad_credentials)| Req {
            header,
            host,
            user,
            bad_credentials,
        })
}

fn role() -> impl Strategy<Value = Option<Role>> {
    prop_oneof![
        Just(None),
        Just(Some(Role::Owner)),
        Just(Some(Role::Admin)),
        Just(Some(Role::Manager)),
        Just(Some(Role::Member)),
    ]
}

fn headers(w: &World, r: &Req) -> HeaderMap {
    let text = |s: Sel| match s {
        Sel::Slug(i) => w.list[i].slug.to_string(),
        Sel::Id(i) => w.list[i].id.to_string(),
        Sel::UnknownSlug => "nobody".to_owned(),
        Sel::Malformed => "Bad Slug!".to_owned(),
    };
    let mut h = HeaderMap::new();
    if let Some(s) = r.header
        && let Ok(v) = HeaderValue::from_str(&text(s))
    {
        h.insert("x-tenant", v);
    }
    match r.host {
        // The subdomain resolver takes slugs only; an id or a malformed label is rejected by it.
        Some(s) => {
            let host = format!("{}.example.com", text(s).replace(' ', "-"));
            if let Ok(v) = HeaderValue::from_str(&host) {
                h.insert(http::header::HOST, v);
            }
        }
        None => {
            h.insert(http::header::HOST, HeaderValue::from_static("example.com"));
        }
    }
    if r.bad_credentials {
        h.insert("x-user", HeaderValue::from_static("not-a-user"));
    } else if let Some(u) = r.user {
        h.insert(
            "x-user",
            HeaderValue::from_str(&w.users[u].to_string()).unwrap(),
        );
    }
    h
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Checks one request against every pipeline; returns whether the cached pipeline answered at once.
async fn check(w: &World, r: &Req) -> bool {
    let h = headers(w, r);
    let view = RequestView::new("/", &h);
    let expected = answer(w.reference.run(&view).await);
    for (name, p) in [("plain", &w.plain), ("cached", &w.cached)] {
        if let Some(now) = p.run_now(&view) {
            assert_eq!(answer(now), expected, "{name} run_now for {r:?}");
        }
        assert_eq!(answer(p.run(&view).await), expected, "{name} run for {r:?}");
    }
    // After `run` warmed the caches, an admitted request must be served at once.
    let now = w.cached.run_now(&view);
    if matches!(expected, Answer::Scoped { .. }) {
        assert!(
            now.is_some(),
            "warm cached pipeline did not answer at once: {r:?}"
        );
    }
    if matches!(expected, Answer::Scoped { .. }) {
        assert!(
            w.plain.run_now(&view).is_some(),
            "in-memory pipeline did not answer at once: {r:?}"
        );
    }
    now.is_some()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn run_now_agrees_with_run(
        memberships in proptest::array::uniform3(proptest::array::uniform7(role())),
        requests in proptest::collection::vec(req(), 1..24),
        changes in proptest::collection::vec((0usize..3, 0usize..7, role(), 0usize..7), 0..4),
    ) {
        let rt = rt();
        rt.block_on(async {
            let w = world(&memberships);
            for r in &requests {
                check(&w, r).await;
            }
            // Changes made through the stores and announced to the caches: the fast path must
            // follow at once (no stale role, no stale status).
            let statuses = statuses();
            for (u, t, role, s) in &changes {
                let (tenant, user) = (w.list[*t].id, w.users[*u]);
                match role {
                    Some(role) => w.members.insert(tenant, user, *role),
                    None => w.members.remove(tenant, user),
                }
                w.member_cache.invalidate_membership(tenant, user);
                let changed = w.list[*t].clone().with_status(statuses[*s]);
                w.tenants.insert(changed);
                w.tenant_cache.invalidate(tenant, &w.list[*t].slug);
                for r in &requests {
                    check(&w, r).await;
                }
            }
        });
    }
}

/// A positive control for the property above: with warm caches, an active tenant's member is
/// answered at once; a cold cache or an authenticator with no immediate answer is not.
#[test]
fn hot_path_is_taken_only_when_every_step_can_answer() {
    rt().block_on(async {
        let w = world(&[[Some(Role::Admin); 7], [None; 7], [None; 7]]);
        let mut h = HeaderMap::new();
        h.insert("x-tenant", HeaderValue::from_static("tenant-0"));
        h.insert(
            "x-user",
            HeaderValue::from_str(&w.users[0].to_string()).unwrap(),
        );
        let view = RequestView::new("/", &h);

        assert!(
            w.cached.run_now(&view).is_none(),
            "cold caches answer nothing at once"
        );
        assert!(
            w.reference.run_now(&view).is_none(),
            "slow stores answer nothing at once"
        );
        let slow = answer(w.cached.run(&view).await);
        assert!(matches!(
            slow,
            Answer::Scoped {
                role: Role::Admin,
                ..
            }
        ));
        assert_eq!(answer(w.cached.run_now(&view).unwrap()), slow);

        // Authenticator without an immediate answer: never `Some`, even with warm caches.
        let mixed = TenantPipeline::new(w.tenant_cache.clone(), w.member_cache.clone())
            .with_resolver(Arc::new(resolver()))
            .with_authenticator(Arc::new(SlowAuth));
        assert!(mixed.run_now(&view).is_none());
        assert_eq!(answer(mixed.run(&view).await), slow);

        // Revoked through the hook: the very next immediate answer no longer has the role.
        w.members.remove(w.list[0].id, w.users[0]);
        w.member_cache
            .invalidate_membership(w.list[0].id, w.users[0]);
        assert!(
            w.cached.run_now(&view).is_none(),
            "no cached role to answer from"
        );
        assert_eq!(
            answer(w.cached.run(&view).await),
            Answer::Refused {
                status: 403,
                code: "not_a_member"
            }
        );
    });
}
