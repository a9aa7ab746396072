//! The actix harness: an `App` wrapped in [`TenancyMiddleware`], driven with `actix_web::test`.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test, web};
use std::sync::Arc;
use tenancy_actix::{
    CurrentTenant, OptionalTenant, RequirePermission, RequireRole, TenancyMiddleware,
};

use tenancy_core::markers::Admin;
use tenancy_core::{Policy, TenantPipeline};

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

/// Registers the conformance routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/whoami", web::get().to(whoami))
        .route("/t/{slug}/whoami", web::get().to(whoami))
        .route("/optional", web::get().to(optional))
        .route("/admin", web::get().to(admin))
        .route("/leads", web::get().to(leads))
        .route("/public", web::get().to(public));
}

/// [`Harness`] for actix-web: two initialised services, with and without the middleware.
pub struct ActixHarness<A, B> {
    with_layer: A,
    without_layer: B,
}

impl<A, B> std::fmt::Debug for ActixHarness<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActixHarness").finish_non_exhaustive()
    }
}

/// The harness for `world`. Must run inside an actix system
/// (`actix_web::rt::System::new().block_on`).
pub async fn harness(
    world: &World,
) -> ActixHarness<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    harness_for(world.pipeline.clone(), world.policy.clone()).await
}

/// The harness for a pipeline and a policy (owns everything it uses).
pub async fn harness_for(
    pipeline: Arc<TenantPipeline>,
    policy: Arc<Policy>,
) -> ActixHarness<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    let with_layer = test::init_service(
        App::new()
            .wrap(TenancyMiddleware::new(pipeline).with_policy(policy))
            .configure(routes),
    )
    .await;
    let without_layer = test::init_service(App::new().configure(routes)).await;
    ActixHarness {
        with_layer,
        without_layer,
    }
}

/// An actix test request for `req`.
pub fn to_actix(req: &TestRequest) -> actix_http::Request {
    let mut b = test::TestRequest::get().uri(&req.path);
    for (k, v) in &req.headers {
        b = b.append_header((k.as_str(), v.as_str()));
    }
    b.to_request()
}

async fn send<S, Bd>(svc: &S, req: TestRequest) -> TestResponse
where
    S: Service<actix_http::Request, Response = ServiceResponse<Bd>, Error = actix_web::Error>,
    Bd: MessageBody,
{
    let res = test::call_service(svc, to_actix(&req)).await;
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(actix_web::http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = test::read_body(res).await;
    TestResponse {
        status,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
        retry_after,
    }
}

impl<A, B, BA, BB> Harness for ActixHarness<A, B>
where
    A: Service<actix_http::Request, Response = ServiceResponse<BA>, Error = actix_web::Error>,
    B: Service<actix_http::Request, Response = ServiceResponse<BB>, Error = actix_web::Error>,
    BA: MessageBody,
    BB: MessageBody,
{
    async fn send(&self, req: TestRequest) -> TestResponse {
        send(&self.with_layer, req).await
    }

    async fn send_without_layer(&self, req: TestRequest) -> TestResponse {
        send(&self.without_layer, req).await
    }
}
