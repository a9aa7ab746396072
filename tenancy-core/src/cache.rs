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
///
/// ```
/// # #[cfg(feature = "cache")] {
/// use std::sync::Arc;
/// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipCacheInvalidator,
///     MembershipStore, Role, TenantId, UserId};
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let db = InMemoryMembershipStore::new();
/// let cached = Arc::new(CachingMembershipStore::new(db.clone()));
/// // The code that writes memberships holds the cache as its invalidation hook.
/// let hook: Arc<dyn MembershipCacheInvalidator> = cached.clone();
///
/// let (acme, bob) = (TenantId::new_random(), UserId::new_random());
/// db.insert(acme, bob, Role::Admin);
/// assert_eq!(cached.role_of(acme, bob).await.unwrap(), Some(Role::Admin));
/// // Revoke: write to the database, then tell the cache.
/// db.remove(acme, bob);
/// hook.invalidate_membership(acme, bob);
/// assert_eq!(cached.role_of(acme, bob).await.unwrap(), None);
/// # });
/// # }
/// ```
pub trait MembershipCacheInvalidator: Send + Sync {
    /// Evicts the cached role (or cached absence) of `user` in `tenant`.
    fn invalidate_membership(&self, tenant: TenantId, user: UserId);

    /// Evicts every cached membership of `tenant`.
    ///
    /// ```
    /// # #[cfg(feature = "cache")] {
    /// use std::sync::Arc;
    /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore,
    ///     MembershipCacheInvalidator, MembershipStore, Role, TenantId, UserId};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let db = InMemoryMembershipStore::new();
    /// let cached = Arc::new(CachingMembershipStore::new(db.clone()));
    /// let hook: Arc<dyn MembershipCacheInvalidator> = cached.clone();
    /// let acme = TenantId::new_random();
    /// let team = [UserId::new_random(), UserId::new_random()];
    /// for user in team {
    ///     db.insert(acme, user, Role::Member);
    ///     assert_eq!(cached.role_of(acme, user).await.unwrap(), Some(Role::Member));
    /// }
    /// // An import makes the whole team managers: one call evicts them all.
    /// team.iter().for_each(|&user| db.insert(acme, user, Role::Manager));
    /// hook.invalidate_tenant_memberships(acme);
    /// for user in team {
    ///     assert_eq!(cached.role_of(acme, user).await.unwrap(), Some(Role::Manager));
    /// }
    /// # });
    /// # }
    /// ```
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
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use async_trait::async_trait;
    use moka::Expiry;
    use moka::sync::Cache;
    use tokio::sync::OnceCell;
    use tokio::time::Instant;

    use super::{MembershipCacheInvalidator, TenantCacheInvalidator};
    use crate::sharded::ShardedMap;
    use crate::store::{MembershipStore, StoreError, TenantKey, TenantStore};
    use crate::{Role, Tenant, TenantId, TenantSlug, TenantStatus, UserId};

    /// How many times a lookup retries when its freshly loaded entry was invalidated while it
    /// loaded, before it reads the inner store directly (uncached).
    const MAX_RELOADS: usize = 3;

    /// One cached answer. `Option` because absence is cached too (negative caching).
    #[derive(Clone)]
    struct Entry<V> {
        value: Option<V>,
        /// When the load started plus the TTL (of a value or of an absence), on tokio's clock
        /// (so tests can pause and advance it); `None` when that is beyond the clock's range.
        /// Stored rather than computed so that a hit compares two instants and nothing else.
        stale_at: Option<Instant>,
        /// The invalidation epoch observed before the load started.
        epoch: u64,
    }

    /// Invalidation records, per invalidation key: (epoch of the invalidation, when).
    struct Invalidations<D> {
        records: HashMap<D, (u64, Instant)>,
    }

    /// The outcome of one load, shared by every lookup that waited for it. A store error is
    /// shared too (behind an `Arc`), never cached: the cell is forgotten once the load ends.
    type Loaded<V> = Result<Entry<V>, Arc<StoreError>>;

