//! Memberships: the request-time lookup ([`PgMembershipStore`]), the organisation switcher
//! ([`PgMembershipStore::memberships_of`]) and membership management ([`Members`]).
//!
//! See [`PgMembershipStore`] for how row level security admits pre-scope lookups.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, PgPool};
use tenancy_core::assignment::{self, Action};
use tenancy_core::{
    DenyReason, MembershipCacheInvalidator, MembershipStore, Role, SlugPolicy, StoreError,
    TenantId, TenantScope, TenantSlug, UserId,
};

use crate::audit_log::{self, Actor, AuditEntry, AuditLogError};
use crate::{TenantPool, TenantTx, TxError, settings};

/// SQLSTATE raised by the last-owner trigger.
pub(crate) const LAST_OWNER_SQLSTATE: &str = "TY001";

/// Why a membership operation failed.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, sole_owner: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::{MembershipError, Members};
/// let err = Members::new().leave(pool, sole_owner).await.unwrap_err();
/// assert!(matches!(err, MembershipError::LastOwner));
/// assert_eq!(err.to_string(), "the last owner cannot leave, be removed or be demoted");
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The database failed.
    #[error("membership store is unavailable")]
    Database(#[source] sqlx::Error),
    /// The tenant transaction could not be opened or committed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The audit entry could not be written (the change was rolled back).
    #[error(transparent)]
    Audit(#[from] AuditLogError),
    /// The acting user is no longer a member of the tenant.
    #[error("you are not a member of this tenant")]
    ActorNotMember,
    /// The assignment rules refuse the change.
    #[error(transparent)]
    Denied(DenyReason),
    /// The target user is not a member of the tenant.
    #[error("user `{0}` is not a member of this tenant")]
    NotMember(UserId),
    /// The target user is already a member of the tenant.
    #[error("user `{0}` is already a member of this tenant")]
    AlreadyMember(UserId),
    /// The change would leave the tenant without an owner (ATTACKS F.31).
    #[error("the last owner cannot leave, be removed or be demoted")]
    LastOwner,
    /// A stored value (role, slug) could not be read.
    #[error("stored membership value `{0}` is invalid")]
    Corrupt(String),
}

pub(crate) fn map_db(e: sqlx::Error) -> MembershipError {
    if sqlstate_is(&e, LAST_OWNER_SQLSTATE) {
        MembershipError::LastOwner
    } else {
        MembershipError::Database(e)
    }
}

pub(crate) fn sqlstate_is(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == code)
}

pub(crate) fn parse_role(s: &str) -> Result<Role, MembershipError> {
    s.parse()
        .map_err(|_| MembershipError::Corrupt(s.to_owned()))
}

/// One of a user's memberships, for the organisation switcher.
///
/// ```no_run
/// # async fn demo(store: &tenancy_sqlx::PgMembershipStore, tenants: &dyn tenancy_core::TenantStore,
/// #     user: tenancy_core::UserId) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::{TenantKey, TenantSlug, authorize};
/// // The user picked `acme` in the switcher: build that tenant's scope, re-checking the role.
/// let chosen: TenantSlug = "acme".parse()?;
/// let summaries = store.memberships_of(user).await?;
/// if let Some(m) = summaries.iter().find(|m| m.slug == chosen) {
///     let scope = authorize(tenants, store, &TenantKey::Id(m.tenant_id), user).await?;
///     assert_eq!(scope.tenant_id(), m.tenant_id);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipSummary {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Its slug.
    pub slug: TenantSlug,
    /// Its display name.
    pub name: String,
    /// The user's role there (and only there).
    pub role: Role,
}

/// A member of the transaction's tenant.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::Role;
/// let mut tx = pool.begin(scope).await?;
/// let members = tenancy_sqlx::Members::new().list(&mut tx).await?;
/// tx.commit().await?;
/// let owners: Vec<_> = members.iter().filter(|m| m.role == Role::Owner).map(|m| m.user_id).collect();
/// assert!(!owners.is_empty(), "the database keeps at least one owner");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Their role.
    pub role: Role,
}

