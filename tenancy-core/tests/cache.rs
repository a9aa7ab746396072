//! Caching stores: hits, misses, negative caching, TTL (on tokio's paused clock, no sleeps),
//! invalidation by id and slug, errors not cached, coalesced misses, invalidation racing a load.
#![cfg(feature = "cache")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use async_trait::async_trait;
use tenancy_core::{
    CachingMembershipStore, CachingTenantStore, InMemoryMembershipStore, InMemoryTenantStore,
    MembershipCacheInvalidator, MembershipStore, Role, StoreError, Tenant, TenantCacheInvalidator,
    TenantId, TenantKey, TenantStatus, TenantStore, UserId,
};
use tokio::sync::Semaphore;

/// Wraps a store, counts calls, can fail on demand and can hold loads at a gate.
#[derive(Clone)]
struct Counting<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
    fail: Arc<AtomicBool>,
    gate: Option<Arc<Semaphore>>,
}

impl<S> Counting<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            calls: Arc::default(),
            fail: Arc::default(),
            gate: None,
        }
    }
    fn gated(inner: S) -> (Self, Arc<Semaphore>) {
        let gate = Arc::new(Semaphore::new(0));
        let mut s = Self::new(inner);
        s.gate = Some(gate.clone());
        (s, gate)
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    async fn pass_gate(&self) {
        if let Some(g) = &self.gate {
            g.acquire().await.unwrap().forget();
        }
    }
}

#[async_trait]
impl<S: TenantStore> TenantStore for Counting<S> {
    async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::new("test store", "connection refused"));
        }
        // Read first, then wait: a held load carries the value from before any later change.
        let value = self.inner.get(key).await;
        self.pass_gate().await;
        value
    }
}

#[async_trait]
impl<M: MembershipStore> MembershipStore for Counting<M> {
    async fn role_of(&self, t: TenantId, u: UserId) -> Result<Option<Role>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::new("test store", "connection refused"));
        }
        let value = self.inner.role_of(t, u).await;
        self.pass_gate().await;
        value
    }
}

/// Polls a future once with a no-op waker; it must not finish.
fn poll_once_pending<F: Future>(f: Pin<&mut F>) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        f.poll(&mut cx).is_pending(),
        "expected the load to be held at the gate"
    );
}

fn tenant(slug: &str) -> Tenant {
    Tenant::new(TenantId::new_random(), slug.parse().unwrap(), slug)
}

fn setup() -> (InMemoryTenantStore, Counting<InMemoryTenantStore>, Tenant) {
    let db = InMemoryTenantStore::new();
    let acme = tenant("acme");
    db.insert(acme.clone());
    (db.clone(), Counting::new(db), acme)
}

