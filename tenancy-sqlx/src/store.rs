//! [`PgTenantStore`]: the tenant registry in `tenancy.tenants`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row as _};
use tenancy_core::{
    IsolationMode, SchemaName, SlugPolicy, StoreError, Tenant, TenantCacheInvalidator, TenantId,
    TenantKey, TenantSlug, TenantStatus, TenantStore,
};
use time::OffsetDateTime;

/// Why a registry operation failed.
///
/// ```no_run
/// # async fn demo(store: &tenancy_sqlx::PgTenantStore) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::{Tenant, TenantId};
/// use tenancy_sqlx::TenantStoreError;
/// let second = Tenant::new(TenantId::new_random(), "acme".parse()?, "Another Acme");
/// match store.create(&second).await {
///     Ok(()) => {}
///     Err(e @ TenantStoreError::SlugTaken(_)) => {
///         assert_eq!(e.to_string(), "slug `acme` is already taken");
///     }
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenantStoreError {
    /// The database failed (including `permission denied` when the pool's role may not write
    /// the registry).
    #[error("tenant registry is unavailable")]
    Database(#[source] sqlx::Error),
    /// Another live (not deleted) tenant has this slug.
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
    /// A registry row could not be decoded (constraint drift).
    #[error("tenant registry row `{0}` is invalid")]
    Corrupt(String),
}

/// The tenant registry over `tenancy.tenants`.
///
/// **Who may do what.** The runtime role (`tenancy_runtime`) is granted `SELECT` on
/// `tenancy.tenants`, so request-time lookups ([`TenantStore::get`]) run on the application pool
/// without any `SECURITY DEFINER` function; it cannot write the registry. The lifecycle methods
/// ([`create`](Self::create), [`set_status`](Self::set_status)) need a pool whose role is a member
/// of `tenancy_platform` (`INSERT`, `UPDATE`); there is no `DELETE` for anyone: deletion is the
/// status `deleted`, and the slug becomes free for a new tenant with a new id.
///
/// Wrap it in a cache (`tenancy_core`'s caching store) and pass the cache as invalidator with
/// [`with_invalidator`](Self::with_invalidator): every lifecycle change evicts the tenant after
/// commit.
///
/// ```no_run
/// # async fn demo(platform_pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::{Tenant, TenantId, TenantStatus};
/// let store = tenancy_sqlx::PgTenantStore::new(platform_pool);
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
/// store.create(&acme).await?;
/// store.set_status(acme.id, TenantStatus::Suspended).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgTenantStore {
    pool: PgPool,
    invalidator: Arc<dyn TenantCacheInvalidator>,
}

pub(crate) const COLUMNS: &str = "id, slug, display_name, status, trial_until, plan, isolation, schema_name, created_at, updated_at";

