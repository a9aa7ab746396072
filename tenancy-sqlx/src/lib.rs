//! PostgreSQL side of `tenancy`.
#![forbid(unsafe_code)]

pub use tenancy_core;

/// The migrations this crate ships (schema `tenancy`, accessor functions, registry tables).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Applies the migrations shipped with this crate. Run it as the schema owner, never as the
/// runtime application role.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
