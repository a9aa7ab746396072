//! [`schema_drift`]: does a schema-per-tenant schema still match its template (ATTACKS D.23)?

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sqlx::{Connection as _, PgConnection};
use tenancy_core::SchemaName;

/// Why the comparison could not run.
///
/// ```no_run
/// # async fn demo(conn: &mut sqlx::PgConnection) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::SchemaName;
/// use tenancy_sqlx::{DriftError, schema_drift};
/// let template = SchemaName::parse("tenant_template")?;
/// let gone = SchemaName::parse("tenant_never_created")?;
/// match schema_drift(conn, &template, &gone).await {
///     Err(DriftError::MissingSchema(name)) => assert_eq!(name, "tenant_never_created"),
///     Err(e) => return Err(e.into()),
///     Ok(_) => unreachable!("a missing schema is never reported as no drift"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriftError {
    /// Reading the catalog failed.
    #[error("could not read the catalog")]
    Database(#[source] sqlx::Error),
    /// A schema does not exist (a missing tenant schema is refused, never "no drift").
    #[error("schema `{0}` does not exist")]
    MissingSchema(String),
}

/// Row level security switches of a table.
///
/// ```
/// use tenancy_sqlx::RowSecurity;
/// let protected = RowSecurity { enabled: true, forced: true };
/// let owner_bypasses = RowSecurity { enabled: true, forced: false };
/// assert_eq!(protected.to_string(), "enabled and forced");
/// assert_eq!(owner_bypasses.to_string(), "enabled, not forced");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowSecurity {
    /// `ENABLE ROW LEVEL SECURITY`.
    pub enabled: bool,
    /// `FORCE ROW LEVEL SECURITY`.
    pub forced: bool,
}

/// One difference between the tenant schema and the template. Tables, columns and policies are
/// named without schema.
///
/// ```
/// use tenancy_sqlx::{Drift, RowSecurity};
/// let drift = Drift::RowSecurity {
///     table: "projects".into(),
///     template: RowSecurity { enabled: true, forced: true },
///     tenant: RowSecurity { enabled: true, forced: false },
/// };
/// assert_eq!(
///     drift.to_string(),
///     "row level security of `projects` is enabled, not forced, the template's is enabled and forced"
/// );
/// // Drift in row level security or policies weakens isolation; the rest is schema work.
/// let weakens_isolation = matches!(
///     drift,
///     Drift::RowSecurity { .. }
///         | Drift::MissingPolicy { .. }
///         | Drift::ExtraPolicy { .. }
///         | Drift::PolicyDiffers { .. }
/// );
/// assert!(weakens_isolation);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Drift {
    /// The template has the table, the tenant schema does not.
    MissingTable {
        /// Table.
        table: String,
    },
    /// The tenant schema has a table the template does not.
    ExtraTable {
        /// Table.
        table: String,
    },
    /// The template's table has the column, the tenant's does not.
    MissingColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// The tenant's table has a column the template's does not.
    ExtraColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// The column's type differs (`format_type`, with modifiers).
    ColumnType {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Type in the template.
        template: String,
        /// Type in the tenant schema.
        tenant: String,
    },
    /// The column is nullable in one schema and `NOT NULL` in the other.
    Nullability {
        /// Table.
        table: String,
        /// Column.
        column: String,
        /// Nullable in the template.
        template_nullable: bool,
    },
    /// Row level security is enabled or forced differently.
    RowSecurity {
        /// Table.
        table: String,
        /// In the template.
        template: RowSecurity,
        /// In the tenant schema.
        tenant: RowSecurity,
    },
    /// The template's table has the policy, the tenant's does not.
    MissingPolicy {
        /// Table.
        table: String,
        /// Policy.
        policy: String,
    },
    /// The tenant's table has a policy the template's does not.
    ExtraPolicy {
        /// Table.
        table: String,
        /// Policy.
        policy: String,
    },
    /// The policy differs in command, kind (permissive or restrictive), roles or expressions.
    PolicyDiffers {
        /// Table.
        table: String,
        /// Policy.
        policy: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingTable { table } => write!(f, "table `{table}` is missing"),
            Self::ExtraTable { table } => write!(f, "table `{table}` is not in the template"),
            Self::MissingColumn { table, column } => {
                write!(f, "column `{table}.{column}` is missing")
            }
            Self::ExtraColumn { table, column } => {
                write!(f, "column `{table}.{column}` is not in the template")
            }
            Self::ColumnType {
                table,
                column,
                template,
                tenant,
            } => write!(
                f,
                "column `{table}.{column}` is `{tenant}`, the template's is `{template}`"
            ),
            Self::Nullability {
                table,
                column,
                template_nullable,
            } => write!(
                f,
                "column `{table}.{column}` is {}, the template's is {}",
                nullability(!template_nullable),
                nullability(*template_nullable)
            ),
            Self::RowSecurity {
                table,
                template,
                tenant,
            } => write!(
                f,
                "row level security of `{table}` is {tenant}, the template's is {template}"
            ),
            Self::MissingPolicy { table, policy } => {
                write!(f, "policy `{policy}` on `{table}` is missing")
            }
            Self::ExtraPolicy { table, policy } => {
                write!(f, "policy `{policy}` on `{table}` is not in the template")
            }
            Self::PolicyDiffers { table, policy } => {
                write!(
                    f,
                    "policy `{policy}` on `{table}` differs from the template's"
                )
            }
        }
    }
}

