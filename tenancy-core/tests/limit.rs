//! Rate limits keyed by tenant and principal (ATTACKS.md G.40), on a manual clock (no sleeps).
#![cfg(feature = "rate-limit")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::header::HOST;
use http::{HeaderMap, HeaderValue};
use tenancy_core::{
    HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, LimitKind, LimitRequest,
    ManualClock, PathResolver, PrincipalKind, RateLimited, RateLimiter, RateQuota, RequestView,
    Role, SubdomainResolver, Tenant, TenantId, TenantKey, TenantRateLimiter, TenantResolver,
    TenantScope, UserId, authorize,
};

fn n(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// `burst` at once, then one more per second.
fn quota(burst: u32) -> RateQuota {
    RateQuota::per_second(n(1)).with_burst(n(burst))
}

fn req(tenant: TenantId, user: UserId) -> LimitRequest<'static> {
    LimitRequest::new(tenant, "free", user, PrincipalKind::User)
}

/// How many of `tries` checks are admitted.
fn admitted(limiter: &dyn RateLimiter, req: &LimitRequest<'_>, tries: usize) -> usize {
    (0..tries).filter(|_| limiter.check(req).is_ok()).count()
}

fn refusal(limiter: &dyn RateLimiter, req: &LimitRequest<'_>) -> RateLimited {
    limiter.check(req).expect_err("expected a refusal")
}

#[test]
fn burst_then_refusal_with_retry_after() {
    let clock = ManualClock::new();
    let limiter = TenantRateLimiter::builder(RateQuota::per_second(n(5)))
        .with_clock(clock.clone())
        .build();
    let r = req(TenantId::new_random(), UserId::new_random());

    assert_eq!(admitted(&limiter, &r, 5), 5, "the whole burst is admitted");
    let refused = refusal(&limiter, &r);
    assert_eq!(refused.kind(), LimitKind::Tenant);
    assert_eq!(refused.to_string(), "rate limit of tenant exceeded");
    assert_eq!(refused.status().as_u16(), 429);
    // 5 per second: one request back every 200 ms.
    assert_eq!(refused.retry_after(), Duration::from_millis(200));
    assert_eq!(refused.retry_after_secs(), 1);

    // retry_after is honest: just before, still refused; at it, admitted once.
    clock.advance(Duration::from_millis(199));
    let refused = refusal(&limiter, &r);
    assert_eq!(refused.retry_after(), Duration::from_millis(1));
    clock.advance(Duration::from_millis(1));
    assert_eq!(admitted(&limiter, &r, 3), 1);
}