impl PgTenantStore {
    /// A store over `pool`, with no cache to invalidate.
    ///
    /// On the application pool it serves request-time lookups through [`TenantStore`]:
    ///
    /// ```no_run
    /// # async fn demo(app_pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{TenantKey, TenantStore};
    /// let store = tenancy_sqlx::PgTenantStore::new(app_pool);
    /// let acme = store.get(&TenantKey::Slug("acme".parse()?)).await?;
    /// # let _ = acme; Ok(()) }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            invalidator: Arc::new(()),
        }
    }

    /// Calls `invalidator` after every lifecycle change.
    ///
    /// ```no_run
    /// # async fn demo(app_pool: sqlx::PgPool, platform_pool: sqlx::PgPool,
    /// #     id: tenancy_core::TenantId) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use tenancy_core::{CachingTenantStore, TenantStatus};
    /// use tenancy_sqlx::PgTenantStore;
    /// // Requests read through the cache; the admin side writes and evicts.
    /// let cache = Arc::new(CachingTenantStore::new(PgTenantStore::new(app_pool)));
    /// let admin = PgTenantStore::new(platform_pool).with_invalidator(cache.clone());
    /// admin.set_status(id, TenantStatus::Suspended).await?; // `cache` no longer serves it active
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_invalidator(mut self, invalidator: Arc<dyn TenantCacheInvalidator>) -> Self {
        self.invalidator = invalidator;
        self
    }

    /// Records a new tenant (status, plan, isolation and timestamps as given).
    ///
    /// ```no_run
    /// # async fn demo(store: &tenancy_sqlx::PgTenantStore) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{IsolationMode, SchemaName, Tenant, TenantId, TenantStatus};
    /// let globex = Tenant::new(TenantId::new_random(), "globex".parse()?, "Globex")
    ///     .with_status(TenantStatus::Provisioning)
    ///     .with_plan("pro")
    ///     .with_isolation(IsolationMode::Schema { schema: SchemaName::parse("tenant_globex")? });
    /// store.create(&globex).await?;
    /// assert_eq!(store.by_id(globex.id).await?.map(|t| t.status), Some(TenantStatus::Provisioning));
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, tenant: &Tenant) -> Result<(), TenantStoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(TenantStoreError::Database)?;
        insert_tenant_row(&mut tx, tenant)
            .await
            .map_err(|e| e.into_store_error(tenant))?;
        tx.commit().await.map_err(TenantStoreError::Database)?;
        self.invalidator.invalidate(tenant.id, &tenant.slug);
        Ok(())
    }

    /// Moves a tenant to `status` if the lifecycle allows it
    /// ([`TenantStatus::can_transition_to`]), and returns the updated record.
    ///
    /// ```no_run
    /// # async fn demo(store: &tenancy_sqlx::PgTenantStore, id: tenancy_core::TenantId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::TenantStatus;
    /// use tenancy_sqlx::TenantStoreError;
    /// let deleted = store.set_status(id, TenantStatus::Deleted).await?;
    /// assert_eq!(deleted.status, TenantStatus::Deleted);
    /// // Deletion is final.
    /// let err = store.set_status(id, TenantStatus::Active).await.unwrap_err();
    /// assert!(matches!(err, TenantStoreError::InvalidTransition { .. }));
    /// # Ok(()) }
    /// ```
    pub async fn set_status(
        &self,
        id: TenantId,
        status: TenantStatus,
    ) -> Result<Tenant, TenantStoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(TenantStoreError::Database)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tenancy.tenants WHERE id = $1 FOR UPDATE"
        )))
        .bind(id.into_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(TenantStoreError::Database)?
        .ok_or(TenantStoreError::NotFound(id))?;
        let current = decode(&row)?;
        if !current.status.can_transition_to(&status) {
            return Err(TenantStoreError::InvalidTransition {
                id,
                from: current.status,
                to: status,
            });
        }
        let (name, trial_until) = status_columns(&status);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE tenancy.tenants SET status = $2, trial_until = $3, updated_at = pg_catalog.now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id.into_uuid())
        .bind(name)
        .bind(trial_until)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("tenants_live_slug") => TenantStoreError::SlugTaken(current.slug.clone()),
            _ => TenantStoreError::Database(e),
        })?;
        let updated = decode(&row)?;
        tx.commit().await.map_err(TenantStoreError::Database)?;
        self.invalidator.invalidate(id, &updated.slug);
        tracing::info!(tenant_id = %id, from = %current.status, to = %status, "tenant status changed");
        Ok(updated)
    }

    /// The tenant with this id, whatever its status.
    ///
    /// ```no_run
    /// # async fn demo(store: &tenancy_sqlx::PgTenantStore) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::TenantId;
    /// match store.by_id(TenantId::new_random()).await? {
    ///     Some(t) => println!("{} is {}", t.slug, t.status),
    ///     None => println!("no such tenant"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn by_id(&self, id: TenantId) -> Result<Option<Tenant>, TenantStoreError> {
        let mut tx = self.read_tx().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tenancy.tenants WHERE id = $1"
        )))
        .bind(id.into_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(TenantStoreError::Database)?;
        tx.commit().await.map_err(TenantStoreError::Database)?;
        row.map(|r| decode(&r)).transpose()
    }

    /// The live (not deleted) tenant with this slug.
    ///
    /// ```no_run
    /// # async fn demo(store: &tenancy_sqlx::PgTenantStore) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{TenantSlug, TenantStatus};
    /// let slug: TenantSlug = "acme".parse()?;
    /// if let Some(acme) = store.by_slug(&slug).await? {
    ///     assert_ne!(acme.status, TenantStatus::Deleted); // a deleted tenant frees its slug
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, TenantStoreError> {
        let mut tx = self.read_tx().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM tenancy.tenants WHERE slug = $1 AND status <> 'deleted'"
        )))
        .bind(slug.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(TenantStoreError::Database)?;
        tx.commit().await.map_err(TenantStoreError::Database)?;
        row.map(|r| decode(&r)).transpose()
    }

    /// Registry reads run in a read-only transaction: behind PgBouncer in transaction mode,
    /// sqlx's named prepared statements only live within one server transaction (see
    /// [`guide`](crate::guide), "PgBouncer"). This costs two round trips on a cache miss.
    async fn read_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, TenantStoreError> {
        self.pool
            .begin_with(sqlx::AssertSqlSafe("BEGIN READ ONLY"))
            .await
            .map_err(TenantStoreError::Database)
    }
}

