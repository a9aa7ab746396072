//! Catalog auditor: finds holes in row level security coverage and privileges.
//!
//! The audit runs as the role of the pool it is given and judges the catalog from that role's
//! point of view (privileges through memberships included). Run it with the runtime role's pool,
//! in CI and at startup ([`TenantPoolOptions`](crate::TenantPoolOptions) does by default).
//!
//! ```no_run
//! # async fn demo(runtime_pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
//! use tenancy_sqlx::audit::{Severity, audit};
//! // A CI step: fail on any isolation hole, print the warnings.
//! let findings = audit(&runtime_pool).await?;
//! for finding in &findings {
//!     eprintln!("{finding}");
//! }
//! let holes = findings.iter().filter(|f| f.severity == Severity::Error).count();
//! assert_eq!(holes, 0, "the catalog audit found {holes} isolation holes");
//! # Ok(()) }
//! ```

use std::fmt;

use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row as _};

/// How bad a finding is. A [`TenantPool`](crate::TenantPool) refuses to start on any
/// [`Severity::Error`].
///
/// ```
/// use tenancy_sqlx::Severity;
/// // Errors sort after warnings: the worst finding is the maximum.
/// assert!(Severity::Warning < Severity::Error);
/// let worst = [Severity::Warning, Severity::Error, Severity::Warning].into_iter().max();
/// assert_eq!(worst, Some(Severity::Error));
/// assert_eq!(Severity::Error.to_string(), "error");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth a look; not an isolation hole by itself.
    Warning,
    /// An isolation hole or a privilege that defeats isolation.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// What the auditor found.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), tenancy_sqlx::AuditError> {
/// use tenancy_sqlx::FindingKind;
/// // Tables that still need `tenancy.protect_table(..)`.
/// let unprotected: Vec<String> = tenancy_sqlx::audit(&pool)
///     .await?
///     .into_iter()
///     .filter(|f| matches!(f.kind, FindingKind::RlsNotEnabled | FindingKind::NoPolicy))
///     .map(|f| f.object)
///     .collect();
/// # let _ = unprotected; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The runtime role is a superuser (skips every policy).
    RuntimeRoleSuperuser,
    /// The runtime role has `BYPASSRLS`.
    RuntimeRoleBypassRls,
    /// The runtime role owns (or has the privileges of the owner of) a tenant table.
    RuntimeRoleOwnsTenantTable,
    /// A tenant table without `ENABLE ROW LEVEL SECURITY`.
    RlsNotEnabled,
    /// A tenant table without `FORCE ROW LEVEL SECURITY`.
    RlsNotForced,
    /// A tenant table without any policy.
    NoPolicy,
    /// A tenant table whose policies include no restrictive policy.
    NoRestrictivePolicy,
    /// A permissive policy that admits rows regardless of the tenant (`true`, `IS NULL OR`,
    /// `coalesce`).
    PermissiveCatchAll,
    /// A policy for writes without `WITH CHECK`.
    PolicyWithoutWithCheck,
    /// A tenant accessor function is missing.
    AccessorMissing,
    /// A tenant accessor function is not `STABLE`.
    AccessorNotStable,
    /// A view (or materialized view) readable by the runtime role that runs with its owner's
    /// rights.
    ViewWithoutSecurityInvoker,
    /// A `SECURITY DEFINER` function executable by the runtime role and not allow-listed.
    SecurityDefinerExecutable,
    /// A unique constraint or unique index on a tenant table without the tenant column.
    UniqueWithoutTenant,
    /// A foreign key between tenant tables without the tenant column.
    ForeignKeyWithoutTenant,
    /// The runtime role may `TRUNCATE` a tenant table (TRUNCATE ignores row level security).
    TruncateGranted,
    /// The tenant column is nullable.
    TenantColumnNullable,
}

/// One finding: what, how bad, which object, and how to fix it.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), tenancy_sqlx::AuditError> {
/// use tenancy_sqlx::Severity;
/// for f in tenancy_sqlx::audit(&pool).await? {
///     if f.severity == Severity::Error {
///         // RlsNotForced on public.projects
///         //   fix: SELECT tenancy.protect_table('public.projects') (or ALTER TABLE ..)
///         eprintln!("{:?} on {}\n  fix: {}", f.kind, f.object, f.fix);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The kind of problem.
    pub kind: FindingKind,
    /// How bad it is.
    pub severity: Severity,
    /// The object concerned (`schema.table`, `schema.table.policy`, a role, a function).
    pub object: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:?} on `{}`: {}",
            self.severity, self.kind, self.object, self.fix
        )
    }
}