impl fmt::Display for RowSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.enabled, self.forced) {
            (true, true) => f.write_str("enabled and forced"),
            (true, false) => f.write_str("enabled, not forced"),
            (false, true) => f.write_str("forced but not enabled"),
            (false, false) => f.write_str("disabled"),
        }
    }
}

fn nullability(nullable: bool) -> &'static str {
    if nullable { "nullable" } else { "not null" }
}

#[derive(Default)]
struct Shape {
    tables: BTreeMap<String, RowSecurity>,
    columns: BTreeMap<(String, String), (String, bool)>,
    policies: BTreeMap<(String, String), Policy>,
}

#[derive(PartialEq, Eq)]
struct Policy {
    cmd: String,
    permissive: bool,
    roles: Vec<String>,
    using: Option<String>,
    check: Option<String>,
}

/// Compares the tables (ordinary and partitioned), their columns (name, type with modifiers,
/// nullability), row level security (enabled, forced) and policies (command, permissive or
/// restrictive, roles, `USING` and `WITH CHECK` expressions) of `tenant` with `template`, and
/// lists every difference (sorted; empty when they match). Run it after migrations for every
/// tenant schema (ATTACKS D.23) — any role that can read the catalog may.
///
/// Policy expressions (and column types) are compared as PostgreSQL prints them, with references
/// qualified by each side's own schema name made equal. Indexes, constraints, defaults, triggers
/// and grants are not compared.
///
/// ```no_run
/// # async fn demo(conn: &mut sqlx::PgConnection) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::SchemaName;
/// let template = SchemaName::parse("tenant_template")?;
/// let acme = SchemaName::parse("tenant_acme")?;
/// for drift in tenancy_sqlx::schema_drift(conn, &template, &acme).await? {
///     eprintln!("tenant_acme: {drift}");
/// }
/// # Ok(()) }
/// ```
pub async fn schema_drift(
    conn: &mut PgConnection,
    template: &SchemaName,
    tenant: &SchemaName,
) -> Result<Vec<Drift>, DriftError> {
    // One transaction (a savepoint when the caller is already in one): one catalog snapshot,
    // and sqlx's named statements stay on one server behind PgBouncer in transaction mode.
    let mut tx = conn.begin().await.map_err(DriftError::Database)?;
    let want = shape(&mut tx, template.as_str()).await?;
    let have = shape(&mut tx, tenant.as_str()).await?;
    tx.commit().await.map_err(DriftError::Database)?;
    let mut out = BTreeSet::new();

    for (table, rls) in &want.tables {
        match have.tables.get(table) {
            None => {
                out.insert(Drift::MissingTable {
                    table: table.clone(),
                });
            }
            Some(got) if got != rls => {
                out.insert(Drift::RowSecurity {
                    table: table.clone(),
                    template: *rls,
                    tenant: *got,
                });
            }
            Some(_) => {}
        }
    }
    for table in have.tables.keys() {
        if !want.tables.contains_key(table) {
            out.insert(Drift::ExtraTable {
                table: table.clone(),
            });
        }
    }
    // Columns and policies of tables present on both sides (a missing table is one finding).
    let both = |t: &String| want.tables.contains_key(t) && have.tables.contains_key(t);
    for ((table, column), (ty, nullable)) in &want.columns {
        if !both(table) {
            continue;
        }
        let (table, column) = (table.clone(), column.clone());
        match have.columns.get(&(table.clone(), column.clone())) {
            None => {
                out.insert(Drift::MissingColumn { table, column });
            }
            Some((got_ty, got_nullable)) => {
                if got_ty != ty {
                    out.insert(Drift::ColumnType {
                        table: table.clone(),
                        column: column.clone(),
                        template: ty.clone(),
                        tenant: got_ty.clone(),
                    });
                }
                if got_nullable != nullable {
                    out.insert(Drift::Nullability {
                        table,
                        column,
                        template_nullable: *nullable,
                    });
                }
            }
        }
    }
    for (table, column) in have.columns.keys() {
        if both(table) && !want.columns.contains_key(&(table.clone(), column.clone())) {
            out.insert(Drift::ExtraColumn {
                table: table.clone(),
                column: column.clone(),
            });
        }
    }
    for ((table, policy), p) in &want.policies {
        if !both(table) {
            continue;
        }
        match have.policies.get(&(table.clone(), policy.clone())) {
            None => {
                out.insert(Drift::MissingPolicy {
                    table: table.clone(),
                    policy: policy.clone(),
                });
            }
            Some(got) if got != p => {
                out.insert(Drift::PolicyDiffers {
                    table: table.clone(),
                    policy: policy.clone(),
                });
            }
            Some(_) => {}
        }
    }
    for (table, policy) in have.policies.keys() {
        if both(table) && !want.policies.contains_key(&(table.clone(), policy.clone())) {
            out.insert(Drift::ExtraPolicy {
                table: table.clone(),
                policy: policy.clone(),
            });
        }
    }
    Ok(out.into_iter().collect())
}

