//! The tenant transaction: a guard over an sqlx transaction with the tenant set locally.

use std::fmt::{self, Write as _};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::{Connection as _, PgConnection, Postgres, Transaction};
use tenancy_core::{IsolationMode, SchemaName, TenantId, TenantScope};

use crate::settings;

/// Why a tenant (or platform) transaction could not be opened, nested, committed or rolled back.
///
/// Messages never contain SQL or the database's error text; the cause is kept as the source.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::TxError;
/// match pool.begin(scope).await {
///     Ok(tx) => tx.commit().await?,
///     // A schema tenant whose schema is not provisioned yet; the message is
///     // "schema `tenant_acme` of the tenant does not exist".
///     Err(e @ TxError::MissingSchema(_)) => eprintln!("{e}"),
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// No connection could be acquired, or `BEGIN` and the settings failed.
    #[error("could not begin the tenant transaction")]
    Begin(#[source] sqlx::Error),
    /// The tenant uses its own schema and that schema does not exist. There is no fall-back to
    /// `public`.
    #[error("schema `{0}` of the tenant does not exist")]
    MissingSchema(SchemaName),
    /// A nested scope was requested for another tenant than the one of the open transaction.
    #[error(
        "a scope for tenant `{requested}` cannot be nested in a transaction of tenant `{active}`"
    )]
    TenantMismatch {
        /// The tenant of the open transaction.
        active: TenantId,
        /// The tenant of the refused scope.
        requested: TenantId,
    },
    /// The savepoint of a nested scope could not be created.
    #[error("could not open a nested tenant scope")]
    Savepoint(#[source] sqlx::Error),
    /// `COMMIT` failed; the transaction did not take effect.
    #[error("could not commit the tenant transaction")]
    Commit(#[source] sqlx::Error),
    /// `ROLLBACK` failed; the connection is discarded by the pool.
    #[error("could not roll back the tenant transaction")]
    Rollback(#[source] sqlx::Error),
    /// Releasing the savepoint of a nested scope ([`NestedTx::commit`]) failed.
    #[error("could not release the nested tenant scope")]
    ReleaseSavepoint(#[source] sqlx::Error),
    /// Rolling back to the savepoint of a nested scope ([`NestedTx::rollback`]) failed.
    #[error("could not roll back the nested tenant scope")]
    RollbackSavepoint(#[source] sqlx::Error),
}

/// Per-transaction settings of a pool, applied in the `BEGIN` round trip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxSettings {
    pub(crate) statement_timeout: Option<Duration>,
}

/// Appends `, set_config('<name>', '<value>', true)`. Only called with values rendered from typed
/// ids, enums and validated schema names: none of them can contain a quote.
fn push_set(sql: &mut String, name: &str, value: &str) {
    debug_assert!(!value.contains('\'') && !value.contains('\\'));
    let _ = write!(sql, ", pg_catalog.set_config('{name}', '{value}', true)");
}

fn push_timeout(sql: &mut String, settings: TxSettings) {
    if let Some(t) = settings.statement_timeout {
        // 0 would mean "no timeout"; a configured timeout is at least 1 ms.
        let ms = t.as_millis().clamp(1, i32::MAX as u128);
        push_set(sql, "statement_timeout", &ms.to_string());
    }
}

/// The single simple-query message that opens a tenant transaction: `BEGIN` plus every
/// transaction-local setting, so the whole setup costs one round trip.
pub(crate) fn tenant_begin_sql(scope: &TenantScope, settings: TxSettings) -> String {
    let mut sql = String::with_capacity(512);
    sql.push_str("BEGIN; SELECT 1");
    push_set(
        &mut sql,
        settings::TENANT_ID,
        &scope.tenant_id().to_string(),
    );
    push_set(&mut sql, settings::USER_ID, &scope.user_id().to_string());
    push_set(&mut sql, settings::ROLE, scope.role().as_str());
    if let IsolationMode::Schema { schema } = &scope.tenant().isolation {
        // The cast to regnamespace raises 3F000 when the schema is missing: an error, never a
        // fall-back. `pg_temp` is listed last explicitly so temporary tables cannot shadow the
        // tenant's tables (PostgreSQL searches it first when it is not listed).
        let _ = write!(sql, ", '{}'::pg_catalog.regnamespace", schema.as_str());
        push_set(
            &mut sql,
            "search_path",
            &format!("{}, pg_catalog, pg_temp", schema.quoted()),
        );
        push_set(&mut sql, settings::SCHEMA, schema.as_str());
    }
    push_timeout(&mut sql, settings);
    sql
}

/// `BEGIN` plus the platform settings, one round trip.
pub(crate) fn platform_begin_sql(admin: tenancy_core::UserId, settings: TxSettings) -> String {
    let mut sql = String::with_capacity(256);
    sql.push_str("BEGIN; SELECT 1");
    push_set(&mut sql, settings::PLATFORM_ADMIN_ID, &admin.to_string());
    push_timeout(&mut sql, settings);
    sql
}

/// `BEGIN` plus the acting user and the timeout, one round trip: a platform-role transaction a
/// user opens on their own behalf through an audited library operation (self-serve sign-up,
/// renaming their organisation); no platform administrator is set.
pub(crate) fn user_begin_sql(user: tenancy_core::UserId, settings: TxSettings) -> String {
    let mut sql = String::with_capacity(256);
    sql.push_str("BEGIN; SELECT 1");
    push_set(&mut sql, settings::USER_ID, &user.to_string());
    push_timeout(&mut sql, settings);
    sql
}

pub(crate) fn is_missing_schema(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "3F000")
}

/// An open transaction in which one tenant is set, transaction-locally.
///
/// Obtained from [`TenantPool::begin`](crate::TenantPool::begin). Use it wherever sqlx expects an
/// executor with `&mut *tx`. [`commit`](Self::commit) is explicit; dropping the guard rolls the
/// transaction back, and the tenant settings end with it.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin(scope).await?;
/// let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items").fetch_one(&mut *tx).await?;
/// sqlx::query("INSERT INTO items (name) VALUES ($1)").bind("pen").execute(&mut *tx).await?;
/// tx.commit().await?;
/// # let _ = n; Ok(()) }
/// ```
#[must_use = "a tenant transaction rolls back when dropped: call `commit` to keep its changes"]
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
}

impl TenantTx {
    pub(crate) fn new(tx: Transaction<'static, Postgres>, tenant: TenantId) -> Self {
        Self { tx, tenant }
    }

    /// The tenant set in this transaction.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// sqlx::query("INSERT INTO exports (tenant_id, kind) VALUES ($1, $2)")
    ///     .bind(tx.tenant_id().into_uuid())
    ///     .bind("csv")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// # tx.commit().await?; Ok(()) }
    /// ```
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// Commits the transaction.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// sqlx::query("UPDATE projects SET archived = true WHERE name = $1")
    ///     .bind("roadmap")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// tx.commit().await?; // without it, dropping `tx` would roll the update back
    /// # Ok(()) }
    /// ```
    pub async fn commit(self) -> Result<(), TxError> {
        self.tx.commit().await.map_err(TxError::Commit)
    }

    /// Rolls the transaction back (dropping the guard does the same, lazily).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// let n = sqlx::query("DELETE FROM projects WHERE archived")
    ///     .execute(&mut *tx)
    ///     .await?
    ///     .rows_affected();
    /// println!("would delete {n} archived projects");
    /// tx.rollback().await?; // a dry run: nothing is deleted
    /// # Ok(()) }
    /// ```
    pub async fn rollback(self) -> Result<(), TxError> {
        self.tx.rollback().await.map_err(TxError::Rollback)
    }

    /// Opens a savepoint for a nested scope of the *same* tenant; another tenant is refused with
    /// [`TxError::TenantMismatch`] and nothing is sent to the server.
    ///
    /// The settings of the outer transaction (user, role) stay in force.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, acme: &tenancy_core::TenantScope,
    /// #     globex: &tenancy_core::TenantScope) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_sqlx::TxError;
    /// let mut tx = pool.begin(acme).await?;
    /// let inner = tx.nested(acme).await?; // a savepoint, same tenant
    /// inner.commit().await?;
    /// match tx.nested(globex).await {
    ///     Err(TxError::TenantMismatch { active, requested }) => {
    ///         assert_eq!((active, requested), (acme.tenant_id(), globex.tenant_id()));
    ///     }
    ///     other => panic!("another tenant must be refused, got {other:?}"),
    /// }
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn nested(&mut self, scope: &TenantScope) -> Result<NestedTx<'_>, TxError> {
        if scope.tenant_id() != self.tenant {
            return Err(TxError::TenantMismatch {
                active: self.tenant,
                requested: scope.tenant_id(),
            });
        }
        let tenant = self.tenant;
        let tx = (*self.tx).begin().await.map_err(TxError::Savepoint)?;
        Ok(NestedTx { tx, tenant })
    }
}

