//! Tenant lifecycle through the library: create with a first owner (by a platform administrator
//! or self-serve by the creator), rename, suspend, activate, soft delete. Each operation runs in
//! one platform-role transaction, writes an audit entry into the tenant's log (actor: the
//! platform administrator, or the user for self-serve creation and renaming) and, after commit,
//! invalidates the caches.

use std::fmt;
use std::sync::Arc;

use sqlx::{PgConnection, Row as _};
use tenancy_core::{
    MembershipCacheInvalidator, PlatformScope, Role, SlugPolicy, Tenant, TenantCacheInvalidator,
    TenantId, TenantScope, TenantSlug, TenantStatus, UserId,
};

use crate::audit_log::{self, Actor, AuditEntry, AuditLogError};
use crate::membership::{self, MembershipError};
use crate::store::{self, COLUMNS, InsertTenantError, TenantStoreError};
use crate::{PlatformPool, TxError, settings};

/// Why a lifecycle operation failed.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope,
/// #     id: tenancy_core::TenantId) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::TenantStatus;
/// use tenancy_sqlx::{Lifecycle, LifecycleError};
/// let lifecycle = Lifecycle::new();
/// lifecycle.soft_delete(pool, admin, id).await?;
/// // A deleted tenant stays deleted.
/// match lifecycle.activate(pool, admin, id).await {
///     Err(LifecycleError::InvalidTransition { from, to, .. }) => {
///         assert_eq!((from, to), (TenantStatus::Deleted, TenantStatus::Active));
///     }
///     other => panic!("expected an invalid transition, got {other:?}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The database failed (including `permission denied` when the pool's role is not a member
    /// of `tenancy_platform`).
    #[error("tenant registry is unavailable")]
    Database(#[source] sqlx::Error),
    /// The platform transaction could not be opened or committed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The audit entry could not be written (nothing was changed).
    #[error(transparent)]
    Audit(#[from] AuditLogError),
    /// The first owner could not be recorded.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// Another live tenant has this slug.
    #[error("slug `{0}` is already taken")]
    SlugTaken(TenantSlug),
    /// Another tenant has this id or schema.
    #[error("tenant `{0}` conflicts with an existing tenant")]
    Conflict(TenantId),
    /// No tenant has this id.
    #[error("tenant `{0}` not found")]
    NotFound(TenantId),
    /// The lifecycle does not allow this change.
    #[error("tenant `{id}` cannot go from {from} to {to}")]
    InvalidTransition {
        /// The tenant.
        id: TenantId,
        /// Its current status.
        from: TenantStatus,
        /// The refused status.
        to: TenantStatus,
    },
    /// A registry row could not be decoded.
    #[error("tenant registry row `{0}` is invalid")]
    Corrupt(TenantId),
    /// A display name is empty (or only whitespace).
    #[error("display name is empty")]
    EmptyName,
}

/// A tenant with its number of members, from [`Lifecycle::overview`].
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use std::cmp::Reverse;
/// // The ten largest tenants.
/// let mut rows = tenancy_sqlx::Lifecycle::new().overview(pool, admin).await?;
/// rows.sort_by_key(|row| Reverse(row.member_count));
/// for row in rows.iter().take(10) {
///     println!("{:>6} {} ({})", row.member_count, row.tenant.display_name, row.tenant.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantOverview {
    /// The registry record.
    pub tenant: Tenant,
    /// How many users are members (any role).
    pub member_count: i64,
}

fn db(e: sqlx::Error) -> LifecycleError {
    LifecycleError::Database(e)
}

/// Lifecycle operations on a [`PlatformPool`] for a [`PlatformScope`].
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope,
/// #     owner: tenancy_core::UserId) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::{Tenant, TenantId};
/// let lifecycle = tenancy_sqlx::Lifecycle::new();
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
/// lifecycle.create_with_owner(pool, admin, &acme, owner).await?;
/// lifecycle.suspend(pool, admin, acme.id).await?;
/// lifecycle.activate(pool, admin, acme.id).await?;
/// lifecycle.soft_delete(pool, admin, acme.id).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Lifecycle {
    tenants: Arc<dyn TenantCacheInvalidator>,
    members: Arc<dyn MembershipCacheInvalidator>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifecycle").finish_non_exhaustive()
    }
}

/// Sets the tenant being administered transaction-locally, so the tenant tables' policies admit
/// the writes even when the platform role does not bypass row level security.
async fn enter_tenant(tx: &mut PgConnection, id: TenantId) -> Result<(), LifecycleError> {
    sqlx::query("SELECT pg_catalog.set_config($1, $2, true)")
        .bind(settings::TENANT_ID)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    Ok(())
}