#[test]
fn refusals_do_not_push_the_refill_back() {
    let clock = ManualClock::new();
    let limiter = TenantRateLimiter::builder(quota(2))
        .with_clock(clock.clone())
        .build();
    let r = req(TenantId::new_random(), UserId::new_random());
    assert_eq!(admitted(&limiter, &r, 2), 2);
    // Hammering while empty costs nothing: one second later exactly one request is back.
    assert_eq!(admitted(&limiter, &r, 1000), 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(admitted(&limiter, &r, 10), 1);
    // A long idle period refills up to the burst, not beyond.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(admitted(&limiter, &r, 10), 2);
}

#[test]
fn tenant_a_exhausted_does_not_affect_tenant_b() {
    let limiter = TenantRateLimiter::builder(quota(3))
        .with_clock(ManualClock::new())
        .build();
    let (a, b) = (TenantId::new_random(), TenantId::new_random());
    let user = UserId::new_random();

    assert_eq!(admitted(&limiter, &req(a, user), 10), 3);
    assert_eq!(refusal(&limiter, &req(a, user)).kind(), LimitKind::Tenant);
    // Positive control: B (even for the same user) has its own full bucket.
    assert_eq!(admitted(&limiter, &req(b, user), 10), 3);
    // And B's use did not give A anything back.
    assert!(limiter.check(&req(a, user)).is_err());
}

#[test]
fn every_member_of_a_tenant_draws_from_one_tenant_bucket() {
    let limiter = TenantRateLimiter::builder(quota(4))
        .with_clock(ManualClock::new())
        .build();
    let t = TenantId::new_random();
    let users: Vec<UserId> = (0..4).map(|_| UserId::new_random()).collect();
    for u in &users {
        assert!(limiter.check(&req(t, *u)).is_ok());
    }
    // A fifth user (a fresh principal) cannot get around the tenant's quota.
    let refused = refusal(&limiter, &req(t, UserId::new_random()));
    assert_eq!(refused.kind(), LimitKind::Tenant);
    // Nor can another kind of caller.
    let api_key = LimitRequest::new(t, "free", users[0], PrincipalKind::ApiKey);
    assert!(limiter.check(&api_key).is_err());
}

/// A tenant, a member, and resolvers for every way of selecting the tenant.
struct Selection {
    tenants: InMemoryTenantStore,
    members: InMemoryMembershipStore,
    tenant: Tenant,
    user: UserId,
}

impl Selection {
    fn new() -> Self {
        let tenants = InMemoryTenantStore::new();
        let members = InMemoryMembershipStore::new();
        let tenant = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
        let user = UserId::new_random();
        tenants.insert(tenant.clone());
        members.insert(tenant.id, user, Role::Member);
        Self {
            tenants,
            members,
            tenant,
            user,
        }
    }

    /// The scopes a pipeline would mint for requests selecting the tenant by subdomain (in two
    /// spellings of the host), by header, by path and by id.
    async fn scopes(&self) -> Vec<(&'static str, TenantScope)> {
        let subdomain = SubdomainResolver::new("example.com").unwrap();
        let header = HeaderResolver::x_tenant();
        let path = PathResolver::prefix("t").unwrap();
        let host = |h: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(HOST, HeaderValue::from_static(h));
            m
        };
        let host_lower = host("acme.example.com");
        let host_odd = host("ACME.Example.COM.:8443");
        let mut x_tenant = HeaderMap::new();
        x_tenant.insert("x-tenant", HeaderValue::from_static("acme"));
        let none = HeaderMap::new();

        let keys: Vec<(&'static str, TenantKey)> = vec![
            (
                "subdomain",
                subdomain
                    .resolve(&RequestView::new("/", &host_lower))
                    .unwrap()
                    .unwrap(),
            ),
            (
                "subdomain, other spelling",
                subdomain
                    .resolve(&RequestView::new("/", &host_odd))
                    .unwrap()
                    .unwrap(),
            ),
            (
                "header",
                header
                    .resolve(&RequestView::new("/", &x_tenant))
                    .unwrap()
                    .unwrap(),
            ),
            (
                "path",
                path.resolve(&RequestView::new("/t/acme/projects", &none))
                    .unwrap()
                    .unwrap(),
            ),
            ("id", TenantKey::Id(self.tenant.id)),
        ];
        let mut scopes = Vec::new();
        for (how, key) in keys {
            let scope = authorize(&self.tenants, &self.members, &key, self.user)
                .await
                .unwrap_or_else(|e| panic!("{how}: {e}"));
            scopes.push((how, scope));
        }
        scopes
    }
}

#[tokio::test]
async fn switching_the_way_a_tenant_is_selected_does_not_multiply_its_quota() {
    let sel = Selection::new();
    let scopes = sel.scopes().await;
    assert_eq!(scopes.len(), 5);

    // Tenant bucket only: 5 requests in all, however they address the tenant.
    let limiter = TenantRateLimiter::builder(quota(5))
        .with_clock(ManualClock::new())
        .build();
    for (how, scope) in &scopes {
        let r = LimitRequest::from_scope(scope);
        assert_eq!(r.tenant, sel.tenant.id, "{how}");
        assert!(limiter.check(&r).is_ok(), "{how}: one request admitted");
    }
    for (how, scope) in &scopes {
        let refused = refusal(&limiter, &LimitRequest::from(scope));
        assert_eq!(refused.kind(), LimitKind::Tenant, "{how}: bucket shared");
    }
    assert_eq!(limiter.tracked_keys(), 1, "one key for the tenant");

    // Principal bucket: same story for the (tenant, user) pair.
    let limiter = TenantRateLimiter::builder(quota(100))
        .with_principal_quota(quota(5))
        .with_clock(ManualClock::new())
        .build();
    for (how, scope) in &scopes {
        assert!(
            limiter.check(&LimitRequest::from_scope(scope)).is_ok(),
            "{how}"
        );
    }
    for (how, scope) in &scopes {
        let refused = refusal(&limiter, &LimitRequest::from_scope(scope));
        assert_eq!(refused.kind(), LimitKind::Principal, "{how}: bucket shared");
    }
    assert_eq!(
        limiter.tracked_keys(),
        2,
        "one tenant key, one principal key"
    );
}

