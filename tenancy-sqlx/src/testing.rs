//! Per-test PostgreSQL databases and the unprivileged roles isolation tests run as
//! (feature `testing`).
//!
//! Every [`TestDatabase`] is a fresh database named `tenancy_test_<uuid>` with this crate's
//! migrations applied. Tests seed and run DDL through [`TestDatabase::admin_pool`] (a superuser)
//! and exercise tenant code through [`TestDatabase::app_pool`], which connects as
//! [`APP_ROLE`], a login role that is not a superuser, has no `BYPASSRLS`, owns no table and
//! gets its privileges only through the `tenancy_runtime` group role. `app_pool` checks this
//! before returning, so a test can never run with row level security silently switched off.
//!
//! # Which server
//!
//! Chosen once per process by [`TestServer::choose`]:
//! 1. `DATABASE_URL` when it is set and not empty (a superuser URL);
//! 2. else `postgres://postgres@127.0.0.1:5432/postgres` when a server answers there (skipped
//!    when `TENANCY_TEST_NO_LOCAL` is set);
//! 3. else an [`EmbeddedPostgres`] started from the installed binaries, stopped by a watchdog
//!    when the test process exits.
//!
//! # PgBouncer
//!
//! When `TENANCY_TEST_PGBOUNCER=host:port` is set, application and platform connections (not
//! admin ones) go through that PgBouncer instead, with the prepared-statement cache disabled
//! (`statement_cache_capacity(0)`).
//!
//! Finding (sqlx 0.9, PgBouncer 1.18, `pool_mode = transaction`): a cache capacity of 0 is
//! **not** enough. sqlx 0.9 still parses every bound query as a *named* statement
//! (`sqlx_s_1`, `sqlx_s_2`, ... per client connection), merely without caching or closing it,
//! and runs parse and execute as two round trips. Through PgBouncer this fails with
//! `42P05 prepared statement "sqlx_s_1" already exists` (another client left the same name on
//! the server connection) or, outside a transaction, `26000 ... does not exist` (the execute
//! went to a connection the parse did not). What works: PgBouncer configured with
//! `server_reset_query = DEALLOCATE ALL` and `server_reset_query_always = 1` (as
//! `cargo xtask test` does), and every extended-protocol query inside an explicit transaction
//! (which pins the server connection), or fixed SQL sent with `sqlx::raw_sql` (simple
//! protocol). [`TestDatabase::app_pool`]'s own check follows that rule.
//!
//! ```no_run
//! use tenancy_sqlx::testing::TestDatabase;
//!
//! # async fn run() -> Result<(), tenancy_sqlx::testing::TestDbError> {
//! let db = TestDatabase::new().await?;
//! sqlx::raw_sql("CREATE TABLE notes (id int)")
//!     .execute(db.admin_pool())
//!     .await
//!     .map_err(|e| tenancy_sqlx::testing::TestDbError::database("seeding", e))?;
//! let app = db.app_pool(2).await?; // fails if the role could bypass row level security
//! # drop(app);
//! db.close().await?;
//! # Ok(())
//! # }
//! ```

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

use crate::embedded::{EmbeddedError, EmbeddedPostgres};

