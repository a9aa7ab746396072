//! The platform pool: cross-tenant administration under its own role, audited.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use tenancy_core::{PlatformScope, UserId};

use crate::pool::{
    DEFAULT_STATEMENT_TIMEOUT, DiscardCounts, PoolError, ReleaseCounters, with_release_check,
};
use crate::tx::{self, TxError, TxSettings};

/// A pool of the platform role (a member of `tenancy_platform`, possibly `BYPASSRLS`) for
/// platform-administrator work: tenant lifecycle, fleet operations, support access.
///
/// It only opens transactions for a [`PlatformScope`], which cannot be obtained from a tenant
/// scope; every transaction is logged with `tracing::info!` and the admin id, and the admin id is
/// set transaction-locally in `tenancy.platform_admin_id` for audit triggers.
///
/// ```no_run
/// # async fn demo(admin: tenancy_core::PlatformScope) -> Result<(), Box<dyn std::error::Error>> {
/// let pool = tenancy_sqlx::PlatformPool::connect("postgres://platform@localhost/saas").await?;
/// let mut tx = pool.begin(&admin).await?;
/// let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.tenants").fetch_one(&mut *tx).await?;
/// tx.commit().await?;
/// # let _ = n; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PlatformPool {
    pool: PgPool,
    settings: TxSettings,
    counters: Arc<ReleaseCounters>,
}