async fn shape(conn: &mut PgConnection, schema: &str) -> Result<Shape, DriftError> {
    let db = DriftError::Database;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
    )
    .bind(schema)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    if !exists {
        return Err(DriftError::MissingSchema(schema.to_owned()));
    }
    let mut shape = Shape::default();
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for (table, enabled, forced) in tables {
        shape.tables.insert(table, RowSecurity { enabled, forced });
    }
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text, \
                pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull \
         FROM pg_catalog.pg_attribute a \
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 \
           AND NOT a.attisdropped",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for (table, column, ty, nullable) in columns {
        shape
            .columns
            .insert((table, column), (normalise(&ty, schema), nullable));
    }
    type PolicyRow = (
        String,
        String,
        String,
        bool,
        Vec<String>,
        Option<String>,
        Option<String>,
    );
    let policies: Vec<PolicyRow> = sqlx::query_as(
        "SELECT c.relname::text, p.polname::text, p.polcmd::text, p.polpermissive, \
                ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(r)::text END \
                      FROM pg_catalog.unnest(p.polroles) AS r ORDER BY 1), \
                pg_catalog.pg_get_expr(p.polqual, p.polrelid), \
                pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) \
         FROM pg_catalog.pg_policy p \
         JOIN pg_catalog.pg_class c ON c.oid = p.polrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1",
    )
    .bind(schema)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for (table, policy, cmd, permissive, roles, using, check) in policies {
        shape.policies.insert(
            (table, policy),
            Policy {
                cmd,
                permissive,
                roles,
                using: using.map(|e| normalise(&e, schema)),
                check: check.map(|e| normalise(&e, schema)),
            },
        );
    }
    Ok(shape)
}

/// Rewrites references qualified by the schema being read (`name.` or `"name".`, not inside a
/// longer identifier) to a placeholder, so that expressions naming their own schema's tables
/// compare equal across schemas.
fn normalise(text: &str, schema: &str) -> String {
    let mut out = text.to_owned();
    for from in [format!("\"{schema}\"."), format!("{schema}.")] {
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(at) = rest.find(&from) {
            let before = rest[..at].chars().next_back();
            let inside =
                before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '"');
            result.push_str(&rest[..at]);
            result.push_str(if inside { &from } else { OWN_SCHEMA });
            rest = &rest[at + from.len()..];
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// Stands for the compared schema's own name in normalised text (not valid SQL on purpose).
const OWN_SCHEMA: &str = "\u{0}own.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_rewrites_own_qualified_names_only() {
        let n = normalise(
            "(id IN (SELECT h.id FROM acme.hidden h, \"acme\".x, xacme.y, other.z))",
            "acme",
        );
        assert_eq!(
            n,
            format!(
                "(id IN (SELECT h.id FROM {OWN_SCHEMA}hidden h, {OWN_SCHEMA}x, xacme.y, other.z))"
            )
        );
    }
}
