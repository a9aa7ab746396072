//! Cost of one rate-limit check on a warm key (the request hot path).
//!
//! Run with `cargo bench -p tenancy-core --bench limit -- --quick`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use tenancy_core::{
    LimitRequest, PrincipalKind, RateLimiter, RateQuota, TenantId, TenantRateLimiter, UserId,
};

/// Never empties at bench speed: the admitted path is measured.
const WIDE: RateQuota = RateQuota::per_second(NonZeroU32::MAX);

fn warm(limiter: &TenantRateLimiter, plan: &str) {
    // Realistic store sizes: many other tenants and members hold state.
    for _ in 0..10_000 {
        let req = LimitRequest::new(
            TenantId::new_random(),
            plan,
            UserId::new_random(),
            PrincipalKind::User,
        );
        limiter.check(&req).unwrap();
    }
}

fn benches(c: &mut Criterion) {
    let tenant = TenantId::new_random();
    let user = UserId::new_random();
    let free = LimitRequest::new(tenant, "free", user, PrincipalKind::User);
    let pro = LimitRequest::new(tenant, "pro", user, PrincipalKind::User);

    c.bench_function("limit_unit", |b| b.iter(|| ().check(black_box(&free))));

    let tenant_only = TenantRateLimiter::new(WIDE);
    warm(&tenant_only, "free");
    tenant_only.check(&free).unwrap();
    c.bench_function("limit_tenant_only", |b| {
        b.iter(|| tenant_only.check(black_box(&free)))
    });

    let both = TenantRateLimiter::builder(WIDE)
        .with_principal_quota(WIDE)
        .with_plan_quota("team", WIDE)
        .with_plan_quota("pro", WIDE)
        .with_plan_principal_quota("pro", WIDE)
        .build();
    warm(&both, "free");
    both.check(&free).unwrap();
    c.bench_function("limit_tenant_and_principal", |b| {
        b.iter(|| both.check(black_box(&free)))
    });
    both.check(&pro).unwrap();
    c.bench_function("limit_tenant_and_principal_plan", |b| {
        b.iter(|| both.check(black_box(&pro)))
    });

    // The refused path: a user over their own quota, the tenant probed only.
    let tight = TenantRateLimiter::builder(WIDE)
        .with_principal_quota(RateQuota::per_hour(NonZeroU32::MIN))
        .build();
    warm(&tight, "free");
    tight.check(&free).unwrap();
    c.bench_function("limit_refused_by_principal", |b| {
        b.iter(|| tight.check(black_box(&free)).unwrap_err())
    });
}

criterion_group!(limit, benches);
criterion_main!(limit);
