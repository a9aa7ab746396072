//! Registry caches and the invalidation hooks store backends call after a change.
//!
//! The hook traits ([`TenantCacheInvalidator`], [`MembershipCacheInvalidator`]) are always
//! available, so a store backend (for example `tenancy-sqlx`'s tenant store) can accept an
//! `Arc<dyn TenantCacheInvalidator>` and call it after it suspends, deletes or renames a tenant,
//! or revokes a membership, whether or not the `cache` feature is enabled. The moka-backed
//! caching stores themselves need the `cache` feature.

use std::sync::Arc;

use crate::{TenantId, TenantSlug, UserId};

/// Evicts one tenant from whatever cache wraps a tenant store.
///
/// Call it after any change to a tenant that the cache could be serving stale: status change
/// (suspend, delete, reactivate), slug rename, isolation change. It is synchronous and cheap, so
/// it can run right after the database commit, before the response is sent.
///
/// Implementations must evict *both* the id entry and every slug entry of the tenant (the old
/// slug of a renamed tenant included) and the negative entry of `slug`, so that after this call
/// returns no lookup by id or by slug answers from data older than the call.
///
/// `()` is a no-op implementation, for backends used without a cache.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::{TenantCacheInvalidator, TenantId, TenantSlug};
///
/// // A backend keeps an optional hook and calls it after a status change.
/// struct Backend { on_change: Arc<dyn TenantCacheInvalidator> }
/// impl Backend {
///     fn after_suspend(&self, id: TenantId, slug: &TenantSlug) {
///         self.on_change.invalidate(id, slug);
///     }
/// }
/// let backend = Backend { on_change: Arc::new(()) };
/// backend.after_suspend(TenantId::new_random(), &"acme".parse()?);
/// # Ok::<(), tenancy_core::SlugError>(())
/// ```
pub trait TenantCacheInvalidator: Send + Sync {
    /// Evicts every cached entry of tenant `id`, and any cached entry (positive or negative)
    /// for `slug`.
    fn invalidate(&self, id: TenantId, slug: &TenantSlug);
}

impl TenantCacheInvalidator for () {
    fn invalidate(&self, _id: TenantId, _slug: &TenantSlug) {}
}

impl<T: TenantCacheInvalidator + ?Sized> TenantCacheInvalidator for Arc<T> {
    fn invalidate(&self, id: TenantId, slug: &TenantSlug) {
        (**self).invalidate(id, slug);
    }
}

/// Evicts memberships from whatever cache wraps a membership store.
///
/// Call [`invalidate_membership`](Self::invalidate_membership) after a role change or a
/// revocation, and [`invalidate_tenant_memberships`](Self::invalidate_tenant_memberships) after a
/// bulk change (tenant deleted, members imported). Both are synchronous and cheap.
///
/// `()` is a no-op implementation.
pub trait MembershipCacheInvalidator: Send + Sync {
    /// Evicts the cached role (or cached absence) of `user` in `tenant`.
    fn invalidate_membership(&self, tenant: TenantId, user: UserId);

    /// Evicts every cached membership of `tenant`.
    fn invalidate_tenant_memberships(&self, tenant: TenantId);
}

impl MembershipCacheInvalidator for () {
    fn invalidate_membership(&self, _tenant: TenantId, _user: UserId) {}
    fn invalidate_tenant_memberships(&self, _tenant: TenantId) {}
}

impl<T: MembershipCacheInvalidator + ?Sized> MembershipCacheInvalidator for Arc<T> {
    fn invalidate_membership(&self, tenant: TenantId, user: UserId) {
        (**self).invalidate_membership(tenant, user);
    }
    fn invalidate_tenant_memberships(&self, tenant: TenantId) {
        (**self).invalidate_tenant_memberships(tenant);
    }
}

#[cfg(feature = "cache")]
pub use caching::{
    CachingMembershipStore, CachingMembershipStoreBuilder, CachingTenantStore,
    CachingTenantStoreBuilder,
};