#[test]
fn principal_buckets_are_per_tenant_and_user() {
    let limiter = TenantRateLimiter::builder(quota(100))
        .with_principal_quota(quota(2))
        .with_clock(ManualClock::new())
        .build();
    let (a, b) = (TenantId::new_random(), TenantId::new_random());
    let (alice, bob) = (UserId::new_random(), UserId::new_random());

    assert_eq!(admitted(&limiter, &req(a, alice), 10), 2);
    let refused = refusal(&limiter, &req(a, alice));
    assert_eq!(refused.kind(), LimitKind::Principal);
    assert_eq!(refused.to_string(), "rate limit of principal exceeded");
    assert_eq!(refused.retry_after(), Duration::from_secs(1));
    // Positive controls: another member of A, and Alice in B, have their own buckets.
    assert_eq!(admitted(&limiter, &req(a, bob), 10), 2);
    assert_eq!(admitted(&limiter, &req(b, alice), 10), 2);
    // A session and an API key of one user share one bucket.
    let api_key = LimitRequest::new(a, "free", bob, PrincipalKind::ApiKey);
    assert_eq!(refusal(&limiter, &api_key).kind(), LimitKind::Principal);
}

#[test]
fn a_user_over_their_quota_does_not_drain_the_tenant() {
    let limiter = TenantRateLimiter::builder(quota(5))
        .with_principal_quota(quota(2))
        .with_clock(ManualClock::new())
        .build();
    let t = TenantId::new_random();
    let (mallory, bob) = (UserId::new_random(), UserId::new_random());

    assert_eq!(admitted(&limiter, &req(t, mallory), 1000), 2);
    // The 998 refused requests drew nothing from the tenant: 3 of its 5 remain, Bob gets his 2,
    // and a third member gets the last one.
    assert_eq!(admitted(&limiter, &req(t, bob), 10), 2);
    assert_eq!(admitted(&limiter, &req(t, UserId::new_random()), 10), 1);
    assert_eq!(
        refusal(&limiter, &req(t, UserId::new_random())).kind(),
        LimitKind::Tenant
    );
}

#[test]
fn a_refusal_by_the_tenant_does_not_consume_the_principal() {
    let clock = ManualClock::new();
    // The tenant refills every second; each user may make 3 requests an hour.
    let limiter = TenantRateLimiter::builder(quota(1))
        .with_principal_quota(RateQuota::per_hour(n(3)))
        .with_clock(clock.clone())
        .build();
    let t = TenantId::new_random();
    let (alice, bob) = (UserId::new_random(), UserId::new_random());

    assert!(
        limiter.check(&req(t, bob)).is_ok(),
        "Bob empties the tenant"
    );
    for _ in 0..10 {
        assert_eq!(refusal(&limiter, &req(t, alice)).kind(), LimitKind::Tenant);
    }
    // Alice still has her 3 requests: one per second as the tenant refills.
    for i in 0..3 {
        clock.advance(Duration::from_secs(1));
        assert!(limiter.check(&req(t, alice)).is_ok(), "request {i}");
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        refusal(&limiter, &req(t, alice)).kind(),
        LimitKind::Principal
    );
}

