//! The governor-backed limiter: GCRA buckets per tenant and per (tenant, user).

use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::Quota;
use governor::clock::{Clock, FakeRelativeClock, QuantaClock, QuantaInstant, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{NotKeyed, StateStore};

use super::{LimitKind, LimitRequest, RateLimited, RateLimiter};
use crate::{TenantId, UserId};

/// A rate: how many requests a bucket admits at once (the burst) and how fast it refills.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use tenancy_core::RateQuota;
/// const RPS: NonZeroU32 = NonZeroU32::new(50).unwrap();
/// const BURST: NonZeroU32 = NonZeroU32::new(200).unwrap();
/// let q = RateQuota::per_second(RPS).with_burst(BURST);
/// assert_eq!(q.burst(), BURST);
/// assert_eq!(q.replenish_interval(), Duration::from_millis(20));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RateQuota(Quota);

impl RateQuota {
    /// `rate` requests per second, with a burst of `rate`.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::RateQuota;
    /// let q = RateQuota::per_second(NonZeroU32::new(10).unwrap());
    /// assert_eq!(q.burst().get(), 10);
    /// assert_eq!(q.replenish_interval(), Duration::from_millis(100));
    /// ```
    pub const fn per_second(rate: NonZeroU32) -> Self {
        Self(Quota::per_second(rate))
    }

    /// `rate` requests per minute, with a burst of `rate`.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::RateQuota;
    /// let q = RateQuota::per_minute(NonZeroU32::new(120).unwrap());
    /// assert_eq!(q.burst().get(), 120);
    /// assert_eq!(q.replenish_interval(), Duration::from_millis(500));
    /// ```
    pub const fn per_minute(rate: NonZeroU32) -> Self {
        Self(Quota::per_minute(rate))
    }

    /// `rate` requests per hour, with a burst of `rate`.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::RateQuota;
    /// // An expensive export: 100 an hour, all of them usable at once.
    /// let q = RateQuota::per_hour(NonZeroU32::new(100).unwrap());
    /// assert_eq!(q.burst().get(), 100);
    /// assert_eq!(q.replenish_interval(), Duration::from_secs(36));
    /// ```
    pub const fn per_hour(rate: NonZeroU32) -> Self {
        Self(Quota::per_hour(rate))
    }

    /// One request per `period`, with a burst of 1; `None` when `period` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenancy_core::RateQuota;
    /// assert!(RateQuota::with_period(Duration::from_millis(250)).is_some());
    /// assert!(RateQuota::with_period(Duration::ZERO).is_none());
    /// ```
    pub fn with_period(period: Duration) -> Option<Self> {
        Quota::with_period(period).map(Self)
    }

    /// The same refill rate with another burst size.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    ///     TenantId, TenantRateLimiter, UserId};
    /// let n = |n| NonZeroU32::new(n).unwrap();
    /// // 60 a minute on average, but never more than 5 back to back.
    /// let q = RateQuota::per_minute(n(60)).with_burst(n(5));
    /// let limiter = TenantRateLimiter::builder(q).with_clock(ManualClock::new()).build();
    /// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///     PrincipalKind::User);
    /// let admitted = (0..10).filter(|_| limiter.check(&req).is_ok()).count();
    /// assert_eq!(admitted, 5);
    /// ```
    #[must_use]
    pub const fn with_burst(self, burst: NonZeroU32) -> Self {
        Self(self.0.allow_burst(burst))
    }

    /// How many requests the bucket admits at once when full.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tenancy_core::RateQuota;
    /// let n = |n| NonZeroU32::new(n).unwrap();
    /// assert_eq!(RateQuota::per_second(n(20)).burst(), n(20));
    /// assert_eq!(RateQuota::per_second(n(20)).with_burst(n(100)).burst(), n(100));
    /// ```
    pub const fn burst(&self) -> NonZeroU32 {
        self.0.burst_size()
    }

    /// The time in which the bucket regains one request.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::RateQuota;
    /// let q = RateQuota::per_second(NonZeroU32::new(4).unwrap());
    /// assert_eq!(q.replenish_interval(), Duration::from_millis(250));
    /// // A full bucket of 4 refills from empty in `burst * replenish_interval`.
    /// assert_eq!(q.replenish_interval() * q.burst().get(), Duration::from_secs(1));
    /// ```
    pub const fn replenish_interval(&self) -> Duration {
        self.0.replenish_interval()
    }
}

impl fmt::Debug for RateQuota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateQuota")
            .field("burst", &self.burst())
            .field("replenish_interval", &self.replenish_interval())
            .finish()
    }
}

