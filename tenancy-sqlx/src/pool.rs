//! The application-role pool: tenant transactions and connection hygiene.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row as _};
use tenancy_core::TenantScope;
use tracing::Instrument as _;

use crate::audit::{self, AuditError, Finding, Severity};
use crate::tx::{self, TenantTx, TxError, TxSettings};

/// Default per-transaction `statement_timeout`.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// One query, run when a connection is released (and by [`TenantPool::inspect_connection`]).
///
/// `now() = statement_timestamp()` holds only in the first statement of a transaction, so it is
/// false when an earlier transaction was left open (for example by a cancelled `begin`); an
/// aborted transaction makes the query itself fail. Both close the connection. Sent as a simple
/// query (no prepared statement), so it also works through PgBouncer in transaction mode.
const HYGIENE_SQL: &str = "SELECT \
    pg_catalog.now() <> pg_catalog.statement_timestamp() AS open_transaction, \
    pg_catalog.current_setting('tenancy.tenant_id', true) AS tenant_id, \
    pg_catalog.current_setting('tenancy.user_id', true) AS user_id, \
    pg_catalog.current_setting('tenancy.role', true) AS member_role, \
    pg_catalog.current_setting('tenancy.schema', true) AS tenant_schema, \
    pg_catalog.current_setting('tenancy.platform_admin_id', true) AS platform_admin_id, \
    current_user <> session_user AS role_switched, \
    (pg_catalog.pg_my_temp_schema() <> 0 AND EXISTS (SELECT 1 FROM pg_catalog.pg_class \
        WHERE relnamespace = pg_catalog.pg_my_temp_schema())) AS temp_objects, \
    EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) AS listening";

/// What a connection carries over from earlier borrowers, as seen by the hygiene check.
///
/// A clean connection has no open transaction, no tenant or platform setting (unset or empty),
/// no `SET ROLE`, no temporary objects and no `LISTEN`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionState {
    /// A transaction was open before the check ran.
    pub open_transaction: bool,
    /// The value of `tenancy.tenant_id` (`None` when never set; `Some("")` after a local set ended).
    pub tenant_id: Option<String>,
    /// The value of `tenancy.user_id`.
    pub user_id: Option<String>,
    /// The value of `tenancy.role`.
    pub role: Option<String>,
    /// The value of `tenancy.schema`.
    pub schema: Option<String>,
    /// The value of `tenancy.platform_admin_id`.
    pub platform_admin_id: Option<String>,
    /// `current_user` differs from `session_user` (a `SET ROLE` is in force).
    pub role_switched: bool,
    /// The session owns temporary objects.
    pub temp_objects: bool,
    /// The session listens on a notification channel.
    pub listening: bool,
}

impl ConnectionState {
    /// Whether the connection can be handed to the next borrower.
    pub fn is_clean(&self) -> bool {
        let empty = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
        !self.open_transaction
            && empty(&self.tenant_id)
            && empty(&self.user_id)
            && empty(&self.role)
            && empty(&self.schema)
            && empty(&self.platform_admin_id)
            && !self.role_switched
            && !self.temp_objects
            && !self.listening
    }

    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            open_transaction: row.try_get("open_transaction")?,
            tenant_id: row.try_get("tenant_id")?,
            user_id: row.try_get("user_id")?,
            role: row.try_get("member_role")?,
            schema: row.try_get("tenant_schema")?,
            platform_admin_id: row.try_get("platform_admin_id")?,
            role_switched: row.try_get("role_switched")?,
            temp_objects: row.try_get("temp_objects")?,
            listening: row.try_get("listening")?,
        })
    }
}

pub(crate) async fn connection_state(
    conn: &mut PgConnection,
) -> Result<ConnectionState, sqlx::Error> {
    let row = sqlx::raw_sql(HYGIENE_SQL).fetch_one(conn).await?;
    ConnectionState::from_row(&row)
}

/// Builds pool options with the release check installed; `discarded` counts closed connections.
pub(crate) fn hygienic(options: PgPoolOptions, discarded: Arc<AtomicU64>) -> PgPoolOptions {
    options.after_release(move |conn, _meta| {
        let discarded = Arc::clone(&discarded);
        Box::pin(async move {
            match connection_state(conn).await {
                Ok(state) if state.is_clean() => Ok(true),
                Ok(state) => {
                    discarded.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(?state, "closing a pooled connection returned with leftover state");
                    Ok(false)
                }
                Err(error) => {
                    discarded.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "closing a pooled connection that failed the hygiene check");
                    Err(error)
                }
            }
        })
    })
}

/// Why a [`TenantPool`] (or [`PlatformPool`](crate::PlatformPool)) refused to start.
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
    pub fn new() -> Self {
        Self {
            pool: PgPoolOptions::new(),
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            refuse_on_audit_errors: true,
            audit: audit::AuditOptions::default(),
        }
    }

    /// Replaces the underlying sqlx pool options (the release check is added on top; an
    /// `after_release` hook set here is replaced).
    pub fn pool_options(mut self, options: PgPoolOptions) -> Self {
        self.pool = options;
        self
    }

    /// Maximum number of connections.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.pool = self.pool.max_connections(n);
        self
    }

    /// Per-transaction `statement_timeout`, set in the `BEGIN` round trip; `None` disables it.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Whether to refuse to start when the catalog audit reports a finding of severity error
    /// (default `true`). The runtime-role checks (superuser, `BYPASSRLS`, owner of a tenant
    /// table) are always enforced.
    pub fn refuse_on_audit_errors(mut self, refuse: bool) -> Self {
        self.refuse_on_audit_errors = refuse;
        self
    }

    /// Options of the startup audit (allow-listed `SECURITY DEFINER` functions, tenant column).
    pub fn audit_options(mut self, audit: audit::AuditOptions) -> Self {
        self.audit = audit;
        self
    }

    /// Connects with a URL.
    pub async fn connect(self, url: &str) -> Result<TenantPool, PoolError> {
        let opts: PgConnectOptions = url.parse().map_err(PoolError::Connect)?;
        self.connect_with(opts).await
    }

    /// Connects with explicit connect options, then audits the catalog as the connected role.
    pub async fn connect_with(self, options: PgConnectOptions) -> Result<TenantPool, PoolError> {
        let discarded = Arc::new(AtomicU64::new(0));
        let pool = hygienic(self.pool, Arc::clone(&discarded))
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
            discarded,
        })
    }
}

/// A pool of the application (runtime) role that only hands out tenant transactions.
///
/// Every connection is checked when it is released: one with an open transaction, a leftover
/// tenant setting, a `SET ROLE`, temporary objects or a `LISTEN` is closed instead of reused.
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
    discarded: Arc<AtomicU64>,
}

impl TenantPool {
    /// Opens a transaction for the scope's tenant: `BEGIN`, the tenant, user and role settings,
    /// the `search_path` of a schema tenant and the `statement_timeout` go to the server in one
    /// simple-query message.
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
    pub async fn inspect_connection(&self) -> Result<ConnectionState, TxError> {
        let mut conn = self.pool.acquire().await.map_err(TxError::Begin)?;
        connection_state(&mut conn).await.map_err(TxError::Begin)
    }

    /// How many connections the release check has closed since the pool started.
    pub fn discarded_connections(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    /// The per-transaction `statement_timeout` (`None` when disabled).
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.settings.statement_timeout
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl fmt::Debug for TenantPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantPool")
            .field("statement_timeout", &self.settings.statement_timeout)
            .field("size", &self.pool.size())
            .finish_non_exhaustive()
    }
}