/// The unprivileged login role application connections use.
///
/// ```no_run
/// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::testing::APP_ROLE;
/// let (superuser, bypassrls): (bool, bool) =
///     sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
///         .bind(APP_ROLE)
///         .fetch_one(db.admin_pool())
///         .await?;
/// assert!(!superuser && !bypassrls);
/// # Ok(()) }
/// ```
pub const APP_ROLE: &str = "tenancy_test_app";
/// The login role platform (cross-tenant) connections use; it has `BYPASSRLS`.
///
/// ```no_run
/// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::testing::PLATFORM_ROLE;
/// let platform = db.platform_pool(1).await?;
/// let who: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&platform).await?;
/// assert_eq!(who, PLATFORM_ROLE);
/// # Ok(()) }
/// ```
pub const PLATFORM_ROLE: &str = "tenancy_test_platform";
/// The group role (created by the migrations) that holds the runtime privileges.
///
/// ```no_run
/// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::testing::{APP_ROLE, RUNTIME_GROUP};
/// let member: bool = sqlx::query_scalar("SELECT pg_has_role($1, $2, 'MEMBER')")
///     .bind(APP_ROLE)
///     .bind(RUNTIME_GROUP)
///     .fetch_one(db.admin_pool())
///     .await?;
/// assert!(member, "the application role gets its privileges through the group");
/// # Ok(()) }
/// ```
pub const RUNTIME_GROUP: &str = "tenancy_runtime";
/// The group role (created by the migrations) that holds the platform privileges.
///
/// ```no_run
/// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::testing::PLATFORM_GROUP;
/// // A test table the platform side (and only it) may read:
/// sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
///     "CREATE TABLE billing_events (id int); GRANT SELECT ON billing_events TO {PLATFORM_GROUP}"
/// )))
/// .execute(db.admin_pool())
/// .await?;
/// # Ok(()) }
/// ```
pub const PLATFORM_GROUP: &str = "tenancy_platform";
/// Prefix of every database this module creates.
///
/// ```no_run
/// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::testing::DATABASE_PREFIX;
/// assert!(db.name().starts_with(DATABASE_PREFIX));
/// let open: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)")
///     .bind(DATABASE_PREFIX)
///     .fetch_one(db.admin_pool())
///     .await?;
/// assert!(open >= 1);
/// # Ok(()) }
/// ```
pub const DATABASE_PREFIX: &str = "tenancy_test_";
/// Environment variable naming a PgBouncer (`host:port`) that application connections use.
///
/// A test that needs session state PgBouncer cannot keep checks it:
///
/// ```
/// use tenancy_sqlx::testing::PGBOUNCER_ENV;
/// fn through_pgbouncer() -> bool {
///     std::env::var(PGBOUNCER_ENV).is_ok_and(|v| !v.trim().is_empty())
/// }
/// if through_pgbouncer() {
///     eprintln!("skipped: LISTEN does not survive transaction pooling");
/// }
/// ```
pub const PGBOUNCER_ENV: &str = "TENANCY_TEST_PGBOUNCER";
/// Environment variable that, when set, skips probing `127.0.0.1:5432`.
///
/// ```no_run
/// // A test runner that must not touch a developer's own server.
/// let status = std::process::Command::new("cargo")
///     .args(["test", "-p", "tenancy-sqlx", "--all-features"])
///     .env(tenancy_sqlx::testing::NO_LOCAL_ENV, "1")
///     .status()?;
/// assert!(status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub const NO_LOCAL_ENV: &str = "TENANCY_TEST_NO_LOCAL";
/// The URL probed for a local server.
///
/// ```
/// use sqlx::postgres::PgConnectOptions;
/// let local: PgConnectOptions = tenancy_sqlx::testing::LOCAL_URL.parse()?;
/// assert_eq!((local.get_host(), local.get_port()), ("127.0.0.1", 5432));
/// assert_eq!(local.get_username(), "postgres");
/// # Ok::<(), sqlx::Error>(())
/// ```
pub const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Advisory lock key serialising role creation and migrations across parallel tests.
const ROLE_LOCK_KEY: i64 = 0x0074_656e_616e_6379; // "tenancy"

