//! Application state and router construction.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use sqlx::PgPool;
use tenancy_axum::TenancyLayer;
use tenancy_core::{
    Authenticator, CachingMembershipStore, CachingTenantStore, HeaderResolver, PathResolver,
    Permission, PipelineError, Policy, RequestView, ResolverChain, SubdomainResolver,
    TenantPipeline, TenantResolver as _, TenantScope,
};
use tenancy_sqlx::{
    Invitations, Lifecycle, Members, PgMembershipStore, PgTenantStore, PlatformPool, TenantPool,
};
use tower::ServiceExt as _;

use crate::api;
use crate::auth::{Authenticators, EmailPlatformAdmin, TokenKeys};
use crate::error::ApiError;
use crate::policy::app_policy;

/// The path prefix that selects a tenant: `/t/{slug}/...`.
pub const PATH_PREFIX: &str = "t";

/// The database handles the app runs on.
///
/// * `tenant`: the runtime role's [`TenantPool`]; every read and write of tenant data goes
///   through one of its [`TenantTx`](tenancy_sqlx::TenantTx)s;
/// * `app`: the same role as a plain pool, for what has no tenant (accounts, the tenant
///   registry lookups of the pipeline, a user's own memberships);
/// * `platform`: the platform role ([`PlatformPool`]) for the platform admin API, and
///   `platform_raw`, the same role as a plain pool for the registry writes of
///   [`PgTenantStore`] (organisation sign-up and lifecycle).
#[derive(Debug, Clone)]
pub struct Database {
    /// Runtime role, tenant transactions.
    pub tenant: TenantPool,
    /// Runtime role, plain pool.
    pub app: PgPool,
    /// Platform role, platform transactions.
    pub platform: PlatformPool,
    /// Platform role, plain pool (registry writes).
    pub platform_raw: PgPool,
}

/// Settings of the app that are not database handles.
#[derive(Clone)]
pub struct AppConfig {
    /// Base domain of tenant hosts (`localhost`: tenant `acme` at `acme.localhost`).
    pub base_domain: String,
    /// The account with this email is the platform administrator.
    pub platform_admin_email: Option<String>,
    /// Login token keys.
    pub tokens: TokenKeys,
    extra_authenticators: Vec<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("base_domain", &self.base_domain)
            .field("platform_admin_email", &self.platform_admin_email)
            .finish_non_exhaustive()
    }
}

impl AppConfig {
    /// A configuration with the bearer authenticator only.
    pub fn new(base_domain: impl Into<String>, tokens: TokenKeys) -> Self {
        Self {
            base_domain: base_domain.into(),
            platform_admin_email: None,
            tokens,
            extra_authenticators: Vec::new(),
        }
    }

    /// Sets the platform administrator's email.
    #[must_use]
    pub fn with_platform_admin_email(mut self, email: Option<String>) -> Self {
        self.platform_admin_email = email;
        self
    }

    /// Adds an authenticator tried after the bearer token (the web UI's cookie session).
    #[must_use]
    pub fn with_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.extra_authenticators.push(authenticator);
        self
    }
}

