//! `PgTenantStore` over a real registry, read as the unprivileged application role: lookups by id
//! and slug, cache invalidation of lifecycle changes, and slug reuse after soft deletion
//! (ATTACKS G.38).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod org_support;

use std::sync::Arc;

use org_support::Org;
use tenancy_core::{
    AuthorizeError, CachingTenantStore, Tenant, TenantId, TenantKey, TenantStatus, TenantStore,
    UserId, authorize,
};
use tenancy_sqlx::{Lifecycle, PgTenantStore, TenantStoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_by_id_and_slug_unknown_is_none() {
    let org = Org::new().await;
    let owner = UserId::new_random();
    let acme = org.tenant("acme", owner).await;
    let store = PgTenantStore::new(org.app.clone());

    // Positive controls: both keys find the tenant, with the registry's fields.
    let by_id = store.get(&TenantKey::Id(acme.id)).await.unwrap().unwrap();
    assert_eq!(by_id.id, acme.id);
    assert_eq!(by_id.slug, acme.slug);
    assert_eq!(by_id.display_name, "ACME");
    assert_eq!(by_id.status, TenantStatus::Active);
    let by_slug = store
        .get(&TenantKey::Slug(acme.slug.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_slug.id, acme.id);

    // Unknown keys are absent, not an error.
    assert!(
        store
            .get(&TenantKey::Id(TenantId::new_random()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get(&TenantKey::Slug("nobody".parse().unwrap()))
            .await
            .unwrap()
            .is_none()
    );
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_role_reads_but_cannot_write_the_registry() {
    let org = Org::new().await;
    let store = PgTenantStore::new(org.app.clone());
    let t = Tenant::new(TenantId::new_random(), "rogue".parse().unwrap(), "Rogue");
    let err = store.create(&t).await.unwrap_err();
    assert!(matches!(err, TenantStoreError::Database(_)), "{err:?}");
    // Positive control: the platform role may create through the same code.
    let platform = PgTenantStore::new(org.db.platform_pool(1).await.unwrap());
    platform.create(&t).await.unwrap();
    assert!(store.by_id(t.id).await.unwrap().is_some());
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_status_invalidates_the_cache_immediately() {
    let org = Org::new().await;
    let acme = org.tenant("acme", UserId::new_random()).await;
    // Default TTLs (minutes): only invalidation can make the change visible within this test.
    let cache = Arc::new(CachingTenantStore::new(PgTenantStore::new(org.app.clone())));
    let writer =
        PgTenantStore::new(org.db.platform_pool(1).await.unwrap()).with_invalidator(cache.clone());
    let by_id = TenantKey::Id(acme.id);
    let by_slug = TenantKey::Slug(acme.slug.clone());
    assert_eq!(
        cache.get(&by_id).await.unwrap().unwrap().status,
        TenantStatus::Active
    );
    assert_eq!(
        cache.get(&by_slug).await.unwrap().unwrap().status,
        TenantStatus::Active
    );

    let updated = writer
        .set_status(acme.id, TenantStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(updated.status, TenantStatus::Suspended);
    assert_eq!(
        cache.get(&by_id).await.unwrap().unwrap().status,
        TenantStatus::Suspended
    );
    assert_eq!(
        cache.get(&by_slug).await.unwrap().unwrap().status,
        TenantStatus::Suspended
    );

    // Control: a store without the invalidator keeps serving what it cached.
    let stale = CachingTenantStore::new(PgTenantStore::new(org.app.clone()));
    assert_eq!(
        stale.get(&by_id).await.unwrap().unwrap().status,
        TenantStatus::Suspended
    );
    PgTenantStore::new(org.db.platform_pool(1).await.unwrap())
        .set_status(acme.id, TenantStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        stale.get(&by_id).await.unwrap().unwrap().status,
        TenantStatus::Suspended,
        "without invalidation the cache is stale: the invalidator above is what made it fresh"
    );
    // And an invalid transition is refused without touching the record.
    let deleted = writer
        .set_status(acme.id, TenantStatus::Deleted)
        .await
        .unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    let err = writer
        .set_status(acme.id, TenantStatus::Active)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TenantStoreError::InvalidTransition { .. }),
        "{err:?}"
    );
    assert!(cache.get(&by_slug).await.unwrap().is_none());
    assert_eq!(
        cache.get(&by_id).await.unwrap().unwrap().status,
        TenantStatus::Deleted
    );
    org.close().await;
}

const ITEMS: &str = r#"
CREATE TABLE items (
    tenant_id uuid NOT NULL DEFAULT tenancy.current_tenant_id(),
    id        uuid NOT NULL DEFAULT gen_random_uuid(),
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
SELECT tenancy.protect_table('items');
GRANT SELECT, INSERT, UPDATE, DELETE ON items TO tenancy_runtime;
"#;

/// ATTACKS G.38: a deleted tenant's slug can be reused without any old data reappearing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_slug_of_a_deleted_tenant_shows_none_of_its_rows() {
    let org = Org::new().await;
    sqlx::raw_sql(ITEMS)
        .execute(org.db.admin_pool())
        .await
        .unwrap();
    let cache = Arc::new(CachingTenantStore::new(PgTenantStore::new(org.app.clone())));
    let lc = Lifecycle::new().with_tenant_invalidator(cache.clone());
    let old_owner = UserId::new_random();
    let old = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Old Acme");
    lc.create_with_owner(&org.platform, &org.admin, &old, old_owner)
        .await
        .unwrap();
    let slug = TenantKey::Slug(old.slug.clone());
    for name in ["old-secret-1", "old-secret-2"] {
        sqlx::query("INSERT INTO items (tenant_id, name) VALUES ($1, $2)")
            .bind(old.id.into_uuid())
            .bind(name)
            .execute(org.db.admin_pool())
            .await
            .unwrap();
    }
    // Positive control: the old tenant sees its rows through a scope, and the slug resolves
    // to it (cached).
    let old_scope = org.scope(old.id, old_owner).await;
    let mut tx = org.pool.begin(&old_scope).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 2);
    drop(tx);
    assert_eq!(cache.get(&slug).await.unwrap().unwrap().id, old.id);

    lc.soft_delete(&org.platform, &org.admin, old.id)
        .await
        .unwrap();
    // While free, the slug resolves to nothing.
    assert!(cache.get(&slug).await.unwrap().is_none());

    let new_owner = UserId::new_random();
    let new = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "New Acme");
    lc.create_with_owner(&org.platform, &org.admin, &new, new_owner)
        .await
        .unwrap();
    assert_ne!(new.id, old.id);

    // Lookups: the old id says deleted, the slug names the new tenant (cache and database).
    // (The cache is asked by the old id only at the very end: see
    // `cached_old_id_lookup_does_not_shadow_the_reused_slug`.)
    for store in [
        &*cache as &dyn TenantStore,
        &PgTenantStore::new(org.app.clone()),
    ] {
        let by_slug = store.get(&slug).await.unwrap().unwrap();
        assert_eq!(by_slug.id, new.id);
        assert_eq!(by_slug.display_name, "New Acme");
        assert_eq!(by_slug.status, TenantStatus::Active);
    }
    let by_old_id = PgTenantStore::new(org.app.clone())
        .by_id(old.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_old_id.status, TenantStatus::Deleted);

    // The old owner cannot enter by the slug (no membership in the new tenant), nor by the old
    // id (deleted; see `cached_old_id_lookup_does_not_shadow_the_reused_slug`).
    let err = authorize(&*cache, &org.members, &slug, old_owner)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthorizeError::NotMember(_)), "{err:?}");

    // The new tenant's scope, minted by slug: it sees its own row (positive control) and none of
    // the old tenant's, by listing, by name or by the old tenant's id.
    let new_scope = authorize(&*cache, &org.members, &slug, new_owner)
        .await
        .unwrap();
    assert_eq!(new_scope.tenant_id(), new.id);
    let mut tx = org.pool.begin(&new_scope).await.unwrap();
    sqlx::query("INSERT INTO items (name) VALUES ('new-row')")
        .execute(&mut *tx)
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items ORDER BY name")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(names, ["new-row"]);
    let leaked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM items WHERE tenant_id = $1 OR name LIKE 'old-%'")
            .bind(old.id.into_uuid())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(leaked, 0);
    tx.commit().await.unwrap();
    // The old rows are still there (soft deletion keeps them), just not visible.
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM items WHERE tenant_id = $1")
        .bind(old.id.into_uuid())
        .fetch_one(org.db.admin_pool())
        .await
        .unwrap();
    assert_eq!(kept, 2);
    let err = authorize(&*cache, &org.members, &TenantKey::Id(old.id), old_owner)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthorizeError::TenantNotActive {
                status: TenantStatus::Deleted,
                ..
            }
        ),
        "{err:?}"
    );
    org.close().await;
}

