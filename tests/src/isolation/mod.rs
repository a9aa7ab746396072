//! The isolation property harness: point it at your own schema and it proves, table by table,
//! that the unprivileged runtime role cannot reach another tenant's rows.
//!
//! [`IsolationHarness`] takes
//! - an **admin** [`PgPool`] that bypasses row level security (a superuser or a `BYPASSRLS`
//!   role; a table owner is not enough under `FORCE ROW LEVEL SECURITY`), used only to count
//!   and copy rows, in read-only transactions;
//! - a [`TenantPool`] of the **runtime** role your application uses;
//! - two [`TenantScope`]s A and B, obtained the normal way (`tenancy_core::authorize` with your
//!   stores), whose tenants both own rows in your tables.
//!
//! It discovers every ordinary or partitioned table in the given schemas that has the tenant
//! column (a catalog query with bound parameters; identifiers are quoted by the server with
//! `format('%I.%I')` / `quote_ident`), and checks on each, as the runtime role, every
//! [`Check`]:
//!
//! | check | context | passes when |
//! |-------|---------|-------------|
//! | [`Check::SeesOnlyOwnRows`] | scoped to A | every visible row is A's and their number equals A's rows (positive control) |
//! | [`Check::UpdateCannotReassign`] | scoped to A | `UPDATE t SET tenant = B` fails with 42501 or changes 0 rows |
//! | [`Check::InsertForOtherDenied`] | scoped to A | inserting a copy of one of B's rows fails with 42501 |
//! | [`Check::DeleteOtherNoop`] | scoped to A | `DELETE FROM t WHERE tenant = B` deletes 0 rows |
//! | [`Check::NoTenantSeesNothing`] | no tenant settings | 0 rows visible |
//! | [`Check::MalformedTenantSeesNothing`] | `tenancy.tenant_id = 'not-a-uuid'` | 0 rows visible |
//! | [`Check::TruncateDenied`] | scoped to A | `TRUNCATE` fails with 42501 |
//!
//! Every write runs in a transaction that is rolled back. A check that the data cannot make
//! meaningful (for example a table without rows of B: nothing to leak) is
//! [`Outcome::Inconclusive`], never silently passed. The result is an [`IsolationReport`];
//! [`IsolationReport::assert_isolated`] panics with a readable table of everything that did not
//! pass.
//!
//! The no-tenant and malformed contexts run in plain transactions of the runtime role when you
//! give one with [`IsolationHarness::plain_runtime_pool`]; otherwise in a transaction of the
//! [`TenantPool`] whose `tenancy.*` settings are reset first.
//!
//! Everything runs inside explicit transactions, so the harness also works through PgBouncer
//! in transaction pooling mode.
//!
//! # Example: your own schema
//!
//! ```no_run
//! use tenancy_core::{InMemoryMembershipStore, InMemoryTenantStore, TenantKey, UserId, authorize};
//! use tenancy_sqlx::TenantPoolOptions;
//! use tenancy_tests::isolation::IsolationHarness;
//!
//! # async fn demo(
//! #     tenants: InMemoryTenantStore,
//! #     members: InMemoryMembershipStore,
//! #     (a, user_a): (TenantKey, UserId),
//! #     (b, user_b): (TenantKey, UserId),
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! // A superuser (or BYPASSRLS) connection to count and copy rows...
//! let admin = sqlx::PgPool::connect("postgres://postgres@localhost/crm").await?;
//! // ...and the role your application really runs as.
//! let runtime = TenantPoolOptions::new().connect("postgres://crm_app@localhost/crm").await?;
//! let plain = sqlx::PgPool::connect("postgres://crm_app@localhost/crm").await?;
//! // Two tenants that both own rows, authorised like any request would be.
//! let scope_a = authorize(&tenants, &members, &a, user_a).await?;
//! let scope_b = authorize(&tenants, &members, &b, user_b).await?;
//!
//! let report = IsolationHarness::new(admin, runtime, scope_a, scope_b)
//!     .schemas(["public", "billing"])
//!     .tenant_column("tenant_id")
//!     .plain_runtime_pool(plain)
//!     .run()
//!     .await?;
//! println!("{report}");
//! report.assert_isolated(); // panics with the table of holes and inconclusive checks
//! # Ok(()) }
//! ```

mod report;

use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Transaction};
use tenancy_core::TenantScope;
use tenancy_sqlx::{TenantPool, TenantTx, TxError, settings};
use uuid::Uuid;

