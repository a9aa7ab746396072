//! Rate limits keyed by tenant and principal (ATTACKS.md G.40).
//!
//! A limiter decides on a [`LimitRequest`]: the tenant's **id** (never its slug or host), its plan,
//! the user and the kind of caller. Because the key is the id, addressing one tenant by subdomain,
//! header, path or id draws from the same bucket: switching the way a tenant is selected does not
//! multiply its quota.
//!
//! The check runs after the request was authorised, so keys come from existing tenants and their
//! members, never from free client input: that bounds the memory of keyed limiters. Limiting
//! unauthenticated traffic (per IP, before any lookup) is a different job, done in front of the
//! pipeline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use crate::{PrincipalKind, TenantId, TenantScope, UserId};

#[cfg(feature = "rate-limit")]
mod governed;

#[cfg(feature = "rate-limit")]
pub use governed::{ManualClock, RateQuota, TenantRateLimiter, TenantRateLimiterBuilder};

/// What a [`RateLimiter`] decides on: who calls, for which tenant.
///
/// Build it from the authorised [`TenantScope`] with [`LimitRequest::from_scope`]; the tenant is
/// then identified by its id whatever way the request selected it.
///
/// ```
/// use tenancy_core::{LimitRequest, PrincipalKind, TenantId, UserId};
/// let tenant = TenantId::new_random();
/// let req = LimitRequest::new(tenant, "pro", UserId::new_random(), PrincipalKind::ApiKey);
/// assert_eq!(req.tenant, tenant);
/// assert_eq!(req.plan, "pro");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitRequest<'a> {
    /// The tenant, by id.
    pub tenant: TenantId,
    /// The tenant's plan (`free`, `pro`, ...), for per-plan quotas.
    pub plan: &'a str,
    /// The user the caller acts as.
    pub user: UserId,
    /// What kind of caller acts (a user, an API key, a job, a service).
    pub actor: PrincipalKind,
}

impl<'a> LimitRequest<'a> {
    /// A request for `tenant` on `plan`, made by `user` as `actor`.
    ///
    /// ```
    /// # #[cfg(feature = "rate-limit")] {
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{LimitRequest, PrincipalKind, RateLimiter, RateQuota, TenantId,
    ///     TenantRateLimiter, UserId};
    /// let limiter = TenantRateLimiter::new(RateQuota::per_minute(NonZeroU32::new(600).unwrap()));
    /// // A background job, outside any HTTP request, draws from its tenant's bucket too.
    /// let (tenant, user) = (TenantId::new_random(), UserId::new_random());
    /// let req = LimitRequest::new(tenant, "pro", user, PrincipalKind::Job);
    /// assert!(limiter.check(&req).is_ok());
    /// # }
    /// ```
    pub const fn new(tenant: TenantId, plan: &'a str, user: UserId, actor: PrincipalKind) -> Self {
        Self {
            tenant,
            plan,
            user,
            actor,
        }
    }

    /// The request of an authorised scope: its tenant id and plan, its user and actor kind.
    ///
    /// ```
    /// use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, LimitRequest,
    ///     Role, Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let tenants = InMemoryTenantStore::new();
    /// let members = InMemoryMembershipStore::new();
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme")
    ///     .with_plan("pro");
    /// let alice = UserId::new_random();
    /// tenants.insert(acme.clone());
    /// members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Slug(acme.slug.clone()), alice)
    ///     .await
    ///     .unwrap();
    /// let req = LimitRequest::from_scope(&scope);
    /// assert_eq!((req.tenant, req.plan, req.user), (acme.id, "pro", alice));
    /// # });
    /// ```
    pub fn from_scope(scope: &'a TenantScope) -> Self {
        Self::new(
            scope.tenant_id(),
            &scope.tenant().plan,
            scope.user_id(),
            scope.actor(),
        )
    }
}

impl<'a> From<&'a TenantScope> for LimitRequest<'a> {
    fn from(scope: &'a TenantScope) -> Self {
        Self::from_scope(scope)
    }
}

/// Which bucket refused a request.
///
/// ```
/// use tenancy_core::LimitKind;
/// assert_eq!(LimitKind::Principal.to_string(), "principal");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// The tenant's bucket, shared by all its members.
    Tenant,
    /// The bucket of one principal (a user) within one tenant.
    Principal,
}