/// Inserts the registry row, the first owner and the `tenant.created` audit entry in `conn`'s
/// open transaction.
async fn insert_tenant_with_owner(
    conn: &mut PgConnection,
    tenant: &Tenant,
    owner: UserId,
    actor: Actor,
    self_serve: bool,
) -> Result<(), LifecycleError> {
    store::insert_tenant_row(conn, tenant)
        .await
        .map_err(|e| match e {
            InsertTenantError::SlugTaken => LifecycleError::SlugTaken(tenant.slug.clone()),
            InsertTenantError::Conflict => LifecycleError::Conflict(tenant.id),
            InsertTenantError::Database(e) => LifecycleError::Database(e),
        })?;
    enter_tenant(conn, tenant.id).await?;
    membership::insert_membership(conn, owner, Role::Owner).await?;
    let mut details = serde_json::json!({
        "slug": tenant.slug.as_str(),
        "status": tenant.status.as_str(),
        "owner": owner.to_string(),
    });
    if self_serve {
        details["self_serve"] = serde_json::Value::Bool(true);
    }
    audit_log::append_conn(
        conn,
        tenant.id,
        &AuditEntry::new(actor, "tenant.created")
            .with_target(tenant.id.to_string())
            .with_details(details),
    )
    .await?;
    Ok(())
}

