//! The request pipeline: one framework-neutral implementation that both adapters call.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use tracing::Instrument;
use tracing::field::Empty;

use crate::auth::{AuthenticateError, Authenticator, Principal};
use crate::limit::{LimitRequest, RateLimited, RateLimiter};
use crate::resolve::{ResolveError, Selection, TenantResolver};
use crate::scope::AuthorizeError;
use crate::store::{MembershipStore, PlatformAdmins, TenantKey, TenantStore};
use crate::{
    PlatformScope, RequestView, Role, Tenant, TenantScope, TenantSlug, TenantStatus,
    authorize_platform, record_scope_on_span,
};

/// Turns a request into a [`TenantScope`], or into a refusal that maps to one HTTP status.
///
/// Steps, in this order:
///
/// 1. **resolve** — the resolver reads the request; a malformed source is 400 `invalid_tenant`
///    (401 `unauthenticated` for a bad token read by a JWT resolver), disagreeing sources 400
///    `tenant_conflict`;
/// 2. **authenticate** — the authenticator names the caller; invalid credentials are 401
///    `unauthenticated` (also on routes without a tenant);
/// 3. no tenant selected → [`PipelineOutcome::NoTenant`] (with a [`PlatformScope`] when the caller
///    is a platform administrator and platform admins are configured);
/// 4. a tenant selected but an anonymous caller → 401 `unauthenticated`, *before* any lookup, so
///    anonymous callers cannot probe which tenants exist;
/// 5. **look up** — unknown → 404 `tenant_not_found`; a deleted tenant is also 404
///    `tenant_not_found` (indistinguishable from one that never existed); a slug/id pair from
///    an all-agree chain that names two tenants → 400 `tenant_conflict`;
/// 6. **membership** — not a member → 403 `not_a_member`; this comes before the status check,
///    so non-members learn nothing about a tenant's lifecycle;
/// 7. **status** — suspended, provisioning or an expired trial → 403 (`tenant_suspended`,
///    `tenant_provisioning`, `tenant_trial_expired`);
/// 8. **mint** the scope (which re-checks the status);
/// 9. **rate limit** — with [`with_rate_limiter`](Self::with_rate_limiter), the request is
///    counted against its tenant (and principal) by *ids*, so addressing one tenant by
///    subdomain, header, path or id draws from one bucket (ATTACKS.md G.40); over the quota is
///    429 `rate_limited` with a `Retry-After`. Refused requests of earlier steps are not
///    counted, and tenant-less requests are not limited by it.
///
/// A store failure at any step is 500 `internal` with no detail. A header selects, membership
/// authorises: a token of A's user with `X-Tenant: B` ends at step 6 with 403 (or 404 when B does
/// not exist), and no scope for B exists, so no query for B's data can run.
///
/// On success the `tenancy.pipeline` span records `tenant_id` and `tenant_slug`.
///
/// The pipeline keeps no state between requests: every run asks the stores again, so a revoked
/// membership or a suspension is seen by the next request. With caching stores (the `cache`
/// feature) the bound is the cache TTL, or immediate when the change goes through the cache's
/// invalidation hooks (ATTACKS.md E.29, G.36).
///
/// ```
/// use std::sync::Arc;
/// use async_trait::async_trait;
/// use http::{HeaderMap, HeaderName, HeaderValue};
/// use tenancy_core::{AuthenticateError, Authenticator, HeaderResolver, InMemoryMembershipStore,
///     InMemoryTenantStore, PipelineOutcome, Principal, RequestView, Role, Tenant, TenantId,
///     TenantPipeline, UserId};
///
/// static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
///
/// /// The app's authenticator: here, a fixed API key for one user.
/// struct ApiKeys { key: &'static str, user: UserId }
///
/// #[async_trait]
/// impl Authenticator for ApiKeys {
///     async fn authenticate(&self, req: &RequestView<'_>)
///         -> Result<Option<Principal>, AuthenticateError> {
///         match req.header(&X_API_KEY) {
///             None => Ok(None),
///             Some(v) if v == self.key.as_bytes() => Ok(Some(Principal::user(self.user))),
///             Some(_) => Err(AuthenticateError::InvalidCredentials(None)),
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tenants = InMemoryTenantStore::new();
/// let members = InMemoryMembershipStore::new();
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// let alice = UserId::new_random();
/// tenants.insert(acme.clone());
/// members.insert(acme.id, alice, Role::Admin);
///
/// let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
///     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
///     .with_authenticator(Arc::new(ApiKeys { key: "k-alice", user: alice }));
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-tenant", HeaderValue::from_static("acme"));
/// headers.insert("x-api-key", HeaderValue::from_static("k-alice"));
/// match pipeline.run(&RequestView::new("/", &headers)).await.unwrap() {
///     PipelineOutcome::Scoped(scope) => assert_eq!(scope.tenant_id(), acme.id),
///     other => panic!("unexpected {other:?}"),
/// }
///
/// headers.insert("x-tenant", HeaderValue::from_static("globex"));
/// let err = pipeline.run(&RequestView::new("/", &headers)).await.unwrap_err();
/// assert_eq!(err.status(), 404);
/// assert_eq!(err.code(), "tenant_not_found");
/// # });
/// ```
#[derive(Clone)]
pub struct TenantPipeline {
    resolver: Arc<dyn TenantResolver>,
    tenants: Arc<dyn TenantStore>,
    authenticator: Arc<dyn Authenticator>,
    members: Arc<dyn MembershipStore>,
    platform_admins: Option<Arc<dyn PlatformAdmins>>,
    limiter: Option<Arc<dyn RateLimiter>>,
}