/// The audit could not run (connection or catalog query failed).
///
/// The [`sqlx::Error`] is its source.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::error::Error as _;
/// let pool = sqlx::PgPool::connect_lazy("postgres://app@localhost/saas").unwrap();
/// pool.close().await;
/// let err = tenancy_sqlx::audit(&pool).await.unwrap_err();
/// assert_eq!(err.to_string(), "catalog audit failed");
/// let cause = err.source().and_then(|e| e.downcast_ref::<sqlx::Error>());
/// assert!(matches!(cause, Some(sqlx::Error::PoolClosed)));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[error("catalog audit failed")]
pub struct AuditError(#[from] sqlx::Error);

/// Options of the audit.
///
/// ```
/// use tenancy_sqlx::AuditOptions;
/// let options = AuditOptions::default();
/// assert_eq!(options.tenant_column, "tenant_id");
/// assert!(options.allowed_security_definer.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditOptions {
    /// Name of the tenant column that marks a tenant table (default `tenant_id`).
    pub tenant_column: String,
    /// `SECURITY DEFINER` functions the runtime role may execute, as `schema.function`.
    pub allowed_security_definer: Vec<String>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            tenant_column: "tenant_id".to_owned(),
            allowed_security_definer: Vec::new(),
        }
    }
}

impl AuditOptions {
    /// Sets the tenant column name.
    ///
    /// ```
    /// let options = tenancy_sqlx::AuditOptions::default().with_tenant_column("org_id");
    /// assert_eq!(options.tenant_column, "org_id");
    /// ```
    #[must_use]
    pub fn with_tenant_column(mut self, column: impl Into<String>) -> Self {
        self.tenant_column = column.into();
        self
    }

    /// Allow-lists a `SECURITY DEFINER` function (`schema.function`).
    ///
    /// ```
    /// let options = tenancy_sqlx::AuditOptions::default()
    ///     .allow_security_definer("app.lookup_invitation")
    ///     .allow_security_definer("app.health_check");
    /// assert_eq!(
    ///     options.allowed_security_definer,
    ///     ["app.lookup_invitation", "app.health_check"]
    /// );
    /// ```
    #[must_use]
    pub fn allow_security_definer(mut self, function: impl Into<String>) -> Self {
        self.allowed_security_definer.push(function.into());
        self
    }
}

/// Audits the catalog as the pool's role with default options.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), tenancy_sqlx::AuditError> {
/// for finding in tenancy_sqlx::audit(&pool).await? {
///     eprintln!("{finding}");
/// }
/// # Ok(()) }
/// ```
pub async fn audit(pool: &PgPool) -> Result<Vec<Finding>, AuditError> {
    audit_with(pool, &AuditOptions::default()).await
}

/// Audits the catalog as the pool's role.
///
/// Every query runs in one read-only transaction on one connection, so the audit also works
/// through PgBouncer in transaction pooling mode (sqlx sends bound queries as named prepared
/// statements, which only survive within one server transaction there) and sees one snapshot.
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), tenancy_sqlx::AuditError> {
/// use tenancy_sqlx::{AuditOptions, FindingKind, Severity};
/// let options = AuditOptions::default()
///     .with_tenant_column("org_id")
///     .allow_security_definer("app.lookup_invitation");
/// let findings = tenancy_sqlx::audit_with(&pool, &options).await?;
/// // The reviewed function is no longer reported.
/// assert!(!findings.iter().any(|f| f.kind == FindingKind::SecurityDefinerExecutable
///     && f.object.starts_with("app.lookup_invitation(")));
/// assert!(findings.iter().all(|f| f.severity < Severity::Error));
/// # Ok(()) }
/// ```
pub async fn audit_with(pool: &PgPool, options: &AuditOptions) -> Result<Vec<Finding>, AuditError> {
    let mut tx = pool
        .begin_with(AssertSqlSafe(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        ))
        .await?;
    let conn: &mut PgConnection = &mut tx;
    let mut out = audit_runtime_role(conn, options).await?;
    tables(conn, options, &mut out).await?;
    policies(conn, options, &mut out).await?;
    accessors(conn, &mut out).await?;
    views(conn, &mut out).await?;
    security_definer(conn, options, &mut out).await?;
    uniques(conn, options, &mut out).await?;
    foreign_keys(conn, options, &mut out).await?;
    tx.commit().await?;
    Ok(out)
}

/// Only the runtime-role checks, in their own read-only transaction (see [`audit_with`]).
pub(crate) async fn audit_runtime_role_only(
    pool: &PgPool,
    options: &AuditOptions,
) -> Result<Vec<Finding>, AuditError> {
    let mut tx = pool.begin_with(AssertSqlSafe("BEGIN READ ONLY")).await?;
    let out = audit_runtime_role(&mut tx, options).await?;
    tx.commit().await?;
    Ok(out)
}

fn finding(
    kind: FindingKind,
    severity: Severity,
    object: String,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        kind,
        severity,
        object,
        fix: fix.into(),
    }
}