/// [`MembershipStore`] over `tenancy.memberships`, for the runtime role's pool.
///
/// Every lookup is one short transaction with `tenancy.user_id` set locally. Wrap it in
/// `tenancy_core::CachingMembershipStore` for the pipeline.
///
/// # Row level security on `tenancy.memberships`
///
/// Memberships are read *before* a tenant scope exists: the pipeline asks for the role of a user
/// in the tenant it resolved, the organisation switcher lists a user's tenants. The table is
/// protected with `tenancy.protect_table`, and its read policy is widened to the caller's own
/// rows only:
///
/// - reads see the rows of the transaction's tenant (`tenancy.tenant_id`) **or** the rows whose
///   user is the transaction's user (`tenancy.user_id`); with neither set, nothing;
/// - inserts, updates and deletes stay strictly tenant-scoped (restrictive policies per command).
///
/// [`PgMembershipStore`] runs each lookup in a short transaction that sets only
/// `tenancy.user_id` (transaction-locally): the user sees their own memberships in every tenant
/// and nobody else's. Inside a tenant transaction a user also sees their own memberships of other
/// tenants; queries over "the members of this tenant" filter on the tenant, as [`Members::list`]
/// does.
///
/// # Users
///
/// Users belong to the application: memberships store the user id only. An application can add
/// a foreign key from `tenancy.memberships (user_id)` to its own users table in its migrations.
///
/// ```no_run
/// # async fn demo(app_pool: sqlx::PgPool, user: tenancy_core::UserId)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let store = tenancy_sqlx::PgMembershipStore::new(app_pool);
/// for m in store.memberships_of(user).await? {
///     println!("{} ({}) as {}", m.name, m.slug, m.role);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgMembershipStore {
    pool: PgPool,
}

impl fmt::Debug for PgMembershipStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgMembershipStore").finish_non_exhaustive()
    }
}

/// `BEGIN` plus the user setting in one round trip; the value is rendered from a typed id.
fn begin_as_user_sql(user: UserId) -> String {
    format!(
        "BEGIN; SELECT pg_catalog.set_config('{}', '{}', true)",
        settings::USER_ID,
        user
    )
}