#[test]
fn a_tenant_refusal_reports_the_longer_wait() {
    let clock = ManualClock::new();
    let limiter = TenantRateLimiter::builder(quota(1))
        .with_principal_quota(RateQuota::per_minute(n(1)))
        .with_clock(clock.clone())
        .build();
    let r = req(TenantId::new_random(), UserId::new_random());
    assert!(limiter.check(&r).is_ok());
    // Both empty: the tenant is back in 1 s, the principal in 60 s.
    let refused = refusal(&limiter, &r);
    assert_eq!(refused.kind(), LimitKind::Tenant);
    assert_eq!(refused.retry_after(), Duration::from_secs(60));
    clock.advance(refused.retry_after());
    assert!(limiter.check(&r).is_ok());
}

#[test]
fn per_plan_quotas() {
    let limiter = TenantRateLimiter::builder(quota(2))
        .with_principal_quota(quota(100))
        .with_plan_quota("pro", quota(5))
        .with_plan_principal_quota("pro", quota(4))
        .with_plan_principal_quota("team", quota(1))
        .with_clock(ManualClock::new())
        .build();
    let user = UserId::new_random();
    let on = |plan: &'static str| {
        LimitRequest::new(TenantId::new_random(), plan, user, PrincipalKind::User)
    };

    let free = on("free");
    assert_eq!(admitted(&limiter, &free, 10), 2, "default tenant quota");
    let unknown = on("legacy-gold");
    assert_eq!(admitted(&limiter, &unknown, 10), 2, "unknown plan: default");

    let pro = on("pro");
    assert_eq!(admitted(&limiter, &pro, 10), 4, "pro principal quota");
    let pro_other_user =
        LimitRequest::new(pro.tenant, "pro", UserId::new_random(), PrincipalKind::User);
    assert_eq!(
        admitted(&limiter, &pro_other_user, 10),
        1,
        "pro tenant quota: 5 in all"
    );
    assert_eq!(refusal(&limiter, &pro_other_user).kind(), LimitKind::Tenant);

    // `team` overrides the principal quota only: the tenant keeps the default quota of 2.
    let team = on("team");
    assert_eq!(admitted(&limiter, &team, 10), 1);
    assert_eq!(refusal(&limiter, &team).kind(), LimitKind::Principal);
    let team_other_user = LimitRequest::new(
        team.tenant,
        "team",
        UserId::new_random(),
        PrincipalKind::User,
    );
    assert_eq!(admitted(&limiter, &team_other_user, 10), 1);
    assert_eq!(
        refusal(
            &limiter,
            &LimitRequest::new(
                team.tenant,
                "team",
                UserId::new_random(),
                PrincipalKind::User
            )
        )
        .kind(),
        LimitKind::Tenant
    );
}

#[test]
fn plan_principal_quota_applies_without_a_default_principal_quota() {
    let limiter = TenantRateLimiter::builder(quota(50))
        .with_plan_principal_quota("free", quota(3))
        .with_clock(ManualClock::new())
        .build();
    let t = TenantId::new_random();
    assert_eq!(admitted(&limiter, &req(t, UserId::new_random()), 10), 3);
    // Positive control: on another plan only the tenant quota applies.
    let pro = LimitRequest::new(
        TenantId::new_random(),
        "pro",
        UserId::new_random(),
        PrincipalKind::User,
    );
    assert_eq!(admitted(&limiter, &pro, 100), 50);
}