/// Why a test database or test server could not be set up.
///
/// ```no_run
/// # async fn demo() -> Result<(), tenancy_sqlx::testing::TestDbError> {
/// use tenancy_sqlx::testing::{TestDatabase, TestDbError};
/// let db = match TestDatabase::new().await {
///     Ok(db) => db,
///     // No DATABASE_URL, no local server and no PostgreSQL binaries installed.
///     Err(e @ TestDbError::Embedded(_)) => {
///         eprintln!("skipped: {e}"); // "could not start an embedded postgresql"
///         return Ok(());
///     }
///     Err(e) => return Err(e),
/// };
/// db.close().await
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestDbError {
    /// `DATABASE_URL` is not a valid PostgreSQL URL.
    #[error("invalid `DATABASE_URL`")]
    InvalidUrl(#[source] sqlx::Error),
    /// `TENANCY_TEST_PGBOUNCER` is not `host:port`.
    #[error("invalid `TENANCY_TEST_PGBOUNCER` value `{0}`, expected `host:port`")]
    InvalidPgBouncer(String),
    /// No server was configured or reachable and the embedded one did not start.
    #[error("could not start an embedded postgresql")]
    Embedded(#[from] EmbeddedError),
    /// A database operation failed.
    #[error("database error while {action}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// The crate's migrations failed.
    #[error("migrating the test database failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A role meant to be unprivileged could bypass row level security.
    #[error("role `{role}` must not be used for isolation tests: {reason}")]
    Privileged {
        /// The connected role.
        role: String,
        /// What makes it too privileged.
        reason: String,
    },
}

impl TestDbError {
    /// Wraps a database error with what was being done, for use in `map_err`.
    ///
    /// ```
    /// use tenancy_sqlx::testing::TestDbError;
    /// let e = TestDbError::database("seeding", sqlx::Error::RowNotFound);
    /// assert_eq!(e.to_string(), "database error while seeding");
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    pub fn database(action: &'static str, source: sqlx::Error) -> Self {
        Self::Database { action, source }
    }
}

fn db_err(action: &'static str) -> impl FnOnce(sqlx::Error) -> TestDbError {
    move |source| TestDbError::Database { action, source }
}

/// Where the test server came from.
///
/// ```no_run
/// # async fn demo() -> Result<(), tenancy_sqlx::testing::TestDbError> {
/// use tenancy_sqlx::testing::{ServerSource, server};
/// let what = match server().await?.source() {
///     ServerSource::DatabaseUrl => "from DATABASE_URL",
///     ServerSource::Local => "local server on 127.0.0.1:5432",
///     ServerSource::Embedded => "embedded cluster started from the installed binaries",
///     _ => "other",
/// };
/// eprintln!("tests run against the {what}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSource {
    /// The `DATABASE_URL` environment variable.
    DatabaseUrl,
    /// A server answering on `127.0.0.1:5432` as user `postgres`.
    Local,
    /// An [`EmbeddedPostgres`] started for this process.
    Embedded,
}

/// The PostgreSQL server tests run against, with a superuser connection.
///
/// Tests share the one of this process ([`server`]); a test runner can hold its own:
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::testing::TestServer;
/// let mut server = TestServer::choose().await?;
/// server.stop_when_process_exits()?;
/// println!("DATABASE_URL={}", server.url());
/// // ... run the test binaries with that DATABASE_URL ...
/// server.drop_test_databases().await?;
/// server.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestServer {
    source: ServerSource,
    url: String,
    admin: PgConnectOptions,
    embedded: Option<EmbeddedPostgres>,
}

impl TestServer {
    /// Chooses a server as described in the [module docs](self), honouring `DATABASE_URL` and
    /// `TENANCY_TEST_NO_LOCAL`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tenancy_sqlx::testing::TestServer::choose().await?;
    /// let pool = sqlx::PgPool::connect(server.url()).await?;
    /// let version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&pool).await?;
    /// eprintln!("{:?} server, PostgreSQL {version}", server.source());
    /// # Ok(()) }
    /// ```
    pub async fn choose() -> Result<Self, TestDbError> {
        let skip_local = std::env::var_os(NO_LOCAL_ENV).is_some_and(|v| !v.is_empty());
        Self::choose_with(skip_local).await
    }

    /// Like [`choose`](Self::choose), but whether to probe `127.0.0.1:5432` is given.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_sqlx::testing::{ServerSource, TestServer};
    /// let server = TestServer::choose_with(true).await?; // never the developer's own server
    /// assert_ne!(server.source(), ServerSource::Local);
    /// # Ok(()) }
    /// ```
    pub async fn choose_with(skip_local: bool) -> Result<Self, TestDbError> {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.trim().is_empty()
        {
            let admin = PgConnectOptions::from_str(&url).map_err(TestDbError::InvalidUrl)?;
            return Ok(Self {
                source: ServerSource::DatabaseUrl,
                url,
                admin,
                embedded: None,
            });
        }
        if !skip_local {
            let admin = PgConnectOptions::from_str(LOCAL_URL).map_err(TestDbError::InvalidUrl)?;
            let probe =
                tokio::time::timeout(Duration::from_secs(3), PgConnection::connect_with(&admin))
                    .await;
            if let Ok(Ok(conn)) = probe {
                // Closing politely is best effort; the probe already proved the server answers.
                let _ = conn.close().await;
                return Ok(Self {
                    source: ServerSource::Local,
                    url: LOCAL_URL.to_owned(),
                    admin,
                    embedded: None,
                });
            }
        }
        let pg = EmbeddedPostgres::start().await?;
        let url = pg.url();
        let admin = PgConnectOptions::from_str(&url).map_err(TestDbError::InvalidUrl)?;
        Ok(Self {
            source: ServerSource::Embedded,
            url,
            admin,
            embedded: Some(pg),
        })
    }