/// A clock that moves only when told: makes limiter tests deterministic, without sleeps.
///
/// Clones share one time. Give it to [`TenantRateLimiterBuilder::with_clock`].
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
///     TenantId, TenantRateLimiter, UserId};
/// let clock = ManualClock::new();
/// let limiter = TenantRateLimiter::builder(RateQuota::per_second(NonZeroU32::MIN))
///     .with_clock(clock.clone())
///     .build();
/// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
///     PrincipalKind::User);
/// assert!(limiter.check(&req).is_ok());
/// assert!(limiter.check(&req).is_err());
/// clock.advance(Duration::from_secs(1));
/// assert!(limiter.check(&req).is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock(FakeRelativeClock);

impl ManualClock {
    /// A clock at its zero instant.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    ///     TenantId, TenantRateLimiter, UserId};
    /// /// A limiter under test, and the clock that drives it.
    /// fn limiter(quota: RateQuota) -> (TenantRateLimiter, ManualClock) {
    ///     let clock = ManualClock::new();
    ///     (TenantRateLimiter::builder(quota).with_clock(clock.clone()).build(), clock)
    /// }
    /// let (limiter, clock) = limiter(RateQuota::per_minute(NonZeroU32::MIN));
    /// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///     PrincipalKind::User);
    /// assert!(limiter.check(&req).is_ok());
    /// // Time stands still until the test moves it.
    /// assert!(limiter.check(&req).is_err());
    /// clock.advance(Duration::from_secs(60));
    /// assert!(limiter.check(&req).is_ok());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock (and every clone of it) forward by `by`.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    ///     TenantId, TenantRateLimiter, UserId};
    /// let clock = ManualClock::new();
    /// let quota = RateQuota::per_second(NonZeroU32::new(2).unwrap()); // one every 500 ms
    /// let api = TenantRateLimiter::builder(quota).with_clock(clock.clone()).build();
    /// let exports = TenantRateLimiter::builder(quota).with_clock(clock.clone()).build();
    /// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///     PrincipalKind::User);
    /// for limiter in [&api, &exports] {
    ///     assert!(limiter.check(&req).is_ok() && limiter.check(&req).is_ok());
    ///     assert!(limiter.check(&req).is_err());
    /// }
    /// clock.advance(Duration::from_millis(499));
    /// assert!(api.check(&req).is_err());
    /// // One advance moves the time of both limiters.
    /// clock.advance(Duration::from_millis(1));
    /// assert!(api.check(&req).is_ok() && exports.check(&req).is_ok());
    /// ```
    ///
    /// # Panics
    ///
    /// When the clock's total advance passes about 584 years.
    pub fn advance(&self, by: Duration) {
        self.0.advance(by);
    }
}

/// The clock of the buckets: real (quanta, monotonic) or manual. One type so that the limiter
/// keeps no clock type parameter and governor stays out of the public API.
#[derive(Clone)]
enum LimitClock {
    Real {
        clock: QuantaClock,
        origin: QuantaInstant,
    },
    Manual(FakeRelativeClock),
}

impl LimitClock {
    fn real() -> Self {
        let clock = QuantaClock::default();
        let origin = clock.now();
        Self::Real { clock, origin }
    }
}

