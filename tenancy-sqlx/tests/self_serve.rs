//! `Lifecycle::create_self_serve` (tenant, first owner and audit entry in one transaction, actor
//! the creator) and `Lifecycle::rename` (audited, cache invalidated, confined to the scope's
//! tenant).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod org_support;

use std::sync::Arc;

use org_support::Org;
use tenancy_core::{
    CachingMembershipStore, CachingTenantStore, Role, Tenant, TenantId, TenantKey, TenantStore,
    UserId, authorize,
};
use tenancy_sqlx::audit_log::{self, Actor};
use tenancy_sqlx::{Lifecycle, LifecycleError, PgMembershipStore, PgTenantStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_serve_creates_tenant_owner_and_audit_entry_and_evicts_caches() {
    let org = Org::new().await;
    let creator = UserId::new_random();
    let tenants = Arc::new(CachingTenantStore::new(PgTenantStore::new(org.app.clone())));
    let members = Arc::new(CachingMembershipStore::new(PgMembershipStore::new(
        org.app.clone(),
    )));
    let lc = Lifecycle::new()
        .with_tenant_invalidator(tenants.clone())
        .with_membership_invalidator(members.clone());
    let t = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let key = TenantKey::Slug(t.slug.clone());
    // Negative entries cached first: the creation must evict them.
    assert!(tenants.get(&key).await.unwrap().is_none());
    assert!(
        authorize(&*tenants, &*members, &key, creator)
            .await
            .is_err()
    );

    lc.create_self_serve(&org.platform, creator, &t)
        .await
        .unwrap();
    let scope = authorize(&*tenants, &*members, &key, creator)
        .await
        .unwrap();
    assert_eq!(scope.tenant_id(), t.id);
    assert_eq!(scope.role(), Role::Owner);
    assert_eq!(org.owners(t.id).await, 1);

    let mut tx = org.pool.begin(&scope).await.unwrap();
    let entries = audit_log::entries(&mut tx).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "tenant.created");
    assert_eq!(entries[0].actor, Actor::User(creator));
    assert_eq!(entries[0].details["self_serve"], serde_json::json!(true));
    assert_eq!(entries[0].details["owner"], creator.to_string());
    audit_log::verify_chain(&mut tx).await.unwrap();
    drop(tx);

    // A taken slug is a typed error and creates nothing.
    let dup = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Other");
    let err = lc
        .create_self_serve(&org.platform, UserId::new_random(), &dup)
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::SlugTaken(_)), "{err:?}");
    assert!(org.tenants.by_id(dup.id).await.unwrap().is_none());
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_serve_failure_after_the_registry_insert_leaves_nothing() {
    let org = Org::new().await;
    let doomed = UserId::new_random();
    // A step after the registry insert fails: the owner membership of `doomed`.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION public.refuse_member() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN IF NEW.user_id = '{doomed}' THEN RAISE EXCEPTION 'planted failure'; END IF; \
         RETURN NEW; END $$; \
         CREATE TRIGGER refuse_member BEFORE INSERT ON tenancy.memberships \
         FOR EACH ROW EXECUTE FUNCTION public.refuse_member();"
    )))
    .execute(org.db.admin_pool())
    .await
    .unwrap();
    let t = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let err = Lifecycle::new()
        .create_self_serve(&org.platform, doomed, &t)
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::Membership(_)), "{err:?}");
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM tenancy.tenants WHERE id = $1) \
         + (SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1) \
         + (SELECT count(*) FROM tenancy.audit_log WHERE tenant_id = $1)",
    )
    .bind(t.id.into_uuid())
    .fetch_one(org.db.admin_pool())
    .await
    .unwrap();
    assert_eq!(
        rows, 0,
        "no registry row, membership or audit entry survives"
    );

    // Positive control: the slug is still free and another creator gets it.
    let other = UserId::new_random();
    let t2 = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    Lifecycle::new()
        .create_self_serve(&org.platform, other, &t2)
        .await
        .unwrap();
    assert_eq!(org.scope(t2.id, other).await.role(), Role::Owner);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_is_audited_confined_and_evicts_the_cache() {
    let org = Org::new().await;
    let (ua, ub) = (UserId::new_random(), UserId::new_random());
    let a = org.tenant("acme", ua).await;
    let b = org.tenant("globex", ub).await;
    let tenants = Arc::new(CachingTenantStore::new(PgTenantStore::new(org.app.clone())));
    let lc = Lifecycle::new().with_tenant_invalidator(tenants.clone());
    let key = TenantKey::Id(a.id);
    assert_eq!(
        tenants.get(&key).await.unwrap().unwrap().display_name,
        "ACME"
    );

    let scope = authorize(&*tenants, &org.members, &key, ua).await.unwrap();
    let renamed = lc
        .rename(&org.platform, &scope, "  Acme Ltd ")
        .await
        .unwrap();
    assert_eq!(renamed.display_name, "Acme Ltd");
    assert_eq!(
        tenants.get(&key).await.unwrap().unwrap().display_name,
        "Acme Ltd",
        "the cache was evicted"
    );
    // Confined: the other tenant keeps its name (positive control above: A's changed).
    assert_eq!(
        org.tenants.by_id(b.id).await.unwrap().unwrap().display_name,
        "GLOBEX"
    );
    let err = lc.rename(&org.platform, &scope, "   ").await.unwrap_err();
    assert!(matches!(err, LifecycleError::EmptyName), "{err:?}");

    let mut tx = org.pool.begin(&scope).await.unwrap();
    let entries = audit_log::entries(&mut tx).await.unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.action, "tenant.renamed");
    assert_eq!(last.actor, Actor::User(ua));
    assert_eq!(
        last.details,
        serde_json::json!({ "from": "ACME", "to": "Acme Ltd" })
    );
    audit_log::verify_chain(&mut tx).await.unwrap();
    drop(tx);
    // B's log has no entry about A's rename.
    let scope_b = org.scope(b.id, ub).await;
    let mut tx = org.pool.begin(&scope_b).await.unwrap();
    let b_entries = audit_log::entries(&mut tx).await.unwrap();
    assert!(b_entries.iter().all(|e| e.action != "tenant.renamed"));
    drop(tx);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_counts_members_per_tenant_with_a_platform_role_without_bypassrls() {
    let org = Org::new().await;
    // The fixture's platform login role has BYPASSRLS; the overview must not need it. A login
    // role of this test only (roles are cluster-wide: the shared one is left alone).
    let role = format!("tenancy_test_np_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{role}' IN ROLE tenancy_platform"
    )))
    .execute(org.db.admin_pool())
    .await
    .unwrap();
    // Straight to PostgreSQL, not through the test PgBouncer: its auth file only knows the
    // fixture's roles, not this ad-hoc one.
    let platform = tenancy_sqlx::PlatformPool::connect_with(
        sqlx::postgres::PgPoolOptions::new().max_connections(1),
        org.db
            .admin_connect_options()
            .username(&role)
            .password(&role),
    )
    .await
    .unwrap();
    let (ua, ub) = (UserId::new_random(), UserId::new_random());
    let a = org.tenant("acme", ua).await;
    let b = org.tenant("globex", ub).await;
    org.seed(a.id, UserId::new_random(), Role::Member).await;
    org.seed(a.id, UserId::new_random(), Role::Admin).await;
    let gone = org.tenant("gone", UserId::new_random()).await;
    let lc = Lifecycle::new();
    lc.soft_delete(&org.platform, &org.admin, gone.id)
        .await
        .unwrap();

    let rows = lc.overview(&platform, &org.admin).await.unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.tenant.slug.to_string(), r.member_count))
        .collect();
    assert_eq!(got, [("acme".to_owned(), 3), ("globex".to_owned(), 1)]);
    assert_eq!(rows[0].tenant.id, a.id);
    assert_eq!(rows[1].tenant.id, b.id);

    // Control: the same role counting across tenants without entering them sees nothing, so
    // the counts above come from entering each tenant, not from a bypass.
    let mut tx = platform.begin(&org.admin).await.unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.memberships")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(visible, 0);
    drop(tx);
    platform.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(org.db.admin_pool())
        .await
        .unwrap();
    org.close().await;
}
