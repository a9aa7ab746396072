//! Membership lookups that happen before a tenant scope exists: the pipeline's role lookup and a
//! user's own organisations.
//!
//! Both read `tenancy.memberships` (library migration `0002`) as the runtime role, whose
//! SELECT policy admits the rows of the transaction's user (`tenancy.user_id`) across tenants;
//! writes stay tenant-scoped and go through a [`TenantTx`](tenancy_sqlx::TenantTx).
//!
//! Interim: these few queries stand in for the library's membership store
//! (`tenancy-sqlx/src/membership.rs`) until it lands; they will delegate to it.

use async_trait::async_trait;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};
use tenancy_core::{MembershipStore, Role, StoreError, TenantId, UserId};
use uuid::Uuid;

/// Opens a plain transaction of the runtime role in which only `user`'s own memberships are
/// visible (no tenant is set, so tenant tables show nothing).
async fn as_user(
    pool: &PgPool,
    user: UserId,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_catalog.set_config('tenancy.user_id', $1, true)")
        .bind(user.to_string())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// [`MembershipStore`] over `tenancy.memberships`, reading the caller's own row.
#[derive(Debug, Clone)]
pub struct PgMembers {
    pool: PgPool,
}

impl PgMembers {
    /// A store over the runtime role's pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl MembershipStore for PgMembers {
    async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError> {
        let err = |e| StoreError::new("membership store", e);
        let mut tx = as_user(&self.pool, user).await.map_err(err)?;
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM tenancy.memberships WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        role.map(|r| r.parse::<Role>())
            .transpose()
            .map_err(|e| StoreError::new("membership store", e))
    }
}

/// One of a user's organisations.
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

/// The organisations `user` belongs to (live ones only), by slug.
pub async fn memberships_of(
    pool: &PgPool,
    user: UserId,
) -> Result<Vec<OwnMembership>, sqlx::Error> {
    let mut tx = as_user(pool, user).await?;
    let rows: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT t.id, t.slug, t.display_name, m.role \
         FROM tenancy.memberships m JOIN tenancy.tenants t ON t.id = m.tenant_id \
         WHERE m.user_id = $1 AND t.status <> 'deleted' ORDER BY t.slug",
    )
    .bind(user.as_uuid())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|(tenant_id, slug, name, role)| {
            role.parse().ok().map(|role| OwnMembership {
                tenant_id,
                slug,
                name,
                role,
            })
        })
        .collect())
}

/// Creates an organisation in the registry (platform role) and makes `owner` its owner.
///
/// Interim: a library lifecycle operation that does both in one transaction replaces this.
pub(crate) async fn create_org_with_owner(
    state: &crate::app::AppState,
    tenant: &tenancy_core::Tenant,
    owner: UserId,
) -> Result<(), tenancy_sqlx::TenantStoreError> {
    use tenancy_sqlx::TenantStoreError;
    state.registry().create(tenant).await?;
    let result: Result<(), sqlx::Error> = async {
        let pool = state.platform_raw();
        let mut tx = pool.begin().await?;
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
            .set_status(tenant.id, tenancy_core::TenantStatus::Deleted)
            .await;
        return Err(TenantStoreError::Database(e));
    }
    state.members().invalidate(tenant.id, owner);
    Ok(())
}