impl Clock for LimitClock {
    type Instant = Nanos;

    #[inline]
    fn now(&self) -> Nanos {
        match self {
            Self::Real { clock, origin } => clock.now().duration_since(*origin),
            Self::Manual(clock) => clock.now(),
        }
    }
}

/// A key with a mode: `commit` draws from the bucket when it admits, a probe only tells whether it
/// would admit now, without changing or creating any state.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Probe<K> {
    key: K,
    commit: bool,
}

/// Hashes ids for the buckets. Keys are ids of authorised tenants and members, not free client
/// input; foldhash is seeded per map and is several times faster than SipHash on 16-32 bytes.
type KeyHasher = foldhash::fast::RandomState;

/// governor's concurrent keyed store, plus probes.
struct ProbeStore<K: Hash + Eq>(DashMapStateStore<K, KeyHasher>);

impl<K: Hash + Eq + Clone> StateStore for ProbeStore<K> {
    type Key = Probe<K>;

    fn measure_and_replace<T, F, E>(&self, probe: &Probe<K>, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if probe.commit {
            return self.0.measure_and_replace(&probe.key, f);
        }
        match self.0.get(&probe.key) {
            // An unknown key is a full bucket: decide on it without inserting the key.
            None => f(None).map(|(outcome, _)| outcome),
            // Decide on the observed state and return the decision as the store's "refused"
            // branch: the store then writes nothing (one atomic load, no compare-and-swap).
            Some(state) => match state.measure_and_replace(&NotKeyed::NonKey, |old| {
                Err::<(Infallible, Nanos), _>(f(old).map(|(outcome, _)| outcome))
            }) {
                Ok(never) => match never {},
                Err(decision) => decision,
            },
        }
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<Probe<K>> for ProbeStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.0);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

type PrincipalKey = (TenantId, UserId);

/// One quota applied to many keys.
struct Bucket<K: Hash + Eq + Clone> {
    quota: RateQuota,
    gcra: governor::RateLimiter<Probe<K>, ProbeStore<K>, LimitClock, NoOpMiddleware<Nanos>>,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(quota: RateQuota, clock: LimitClock) -> Self {
        let store = ProbeStore(DashMapStateStore::with_hasher(KeyHasher::default()));
        Self {
            quota,
            gcra: governor::RateLimiter::new(quota.0, store, clock),
        }
    }

    /// `Err(wait)` when the key's bucket is empty; draws one request when `commit` and admitted.
    #[inline]
    fn check(&self, key: K, commit: bool) -> Result<(), Duration> {
        self.gcra
            .check_key(&Probe { key, commit })
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.gcra.clock().now());
                // Refused means the earliest admission lies after the decision; keep it positive
                // even if this thread was descheduled in between.
                wait.max(Duration::from_nanos(1))
            })
    }

    fn retain_recent(&self) {
        self.gcra.retain_recent();
    }

    fn shrink_to_fit(&self) {
        self.gcra.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.gcra.len()
    }
}

impl<K: Hash + Eq + Clone> fmt::Debug for Bucket<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Quota and size only: never the keys (tenant and user ids) or their states.
        f.debug_struct("Bucket")
            .field("quota", &self.quota)
            .field("keys", &self.len())
            .finish()
    }
}

/// Quotas of one plan; `None` falls back to the limiter's default.
struct PlanBuckets {
    name: Box<str>,
    tenant: Option<Bucket<TenantId>>,
    principal: Option<Bucket<PrincipalKey>>,
}

impl fmt::Debug for PlanBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .finish()
    }
}