    /// One load in flight: concurrent misses of a key wait on the same cell, and when the lookup
    /// driving the load is dropped, a waiting one takes over (tokio's `OnceCell` semantics).
    type LoadCell<V> = Arc<OnceCell<Loaded<V>>>;

    /// The hot set in front of moka: fresh entries recently served, answered under one shard read
    /// lock with no bookkeeping (moka's own hit path records every read for its eviction policy,
    /// which costs more than the rest of a request's tenancy work).
    ///
    /// It holds copies of moka entries and is checked with the same freshness rule (TTL on
    /// tokio's clock, invalidation records), so it never serves what moka would not. Bounded: a
    /// shard that is full is emptied before the next insert; moka still holds everything.
    type Hot<K, V> = ShardedMap<K, Entry<V>>;

    /// The most entries the hot set of one cache holds (fewer when moka's capacity is smaller).
    const HOT_CAPACITY: u64 = 4096;

    /// Whether an entry may be served.
    enum Freshness {
        /// Yes, and nothing was invalidated since its load started.
        Fresh,
        /// Yes: invalidations happened since its load started, none of them concerns it. It is
        /// as good as an entry loaded at this epoch (re-stamping it spares the next lookups the
        /// check under the invalidation lock).
        FreshAsOf(u64),
        /// No.
        Stale,
    }

    /// The machinery shared by both caching stores.
    ///
    /// Correctness does not rest on moka's eviction alone: an entry is served only when it is
    /// younger than its TTL on tokio's clock *and* no invalidation of any of its invalidation keys
    /// happened after its load started. That closes the race where a load that read the old row
    /// inserts its result after an invalidation ran (moka's own `invalidate` cannot see an entry
    /// that is inserted later).
    ///
    /// The entries live in a synchronous moka cache, so a hit is answered without a future
    /// ([`get_now`](Self::get_now)); misses are coalesced per key through `loading`.
    struct Core<K, V, D> {
        cache: Cache<K, Entry<V>>,
        hot: Hot<K, V>,
        loading: Mutex<HashMap<K, LoadCell<V>>>,
        /// The epoch of the last `invalidate_all`: entries loaded before it are stale.
        cleared: AtomicU64,
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
                hot: Hot::new(usize::try_from(max_capacity.min(HOT_CAPACITY)).unwrap_or(4096)),
                loading: Mutex::new(HashMap::new()),
                cleared: AtomicU64::new(0),
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
                .unwrap_or_else(PoisonError::into_inner);
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
        fn freshness<I>(
            &self,
            entry: &Entry<V>,
            deps: impl FnOnce() -> I,
            check_ttl: bool,
        ) -> Freshness
        where
            I: IntoIterator<Item = D>,
        {
            if check_ttl && entry.stale_at.is_some_and(|at| crate::clock::now() >= at) {
                return Freshness::Stale;
            }
            if self.epoch.load(Ordering::SeqCst) == entry.epoch {
                return Freshness::Fresh; // nothing was invalidated since the load started
            }
            let inv = self
                .invalidations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Invalidations bump the epoch under this lock, so it is stable while we hold it.
            let now = self.epoch.load(Ordering::SeqCst);
            let untouched = entry.epoch >= self.cleared.load(Ordering::SeqCst)
                && deps().into_iter().all(|d| {
                    inv.records
                        .get(&d)
                        .is_none_or(|(epoch, _)| *epoch <= entry.epoch)
                });
            if untouched {
                Freshness::FreshAsOf(now)
            } else {
                Freshness::Stale
            }
        }

        fn is_fresh<I>(&self, entry: &Entry<V>, deps: impl FnOnce() -> I, check_ttl: bool) -> bool
        where
            I: IntoIterator<Item = D>,
        {
            !matches!(self.freshness(entry, deps, check_ttl), Freshness::Stale)
        }

        /// Forgets every entry: those loaded before this call are never served again.
        fn invalidate_all(&self) {
            {
                let _inv = self
                    .invalidations
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
                self.cleared.store(epoch, Ordering::SeqCst);
            }
            self.cache.invalidate_all();
            self.hot.clear();
        }