/// The schemas audited: everything but the system schemas.
macro_rules! user_schemas {
    () => {
        "n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
    };
}

/// Only the checks on the runtime role itself: superuser, `BYPASSRLS`, owner of a tenant table.
pub(crate) async fn audit_runtime_role(
    conn: &mut PgConnection,
    options: &AuditOptions,
) -> Result<Vec<Finding>, AuditError> {
    let mut out = Vec::new();
    let row = sqlx::query(
        "SELECT current_user::text AS me, r.rolsuper, r.rolbypassrls \
         FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await?;
    let me: String = row.try_get("me")?;
    if row.try_get::<bool, _>("rolsuper")? {
        out.push(finding(
            FindingKind::RuntimeRoleSuperuser,
            Severity::Error,
            me.clone(),
            format!("connect as a role without SUPERUSER (ALTER ROLE \"{me}\" NOSUPERUSER)"),
        ));
    }
    if row.try_get::<bool, _>("rolbypassrls")? {
        out.push(finding(
            FindingKind::RuntimeRoleBypassRls,
            Severity::Error,
            me.clone(),
            format!("ALTER ROLE \"{me}\" NOBYPASSRLS, use the platform pool for cross-tenant work"),
        ));
    }
    let owned = sqlx::query_scalar::<_, String>(concat!(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped \
         WHERE c.relkind IN ('r', 'p') AND ", user_schemas!(), " \
           AND pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1"
    ))
    .bind(&options.tenant_column)
    .fetch_all(&mut *conn)
    .await?;
    for t in owned {
        out.push(finding(
            FindingKind::RuntimeRoleOwnsTenantTable,
            Severity::Error,
            t,
            format!(
                "let the migration role own the table (ALTER TABLE .. OWNER TO ..) and revoke \"{me}\"'s membership in the owner"
            ),
        ));
    }
    Ok(out)
}

async fn tables(
    conn: &mut PgConnection,
    o: &AuditOptions,
    out: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let rows = sqlx::query(concat!(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name, \
           c.relrowsecurity, c.relforcerowsecurity, a.attnotnull, \
           (SELECT count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) AS policies, \
           (SELECT count(*) FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid AND NOT p.polpermissive) AS restrictive, \
           pg_catalog.has_table_privilege(current_user, c.oid, 'TRUNCATE') AS can_truncate \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped \
         WHERE c.relkind IN ('r', 'p') AND ", user_schemas!(), " ORDER BY 1"
    ))
    .bind(&o.tenant_column)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let name: String = r.try_get("name")?;
        if !r.try_get::<bool, _>("relrowsecurity")? {
            out.push(finding(
                FindingKind::RlsNotEnabled,
                Severity::Error,
                name.clone(),
                format!("SELECT tenancy.protect_table('{name}') (or ALTER TABLE {name} ENABLE ROW LEVEL SECURITY)"),
            ));
        }
        if !r.try_get::<bool, _>("relforcerowsecurity")? {
            out.push(finding(
                FindingKind::RlsNotForced,
                Severity::Error,
                name.clone(),
                format!("SELECT tenancy.protect_table('{name}') (or ALTER TABLE {name} FORCE ROW LEVEL SECURITY)"),
            ));
        }
        let policies: i64 = r.try_get("policies")?;
        if policies == 0 {
            out.push(finding(
                FindingKind::NoPolicy,
                Severity::Error,
                name.clone(),
                format!("SELECT tenancy.protect_table('{name}') to create the tenant policies"),
            ));
        } else if r.try_get::<i64, _>("restrictive")? == 0 {
            out.push(finding(
                FindingKind::NoRestrictivePolicy,
                Severity::Error,
                name.clone(),
                format!(
                    "SELECT tenancy.protect_table('{name}'): tenant isolation must be a RESTRICTIVE policy so permissive ones cannot widen it"
                ),
            ));
        }
        if r.try_get::<bool, _>("can_truncate")? {
            out.push(finding(
                FindingKind::TruncateGranted,
                Severity::Error,
                name.clone(),
                format!("REVOKE TRUNCATE ON {name} FROM PUBLIC, tenancy_runtime (and from the runtime role)"),
            ));
        }
        if !r.try_get::<bool, _>("attnotnull")? {
            out.push(finding(
                FindingKind::TenantColumnNullable,
                Severity::Warning,
                name.clone(),
                format!(
                    "ALTER TABLE {name} ALTER COLUMN {} SET NOT NULL",
                    o.tenant_column
                ),
            ));
        }
    }
    Ok(())
}