impl Deref for TenantTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl fmt::Debug for TenantTx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant_id", &self.tenant)
            .finish_non_exhaustive()
    }
}

/// A savepoint inside a [`TenantTx`], for a nested scope of the same tenant.
///
/// [`commit`](Self::commit) releases the savepoint; dropping it rolls back to the savepoint.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin(scope).await?;
/// for name in ["pen", "paper"] {
///     let mut step = tx.nested(scope).await?;
///     let inserted = sqlx::query("INSERT INTO items (name) VALUES ($1)")
///         .bind(name)
///         .execute(&mut *step)
///         .await;
///     if inserted.is_ok() {
///         step.commit().await?;
///     } // else `step` is dropped: back to the savepoint, and `tx` stays usable
/// }
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[must_use = "a nested scope rolls back to its savepoint when dropped: call `commit`"]
pub struct NestedTx<'a> {
    tx: Transaction<'a, Postgres>,
    tenant: TenantId,
}

impl NestedTx<'_> {
    /// The tenant set in the enclosing transaction.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// let inner = tx.nested(scope).await?;
    /// assert_eq!(inner.tenant_id(), scope.tenant_id());
    /// # Ok(()) }
    /// ```
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// Releases the savepoint (its changes become part of the enclosing transaction).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// let mut inner = tx.nested(scope).await?;
    /// sqlx::query("INSERT INTO items (name) VALUES ('kept')").execute(&mut *inner).await?;
    /// inner.commit().await?;
    /// let kept: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM items WHERE name = 'kept')")
    ///     .fetch_one(&mut *tx)
    ///     .await?;
    /// assert!(kept);
    /// tx.commit().await?; // only now is the row visible to others
    /// # Ok(()) }
    /// ```
    pub async fn commit(self) -> Result<(), TxError> {
        self.tx.commit().await.map_err(TxError::ReleaseSavepoint)
    }

    /// Rolls back to the savepoint.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin(scope).await?;
    /// let mut batch = tx.nested(scope).await?;
    /// let finished = sqlx::query("UPDATE tasks SET done = true WHERE NOT done")
    ///     .execute(&mut *batch)
    ///     .await?
    ///     .rows_affected();
    /// if finished > 500 {
    ///     batch.rollback().await?; // too many at once; `tx` goes on without them
    /// } else {
    ///     batch.commit().await?;
    /// }
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn rollback(self) -> Result<(), TxError> {
        self.tx.rollback().await.map_err(TxError::RollbackSavepoint)
    }
}

impl Deref for NestedTx<'_> {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for NestedTx<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl fmt::Debug for NestedTx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NestedTx")
            .field("tenant_id", &self.tenant)
            .finish_non_exhaustive()
    }
}
