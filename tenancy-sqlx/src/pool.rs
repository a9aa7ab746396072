//! The application-role pool: tenant transactions and connection hygiene.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};
use tenancy_core::TenantScope;
use tracing::Instrument as _;

use crate::audit::{self, AuditError, Finding, Severity};
use crate::tx::{self, TenantTx, TxError, TxSettings};

mod hygiene;

use hygiene::connection_state;
pub use hygiene::{ConnectionState, DiscardCounts, DiscardReason};
pub(crate) use hygiene::{ReleaseCounters, with_release_check};

/// Default per-transaction `statement_timeout`.
///
/// ```
/// use tenancy_sqlx::{DEFAULT_STATEMENT_TIMEOUT, TenantPoolOptions};
/// assert_eq!(DEFAULT_STATEMENT_TIMEOUT, std::time::Duration::from_secs(30));
/// // A pool for slow reporting queries: four times the default.
/// let reports = TenantPoolOptions::new().statement_timeout(Some(DEFAULT_STATEMENT_TIMEOUT * 4));
/// # let _ = reports;
/// ```
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a [`TenantPool`] (or [`PlatformPool`](crate::PlatformPool)) refused to start.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tenancy_sqlx::{PoolError, TenantPoolOptions};
/// let err = TenantPoolOptions::new().connect("not a url").await.unwrap_err();
/// assert!(matches!(err, PoolError::Connect(_)));
/// assert_eq!(err.to_string(), "could not connect to the database");
/// # });
/// ```
///
/// With a reachable database, the startup audit can refuse the catalog:
///
/// ```no_run
/// # fn serve(_: tenancy_sqlx::TenantPool) {}
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::{PoolError, TenantPoolOptions};
/// match TenantPoolOptions::new().connect("postgres://app@localhost/saas").await {
///     Ok(pool) => serve(pool),
///     Err(PoolError::Findings(findings)) => {
///         for finding in &findings {
///             eprintln!("fix before deploying: {finding}");
///         }
///     }
///     Err(other) => return Err(other.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Connecting failed.
    #[error("could not connect to the database")]
    Connect(#[source] sqlx::Error),
    /// The catalog audit could not run.
    #[error("the catalog audit failed to run")]
    Audit(#[source] AuditError),
    /// The catalog audit found problems of severity error; each finding names the object and the fix.
    #[error("refusing to start: {} catalog finding(s) of severity error, first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Findings(Vec<Finding>),
}

/// Options of a [`TenantPool`]: pool size, per-transaction `statement_timeout`, startup audit.
///
/// ```no_run
/// use std::time::Duration;
/// use tenancy_sqlx::TenantPoolOptions;
/// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
/// let pool = TenantPoolOptions::new()
///     .max_connections(10)
///     .statement_timeout(Some(Duration::from_secs(5)))
///     .connect("postgres://app@localhost/saas")
///     .await?;
/// # let _ = pool; Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TenantPoolOptions {
    pool: PgPoolOptions,
    statement_timeout: Option<Duration>,
    refuse_on_audit_errors: bool,
    audit: audit::AuditOptions,
}

