//! Tenant lifecycle through the library: create with the first owner, suspend, activate, soft
//! delete; audit entries with the platform administrator as actor; cache invalidation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod org_support;

use std::sync::Arc;

use org_support::Org;
use tenancy_core::{
    AuthorizeError, CachingMembershipStore, CachingTenantStore, Role, Tenant, TenantId, TenantKey,
    TenantStatus, TenantStore, UserId, authorize,
};
use tenancy_sqlx::audit_log::{self, Actor};
use tenancy_sqlx::{Lifecycle, LifecycleError, PgMembershipStore, PgTenantStore, PlatformPool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_suspend_activate_delete_with_audit_and_cache_invalidation() {
    let org = Org::new().await;
    let owner = UserId::new_random();
    let tenants = Arc::new(CachingTenantStore::new(PgTenantStore::new(org.app.clone())));
    let memberships = Arc::new(CachingMembershipStore::new(PgMembershipStore::new(
        org.app.clone(),
    )));
    let lc = Lifecycle::new()
        .with_tenant_invalidator(tenants.clone())
        .with_membership_invalidator(memberships.clone());
    let t = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    let key = TenantKey::Slug(t.slug.clone());

    // Cache a negative entry first: creation must evict it.
    assert!(tenants.get(&key).await.unwrap().is_none());
    lc.create_with_owner(&org.platform, &org.admin, &t, owner)
        .await
        .unwrap();
    let scope = authorize(tenants.as_ref(), memberships.as_ref(), &key, owner)
        .await
        .unwrap();
    assert_eq!(scope.role(), Role::Owner);

    lc.suspend(&org.platform, &org.admin, t.id).await.unwrap();
    let err = authorize(tenants.as_ref(), memberships.as_ref(), &key, owner)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthorizeError::TenantNotActive {
                status: TenantStatus::Suspended,
                ..
            }
        ),
        "the cached active tenant must have been evicted: {err:?}"
    );
    lc.activate(&org.platform, &org.admin, t.id).await.unwrap();
    let scope = authorize(tenants.as_ref(), memberships.as_ref(), &key, owner)
        .await
        .unwrap();

    // The audit trail, read while the tenant is active.
    let mut tx = org.pool.begin(&scope).await.unwrap();
    let all = audit_log::entries(&mut tx).await.unwrap();
    let actions: Vec<_> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["tenant.created", "tenant.suspended", "tenant.activated"]
    );
    assert!(
        all.iter()
            .all(|e| e.actor == Actor::PlatformAdmin(org.admin.admin_id()))
    );
    assert_eq!(
        all[1].details,
        serde_json::json!({ "from": "active", "to": "suspended" })
    );
    audit_log::verify_chain(&mut tx).await.unwrap();
    drop(tx);

    lc.soft_delete(&org.platform, &org.admin, t.id)
        .await
        .unwrap();
    let err = authorize(tenants.as_ref(), memberships.as_ref(), &key, owner)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthorizeError::UnknownTenant(_)), "{err:?}");
    let err = authorize(
        tenants.as_ref(),
        memberships.as_ref(),
        &TenantKey::Id(t.id),
        owner,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        AuthorizeError::TenantNotActive {
            status: TenantStatus::Deleted,
            ..
        }
    ));
    assert!(
        org.members.memberships_of(owner).await.unwrap().is_empty(),
        "deleted tenants are not listed"
    );
    let deleted_entry: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tenancy.audit_log WHERE tenant_id = $1 AND action = 'tenant.deleted'",
    )
    .bind(t.id.into_uuid())
    .fetch_one(org.db.admin_pool())
    .await
    .unwrap();
    assert_eq!(deleted_entry, 1);

    // Deleted is final.
    let err = lc
        .activate(&org.platform, &org.admin, t.id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LifecycleError::InvalidTransition {
                from: TenantStatus::Deleted,
                ..
            }
        ),
        "{err:?}"
    );
    // The slug is free again, for a new tenant with a new id.
    let again = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme 2");
    lc.create_with_owner(&org.platform, &org.admin, &again, owner)
        .await
        .unwrap();
    let scope = authorize(tenants.as_ref(), memberships.as_ref(), &key, owner)
        .await
        .unwrap();
    assert_eq!(scope.tenant_id(), again.id);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_is_atomic_and_slugs_are_unique() {
    let org = Org::new().await;
    let owner = UserId::new_random();
    let a = org.tenant("acme", owner).await;
    let dup = Tenant::new(TenantId::new_random(), a.slug.clone(), "Other");
    let err = Lifecycle::new()
        .create_with_owner(&org.platform, &org.admin, &dup, UserId::new_random())
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::SlugTaken(_)), "{err:?}");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1")
            .bind(dup.id.into_uuid())
            .fetch_one(org.db.admin_pool())
            .await
            .unwrap();
    assert_eq!(rows, 0);
    let err = Lifecycle::new()
        .suspend(&org.platform, &org.admin, TenantId::new_random())
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::NotFound(_)), "{err:?}");
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_role_cannot_run_lifecycle_operations() {
    let org = Org::new().await;
    let owner = UserId::new_random();
    let a = org.tenant("acme", owner).await;
    // A "platform" pool that is really the application role.
    let fake = PlatformPool::connect_with(
        sqlx::postgres::PgPoolOptions::new().max_connections(1),
        org.db.app_connect_options().unwrap(),
    )
    .await
    .unwrap();
    let err = Lifecycle::new()
        .suspend(&fake, &org.admin, a.id)
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::Database(_)), "{err:?}");
    let t = Tenant::new(TenantId::new_random(), "evil".parse().unwrap(), "Evil");
    let err = Lifecycle::new()
        .create_with_owner(&fake, &org.admin, &t, owner)
        .await
        .unwrap_err();
    assert!(matches!(err, LifecycleError::Database(_)), "{err:?}");
    fake.close().await;
    // Positive control: still active, through the real platform pool it works.
    org.scope(a.id, owner).await;
    Lifecycle::new()
        .suspend(&org.platform, &org.admin, a.id)
        .await
        .unwrap();
    org.close().await;
}