/// Why the app could not be assembled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base domain or another resolver setting is invalid.
    #[error("invalid tenant resolution setting")]
    Resolver(#[from] tenancy_core::ConfigError),
    /// The permission policy is inconsistent.
    #[error("invalid permission policy")]
    Policy(#[from] tenancy_core::PolicyError),
    /// A password could not be hashed.
    #[error("password hashing failed")]
    Hash(#[from] crate::auth::HashError),
}

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    pipeline: Arc<TenantPipeline>,
    policy: Arc<Policy>,
    tokens: TokenKeys,
    path: PathResolver,
    registry: PgTenantStore,
    tenant_cache: Arc<CachingTenantStore<PgTenantStore>>,
    members: Arc<CachingMembershipStore<PgMembershipStore>>,
    member_ops: Members,
    invitations: Invitations,
    lifecycle: Lifecycle,
    platform_admins: Arc<EmailPlatformAdmin>,
    dummy_hash: String,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Assembles the pipeline (resolvers that must all agree: subdomain, `X-Tenant`, `/t/{slug}`;
    /// cached registry and membership lookups; bearer tokens then the extra authenticators;
    /// platform admin by email), the permission policy and the stores.
    pub fn new(db: Database, config: AppConfig) -> Result<Self, BuildError> {
        let path = PathResolver::prefix(PATH_PREFIX)?;
        let subdomain = SubdomainResolver::new(&config.base_domain)?;
        let resolver = ResolverChain::all_agree(vec![
            Box::new(move |req: &RequestView<'_>| {
                if ip_literal_host(req) {
                    Ok(None)
                } else {
                    subdomain.resolve(req)
                }
            }),
            Box::new(HeaderResolver::x_tenant().slugs_only()),
            Box::new(path.clone()),
        ]);
        let tenant_cache = Arc::new(CachingTenantStore::new(PgTenantStore::new(db.app.clone())));
        let registry = PgTenantStore::new(db.platform_raw.clone())
            .with_invalidator(
                Arc::clone(&tenant_cache) as Arc<dyn tenancy_core::TenantCacheInvalidator>
            );
        let members = Arc::new(CachingMembershipStore::new(PgMembershipStore::new(
            db.app.clone(),
        )));
        let member_cache =
            Arc::clone(&members) as Arc<dyn tenancy_core::MembershipCacheInvalidator>;
        let member_ops = Members::new().with_invalidator(Arc::clone(&member_cache));
        let invitations = Invitations::new().with_invalidator(Arc::clone(&member_cache));
        let lifecycle = Lifecycle::new()
            .with_tenant_invalidator(
                Arc::clone(&tenant_cache) as Arc<dyn tenancy_core::TenantCacheInvalidator>
            )
            .with_membership_invalidator(member_cache);
        let mut authenticators = Authenticators::bearer(&config.tokens);
        for a in config.extra_authenticators {
            authenticators = authenticators.with(a);
        }
        let platform_admins = Arc::new(EmailPlatformAdmin::new(
            db.app.clone(),
            config.platform_admin_email,
        ));
        let pipeline = TenantPipeline::new(tenant_cache.clone(), members.clone())
            .with_resolver(Arc::new(resolver))
            .with_authenticator(Arc::new(authenticators))
            .with_platform_admins(platform_admins.clone());
        let policy = Arc::new(app_policy()?);
        let dummy_hash = crate::auth::hash_password("not the password of anybody")?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                pipeline: Arc::new(pipeline),
                policy,
                tokens: config.tokens,
                path,
                registry,
                tenant_cache,
                members,
                member_ops,
                invitations,
                lifecycle,
                platform_admins,
                dummy_hash,
            }),
        })
    }

    /// The tenant pool: the only road to tenant tables.
    pub fn db(&self) -> &TenantPool {
        &self.inner.db.tenant
    }

    /// The runtime role's plain pool (accounts; nothing tenant-scoped).
    pub fn app_pool(&self) -> &PgPool {
        &self.inner.db.app
    }

    /// The platform pool.
    pub fn platform(&self) -> &PlatformPool {
        &self.inner.db.platform
    }

    /// The platform role's plain pool.
    pub fn platform_raw(&self) -> &PgPool {
        &self.inner.db.platform_raw
    }

    /// The registry with write access (platform role); changes evict the tenant cache.
    pub fn registry(&self) -> &PgTenantStore {
        &self.inner.registry
    }

    /// The request pipeline.
    pub fn pipeline(&self) -> &TenantPipeline {
        &self.inner.pipeline
    }

    /// The permission policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Login token keys.
    pub fn tokens(&self) -> &TokenKeys {
        &self.inner.tokens
    }

    /// The pipeline's membership store (cached); the library's operations evict it.
    pub fn members(&self) -> &CachingMembershipStore<PgMembershipStore> {
        &self.inner.members
    }

    /// Membership management (library).
    pub fn member_ops(&self) -> &Members {
        &self.inner.member_ops
    }

    /// Invitations (library).
    pub fn invitations(&self) -> &Invitations {
        &self.inner.invitations
    }

    /// Tenant lifecycle for platform administrators (library).
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }

    /// Who is a platform administrator.
    pub fn platform_admins(&self) -> &EmailPlatformAdmin {
        &self.inner.platform_admins
    }

    /// The cached tenant store.
    pub fn tenant_cache(&self) -> &CachingTenantStore<PgTenantStore> {
        &self.inner.tenant_cache
    }

    /// A hash to verify against when the email is unknown, so that login takes as long for
    /// unknown accounts as for wrong passwords.
    pub(crate) fn dummy_hash(&self) -> &str {
        &self.inner.dummy_hash
    }

    /// `Ok` when the scope's role holds `permission` under the app policy, else 403
    /// `permission_denied` (for checks that depend on the request, such as "is it my own
    /// membership"; fixed checks use the `RequirePermission<P>` extractor).
    pub fn allow(&self, scope: &TenantScope, permission: &Permission) -> Result<(), ApiError> {
        tenancy_core::require_permission(Some(&self.inner.policy), scope, permission)
            .map_err(ApiError::from)
    }
}