        /// The cached entry of `key` when it is still fresh: no future, no load, no waiting.
        fn get_now<I>(&self, key: &K, deps: impl Fn(&K, &Option<V>) -> I) -> Option<Entry<V>>
        where
            I: IntoIterator<Item = D>,
        {
            if let Some(mut entry) = self.hot.get(key) {
                match self.freshness(&entry, || deps(key, &entry.value), true) {
                    Freshness::Fresh => return Some(entry),
                    Freshness::FreshAsOf(epoch) => {
                        entry.epoch = epoch;
                        self.hot.insert(key.clone(), entry.clone());
                        return Some(entry);
                    }
                    Freshness::Stale => self.hot.remove(key),
                }
            }
            let mut entry = self.cache.get(key)?;
            match self.freshness(&entry, || deps(key, &entry.value), true) {
                Freshness::Fresh => {}
                Freshness::FreshAsOf(epoch) => entry.epoch = epoch,
                Freshness::Stale => return None,
            }
            self.hot.insert(key.clone(), entry.clone());
            Some(entry)
        }

        /// Looks `key` up, loading through `load` on a miss. Concurrent misses for one key
        /// share one load. Errors are returned, never cached. The `bool` says whether this very
        /// call ran the load.
        ///
        /// A fresh hit is answered by [`get_now`](Self::get_now); everything else (miss, stale or
        /// invalidated entry) takes the loading path, boxed so that its larger future does not
        /// weigh on every hit.
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
            if let Some(entry) = self.get_now(key, &deps) {
                return Ok((entry, false));
            }
            Box::pin(self.load(key, what, load, deps)).await
        }

        /// An entry for `value` whose load started at `loaded_at`, in invalidation epoch `epoch`.
        fn entry(&self, value: Option<V>, loaded_at: Instant, epoch: u64) -> Entry<V> {
            let ttl = if value.is_some() {
                self.ttl
            } else {
                self.negative_ttl
            };
            Entry {
                value,
                stale_at: loaded_at.checked_add(ttl),
                epoch,
            }
        }

        /// The cell of the load of `key` in flight, or a new one.
        fn loading_cell(&self, key: &K) -> LoadCell<V> {
            let mut loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
            loading.entry(key.clone()).or_default().clone()
        }

        /// Forgets `cell` once its load ended, unless a newer load already replaced it.
        fn forget_cell(&self, key: &K, cell: &LoadCell<V>) {
            let mut loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
            if loading.get(key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
                loading.remove(key);
            }
        }