impl Default for TenantPoolOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantPoolOptions {
    /// Defaults: sqlx's pool defaults, a 30 s statement timeout, full audit at startup.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// use tenancy_sqlx::{DEFAULT_STATEMENT_TIMEOUT, TenantPoolOptions};
    /// let pool = TenantPoolOptions::new().connect("postgres://app@localhost/saas").await?;
    /// assert_eq!(pool.statement_timeout(), Some(DEFAULT_STATEMENT_TIMEOUT));
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self {
            pool: PgPoolOptions::new(),
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            refuse_on_audit_errors: true,
            audit: audit::AuditOptions::default(),
        }
    }

    /// Replaces the underlying sqlx pool options (the release check is added on top; an
    /// `after_release` hook set here is replaced). Call it first: it replaces what
    /// [`max_connections`](Self::max_connections) set before it.
    ///
    /// Give per-connection settings as startup options
    /// ([`PgConnectOptions::options`](sqlx::postgres::PgConnectOptions::options)), not with a
    /// `SET` in an `after_connect` hook: the release check treats a session-level `SET` as
    /// leftover state and would close every connection after its first use.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// use std::time::Duration;
    /// use sqlx::postgres::PgPoolOptions;
    /// let sqlx_options = PgPoolOptions::new()
    ///     .min_connections(2)
    ///     .acquire_timeout(Duration::from_secs(3));
    /// let pool = tenancy_sqlx::TenantPoolOptions::new()
    ///     .pool_options(sqlx_options)
    ///     .connect("postgres://app@localhost/saas")
    ///     .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub fn pool_options(mut self, options: PgPoolOptions) -> Self {
        self.pool = options;
        self
    }

    /// Maximum number of connections.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// let pool = tenancy_sqlx::TenantPoolOptions::new()
    ///     .max_connections(20)
    ///     .connect("postgres://app@localhost/saas")
    ///     .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub fn max_connections(mut self, n: u32) -> Self {
        self.pool = self.pool.max_connections(n);
        self
    }

    /// Per-transaction `statement_timeout`, set in the `BEGIN` round trip; `None` disables it.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// let batch = tenancy_sqlx::TenantPoolOptions::new()
    ///     .statement_timeout(None) // nightly exports may run long
    ///     .connect("postgres://app@localhost/saas")
    ///     .await?;
    /// assert_eq!(batch.statement_timeout(), None);
    /// # Ok(()) }
    /// ```
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Whether to refuse to start when the catalog audit reports a finding of severity error
    /// (default `true`). The runtime-role checks (superuser, `BYPASSRLS`, owner of a tenant
    /// table) are always enforced.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// // Start even while a migration leaves a table unprotected, and log the findings instead.
    /// let pool = tenancy_sqlx::TenantPoolOptions::new()
    ///     .refuse_on_audit_errors(false)
    ///     .connect("postgres://app@localhost/saas")
    ///     .await?;
    /// let owner = sqlx::PgPool::connect("postgres://owner@localhost/saas").await?;
    /// for finding in tenancy_sqlx::audit(&owner).await? {
    ///     eprintln!("{finding}");
    /// }
    /// # let _ = pool; Ok(()) }
    /// ```
    pub fn refuse_on_audit_errors(mut self, refuse: bool) -> Self {
        self.refuse_on_audit_errors = refuse;
        self
    }

    /// Options of the startup audit (allow-listed `SECURITY DEFINER` functions, tenant column).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// use tenancy_sqlx::{AuditOptions, TenantPoolOptions};
    /// let audit = AuditOptions::default()
    ///     .with_tenant_column("org_id")
    ///     .allow_security_definer("app.lookup_invite");
    /// let pool = TenantPoolOptions::new()
    ///     .audit_options(audit)
    ///     .connect("postgres://app@localhost/saas")
    ///     .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub fn audit_options(mut self, audit: audit::AuditOptions) -> Self {
        self.audit = audit;
        self
    }

    /// Connects with a URL.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://app@localhost/saas".into());
    /// let pool = tenancy_sqlx::TenantPoolOptions::new().connect(&url).await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect(self, url: &str) -> Result<TenantPool, PoolError> {
        let opts: PgConnectOptions = url.parse().map_err(PoolError::Connect)?;
        self.connect_with(opts).await
    }

    /// Connects with explicit connect options, then audits the catalog as the connected role.
    ///
    /// Per-connection settings go into the startup packet here (see
    /// [`pool_options`](Self::pool_options)):
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tenancy_sqlx::PoolError> {
    /// use sqlx::postgres::PgConnectOptions;
    /// let options = PgConnectOptions::new()
    ///     .host("db.internal")
    ///     .username("app")
    ///     .database("saas")
    ///     .options([("lock_timeout", "2s")]);
    /// let pool = tenancy_sqlx::TenantPoolOptions::new().connect_with(options).await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect_with(self, options: PgConnectOptions) -> Result<TenantPool, PoolError> {
        let counters = Arc::new(ReleaseCounters::default());
        let pool = with_release_check(self.pool, Arc::clone(&counters))
            .connect_with(options)
            .await
            .map_err(PoolError::Connect)?;
        let findings = if self.refuse_on_audit_errors {
            audit::audit_with(&pool, &self.audit).await
        } else {
            audit::audit_runtime_role_only(&pool, &self.audit).await
        }
        .map_err(PoolError::Audit)?;
        let errors: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        if !errors.is_empty() {
            pool.close().await;
            return Err(PoolError::Findings(errors));
        }
        Ok(TenantPool {
            pool,
            settings: TxSettings {
                statement_timeout: self.statement_timeout,
            },
            counters,
        })
    }
}

/// A pool of the application (runtime) role that only hands out tenant transactions.
///
/// Every connection is checked when it is released: one with an open transaction, a leftover
/// tenant setting, a `SET ROLE`, temporary objects, a `LISTEN`, a setting changed at session
/// level (`search_path`, a timeout, ...), an advisory lock, an SQL `PREPARE` or an open cursor is
/// closed instead of reused, counted per reason ([`discard_counts`](Self::discard_counts)) and
/// logged (see [`ConnectionState`]).
///
/// ```no_run
/// # async fn demo(scope: tenancy_core::TenantScope) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::TenantPoolOptions;
/// let pool = TenantPoolOptions::new().connect("postgres://app@localhost/saas").await?;
/// let names: Vec<String> = pool
///     .run(&scope, |tx| Box::pin(async move {
///         sqlx::query_scalar("SELECT name FROM items ORDER BY name")
///             .fetch_all(&mut **tx)
///             .await
///             .map_err(Box::<dyn std::error::Error>::from)
///     }))
///     .await?;
/// # let _ = names; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TenantPool {
    pool: PgPool,
    settings: TxSettings,
    counters: Arc<ReleaseCounters>,
}