impl LimitKind {
    /// `tenant` or `principal`.
    ///
    /// ```
    /// use tenancy_core::LimitKind;
    /// // A metrics label, fixed at compile time.
    /// const TENANT_LABEL: &str = LimitKind::Tenant.as_str();
    /// assert_eq!(TENANT_LABEL, "tenant");
    /// assert_eq!(LimitKind::Principal.as_str(), "principal");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Principal => "principal",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request was refused by a rate limit. Status 429.
///
/// ```
/// use std::time::Duration;
/// use tenancy_core::{LimitKind, RateLimited};
/// let err = RateLimited::new(LimitKind::Tenant, Duration::from_millis(1500));
/// assert_eq!(err.to_string(), "rate limit of tenant exceeded");
/// assert_eq!(err.kind(), LimitKind::Tenant);
/// assert_eq!(err.retry_after(), Duration::from_millis(1500));
/// assert_eq!(err.retry_after_secs(), 2);
/// assert_eq!(err.status().as_u16(), 429);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {kind} exceeded")]
pub struct RateLimited {
    kind: LimitKind,
    retry_after: Duration,
}

impl RateLimited {
    /// A refusal by the `kind` bucket, which admits again after `retry_after`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenancy_core::{LimitKind, LimitRequest, PrincipalKind, RateLimited, RateLimiter,
    ///     TenantId, UserId};
    /// // A limiter of your own: free tenants are paused for a minute during a migration.
    /// let migrating = |req: &LimitRequest<'_>| match req.plan {
    ///     "free" => Err(RateLimited::new(LimitKind::Tenant, Duration::from_secs(60))),
    ///     _ => Ok(()),
    /// };
    /// let (t, u) = (TenantId::new_random(), UserId::new_random());
    /// let refused = migrating.check(&LimitRequest::new(t, "free", u, PrincipalKind::User));
    /// assert_eq!(refused.unwrap_err().retry_after_secs(), 60);
    /// ```
    pub const fn new(kind: LimitKind, retry_after: Duration) -> Self {
        Self { kind, retry_after }
    }

    /// The bucket that refused the request.
    ///
    /// ```
    /// # #[cfg(feature = "rate-limit")] {
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{LimitKind, LimitRequest, PrincipalKind, RateLimiter, RateQuota, TenantId,
    ///     TenantRateLimiter, UserId};
    /// let n = |n| NonZeroU32::new(n).unwrap();
    /// let limiter = TenantRateLimiter::builder(RateQuota::per_minute(n(100)))
    ///     .with_principal_quota(RateQuota::per_minute(n(1)))
    ///     .build();
    /// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///     PrincipalKind::User);
    /// limiter.check(&req).unwrap();
    /// let refused = limiter.check(&req).unwrap_err();
    /// // This user is over their own share; the tenant's other members are not affected.
    /// assert_eq!(refused.kind(), LimitKind::Principal);
    /// # }
    /// ```
    pub const fn kind(&self) -> LimitKind {
        self.kind
    }

    /// How long until the request could be admitted, if nothing else draws from the buckets
    /// meanwhile.
    ///
    /// ```
    /// # #[cfg(feature = "rate-limit")] {
    /// use std::time::Duration;
    /// # use std::num::NonZeroU32;
    /// # use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    /// #     TenantId, TenantRateLimiter, UserId};
    /// # let clock = ManualClock::new();
    /// # let limiter = TenantRateLimiter::builder(RateQuota::per_second(NonZeroU32::MIN))
    /// #     .with_clock(clock.clone())
    /// #     .build();
    /// # let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    /// #     PrincipalKind::User);
    /// # limiter.check(&req).unwrap();
    /// // `limiter`: one request per second, on a manual clock; `req` was just admitted.
    /// clock.advance(Duration::from_millis(400));
    /// let refused = limiter.check(&req).unwrap_err();
    /// assert_eq!(refused.retry_after(), Duration::from_millis(600));
    /// clock.advance(refused.retry_after());
    /// assert!(limiter.check(&req).is_ok());
    /// # }
    /// ```
    pub const fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// [`retry_after`](Self::retry_after) in whole seconds, rounded up: the value of a
    /// `Retry-After` header.
    ///
    /// ```
    /// # #[cfg(feature = "rate-limit")] {
    /// use std::time::Duration;
    /// use http::{HeaderMap, header::RETRY_AFTER};
    /// # use std::num::NonZeroU32;
    /// # use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    /// #     TenantId, TenantRateLimiter, UserId};
    /// # let clock = ManualClock::new();
    /// # let limiter = TenantRateLimiter::builder(RateQuota::per_second(NonZeroU32::MIN))
    /// #     .with_clock(clock.clone())
    /// #     .build();
    /// # let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    /// #     PrincipalKind::User);
    /// # limiter.check(&req).unwrap();
    /// // `limiter`: one request per second, on a manual clock; `req` was just admitted.
    /// clock.advance(Duration::from_millis(400));
    /// let refused = limiter.check(&req).unwrap_err(); // 600 ms to wait
    /// let mut headers = HeaderMap::new();
    /// headers.insert(RETRY_AFTER, refused.retry_after_secs().into());
    /// assert_eq!(headers[RETRY_AFTER], "1");
    /// # }
    /// ```
    pub const fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        if self.retry_after.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        }
    }