#[tokio::test]
async fn hit_after_miss_reads_store_once() {
    let (_db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    for _ in 0..3 {
        let got = cached.get(&TenantKey::Id(acme.id)).await.unwrap();
        assert_eq!(got.map(|t| t.id), Some(acme.id));
    }
    assert_eq!(counting.calls(), 1);
}

#[tokio::test]
async fn id_and_slug_lookups_share_one_load() {
    let (_db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    let by_slug = cached
        .get(&TenantKey::Slug(acme.slug.clone()))
        .await
        .unwrap();
    let by_id = cached.get(&TenantKey::Id(acme.id)).await.unwrap();
    assert_eq!(by_slug, by_id);
    assert_eq!(by_id.unwrap().id, acme.id);
    assert_eq!(counting.calls(), 1, "the slug load must fill the id entry");
}

#[tokio::test]
async fn unknown_keys_are_cached_negatively_until_invalidated() {
    let (db, counting, _acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    let globex = tenant("globex");
    let key = TenantKey::Slug(globex.slug.clone());
    assert_eq!(cached.get(&key).await.unwrap(), None);
    assert_eq!(cached.get(&key).await.unwrap(), None);
    assert_eq!(counting.calls(), 1, "absence is cached");

    // Created behind the cache's back: still unknown (within the negative TTL)...
    db.insert(globex.clone());
    assert_eq!(cached.get(&key).await.unwrap(), None);
    // ...until the creating code tells the cache.
    cached.invalidate(globex.id, &globex.slug);
    assert_eq!(
        cached.get(&key).await.unwrap().map(|t| t.id),
        Some(globex.id)
    );
}

#[tokio::test(start_paused = true)]
async fn positive_entries_expire_after_ttl() {
    let (db, counting, acme) = setup();
    let cached = CachingTenantStore::builder(counting.clone())
        .with_ttl(Duration::from_secs(30))
        .build();
    let key = TenantKey::Id(acme.id);
    cached.get(&key).await.unwrap();
    db.insert(acme.clone().with_status(TenantStatus::Suspended));

    tokio::time::advance(Duration::from_secs(29)).await;
    let t = cached.get(&key).await.unwrap().unwrap();
    assert_eq!(
        t.status,
        TenantStatus::Active,
        "within the TTL the cached value is served"
    );
    assert_eq!(counting.calls(), 1);

    tokio::time::advance(Duration::from_secs(1)).await;
    let t = cached.get(&key).await.unwrap().unwrap();
    assert_eq!(
        t.status,
        TenantStatus::Suspended,
        "at the TTL the store is asked again"
    );
    assert_eq!(counting.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn negative_ttl_is_separate_and_shorter() {
    let (db, counting, acme) = setup();
    let cached = CachingTenantStore::builder(counting.clone())
        .with_ttl(Duration::from_secs(60))
        .with_negative_ttl(Duration::from_secs(2))
        .build();
    let globex = tenant("globex");
    cached.get(&TenantKey::Id(acme.id)).await.unwrap();
    assert_eq!(
        cached
            .get(&TenantKey::Slug(globex.slug.clone()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(counting.calls(), 2);
    db.insert(globex.clone());

    tokio::time::advance(Duration::from_secs(2)).await;
    let found = cached
        .get(&TenantKey::Slug(globex.slug.clone()))
        .await
        .unwrap();
    assert_eq!(
        found.map(|t| t.id),
        Some(globex.id),
        "negative entry expired"
    );
    cached.get(&TenantKey::Id(acme.id)).await.unwrap();
    assert_eq!(counting.calls(), 3, "positive entry still cached");
}

#[tokio::test]
async fn invalidate_by_id_evicts_the_slug_entry() {
    let (db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    cached
        .get(&TenantKey::Slug(acme.slug.clone()))
        .await
        .unwrap();
    db.insert(acme.clone().with_status(TenantStatus::Suspended));
    cached.invalidate_id(acme.id);
    let t = cached
        .get(&TenantKey::Slug(acme.slug.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, TenantStatus::Suspended);
}

#[tokio::test]
async fn invalidate_by_slug_evicts_the_id_entry() {
    let (db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    cached.get(&TenantKey::Id(acme.id)).await.unwrap();
    db.insert(acme.clone().with_status(TenantStatus::Suspended));
    cached.invalidate_slug(&acme.slug);
    let t = cached.get(&TenantKey::Id(acme.id)).await.unwrap().unwrap();
    assert_eq!(t.status, TenantStatus::Suspended);
}

#[tokio::test]
async fn renamed_slug_stops_resolving_after_invalidation() {
    let (db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    let old = TenantKey::Slug(acme.slug.clone());
    assert!(cached.get(&old).await.unwrap().is_some());

    let mut renamed = acme.clone();
    renamed.slug = "acme-corp".parse().unwrap();
    db.insert(renamed.clone());
    // The backend only knows the new slug; the old slug entry must still go.
    cached.invalidate(renamed.id, &renamed.slug);

    assert_eq!(
        cached.get(&old).await.unwrap(),
        None,
        "old slug no longer resolves"
    );
    let new = cached
        .get(&TenantKey::Slug(renamed.slug.clone()))
        .await
        .unwrap();
    assert_eq!(new.map(|t| t.id), Some(acme.id));
    let by_id = cached.get(&TenantKey::Id(acme.id)).await.unwrap().unwrap();
    assert_eq!(by_id.slug, renamed.slug);
}

#[tokio::test]
async fn invalidator_trait_object_works() {
    let (db, counting, acme) = setup();
    let cached = Arc::new(CachingTenantStore::new(counting.clone()));
    let hook: Arc<dyn TenantCacheInvalidator> = cached.clone();
    cached.get(&TenantKey::Id(acme.id)).await.unwrap();
    db.insert(acme.clone().with_status(TenantStatus::Deleted));
    hook.invalidate(acme.id, &acme.slug);
    let t = cached.get(&TenantKey::Id(acme.id)).await.unwrap().unwrap();
    assert_eq!(t.status, TenantStatus::Deleted);
}

#[tokio::test]
async fn store_errors_are_not_cached() {
    let (_db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    counting.fail.store(true, Ordering::SeqCst);
    let err = cached.get(&TenantKey::Id(acme.id)).await.unwrap_err();
    assert_eq!(err.to_string(), "tenant cache is unavailable");
    counting.fail.store(false, Ordering::SeqCst);
    let t = cached.get(&TenantKey::Id(acme.id)).await.unwrap();
    assert_eq!(t.map(|t| t.id), Some(acme.id));
    assert_eq!(counting.calls(), 2);
}

#[tokio::test]
async fn concurrent_misses_share_one_load() {
    let db = InMemoryTenantStore::new();
    let acme = tenant("acme");
    db.insert(acme.clone());
    let (counting, gate) = Counting::gated(db);
    let cached = CachingTenantStore::new(counting.clone());
    let key = TenantKey::Id(acme.id);

    let mut lookups: Vec<_> = (0..8).map(|_| Box::pin(cached.get(&key))).collect();
    // Every lookup starts while the first load is held at the gate.
    for l in &mut lookups {
        poll_once_pending(l.as_mut());
    }
    assert_eq!(counting.calls(), 1);
    gate.add_permits(100);
    for l in lookups {
        assert_eq!(l.await.unwrap().map(|t| t.id), Some(acme.id));
    }
    assert_eq!(
        counting.calls(),
        1,
        "eight concurrent misses, one store read"
    );
}

#[tokio::test]
async fn invalidation_during_a_load_is_not_lost() {
    let db = InMemoryTenantStore::new();
    let acme = tenant("acme");
    db.insert(acme.clone());
    let (counting, gate) = Counting::gated(db.clone());
    let cached = CachingTenantStore::new(counting.clone());
    let key = TenantKey::Id(acme.id);

    // A load reads the active row and is held before it can insert it.
    let mut lookup = Box::pin(cached.get(&key));
    poll_once_pending(lookup.as_mut());
    // Meanwhile the tenant is suspended and the cache told.
    db.insert(acme.clone().with_status(TenantStatus::Suspended));
    cached.invalidate(acme.id, &acme.slug);
    gate.add_permits(100);

    let t = lookup.await.unwrap().unwrap();
    assert_eq!(
        t.status,
        TenantStatus::Suspended,
        "the stale load is discarded"
    );
    let t = cached.get(&key).await.unwrap().unwrap();
    assert_eq!(t.status, TenantStatus::Suspended, "and never served later");
}

// ---------------------------------------------------------------------------------------------
// Memberships

#[tokio::test]
async fn membership_hits_and_tenant_is_part_of_the_key() {
    let db = InMemoryMembershipStore::new();
    let (a, b, alice) = (
        TenantId::new_random(),
        TenantId::new_random(),
        UserId::new_random(),
    );
    db.insert(a, alice, Role::Admin);
    db.insert(b, alice, Role::Member);
    let counting = Counting::new(db);
    let cached = CachingMembershipStore::new(counting.clone());

    assert_eq!(cached.role_of(a, alice).await.unwrap(), Some(Role::Admin));
    assert_eq!(cached.role_of(a, alice).await.unwrap(), Some(Role::Admin));
    assert_eq!(counting.calls(), 1);
    // ATTACKS 33: admin in A, member in B — B's answer is B's own.
    assert_eq!(cached.role_of(b, alice).await.unwrap(), Some(Role::Member));
    assert_eq!(counting.calls(), 2);
}

#[tokio::test]
async fn revoked_membership_stops_immediately_when_invalidated() {
    let db = InMemoryMembershipStore::new();
    let (a, alice, bob) = (
        TenantId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    db.insert(a, alice, Role::Manager);
    db.insert(a, bob, Role::Member);
    let counting = Counting::new(db.clone());
    let cached = CachingMembershipStore::new(counting.clone());
    assert_eq!(cached.role_of(a, alice).await.unwrap(), Some(Role::Manager));
    assert_eq!(cached.role_of(a, bob).await.unwrap(), Some(Role::Member));

    db.remove(a, alice);
    assert_eq!(
        cached.role_of(a, alice).await.unwrap(),
        Some(Role::Manager),
        "behind the cache's back: still cached (bounded by the TTL)"
    );
    cached.invalidate(a, alice);
    assert_eq!(cached.role_of(a, alice).await.unwrap(), None);
    // Bob's entry was not touched.
    assert_eq!(cached.role_of(a, bob).await.unwrap(), Some(Role::Member));
    assert_eq!(counting.calls(), 3);
}

#[tokio::test]
async fn invalidate_tenant_evicts_every_member_of_that_tenant_only() {
    let db = InMemoryMembershipStore::new();
    let (a, b) = (TenantId::new_random(), TenantId::new_random());
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    db.insert(a, alice, Role::Owner);
    db.insert(a, bob, Role::Member);
    db.insert(b, bob, Role::Admin);
    let counting = Counting::new(db.clone());
    let cached = Arc::new(CachingMembershipStore::new(counting.clone()));
    for (t, u) in [(a, alice), (a, bob), (b, bob)] {
        cached.role_of(t, u).await.unwrap();
    }
    db.remove(a, alice);
    db.remove(a, bob);
    let hook: Arc<dyn MembershipCacheInvalidator> = cached.clone();
    hook.invalidate_tenant_memberships(a);
    assert_eq!(cached.role_of(a, alice).await.unwrap(), None);
    assert_eq!(cached.role_of(a, bob).await.unwrap(), None);
    assert_eq!(cached.role_of(b, bob).await.unwrap(), Some(Role::Admin));
    assert_eq!(counting.calls(), 5, "tenant B's entry stayed cached");
}

#[tokio::test]
async fn non_membership_is_cached_and_errors_are_not() {
    let db = InMemoryMembershipStore::new();
    let (a, mallory) = (TenantId::new_random(), UserId::new_random());
    let counting = Counting::new(db.clone());
    let cached = CachingMembershipStore::new(counting.clone());
    counting.fail.store(true, Ordering::SeqCst);
    assert!(cached.role_of(a, mallory).await.is_err());
    counting.fail.store(false, Ordering::SeqCst);
    assert_eq!(cached.role_of(a, mallory).await.unwrap(), None);
    assert_eq!(cached.role_of(a, mallory).await.unwrap(), None);
    assert_eq!(counting.calls(), 2, "one failed read, one cached absence");
}

#[tokio::test(start_paused = true)]
async fn revocation_behind_the_library_is_bounded_by_the_ttl() {
    let db = InMemoryMembershipStore::new();
    let (a, alice) = (TenantId::new_random(), UserId::new_random());
    db.insert(a, alice, Role::Admin);
    let cached = CachingMembershipStore::builder(db.clone())
        .with_ttl(Duration::from_secs(10))
        .build();
    assert_eq!(cached.role_of(a, alice).await.unwrap(), Some(Role::Admin));
    db.remove(a, alice);
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(cached.role_of(a, alice).await.unwrap(), Some(Role::Admin));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        cached.role_of(a, alice).await.unwrap(),
        None,
        "gone at the TTL bound"
    );
}

#[tokio::test]
async fn revocation_during_a_membership_load_is_not_lost() {
    let db = InMemoryMembershipStore::new();
    let (a, alice) = (TenantId::new_random(), UserId::new_random());
    db.insert(a, alice, Role::Owner);
    let (counting, gate) = Counting::gated(db.clone());
    let cached = CachingMembershipStore::new(counting);
    let mut lookup = Box::pin(cached.role_of(a, alice));
    poll_once_pending(lookup.as_mut());
    db.remove(a, alice);
    cached.invalidate(a, alice);
    gate.add_permits(100);
    assert_eq!(lookup.await.unwrap(), None);
    assert_eq!(cached.role_of(a, alice).await.unwrap(), None);
}

#[tokio::test]
async fn zero_ttl_means_one_store_read_per_lookup() {
    let (_db, counting, acme) = setup();
    let cached = CachingTenantStore::builder(counting.clone())
        .with_ttl(Duration::ZERO)
        .with_negative_ttl(Duration::ZERO)
        .build();
    for n in 1..=3 {
        assert!(cached.get(&TenantKey::Id(acme.id)).await.unwrap().is_some());
        assert_eq!(counting.calls(), n);
    }
}

#[tokio::test]
async fn deleted_tenant_read_by_id_does_not_shadow_its_reused_slug() {
    // ATTACKS G.38: the old tenant is deleted and its slug now belongs to a new tenant.
    let store = InMemoryTenantStore::new();
    let old = tenant("acme").with_status(TenantStatus::Deleted);
    let new = tenant("acme");
    store.insert(old.clone());
    store.insert(new.clone()); // the slug index now points at the new tenant
    let cache = CachingTenantStore::new(store);

    // Reading the old tenant by id (an old token, a job) answers the deleted record...
    let by_id = cache.get(&TenantKey::Id(old.id)).await.unwrap().unwrap();
    assert_eq!(by_id.status, TenantStatus::Deleted);
    // ...and must not leave it behind under the slug: the slug names the new tenant.
    let by_slug = cache
        .get(&TenantKey::Slug(new.slug.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_slug.id, new.id);
    assert_eq!(by_slug.status, TenantStatus::Active);
    // Positive control: the new tenant by id is the same record.
    assert_eq!(
        cache.get(&TenantKey::Id(new.id)).await.unwrap().unwrap().id,
        new.id
    );
}

// ---------------------------------------------------------------------------------------------
// Immediate answers (`get_now` / `role_of_now`): the pipeline's hot path, served from the hot set
// in front of moka. They must follow every rule the awaited lookups follow.

#[tokio::test]
async fn get_now_answers_hits_only() {
    let (_db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    let (by_id, by_slug) = (TenantKey::Id(acme.id), TenantKey::Slug(acme.slug.clone()));
    assert!(
        cached.get_now(&by_id).is_none(),
        "cold: no immediate answer"
    );
    cached.get(&by_id).await.unwrap();
    // Positive control: both keys of the loaded tenant answer at once, with no new load.
    assert_eq!(cached.get_now(&by_id).map(|t| t.id), Some(acme.id));
    assert_eq!(cached.get_now(&by_slug).map(|t| t.id), Some(acme.id));
    assert_eq!(counting.calls(), 1);

    // A cached "unknown" is not an immediate answer: `get` gives it, from the cache.
    let nobody = TenantKey::Slug("nobody".parse().unwrap());
    assert!(cached.get(&nobody).await.unwrap().is_none());
    assert!(cached.get_now(&nobody).is_none());
    assert!(cached.get(&nobody).await.unwrap().is_none());
    assert_eq!(counting.calls(), 2);
}

#[tokio::test]
async fn get_now_follows_invalidation_at_once() {
    let (db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    let key = TenantKey::Slug(acme.slug.clone());
    cached.get(&key).await.unwrap();
    for _ in 0..3 {
        assert_eq!(cached.get_now(&key).unwrap().status, TenantStatus::Active);
    }

    db.insert(acme.clone().with_status(TenantStatus::Suspended));
    cached.invalidate(acme.id, &acme.slug);
    assert!(
        cached.get_now(&key).is_none(),
        "invalidated: no immediate answer"
    );
    assert!(cached.get_now(&TenantKey::Id(acme.id)).is_none());
    let t = cached.get(&key).await.unwrap().unwrap();
    assert_eq!(t.status, TenantStatus::Suspended);
    assert_eq!(
        cached.get_now(&key).unwrap().status,
        TenantStatus::Suspended
    );
}

#[tokio::test]
async fn unrelated_invalidations_keep_serving_hits() {
    let db = InMemoryTenantStore::new();
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    db.insert(acme.clone());
    db.insert(globex.clone());
    let counting = Counting::new(db);
    let cached = CachingTenantStore::new(counting.clone());
    for t in [&acme, &globex] {
        cached.get(&TenantKey::Id(t.id)).await.unwrap();
    }
    assert_eq!(counting.calls(), 2);
    for _ in 0..3 {
        cached.invalidate(globex.id, &globex.slug);
        // acme was loaded before these invalidations, none of which concerns it.
        assert_eq!(
            cached.get_now(&TenantKey::Id(acme.id)).map(|t| t.id),
            Some(acme.id)
        );
        assert!(cached.get_now(&TenantKey::Id(globex.id)).is_none());
    }
    assert_eq!(counting.calls(), 2, "acme was never reloaded");
}

#[tokio::test]
async fn invalidate_all_reaches_immediate_answers() {
    let (_db, counting, acme) = setup();
    let cached = CachingTenantStore::new(counting.clone());
    let key = TenantKey::Id(acme.id);
    cached.get(&key).await.unwrap();
    assert!(cached.get_now(&key).is_some());
    cached.invalidate_all();
    assert!(cached.get_now(&key).is_none());
    cached.get(&key).await.unwrap();
    assert_eq!(counting.calls(), 2);
    assert!(cached.get_now(&key).is_some());
}

#[tokio::test(start_paused = true)]
async fn get_now_respects_the_ttl() {
    let (_db, counting, acme) = setup();
    let cached = CachingTenantStore::builder(counting.clone())
        .with_ttl(Duration::from_secs(30))
        .build();
    let key = TenantKey::Id(acme.id);
    cached.get(&key).await.unwrap();
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(cached.get_now(&key).is_some(), "within the TTL");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(cached.get_now(&key).is_none(), "at the TTL");
}

#[tokio::test]
async fn many_tenants_through_a_small_cache_answer_correctly() {
    // More tenants than the hot set and moka hold: shards are emptied and entries evicted, and
    // every immediate answer is still the tenant of its key.
    let db = InMemoryTenantStore::new();
    let all: Vec<Tenant> = (0..500).map(|i| tenant(&format!("tenant-{i}"))).collect();
    for t in &all {
        db.insert(t.clone());
    }
    let cached = CachingTenantStore::builder(db)
        .with_max_capacity(64)
        .build();
    for round in 0..2 {
        for t in &all {
            let key = TenantKey::Slug(t.slug.clone());
            if let Some(found) = cached.get_now(&key) {
                assert_eq!(found.id, t.id, "round {round}");
            }
            assert_eq!(cached.get(&key).await.unwrap().map(|f| f.id), Some(t.id));
            assert_eq!(cached.get_now(&key).map(|f| f.id), Some(t.id));
        }
    }
}

#[tokio::test]
async fn role_of_now_follows_revocation_at_once() {
    let db = InMemoryMembershipStore::new();
    let (acme, globex, alice) = (
        TenantId::new_random(),
        TenantId::new_random(),
        UserId::new_random(),
    );
    db.insert(acme, alice, Role::Admin);
    let counting = Counting::new(db.clone());
    let cached = CachingMembershipStore::new(counting.clone());
    assert_eq!(cached.role_of_now(acme, alice), None, "cold");
    cached.role_of(acme, alice).await.unwrap();
    assert_eq!(cached.role_of_now(acme, alice), Some(Role::Admin));
    // The tenant is part of the key: no answer for another tenant.
    assert_eq!(cached.role_of_now(globex, alice), None);
    cached.role_of(globex, alice).await.unwrap();
    assert_eq!(
        cached.role_of_now(globex, alice),
        None,
        "non-membership is no immediate answer"
    );

    db.remove(acme, alice);
    cached.invalidate_membership(acme, alice);
    assert_eq!(cached.role_of_now(acme, alice), None);
    assert_eq!(cached.role_of(acme, alice).await.unwrap(), None);

    db.insert(acme, alice, Role::Member);
    cached.invalidate_tenant_memberships(acme);
    assert_eq!(
        cached.role_of(acme, alice).await.unwrap(),
        Some(Role::Member)
    );
    assert_eq!(cached.role_of_now(acme, alice), Some(Role::Member));
}