/// Rate limits per tenant and per (tenant, user), on governor's GCRA buckets.
///
/// - **Tenant bucket**, keyed by [`TenantId`]: every request of the tenant draws from it, whatever
///   way the tenant was selected (subdomain, header, path, id).
/// - **Principal bucket** (optional), keyed by `(TenantId, UserId)`: one user's share within one
///   tenant. A user who belongs to two tenants has two principal buckets, each charged to that
///   tenant, and every request also draws from the tenant's own bucket: nothing is multiplied,
///   because each tenant only ever pays for its own requests. The kind of caller
///   ([`PrincipalKind`](crate::PrincipalKind)) is not part of the key, so a session and an API
///   key of one user share one bucket.
/// - **Per-plan quotas** replace the default tenant and/or principal quota for tenants on that
///   plan ([`LimitRequest::plan`]); unknown plans use the defaults. Each quota has its own
///   buckets, so a tenant that changes plan starts with a full bucket of the new plan.
///
/// Both buckets must admit. Order: a probe of the tenant bucket (draws nothing), then the
/// principal bucket, then the tenant bucket. So a request refused by the tenant consumes nothing,
/// and one user over their own quota does not drain the tenant's bucket for the other members.
/// Only when two requests race for the tenant's last request can the loser have drawn one from
/// its principal bucket. When the tenant refuses, [`RateLimited::retry_after`] also covers the
/// principal bucket (the larger of the two waits).
///
/// # Memory
///
/// governor keeps one small state (a key and a 64-bit timestamp) per key it has admitted, and
/// never forgets on its own. Keys come from authorised requests only, so their number is bounded
/// by real tenants and members; still, call [`retain_recent`](Self::retain_recent) periodically
/// (for example every minute from a background task) to drop keys whose buckets have refilled:
/// those are indistinguishable from new keys, so dropping them changes no decision. Probes never
/// create keys.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::sync::Arc;
/// use tenancy_core::{LimitKind, LimitRequest, PrincipalKind, RateLimiter, RateQuota,
///     TenantId, TenantRateLimiter, UserId};
///
/// let n = |n| NonZeroU32::new(n).unwrap();
/// let limiter = Arc::new(
///     TenantRateLimiter::builder(RateQuota::per_second(n(100)))
///         .with_principal_quota(RateQuota::per_second(n(10)).with_burst(n(2)))
///         .with_plan_quota("enterprise", RateQuota::per_second(n(1000)))
///         .build(),
/// );
/// let (acme, alice) = (TenantId::new_random(), UserId::new_random());
/// let req = LimitRequest::new(acme, "free", alice, PrincipalKind::User);
/// assert!(limiter.check(&req).is_ok());
/// assert!(limiter.check(&req).is_ok());
/// let refused = limiter.check(&req).unwrap_err();
/// assert_eq!(refused.kind(), LimitKind::Principal);
///
/// // Housekeeping, from a background task.
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let housekeeping = Arc::clone(&limiter);
/// let task = tokio::spawn(async move {
///     let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
///     loop {
///         every.tick().await;
///         housekeeping.retain_recent();
///     }
/// });
/// # task.abort();
/// # });
/// ```
pub struct TenantRateLimiter {
    tenant: Bucket<TenantId>,
    principal: Option<Bucket<PrincipalKey>>,
    plans: Box<[PlanBuckets]>,
    manual_clock: bool,
}

impl TenantRateLimiter {
    /// A limiter with `tenant_quota` per tenant and nothing else.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{RateQuota, TenantRateLimiter};
    /// let limiter = TenantRateLimiter::new(RateQuota::per_second(NonZeroU32::new(50).unwrap()));
    /// assert_eq!(limiter.tracked_keys(), 0);
    /// ```
    pub fn new(tenant_quota: RateQuota) -> Self {
        Self::builder(tenant_quota).build()
    }

    /// A builder with `tenant_quota` as the default per-tenant quota.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::sync::Arc;
    /// use tenancy_core::{RateLimiter, RateQuota, TenantRateLimiter};
    /// let n = |n| NonZeroU32::new(n).unwrap();
    /// let limiter: Arc<dyn RateLimiter> = Arc::new(
    ///     TenantRateLimiter::builder(RateQuota::per_second(n(100)))
    ///         .with_principal_quota(RateQuota::per_second(n(10)))
    ///         .build(),
    /// );
    /// ```
    pub fn builder(tenant_quota: RateQuota) -> TenantRateLimiterBuilder {
        TenantRateLimiterBuilder {
            tenant: tenant_quota,
            principal: None,
            plans: Vec::new(),
            clock: None,
        }
    }