async fn policies(
    conn: &mut PgConnection,
    _o: &AuditOptions,
    out: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let rows = sqlx::query(concat!(
        "SELECT pg_catalog.format('%I.%I.%I', n.nspname, c.relname, p.polname) AS name, \
           p.polpermissive, p.polcmd::text AS cmd, \
           pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual, \
           pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS with_check \
         FROM pg_catalog.pg_policy p \
         JOIN pg_catalog.pg_class c ON c.oid = p.polrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE ",
        user_schemas!(),
        " ORDER BY 1"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let name: String = r.try_get("name")?;
        let permissive: bool = r.try_get("polpermissive")?;
        let cmd: String = r.try_get("cmd")?;
        let qual: Option<String> = r.try_get("qual")?;
        let with_check: Option<String> = r.try_get("with_check")?;
        if permissive
            && (qual.as_deref().is_some_and(is_catch_all)
                || with_check.as_deref().is_some_and(is_catch_all))
        {
            out.push(finding(
                FindingKind::PermissiveCatchAll,
                Severity::Error,
                name.clone(),
                "drop the policy or compare the tenant column directly: `tenant_id = (SELECT tenancy.current_tenant_id())`, without `true`, `IS NULL OR` or `coalesce`",
            ));
        }
        // polcmd: '*' all, 'r' select, 'a' insert, 'w' update, 'd' delete.
        if matches!(cmd.as_str(), "*" | "w" | "a") && with_check.is_none() {
            out.push(finding(
                FindingKind::PolicyWithoutWithCheck,
                Severity::Warning,
                name,
                "add an explicit WITH CHECK clause equal to the USING clause",
            ));
        }
    }
    Ok(())
}

/// Whether a policy expression admits rows regardless of the tenant.
fn is_catch_all(expr: &str) -> bool {
    let e = expr.to_ascii_lowercase();
    let bare = e.trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace());
    bare == "true" || e.contains("is null") || e.contains("coalesce(") || e.contains(" or true")
}

