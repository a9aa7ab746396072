//! The platform pool: cross-tenant administration under its own role, audited.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use tenancy_core::{PlatformScope, UserId};

use crate::pool::{DEFAULT_STATEMENT_TIMEOUT, PoolError, hygienic};
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
    discarded: Arc<AtomicU64>,
}

impl PlatformPool {
    /// Connects with a URL and default options.
    pub async fn connect(url: &str) -> Result<Self, PoolError> {
        let opts: PgConnectOptions = url.parse().map_err(PoolError::Connect)?;
        Self::connect_with(PgPoolOptions::new(), opts).await
    }

    /// Connects with explicit pool and connect options. The release check of
    /// [`TenantPool`](crate::TenantPool) is installed here too.
    pub async fn connect_with(
        pool: PgPoolOptions,
        options: PgConnectOptions,
    ) -> Result<Self, PoolError> {
        let discarded = Arc::new(AtomicU64::new(0));
        let pool = hygienic(pool, Arc::clone(&discarded))
            .connect_with(options)
            .await
            .map_err(PoolError::Connect)?;
        Ok(Self {
            pool,
            settings: TxSettings {
                statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            },
            discarded,
        })
    }

    /// Sets the per-transaction `statement_timeout` (`None` disables it).
    #[must_use]
    pub fn with_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.statement_timeout = timeout;
        self
    }

    /// Opens a platform transaction for `scope`'s administrator (one round trip).
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
    pub fn discarded_connections(&self) -> u64 {
        self.discarded.load(Ordering::Relaxed)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl fmt::Debug for PlatformPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformPool")
            .field("statement_timeout", &self.settings.statement_timeout)
            .finish_non_exhaustive()
    }
}

/// An open platform transaction; rolls back when dropped.
#[must_use = "a platform transaction rolls back when dropped: call `commit` to keep its changes"]
pub struct PlatformTx {
    tx: Transaction<'static, Postgres>,
    admin: UserId,
}

impl PlatformTx {
    /// The administrator this transaction runs for.
    pub fn admin_id(&self) -> UserId {
        self.admin
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), TxError> {
        tracing::info!(admin_id = %self.admin, "platform transaction commits");
        self.tx.commit().await.map_err(TxError::Commit)
    }

    /// Rolls back.
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