    /// Drops the keys whose buckets are full again (indistinguishable from unseen keys): no
    /// decision changes. Takes each shard's write lock briefly; call it from a background task.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    ///     TenantId, TenantRateLimiter, UserId};
    /// let clock = ManualClock::new();
    /// let limiter = TenantRateLimiter::builder(RateQuota::per_second(NonZeroU32::MIN))
    ///     .with_clock(clock.clone())
    ///     .build();
    /// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///     PrincipalKind::User);
    /// limiter.check(&req).unwrap();
    /// limiter.retain_recent();
    /// assert_eq!(limiter.tracked_keys(), 1); // its bucket is not full yet
    /// clock.advance(Duration::from_secs(2));
    /// limiter.retain_recent();
    /// assert_eq!(limiter.tracked_keys(), 0); // refilled: forgotten
    /// ```
    pub fn retain_recent(&self) {
        self.for_each_bucket(
            |b| b.retain_recent(),
            |b: &Bucket<PrincipalKey>| b.retain_recent(),
        );
    }

    /// Releases memory left over after [`retain_recent`](Self::retain_recent) dropped keys.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    ///     TenantId, TenantRateLimiter, UserId};
    /// let clock = ManualClock::new();
    /// let limiter = TenantRateLimiter::builder(RateQuota::per_second(NonZeroU32::MIN))
    ///     .with_clock(clock.clone())
    ///     .build();
    /// // A burst of traffic from many tenants, then quiet.
    /// for _ in 0..1000 {
    ///     let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///         PrincipalKind::User);
    ///     limiter.check(&req).unwrap();
    /// }
    /// clock.advance(Duration::from_secs(60));
    /// limiter.retain_recent();
    /// limiter.shrink_to_fit();
    /// assert_eq!(limiter.tracked_keys(), 0);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.for_each_bucket(|b| b.shrink_to_fit(), |b| b.shrink_to_fit());
    }

    /// How many keys (tenants and (tenant, user) pairs, over all plans) hold state now.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{LimitRequest, PrincipalKind, RateLimiter, RateQuota, TenantId,
    ///     TenantRateLimiter, UserId};
    /// let q = RateQuota::per_second(NonZeroU32::new(5).unwrap());
    /// let limiter = TenantRateLimiter::builder(q).with_principal_quota(q).build();
    /// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///     PrincipalKind::User);
    /// limiter.check(&req).unwrap();
    /// assert_eq!(limiter.tracked_keys(), 2);
    /// ```
    pub fn tracked_keys(&self) -> usize {
        let mut n = 0;
        self.for_each_bucket(|b| n += b.len(), |_| {});
        self.for_each_bucket(|_| {}, |b| n += b.len());
        n
    }

    fn for_each_bucket(
        &self,
        mut tenant: impl FnMut(&Bucket<TenantId>),
        mut principal: impl FnMut(&Bucket<PrincipalKey>),
    ) {
        tenant(&self.tenant);
        if let Some(b) = &self.principal {
            principal(b);
        }
        for plan in &*self.plans {
            if let Some(b) = &plan.tenant {
                tenant(b);
            }
            if let Some(b) = &plan.principal {
                principal(b);
            }
        }
    }
}