/// Whether the request's host is an IP address (`127.0.0.1:3000`, `[::1]:3000`): such a host
/// can name no tenant, so it selects none (tenant routes then need `X-Tenant` or `/t/{slug}`)
/// instead of being refused as a foreign host.
fn ip_literal_host(req: &RequestView<'_>) -> bool {
    let host = req
        .authority()
        .or_else(|| req.header_str(&http::header::HOST));
    let Some(host) = host else {
        return false;
    };
    let bare = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    bare.parse::<std::net::IpAddr>().is_ok()
}

/// The whole app: the tenancy layer runs the core pipeline first, on the request as sent;
/// `/t/{slug}/...` is then routed as `/...`; the API and the web pages share the routes.
///
/// ```no_run
/// # async fn demo(state: saas::AppState) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, saas::router(state)).await
/// # }
/// ```
pub fn router(state: AppState) -> Router {
    let routes: Router = api::routes()
        .merge(crate::web::routes())
        .fallback(not_found)
        .with_state(state.clone());
    let path = state.inner.path.clone();
    let routed = tower::service_fn(move |req: Request| {
        let routes = routes.clone();
        let path = path.clone();
        async move { Ok::<_, std::convert::Infallible>(strip_prefix(&path, routes, req).await) }
    });
    // The layer wraps the routing, so the pipeline sees the full path (with `/t/{slug}`).
    let layer = TenancyLayer::new(Arc::clone(&state.inner.pipeline))
        .with_policy(Arc::clone(&state.inner.policy));
    Router::new()
        .fallback_service(tower::ServiceBuilder::new().layer(layer).service(routed))
        .layer(axum::middleware::from_fn(crate::web::html_errors))
}

impl FromRef<AppState> for TenantPool {
    fn from_ref(state: &AppState) -> Self {
        state.inner.db.tenant.clone()
    }
}

/// Routes `/t/{slug}/rest` as `/rest` (the pipeline already selected the tenant from the full
/// path) and every other path as it is; the split is the core path resolver's. Done outside
/// the router so that no path parameter of the prefix reaches the handlers' `Path` extractors.
async fn strip_prefix(path: &PathResolver, routes: Router, mut req: Request) -> Response {
    let rest = match path.split(req.uri().path()) {
        Ok(Some((_, rest))) => rest.to_owned(),
        Ok(None) => {
            return match routes.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
        Err(e) => return ApiError::from(PipelineError::from(e)).into_response(),
    };
    let uri = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest,
    };
    match uri.parse::<Uri>() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return ApiError::not_found().into_response(),
    }
    match routes.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// The route table of the JSON API.
pub(crate) fn api_routes() -> Router<AppState> {
    use api::{account, admin, audit, campaigns, invitations, leads, members, org};
    Router::new()
        .route("/api/signup", post(account::signup))
        .route("/api/login", post(account::login))
        .route("/api/me", get(account::me))
        .route("/api/orgs", post(account::create_org))
        .route(
            "/api/campaigns",
            get(campaigns::list).post(campaigns::create),
        )
        .route(
            "/api/campaigns/{id}",
            get(campaigns::get)
                .patch(campaigns::update)
                .delete(campaigns::delete),
        )
        .route("/api/leads", get(leads::list).post(leads::create))
        .route(
            "/api/leads/{id}",
            get(leads::get).patch(leads::update).delete(leads::delete),
        )
        .route("/api/members", get(members::list))
        .route(
            "/api/members/{id}",
            patch(members::update).delete(members::remove),
        )
        .route("/api/invitations", post(invitations::create))
        .route("/api/invitations/accept", post(invitations::accept))
        .route("/api/audit", get(audit::list))
        .route("/api/org", patch(org::update))
        .route("/api/admin/tenants", get(admin::list))
        .route("/api/admin/tenants/{id}/suspend", post(admin::suspend))
        .route("/api/admin/tenants/{id}/activate", post(admin::activate))
}