/// The cache, asked for the deleted tenant by its id, must not file the deleted record under its
/// (now reused) slug: `PgTenantStore` answers slug lookups with live tenants only.
/// (Regression test: the cache used to fill the slug key from a by-id load of a deleted tenant.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_old_id_lookup_does_not_shadow_the_reused_slug() {
    let org = Org::new().await;
    let cache = Arc::new(CachingTenantStore::new(PgTenantStore::new(org.app.clone())));
    let lc = Lifecycle::new().with_tenant_invalidator(cache.clone());
    let old = org.tenant("acme", UserId::new_random()).await;
    lc.soft_delete(&org.platform, &org.admin, old.id)
        .await
        .unwrap();
    let new = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "New Acme");
    lc.create_with_owner(&org.platform, &org.admin, &new, UserId::new_random())
        .await
        .unwrap();
    let slug = TenantKey::Slug(new.slug.clone());
    // Positive control: the database store answers the slug with the new tenant.
    let db = PgTenantStore::new(org.app.clone());
    assert_eq!(db.get(&slug).await.unwrap().unwrap().id, new.id);

    let by_old_id = cache.get(&TenantKey::Id(old.id)).await.unwrap().unwrap();
    assert_eq!(by_old_id.status, TenantStatus::Deleted);
    assert_eq!(cache.get(&slug).await.unwrap().unwrap().id, new.id);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_refuses_a_slug_of_the_form_of_a_tenant_id() {
    // `TenantSlug` cannot hold such a slug; the database refuses it too (migration 0003), even
    // from the platform role writing SQL of its own.
    let org = Org::new().await;
    let platform = org.db.platform_pool(1).await.unwrap();
    // In a transaction of its own: through PgBouncer (transaction pooling) bound statements
    // work only inside one.
    let insert = |slug: String| {
        let platform = platform.clone();
        async move {
            let mut tx = platform.begin().await?;
            sqlx::query(
                "INSERT INTO tenancy.tenants (id, slug, display_name) VALUES ($1, $2, 'X')",
            )
            .bind(uuid::Uuid::new_v4())
            .bind(slug)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
    };
    let err = insert(TenantId::new_random().to_string())
        .await
        .unwrap_err();
    let constraint = err
        .as_database_error()
        .and_then(|e| e.constraint())
        .map(str::to_owned);
    assert_eq!(
        constraint.as_deref(),
        Some("tenants_slug_not_id"),
        "{err:?}"
    );
    // Positive control: an ordinary slug of the same length is accepted.
    insert("acme-corporation-eu-west-and-central".into())
        .await
        .unwrap();
    org.close().await;
}