impl TenantPool {
    /// Opens a transaction for the scope's tenant: `BEGIN`, the tenant, user and role settings,
    /// the `search_path` of a schema tenant and the `statement_timeout` go to the server in one
    /// simple-query message.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// assert_eq!(tx.tenant_id(), scope.tenant_id());
    /// // `tenant_id` defaults to `tenancy.current_tenant_id()`: the row lands in this tenant.
    /// sqlx::query("INSERT INTO projects (name) VALUES ($1)")
    ///     .bind("roadmap")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn begin(&self, scope: &TenantScope) -> Result<TenantTx, TxError> {
        let tenant = scope.tenant_id();
        let span = tracing::debug_span!("tenant_tx", tenant_id = %tenant);
        let sql = tx::tenant_begin_sql(scope, self.settings);
        async {
            match self.pool.begin_with(AssertSqlSafe(sql)).await {
                Ok(t) => Ok(TenantTx::new(t, tenant)),
                Err(e) if tx::is_missing_schema(&e) => match &scope.tenant().isolation {
                    tenancy_core::IsolationMode::Schema { schema } => {
                        Err(TxError::MissingSchema(schema.clone()))
                    }
                    tenancy_core::IsolationMode::SharedTable => Err(TxError::Begin(e)),
                },
                Err(e) => Err(TxError::Begin(e)),
            }
        }
        .instrument(span)
        .await
    }

    /// Runs `f` in a tenant transaction; commits when it returns `Ok`, rolls back on `Err`.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope) {
    /// use tenancy_sqlx::TxError;
    /// #[derive(Debug)]
    /// enum AppError { Tx(TxError), Db(sqlx::Error), OutOfStock }
    /// impl From<TxError> for AppError {
    ///     fn from(e: TxError) -> Self { AppError::Tx(e) }
    /// }
    /// let left = pool.run(scope, |tx| Box::pin(async move {
    ///     let stock: i32 = sqlx::query_scalar("UPDATE items SET stock = stock - 1 \
    ///             WHERE name = $1 RETURNING stock")
    ///         .bind("pen").fetch_one(&mut **tx).await.map_err(AppError::Db)?;
    ///     if stock < 0 {
    ///         return Err(AppError::OutOfStock); // rolled back: the stock stays at 0
    ///     }
    ///     Ok(stock)
    /// })).await;
    /// # let _ = left; }
    /// ```
    pub async fn run<T, E, F>(&self, scope: &TenantScope, f: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut TenantTx) -> BoxFuture<'t, Result<T, E>>,
        E: From<TxError>,
    {
        let mut tx = self.begin(scope).await?;
        match f(&mut tx).await {
            Ok(v) => {
                tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                // The rollback error, if any, is secondary; the connection is checked on release.
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// Acquires a connection and reports what it carries over from earlier borrowers (the same
    /// check the pool runs on release). A health check, and the probe of the hygiene tests.
    ///
    /// ```no_run
    /// async fn healthy(pool: &tenancy_sqlx::TenantPool) -> bool {
    ///     matches!(pool.inspect_connection().await, Ok(state) if state.is_clean())
    /// }
    /// ```
    pub async fn inspect_connection(&self) -> Result<ConnectionState, TxError> {
        let mut conn = self.pool.acquire().await.map_err(TxError::Begin)?;
        connection_state(&mut conn).await.map_err(TxError::Begin)
    }

    /// How many connections the release check has closed since the pool started.
    ///
    /// ```no_run
    /// # async fn demo(scope: &tenancy_core::TenantScope) -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tenancy_sqlx::TenantPoolOptions::new()
    ///     .max_connections(1)
    ///     .connect("postgres://app@localhost/saas")
    ///     .await?;
    /// let mut tx = pool.begin(scope).await?;
    /// // Without `LOCAL` the setting outlives the transaction: the connection is not reused.
    /// sqlx::query("SET lock_timeout = '1s'").execute(&mut *tx).await?;
    /// tx.commit().await?;
    /// let tx = pool.begin(scope).await?; // one connection: waits for the release check
    /// assert_eq!(pool.discarded_connections(), 1);
    /// # drop(tx); Ok(()) }
    /// ```
    pub fn discarded_connections(&self) -> u64 {
        self.counters.total()
    }

    /// How many connections the release check has closed since the pool started, per
    /// [`DiscardReason`].
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool) {
    /// use tenancy_sqlx::DiscardReason;
    /// let counts = pool.discard_counts();
    /// if counts.get(DiscardReason::TenantSetting) > 0 {
    ///     eprintln!("a tenant setting leaked out of a transaction: {counts:?}");
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
    /// let pool = tenancy_sqlx::TenantPoolOptions::new()
    ///     .statement_timeout(Some(Duration::from_secs(5)))
    ///     .connect("postgres://app@localhost/saas")
    ///     .await?;
    /// assert_eq!(pool.statement_timeout(), Some(Duration::from_secs(5)));
    /// # Ok(()) }
    /// ```
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.settings.statement_timeout
    }

    /// Closes every connection.
    ///
    /// ```no_run
    /// # async fn demo(pool: tenancy_sqlx::TenantPool) {
    /// // At shutdown, after the server stopped taking requests:
    /// pool.close().await;
    /// # }
    /// ```
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl fmt::Debug for TenantPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantPool")
            .field("statement_timeout", &self.settings.statement_timeout)
            .field("size", &self.pool.size())
            .field("discarded", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}
