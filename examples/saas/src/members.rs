//! Organisation sign-up (self-serve): a user creates an organisation and becomes its owner.
//!
//! Everything else about memberships is the library's: [`tenancy_sqlx::PgMembershipStore`]
//! (pipeline lookups, the organisation switcher), [`tenancy_sqlx::Members`] (management under
//! the core assignment rules), [`tenancy_sqlx::Invitations`].

use serde::Serialize;
use sqlx::PgPool;
use tenancy_core::{Role, Tenant, UserId};
use tenancy_sqlx::{LifecycleError, MembershipError, PgMembershipStore};
use uuid::Uuid;

use crate::app::AppState;

/// Creates an organisation and makes `owner` its owner: the library's
/// [`Lifecycle::create_self_serve`](tenancy_sqlx::Lifecycle::create_self_serve) writes the
/// registry row, the owner membership and the `tenant.created` audit entry (actor: the user) in
/// one platform-role transaction, then evicts the tenant and membership caches.
pub(crate) async fn create_org_with_owner(
    state: &AppState,
    tenant: &Tenant,
    owner: UserId,
) -> Result<(), LifecycleError> {
    state
        .lifecycle()
        .create_self_serve(state.platform(), owner, tenant)
        .await
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