impl fmt::Debug for PgTenantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTenantStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl TenantStore for PgTenantStore {
    async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
        let res = match key {
            TenantKey::Id(id) => self.by_id(*id).await,
            TenantKey::Slug(slug) => self.by_slug(slug).await,
        };
        res.map_err(|e| StoreError::new("tenant store", e))
    }
}

/// Why [`insert_tenant_row`] failed, for each caller to map into its own error type.
pub(crate) enum InsertTenantError {
    /// Another live tenant has the slug.
    SlugTaken,
    /// Another tenant has the id or the schema.
    Conflict,
    /// Anything else.
    Database(sqlx::Error),
}

impl InsertTenantError {
    fn into_store_error(self, tenant: &Tenant) -> TenantStoreError {
        match self {
            Self::SlugTaken => TenantStoreError::SlugTaken(tenant.slug.clone()),
            Self::Conflict => TenantStoreError::Conflict(tenant.id),
            Self::Database(e) => TenantStoreError::Database(e),
        }
    }
}

/// Inserts the registry row of `tenant` on `conn` (one place for the column list and the
/// conflict mapping, shared by [`PgTenantStore::create`] and the lifecycle operations).
pub(crate) async fn insert_tenant_row(
    conn: &mut PgConnection,
    tenant: &Tenant,
) -> Result<(), InsertTenantError> {
    let (status, trial_until) = status_columns(&tenant.status);
    let (isolation, schema) = match &tenant.isolation {
        IsolationMode::SharedTable => ("shared_table", None),
        IsolationMode::Schema { schema } => ("schema", Some(schema.as_str())),
    };
    sqlx::query(
        "INSERT INTO tenancy.tenants (id, slug, display_name, status, trial_until, plan, \
         isolation, schema_name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(tenant.id.into_uuid())
    .bind(tenant.slug.as_str())
    .bind(&tenant.display_name)
    .bind(status)
    .bind(trial_until)
    .bind(&tenant.plan)
    .bind(isolation)
    .bind(schema)
    .bind(tenant.created_at)
    .bind(tenant.updated_at)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(
        |e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("tenants_live_slug") => InsertTenantError::SlugTaken,
            Some(_) if is_unique_violation(&e) => InsertTenantError::Conflict,
            _ => InsertTenantError::Database(e),
        },
    )
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "23505")
}

fn status_columns(status: &TenantStatus) -> (&'static str, Option<OffsetDateTime>) {
    match status {
        TenantStatus::Trial { until } => ("trial", Some(*until)),
        other => (other.as_str(), None),
    }
}

pub(crate) fn decode(row: &PgRow) -> Result<Tenant, TenantStoreError> {
    let db = TenantStoreError::Database;
    let id: uuid::Uuid = row.try_get("id").map_err(db)?;
    let corrupt = || TenantStoreError::Corrupt(id.to_string());
    let slug: String = row.try_get("slug").map_err(db)?;
    // Registry slugs were validated when created; reserved-word lists may change since.
    let slug = SlugPolicy::permissive()
        .parse(&slug)
        .map_err(|_| corrupt())?;
    let status: String = row.try_get("status").map_err(db)?;
    let trial_until: Option<OffsetDateTime> = row.try_get("trial_until").map_err(db)?;
    let status = match (status.as_str(), trial_until) {
        ("provisioning", _) => TenantStatus::Provisioning,
        ("active", _) => TenantStatus::Active,
        ("trial", Some(until)) => TenantStatus::Trial { until },
        ("suspended", _) => TenantStatus::Suspended,
        ("deleted", _) => TenantStatus::Deleted,
        _ => return Err(corrupt()),
    };
    let isolation: String = row.try_get("isolation").map_err(db)?;
    let schema: Option<String> = row.try_get("schema_name").map_err(db)?;
    let isolation = match (isolation.as_str(), schema) {
        ("shared_table", None) => IsolationMode::SharedTable,
        ("schema", Some(s)) => IsolationMode::Schema {
            schema: SchemaName::parse(&s).map_err(|_| corrupt())?,
        },
        _ => return Err(corrupt()),
    };
    Ok(Tenant::new(
        TenantId::from_uuid(id),
        slug,
        row.try_get::<String, _>("display_name").map_err(db)?,
    )
    .with_status(status)
    .with_plan(row.try_get::<String, _>("plan").map_err(db)?)
    .with_isolation(isolation)
    .with_timestamps(
        row.try_get("created_at").map_err(db)?,
        row.try_get("updated_at").map_err(db)?,
    ))
}