pub use report::{Check, CheckResult, IsolationReport, Outcome, TableReport};

/// SQLSTATE `insufficient_privilege`, which row level security violations also use.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Why the harness could not run (as opposed to a check that failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A database operation of the harness itself failed.
    #[error("database error while {action}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: sqlx::Error,
    },
    /// A runtime transaction could not be opened.
    #[error("could not open a runtime transaction")]
    Begin(#[from] TxError),
    /// The admin connection would not see every row.
    #[error(
        "admin role `{0}` is neither superuser nor BYPASSRLS, so it cannot count every tenant's rows"
    )]
    AdminCannotBypass(String),
    /// The runtime role bypasses row level security: no check would mean anything.
    #[error("runtime role `{role}` bypasses row level security: {reason}")]
    PrivilegedRuntime {
        /// The runtime role.
        role: String,
        /// Superuser or BYPASSRLS.
        reason: &'static str,
    },
    /// Scopes A and B are the same tenant.
    #[error("scopes A and B are the same tenant `{0}`")]
    SameTenant(Uuid),
    /// No table with the tenant column was found: the harness would prove nothing.
    #[error("no table with column `{column}` in schemas `{schemas}`")]
    NoTables {
        /// The tenant column looked for.
        column: String,
        /// The schemas searched, comma separated.
        schemas: String,
    },
}

fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> HarnessError {
    move |source| HarnessError::Database { action, source }
}

/// A table found in the catalog, with identifiers quoted by the server.
#[derive(Debug, Clone)]
struct Target {
    schema: String,
    table: String,
    /// `format('%I.%I', schema, table)`.
    qualified: String,
    /// `quote_ident(tenant column)`.
    column: String,
    /// Quoted, comma separated, insertable (not generated) columns.
    insert_columns: String,
}

/// Admin-side facts about one table.
#[derive(Debug, Clone)]
struct Counts {
    a: i64,
    b: i64,
    total: i64,
    /// One of B's rows as `to_jsonb(t)`.
    b_row: Option<serde_json::Value>,
}

/// A server error of a statement under test.
#[derive(Debug)]
struct ServerError {
    code: String,
    message: String,
}

impl ServerError {
    fn is_denied(&self) -> bool {
        self.code == INSUFFICIENT_PRIVILEGE
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error {}: {}", self.code, self.message)
    }
}

/// Splits a statement result into "the server said no" (part of what is checked) and
/// everything else (the harness cannot go on).
fn under_test<T>(
    r: Result<T, sqlx::Error>,
    action: &'static str,
) -> Result<Result<T, ServerError>, HarnessError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(sqlx::Error::Database(d)) => Ok(Err(ServerError {
            code: d.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: d.message().to_owned(),
        })),
        Err(e) => Err(db(action)(e)),
    }
}

/// Runs the isolation checks of the [module docs](self) against a schema.
#[derive(Debug)]
pub struct IsolationHarness {
    admin: PgPool,
    runtime: TenantPool,
    plain: Option<PgPool>,
    a: TenantScope,
    b: TenantScope,
    schemas: Vec<String>,
    column: String,
}

impl IsolationHarness {
    /// A harness over schema `public` and tenant column `tenant_id`.
    pub fn new(admin: PgPool, runtime: TenantPool, a: TenantScope, b: TenantScope) -> Self {
        Self {
            admin,
            runtime,
            plain: None,
            a,
            b,
            schemas: vec!["public".to_owned()],
            column: "tenant_id".to_owned(),
        }
    }

    /// The schemas whose tables are checked (default `public`).
    pub fn schemas<I, S>(mut self, schemas: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.schemas = schemas.into_iter().map(Into::into).collect();
        self
    }

    /// The tenant column (default `tenant_id`).
    pub fn tenant_column(mut self, column: impl Into<String>) -> Self {
        self.column = column.into();
        self
    }

    /// A plain pool of the runtime role, for the no-tenant and malformed-setting contexts.
    pub fn plain_runtime_pool(mut self, pool: PgPool) -> Self {
        self.plain = Some(pool);
        self
    }