    /// Where this server came from.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_sqlx::testing::{ServerSource, TestServer};
    /// let server = TestServer::choose().await?;
    /// if std::env::var("DATABASE_URL").is_ok_and(|u| !u.trim().is_empty()) {
    ///     assert_eq!(server.source(), ServerSource::DatabaseUrl);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn source(&self) -> ServerSource {
        self.source
    }

    /// The superuser URL.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tenancy_sqlx::testing::server().await?;
    /// let status = std::process::Command::new("psql")
    ///     .args([server.url(), "-c", "SELECT 1"])
    ///     .status()?;
    /// assert!(status.success());
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Superuser connect options for the maintenance database.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use sqlx::Connection as _;
    /// let server = tenancy_sqlx::testing::server().await?;
    /// let mut conn = sqlx::PgConnection::connect_with(server.admin_options()).await?;
    /// let superuser: String = sqlx::query_scalar("SHOW is_superuser").fetch_one(&mut conn).await?;
    /// assert_eq!(superuser, "on");
    /// # Ok(()) }
    /// ```
    pub fn admin_options(&self) -> &PgConnectOptions {
        &self.admin
    }

    /// The embedded cluster, when this server is one.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tenancy_sqlx::testing::server().await?;
    /// if let Some(pg) = server.embedded() {
    ///     eprintln!("embedded cluster on port {}, data in {}", pg.port(), pg.data_dir().display());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn embedded(&self) -> Option<&EmbeddedPostgres> {
        self.embedded.as_ref()
    }

    /// Makes an embedded cluster outlive every `Drop`: it is stopped after the process exits.
    /// Does nothing for other sources.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut server = tenancy_sqlx::testing::TestServer::choose().await?;
    /// // Should this process be killed before it stops the server, the cluster still goes.
    /// server.stop_when_process_exits()?;
    /// # Ok(()) }
    /// ```
    pub fn stop_when_process_exits(&mut self) -> Result<(), EmbeddedError> {
        match self.embedded.as_mut() {
            Some(pg) => pg.stop_when_process_exits(),
            None => Ok(()),
        }
    }

    /// Stops an embedded cluster; does nothing for other sources.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tenancy_sqlx::testing::TestServer::choose_with(true).await?;
    /// // ... tests ...
    /// server.stop().await?; // the embedded cluster and its directory are gone
    /// # Ok(()) }
    /// ```
    pub async fn stop(self) -> Result<(), EmbeddedError> {
        match self.embedded {
            Some(pg) => pg.stop().await,
            None => Ok(()),
        }
    }

    /// Drops every database whose name starts with [`DATABASE_PREFIX`] and that nobody is
    /// connected to, and returns how many were dropped.
    ///
    /// Databases still in use (`55006 object_in_use`, for example those of another test run on
    /// the same server) are left alone; a finished or crashed run leaves no connections.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = tenancy_sqlx::testing::server().await?;
    /// let n = server.drop_test_databases().await?;
    /// println!("dropped {n} leftover test database(s)");
    /// # Ok(()) }
    /// ```
    pub async fn drop_test_databases(&self) -> Result<u64, TestDbError> {
        let mut conn = PgConnection::connect_with(&self.admin)
            .await
            .map_err(db_err("connecting as the superuser"))?;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT d.datname::text FROM pg_database d \
             WHERE starts_with(d.datname, $1) \
               AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)",
        )
        .bind(DATABASE_PREFIX)
        .fetch_all(&mut conn)
        .await
        .map_err(db_err("listing test databases"))?;
        let mut dropped = 0;
        for name in names {
            let result = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {}",
                quote_ident(&name)
            )))
            .execute(&mut conn)
            .await;
            match result {
                Ok(_) => dropped += 1,
                Err(e)
                    if e.as_database_error()
                        .and_then(|d| d.code())
                        .is_some_and(|c| c == "55006") => {}
                Err(e) => return Err(db_err("dropping a test database")(e)),
            }
        }
        let _ = conn.close().await;
        Ok(dropped)
    }
}

