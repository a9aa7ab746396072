//! Names of the transaction-local settings the library sets, in one place.
//!
//! These are the only names the SQL side reads (through the accessor functions in schema
//! `tenancy`). The library sets them with `set_config(name, value, true)` inside the transaction
//! it opens, never at session level.
//!
//! ```no_run
//! # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! let tx = pool.begin(scope).await?;
//! tx.commit().await?;
//! // On a pool of one connection: the setting ended with the transaction.
//! let state = pool.inspect_connection().await?;
//! assert!(state.tenant_id.as_deref().unwrap_or_default().is_empty());
//! # Ok(()) }
//! ```

/// The tenant id (`uuid` text), read by `tenancy.current_tenant_id()`.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin(scope).await?;
/// let tenant: String = sqlx::query_scalar("SELECT current_setting($1)")
///     .bind(tenancy_sqlx::settings::TENANT_ID)
///     .fetch_one(&mut *tx)
///     .await?;
/// assert_eq!(tenant, scope.tenant_id().to_string());
/// # Ok(()) }
/// ```
pub const TENANT_ID: &str = "tenancy.tenant_id";
/// The authorised user id (`uuid` text), read by `tenancy.current_user_id()`.
///
/// Testing an SQL function of your own that reads the accessor, on a plain connection (as the
/// library does, the value is set transaction-locally):
///
/// ```no_run
/// # async fn demo(pool: &sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let user = uuid::Uuid::new_v4();
/// let mut tx = pool.begin().await?;
/// sqlx::query("SELECT set_config($1, $2, true)")
///     .bind(tenancy_sqlx::settings::USER_ID)
///     .bind(user.to_string())
///     .execute(&mut *tx)
///     .await?;
/// let seen: Option<uuid::Uuid> = sqlx::query_scalar("SELECT tenancy.current_user_id()")
///     .fetch_one(&mut *tx)
///     .await?;
/// assert_eq!(seen, Some(user));
/// tx.rollback().await?;
/// # Ok(()) }
/// ```
pub const USER_ID: &str = "tenancy.user_id";
/// The member's role (`owner`, `admin`, `manager`, `member`), read by
/// `tenancy.current_member_role()`.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin(scope).await?;
/// let role: String = sqlx::query_scalar("SELECT current_setting($1)")
///     .bind(tenancy_sqlx::settings::ROLE)
///     .fetch_one(&mut *tx)
///     .await?;
/// let role: tenancy_core::Role = role.parse()?;
/// assert_eq!(role, scope.role());
/// # Ok(()) }
/// ```
pub const ROLE: &str = "tenancy.role";
/// The tenant's own schema for schema-per-tenant tenants, read by
/// `tenancy.current_schema_tenant()`.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin(scope).await?;
/// use tenancy_core::IsolationMode;
/// // `missing_ok`: a shared-table tenant never has it set.
/// let schema: Option<String> = sqlx::query_scalar("SELECT current_setting($1, true)")
///     .bind(tenancy_sqlx::settings::SCHEMA)
///     .fetch_one(&mut *tx)
///     .await?;
/// match &scope.tenant().isolation {
///     IsolationMode::Schema { schema: own } => assert_eq!(schema.as_deref(), Some(own.as_str())),
///     _ => assert!(schema.is_none()),
/// }
/// # Ok(()) }
/// ```
pub const SCHEMA: &str = "tenancy.schema";
/// The platform administrator's user id, set in platform transactions (for audit triggers).
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::PlatformPool, admin: &tenancy_core::PlatformScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin(admin).await?;
/// let id: String = sqlx::query_scalar("SELECT current_setting($1)")
///     .bind(tenancy_sqlx::settings::PLATFORM_ADMIN_ID)
///     .fetch_one(&mut *tx)
///     .await?;
/// assert_eq!(id, admin.admin_id().to_string());
/// # Ok(()) }
/// ```
pub const PLATFORM_ADMIN_ID: &str = "tenancy.platform_admin_id";