impl fmt::Debug for TenantPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantPipeline")
            .field("platform_admins", &self.platform_admins.is_some())
            .field("rate_limited", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

fn no_source(_: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> {
    Ok(None)
}

impl TenantPipeline {
    /// A pipeline over these stores, with no resolver (every request is
    /// [`NoTenant`](PipelineOutcome::NoTenant)) and no authenticator (every caller is
    /// anonymous). Add them with [`with_resolver`](Self::with_resolver) and
    /// [`with_authenticator`](Self::with_authenticator).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use http::HeaderMap;
    /// use tenancy_core::{InMemoryMembershipStore, InMemoryTenantStore, PipelineOutcome, RequestView,
    ///     TenantPipeline};
    ///
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(InMemoryTenantStore::new()),
    ///     Arc::new(InMemoryMembershipStore::new()),
    /// );
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-tenant", "acme".parse().unwrap());
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// // No resolver yet: nothing selects a tenant, and the caller is anonymous.
    /// let outcome = pipeline.run(&RequestView::new("/", &headers)).await.unwrap();
    /// assert!(matches!(outcome, PipelineOutcome::NoTenant { principal: None, platform: None }));
    /// # });
    /// ```
    pub fn new(tenants: Arc<dyn TenantStore>, members: Arc<dyn MembershipStore>) -> Self {
        Self {
            resolver: Arc::new(no_source),
            tenants,
            authenticator: Arc::new(()),
            members,
            platform_admins: None,
            limiter: None,
        }
    }

    /// Sets the resolver (one resolver or a [`ResolverChain`](crate::ResolverChain)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use http::HeaderMap;
    /// use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, PathResolver,
    ///     RequestView, ResolverChain, TenantPipeline};
    ///
    /// let resolver = ResolverChain::first_match(vec![Box::new(HeaderResolver::x_tenant())])
    ///     .with(PathResolver::prefix("orgs").unwrap());
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(InMemoryTenantStore::new()),
    ///     Arc::new(InMemoryMembershipStore::new()),
    /// )
    /// .with_resolver(Arc::new(resolver));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// // A tenant is selected now; an anonymous caller is refused before any lookup.
    /// let err = pipeline.run(&RequestView::new("/orgs/acme/leads", &HeaderMap::new())).await.unwrap_err();
    /// assert_eq!(err.code(), "unauthenticated");
    /// # });
    /// ```
    #[must_use]
    pub fn with_resolver(mut self, resolver: Arc<dyn TenantResolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Sets the authenticator.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use http::HeaderMap;
    /// use tenancy_core::{InMemoryMembershipStore, InMemoryTenantStore, PipelineOutcome, Principal,
    ///     RequestView, TenantPipeline, UserId, authenticator_fn};
    ///
    /// let alice = UserId::new_random();
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(InMemoryTenantStore::new()),
    ///     Arc::new(InMemoryMembershipStore::new()),
    /// )
    /// .with_authenticator(Arc::new(authenticator_fn(move |_: &RequestView<'_>| {
    ///     Ok(Some(Principal::user(alice)))
    /// })));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let outcome = pipeline.run(&RequestView::new("/", &HeaderMap::new())).await.unwrap();
    /// assert!(matches!(
    ///     outcome,
    ///     PipelineOutcome::NoTenant { principal: Some(p), .. } if p.user_id == alice
    /// ));
    /// # });
    /// ```
    #[must_use]
    pub fn with_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = authenticator;
        self
    }

    /// Sets the tenant store (for example a caching wrapper).
    ///
    /// ```
    /// # #[cfg(feature = "cache")] {
    /// use std::sync::Arc;
    /// use tenancy_core::{CachingTenantStore, HeaderResolver, InMemoryMembershipStore,
    ///     InMemoryTenantStore, Principal, RequestView, Role, Tenant, TenantId, TenantPipeline, UserId,
    ///     authenticator_fn};
    ///
    /// let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
    /// let alice = UserId::new_random();
    /// members.insert(acme.id, alice, Role::Member);
    /// tenants.insert(acme);
    /// let pipeline = TenantPipeline::new(Arc::new(InMemoryTenantStore::new()), Arc::new(members))
    ///     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    ///     .with_authenticator(Arc::new(authenticator_fn(move |_: &RequestView<'_>| {
    ///         Ok(Some(Principal::user(alice)))
    ///     })))
    ///     // Replaces the empty store given to `new`: lookups now go through a cache over `tenants`.
    ///     .with_tenant_store(Arc::new(CachingTenantStore::new(tenants)));
    /// let req = http::Request::builder().header("x-tenant", "acme").body(())?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// assert!(pipeline.run(&RequestView::from_request(&req)).await.is_ok());
    /// # });
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_tenant_store(mut self, tenants: Arc<dyn TenantStore>) -> Self {
        self.tenants = tenants;
        self
    }

    /// Sets the membership store.
    ///
    /// ```
    /// # #[cfg(feature = "cache")] {
    /// use std::sync::Arc;
    /// use tenancy_core::{CachingMembershipStore, HeaderResolver, InMemoryMembershipStore,
    ///     InMemoryTenantStore, PipelineOutcome, Principal, RequestView, Role, Tenant, TenantId,
    ///     TenantPipeline, UserId, authenticator_fn};
    ///
    /// let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
    /// let alice = UserId::new_random();
    /// members.insert(acme.id, alice, Role::Manager);
    /// tenants.insert(acme);
    /// let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(InMemoryMembershipStore::new()))
    ///     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    ///     .with_authenticator(Arc::new(authenticator_fn(move |_: &RequestView<'_>| {
    ///         Ok(Some(Principal::user(alice)))
    ///     })))
    ///     .with_membership_store(Arc::new(CachingMembershipStore::new(members)));
    /// let req = http::Request::builder().header("x-tenant", "acme").body(())?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// match pipeline.run(&RequestView::from_request(&req)).await.unwrap() {
    ///     PipelineOutcome::Scoped(scope) => assert_eq!(scope.role(), Role::Manager),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # });
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_membership_store(mut self, members: Arc<dyn MembershipStore>) -> Self {
        self.members = members;
        self
    }

    /// Checks callers of tenant-less requests against these platform administrators and, for an
    /// administrator, returns a [`PlatformScope`] in [`PipelineOutcome::NoTenant`]. A tenant
    /// route never yields a platform scope.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use http::HeaderMap;
    /// use tenancy_core::{InMemoryMembershipStore, InMemoryPlatformAdmins, InMemoryTenantStore,
    ///     PipelineOutcome, Principal, RequestView, TenantPipeline, UserId, authenticator_fn};
    ///
    /// let root = UserId::new_random();
    /// let admins = InMemoryPlatformAdmins::new();
    /// admins.insert(root);
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(InMemoryTenantStore::new()),
    ///     Arc::new(InMemoryMembershipStore::new()),
    /// )
    /// .with_authenticator(Arc::new(authenticator_fn(move |_: &RequestView<'_>| {
    ///     Ok(Some(Principal::user(root)))
    /// })))
    /// .with_platform_admins(Arc::new(admins));
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// match pipeline.run(&RequestView::new("/admin", &HeaderMap::new())).await.unwrap() {
    ///     PipelineOutcome::NoTenant { platform: Some(scope), .. } => assert_eq!(scope.admin_id(), root),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # });
    /// ```
    #[must_use]
    pub fn with_platform_admins(mut self, admins: Arc<dyn PlatformAdmins>) -> Self {
        self.platform_admins = Some(admins);
        self
    }

    /// Counts every admitted tenant request against `limiter` (step 9): for example a
    /// [`TenantRateLimiter`](crate::TenantRateLimiter) with per-tenant, per-principal and
    /// per-plan quotas. The check is synchronous and keeps the hot path of
    /// [`run_now`](Self::run_now).
    ///
    /// ```
    /// # #[cfg(feature = "rate-limit")] {
    /// use std::num::NonZeroU32;
    /// use std::sync::Arc;
    /// use tenancy_core::{InMemoryMembershipStore, InMemoryTenantStore, RateQuota, TenantPipeline,
    ///     TenantRateLimiter};
    ///
    /// let per_tenant = RateQuota::per_second(NonZeroU32::new(200).unwrap());
    /// let per_user = RateQuota::per_second(NonZeroU32::new(20).unwrap());
    /// let limiter = TenantRateLimiter::builder(per_tenant).with_principal_quota(per_user).build();
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(InMemoryTenantStore::new()),
    ///     Arc::new(InMemoryMembershipStore::new()),
    /// )
    /// .with_rate_limiter(Arc::new(limiter));
    /// # }
    /// ```
    #[must_use]
    pub fn with_rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Runs the pipeline for one request. See the [type docs](Self) for the steps.
    ///
    /// Every store and the authenticator are asked for an immediate answer first
    /// ([`TenantStore::get_now`], [`MembershipStore::role_of_now`],
    /// [`Authenticator::authenticate_now`]); only the ones that have none are awaited.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, RequestView,
    ///     TenantPipeline};
    ///
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(InMemoryTenantStore::new()),
    ///     Arc::new(InMemoryMembershipStore::new()),
    /// )
    /// .with_resolver(Arc::new(HeaderResolver::x_tenant()));
    /// let req = http::Request::builder().header("x-tenant", "acme").body(())?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// // An anonymous caller on a tenant route: 401, before the (unknown) tenant is looked up.
    /// let err = pipeline.run(&RequestView::from_request(&req)).await.unwrap_err();
    /// assert_eq!((err.status().as_u16(), err.code()), (401, "unauthenticated"));
    /// # });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn run(&self, req: &RequestView<'_>) -> Result<PipelineOutcome, PipelineError> {
        let span = tracing::debug_span!("tenancy.pipeline", tenant_id = Empty, tenant_slug = Empty);
        let result = self.steps(req, &span).instrument(span.clone()).await;
        Self::log(&span, &result);
        result
    }

    /// Runs the pipeline without waiting, when every step can answer at once: the resolver (always
    /// synchronous), the authenticator through [`Authenticator::authenticate_now`], the stores
    /// through [`TenantStore::get_now`] and [`MembershipStore::role_of_now`] (cache hits).
    ///
    /// `None` means some step would have to wait (a cache miss, an authenticator that does I/O, a
    /// platform-administrator check): call [`run`](Self::run), which gives the same answer.
    /// Nothing was started that needs cancelling. `Some` is exactly what `run` would return.
    ///
    /// This is the adapters' hot path: a request served from the caches costs no boxed future
    /// and no clone of the tenant.
    ///
    /// ```
    /// # #[cfg(feature = "cache")] {
    /// use std::sync::Arc;
    /// use http::HeaderMap;
    /// use tenancy_core::{CachingMembershipStore, CachingTenantStore, HeaderResolver,
    ///     InMemoryMembershipStore, InMemoryTenantStore, PipelineOutcome, Principal, RequestView,
    ///     Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn};
    ///
    /// let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// let alice = UserId::new_random();
    /// members.insert(acme.id, alice, Role::Member);
    /// tenants.insert(acme.clone());
    /// let pipeline = TenantPipeline::new(
    ///     Arc::new(CachingTenantStore::new(tenants)),
    ///     Arc::new(CachingMembershipStore::new(members)),
    /// )
    /// .with_resolver(Arc::new(HeaderResolver::x_tenant()))
    /// .with_authenticator(Arc::new(authenticator_fn(move |_req: &RequestView<'_>| {
    ///     Ok(Some(Principal::user(alice)))
    /// })));
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-tenant", "acme".parse().unwrap());
    /// let req = RequestView::new("/", &headers);
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// // Cold caches: no immediate answer, so run the pipeline (it fills the caches).
    /// assert!(pipeline.run_now(&req).is_none());
    /// assert!(pipeline.run(&req).await.is_ok());
    /// # });
    /// // Warm: answered synchronously.
    /// match pipeline.run_now(&req) {
    ///     Some(Ok(PipelineOutcome::Scoped(scope))) => assert_eq!(scope.tenant_id(), acme.id),
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # }
    /// ```
    pub fn run_now(&self, req: &RequestView<'_>) -> Option<Result<PipelineOutcome, PipelineError>> {
        let span = tracing::debug_span!("tenancy.pipeline", tenant_id = Empty, tenant_slug = Empty);
        let result = {
            let _entered = span.enter();
            // Both cache lookups of this run read the clock once (see `crate::clock`).
            let _clock = crate::clock::Snapshot::begin();
            match self.steps_now(req, &span) {
                Ok(outcome) => Ok(outcome),
                Err(Stop::Refused(err)) => Err(err),
                Err(Stop::WouldWait) => return None,
            }
        };
        if result.is_err() {
            Self::log(&span, &result);
        }
        Some(result)
    }

    #[cold]
    #[inline(never)]
    fn log(span: &tracing::Span, result: &Result<PipelineOutcome, PipelineError>) {
        if let Err(err) = result {
            let _enter = span.enter();
            match err {
                PipelineError::Internal(source) => {
                    tracing::warn!(code = err.code(), error = %source, "tenant pipeline failed");
                }
                _ => tracing::debug!(code = err.code(), "tenant pipeline refused the request"),
            }
        }
    }

    /// The steps of [`run`](Self::run): every store and the authenticator are asked for an
    /// immediate answer first and awaited only when they have none. The checks between the
    /// lookups are the synchronous helpers below, shared with [`steps_now`](Self::steps_now).
    async fn steps(
        &self,
        req: &RequestView<'_>,
        span: &tracing::Span,
    ) -> Result<PipelineOutcome, PipelineError> {
        let selection = self.resolver.select(req)?;
        let principal = match self.authenticator.authenticate_now(req) {
            Some(answer) => answer,
            None => self.authenticator.authenticate(req).await,
        }?;
        let (key, expected_slug, principal) = match route(selection, principal)? {
            Route::NoTenant(principal) => {
                let platform = match (&self.platform_admins, principal) {
                    (Some(admins), Some(p)) => match authorize_platform(&**admins, p.user_id).await
                    {
                        Ok(scope) => Some(scope),
                        Err(AuthorizeError::NotPlatformAdmin) => None,
                        Err(other) => return Err(PipelineError::internal(other)),
                    },
                    _ => None,
                };
                return Ok(PipelineOutcome::NoTenant {
                    principal,
                    platform,
                });
            }
            Route::Tenant {
                key,
                expected_slug,
                principal,
            } => (key, expected_slug, principal),
        };
        let tenant = match self.tenants.get_now(&key) {
            Some(tenant) => tenant,
            None => match self.tenants.get(&key).await {
                Ok(Some(tenant)) => Arc::new(tenant),
                Ok(None) => return Err(PipelineError::TenantNotFound { key }),
                Err(e) => return Err(PipelineError::internal(e)),
            },
        };
        check_tenant(&tenant, key, expected_slug)?;
        let role = match self.members.role_of_now(tenant.id, principal.user_id) {
            Some(role) => role,
            None => match self.members.role_of(tenant.id, principal.user_id).await {
                Ok(Some(role)) => role,
                Ok(None) => {
                    return Err(PipelineError::NotMember {
                        tenant: tenant.slug.clone(),
                    });
                }
                Err(e) => return Err(PipelineError::internal(e)),
            },
        };
        self.admit(tenant, principal, role, span)
    }

    /// The steps of [`run_now`](Self::run_now): the same as [`steps`](Self::steps) with only
    /// immediate answers; a step without one stops with [`Stop::WouldWait`] before anything is
    /// started. A plain function (no future): this is every cached request's path.
    /// `tests/pipeline_now.rs` checks with proptest that both give the same answers.
    fn steps_now(
        &self,
        req: &RequestView<'_>,
        span: &tracing::Span,
    ) -> Result<PipelineOutcome, Stop> {
        let selection = self.resolver.select(req).map_err(PipelineError::from)?;
        let principal = self
            .authenticator
            .authenticate_now(req)
            .ok_or(Stop::WouldWait)?
            .map_err(PipelineError::from)?;
        let (key, expected_slug, principal) = match route(selection, principal)? {
            Route::NoTenant(principal) => {
                // The platform-administrator check is a store lookup without an immediate form.
                if self.platform_admins.is_some() && principal.is_some() {
                    return Err(Stop::WouldWait);
                }
                return Ok(PipelineOutcome::NoTenant {
                    principal,
                    platform: None,
                });
            }
            Route::Tenant {
                key,
                expected_slug,
                principal,
            } => (key, expected_slug, principal),
        };
        let tenant = self.tenants.get_now(&key).ok_or(Stop::WouldWait)?;
        check_tenant(&tenant, key, expected_slug)?;
        let role = self
            .members
            .role_of_now(tenant.id, principal.user_id)
            .ok_or(Stop::WouldWait)?;
        Ok(self.admit(tenant, principal, role, span)?)
    }

    /// The last steps, once tenant, principal and role are known: mint the scope (step 7, the
    /// status check, is the one `TenantScope::mint` makes — the scope's only constructor, so it
    /// cannot be skipped — a suspended, provisioning or expired tenant is refused there), record
    /// the tenant on the span, then count the request (step 9, last: no step after it can stop
    /// with `WouldWait`, so a request is counted once whether `run_now` or `run` answers it).
    fn admit(
        &self,
        tenant: Arc<Tenant>,
        principal: Principal,
        role: Role,
        span: &tracing::Span,
    ) -> Result<PipelineOutcome, PipelineError> {
        let scope = TenantScope::mint(tenant, principal.user_id, role, principal.kind)
            .map_err(not_admitted)?;
        record_scope_on_span(&scope, span);
        if let Some(limiter) = &self.limiter {
            limiter
                .check(&LimitRequest::from_scope(&scope))
                .map_err(PipelineError::RateLimited)?;
        }
        Ok(PipelineOutcome::Scoped(scope))
    }
}

/// The refusal of a scope that could not be minted (the tenant does not admit requests).
#[cold]
fn not_admitted(e: AuthorizeError) -> PipelineError {
    match e {
        AuthorizeError::TenantNotActive { slug, status } => {
            PipelineError::TenantInactive { slug, status }
        }
        other => PipelineError::internal(other),
    }
}

/// Where a request goes once its tenant selection and its principal are known.
enum Route {
    /// No tenant selected: a tenant-less request (the platform check may follow).
    NoTenant(Option<Principal>),
    /// A tenant route, with an authenticated principal.
    Tenant {
        key: TenantKey,
        /// Set when the selection named the tenant by slug and id: the slug it must have.
        expected_slug: Option<TenantSlug>,
        principal: Principal,
    },
}

/// Steps 3–4: a tenant-less request goes its way; a tenant route needs a principal.
#[inline]
fn route(selection: Selection, principal: Option<Principal>) -> Result<Route, PipelineError> {
    let (key, expected_slug) = match selection {
        Selection::Absent => return Ok(Route::NoTenant(principal)),
        Selection::Key(key) => (key, None),
        Selection::SlugAndId { slug, id } => (TenantKey::Id(id), Some(slug)),
    };
    let Some(principal) = principal else {
        return Err(PipelineError::Unauthenticated(None));
    };
    Ok(Route::Tenant {
        key,
        expected_slug,
        principal,
    })
}

/// Steps 5–6 after the lookup: the slug must be the one the selection named alongside the id,
/// and a deleted tenant does not exist.
#[inline]
fn check_tenant(
    tenant: &Tenant,
    key: TenantKey,
    expected_slug: Option<TenantSlug>,
) -> Result<(), PipelineError> {
    if let Some(slug) = expected_slug
        && tenant.slug != slug
    {
        return Err(PipelineError::Conflict(ResolveError::Conflict {
            first: TenantKey::Slug(slug),
            second: key,
        }));
    }
    if tenant.status == TenantStatus::Deleted {
        return Err(PipelineError::TenantNotFound { key });
    }
    Ok(())
}

/// Why the steps ended without an outcome.
enum Stop {
    /// The request is refused.
    Refused(PipelineError),
    /// [`TenantPipeline::run_now`] only: a step has no immediate answer.
    WouldWait,
}

impl From<PipelineError> for Stop {
    // Refusals are the rare path: keep their code out of the hot path's instruction cache lines.
    #[cold]
    fn from(err: PipelineError) -> Self {
        Self::Refused(err)
    }
}

/// The result of a successful pipeline run.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, PipelineOutcome,
///     RequestView, TenantPipeline};
/// # let pipeline = TenantPipeline::new(
/// #     Arc::new(InMemoryTenantStore::new()),
/// #     Arc::new(InMemoryMembershipStore::new()),
/// # )
/// # .with_resolver(Arc::new(HeaderResolver::x_tenant()));
/// let req = http::Request::builder().uri("/health").body(())?;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let greeting = match pipeline.run(&RequestView::from_request(&req)).await.unwrap() {
///     PipelineOutcome::Scoped(scope) => format!("hello, member of {}", scope.slug()),
///     PipelineOutcome::NoTenant { platform: Some(_), .. } => "hello, administrator".to_owned(),
///     PipelineOutcome::NoTenant { principal, .. } => format!("hello, {principal:?}"),
/// };
/// assert_eq!(greeting, "hello, None");
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub enum PipelineOutcome {
    /// A tenant was selected, exists, admits requests, and the caller is a member.
    Scoped(TenantScope),
    /// No source selected a tenant: for routes that work without one.
    NoTenant {
        /// The caller, if authenticated.
        principal: Option<Principal>,
        /// Set when the caller is a platform administrator and the pipeline was built
        /// [`with_platform_admins`](TenantPipeline::with_platform_admins).
        platform: Option<PlatformScope>,
    },
}

/// Why the pipeline refused a request.
///
/// [`status`](Self::status), [`code`](Self::code) and [`public_message`](Self::public_message)
/// are what an adapter puts in the response; the `Display` text and the source chain are for
/// logs (they may name the tenant or the store failure).
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, PipelineError,
///     Principal, RequestView, Role, Tenant, TenantId, TenantPipeline, TenantStatus, UserId,
///     authenticator_fn};
///
/// let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme")
///     .with_status(TenantStatus::Suspended);
/// let alice = UserId::new_random();
/// members.insert(acme.id, alice, Role::Owner);
/// tenants.insert(acme);
/// let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
///     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
///     .with_authenticator(Arc::new(authenticator_fn(move |_: &RequestView<'_>| {
///         Ok(Some(Principal::user(alice)))
///     })));
/// let req = http::Request::builder().header("x-tenant", "acme").body(())?;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let err = pipeline.run(&RequestView::from_request(&req)).await.unwrap_err();
/// assert!(matches!(err, PipelineError::TenantInactive { status: TenantStatus::Suspended, .. }));
/// assert_eq!(err.to_string(), "tenant `acme` is suspended"); // for logs
/// assert_eq!(err.public_message(), "this tenant is suspended"); // for the caller
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The tenant selection is malformed. 400 `invalid_tenant`.
    #[error("invalid tenant selection")]
    InvalidTenant(#[source] ResolveError),
    /// Sources named different tenants. 400 `tenant_conflict`.
    #[error("conflicting tenant selection")]
    Conflict(#[source] ResolveError),
    /// No credentials on a tenant route, or invalid credentials. 401 `unauthenticated`.
    #[error("unauthenticated")]
    Unauthenticated(#[source] Option<Box<dyn StdError + Send + Sync + 'static>>),
    /// The caller is not a member of the tenant. 403 `not_a_member`.
    #[error("not a member of tenant `{tenant}`")]
    NotMember {
        /// The tenant.
        tenant: TenantSlug,
    },
    /// The tenant is suspended, provisioning or out of trial. 403.
    #[error("tenant `{slug}` is {status}")]
    TenantInactive {
        /// The tenant.
        slug: TenantSlug,
        /// Its status.
        status: TenantStatus,
    },
    /// No such tenant, or a deleted one. 404 `tenant_not_found`.
    #[error("tenant `{key}` not found")]
    TenantNotFound {
        /// The key that was looked up.
        key: TenantKey,
    },
    /// Over the tenant's or the principal's rate limit. 429 `rate_limited`; the
    /// [`Refusal`](crate::Refusal) carries the `Retry-After` seconds.
    #[error("rate limited")]
    RateLimited(#[source] RateLimited),
    /// A store failed. 500 `internal`.
    #[error("tenant pipeline failed")]
    Internal(#[source] Box<dyn StdError + Send + Sync + 'static>),
}

impl PipelineError {
    fn internal(e: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        Self::Internal(e.into())
    }

    /// The HTTP status.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, RequestView,
    /// #     TenantPipeline};
    /// # let pipeline = TenantPipeline::new(
    /// #     Arc::new(InMemoryTenantStore::new()),
    /// #     Arc::new(InMemoryMembershipStore::new()),
    /// # )
    /// # .with_resolver(Arc::new(HeaderResolver::x_tenant()));
    /// let req = http::Request::builder().header("x-tenant", "Not A Slug!").body(())?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let err = pipeline.run(&RequestView::from_request(&req)).await.unwrap_err();
    /// assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    /// # });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidTenant(_) | Self::Conflict(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::NotMember { .. } | Self::TenantInactive { .. } => StatusCode::FORBIDDEN,
            Self::TenantNotFound { .. } => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, RequestView,
    /// #     TenantPipeline};
    /// # let pipeline = TenantPipeline::new(
    /// #     Arc::new(InMemoryTenantStore::new()),
    /// #     Arc::new(InMemoryMembershipStore::new()),
    /// # )
    /// # .with_resolver(Arc::new(HeaderResolver::x_tenant()));
    /// let req = http::Request::builder().header("x-tenant", "Not A Slug!").body(())?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let err = pipeline.run(&RequestView::from_request(&req)).await.unwrap_err();
    /// assert_eq!(err.code(), "invalid_tenant");
    /// # });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidTenant(_) => "invalid_tenant",
            Self::Conflict(_) => "tenant_conflict",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::NotMember { .. } => "not_a_member",
            Self::TenantInactive { status, .. } => match status {
                TenantStatus::Provisioning => "tenant_provisioning",
                TenantStatus::Trial { .. } => "tenant_trial_expired",
                _ => "tenant_suspended",
            },
            Self::TenantNotFound { .. } => "tenant_not_found",
            Self::RateLimited(_) => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }

    /// A short message safe to show to the caller: fixed text, no tenant names, no internals.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use tenancy_core::{HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, RequestView,
    /// #     TenantPipeline};
    /// # let pipeline = TenantPipeline::new(
    /// #     Arc::new(InMemoryTenantStore::new()),
    /// #     Arc::new(InMemoryMembershipStore::new()),
    /// # )
    /// # .with_resolver(Arc::new(HeaderResolver::x_tenant()));
    /// let req = http::Request::builder().header("x-tenant", "Not A Slug!").body(())?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let err = pipeline.run(&RequestView::from_request(&req)).await.unwrap_err();
    /// assert_eq!(err.public_message(), "the tenant selection is malformed");
    /// # });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::InvalidTenant(_) => "the tenant selection is malformed",
            Self::Conflict(_) => "the request names more than one tenant",
            Self::Unauthenticated(_) => "authentication is required",
            Self::NotMember { .. } => "you are not a member of this tenant",
            Self::TenantInactive { status, .. } => match status {
                TenantStatus::Provisioning => "this tenant is not ready yet",
                TenantStatus::Trial { .. } => "this tenant's trial has ended",
                _ => "this tenant is suspended",
            },
            Self::TenantNotFound { .. } => "tenant not found",
            Self::RateLimited(_) => "too many requests, retry later",
            Self::Internal(_) => "internal error",
        }
    }
}

impl From<ResolveError> for PipelineError {
    #[cold]
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Conflict { .. } => Self::Conflict(e),
            ResolveError::InvalidToken(_) => Self::Unauthenticated(Some(Box::new(e))),
            _ => Self::InvalidTenant(e),
        }
    }
}

impl From<AuthenticateError> for PipelineError {
    #[cold]
    fn from(e: AuthenticateError) -> Self {
        match e {
            AuthenticateError::Unavailable(s) => Self::Internal(Box::new(s)),
            other => Self::Unauthenticated(Some(Box::new(other))),
        }
    }
}