    /// Runs every check on every discovered table.
    pub async fn run(&self) -> Result<IsolationReport, HarnessError> {
        let (a, b) = (
            self.a.tenant_id().into_uuid(),
            self.b.tenant_id().into_uuid(),
        );
        if a == b {
            return Err(HarnessError::SameTenant(a));
        }
        self.preflight().await?;
        let targets = self.discover().await?;
        if targets.is_empty() {
            return Err(HarnessError::NoTables {
                column: self.column.clone(),
                schemas: self.schemas.join(", "),
            });
        }
        let mut tables = Vec::with_capacity(targets.len());
        for t in &targets {
            tables.push(self.check_table(t, a, b).await?);
        }
        Ok(IsolationReport { tables })
    }

    /// Runs the checks and panics with a readable table unless every check passed.
    ///
    /// # Panics
    ///
    /// When the harness cannot run, or a check failed or was inconclusive.
    #[allow(clippy::panic)]
    pub async fn assert_isolated(&self) {
        match self.run().await {
            Ok(report) => report.assert_isolated(),
            Err(e) => panic!("isolation harness could not run: {}", error_chain(&e)),
        }
    }

    async fn preflight(&self) -> Result<(), HarnessError> {
        let mut tx = self
            .admin
            .begin()
            .await
            .map_err(db("beginning the admin check"))?;
        let (role, bypass): (String, bool) = sqlx::query_as(
            "SELECT rolname::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db("checking the admin role"))?;
        let _ = tx.rollback().await;
        if !bypass {
            return Err(HarnessError::AdminCannotBypass(role));
        }

        let mut tx = self.runtime.begin(&self.a).await?;
        let (role, superuser, bypassrls): (String, bool, bool) = sqlx::query_as(
            "SELECT rolname::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db("checking the runtime role"))?;
        let _ = tx.rollback().await;
        if superuser || bypassrls {
            return Err(HarnessError::PrivilegedRuntime {
                role,
                reason: if superuser {
                    "it is a superuser"
                } else {
                    "it has BYPASSRLS"
                },
            });
        }
        Ok(())
    }

    async fn discover(&self) -> Result<Vec<Target>, HarnessError> {
        let mut tx = self
            .admin
            .begin()
            .await
            .map_err(db("beginning table discovery"))?;
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT n.nspname::text, c.relname::text, format('%I.%I', n.nspname, c.relname), \
                    quote_ident(t.attname), \
                    (SELECT string_agg(quote_ident(x.attname), ', ' ORDER BY x.attnum) \
                       FROM pg_attribute x \
                      WHERE x.attrelid = c.oid AND x.attnum > 0 AND NOT x.attisdropped \
                        AND x.attgenerated = '') \
               FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               JOIN pg_attribute t ON t.attrelid = c.oid AND t.attname = $2 \
                                  AND t.attnum > 0 AND NOT t.attisdropped \
              WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1) \
              ORDER BY 1, 2",
        )
        .bind(&self.schemas)
        .bind(&self.column)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("discovering tables"))?;
        let _ = tx.rollback().await;
        Ok(rows
            .into_iter()
            .map(
                |(schema, table, qualified, column, insert_columns)| Target {
                    schema,
                    table,
                    qualified,
                    column,
                    insert_columns,
                },
            )
            .collect())
    }

    async fn counts(&self, t: &Target, a: Uuid, b: Uuid) -> Result<Counts, HarnessError> {
        let mut tx = self
            .admin
            .begin()
            .await
            .map_err(db("beginning the admin count"))?;
        sqlx::raw_sql("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db("making the admin count read-only"))?;
        let (ca, cb, total): (i64, i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT count(*) FILTER (WHERE {col} = $1), count(*) FILTER (WHERE {col} = $2), \
                    count(*) FROM {tbl}",
            col = t.column,
            tbl = t.qualified
        )))
        .bind(a)
        .bind(b)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("counting rows as admin"))?;
        let b_row: Option<serde_json::Value> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT to_jsonb(r) FROM {tbl} r WHERE r.{col} = $1 LIMIT 1",
            col = t.column,
            tbl = t.qualified
        )))
        .bind(b)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("copying a row of B as admin"))?;
        let _ = tx.rollback().await;
        Ok(Counts {
            a: ca,
            b: cb,
            total,
            b_row,
        })
    }

    async fn check_table(&self, t: &Target, a: Uuid, b: Uuid) -> Result<TableReport, HarnessError> {
        let counts = self.counts(t, a, b).await?;
        let name = format!("{}.{}", t.schema, t.table);
        let mut checks = Vec::with_capacity(Check::ALL.len());
        for check in Check::ALL {
            let outcome = match check {
                Check::SeesOnlyOwnRows => self.sees_only_own(t, &counts, &name, a).await?,
                Check::UpdateCannotReassign => self.update_reassign(t, &counts, &name, b).await?,
                Check::InsertForOtherDenied => self.insert_other(t, &counts, &name).await?,
                Check::DeleteOtherNoop => self.delete_other(t, &counts, &name, b).await?,
                Check::NoTenantSeesNothing => self.forged_count(t, &counts, &name, None).await?,
                Check::MalformedTenantSeesNothing => {
                    self.forged_count(t, &counts, &name, Some("not-a-uuid"))
                        .await?
                }
                Check::TruncateDenied => self.truncate(t).await?,
            };
            checks.push(CheckResult { check, outcome });
        }
        Ok(TableReport {
            schema: t.schema.clone(),
            table: t.table.clone(),
            rows_a: counts.a,
            rows_b: counts.b,
            rows_total: counts.total,
            checks,
        })
    }

    async fn as_a(&self) -> Result<TenantTx, HarnessError> {
        Ok(self.runtime.begin(&self.a).await?)
    }

    async fn sees_only_own(
        &self,
        t: &Target,
        c: &Counts,
        name: &str,
        a: Uuid,
    ) -> Result<Outcome, HarnessError> {
        let mut tx = self.as_a().await?;
        let r = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(format!(
            "SELECT count(*), count(*) FILTER (WHERE {col} IS DISTINCT FROM $1) FROM {tbl}",
            col = t.column,
            tbl = t.qualified
        )))
        .bind(a)
        .fetch_one(&mut *tx)
        .await;
        let r = under_test(r, "reading the table as A")?;
        let _ = tx.rollback().await;
        Ok(match r {
            Err(e) => Outcome::failed(format!("reading `{name}` as A failed: {e}")),
            Ok((_, foreign)) if foreign > 0 => Outcome::failed(format!(
                "A sees {foreign} row(s) of other tenants in `{name}`"
            )),
            Ok((visible, _)) if visible != c.a => Outcome::failed(format!(
                "A sees {visible} of its {} row(s) in `{name}`",
                c.a
            )),
            Ok(_) if c.a == 0 => Outcome::inconclusive(format!("no data for A in table `{name}`")),
            Ok(_) if c.b == 0 => Outcome::inconclusive(format!("no data for B in table `{name}`")),
            Ok(_) => Outcome::Passed,
        })
    }

    async fn update_reassign(
        &self,
        t: &Target,
        c: &Counts,
        name: &str,
        b: Uuid,
    ) -> Result<Outcome, HarnessError> {
        let mut tx = self.as_a().await?;
        let r = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {tbl} SET {col} = $1",
            col = t.column,
            tbl = t.qualified
        )))
        .bind(b)
        .execute(&mut *tx)
        .await;
        let r = under_test(r, "updating the table as A")?;
        let _ = tx.rollback().await;
        Ok(match r {
            Err(e) if e.is_denied() => Outcome::Passed,
            Err(e) => Outcome::failed(format!(
                "A's update to B in `{name}`: expected 42501 or 0 rows, got {e}"
            )),
            Ok(done) if done.rows_affected() > 0 => Outcome::failed(format!(
                "A reassigned {} row(s) of `{name}` to B",
                done.rows_affected()
            )),
            Ok(_) if c.a == 0 => Outcome::inconclusive(format!(
                "no data for A in table `{name}`: no row to reassign"
            )),
            Ok(_) => Outcome::Passed,
        })
    }

    async fn insert_other(
        &self,
        t: &Target,
        c: &Counts,
        name: &str,
    ) -> Result<Outcome, HarnessError> {
        let Some(row) = &c.b_row else {
            return Ok(Outcome::inconclusive(format!(
                "no data for B in table `{name}`: no row to copy"
            )));
        };
        let mut tx = self.as_a().await?;
        let r = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {tbl} ({cols}) OVERRIDING SYSTEM VALUE \
             SELECT {cols} FROM jsonb_populate_record(NULL::{tbl}, $1)",
            cols = t.insert_columns,
            tbl = t.qualified
        )))
        .bind(sqlx::types::Json(row))
        .execute(&mut *tx)
        .await;
        let r = under_test(r, "inserting B's row as A")?;
        let _ = tx.rollback().await;
        Ok(match r {
            Err(e) if e.is_denied() => Outcome::Passed,
            Err(e) => Outcome::failed(format!(
                "A's insert of B's row into `{name}`: expected 42501, got {e}"
            )),
            Ok(done) => Outcome::failed(format!(
                "A inserted {} row(s) for B into `{name}`",
                done.rows_affected()
            )),
        })
    }

    async fn delete_other(
        &self,
        t: &Target,
        c: &Counts,
        name: &str,
        b: Uuid,
    ) -> Result<Outcome, HarnessError> {
        let mut tx = self.as_a().await?;
        let r = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {tbl} WHERE {col} = $1",
            col = t.column,
            tbl = t.qualified
        )))
        .bind(b)
        .execute(&mut *tx)
        .await;
        let r = under_test(r, "deleting B's rows as A")?;
        let _ = tx.rollback().await;
        Ok(match r {
            Err(e) if e.is_denied() => Outcome::Passed,
            Err(e) => Outcome::failed(format!(
                "A's delete of B's rows in `{name}`: expected 0 rows or 42501, got {e}"
            )),
            Ok(done) if done.rows_affected() > 0 => Outcome::failed(format!(
                "A deleted {} of B's row(s) in `{name}`",
                done.rows_affected()
            )),
            Ok(_) if c.b == 0 => Outcome::inconclusive(format!(
                "no data for B in table `{name}`: nothing to delete"
            )),
            Ok(_) => Outcome::Passed,
        })
    }

    /// Counts visible rows with no tenant (`forged = None`) or a forged tenant setting.
    async fn forged_count(
        &self,
        t: &Target,
        c: &Counts,
        name: &str,
        forged: Option<&str>,
    ) -> Result<Outcome, HarnessError> {
        let context = match forged {
            None => "without a tenant".to_owned(),
            Some(v) => format!("with tenant setting `{v}`"),
        };
        let sql = format!("SELECT count(*) FROM {tbl}", tbl = t.qualified);
        let r = match &self.plain {
            Some(pool) => {
                let mut tx: Transaction<'static, Postgres> = pool
                    .begin()
                    .await
                    .map_err(db("beginning a plain runtime transaction"))?;
                let r = forged_count_in(&mut tx, &sql, forged).await;
                let _ = tx.rollback().await;
                r
            }
            None => {
                let mut tx = self.as_a().await?;
                let reset = sqlx::raw_sql(AssertSqlSafe(format!(
                    "RESET {}; RESET {}; RESET {}; RESET {}",
                    settings::TENANT_ID,
                    settings::USER_ID,
                    settings::ROLE,
                    settings::SCHEMA
                )))
                .execute(&mut *tx)
                .await
                .map_err(db("resetting the tenant settings"))?;
                let _ = reset;
                let r = forged_count_in(&mut tx, &sql, forged).await;
                let _ = tx.rollback().await;
                r
            }
        };
        let r = under_test(r, "counting rows in a forged context")?;
        Ok(match r {
            Err(e) if e.is_denied() => Outcome::Passed,
            Err(e) => Outcome::failed(format!("reading `{name}` {context}: {e}")),
            Ok(n) if n > 0 => Outcome::failed(format!("{n} row(s) of `{name}` visible {context}")),
            Ok(_) if c.total == 0 => {
                Outcome::inconclusive(format!("table `{name}` is empty: nothing to leak"))
            }
            Ok(_) => Outcome::Passed,
        })
    }

    async fn truncate(&self, t: &Target) -> Result<Outcome, HarnessError> {
        let mut tx = self.as_a().await?;
        let r = sqlx::raw_sql(AssertSqlSafe(format!("TRUNCATE {}", t.qualified)))
            .execute(&mut *tx)
            .await;
        let r = under_test(r, "truncating as the runtime role")?;
        let _ = tx.rollback().await;
        let name = format!("{}.{}", t.schema, t.table);
        Ok(match r {
            Err(e) if e.is_denied() => Outcome::Passed,
            Err(e) => Outcome::failed(format!(
                "truncating `{name}`: expected 42501, got {e} (the privilege is granted)"
            )),
            Ok(_) => Outcome::failed(format!("the runtime role truncated `{name}`")),
        })
    }
}

async fn forged_count_in(
    conn: &mut PgConnection,
    sql: &str,
    forged: Option<&str>,
) -> Result<i64, sqlx::Error> {
    if let Some(value) = forged {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(settings::TENANT_ID)
            .bind(value)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut *conn)
        .await
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