static SERVER: OnceCell<TestServer> = OnceCell::const_new();

/// The server of this process, chosen on first use (see the [module docs](self)).
///
/// An embedded cluster started here is stopped by a watchdog after the process exits.
///
/// ```no_run
/// # async fn demo() -> Result<(), tenancy_sqlx::testing::TestDbError> {
/// use tenancy_sqlx::testing::server;
/// let first = server().await?;
/// assert!(std::ptr::eq(first, server().await?), "chosen once per process");
/// # Ok(()) }
/// ```
pub async fn server() -> Result<&'static TestServer, TestDbError> {
    SERVER
        .get_or_try_init(|| async {
            let mut server = TestServer::choose().await?;
            server.stop_when_process_exits()?;
            Ok(server)
        })
        .await
}

/// A fresh, migrated database for one test.
///
/// Call [`close`](Self::close) at the end of the test to drop it; databases left behind (for
/// example by a failing test) are dropped by `cargo xtask test` at the end of the run.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::testing::TestDatabase;
/// let db = TestDatabase::new().await?;
/// let app = db.app_pool(2).await?;
/// let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.tenants")
///     .fetch_one(&app)
///     .await?;
/// assert_eq!(tenants, 0);
/// app.close().await;
/// db.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    server: &'static TestServer,
    admin_pool: PgPool,
}

