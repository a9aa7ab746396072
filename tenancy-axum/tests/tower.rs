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
