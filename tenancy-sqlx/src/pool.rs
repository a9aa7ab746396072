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

pub(crate) use hygiene::hygienic;
pub use hygiene::{ConnectionState, DiscardCounts, DiscardReason};
use hygiene::{ReleaseCounters, connection_state, with_release_check};

/// Default per-transaction `statement_timeout`.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

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
    ///
    /// Give per-connection settings as startup options
    /// ([`PgConnectOptions::options`](sqlx::postgres::PgConnectOptions::options)), not with a
    /// `SET` in an `after_connect` hook: the release check treats a session-level `SET` as
    /// leftover state and would close every connection after its first use.
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
        self.counters.total()
    }

    /// How many connections the release check has closed since the pool started, per
    /// [`DiscardReason`].
    pub fn discard_counts(&self) -> DiscardCounts {
        self.counters.snapshot()
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
            .field("discarded", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}