async fn accessors(conn: &mut PgConnection, out: &mut Vec<Finding>) -> Result<(), AuditError> {
    let rows = sqlx::query(
        "SELECT f.name, p.provolatile::text AS volatility \
         FROM unnest(ARRAY['current_tenant_id', 'current_user_id', 'current_member_role', 'current_schema_tenant']) AS f(name) \
         LEFT JOIN pg_catalog.pg_proc p ON p.proname = f.name \
           AND p.pronamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'tenancy') \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let name = format!("tenancy.{}", r.try_get::<String, _>("name")?);
        match r.try_get::<Option<String>, _>("volatility")?.as_deref() {
            None => out.push(finding(
                FindingKind::AccessorMissing,
                Severity::Error,
                name,
                "run tenancy_sqlx::migrate() as the schema owner",
            )),
            Some("s") => {}
            Some(v) => out.push(finding(
                FindingKind::AccessorNotStable,
                // IMMUTABLE can be folded into a cached plan and serve another tenant's id.
                if v == "i" {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                name.clone(),
                format!("ALTER FUNCTION {name}() STABLE"),
            )),
        }
    }
    Ok(())
}

async fn views(conn: &mut PgConnection, out: &mut Vec<Finding>) -> Result<(), AuditError> {
    let rows = sqlx::query_scalar::<_, String>(concat!(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('v', 'm') AND ", user_schemas!(), " \
           AND pg_catalog.has_table_privilege(current_user, c.oid, 'SELECT') \
           AND NOT coalesce(pg_catalog.array_to_string(c.reloptions, ',') ~* 'security_invoker=(true|on|yes|1)', false) \
         ORDER BY 1"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for v in rows {
        out.push(finding(
            FindingKind::ViewWithoutSecurityInvoker,
            Severity::Error,
            v.clone(),
            format!(
                "ALTER VIEW {v} SET (security_invoker = true), or REVOKE SELECT ON {v} from the runtime role"
            ),
        ));
    }
    Ok(())
}

async fn security_definer(
    conn: &mut PgConnection,
    o: &AuditOptions,
    out: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let rows = sqlx::query(concat!(
        "SELECT pg_catalog.format('%I.%I', n.nspname, p.proname) AS name, \
           pg_catalog.pg_get_function_identity_arguments(p.oid) AS args \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prosecdef AND ",
        user_schemas!(),
        " \
           AND pg_catalog.has_function_privilege(current_user, p.oid, 'EXECUTE') ORDER BY 1"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let name: String = r.try_get("name")?;
        if o.allowed_security_definer.contains(&name) {
            continue;
        }
        let args: String = r.try_get("args")?;
        out.push(finding(
            FindingKind::SecurityDefinerExecutable,
            Severity::Error,
            format!("{name}({args})"),
            format!(
                "REVOKE EXECUTE ON FUNCTION {name}({args}) FROM PUBLIC and the runtime role, make it SECURITY INVOKER, or allow-list it after review"
            ),
        ));
    }
    Ok(())
}

async fn uniques(
    conn: &mut PgConnection,
    o: &AuditOptions,
    out: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let rows = sqlx::query(concat!(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl, \
           pg_catalog.format('%I', i.relname) AS idx \
         FROM pg_catalog.pg_index x \
         JOIN pg_catalog.pg_class c ON c.oid = x.indrelid \
         JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped \
         WHERE x.indisunique AND c.relkind IN ('r', 'p') AND ", user_schemas!(), " \
           AND NOT (a.attnum = ANY (x.indkey::int2[])) ORDER BY 1, 2"
    ))
    .bind(&o.tenant_column)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let tbl: String = r.try_get("tbl")?;
        let idx: String = r.try_get("idx")?;
        out.push(finding(
            FindingKind::UniqueWithoutTenant,
            Severity::Error,
            format!("{tbl} ({idx})"),
            format!(
                "include {} as the first column of the unique key `{idx}`: otherwise a duplicate reveals another tenant's value",
                o.tenant_column
            ),
        ));
    }
    Ok(())
}

async fn foreign_keys(
    conn: &mut PgConnection,
    o: &AuditOptions,
    out: &mut Vec<Finding>,
) -> Result<(), AuditError> {
    let rows = sqlx::query(concat!(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS tbl, \
           pg_catalog.format('%I', k.conname) AS fk \
         FROM pg_catalog.pg_constraint k \
         JOIN pg_catalog.pg_class c ON c.oid = k.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND NOT a.attisdropped \
         JOIN pg_catalog.pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attname = $1 AND NOT ra.attisdropped \
         WHERE k.contype = 'f' AND ", user_schemas!(), " \
           AND NOT (a.attnum = ANY (k.conkey) AND ra.attnum = ANY (k.confkey)) ORDER BY 1, 2"
    ))
    .bind(&o.tenant_column)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let tbl: String = r.try_get("tbl")?;
        let fk: String = r.try_get("fk")?;
        out.push(finding(
            FindingKind::ForeignKeyWithoutTenant,
            Severity::Error,
            format!("{tbl} ({fk})"),
            format!(
                "make `{fk}` composite: FOREIGN KEY ({col}, ..) REFERENCES .. ({col}, ..), so a row can only reference its own tenant's rows",
                col = o.tenant_column
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_catch_all;

    #[test]
    fn catch_all_expressions() {
        assert!(is_catch_all("true"));
        assert!(is_catch_all("(true)"));
        assert!(is_catch_all(
            "((tenancy.current_tenant_id() IS NULL) OR (tenant_id = tenancy.current_tenant_id()))"
        ));
        assert!(is_catch_all(
            "(tenant_id = COALESCE(tenancy.current_tenant_id(), tenant_id))"
        ));
        assert!(!is_catch_all(
            "(tenant_id = ( SELECT tenancy.current_tenant_id() AS current_tenant_id))"
        ));
    }
}
