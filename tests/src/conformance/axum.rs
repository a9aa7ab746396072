//! The axum harness: a `Router` with [`TenancyLayer`], driven with `tower::ServiceExt::oneshot`.

use ::axum::Router;
use ::axum::body::{Body, to_bytes};
use ::axum::routing::get;
use tenancy_axum::{CurrentTenant, OptionalTenant, RequirePermission, RequireRole, TenancyLayer};
use tenancy_core::markers::Admin;
use tower::ServiceExt;

use super::{
    Harness, LeadsWrite, TestRequest, TestResponse, World, optional_body, public_body, scope_body,
};

async fn whoami(CurrentTenant(scope): CurrentTenant) -> String {
    scope_body(&scope)
}

async fn optional(OptionalTenant(scope): OptionalTenant) -> String {
    optional_body(scope.as_ref())
}

async fn admin(scope: RequireRole<Admin>) -> String {
    scope_body(&scope)
}

async fn leads(scope: RequirePermission<LeadsWrite>) -> String {
    scope_body(&scope)
}

async fn public() -> String {
    public_body()
}

/// The conformance routes, without any layer.
pub fn routes() -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/t/{slug}/whoami", get(whoami))
        .route("/optional", get(optional))
        .route("/admin", get(admin))
        .route("/leads", get(leads))
        .route("/public", get(public))
}

/// The conformance routes behind [`TenancyLayer`] over `world`'s pipeline and policy.
pub fn app(world: &World) -> Router {
    routes().layer(TenancyLayer::new(world.pipeline.clone()).with_policy(world.policy.clone()))
}

/// [`Harness`] for axum.
#[derive(Debug, Clone)]
pub struct AxumHarness {
    with_layer: Router,
    without_layer: Router,
}

impl AxumHarness {
    /// The harness for `world`.
    pub fn new(world: &World) -> Self {
        Self {
            with_layer: app(world),
            without_layer: routes(),
        }
    }
}

/// The harness for `world` (async, for [`conformance_suite!`](crate::conformance_suite)).
pub async fn harness(world: &World) -> AxumHarness {
    AxumHarness::new(world)
}

/// An `http` request for `req`.
pub fn to_http(req: &TestRequest) -> http::Request<Body> {
    let mut b = http::Request::builder().uri(req.path.as_str());
    for (k, v) in &req.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Body::empty()).unwrap()
}

async fn send(router: &Router, req: TestRequest) -> TestResponse {
    let res = router.clone().oneshot(to_http(&req)).await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = to_bytes(res.into_body(), usize::MAX).await.unwrap();
    TestResponse {
        status,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
        retry_after,
    }
}

impl Harness for AxumHarness {
    async fn send(&self, req: TestRequest) -> TestResponse {
        send(&self.with_layer, req).await
    }

    async fn send_without_layer(&self, req: TestRequest) -> TestResponse {
        send(&self.without_layer, req).await
    }
}