    /// The HTTP status: 429 Too Many Requests.
    ///
    /// ```
    /// # #[cfg(feature = "rate-limit")] {
    /// use http::{Response, StatusCode, header::RETRY_AFTER};
    /// # use std::num::NonZeroU32;
    /// # use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    /// #     TenantId, TenantRateLimiter, UserId};
    /// # let clock = ManualClock::new();
    /// # let limiter = TenantRateLimiter::builder(RateQuota::per_second(NonZeroU32::MIN))
    /// #     .with_clock(clock.clone())
    /// #     .build();
    /// # let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    /// #     PrincipalKind::User);
    /// # limiter.check(&req).unwrap();
    /// // `limiter` admits one request per second and `req` was just admitted.
    /// let refused = limiter.check(&req).unwrap_err();
    /// let response = Response::builder()
    ///     .status(refused.status())
    ///     .header(RETRY_AFTER, refused.retry_after_secs())
    ///     .body(refused.to_string())?;
    /// assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    /// assert_eq!(response.body(), "rate limit of tenant exceeded");
    /// # }
    /// # Ok::<(), http::Error>(())
    /// ```
    pub const fn status(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }
}

/// Decides whether a request may proceed.
///
/// Synchronous on purpose: it runs on every request and must not do I/O (an in-memory check of a
/// few buckets). Object safe, so the pipeline can hold an `Arc<dyn RateLimiter>`. Implemented for
/// `()` (no limit), for `Arc<T>`, and for closures; [`TenantRateLimiter`] is the
/// governor-backed implementation (feature `rate-limit`).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tenancy_core::{LimitKind, LimitRequest, PrincipalKind, RateLimited, RateLimiter,
///     TenantId, UserId};
///
/// // Jobs are not limited; everyone else goes through `inner`.
/// let inner: Arc<dyn RateLimiter> = Arc::new(|_: &LimitRequest<'_>| {
///     Err(RateLimited::new(LimitKind::Tenant, Duration::from_secs(1)))
/// });
/// let limiter = move |req: &LimitRequest<'_>| match req.actor {
///     PrincipalKind::Job => Ok(()),
///     _ => inner.check(req),
/// };
/// let (t, u) = (TenantId::new_random(), UserId::new_random());
/// assert!(limiter.check(&LimitRequest::new(t, "free", u, PrincipalKind::Job)).is_ok());
/// assert!(limiter.check(&LimitRequest::new(t, "free", u, PrincipalKind::User)).is_err());
/// assert!(().check(&LimitRequest::new(t, "free", u, PrincipalKind::User)).is_ok());
/// ```
pub trait RateLimiter: Send + Sync {
    /// `Ok(())` admits the request (and counts it); `Err` refuses it.
    fn check(&self, req: &LimitRequest<'_>) -> Result<(), RateLimited>;
}

/// No limit: every request is admitted.
impl RateLimiter for () {
    fn check(&self, _req: &LimitRequest<'_>) -> Result<(), RateLimited> {
        Ok(())
    }
}

impl<T: RateLimiter + ?Sized> RateLimiter for Arc<T> {
    fn check(&self, req: &LimitRequest<'_>) -> Result<(), RateLimited> {
        (**self).check(req)
    }
}

impl<F> RateLimiter for F
where
    F: Fn(&LimitRequest<'_>) -> Result<(), RateLimited> + Send + Sync,
{
    fn check(&self, req: &LimitRequest<'_>) -> Result<(), RateLimited> {
        self(req)
    }
}