#[cfg(feature = "cache")]
mod caching {
    use std::collections::HashMap;
    use std::fmt;
    use std::hash::Hash;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use moka::Expiry;
    use moka::future::Cache;
    use tokio::time::Instant;

    use super::{MembershipCacheInvalidator, TenantCacheInvalidator};
    use crate::store::{MembershipStore, StoreError, TenantKey, TenantStore};
    use crate::{Role, Tenant, TenantId, TenantSlug, TenantStatus, UserId};

    /// How many times a lookup retries when its freshly loaded entry was invalidated while it
    /// loaded, before it reads the inner store directly (uncached).
    const MAX_RELOADS: usize = 3;

    /// One cached answer. `Option` because absence is cached too (negative caching).
    #[derive(Clone)]
    struct Entry<V> {
        value: Option<V>,
        /// When the load started, on tokio's clock (so tests can pause and advance it).
        loaded_at: Instant,
        /// The invalidation epoch observed before the load started.
        epoch: u64,
    }

    /// Invalidation records, per invalidation key: (epoch of the invalidation, when).
    struct Invalidations<D> {
        records: HashMap<D, (u64, Instant)>,
    }

    /// The machinery shared by both caching stores.
    ///
    /// Correctness does not rest on moka's eviction alone: an entry is served only when it is
    /// younger than its TTL on tokio's clock *and* no invalidation of any of its invalidation keys
    /// happened after its load started. That closes the race where a load that read the old row
    /// inserts its result after an invalidation ran (moka's own `invalidate` cannot see an entry
    /// that is inserted later).
    struct Core<K, V, D> {
        cache: Cache<K, Entry<V>>,
        ttl: Duration,
        negative_ttl: Duration,
        epoch: AtomicU64,
        invalidations: Mutex<Invalidations<D>>,
    }

    struct TtlExpiry {
        ttl: Duration,
        negative_ttl: Duration,
    }

    impl<K, V> Expiry<K, Entry<V>> for TtlExpiry {
        fn expire_after_create(
            &self,
            _key: &K,
            value: &Entry<V>,
            _created_at: std::time::Instant,
        ) -> Option<Duration> {
            Some(if value.value.is_some() {
                self.ttl
            } else {
                self.negative_ttl
            })
        }

        fn expire_after_update(
            &self,
            key: &K,
            value: &Entry<V>,
            updated_at: std::time::Instant,
            _duration_until_expiry: Option<Duration>,
        ) -> Option<Duration> {
            self.expire_after_create(key, value, updated_at)
        }
    }

    impl<K, V, D> Core<K, V, D>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        D: Hash + Eq,
    {
        fn new(ttl: Duration, negative_ttl: Duration, max_capacity: u64) -> Self {
            let cache = Cache::builder()
                .max_capacity(max_capacity)
                .expire_after(TtlExpiry { ttl, negative_ttl })
                .build();
            Self {
                cache,
                ttl,
                negative_ttl,
                epoch: AtomicU64::new(0),
                invalidations: Mutex::new(Invalidations {
                    records: HashMap::new(),
                }),
            }
        }

        /// Records an invalidation of `keys`. Entries whose load started before this call are
        /// never served again.
        fn invalidate(&self, keys: impl IntoIterator<Item = D>) {
            let now = Instant::now();
            let horizon = self.ttl.max(self.negative_ttl);
            // A poisoned lock only means another invalidation panicked mid-way; the map is
            // still a valid map, so keep going (failing to record would serve stale data).
            let mut inv = self
                .invalidations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
            // Records older than the longest TTL can go: every entry they could reject has
            // expired by then anyway.
            inv.records
                .retain(|_, (_, at)| now.saturating_duration_since(*at) <= horizon);
            for key in keys {
                inv.records.insert(key, (epoch, now));
            }
        }