impl PlatformPool {
    /// Connects with a URL and default options.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let url = std::env::var("PLATFORM_DATABASE_URL")?;
    /// let pool = tenancy_sqlx::PlatformPool::connect(&url).await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, PoolError> {
        let opts: PgConnectOptions = url.parse().map_err(PoolError::Connect)?;
        Self::connect_with(PgPoolOptions::new(), opts).await
    }

    /// Connects with explicit pool and connect options. The release check of
    /// [`TenantPool`](crate::TenantPool) is installed here too.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    /// let pool = tenancy_sqlx::PlatformPool::connect_with(
    ///     PgPoolOptions::new().max_connections(2),
    ///     PgConnectOptions::new()
    ///         .host("db.internal")
    ///         .username("platform")
    ///         .database("saas")
    ///         .application_name("tenancy-admin"),
    /// )
    /// .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect_with(
        pool: PgPoolOptions,
        options: PgConnectOptions,
    ) -> Result<Self, PoolError> {
        let counters = Arc::new(ReleaseCounters::default());
        let pool = with_release_check(pool, Arc::clone(&counters))
            .connect_with(options)
            .await
            .map_err(PoolError::Connect)?;
        Ok(Self {
            pool,
            settings: TxSettings {
                statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            },
            counters,
        })
    }

    /// Sets the per-transaction `statement_timeout` (`None` disables it).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// use std::time::Duration;
    /// // Fleet-wide maintenance runs longer than the 30 s default.
    /// let pool = tenancy_sqlx::PlatformPool::connect("postgres://platform@localhost/saas")
    ///     .await?
    ///     .with_statement_timeout(Some(Duration::from_secs(300)));
    /// # let _ = pool; Ok(()) }
    /// ```
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.statement_timeout = timeout;
        self
    }

    /// Opens a platform transaction for `scope`'s administrator (one round trip).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(admin).await?;
    /// assert_eq!(tx.admin_id(), admin.admin_id());
    /// let expired: Vec<String> = sqlx::query_scalar(
    ///     "SELECT slug FROM tenancy.tenants WHERE status = 'trial' AND trial_until < now()",
    /// )
    /// .fetch_all(&mut *tx)
    /// .await?;
    /// tx.commit().await?;
    /// # let _ = expired; Ok(()) }
    /// ```
    pub async fn begin(&self, scope: &PlatformScope) -> Result<PlatformTx, TxError> {
        let admin = scope.admin_id();
        tracing::info!(admin_id = %admin, "platform transaction begins");
        let sql = tx::platform_begin_sql(admin, self.settings);
        let tx = self
            .pool
            .begin_with(AssertSqlSafe(sql))
            .await
            .map_err(TxError::Begin)?;
        Ok(PlatformTx { tx, admin })
    }

    /// Opens a platform-role transaction for `user` acting on their own behalf, with no
    /// administrator. Crate-private: only audited [`Lifecycle`](crate::Lifecycle) operations
    /// (self-serve creation, renaming) use it, each confined to one tenant.
    pub(crate) async fn begin_for_user(
        &self,
        user: UserId,
    ) -> Result<Transaction<'static, Postgres>, TxError> {
        tracing::info!(user_id = %user, "self-serve platform transaction begins");
        let sql = tx::user_begin_sql(user, self.settings);
        self.pool
            .begin_with(AssertSqlSafe(sql))
            .await
            .map_err(TxError::Begin)
    }

    /// How many connections the release check has closed.
    ///
    /// ```no_run
    /// # fn demo(pool: &tenancy_sqlx::PlatformPool) {
    /// let closed = pool.discarded_connections();
    /// if closed > 0 {
    ///     eprintln!("{closed} platform connection(s) carried state over and were closed");
    /// }
    /// # }
    /// ```
    pub fn discarded_connections(&self) -> u64 {
        self.counters.total()
    }

    /// How many connections the release check has closed since the pool started, per
    /// [`DiscardReason`](crate::DiscardReason) (as [`TenantPool::discard_counts`](crate::TenantPool::discard_counts)).
    ///
    /// ```no_run
    /// # fn demo(pool: &tenancy_sqlx::PlatformPool) {
    /// use tenancy_sqlx::DiscardReason;
    /// let counts = pool.discard_counts();
    /// assert_eq!(counts.total(), pool.discarded_connections());
    /// if counts.get(DiscardReason::SessionSetting) > 0 {
    ///     eprintln!("a platform job left a session-level SET behind: {counts:?}");
    /// }
    /// # }
    /// ```
    pub fn discard_counts(&self) -> DiscardCounts {
        self.counters.snapshot()
    }

    /// The per-transaction `statement_timeout` (`None` when disabled).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// use std::time::Duration;
    /// let pool = tenancy_sqlx::PlatformPool::connect("postgres://platform@localhost/saas").await?;
    /// assert_eq!(pool.statement_timeout(), Some(tenancy_sqlx::DEFAULT_STATEMENT_TIMEOUT));
    /// let pool = pool.with_statement_timeout(Some(Duration::from_secs(300)));
    /// assert_eq!(pool.statement_timeout(), Some(Duration::from_secs(300)));
    /// # Ok(()) }
    /// ```
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.settings.statement_timeout
    }

    /// Closes every connection.
    ///
    /// ```no_run
    /// # async fn demo(pool: tenancy_sqlx::PlatformPool) {
    /// // At shutdown, after the last platform transaction ended:
    /// pool.close().await;
    /// # }
    /// ```
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl fmt::Debug for PlatformPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformPool")
            .field("statement_timeout", &self.settings.statement_timeout)
            .field("discarded", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

/// An open platform transaction; rolls back when dropped.
///
/// Obtained from [`PlatformPool::begin`]; use it as an sqlx executor with `&mut *tx`.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin(admin).await?;
/// // A fleet-wide rollout, across every tenant's rows.
/// sqlx::query("UPDATE feature_flags SET enabled = true WHERE flag = $1")
///     .bind("new-editor")
///     .execute(&mut *tx)
///     .await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[must_use = "a platform transaction rolls back when dropped: call `commit` to keep its changes"]
pub struct PlatformTx {
    tx: Transaction<'static, Postgres>,
    admin: UserId,
}

impl PlatformTx {
    /// The administrator this transaction runs for.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(admin).await?;
    /// sqlx::query("INSERT INTO support_notes (admin_id, note) VALUES ($1, $2)")
    ///     .bind(tx.admin_id().into_uuid())
    ///     .bind("reset the billing contact on request")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// # tx.commit().await?; Ok(()) }
    /// ```
    pub fn admin_id(&self) -> UserId {
        self.admin
    }

    /// Commits.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(admin).await?;
    /// sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// tx.commit().await?; // logged with the admin id
    /// # Ok(()) }
    /// ```
    pub async fn commit(self) -> Result<(), TxError> {
        tracing::info!(admin_id = %self.admin, "platform transaction commits");
        self.tx.commit().await.map_err(TxError::Commit)
    }

    /// Rolls back.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(admin).await?;
    /// let n = sqlx::query("UPDATE feature_flags SET enabled = false WHERE flag = 'beta-search'")
    ///     .execute(&mut *tx)
    ///     .await?
    ///     .rows_affected();
    /// if n > 1000 {
    ///     tx.rollback().await?; // more than expected: change nothing
    /// } else {
    ///     tx.commit().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn rollback(self) -> Result<(), TxError> {
        self.tx.rollback().await.map_err(TxError::Rollback)
    }
}

impl Deref for PlatformTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for PlatformTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl fmt::Debug for PlatformTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformTx")
            .field("admin_id", &self.admin)
            .finish_non_exhaustive()
    }
}