/// Two threads hammer one key at a frozen instant: exactly the burst is admitted, never more.
#[test]
fn two_threads_never_admit_more_than_the_quota() {
    for round in 0..20 {
        let limiter = TenantRateLimiter::builder(quota(64))
            .with_principal_quota(quota(40))
            .with_clock(ManualClock::new())
            .build();
        let t = TenantId::new_random();
        let (alice, bob) = (UserId::new_random(), UserId::new_random());
        let (same_principal, tenant_total) = (AtomicUsize::new(0), AtomicUsize::new(0));

        // Phase 1: both threads as Alice: her principal bucket caps them at 40.
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let got = admitted(&limiter, &req(t, alice), 500);
                    same_principal.fetch_add(got, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(same_principal.load(Ordering::Relaxed), 40, "round {round}");

        // Phase 2: one thread as Alice (refused), one as Bob: the tenant's remaining 24 go to
        // Bob, and Alice's refusals draw nothing from the tenant.
        std::thread::scope(|s| {
            for user in [alice, bob] {
                let tenant_total = &tenant_total;
                let limiter = &limiter;
                s.spawn(move || {
                    let got = admitted(limiter, &req(t, user), 500);
                    tenant_total.fetch_add(got, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(tenant_total.load(Ordering::Relaxed), 24, "round {round}");
    }
}

#[test]
fn tenant_bucket_alone_under_contention() {
    let limiter = Arc::new(
        TenantRateLimiter::builder(quota(100))
            .with_clock(ManualClock::new())
            .build(),
    );
    let t = TenantId::new_random();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let limiter = Arc::clone(&limiter);
            std::thread::spawn(move || {
                let user = UserId::new_random();
                admitted(&*limiter, &req(t, user), 1000)
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 100);
}

#[test]
fn retain_recent_drops_only_refilled_keys() {
    let clock = ManualClock::new();
    let limiter = TenantRateLimiter::builder(RateQuota::per_minute(n(2)))
        .with_principal_quota(RateQuota::per_minute(n(2)))
        .with_clock(clock.clone())
        .build();
    let (busy, idle) = (TenantId::new_random(), TenantId::new_random());
    let user = UserId::new_random();

    // Probes (refused requests of an empty tenant) create no keys.
    assert_eq!(limiter.tracked_keys(), 0);
    assert!(limiter.check(&req(idle, user)).is_ok());
    assert_eq!(limiter.tracked_keys(), 2);
    clock.advance(Duration::from_secs(60));
    assert_eq!(admitted(&limiter, &req(busy, user), 10), 2);
    assert_eq!(limiter.tracked_keys(), 4);

    limiter.retain_recent();
    limiter.shrink_to_fit();
    // `idle` refilled completely: dropped. `busy` is empty: kept, and still refused.
    assert_eq!(limiter.tracked_keys(), 2);
    assert!(limiter.check(&req(busy, user)).is_err());
    // The dropped tenant behaves as before: a full bucket.
    assert_eq!(admitted(&limiter, &req(idle, user), 10), 2);

    clock.advance(Duration::from_secs(3600));
    limiter.retain_recent();
    assert_eq!(limiter.tracked_keys(), 0);
}

#[test]
fn unit_arc_dyn_and_closures_are_limiters() {
    let r = req(TenantId::new_random(), UserId::new_random());
    assert!(().check(&r).is_ok());

    let limiter: Arc<dyn RateLimiter> = Arc::new(
        TenantRateLimiter::builder(quota(1))
            .with_clock(ManualClock::new())
            .build(),
    );
    assert!(limiter.check(&r).is_ok());
    assert!(limiter.check(&r).is_err());

    // A closure that exempts jobs, wrapping the shared limiter.
    let inner = Arc::clone(&limiter);
    let jobs_exempt = move |req: &LimitRequest<'_>| match req.actor {
        PrincipalKind::Job => Ok(()),
        _ => inner.check(req),
    };
    let as_job = LimitRequest::new(r.tenant, r.plan, r.user, PrincipalKind::Job);
    assert!(jobs_exempt.check(&as_job).is_ok());
    assert!(jobs_exempt.check(&r).is_err());
    let boxed: Arc<dyn RateLimiter> = Arc::new(jobs_exempt);
    assert!(boxed.check(&as_job).is_ok());
}

#[test]
fn real_clock_limiter_admits_the_burst() {
    // No manual clock: the real one. Only what cannot depend on timing is asserted.
    let limiter = TenantRateLimiter::new(RateQuota::per_hour(n(3)));
    let r = req(TenantId::new_random(), UserId::new_random());
    assert_eq!(admitted(&limiter, &r, 10), 3);
    let refused = refusal(&limiter, &r);
    assert!(refused.retry_after() > Duration::ZERO);
    assert!(refused.retry_after() <= Duration::from_secs(1200));
}
