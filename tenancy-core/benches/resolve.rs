//! Resolution and lookup costs on the request path.
//!
//! Run with `cargo bench -p tenancy-core --bench resolve -- --quick`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use http::header::HOST;
use http::{HeaderMap, HeaderValue};
use tenancy_core::{
    AuthenticateError, Authenticator, CachingMembershipStore, CachingTenantStore, HeaderResolver,
    InMemoryMembershipStore, InMemoryTenantStore, MembershipStore, PathResolver, PipelineOutcome,
    Principal, RequestView, Role, SubdomainResolver, Tenant, TenantId, TenantKey, TenantPipeline,
    TenantResolver, TenantStore, UserId,
};

struct Fixed(UserId);

#[async_trait]
impl Authenticator for Fixed {
    async fn authenticate(
        &self,
        _req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        Ok(Some(Principal::user(self.0)))
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let alice = UserId::new_random();
    tenants.insert(acme.clone());
    members.insert(acme.id, alice, Role::Member);
    for i in 0..1000 {
        tenants.insert(Tenant::new(
            TenantId::new_random(),
            format!("tenant-{i}").parse().unwrap(),
            "filler",
        ));
    }
    let cached = CachingTenantStore::new(tenants.clone());

    let subdomain = SubdomainResolver::new("example.com").unwrap();
    let header = HeaderResolver::x_tenant();
    let path = PathResolver::prefix("t").unwrap();

    let mut headers = HeaderMap::new();
    headers.insert(HOST, HeaderValue::from_static("Acme.Example.com:8443"));
    headers.insert("x-tenant", HeaderValue::from_static("acme"));

    c.bench_function("subdomain_resolve", |b| {
        b.iter(|| subdomain.resolve(black_box(&RequestView::new("/", &headers))))
    });
    c.bench_function("header_resolve", |b| {
        b.iter(|| header.resolve(black_box(&RequestView::new("/", &headers))))
    });
    c.bench_function("path_resolve", |b| {
        b.iter(|| path.resolve(black_box(&RequestView::new("/t/acme/projects/7", &headers))))
    });

    c.bench_function("subdomain_resolve+in_memory_lookup", |b| {
        b.to_async(&rt).iter(|| async {
            let key = subdomain
                .resolve(black_box(&RequestView::new("/", &headers)))
                .unwrap()
                .unwrap();
            tenants.get(&key).await.unwrap().unwrap()
        })
    });

    // Warm the cache, then measure hits.
    rt.block_on(async {
        cached
            .get(&TenantKey::Slug("acme".parse().unwrap()))
            .await
            .unwrap()
    });
    c.bench_function("subdomain_resolve+cached_lookup_hit", |b| {
        b.to_async(&rt).iter(|| async {
            let key = subdomain
                .resolve(black_box(&RequestView::new("/", &headers)))
                .unwrap()
                .unwrap();
            cached.get(&key).await.unwrap().unwrap()
        })
    });

    // The two cache hits of a pipeline run, alone.
    let slug_key = TenantKey::Slug("acme".parse().unwrap());
    c.bench_function("cached_tenant_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.get(black_box(&slug_key)).await.unwrap().unwrap() })
    });
    let cached_members = CachingMembershipStore::new(members.clone());
    rt.block_on(async { cached_members.role_of(acme.id, alice).await.unwrap() });
    c.bench_function("cached_membership_hit", |b| {
        b.to_async(&rt).iter(|| async {
            cached_members
                .role_of(black_box(acme.id), black_box(alice))
                .await
                .unwrap()
                .unwrap()
        })
    });

    let pipeline = TenantPipeline::new(
        Arc::new(CachingTenantStore::new(tenants.clone())),
        Arc::new(CachingMembershipStore::new(members.clone())),
    )
    .with_resolver(Arc::new(subdomain.clone()))
    .with_authenticator(Arc::new(Fixed(alice)));
    c.bench_function("pipeline_run_cached", |b| {
        b.to_async(&rt).iter(|| async {
            match pipeline
                .run(black_box(&RequestView::new("/", &headers)))
                .await
                .unwrap()
            {
                PipelineOutcome::Scoped(s) => s,
                PipelineOutcome::NoTenant { .. } => unreachable!(),
            }
        })
    });
}

fn pipeline_header(c: &mut Criterion) {
    // The configuration of tenancy-axum's overhead and rps benches: `X-Tenant` header, cached
    // stores, a trivial authenticator.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let alice = UserId::new_random();
    tenants.insert(acme.clone());
    members.insert(acme.id, alice, Role::Member);
    let pipeline = TenantPipeline::new(
        Arc::new(CachingTenantStore::new(tenants)),
        Arc::new(CachingMembershipStore::new(members)),
    )
    .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    .with_authenticator(Arc::new(Fixed(alice)));
    let mut headers = HeaderMap::new();
    headers.insert("x-tenant", HeaderValue::from_static("acme"));
    c.bench_function("pipeline_run_cached_header", |b| {
        b.to_async(&rt).iter(|| async {
            match pipeline
                .run(black_box(&RequestView::new("/", &headers)))
                .await
                .unwrap()
            {
                PipelineOutcome::Scoped(s) => s,
                PipelineOutcome::NoTenant { .. } => unreachable!(),
            }
        })
    });
}

criterion_group!(resolve, benches, pipeline_header);
criterion_main!(resolve);