        /// Whether `entry` may still be served, given its invalidation keys. `check_ttl` is
        /// false for an entry this very call just loaded (it is as fresh as a direct read, even
        /// with a zero TTL), true for one found in the cache.
        ///
        /// The keys are produced by `deps` only when some invalidation happened since the load
        /// started: the common case (no invalidation at all) builds and clones nothing.
        fn is_fresh<I>(&self, entry: &Entry<V>, deps: impl FnOnce() -> I, check_ttl: bool) -> bool
        where
            I: IntoIterator<Item = D>,
        {
            let ttl = if entry.value.is_some() {
                self.ttl
            } else {
                self.negative_ttl
            };
            if check_ttl && Instant::now().saturating_duration_since(entry.loaded_at) >= ttl {
                return false;
            }
            if self.epoch.load(Ordering::SeqCst) == entry.epoch {
                return true; // nothing was invalidated since the load started
            }
            let inv = self
                .invalidations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            deps().into_iter().all(|d| {
                inv.records
                    .get(&d)
                    .is_none_or(|(epoch, _)| *epoch <= entry.epoch)
            })
        }

        /// Looks `key` up, loading through `load` on a miss. Concurrent misses for one key
        /// share one load. Errors are returned, never cached.
        ///
        /// A hit that is still fresh is answered by a plain moka `get` (a small future, no
        /// allocation); everything else (miss, stale or invalidated entry) takes the loading
        /// path, boxed so that its much larger future does not weigh on every hit.
        async fn get<F, Fut, I>(
            &self,
            key: &K,
            what: &'static str,
            load: F,
            deps: impl Fn(&K, &Option<V>) -> I,
        ) -> Result<(Entry<V>, bool), StoreError>
        where
            F: Fn() -> Fut,
            Fut: Future<Output = Result<Option<V>, StoreError>>,
            I: IntoIterator<Item = D>,
        {
            if let Some(entry) = self.cache.get(key).await
                && self.is_fresh(&entry, || deps(key, &entry.value), true)
            {
                return Ok((entry, false));
            }
            Box::pin(self.load(key, what, load, deps)).await
        }

        /// The miss path of [`get`](Self::get): get-or-load through moka (one load shared by
        /// concurrent misses), re-checking freshness, at most [`MAX_RELOADS`] times.
        async fn load<F, Fut, I>(
            &self,
            key: &K,
            what: &'static str,
            load: F,
            deps: impl Fn(&K, &Option<V>) -> I,
        ) -> Result<(Entry<V>, bool), StoreError>
        where
            F: Fn() -> Fut,
            Fut: Future<Output = Result<Option<V>, StoreError>>,
            I: IntoIterator<Item = D>,
        {
            for _ in 0..MAX_RELOADS {
                let loaded_here = std::sync::atomic::AtomicBool::new(false);
                let entry = self
                    .cache
                    .try_get_with_by_ref(key, async {
                        loaded_here.store(true, Ordering::Relaxed);
                        let loaded_at = Instant::now();
                        let epoch = self.epoch.load(Ordering::SeqCst);
                        let value = load().await?;
                        Ok::<_, StoreError>(Entry {
                            value,
                            loaded_at,
                            epoch,
                        })
                    })
                    .await
                    .map_err(|e| StoreError::new(what, e))?;
                let loaded_here = loaded_here.load(Ordering::Relaxed);
                if self.is_fresh(&entry, || deps(key, &entry.value), !loaded_here) {
                    return Ok((entry, loaded_here));
                }
                self.cache.invalidate(key).await;
            }
            // Invalidations keep racing this key's loads: answer from the store, uncached.
            let loaded_at = Instant::now();
            let epoch = self.epoch.load(Ordering::SeqCst);
            let value = load().await?;
            Ok((
                Entry {
                    value,
                    loaded_at,
                    epoch,
                },
                false,
            ))
        }
    }

    // ----------------------------------------------------------------------------------------
    // Tenants

    /// Invalidation key of a tenant entry: the tenant id (covers every slug it had), or a slug
    /// (covers negative entries and slug reuse).
    #[derive(Clone, PartialEq, Eq, Hash)]
    enum TenantDep {
        Id(TenantId),
        Slug(TenantSlug),
    }