impl RateLimiter for TenantRateLimiter {
    fn check(&self, req: &LimitRequest<'_>) -> Result<(), RateLimited> {
        // Plans are few: a linear scan beats hashing the name.
        let plan = self.plans.iter().find(|p| *p.name == *req.plan);
        let tenant = plan.and_then(|p| p.tenant.as_ref()).unwrap_or(&self.tenant);
        let principal = plan
            .and_then(|p| p.principal.as_ref())
            .or(self.principal.as_ref());
        let refused_by_tenant = |wait| RateLimited::new(LimitKind::Tenant, wait);

        let Some(principal) = principal else {
            return tenant.check(req.tenant, true).map_err(refused_by_tenant);
        };
        let principal_key = (req.tenant, req.user);
        if let Err(wait) = tenant.check(req.tenant, false) {
            // Nothing drawn. Report when both buckets will admit.
            let wait = match principal.check(principal_key, false) {
                Err(principal_wait) => wait.max(principal_wait),
                Ok(()) => wait,
            };
            return Err(refused_by_tenant(wait));
        }
        principal
            .check(principal_key, true)
            .map_err(|wait| RateLimited::new(LimitKind::Principal, wait))?;
        tenant.check(req.tenant, true).map_err(refused_by_tenant)
    }
}

impl fmt::Debug for TenantRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantRateLimiter")
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .field("plans", &self.plans)
            .field("clock", &if self.manual_clock { "manual" } else { "real" })
            .finish()
    }
}

/// Builds a [`TenantRateLimiter`].
///
/// ```
/// use std::num::NonZeroU32;
/// use tenancy_core::{RateQuota, TenantRateLimiter};
/// let n = |n| NonZeroU32::new(n).unwrap();
/// let limiter = TenantRateLimiter::builder(RateQuota::per_second(n(20)))
///     .with_principal_quota(RateQuota::per_second(n(5)))
///     .with_plan_quota("pro", RateQuota::per_second(n(200)))
///     .with_plan_principal_quota("pro", RateQuota::per_second(n(50)))
///     .build();
/// assert!(format!("{limiter:?}").contains("pro"));
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct TenantRateLimiterBuilder {
    tenant: RateQuota,
    principal: Option<RateQuota>,
    plans: Vec<(String, Option<RateQuota>, Option<RateQuota>)>,
    clock: Option<ManualClock>,
}

impl TenantRateLimiterBuilder {
    /// Limits each user within each tenant to `quota`, on top of the tenant's quota.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{LimitKind, LimitRequest, PrincipalKind, RateLimiter, RateQuota, TenantId,
    ///     TenantRateLimiter, UserId};
    /// let n = |n| NonZeroU32::new(n).unwrap();
    /// let limiter = TenantRateLimiter::builder(RateQuota::per_minute(n(100)))
    ///     .with_principal_quota(RateQuota::per_minute(n(2)))
    ///     .build();
    /// let acme = TenantId::new_random();
    /// let (alice, bob) = (UserId::new_random(), UserId::new_random());
    /// let as_user = |user| LimitRequest::new(acme, "free", user, PrincipalKind::User);
    /// assert!(limiter.check(&as_user(alice)).is_ok() && limiter.check(&as_user(alice)).is_ok());
    /// // Alice has used her share; Bob, in the same tenant, still gets through.
    /// assert_eq!(limiter.check(&as_user(alice)).unwrap_err().kind(), LimitKind::Principal);
    /// assert!(limiter.check(&as_user(bob)).is_ok());
    /// ```
    pub fn with_principal_quota(mut self, quota: RateQuota) -> Self {
        self.principal = Some(quota);
        self
    }

    /// Tenants on `plan` get `quota` instead of the default tenant quota. Called twice for one
    /// plan, the last quota wins.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{LimitRequest, PrincipalKind, RateLimiter, RateQuota, TenantId,
    ///     TenantRateLimiter, UserId};
    /// let n = |n| NonZeroU32::new(n).unwrap();
    /// let limiter = TenantRateLimiter::builder(RateQuota::per_minute(n(2)))
    ///     .with_plan_quota("pro", RateQuota::per_minute(n(5)))
    ///     .build();
    /// let admitted = |plan| {
    ///     let req = LimitRequest::new(TenantId::new_random(), plan, UserId::new_random(),
    ///         PrincipalKind::User);
    ///     (0..10).filter(|_| limiter.check(&req).is_ok()).count()
    /// };
    /// assert_eq!(admitted("free"), 2); // an unknown plan gets the default
    /// assert_eq!(admitted("pro"), 5);
    /// ```
    pub fn with_plan_quota(mut self, plan: impl Into<String>, quota: RateQuota) -> Self {
        self.plan_mut(plan.into()).1 = Some(quota);
        self
    }