impl PgMembershipStore {
    /// A store over a pool of the runtime role.
    ///
    /// ```no_run
    /// # async fn demo(app_pool: sqlx::PgPool, tenants: &dyn tenancy_core::TenantStore,
    /// #     key: tenancy_core::TenantKey, user: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let members = tenancy_sqlx::PgMembershipStore::new(app_pool);
    /// let scope = tenancy_core::authorize(tenants, &members, &key, user).await?;
    /// # let _ = scope; Ok(()) }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The role of `user` in `tenant`, read as `user`.
    ///
    /// ```no_run
    /// # async fn demo(store: &tenancy_sqlx::PgMembershipStore, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let role = store.role(scope.tenant_id(), scope.user_id()).await?;
    /// assert_eq!(role, Some(scope.role()));
    /// # Ok(()) }
    /// ```
    pub async fn role(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Option<Role>, MembershipError> {
        let mut tx = self
            .pool
            .begin_with(AssertSqlSafe(begin_as_user_sql(user)))
            .await
            .map_err(MembershipError::Database)?;
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM tenancy.memberships \
             WHERE tenant_id = $1 AND user_id = (SELECT tenancy.current_user_id())",
        )
        .bind(tenant.into_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(MembershipError::Database)?;
        tx.commit().await.map_err(MembershipError::Database)?;
        role.as_deref().map(parse_role).transpose()
    }

    /// Every membership of `user` in a tenant that is not deleted, by tenant name: what an
    /// organisation switcher shows. Build the scope of the selected tenant with
    /// `tenancy_core::authorize(.., &TenantKey::Id(selected), user)`, never from a role listed
    /// here for another tenant.
    ///
    /// ```no_run
    /// # async fn demo(store: &tenancy_sqlx::PgMembershipStore, user: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::Role;
    /// // Account deletion waits until the user owns no organisation.
    /// let owned: Vec<String> = store
    ///     .memberships_of(user)
    ///     .await?
    ///     .into_iter()
    ///     .filter(|m| m.role == Role::Owner)
    ///     .map(|m| m.name)
    ///     .collect();
    /// if !owned.is_empty() {
    ///     println!("transfer or delete these first: {}", owned.join(", "));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn memberships_of(
        &self,
        user: UserId,
    ) -> Result<Vec<MembershipSummary>, MembershipError> {
        let mut tx = self
            .pool
            .begin_with(AssertSqlSafe(begin_as_user_sql(user)))
            .await
            .map_err(MembershipError::Database)?;
        let rows: Vec<(uuid::Uuid, String, String, String)> = sqlx::query_as(
            "SELECT t.id, t.slug, t.display_name, m.role \
             FROM tenancy.memberships m JOIN tenancy.tenants t ON t.id = m.tenant_id \
             WHERE m.user_id = (SELECT tenancy.current_user_id()) AND t.status <> 'deleted' \
             ORDER BY t.display_name, t.slug",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(MembershipError::Database)?;
        tx.commit().await.map_err(MembershipError::Database)?;
        rows.into_iter()
            .map(|(id, slug, name, role)| {
                Ok(MembershipSummary {
                    tenant_id: TenantId::from_uuid(id),
                    slug: SlugPolicy::permissive()
                        .parse(&slug)
                        .map_err(|_| MembershipError::Corrupt(slug.clone()))?,
                    name,
                    role: parse_role(&role)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl MembershipStore for PgMembershipStore {
    async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError> {
        self.role(tenant, user)
            .await
            .map_err(|e| StoreError::new("membership store", e))
    }
}

/// Membership management in the scope's tenant: add, change role, remove, leave, list.
///
/// Each operation opens its own tenant transaction for the acting scope, re-reads the actor's
/// role there, asks [`tenancy_core::assignment::check`] (the single place for the assignment
/// rules), makes the change, appends an audit entry, commits, and then invalidates the cache.
/// The last-owner rule is enforced by the database and surfaces as
/// [`MembershipError::LastOwner`].
///
/// # Revocation
///
/// Through [`Members`] a removal or role change is committed, then the cache passed to
/// [`Members::with_invalidator`] is told, so the next `authorize` (pipeline) sees it at once.
/// The management operations re-read the actor's role in their own transaction, so a removed or
/// demoted actor loses their rights immediately even with a stale scope. A change made behind the
/// library's back is seen by a `CachingMembershipStore` after its TTL (default 10 s).
/// A [`TenantScope`] minted before a revocation is a proof about the past: it lives for one
/// request (or job run) and jobs re-check membership when they rebuild their scope.
///
/// # Isolation level
///
/// The last-owner trigger is race-safe under `READ COMMITTED` (what tenant transactions use) and
/// `SERIALIZABLE`; under `REPEATABLE READ` it refuses owner changes (SQLSTATE `TY003`).
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope,
/// #     bob: tenancy_core::UserId) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::Role;
/// let members = tenancy_sqlx::Members::new();
/// members.add(pool, scope, bob, Role::Member).await?;
/// members.change_role(pool, scope, bob, Role::Manager).await?;
/// members.remove(pool, scope, bob).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Members {
    invalidator: Arc<dyn MembershipCacheInvalidator>,
}

impl Default for Members {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Members").finish_non_exhaustive()
    }
}

/// The role of `user` in the transaction's tenant.
pub(crate) async fn role_in_tx(
    tx: &mut TenantTx,
    user: UserId,
) -> Result<Option<Role>, MembershipError> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM tenancy.memberships \
         WHERE tenant_id = (SELECT tenancy.current_tenant_id()) AND user_id = $1",
    )
    .bind(user.into_uuid())
    .fetch_optional(&mut **tx)
    .await
    .map_err(MembershipError::Database)?;
    role.as_deref().map(parse_role).transpose()
}

/// The actor's current role, re-read in the transaction.
pub(crate) async fn actor_role(
    tx: &mut TenantTx,
    scope: &TenantScope,
) -> Result<Role, MembershipError> {
    role_in_tx(tx, scope.user_id())
        .await?
        .ok_or(MembershipError::ActorNotMember)
}

impl Members {
    /// Management without a cache to invalidate.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope,
    /// #     store: &tenancy_sqlx::PgMembershipStore, bob: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::Role;
    /// tenancy_sqlx::Members::new().add(pool, scope, bob, Role::Admin).await?;
    /// // No cache in between: the next lookup sees bob at once.
    /// assert_eq!(store.role(scope.tenant_id(), bob).await?, Some(Role::Admin));
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self {
            invalidator: Arc::new(()),
        }
    }

    /// Invalidates `invalidator` (the `CachingMembershipStore` of the pipeline) after every
    /// committed change.
    ///
    /// ```no_run
    /// # fn demo(app_pool: sqlx::PgPool) {
    /// use std::sync::Arc;
    /// use tenancy_core::CachingMembershipStore;
    /// use tenancy_sqlx::{Members, PgMembershipStore};
    /// // The pipeline authorizes through this cache; a removal evicts the user's entry,
    /// // so their next request is refused without waiting for the TTL.
    /// let memberships = Arc::new(CachingMembershipStore::new(PgMembershipStore::new(app_pool)));
    /// let members = Members::new().with_invalidator(memberships.clone());
    /// # let _ = members; }
    /// ```
    #[must_use]
    pub fn with_invalidator(mut self, invalidator: Arc<dyn MembershipCacheInvalidator>) -> Self {
        self.invalidator = invalidator;
        self
    }

    /// The members of the transaction's tenant.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// let members = tenancy_sqlx::Members::new().list(&mut tx).await?;
    /// tx.commit().await?;
    /// assert!(members.iter().any(|m| m.user_id == scope.user_id() && m.role == scope.role()));
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, tx: &mut TenantTx) -> Result<Vec<Member>, MembershipError> {
        let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT user_id, role FROM tenancy.memberships \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) ORDER BY created_at, user_id",
        )
        .fetch_all(&mut **tx)
        .await
        .map_err(MembershipError::Database)?;
        rows.into_iter()
            .map(|(u, r)| {
                Ok(Member {
                    user_id: UserId::from_uuid(u),
                    role: parse_role(&r)?,
                })
            })
            .collect()
    }

    /// Adds `user` with `role` (action [`Action::Grant`]).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope,
    /// #     bob: tenancy_core::UserId) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::Role;
    /// use tenancy_sqlx::{MembershipError, Members};
    /// let members = Members::new();
    /// members.add(pool, scope, bob, Role::Member).await?;
    /// let err = members.add(pool, scope, bob, Role::Manager).await.unwrap_err();
    /// assert!(matches!(err, MembershipError::AlreadyMember(u) if u == bob));
    /// # Ok(()) }
    /// ```
    pub async fn add(
        &self,
        pool: &TenantPool,
        scope: &TenantScope,
        user: UserId,
        role: Role,
    ) -> Result<(), MembershipError> {
        let mut tx = pool.begin(scope).await?;
        let actor = actor_role(&mut tx, scope).await?;
        if role_in_tx(&mut tx, user).await?.is_some() {
            return Err(MembershipError::AlreadyMember(user));
        }
        decide(actor, Action::Grant, None, Some(role))?;
        insert_membership(&mut tx, user, role).await?;
        audit_log::append(
            &mut tx,
            &AuditEntry::new(Actor::from_scope(scope), "member.added")
                .with_target(user.to_string())
                .with_details(serde_json::json!({ "role": role.as_str() })),
        )
        .await?;
        tx.commit().await?;
        self.invalidator
            .invalidate_membership(scope.tenant_id(), user);
        Ok(())
    }

    /// Changes the role of `user` (the actor's own included) to `role`.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, owner: &tenancy_core::TenantScope,
    /// #     bob_scope: &tenancy_core::TenantScope) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{DenyReason, Role};
    /// use tenancy_sqlx::{MembershipError, Members};
    /// let members = Members::new();
    /// let bob = bob_scope.user_id();
    /// members.change_role(pool, owner, bob, Role::Admin).await?;
    /// // Only an owner may make someone an owner, bob himself included.
    /// let err = members.change_role(pool, bob_scope, bob, Role::Owner).await.unwrap_err();
    /// assert!(matches!(err, MembershipError::Denied(DenyReason::OwnerOnly)));
    /// # Ok(()) }
    /// ```
    pub async fn change_role(
        &self,
        pool: &TenantPool,
        scope: &TenantScope,
        user: UserId,
        role: Role,
    ) -> Result<(), MembershipError> {
        let mut tx = pool.begin(scope).await?;
        let actor = actor_role(&mut tx, scope).await?;
        let current = role_in_tx(&mut tx, user)
            .await?
            .ok_or(MembershipError::NotMember(user))?;
        decide(actor, Action::Change, Some(current), Some(role))?;
        let n = sqlx::query(
            "UPDATE tenancy.memberships SET role = $2, updated_at = pg_catalog.now() \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) AND user_id = $1",
        )
        .bind(user.into_uuid())
        .bind(role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_db)?
        .rows_affected();
        if n == 0 {
            return Err(MembershipError::NotMember(user));
        }
        audit_log::append(
            &mut tx,
            &AuditEntry::new(Actor::from_scope(scope), "member.role_changed")
                .with_target(user.to_string())
                .with_details(serde_json::json!({ "from": current.as_str(), "to": role.as_str() })),
        )
        .await?;
        tx.commit().await?;
        self.invalidator
            .invalidate_membership(scope.tenant_id(), user);
        Ok(())
    }

    /// Removes another member. Given the scope's own user it is [`leave`](Self::leave) (the
    /// rules for leaving apply, e.g. the last owner cannot go).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope,
    /// #     bob: tenancy_core::UserId) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_sqlx::{MembershipError, Members};
    /// let members = Members::new();
    /// members.remove(pool, scope, bob).await?;
    /// let err = members.remove(pool, scope, bob).await.unwrap_err();
    /// assert!(matches!(err, MembershipError::NotMember(u) if u == bob));
    /// # Ok(()) }
    /// ```
    pub async fn remove(
        &self,
        pool: &TenantPool,
        scope: &TenantScope,
        user: UserId,
    ) -> Result<(), MembershipError> {
        let action = if user == scope.user_id() {
            Action::Leave
        } else {
            Action::Remove
        };
        self.delete(pool, scope, user, action).await
    }

    /// The scope's user leaves the tenant.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope,
    /// #     store: &tenancy_sqlx::PgMembershipStore) -> Result<(), Box<dyn std::error::Error>> {
    /// tenancy_sqlx::Members::new().leave(pool, scope).await?;
    /// assert_eq!(store.role(scope.tenant_id(), scope.user_id()).await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn leave(
        &self,
        pool: &TenantPool,
        scope: &TenantScope,
    ) -> Result<(), MembershipError> {
        self.delete(pool, scope, scope.user_id(), Action::Leave)
            .await
    }

    async fn delete(
        &self,
        pool: &TenantPool,
        scope: &TenantScope,
        user: UserId,
        action: Action,
    ) -> Result<(), MembershipError> {
        let mut tx = pool.begin(scope).await?;
        let actor = actor_role(&mut tx, scope).await?;
        let current = role_in_tx(&mut tx, user)
            .await?
            .ok_or(MembershipError::NotMember(user))?;
        decide(actor, action, Some(current), None)?;
        let n = sqlx::query(
            "DELETE FROM tenancy.memberships \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) AND user_id = $1",
        )
        .bind(user.into_uuid())
        .execute(&mut *tx)
        .await
        .map_err(map_db)?
        .rows_affected();
        if n == 0 {
            return Err(MembershipError::NotMember(user));
        }
        let name = if action == Action::Leave {
            "member.left"
        } else {
            "member.removed"
        };
        audit_log::append(
            &mut tx,
            &AuditEntry::new(Actor::from_scope(scope), name)
                .with_target(user.to_string())
                .with_details(serde_json::json!({ "role": current.as_str() })),
        )
        .await?;
        tx.commit().await?;
        self.invalidator
            .invalidate_membership(scope.tenant_id(), user);
        Ok(())
    }
}

fn decide(
    actor: Role,
    action: Action,
    target: Option<Role>,
    requested: Option<Role>,
) -> Result<(), MembershipError> {
    assignment::check(actor, action, target, requested)
        .into_result()
        .map_err(MembershipError::Denied)
}

pub(crate) async fn insert_membership(
    conn: &mut sqlx::PgConnection,
    user: UserId,
    role: Role,
) -> Result<(), MembershipError> {
    sqlx::query(
        "INSERT INTO tenancy.memberships (tenant_id, user_id, role) \
         VALUES ((SELECT tenancy.current_tenant_id()), $1, $2)",
    )
    .bind(user.into_uuid())
    .bind(role.as_str())
    .execute(conn)
    .await
    .map_err(|e| {
        if sqlstate_is(&e, "23505") {
            MembershipError::AlreadyMember(user)
        } else {
            map_db(e)
        }
    })?;
    Ok(())
}