impl TestDatabase {
    /// Creates a uniquely named database, ensures the test roles exist and applies the
    /// crate's migrations as the superuser.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = tenancy_sqlx::testing::TestDatabase::new().await?;
    /// let migrated: bool = sqlx::query_scalar("SELECT to_regclass('tenancy.tenants') IS NOT NULL")
    ///     .fetch_one(db.admin_pool())
    ///     .await?;
    /// assert!(migrated);
    /// db.close().await?;
    /// # Ok(()) }
    /// ```
    pub async fn new() -> Result<Self, TestDbError> {
        let server = server().await?;
        let name = format!("{DATABASE_PREFIX}{}", uuid::Uuid::new_v4().simple());

        let mut maint = PgConnection::connect_with(&server.admin)
            .await
            .map_err(db_err("connecting as the superuser"))?;
        sqlx::query(AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            quote_ident(&name)
        )))
        .execute(&mut maint)
        .await
        .map_err(db_err("creating the test database"))?;

        let admin_pool = match PgPoolOptions::new()
            .max_connections(5)
            .connect_with(server.admin.clone().database(&name))
            .await
        {
            Ok(pool) => pool,
            Err(e) => {
                drop_database(&mut maint, &name).await;
                return Err(db_err("connecting to the test database")(e));
            }
        };
        let db = Self {
            name,
            server,
            admin_pool,
        };
        if let Err(e) = db.prepare(&mut maint).await {
            db.admin_pool.close().await;
            // Unlock explicitly: the lock is re-entrant per session and would otherwise be held
            // until this connection closes.
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut maint)
                .await;
            drop_database(&mut maint, &db.name).await;
            return Err(e);
        }
        let _ = maint.close().await;
        Ok(db)
    }

    /// Roles, migrations and grants, serialised across every test process by a session-level
    /// advisory lock held on the maintenance connection. The role statements commit on their
    /// own so the migration connections see the roles; when anything fails the caller drops
    /// the connection, which releases the lock.
    async fn prepare(&self, maint: &mut PgConnection) -> Result<(), TestDbError> {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(ROLE_LOCK_KEY)
            .execute(&mut *maint)
            .await
            .map_err(db_err("taking the setup lock"))?;
        sqlx::raw_sql(ENSURE_ROLES_SQL)
            .execute(&mut *maint)
            .await
            .map_err(db_err("creating the test roles"))?;

        crate::migrate(&self.admin_pool).await?;

        let grants = format!(
            "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {RUNTIME_GROUP}, {PLATFORM_GROUP};\n\
             GRANT USAGE ON SCHEMA public TO {RUNTIME_GROUP}, {PLATFORM_GROUP};\n\
             DO $$ BEGIN\n\
               IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenancy') THEN\n\
                 GRANT USAGE ON SCHEMA tenancy TO {RUNTIME_GROUP}, {PLATFORM_GROUP};\n\
               END IF;\n\
             END $$;",
            db = quote_ident(&self.name),
        );
        sqlx::raw_sql(AssertSqlSafe(grants))
            .execute(&self.admin_pool)
            .await
            .map_err(db_err("granting access to the test database"))?;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(ROLE_LOCK_KEY)
            .execute(&mut *maint)
            .await
            .map_err(db_err("releasing the setup lock"))?;
        Ok(())
    }

    /// The database name (`tenancy_test_<uuid>`).
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// let current: String = sqlx::query_scalar("SELECT current_database()::text")
    ///     .fetch_one(db.admin_pool())
    ///     .await?;
    /// assert_eq!(current, db.name());
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A superuser pool on this database, for DDL and seeding. Never use it for the code
    /// under test: row level security does not apply to it.
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// sqlx::raw_sql(
    ///     "CREATE TABLE notes (tenant_id uuid, body text); \
    ///      SELECT tenancy.protect_table('notes'); \
    ///      GRANT SELECT, INSERT ON notes TO tenancy_runtime;",
    /// )
    /// .execute(db.admin_pool())
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn admin_pool(&self) -> &PgPool {
        &self.admin_pool
    }

    /// Superuser connect options on this database.
    ///
    /// For APIs that take one connection, such as [`schema_drift`](crate::schema_drift):
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// use sqlx::Connection as _;
    /// use tenancy_core::SchemaName;
    /// let mut conn = sqlx::PgConnection::connect_with(&db.admin_connect_options()).await?;
    /// let (template, acme) = (SchemaName::parse("tenant_template")?, SchemaName::parse("tenant_acme")?);
    /// assert!(tenancy_sqlx::schema_drift(&mut conn, &template, &acme).await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn admin_connect_options(&self) -> PgConnectOptions {
        self.server.admin.clone().database(&self.name)
    }

    /// The unprivileged application role's name ([`APP_ROLE`]).
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// // Cut every application connection, to test how the code under test reconnects.
    /// sqlx::query(
    ///     "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
    ///      WHERE usename = $1 AND datname = $2",
    /// )
    /// .bind(db.app_role())
    /// .bind(db.name())
    /// .execute(db.admin_pool())
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn app_role(&self) -> &str {
        APP_ROLE
    }

    /// The platform role's name ([`PLATFORM_ROLE`]).
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// let bypassrls: bool = sqlx::query_scalar("SELECT rolbypassrls FROM pg_roles WHERE rolname = $1")
    ///     .bind(db.platform_role())
    ///     .fetch_one(db.admin_pool())
    ///     .await?;
    /// assert!(bypassrls, "platform connections see every tenant's rows");
    /// # Ok(()) }
    /// ```
    pub fn platform_role(&self) -> &str {
        PLATFORM_ROLE
    }

    /// Connect options for the unprivileged application role (through PgBouncer when
    /// `TENANCY_TEST_PGBOUNCER` is set).
    ///
    /// The library's own pool under test connects with them:
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = tenancy_sqlx::TenantPoolOptions::new()
    ///     .max_connections(2)
    ///     .connect_with(db.app_connect_options()?)
    ///     .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub fn app_connect_options(&self) -> Result<PgConnectOptions, TestDbError> {
        self.role_options(APP_ROLE, APP_ROLE)
    }

    /// Connect options for the platform role (through PgBouncer when `TENANCY_TEST_PGBOUNCER`
    /// is set).
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// use sqlx::postgres::PgPoolOptions;
    /// let platform = tenancy_sqlx::PlatformPool::connect_with(
    ///     PgPoolOptions::new().max_connections(1),
    ///     db.platform_connect_options()?,
    /// )
    /// .await?;
    /// # let _ = platform; Ok(()) }
    /// ```
    pub fn platform_connect_options(&self) -> Result<PgConnectOptions, TestDbError> {
        self.role_options(PLATFORM_ROLE, PLATFORM_ROLE)
    }

    /// A pool of at most `max` connections as the application role, after checking that the
    /// role is no superuser, has no `BYPASSRLS`, cannot become a role that has either, and owns
    /// no relation in this database. Any of these is an error.
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// let app = db.app_pool(2).await?;
    /// // No tenant set: row level security shows no rows (see `admin_pool` for the table).
    /// let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&app).await?;
    /// assert_eq!(visible, 0);
    /// # Ok(()) }
    /// ```
    pub async fn app_pool(&self, max: u32) -> Result<PgPool, TestDbError> {
        let pool = PgPoolOptions::new()
            .max_connections(max.max(1))
            .connect_with(self.app_connect_options()?)
            .await
            .map_err(db_err("connecting as the application role"))?;
        let check = check_privileges(&pool).await;
        match check {
            Ok(p) if p.bypass_reason().is_none() => Ok(pool),
            Ok(p) => {
                pool.close().await;
                Err(TestDbError::Privileged {
                    reason: p.bypass_reason().unwrap_or_default(),
                    role: p.role,
                })
            }
            Err(e) => {
                pool.close().await;
                Err(e)
            }
        }
    }

    /// A pool of at most `max` connections as the platform role, after checking that the role
    /// is no superuser.
    ///
    /// ```no_run
    /// # async fn demo(db: &tenancy_sqlx::testing::TestDatabase) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::{Tenant, TenantId};
    /// let registry = tenancy_sqlx::PgTenantStore::new(db.platform_pool(1).await?);
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
    /// registry.create(&acme).await?;
    /// # Ok(()) }
    /// ```
    pub async fn platform_pool(&self, max: u32) -> Result<PgPool, TestDbError> {
        let pool = PgPoolOptions::new()
            .max_connections(max.max(1))
            .connect_with(self.platform_connect_options()?)
            .await
            .map_err(db_err("connecting as the platform role"))?;
        match check_privileges(&pool).await {
            Ok(p) if !p.superuser => Ok(pool),
            Ok(p) => {
                pool.close().await;
                Err(TestDbError::Privileged {
                    role: p.role,
                    reason: "it is a superuser".to_owned(),
                })
            }
            Err(e) => {
                pool.close().await;
                Err(e)
            }
        }
    }

    /// Closes the admin pool and drops the database (`WITH (FORCE)`, so open application
    /// pools do not block it).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let db = tenancy_sqlx::testing::TestDatabase::new().await?;
    /// let app = db.app_pool(1).await?;
    /// // ... the test ...
    /// db.close().await?; // `app` still holds a connection: it is terminated
    /// # drop(app); Ok(()) }
    /// ```
    pub async fn close(self) -> Result<(), TestDbError> {
        self.admin_pool.close().await;
        let mut maint = PgConnection::connect_with(&self.server.admin)
            .await
            .map_err(db_err("connecting as the superuser"))?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        )))
        .execute(&mut maint)
        .await
        .map_err(db_err("dropping the test database"))?;
        let _ = maint.close().await;
        Ok(())
    }

    fn role_options(&self, user: &str, password: &str) -> Result<PgConnectOptions, TestDbError> {
        let options = self
            .server
            .admin
            .clone()
            .username(user)
            .password(password)
            .database(&self.name)
            .application_name("tenancy-test");
        match std::env::var(PGBOUNCER_ENV) {
            Ok(addr) if !addr.trim().is_empty() => {
                let (host, port) = parse_host_port(&addr)?;
                Ok(options
                    .host(host)
                    .port(port)
                    .statement_cache_capacity(0)
                    .extra_float_digits(None))
            }
            _ => Ok(options),
        }
    }
}