        /// The miss path of [`get`](Self::get): one load per key shared by concurrent misses,
        /// its result cached, freshness re-checked, at most [`MAX_RELOADS`] times.
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
                let cell = self.loading_cell(key);
                let loaded_here = AtomicBool::new(false);
                let loaded = cell
                    .get_or_init(|| async {
                        loaded_here.store(true, Ordering::Relaxed);
                        let loaded_at = Instant::now();
                        let epoch = self.epoch.load(Ordering::SeqCst);
                        match load().await {
                            Ok(value) => {
                                let entry = self.entry(value, loaded_at, epoch);
                                self.cache.insert(key.clone(), entry.clone());
                                Ok(entry)
                            }
                            Err(e) => Err(Arc::new(e)),
                        }
                    })
                    .await
                    .clone();
                self.forget_cell(key, &cell);
                let entry = loaded.map_err(|e| StoreError::new(what, e))?;
                let loaded_here = loaded_here.load(Ordering::Relaxed);
                if self.is_fresh(&entry, || deps(key, &entry.value), !loaded_here) {
                    return Ok((entry, loaded_here));
                }
                self.cache.invalidate(key);
            }
            // Invalidations keep racing this key's loads: answer from the store, uncached.
            let loaded_at = Instant::now();
            let epoch = self.epoch.load(Ordering::SeqCst);
            let value = load().await?;
            Ok((self.entry(value, loaded_at, epoch), false))
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

    fn tenant_deps(key: &TenantKey, value: &Option<Arc<Tenant>>) -> Vec<TenantDep> {
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
        core: Core<TenantKey, Arc<Tenant>, TenantDep>,
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore};
    /// let cached = CachingTenantStore::builder(InMemoryTenantStore::new())
    ///     .with_ttl(Duration::from_secs(10))
    ///     .with_negative_ttl(Duration::from_secs(1))
    ///     .with_max_capacity(2 * 50_000)
    ///     .build();
    /// assert!(format!("{cached:?}").contains("ttl: 10s"));
    /// ```
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
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantStore};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
        /// # let db = InMemoryTenantStore::new();
        /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
        /// # db.insert(acme.clone());
        /// let cached = CachingTenantStore::builder(db.clone())
        ///     .with_ttl(Duration::from_secs(60))
        ///     .build();
        /// let key = TenantKey::Id(acme.id);
        /// assert!(cached.get(&key).await.unwrap().is_some());
        /// // Deleted behind the cache's back (no invalidation): served until the TTL has passed.
        /// db.remove(acme.id);
        /// tokio::time::advance(Duration::from_secs(59)).await;
        /// assert!(cached.get(&key).await.unwrap().is_some());
        /// tokio::time::advance(Duration::from_secs(2)).await;
        /// assert!(cached.get(&key).await.unwrap().is_none());
        /// # });
        /// ```
        pub fn with_ttl(mut self, ttl: Duration) -> Self {
            self.ttl = ttl;
            self
        }

        /// How long an unknown key is remembered as unknown (default 5 s).
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantStore};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
        /// let db = InMemoryTenantStore::new();
        /// let cached = CachingTenantStore::builder(db.clone())
        ///     .with_negative_ttl(Duration::from_secs(2))
        ///     .build();
        /// let key = TenantKey::Slug("acme".parse().unwrap());
        /// assert!(cached.get(&key).await.unwrap().is_none());
        /// // Created behind the cache's back: still unknown until the negative TTL has passed.
        /// db.insert(Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme"));
        /// assert!(cached.get(&key).await.unwrap().is_none());
        /// tokio::time::advance(Duration::from_secs(3)).await;
        /// assert!(cached.get(&key).await.unwrap().is_some());
        /// # });
        /// ```
        pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
            self.negative_ttl = ttl;
            self
        }

        /// The most entries kept; each tenant takes up to two (id and slug). Default 20 000.
        ///
        /// ```
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore};
        /// // Room for 50 000 tenants looked up both by id and by slug.
        /// let tenants = 50_000;
        /// let cached = CachingTenantStore::builder(InMemoryTenantStore::new())
        ///     .with_max_capacity(2 * tenants)
        ///     .build();
        /// ```
        pub fn with_max_capacity(mut self, entries: u64) -> Self {
            self.max_capacity = entries;
            self
        }

        /// Builds the store.
        ///
        /// ```
        /// use std::sync::Arc;
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, TenantStore};
        /// // Built once at start-up and shared, like the store it wraps.
        /// let tenants: Arc<dyn TenantStore> =
        ///     Arc::new(CachingTenantStore::builder(InMemoryTenantStore::new()).build());
        /// ```
        pub fn build(self) -> CachingTenantStore<S> {
            CachingTenantStore {
                inner: self.inner,
                core: Core::new(self.ttl, self.negative_ttl, self.max_capacity),
            }
        }
    }

    impl<S> CachingTenantStore<S> {
        /// Default TTL of a found tenant.
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantStore};
        /// type Cached = CachingTenantStore<InMemoryTenantStore>;
        /// assert_eq!(Cached::DEFAULT_TTL, Duration::from_secs(30));
        /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
        /// # let db = InMemoryTenantStore::new();
        /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
        /// # db.insert(acme.clone());
        /// let cached = Cached::new(db.clone());
        /// let key = TenantKey::Id(acme.id);
        /// assert!(cached.get(&key).await.unwrap().is_some());
        /// // A deletion made behind the cache's back is seen at the latest after `DEFAULT_TTL`.
        /// db.remove(acme.id);
        /// tokio::time::advance(Cached::DEFAULT_TTL + Duration::from_millis(1)).await;
        /// assert!(cached.get(&key).await.unwrap().is_none());
        /// # });
        /// ```
        pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

        /// Default TTL of an unknown key.
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore};
        /// type Cached = CachingTenantStore<InMemoryTenantStore>;
        /// // Unknown keys are forgotten sooner than known ones: a new tenant appears quickly.
        /// assert_eq!(Cached::DEFAULT_NEGATIVE_TTL, Duration::from_secs(5));
        /// assert!(Cached::DEFAULT_NEGATIVE_TTL < Cached::DEFAULT_TTL);
        /// ```
        pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);

        /// Wraps `inner` with the default settings.
        ///
        /// ```
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantStore};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
        /// # let db = InMemoryTenantStore::new();
        /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
        /// # db.insert(acme.clone());
        /// let cached = CachingTenantStore::new(db);
        /// let key = TenantKey::Slug(acme.slug.clone());
        /// assert_eq!(cached.get(&key).await.unwrap(), Some(acme));
        /// // Now a hit: answered at once from memory.
        /// assert!(cached.get_now(&key).is_some());
        /// # });
        /// ```
        pub fn new(inner: S) -> Self
        where
            S: TenantStore,
        {
            Self::builder(inner).build()
        }

        /// A builder wrapping `inner`.
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore};
        /// let cached = CachingTenantStore::builder(InMemoryTenantStore::new())
        ///     .with_ttl(Duration::from_secs(120))
        ///     .build();
        /// ```
        pub fn builder(inner: S) -> CachingTenantStoreBuilder<S> {
            CachingTenantStoreBuilder {
                inner,
                ttl: Self::DEFAULT_TTL,
                negative_ttl: Self::DEFAULT_NEGATIVE_TTL,
                max_capacity: 20_000,
            }
        }

        /// The wrapped store.
        ///
        /// ```
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantStore};
        /// let cached = CachingTenantStore::new(InMemoryTenantStore::new());
        /// // Writes go to the wrapped store; reads through the cache.
        /// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
        /// cached.inner().insert(acme.clone());
        /// assert!(cached.inner().get_now(&TenantKey::Id(acme.id)).is_some());
        /// ```
        pub fn inner(&self) -> &S {
            &self.inner
        }

        /// Evicts every entry of tenant `id` (its id entry and any slug entry pointing at it).
        ///
        /// ```
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantStatus, TenantStore};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
        /// # let db = InMemoryTenantStore::new();
        /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
        /// # db.insert(acme.clone());
        /// let cached = CachingTenantStore::new(db.clone());
        /// let by_slug = TenantKey::Slug(acme.slug.clone());
        /// assert_eq!(cached.get(&by_slug).await.unwrap().unwrap().status, TenantStatus::Active);
        ///
        /// db.insert(acme.clone().with_status(TenantStatus::Suspended));
        /// cached.invalidate_id(acme.id);
        /// // The slug entry went too.
        /// let t = cached.get(&by_slug).await.unwrap().unwrap();
        /// assert_eq!(t.status, TenantStatus::Suspended);
        /// # });
        /// ```
        pub fn invalidate_id(&self, id: TenantId) {
            self.core.invalidate([TenantDep::Id(id)]);
        }

        /// Evicts the entry for `slug` (positive or negative) and, when it pointed at a
        /// tenant, every other entry of that tenant.
        ///
        /// ```
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantSlug, TenantStore};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
        /// let db = InMemoryTenantStore::new();
        /// let cached = CachingTenantStore::new(db.clone());
        /// let slug: TenantSlug = "acme".parse().unwrap();
        /// // Looked up before it exists: cached as unknown.
        /// assert!(cached.get(&TenantKey::Slug(slug.clone())).await.unwrap().is_none());
        ///
        /// // Sign-up creates the tenant, then clears the negative entry of its slug.
        /// db.insert(Tenant::new(TenantId::new_random(), slug.clone(), "Acme"));
        /// cached.invalidate_slug(&slug);
        /// assert!(cached.get(&TenantKey::Slug(slug)).await.unwrap().is_some());
        /// # });
        /// ```
        pub fn invalidate_slug(&self, slug: &TenantSlug) {
            self.core.invalidate([TenantDep::Slug(slug.clone())]);
        }

        /// Evicts everything.
        ///
        /// ```
        /// use tenancy_core::{CachingTenantStore, InMemoryTenantStore, Tenant, TenantId, TenantKey,
        ///     TenantStore};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
        /// # let db = InMemoryTenantStore::new();
        /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
        /// # db.insert(acme.clone());
        /// let cached = CachingTenantStore::new(db.clone());
        /// assert!(cached.get(&TenantKey::Id(acme.id)).await.unwrap().is_some());
        /// // After a bulk change (a restore, an import): drop every cached answer.
        /// db.remove(acme.id);
        /// cached.invalidate_all();
        /// assert!(cached.get_now(&TenantKey::Id(acme.id)).is_none());
        /// assert!(cached.get(&TenantKey::Id(acme.id)).await.unwrap().is_none());
        /// # });
        /// ```
        pub fn invalidate_all(&self) {
            self.core.invalidate_all();
        }
    }

    impl<S: TenantStore> TenantCacheInvalidator for CachingTenantStore<S> {
        fn invalidate(&self, id: TenantId, slug: &TenantSlug) {
            self.core
                .invalidate([TenantDep::Id(id), TenantDep::Slug(slug.clone())]);
        }
    }

    /// Whether `tenant` may answer a lookup by `key`. A slug entry must still agree with its key
    /// (a stale rename is caught by the invalidation records; this is a cheap belt and braces).
    fn answers(key: &TenantKey, tenant: &Tenant) -> bool {
        match key {
            TenantKey::Id(id) => tenant.id == *id,
            TenantKey::Slug(s) => tenant.slug == *s,
        }
    }

    #[async_trait]
    impl<S: TenantStore> TenantStore for CachingTenantStore<S> {
        async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
            let load = || async { Ok(self.inner.get(key).await?.map(Arc::new)) };
            let (entry, loaded_here) = self
                .core
                .get(key, "tenant cache", load, tenant_deps)
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
                    self.core.cache.insert(other, entry.clone());
                }
            }
            Ok(entry
                .value
                .filter(|t| answers(key, t))
                .map(Arc::unwrap_or_clone))
        }

        fn get_now(&self, key: &TenantKey) -> Option<Arc<Tenant>> {
            self.core
                .get_now(key, tenant_deps)?
                .value
                .filter(|t| answers(key, t))
        }
    }

    // ----------------------------------------------------------------------------------------
    // Memberships

    #[derive(Clone, PartialEq, Eq, Hash)]
    enum MemberDep {
        Member(TenantId, UserId),
        Tenant(TenantId),
    }

    fn member_deps(&(tenant, user): &(TenantId, UserId), _: &Option<Role>) -> [MemberDep; 2] {
        [MemberDep::Member(tenant, user), MemberDep::Tenant(tenant)]
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore};
    /// // A tighter bound on revocations made behind the library's back than the default 10 s.
    /// let cached = CachingMembershipStore::builder(InMemoryMembershipStore::new())
    ///     .with_ttl(Duration::from_secs(2))
    ///     .with_negative_ttl(Duration::from_secs(2))
    ///     .with_max_capacity(500_000)
    ///     .build();
    /// assert!(format!("{cached:?}").contains("ttl: 2s"));
    /// ```
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
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore,
        ///     Role, TenantId, UserId};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
        /// # let db = InMemoryMembershipStore::new();
        /// # let (acme, bob) = (TenantId::new_random(), UserId::new_random());
        /// # db.insert(acme, bob, Role::Admin);
        /// let cached = CachingMembershipStore::builder(db.clone())
        ///     .with_ttl(Duration::from_secs(3))
        ///     .build();
        /// assert_eq!(cached.role_of(acme, bob).await.unwrap(), Some(Role::Admin));
        /// // Revoked by hand in the database, the cache not told: works for 3 s more at most.
        /// db.remove(acme, bob);
        /// assert_eq!(cached.role_of(acme, bob).await.unwrap(), Some(Role::Admin));
        /// tokio::time::advance(Duration::from_secs(4)).await;
        /// assert_eq!(cached.role_of(acme, bob).await.unwrap(), None);
        /// # });
        /// ```
        pub fn with_ttl(mut self, ttl: Duration) -> Self {
            self.ttl = ttl;
            self
        }

        /// How long "not a member" is remembered (default 5 s).
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore,
        ///     Role, TenantId, UserId};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
        /// let db = InMemoryMembershipStore::new();
        /// let cached = CachingMembershipStore::builder(db.clone())
        ///     .with_negative_ttl(Duration::from_secs(1))
        ///     .build();
        /// let (acme, carol) = (TenantId::new_random(), UserId::new_random());
        /// assert_eq!(cached.role_of(acme, carol).await.unwrap(), None);
        /// // Carol accepts an invitation; the cache is not told. She is in after a second.
        /// db.insert(acme, carol, Role::Member);
        /// assert_eq!(cached.role_of(acme, carol).await.unwrap(), None);
        /// tokio::time::advance(Duration::from_secs(2)).await;
        /// assert_eq!(cached.role_of(acme, carol).await.unwrap(), Some(Role::Member));
        /// # });
        /// ```
        pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
            self.negative_ttl = ttl;
            self
        }

        /// The most `(tenant, user)` entries kept. Default 100 000.
        ///
        /// ```
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore};
        /// // About 2 000 tenants with 250 active members each.
        /// let cached = CachingMembershipStore::builder(InMemoryMembershipStore::new())
        ///     .with_max_capacity(2_000 * 250)
        ///     .build();
        /// ```
        pub fn with_max_capacity(mut self, entries: u64) -> Self {
            self.max_capacity = entries;
            self
        }

        /// Builds the store.
        ///
        /// ```
        /// use std::sync::Arc;
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore};
        /// let members: Arc<dyn MembershipStore> =
        ///     Arc::new(CachingMembershipStore::builder(InMemoryMembershipStore::new()).build());
        /// ```
        pub fn build(self) -> CachingMembershipStore<M> {
            CachingMembershipStore {
                inner: self.inner,
                core: Core::new(self.ttl, self.negative_ttl, self.max_capacity),
            }
        }
    }

    impl<M> CachingMembershipStore<M> {
        /// Default TTL of a cached role.
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore};
        /// type Cached = CachingMembershipStore<InMemoryMembershipStore>;
        /// // The longest a revocation made behind the library's back keeps working, by default.
        /// assert_eq!(Cached::DEFAULT_TTL, Duration::from_secs(10));
        /// // Halve it:
        /// let cached = Cached::builder(InMemoryMembershipStore::new())
        ///     .with_ttl(Cached::DEFAULT_TTL / 2)
        ///     .build();
        /// ```
        pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

        /// Default TTL of a cached "not a member".
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore,
        ///     Role, TenantId, UserId};
        /// type Cached = CachingMembershipStore<InMemoryMembershipStore>;
        /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
        /// let db = InMemoryMembershipStore::new();
        /// let cached = Cached::new(db.clone());
        /// let (acme, carol) = (TenantId::new_random(), UserId::new_random());
        /// assert_eq!(cached.role_of(acme, carol).await.unwrap(), None);
        /// db.insert(acme, carol, Role::Member); // the cache is not told
        /// tokio::time::advance(Cached::DEFAULT_NEGATIVE_TTL + Duration::from_millis(1)).await;
        /// assert_eq!(cached.role_of(acme, carol).await.unwrap(), Some(Role::Member));
        /// # });
        /// ```
        pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);

        /// Wraps `inner` with the default settings.
        ///
        /// ```
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore,
        ///     Role, TenantId, UserId};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
        /// let db = InMemoryMembershipStore::new();
        /// let (acme, bob) = (TenantId::new_random(), UserId::new_random());
        /// db.insert(acme, bob, Role::Manager);
        /// let cached = CachingMembershipStore::new(db);
        /// assert_eq!(cached.role_of(acme, bob).await.unwrap(), Some(Role::Manager));
        /// // Now a hit: answered at once from memory.
        /// assert_eq!(cached.role_of_now(acme, bob), Some(Role::Manager));
        /// # });
        /// ```
        pub fn new(inner: M) -> Self
        where
            M: MembershipStore,
        {
            Self::builder(inner).build()
        }

        /// A builder wrapping `inner`.
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore};
        /// let cached = CachingMembershipStore::builder(InMemoryMembershipStore::new())
        ///     .with_ttl(Duration::from_secs(5))
        ///     .build();
        /// ```
        pub fn builder(inner: M) -> CachingMembershipStoreBuilder<M> {
            CachingMembershipStoreBuilder {
                inner,
                ttl: Self::DEFAULT_TTL,
                negative_ttl: Self::DEFAULT_NEGATIVE_TTL,
                max_capacity: 100_000,
            }
        }

        /// The wrapped store.
        ///
        /// ```
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore,
        ///     Role, TenantId, UserId};
        /// let cached = CachingMembershipStore::new(InMemoryMembershipStore::new());
        /// let (acme, bob) = (TenantId::new_random(), UserId::new_random());
        /// // Writes go to the wrapped store.
        /// cached.inner().insert(acme, bob, Role::Member);
        /// assert_eq!(cached.inner().role_of_now(acme, bob), Some(Role::Member));
        /// ```
        pub fn inner(&self) -> &M {
            &self.inner
        }

        /// Evicts the cached role (or absence) of `user` in `tenant`.
        ///
        /// ```
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore,
        ///     Role, TenantId, UserId};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
        /// let db = InMemoryMembershipStore::new();
        /// let cached = CachingMembershipStore::new(db.clone());
        /// let (acme, bob) = (TenantId::new_random(), UserId::new_random());
        /// db.insert(acme, bob, Role::Member);
        /// assert_eq!(cached.role_of(acme, bob).await.unwrap(), Some(Role::Member));
        /// // A promotion: write, then evict the old role.
        /// db.insert(acme, bob, Role::Admin);
        /// cached.invalidate(acme, bob);
        /// assert_eq!(cached.role_of(acme, bob).await.unwrap(), Some(Role::Admin));
        /// # });
        /// ```
        pub fn invalidate(&self, tenant: TenantId, user: UserId) {
            self.core.invalidate([MemberDep::Member(tenant, user)]);
        }

        /// Evicts every cached membership of `tenant`.
        ///
        /// ```
        /// use tenancy_core::{CachingMembershipStore, InMemoryMembershipStore, MembershipStore,
        ///     Role, TenantId, UserId};
        /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
        /// let db = InMemoryMembershipStore::new();
        /// let cached = CachingMembershipStore::new(db.clone());
        /// let (acme, globex) = (TenantId::new_random(), TenantId::new_random());
        /// let (bob, carol) = (UserId::new_random(), UserId::new_random());
        /// for (tenant, user) in [(acme, bob), (acme, carol), (globex, bob)] {
        ///     db.insert(tenant, user, Role::Member);
        ///     cached.role_of(tenant, user).await.unwrap();
        /// }
        /// // Acme is deleted with all its memberships.
        /// db.remove(acme, bob);
        /// db.remove(acme, carol);
        /// cached.invalidate_tenant(acme);
        /// assert_eq!(cached.role_of(acme, carol).await.unwrap(), None);
        /// // Other tenants keep their cached memberships.
        /// assert_eq!(cached.role_of_now(globex, bob), Some(Role::Member));
        /// # });
        /// ```
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
                    member_deps,
                )
                .await?;
            Ok(entry.value)
        }

        fn role_of_now(&self, tenant: TenantId, user: UserId) -> Option<Role> {
            self.core.get_now(&(tenant, user), member_deps)?.value
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn hot_set_is_bounded_and_keeps_recent_entries() {
            let hot: Hot<u32, u32> = Hot::new(32);
            let entry = |v| Entry {
                value: Some(v),
                stale_at: None,
                epoch: 0,
            };
            for k in 0..1000u32 {
                hot.insert(k, entry(k));
                // The entry just inserted is always there.
                assert_eq!(hot.get(&k).and_then(|e| e.value), Some(k));
            }
            assert!(hot.len() <= 32, "{} entries held", hot.len());
            assert!(hot.len() > 0);
            hot.clear();
            assert!((0..1000).all(|k| hot.get(&k).is_none()));
        }
    }
}