impl Lifecycle {
    /// Lifecycle operations with no caches to invalidate.
    ///
    /// ```no_run
    /// # async fn demo(admin: &tenancy_core::PlatformScope, id: tenancy_core::TenantId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// // An administration command-line tool: no request-path caches live in this process.
    /// let pool = tenancy_sqlx::PlatformPool::connect("postgres://platform@localhost/saas").await?;
    /// tenancy_sqlx::Lifecycle::new().suspend(&pool, admin, id).await?;
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self {
            tenants: Arc::new(()),
            members: Arc::new(()),
        }
    }

    /// Invalidates the tenant cache after every committed change.
    ///
    /// ```no_run
    /// # fn demo(app_pool: sqlx::PgPool) {
    /// use std::sync::Arc;
    /// use tenancy_core::CachingTenantStore;
    /// use tenancy_sqlx::{Lifecycle, PgTenantStore};
    /// // The pipeline resolves tenants through this cache; a suspension is seen by the next request.
    /// let tenants = Arc::new(CachingTenantStore::new(PgTenantStore::new(app_pool)));
    /// let lifecycle = Lifecycle::new().with_tenant_invalidator(tenants.clone());
    /// # let _ = lifecycle; }
    /// ```
    #[must_use]
    pub fn with_tenant_invalidator(mut self, invalidator: Arc<dyn TenantCacheInvalidator>) -> Self {
        self.tenants = invalidator;
        self
    }

    /// Invalidates the membership cache after creation and deletion.
    ///
    /// ```no_run
    /// # fn demo(app_pool: sqlx::PgPool) {
    /// use std::sync::Arc;
    /// use tenancy_core::CachingMembershipStore;
    /// use tenancy_sqlx::{Lifecycle, PgMembershipStore};
    /// // The first owner's role is served at once, a deleted tenant's roles are evicted.
    /// let memberships = Arc::new(CachingMembershipStore::new(PgMembershipStore::new(app_pool)));
    /// let lifecycle = Lifecycle::new().with_membership_invalidator(memberships.clone());
    /// # let _ = lifecycle; }
    /// ```
    #[must_use]
    pub fn with_membership_invalidator(
        mut self,
        invalidator: Arc<dyn MembershipCacheInvalidator>,
    ) -> Self {
        self.members = invalidator;
        self
    }

    /// Records `tenant` (status, plan and isolation as given) with `owner` as its first owner.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope,
    /// #     alice: tenancy_core::UserId, bob: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{Tenant, TenantId};
    /// use tenancy_sqlx::{Lifecycle, LifecycleError};
    /// let lifecycle = Lifecycle::new();
    /// let mut acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
    /// acme.plan = "pro".to_owned();
    /// lifecycle.create_with_owner(pool, admin, &acme, alice).await?;
    /// // Another live tenant with the same slug is refused.
    /// let copycat = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme Corp");
    /// let err = lifecycle.create_with_owner(pool, admin, &copycat, bob).await.unwrap_err();
    /// assert!(matches!(err, LifecycleError::SlugTaken(ref slug) if slug.as_str() == "acme"));
    /// # Ok(()) }
    /// ```
    pub async fn create_with_owner(
        &self,
        pool: &PlatformPool,
        scope: &PlatformScope,
        tenant: &Tenant,
        owner: UserId,
    ) -> Result<(), LifecycleError> {
        let mut tx = pool.begin(scope).await?;
        let actor = Actor::PlatformAdmin(scope.admin_id());
        insert_tenant_with_owner(&mut tx, tenant, owner, actor, false).await?;
        tx.commit().await?;
        self.tenants.invalidate(tenant.id, &tenant.slug);
        self.members.invalidate_membership(tenant.id, owner);
        Ok(())
    }

    /// Self-serve sign-up: records `tenant` with `creator` as its first owner and the audit entry
    /// `tenant.created` (actor: the creator, details `self_serve: true`), all in ONE transaction
    /// of the platform role — nothing is left half-created if any step fails.
    ///
    /// No [`PlatformScope`] is needed, but only code holding the [`PlatformPool`] can call it:
    /// the application decides who may create organisations (a signed-in user, rate limits,
    /// plans); `tenant` is taken as given, so build it server-side (new random id, the status
    /// and plan the product grants), never from request fields beyond slug and name.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, user: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{Tenant, TenantId};
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
    /// tenancy_sqlx::Lifecycle::new().create_self_serve(pool, user, &acme).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_self_serve(
        &self,
        pool: &PlatformPool,
        creator: UserId,
        tenant: &Tenant,
    ) -> Result<(), LifecycleError> {
        let mut tx = pool.begin_for_user(creator).await?;
        insert_tenant_with_owner(&mut tx, tenant, creator, Actor::User(creator), true).await?;
        tx.commit().await.map_err(TxError::Commit)?;
        tracing::info!(tenant_id = %tenant.id, user_id = %creator, "tenant created (self-serve)");
        self.tenants.invalidate(tenant.id, &tenant.slug);
        self.members.invalidate_membership(tenant.id, creator);
        Ok(())
    }

    /// Renames the scope's tenant (its display name; the slug never changes) in one platform-role
    /// transaction with the audit entry `tenant.renamed` (actor: the scope's user), then
    /// invalidates the tenant cache. The tenant is the scope's, never an id from a request; who
    /// may rename (e.g. admins and above) is the caller's policy.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let renamed = tenancy_sqlx::Lifecycle::new().rename(pool, scope, "Acme Ltd").await?;
    /// assert_eq!(renamed.display_name, "Acme Ltd");
    /// # Ok(()) }
    /// ```
    pub async fn rename(
        &self,
        pool: &PlatformPool,
        scope: &TenantScope,
        name: &str,
    ) -> Result<Tenant, LifecycleError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(LifecycleError::EmptyName);
        }
        let id = scope.tenant_id();
        let mut tx = pool.begin_for_user(scope.user_id()).await?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT display_name FROM tenancy.tenants WHERE id = $1 AND status <> 'deleted' \
             FOR UPDATE",
        )
        .bind(id.into_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let (previous,) = row.ok_or(LifecycleError::NotFound(id))?;
        sqlx::query(
            "UPDATE tenancy.tenants SET display_name = $2, updated_at = pg_catalog.now() \
             WHERE id = $1",
        )
        .bind(id.into_uuid())
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        enter_tenant(&mut tx, id).await?;
        audit_log::append_conn(
            &mut tx,
            id,
            &AuditEntry::new(Actor::from_scope(scope), "tenant.renamed")
                .with_target(id.to_string())
                .with_details(serde_json::json!({ "from": previous, "to": name })),
        )
        .await?;
        tx.commit().await.map_err(TxError::Commit)?;
        self.tenants.invalidate(id, scope.slug());
        let mut renamed = scope.tenant().clone();
        renamed.display_name = name.to_owned();
        Ok(renamed)
    }

    /// Every live (not deleted) tenant, by slug, with its number of members: the platform
    /// administrator's dashboard.
    ///
    /// Memberships are protected by row level security, and the platform role need not bypass
    /// it: inside one platform transaction each tenant is entered in turn (the transaction-local
    /// tenant setting, as for the other lifecycle operations) and its memberships counted under
    /// the ordinary policies, so nothing is widened for any role. That is one query per tenant
    /// (plus one for the list): fine for a dashboard page, not for a fleet of millions.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// for row in tenancy_sqlx::Lifecycle::new().overview(pool, admin).await? {
    ///     println!("{} {} members", row.tenant.slug, row.member_count);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn overview(
        &self,
        pool: &PlatformPool,
        scope: &PlatformScope,
    ) -> Result<Vec<TenantOverview>, LifecycleError> {
        let mut tx = pool.begin(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tenancy.tenants WHERE status <> 'deleted' ORDER BY slug"
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = TenantId::from_uuid(row.try_get("id").map_err(db)?);
            let tenant = store::decode(row).map_err(|e| match e {
                TenantStoreError::Database(e) => LifecycleError::Database(e),
                _ => LifecycleError::Corrupt(id),
            })?;
            enter_tenant(&mut tx, tenant.id).await?;
            let member_count: i64 =
                sqlx::query_scalar("SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1")
                    .bind(tenant.id.into_uuid())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?;
            out.push(TenantOverview {
                tenant,
                member_count,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Suspends an active or trial tenant.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope,
    /// #     tenants: &tenancy_sqlx::PgTenantStore, id: tenancy_core::TenantId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::TenantStatus;
    /// // Unpaid invoices: requests to the tenant are refused from now on.
    /// tenancy_sqlx::Lifecycle::new().suspend(pool, admin, id).await?;
    /// let tenant = tenants.by_id(id).await?.expect("a suspended tenant stays registered");
    /// assert_eq!(tenant.status, TenantStatus::Suspended);
    /// # Ok(()) }
    /// ```
    pub async fn suspend(
        &self,
        pool: &PlatformPool,
        scope: &PlatformScope,
        id: TenantId,
    ) -> Result<(), LifecycleError> {
        self.transition(pool, scope, id, TenantStatus::Suspended, "tenant.suspended")
            .await
    }

    /// Activates a provisioning, trial or suspended tenant.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope,
    /// #     tenants: &tenancy_sqlx::PgTenantStore, id: tenancy_core::TenantId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::TenantStatus;
    /// // The invoice is paid: the suspended tenant is back.
    /// tenancy_sqlx::Lifecycle::new().activate(pool, admin, id).await?;
    /// let status = tenants.by_id(id).await?.map(|t| t.status);
    /// assert_eq!(status, Some(TenantStatus::Active));
    /// # Ok(()) }
    /// ```
    pub async fn activate(
        &self,
        pool: &PlatformPool,
        scope: &PlatformScope,
        id: TenantId,
    ) -> Result<(), LifecycleError> {
        self.transition(pool, scope, id, TenantStatus::Active, "tenant.activated")
            .await
    }

    /// Marks a tenant deleted (its rows stay; its slug becomes free for a new tenant with a new
    /// id).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope,
    /// #     old: tenancy_core::TenantId, owner: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{Tenant, TenantId};
    /// let lifecycle = tenancy_sqlx::Lifecycle::new();
    /// // `old` had the slug `acme`; once deleted, a new tenant may take it.
    /// lifecycle.soft_delete(pool, admin, old).await?;
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme (new)");
    /// lifecycle.create_with_owner(pool, admin, &acme, owner).await?;
    /// # Ok(()) }
    /// ```
    pub async fn soft_delete(
        &self,
        pool: &PlatformPool,
        scope: &PlatformScope,
        id: TenantId,
    ) -> Result<(), LifecycleError> {
        self.transition(pool, scope, id, TenantStatus::Deleted, "tenant.deleted")
            .await
    }

    async fn transition(
        &self,
        pool: &PlatformPool,
        scope: &PlatformScope,
        id: TenantId,
        to: TenantStatus,
        action: &'static str,
    ) -> Result<(), LifecycleError> {
        let mut tx = pool.begin(scope).await?;
        let row: Option<(String, String, Option<time::OffsetDateTime>)> = sqlx::query_as(
            "SELECT slug, status, trial_until FROM tenancy.tenants WHERE id = $1 FOR UPDATE",
        )
        .bind(id.into_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let (slug, status, trial_until) = row.ok_or(LifecycleError::NotFound(id))?;
        let slug = SlugPolicy::permissive()
            .parse(&slug)
            .map_err(|_| LifecycleError::Corrupt(id))?;
        let from = match (status.as_str(), trial_until) {
            ("provisioning", _) => TenantStatus::Provisioning,
            ("active", _) => TenantStatus::Active,
            ("trial", Some(until)) => TenantStatus::Trial { until },
            ("suspended", _) => TenantStatus::Suspended,
            ("deleted", _) => TenantStatus::Deleted,
            _ => return Err(LifecycleError::Corrupt(id)),
        };
        if !from.can_transition_to(&to) {
            return Err(LifecycleError::InvalidTransition { id, from, to });
        }
        sqlx::query(
            "UPDATE tenancy.tenants SET status = $2, trial_until = NULL, \
             updated_at = pg_catalog.now() WHERE id = $1",
        )
        .bind(id.into_uuid())
        .bind(to.as_str())
        .execute(&mut *tx)
        .await
        .map_err(
            |e| match e.as_database_error().and_then(|d| d.constraint()) {
                Some("tenants_live_slug") => LifecycleError::SlugTaken(slug.clone()),
                _ => LifecycleError::Database(e),
            },
        )?;
        enter_tenant(&mut tx, id).await?;
        audit_log::append_conn(
            &mut tx,
            id,
            &AuditEntry::new(Actor::PlatformAdmin(scope.admin_id()), action)
                .with_target(id.to_string())
                .with_details(serde_json::json!({ "from": from.as_str(), "to": to.as_str() })),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(tenant_id = %id, from = %from, to = %to, admin_id = %scope.admin_id(), "tenant lifecycle change");
        self.tenants.invalidate(id, &slug);
        if to == TenantStatus::Deleted {
            self.members.invalidate_tenant_memberships(id);
        }
        Ok(())
    }
}