    fn tenant_deps(key: &TenantKey, value: &Option<Tenant>) -> Vec<TenantDep> {
        let mut deps = Vec::with_capacity(3);
        match key {
            TenantKey::Id(id) => deps.push(TenantDep::Id(*id)),
            TenantKey::Slug(s) => deps.push(TenantDep::Slug(s.clone())),
        }
        if let Some(t) = value {
            deps.push(TenantDep::Id(t.id));
            deps.push(TenantDep::Slug(t.slug.clone()));
        }
        deps
    }

    /// A [`TenantStore`] that caches another one with moka.
    ///
    /// - Lookups by id and by slug share one cache: a load by slug also fills the id entry and
    ///   vice versa, so both answer the same tenant.
    /// - Unknown keys are cached too (negative caching), with their own, shorter TTL.
    /// - Store errors are never cached: the next lookup asks the store again.
    /// - Concurrent misses for the same key share one load of the inner store.
    /// - [`invalidate_id`](Self::invalidate_id), [`invalidate_slug`](Self::invalidate_slug) and
    ///   [`TenantCacheInvalidator::invalidate`] evict every entry of the tenant: by id, by its
    ///   current slug and by any former slug still cached (a renamed tenant), and the negative
    ///   entry of the slug. A load that was already running when the invalidation happened is
    ///   not served afterwards.
    ///
    /// **Bound (ATTACKS 36):** a change made behind the library's back (SQL by hand, another
    /// process without a shared invalidation channel) is visible at the latest after the TTL
    /// (default 30 s; unknown keys 5 s). A change made through a backend that calls the
    /// invalidator is visible immediately after the call returns.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantCacheInvalidator,
    ///     TenantId, TenantKey, TenantStatus, TenantStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let db = InMemoryTenantStore::new();
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// db.insert(acme.clone());
    /// let cached = Arc::new(
    ///     CachingTenantStore::builder(db.clone())
    ///         .with_ttl(Duration::from_secs(60))
    ///         .with_negative_ttl(Duration::from_secs(5))
    ///         .build(),
    /// );
    /// assert!(cached.get(&TenantKey::Slug(acme.slug.clone())).await.unwrap().is_some());
    ///
    /// // Suspend in the backing store, then tell the cache.
    /// db.insert(acme.clone().with_status(TenantStatus::Suspended));
    /// cached.invalidate(acme.id, &acme.slug);
    /// let t = cached.get(&TenantKey::Id(acme.id)).await.unwrap().unwrap();
    /// assert_eq!(t.status, TenantStatus::Suspended);
    /// # });
    /// ```
    pub struct CachingTenantStore<S> {
        inner: S,
        core: Core<TenantKey, Tenant, TenantDep>,
    }