/// Creates the group and login roles when missing and (re)asserts their attributes, so a role
/// left over with other attributes cannot weaken the tests. Runs under the setup lock; the
/// exception handlers also cover migrations of other tools creating the same roles.
const ENSURE_ROLES_SQL: &str = r#"
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['tenancy_runtime', 'tenancy_platform', 'tenancy_test_app', 'tenancy_test_platform'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END
$$;
ALTER ROLE tenancy_test_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT PASSWORD 'tenancy_test_app';
ALTER ROLE tenancy_test_platform LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT PASSWORD 'tenancy_test_platform';
GRANT tenancy_runtime TO tenancy_test_app;
GRANT tenancy_platform TO tenancy_test_platform;
"#;

struct Privileges {
    role: String,
    superuser: bool,
    bypassrls: bool,
    owned_relations: i64,
    privileged_roles: Vec<String>,
}

impl Privileges {
    fn bypass_reason(&self) -> Option<String> {
        let mut reasons = Vec::new();
        if self.superuser {
            reasons.push("it is a superuser".to_owned());
        }
        if self.bypassrls {
            reasons.push("it has BYPASSRLS".to_owned());
        }
        if self.owned_relations > 0 {
            reasons.push(format!(
                "it owns (or is a member of the owner of) {} relations",
                self.owned_relations
            ));
        }
        if !self.privileged_roles.is_empty() {
            reasons.push(format!(
                "it is a member of the privileged roles `{}`",
                self.privileged_roles.join("`, `")
            ));
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

/// Reads the connected role's privileges. Runs inside a transaction so that, behind PgBouncer
/// in transaction mode, sqlx's separate parse and execute round trips reach the same server
/// connection.
async fn check_privileges(pool: &PgPool) -> Result<Privileges, TestDbError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(db_err("beginning the privilege check"))?;
    let (role, superuser, bypassrls, owned_relations, privileged_roles): (
        String,
        bool,
        bool,
        i64,
        Vec<String>,
    ) = sqlx::query_as(
        "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls, \
           (SELECT count(*) FROM pg_class c \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') \
               AND pg_has_role(r.oid, c.relowner, 'MEMBER')), \
           ARRAY(SELECT s.rolname::text FROM pg_roles s \
             WHERE (s.rolsuper OR s.rolbypassrls) AND s.oid <> r.oid \
               AND pg_has_role(r.oid, s.oid, 'MEMBER') ORDER BY 1) \
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err("checking the role's privileges"))?;
    tx.rollback()
        .await
        .map_err(db_err("ending the privilege check"))?;
    Ok(Privileges {
        role,
        superuser,
        bypassrls,
        owned_relations,
        privileged_roles,
    })
}

async fn drop_database(maint: &mut PgConnection, name: &str) {
    // Best effort cleanup after a failed setup; the original error is what matters.
    let _ = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    )))
    .execute(maint)
    .await;
}

fn parse_host_port(addr: &str) -> Result<(&str, u16), TestDbError> {
    let addr = addr.trim();
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| TestDbError::InvalidPgBouncer(addr.to_owned()))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| TestDbError::InvalidPgBouncer(addr.to_owned()))?;
    if host.is_empty() {
        return Err(TestDbError::InvalidPgBouncer(addr.to_owned()));
    }
    Ok((host, port))
}

/// Quotes an SQL identifier (doubling embedded double quotes).
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parses() {
        assert!(matches!(
            parse_host_port("127.0.0.1:6432"),
            Ok(("127.0.0.1", 6432))
        ));
        assert!(parse_host_port("127.0.0.1").is_err());
        assert!(parse_host_port(":6432").is_err());
        assert!(parse_host_port("h:notaport").is_err());
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("tenancy_test_ab"), "\"tenancy_test_ab\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn privileges_report_every_reason() {
        let clean = Privileges {
            role: "r".into(),
            superuser: false,
            bypassrls: false,
            owned_relations: 0,
            privileged_roles: vec![],
        };
        assert!(clean.bypass_reason().is_none());
        let bad = Privileges {
            role: "r".into(),
            superuser: true,
            bypassrls: true,
            owned_relations: 2,
            privileged_roles: vec!["postgres".into()],
        };
        let reason = bad.bypass_reason().unwrap_or_default();
        assert!(reason.contains("superuser"));
        assert!(reason.contains("BYPASSRLS"));
        assert!(reason.contains("2 relations"));
        assert!(reason.contains("`postgres`"));
    }
}
