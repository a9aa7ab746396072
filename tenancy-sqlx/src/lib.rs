//! PostgreSQL side of `tenancy`: tenant-scoped transactions, row level security policies, the
//! catalog auditor and the tenant registry.
//!
//! - [`TenantPool::begin`] opens a [`TenantTx`] for a [`TenantScope`](tenancy_core::TenantScope):
//!   `BEGIN`, the transaction-local tenant, user and role settings (or the `search_path` of a
//!   schema tenant) and a `statement_timeout` in one round trip. Commit is explicit; drop rolls
//!   back. Released connections are checked and closed when they carry anything over.
//! - [`PlatformPool`] runs cross-tenant administration for a
//!   [`PlatformScope`](tenancy_core::PlatformScope) under its own role, traced.
//! - [`migrate`] installs schema `tenancy`: the registry, the group roles `tenancy_runtime` and
//!   `tenancy_platform`, the accessor `tenancy.current_tenant_id()` and friends, and
//!   `tenancy.protect_table(..)` (see the [`guide`]).
//! - [`audit()`] lists holes in policy coverage and privileges as typed [`Finding`]s.
//! - [`schema_drift`] compares a tenant schema with its template (tables, columns, row level
//!   security, policies).
//! - [`PgTenantStore`] implements [`TenantStore`](tenancy_core::TenantStore) over the registry.
//!
//! ```no_run
//! # async fn demo(scope: tenancy_core::TenantScope) -> Result<(), Box<dyn std::error::Error>> {
//! use tenancy_sqlx::TenantPoolOptions;
//! let pool = TenantPoolOptions::new().connect("postgres://app@localhost/saas").await?;
//! let mut tx = pool.begin(&scope).await?;
//! let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as("SELECT id, name FROM projects")
//!     .fetch_all(&mut *tx)
//!     .await?;
//! tx.commit().await?;
//! # let _ = rows; Ok(()) }
//! ```
//!
//! | feature    | enables                                                         |
//! |------------|-----------------------------------------------------------------|
//! | `embedded` | a throw-away PostgreSQL cluster from the installed binaries     |
//! | `testing`  | per-test databases and the unprivileged application role        |
//!
//! Minimum supported Rust version: 1.94 (the minimum of sqlx 0.9).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod audit_log;
mod drift;
#[cfg(feature = "embedded")]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded")))]
pub mod embedded;
pub mod guide;
mod invitation;
mod lifecycle;
mod membership;
mod platform;
mod pool;
pub mod settings;
mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod tx;

pub use audit::{AuditError, AuditOptions, Finding, FindingKind, Severity, audit, audit_with};
pub use drift::{Drift, DriftError, RowSecurity, schema_drift};
pub use invitation::{
    AcceptedInvitation, Invitation, InvitationError, InvitationToken, Invitations,
};
pub use lifecycle::{Lifecycle, LifecycleError, TenantOverview};
pub use membership::{Member, Members, MembershipError, MembershipSummary, PgMembershipStore};
pub use platform::{PlatformPool, PlatformTx};
pub use pool::{
    ConnectionState, DEFAULT_STATEMENT_TIMEOUT, DiscardCounts, DiscardReason, PoolError,
    TenantPool, TenantPoolOptions,
};
pub use store::{PgTenantStore, TenantStoreError};
pub use tenancy_core;
pub use tx::{NestedTx, TenantTx, TxError};

/// The migrations this crate ships (schema `tenancy`, group roles, accessor functions, registry,
/// protection helpers).
///
/// ```
/// use tenancy_sqlx::MIGRATOR;
/// // What a deployment of the schema owner applies, oldest first.
/// for m in MIGRATOR.iter() {
///     println!("{:04} {}", m.version, m.description);
/// }
/// assert!(MIGRATOR.version_exists(1)); // schema `tenancy`, group roles, accessors
/// ```
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the migrations shipped with this crate. Run it as the schema owner, never as the
/// runtime application role.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let owner = sqlx::PgPool::connect("postgres://migrator@localhost/saas").await?;
/// tenancy_sqlx::migrate(&owner).await?;
/// // Then the application's own tables, each protected by the helper it installed.
/// sqlx::query(
///     "CREATE TABLE IF NOT EXISTS public.projects (tenant_id uuid NOT NULL, id uuid NOT NULL, \
///      name text NOT NULL, PRIMARY KEY (tenant_id, id))",
/// )
/// .execute(&owner)
/// .await?;
/// sqlx::query("SELECT tenancy.protect_table('public.projects')").execute(&owner).await?;
/// # Ok(()) }
/// ```
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