    /// Users of tenants on `plan` get `quota` instead of the default principal quota (and are
    /// limited per principal even when no default principal quota is set).
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use tenancy_core::{LimitKind, LimitRequest, PrincipalKind, RateLimiter, RateQuota, TenantId,
    ///     TenantRateLimiter, UserId};
    /// let n = |n| NonZeroU32::new(n).unwrap();
    /// // Pro tenants share a big bucket; no single user may take more than 3 of it.
    /// let limiter = TenantRateLimiter::builder(RateQuota::per_minute(n(10)))
    ///     .with_plan_quota("pro", RateQuota::per_minute(n(1000)))
    ///     .with_plan_principal_quota("pro", RateQuota::per_minute(n(3)))
    ///     .build();
    /// let req = LimitRequest::new(TenantId::new_random(), "pro", UserId::new_random(),
    ///     PrincipalKind::User);
    /// let admitted = (0..10).filter(|_| limiter.check(&req).is_ok()).count();
    /// assert_eq!(admitted, 3);
    /// assert_eq!(limiter.check(&req).unwrap_err().kind(), LimitKind::Principal);
    /// ```
    pub fn with_plan_principal_quota(mut self, plan: impl Into<String>, quota: RateQuota) -> Self {
        self.plan_mut(plan.into()).2 = Some(quota);
        self
    }

    /// Uses `clock` instead of the real clock (for tests).
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::time::Duration;
    /// use tenancy_core::{LimitRequest, ManualClock, PrincipalKind, RateLimiter, RateQuota,
    ///     TenantId, TenantRateLimiter, UserId};
    /// let clock = ManualClock::new();
    /// let limiter = TenantRateLimiter::builder(RateQuota::per_second(NonZeroU32::new(4).unwrap()))
    ///     .with_clock(clock.clone())
    ///     .build();
    /// let req = LimitRequest::new(TenantId::new_random(), "free", UserId::new_random(),
    ///     PrincipalKind::User);
    /// (0..4).for_each(|_| limiter.check(&req).unwrap());
    /// // On a manual clock the wait is exact: no sleeps, no flaky margins.
    /// let refused = limiter.check(&req).unwrap_err();
    /// assert_eq!(refused.retry_after(), Duration::from_millis(250));
    /// ```
    pub fn with_clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    fn plan_mut(&mut self, plan: String) -> &mut (String, Option<RateQuota>, Option<RateQuota>) {
        let at = match self.plans.iter().position(|p| p.0 == plan) {
            Some(at) => at,
            None => {
                self.plans.push((plan, None, None));
                self.plans.len() - 1
            }
        };
        &mut self.plans[at]
    }

    /// The limiter.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    /// use std::sync::Arc;
    /// use tenancy_core::{RateLimiter, RateQuota, TenantRateLimiter};
    /// let quota = RateQuota::per_second(NonZeroU32::new(50).unwrap());
    /// // One limiter for the whole process, shared by every request (and the housekeeping task).
    /// let limiter = Arc::new(TenantRateLimiter::builder(quota).build());
    /// let for_pipeline: Arc<dyn RateLimiter> = limiter.clone();
    /// ```
    pub fn build(self) -> TenantRateLimiter {
        let manual_clock = self.clock.is_some();
        let clock = match self.clock {
            Some(ManualClock(clock)) => LimitClock::Manual(clock),
            None => LimitClock::real(),
        };
        let plans = self
            .plans
            .into_iter()
            .map(|(name, tenant, principal)| PlanBuckets {
                name: name.into_boxed_str(),
                tenant: tenant.map(|q| Bucket::new(q, clock.clone())),
                principal: principal.map(|q| Bucket::new(q, clock.clone())),
            })
            .collect();
        TenantRateLimiter {
            tenant: Bucket::new(self.tenant, clock.clone()),
            principal: self.principal.map(|q| Bucket::new(q, clock.clone())),
            plans,
            manual_clock,
        }
    }
}

impl fmt::Debug for TenantRateLimiterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantRateLimiterBuilder")
            .field("tenant", &self.tenant)
            .field("principal", &self.principal)
            .field("plans", &self.plans)
            .field("manual_clock", &self.clock.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::PrincipalKind;

    fn n(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn manual(quota: RateQuota) -> (Bucket<TenantId>, ManualClock) {
        let clock = ManualClock::new();
        (
            Bucket::new(quota, LimitClock::Manual(clock.0.clone())),
            clock,
        )
    }

    #[test]
    fn probes_draw_nothing_and_create_no_key() {
        let (bucket, _clock) = manual(RateQuota::per_second(n(2)));
        let t = TenantId::new_random();
        for _ in 0..10 {
            assert_eq!(bucket.check(t, false), Ok(()));
        }
        assert_eq!(bucket.len(), 0, "a probe inserted a key");
        assert_eq!(bucket.check(t, true), Ok(()));
        for _ in 0..10 {
            assert_eq!(bucket.check(t, false), Ok(()));
        }
        assert_eq!(bucket.check(t, true), Ok(()));
        assert!(bucket.check(t, false).is_err(), "probe of an empty bucket");
        assert!(bucket.check(t, true).is_err());
        assert_eq!(bucket.len(), 1);
    }

    #[test]
    fn a_probe_refusal_reports_the_same_wait_as_a_commit() {
        let (bucket, clock) = manual(RateQuota::per_second(n(4)));
        let t = TenantId::new_random();
        for _ in 0..4 {
            bucket.check(t, true).unwrap();
        }
        clock.advance(Duration::from_millis(100));
        let probed = bucket.check(t, false).unwrap_err();
        let committed = bucket.check(t, true).unwrap_err();
        assert_eq!(probed, committed);
        assert_eq!(probed, Duration::from_millis(150));
    }

    #[test]
    fn real_clock_moves_forward() {
        let clock = LimitClock::real();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
    }

    #[test]
    fn debug_shows_quotas_and_counts_not_keys() {
        let q = RateQuota::per_second(n(3));
        let limiter = TenantRateLimiter::builder(q)
            .with_principal_quota(q)
            .with_plan_quota("pro", q.with_burst(n(9)))
            .with_clock(ManualClock::new())
            .build();
        let (t, u) = (TenantId::new_random(), UserId::new_random());
        limiter
            .check(&LimitRequest::new(t, "free", u, PrincipalKind::User))
            .unwrap();
        let out = format!("{limiter:?}");
        assert!(!out.contains(&t.to_string()), "{out}");
        assert!(!out.contains(&u.to_string()), "{out}");
        assert!(out.contains("keys: 1"), "{out}");
        assert!(out.contains("\"pro\""), "{out}");
        assert!(out.contains("manual"), "{out}");
    }

    #[test]
    fn builder_last_plan_quota_wins() {
        let b = TenantRateLimiter::builder(RateQuota::per_second(n(1)))
            .with_plan_quota("pro", RateQuota::per_second(n(2)))
            .with_plan_principal_quota("pro", RateQuota::per_second(n(3)))
            .with_plan_quota("pro", RateQuota::per_second(n(4)));
        assert_eq!(b.plans.len(), 1);
        assert_eq!(b.plans[0].1, Some(RateQuota::per_second(n(4))));
        assert_eq!(b.plans[0].2, Some(RateQuota::per_second(n(3))));
    }
}
