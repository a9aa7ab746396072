//! Organisation sign-up (self-serve): a user creates an organisation and becomes its owner.
//!
//! Everything else about memberships is the library's: [`tenancy_sqlx::PgMembershipStore`]
//! (pipeline lookups, the organisation switcher), [`tenancy_sqlx::Members`] (management under
//! the core assignment rules), [`tenancy_sqlx::Invitations`].

use serde::Serialize;
use sqlx::PgPool;
use tenancy_core::{Role, Tenant, TenantStatus, UserId};
use tenancy_sqlx::audit_log::{self, Actor, AuditEntry};
use tenancy_sqlx::{MembershipError, PgMembershipStore, TenantStoreError};
use uuid::Uuid;

use crate::app::AppState;

/// Creates an organisation in the registry (platform role) and makes `owner` its owner.
///
/// The library's [`Lifecycle::create_with_owner`](tenancy_sqlx::Lifecycle::create_with_owner)
/// does both in one audited transaction but needs a
/// [`PlatformScope`](tenancy_core::PlatformScope), which a self-serve sign-up does not have; so
/// this registers the tenant with [`PgTenantStore::create`](tenancy_sqlx::PgTenantStore::create)
/// and records the first owner in a platform-role transaction scoped to the new tenant. If the
/// second step fails the tenant is marked deleted. The creation is then written to the new
/// tenant's audit log in a tenant transaction of its owner.
pub(crate) async fn create_org_with_owner(
    state: &AppState,
    tenant: &Tenant,
    owner: UserId,
) -> Result<(), TenantStoreError> {
    state.registry().create(tenant).await?;
    let result: Result<(), sqlx::Error> = async {
        let mut tx = state.platform_raw().begin().await?;
        sqlx::query("SELECT pg_catalog.set_config('tenancy.tenant_id', $1, true)")
            .bind(tenant.id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tenancy.memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')",
        )
        .bind(tenant.id.as_uuid())
        .bind(owner.as_uuid())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = result {
        let _ = state
            .registry()
            .set_status(tenant.id, TenantStatus::Deleted)
            .await;
        return Err(TenantStoreError::Database(e));
    }
    state.members().invalidate(tenant.id, owner);
    // The creator is now the owner: record the creation in the tenant's audit log through a
    // scope minted the only way there is (registry and membership lookups).
    if let Err(e) = audit_creation(state, tenant, owner).await {
        tracing::error!(tenant_id = %tenant.id, error = %e, "organisation created but its audit entry failed");
    }
    Ok(())
}

async fn audit_creation(
    state: &AppState,
    tenant: &Tenant,
    owner: UserId,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let scope = tenancy_core::authorize(
        state.tenant_cache(),
        state.members(),
        &tenancy_core::TenantKey::Id(tenant.id),
        owner,
    )
    .await?;
    let mut tx = state.db().begin(&scope).await?;
    audit_log::append(
        &mut tx,
        &AuditEntry::new(Actor::User(owner), "tenant.created")
            .with_target(tenant.id.to_string())
            .with_details(serde_json::json!({ "slug": tenant.slug.as_str(), "self_serve": true })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One of a user's organisations, as `GET /api/me` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnMembership {
    /// The tenant.
    pub tenant_id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// The user's role there.
    pub role: Role,
}

/// The organisations `user` belongs to (the library's organisation switcher query, as the
/// user: their own memberships only).
pub async fn memberships_of(
    pool: &PgPool,
    user: UserId,
) -> Result<Vec<OwnMembership>, MembershipError> {
    Ok(PgMembershipStore::new(pool.clone())
        .memberships_of(user)
        .await?
        .into_iter()
        .map(|m| OwnMembership {
            tenant_id: m.tenant_id.into_uuid(),
            slug: m.slug.to_string(),
            name: m.name,
            role: m.role,
        })
        .collect())
}
