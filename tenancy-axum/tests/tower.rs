//! The layer in a plain tower stack (no axum router): the inner service sees the scope in the
//! request extensions and as the task's current scope; refusals never reach it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{Request, Response};
use tenancy_axum::TenancyLayer;
use tenancy_core::{
    AuthenticateError, Authenticator, HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore,
    Principal, RequestView, Role, Tenant, TenantId, TenantPipeline, TenantScope, UserId,
    try_current,
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

struct UserHeader;

#[async_trait::async_trait]
impl Authenticator for UserHeader {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        Ok(req
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .map(Principal::user))
    }
}

#[tokio::test]
async fn plain_tower_service_gets_the_scope_and_refusals_stop_early() {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let globex = Tenant::new(TenantId::new_random(), "globex".parse().unwrap(), "Globex");
    let alice = UserId::new_random();
    members.insert(acme.id, alice, Role::Admin);
    let acme_id = acme.id;
    tenants.insert(acme);
    tenants.insert(globex);
    let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
        .with_resolver(Arc::new(HeaderResolver::x_tenant()))
        .with_authenticator(Arc::new(UserHeader));

    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let svc = ServiceBuilder::new()
        .layer(TenancyLayer::new(Arc::new(pipeline)))
        .service(service_fn(move |req: Request<()>| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                let scope = req.extensions().get::<TenantScope>().cloned().unwrap();
                let current = try_current().unwrap();
                assert_eq!(current.tenant_id(), scope.tenant_id());
                Ok::<_, Infallible>(Response::new(format!("{}:{}", scope.slug(), scope.role())))
            }
        }));

    let req = |tenant: &str| {
        Request::builder()
            .header("x-tenant", tenant)
            .header("x-user", alice.to_string())
            .body(())
            .unwrap()
    };
    let res = svc.clone().oneshot(req("acme")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body(), "acme:admin");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Not a member of globex: refused by the layer, the inner service never runs.
    let res = svc.clone().oneshot(req("globex")).await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["content-type"],
        "application/json",
        "refusals are JSON"
    );
    assert!(res.body().contains(r#""code":"not_a_member""#));
    assert!(!res.body().contains("globex") && !res.body().contains(&acme_id.to_string()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// The layer's synchronous path: with stores and an authenticator that answer at once, `call`
/// returns the inner service's future (in the scope) without boxing; with an authenticator that
/// must be awaited, the boxed path. Both answer the same.
#[tokio::test]
async fn immediate_answers_take_the_unboxed_path() {
    use tower::Service;

    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let alice = UserId::new_random();
    members.insert(acme.id, alice, Role::Member);
    tenants.insert(acme);
    let immediate = tenancy_core::authenticator_fn(|req: &RequestView<'_>| {
        Ok(req
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .map(Principal::user))
    });
    let pipeline = |auth: Arc<dyn Authenticator>| {
        Arc::new(
            TenantPipeline::new(Arc::new(tenants.clone()), Arc::new(members.clone()))
                .with_resolver(Arc::new(HeaderResolver::x_tenant()))
                .with_authenticator(auth),
        )
    };
    let inner = service_fn(|req: Request<()>| async move {
        let scope = req.extensions().get::<TenantScope>().cloned().unwrap();
        assert_eq!(try_current().unwrap().tenant_id(), scope.tenant_id());
        Ok::<_, Infallible>(Response::new(scope.slug().to_string()))
    });
    let req = |tenant: &str| {
        Request::builder()
            .header("x-tenant", tenant)
            .header("x-user", alice.to_string())
            .body(())
            .unwrap()
    };

    for (auth, expected_kind) in [
        (Arc::new(immediate) as Arc<dyn Authenticator>, "scoped"),
        (Arc::new(UserHeader) as Arc<dyn Authenticator>, "slow"),
    ] {
        let mut svc = ServiceBuilder::new()
            .layer(TenancyLayer::new(pipeline(auth.clone())))
            .service(inner);
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
        let future = svc.call(req("acme"));
        assert!(
            format!("{future:?}").contains(expected_kind),
            "{future:?} should be {expected_kind}"
        );
        let res = future.await.unwrap();
        assert_eq!(res.body(), "acme");

        // A refusal (unknown tenant) on the immediate path answers without the inner service.
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
        let future = svc.call(req("globex"));
        if expected_kind == "scoped" {
            // The in-memory store has no immediate answer for an unknown tenant: it is awaited.
            assert!(format!("{future:?}").contains("slow"), "{future:?}");
        }
        assert_eq!(future.await.unwrap().status(), 404);
    }
}

/// Without a policy, a scoped request carries only the scope: the extractors still know the layer
/// ran (200 for `CurrentTenant`), a permission guard says the policy is missing (500), and a
/// tenant-less request is told a tenant is required (400), not that the layer is missing.
#[tokio::test]
async fn extractors_without_a_policy() {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tenancy_axum::{CurrentTenant, OptionalTenant, RequirePermission};
    use tenancy_core::{Permission, PermissionMarker};

    struct LeadsWrite;
    impl PermissionMarker for LeadsWrite {
        const PERMISSION: Permission = Permission::from_static("leads:write");
    }

    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let alice = UserId::new_random();
    members.insert(acme.id, alice, Role::Owner);
    tenants.insert(acme);
    let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
        .with_resolver(Arc::new(HeaderResolver::x_tenant()))
        .with_authenticator(Arc::new(tenancy_core::authenticator_fn(
            |req: &RequestView<'_>| {
                Ok(req
                    .headers()
                    .get("x-user")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .map(Principal::user))
            },
        )));
    let app = Router::new()
        .route(
            "/whoami",
            get(|CurrentTenant(s): CurrentTenant| async move { s.slug().to_string() }),
        )
        .route(
            "/optional",
            get(|OptionalTenant(s): OptionalTenant| async move { format!("{}", s.is_some()) }),
        )
        .route(
            "/leads",
            get(|_: RequirePermission<LeadsWrite>| async { "never" }),
        )
        .layer(TenancyLayer::new(Arc::new(pipeline)));
    let send = |path: &str, tenant: bool| {
        let mut b = Request::builder()
            .uri(path)
            .header("x-user", alice.to_string());
        if tenant {
            b = b.header("x-tenant", "acme");
        }
        app.clone().oneshot(b.body(Body::empty()).unwrap())
    };
    let body = |res: Response<Body>| async move {
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    };

    let res = send("/whoami", true).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, "acme");
    let res = send("/optional", true).await.unwrap();
    assert_eq!(body(res).await, "true");
    let res = send("/optional", false).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, "false");
    let res = send("/whoami", false).await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(body(res).await.contains("tenant_required"));
    let res = send("/leads", true).await.unwrap();
    assert_eq!(res.status(), 500);
    assert!(body(res).await.contains("tenancy_policy_missing"));
}
