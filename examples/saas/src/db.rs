//! Database setup: migrations (library and app), the embedded throw-away server, connecting the
//! runtime and platform pools.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};
use tenancy_sqlx::embedded::{EmbeddedError, EmbeddedPostgres};
use tenancy_sqlx::{PlatformPool, PoolError, TenantPoolOptions};

use crate::app::Database;

/// Login role the app connects as on the embedded server (member of `tenancy_runtime`).
pub const EMBEDDED_APP_ROLE: &str = "saas_app";
/// Login role of platform work on the embedded server (member of `tenancy_platform`).
pub const EMBEDDED_PLATFORM_ROLE: &str = "saas_platform";

/// The app's own migrations (`examples/saas/migrations`), tracked in `_saas_migrations` so they
/// never collide with the library's versions in `_sqlx_migrations`.
pub fn app_migrator() -> Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.dangerous_set_table_name("_saas_migrations");
    m
}

/// Why the database could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A URL is not a PostgreSQL URL.
    #[error("`{0}` is not a valid database url")]
    Url(&'static str),
    /// The embedded server did not start.
    #[error("the embedded postgresql server did not start")]
    Embedded(#[from] EmbeddedError),
    /// A migration failed.
    #[error("migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A setup statement failed.
    #[error("database setup failed while {0}")]
    Setup(&'static str, #[source] sqlx::Error),
    /// The runtime pool refused to start: the catalog audit found an isolation hole, or the
    /// role is a superuser, has `BYPASSRLS` or owns a tenant table.
    #[error("the application database role is refused")]
    Refused(#[source] PoolError),
    /// The platform pool did not connect.
    #[error("the platform database role could not connect")]
    Platform(#[source] PoolError),
}

/// Applies the library's migrations, then the app's. Run as the schema owner.
pub async fn migrate(owner: &PgPool) -> Result<(), DbError> {
    tenancy_sqlx::migrate(owner).await?;
    app_migrator().run(owner).await?;
    Ok(())
}

/// Connects the four handles of [`Database`]: the runtime role (`app`, audited at start: a
/// superuser, `BYPASSRLS` or table-owning role is refused) and the platform role.
pub async fn connect(
    app: PgConnectOptions,
    platform: PgConnectOptions,
) -> Result<Database, DbError> {
    let tenant = TenantPoolOptions::new()
        .max_connections(10)
        .connect_with(app.clone())
        .await
        .map_err(DbError::Refused)?;
    let app_pool = PgPoolOptions::new()
        .max_connections(5)
        .connect_with(app)
        .await
        .map_err(|e| DbError::Setup("connecting the application role", e))?;
    let platform_pool =
        PlatformPool::connect_with(PgPoolOptions::new().max_connections(3), platform.clone())
            .await
            .map_err(DbError::Platform)?;
    let platform_raw = PgPoolOptions::new()
        .max_connections(3)
        .connect_with(platform)
        .await
        .map_err(|e| DbError::Setup("connecting the platform role", e))?;
    Ok(Database {
        tenant,
        app: app_pool,
        platform: platform_pool,
        platform_raw,
    })
}

/// Parses a database URL.
pub fn parse_url(url: &str, what: &'static str) -> Result<PgConnectOptions, DbError> {
    PgConnectOptions::from_str(url).map_err(|_| DbError::Url(what))
}

/// A running embedded server with the app's schema and login roles.
#[derive(Debug)]
pub struct EmbeddedDb {
    /// The server (stopped when dropped or with [`EmbeddedPostgres::stop`]).
    pub server: EmbeddedPostgres,
    /// Connect options of the runtime login role.
    pub app: PgConnectOptions,
    /// Connect options of the platform login role.
    pub platform: PgConnectOptions,
}

/// Starts an embedded server, migrates it as the superuser and creates the login roles
/// [`EMBEDDED_APP_ROLE`] (in `tenancy_runtime`) and [`EMBEDDED_PLATFORM_ROLE`] (in
/// `tenancy_platform`); neither is a superuser or has `BYPASSRLS`.
pub async fn start_embedded() -> Result<EmbeddedDb, DbError> {
    let server = EmbeddedPostgres::start().await?;
    let admin = parse_url(&server.url(), "embedded url")?;
    let owner = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(admin.clone())
        .await
        .map_err(|e| DbError::Setup("connecting to the embedded server", e))?;
    migrate(&owner).await?;
    let roles = format!(
        "CREATE ROLE {EMBEDDED_APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE tenancy_runtime; \
         CREATE ROLE {EMBEDDED_PLATFORM_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE tenancy_platform; \
         GRANT CONNECT ON DATABASE postgres TO tenancy_runtime, tenancy_platform; \
         GRANT USAGE ON SCHEMA public TO tenancy_runtime, tenancy_platform;"
    );
    sqlx::raw_sql(AssertSqlSafe(roles))
        .execute(&owner)
        .await
        .map_err(|e| DbError::Setup("creating the login roles", e))?;
    owner.close().await;
    Ok(EmbeddedDb {
        app: admin.clone().username(EMBEDDED_APP_ROLE),
        platform: admin.username(EMBEDDED_PLATFORM_ROLE),
        server,
    })
}