    impl<S> fmt::Debug for CachingTenantStore<S> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CachingTenantStore")
                .field("ttl", &self.core.ttl)
                .field("negative_ttl", &self.core.negative_ttl)
                .field("entries", &self.core.cache.entry_count())
                .finish_non_exhaustive()
        }
    }

    /// Builder for [`CachingTenantStore`].
    #[derive(Debug)]
    #[must_use = "call `build` to get the store"]
    pub struct CachingTenantStoreBuilder<S> {
        inner: S,
        ttl: Duration,
        negative_ttl: Duration,
        max_capacity: u64,
    }

    impl<S> CachingTenantStoreBuilder<S> {
        /// How long a found tenant is served from the cache (default 30 s).
        pub fn with_ttl(mut self, ttl: Duration) -> Self {
            self.ttl = ttl;
            self
        }

        /// How long an unknown key is remembered as unknown (default 5 s).
        pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
            self.negative_ttl = ttl;
            self
        }

        /// The most entries kept; each tenant takes up to two (id and slug). Default 20 000.
        pub fn with_max_capacity(mut self, entries: u64) -> Self {
            self.max_capacity = entries;
            self
        }

        /// Builds the store.
        pub fn build(self) -> CachingTenantStore<S> {
            CachingTenantStore {
                inner: self.inner,
                core: Core::new(self.ttl, self.negative_ttl, self.max_capacity),
            }
        }
    }

    impl<S> CachingTenantStore<S> {
        /// Default TTL of a found tenant.
        pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
        /// Default TTL of an unknown key.
        pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);

        /// Wraps `inner` with the default settings.
        pub fn new(inner: S) -> Self
        where
            S: TenantStore,
        {
            Self::builder(inner).build()
        }

        /// A builder wrapping `inner`.
        pub fn builder(inner: S) -> CachingTenantStoreBuilder<S> {
            CachingTenantStoreBuilder {
                inner,
                ttl: Self::DEFAULT_TTL,
                negative_ttl: Self::DEFAULT_NEGATIVE_TTL,
                max_capacity: 20_000,
            }
        }

        /// The wrapped store.
        pub fn inner(&self) -> &S {
            &self.inner
        }

        /// Evicts every entry of tenant `id` (its id entry and any slug entry pointing at it).
        pub fn invalidate_id(&self, id: TenantId) {
            self.core.invalidate([TenantDep::Id(id)]);
        }

        /// Evicts the entry for `slug` (positive or negative) and, when it pointed at a
        /// tenant, every other entry of that tenant.
        pub fn invalidate_slug(&self, slug: &TenantSlug) {
            self.core.invalidate([TenantDep::Slug(slug.clone())]);
        }

        /// Evicts everything.
        pub fn invalidate_all(&self) {
            self.core.cache.invalidate_all();
        }
    }

    impl<S: TenantStore> TenantCacheInvalidator for CachingTenantStore<S> {
        fn invalidate(&self, id: TenantId, slug: &TenantSlug) {
            self.core
                .invalidate([TenantDep::Id(id), TenantDep::Slug(slug.clone())]);
        }
    }

    #[async_trait]
    impl<S: TenantStore> TenantStore for CachingTenantStore<S> {
        async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
            let (entry, loaded_here) = self
                .core
                .get(key, "tenant cache", || self.inner.get(key), tenant_deps)
                .await?;
            // Fill the other key of the tenant so id and slug lookups agree. Never the slug of a
            // deleted tenant: a slug names the live tenant that holds it, and a deleted tenant's
            // slug may already belong to a new one (read by id, the old record must not shadow it).
            if loaded_here && let Some(t) = &entry.value {
                let other = match key {
                    TenantKey::Id(_) if t.status == TenantStatus::Deleted => None,
                    TenantKey::Id(_) => Some(TenantKey::Slug(t.slug.clone())),
                    TenantKey::Slug(_) => Some(TenantKey::Id(t.id)),
                };
                if let Some(other) = other {
                    self.core.cache.insert(other, entry.clone()).await;
                }
            }
            // A slug entry must still agree with its key (a stale rename is caught by the
            // invalidation records; this is a cheap belt and braces).
            Ok(entry.value.filter(|t| match key {
                TenantKey::Id(id) => t.id == *id,
                TenantKey::Slug(s) => t.slug == *s,
            }))
        }
    }

    // ----------------------------------------------------------------------------------------
    // Memberships

    #[derive(Clone, PartialEq, Eq, Hash)]
    enum MemberDep {
        Member(TenantId, UserId),
        Tenant(TenantId),
    }

    /// A [`MembershipStore`] that caches another one with moka, keyed by `(tenant, user)` — the
    /// tenant is always part of the key, so a role in one tenant never answers for another
    /// (ATTACKS 33, 36).
    ///
    /// Absence (not a member) is cached too, with its own TTL. Store errors are not cached.
    /// Concurrent misses for one key share one load.
    ///
    /// **Bound (ATTACKS 29, 36):** a membership revoked or changed behind the library's back keeps
    /// working for at most the TTL (default 10 s). Revoked through a backend that calls
    /// [`MembershipCacheInvalidator::invalidate_membership`] (or
    /// [`invalidate`](Self::invalidate)), it stops working as soon as the call returns, including
    /// for lookups that were already loading the old role.
    ///
    /// ```
    /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore, Role,
    ///     TenantId, UserId};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let db = InMemoryMembershipStore::new();
    /// let (acme, alice) = (TenantId::new_random(), UserId::new_random());
    /// db.insert(acme, alice, Role::Admin);
    /// let cached = CachingMembershipStore::new(db.clone());
    /// assert_eq!(cached.role_of(acme, alice).await.unwrap(), Some(Role::Admin));
    ///
    /// db.remove(acme, alice);
    /// cached.invalidate(acme, alice);
    /// assert_eq!(cached.role_of(acme, alice).await.unwrap(), None);
    /// # });
    /// ```
    pub struct CachingMembershipStore<M> {
        inner: M,
        core: Core<(TenantId, UserId), Role, MemberDep>,
    }

    impl<M> fmt::Debug for CachingMembershipStore<M> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("CachingMembershipStore")
                .field("ttl", &self.core.ttl)
                .field("negative_ttl", &self.core.negative_ttl)
                .field("entries", &self.core.cache.entry_count())
                .finish_non_exhaustive()
        }
    }

    /// Builder for [`CachingMembershipStore`].
    #[derive(Debug)]
    #[must_use = "call `build` to get the store"]
    pub struct CachingMembershipStoreBuilder<M> {
        inner: M,
        ttl: Duration,
        negative_ttl: Duration,
        max_capacity: u64,
    }

    impl<M> CachingMembershipStoreBuilder<M> {
        /// How long a role is served from the cache (default 10 s). This is the bound on how
        /// long a revocation made behind the library's back keeps working.
        pub fn with_ttl(mut self, ttl: Duration) -> Self {
            self.ttl = ttl;
            self
        }

        /// How long "not a member" is remembered (default 5 s).
        pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
            self.negative_ttl = ttl;
            self
        }

        /// The most `(tenant, user)` entries kept. Default 100 000.
        pub fn with_max_capacity(mut self, entries: u64) -> Self {
            self.max_capacity = entries;
            self
        }

        /// Builds the store.
        pub fn build(self) -> CachingMembershipStore<M> {
            CachingMembershipStore {
                inner: self.inner,
                core: Core::new(self.ttl, self.negative_ttl, self.max_capacity),
            }
        }
    }

    impl<M> CachingMembershipStore<M> {
        /// Default TTL of a cached role.
        pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
        /// Default TTL of a cached "not a member".
        pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);

        /// Wraps `inner` with the default settings.
        pub fn new(inner: M) -> Self
        where
            M: MembershipStore,
        {
            Self::builder(inner).build()
        }

        /// A builder wrapping `inner`.
        pub fn builder(inner: M) -> CachingMembershipStoreBuilder<M> {
            CachingMembershipStoreBuilder {
                inner,
                ttl: Self::DEFAULT_TTL,
                negative_ttl: Self::DEFAULT_NEGATIVE_TTL,
                max_capacity: 100_000,
            }
        }

        /// The wrapped store.
        pub fn inner(&self) -> &M {
            &self.inner
        }

        /// Evicts the cached role (or absence) of `user` in `tenant`.
        pub fn invalidate(&self, tenant: TenantId, user: UserId) {
            self.core.invalidate([MemberDep::Member(tenant, user)]);
        }

        /// Evicts every cached membership of `tenant`.
        pub fn invalidate_tenant(&self, tenant: TenantId) {
            self.core.invalidate([MemberDep::Tenant(tenant)]);
        }
    }

    impl<M: MembershipStore> MembershipCacheInvalidator for CachingMembershipStore<M> {
        fn invalidate_membership(&self, tenant: TenantId, user: UserId) {
            self.invalidate(tenant, user);
        }

        fn invalidate_tenant_memberships(&self, tenant: TenantId) {
            self.invalidate_tenant(tenant);
        }
    }

    #[async_trait]
    impl<M: MembershipStore> MembershipStore for CachingMembershipStore<M> {
        async fn role_of(
            &self,
            tenant: TenantId,
            user: UserId,
        ) -> Result<Option<Role>, StoreError> {
            let (entry, _) = self
                .core
                .get(
                    &(tenant, user),
                    "membership cache",
                    || self.inner.role_of(tenant, user),
                    |(t, u), _| [MemberDep::Member(*t, *u), MemberDep::Tenant(*t)],
                )
                .await?;
            Ok(entry.value)
        }
    }
}
