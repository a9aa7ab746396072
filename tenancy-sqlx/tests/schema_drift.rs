//! ATTACKS D.23: every tenant schema matches the template after migrations. `schema_drift`
//! finds nothing for a faithful copy (positive control) and every planted difference otherwise;
//! it runs as the unprivileged application role.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::Connection as _;
use tenancy_core::SchemaName;
use tenancy_sqlx::testing::TestDatabase;
use tenancy_sqlx::{Drift, DriftError, RowSecurity, schema_drift};

/// The template's DDL with `{s}` for the schema: a protected table with a policy referencing a
/// table of its own schema, and a plain table.
const DDL: &str = r#"
CREATE SCHEMA {s};
CREATE TABLE {s}.projects (
    id    uuid PRIMARY KEY,
    name  text NOT NULL,
    owner uuid,
    size  numeric(10, 2)
);
CREATE TABLE {s}.hidden (id uuid PRIMARY KEY);
ALTER TABLE {s}.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.projects FORCE ROW LEVEL SECURITY;
CREATE POLICY visible ON {s}.projects FOR SELECT TO PUBLIC
    USING (id NOT IN (SELECT h.id FROM {s}.hidden h));
CREATE POLICY writes ON {s}.projects AS RESTRICTIVE FOR INSERT TO tenancy_runtime
    WITH CHECK (name <> '');
GRANT USAGE ON SCHEMA {s} TO tenancy_runtime;
"#;

async fn make(db: &TestDatabase, schema: &str, extra: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "{}{}",
        DDL.replace("{s}", schema),
        extra.replace("{s}", schema)
    )))
    .execute(db.admin_pool())
    .await
    .unwrap();
}

fn name(s: &str) -> SchemaName {
    SchemaName::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faithful_copy_has_no_drift_and_planted_drift_is_found() {
    let db = TestDatabase::new().await.unwrap();
    make(&db, "tenant_template", "").await;
    make(&db, "tenant_acme", "").await;
    make(
        &db,
        "tenant_globex",
        "ALTER TABLE {s}.projects ALTER COLUMN owner SET NOT NULL;
         ALTER TABLE {s}.projects ALTER COLUMN size TYPE numeric(12, 2);
         ALTER TABLE {s}.projects DROP COLUMN name CASCADE;
         ALTER TABLE {s}.projects ADD COLUMN note text;
         ALTER TABLE {s}.projects NO FORCE ROW LEVEL SECURITY;
         DROP POLICY visible ON {s}.projects;
         CREATE POLICY visible ON {s}.projects FOR SELECT TO PUBLIC USING (true);
         CREATE POLICY backdoor ON {s}.projects FOR ALL TO PUBLIC USING (true);
         DROP TABLE {s}.hidden CASCADE;
         CREATE TABLE {s}.extra (id int);",
    )
    .await;
    let mut conn = sqlx::PgConnection::connect_with(&db.app_connect_options().unwrap())
        .await
        .unwrap();

    // Positive control: the faithful copy (same DDL, policy naming its own schema) is clean.
    let clean = schema_drift(&mut conn, &name("tenant_template"), &name("tenant_acme"))
        .await
        .unwrap();
    assert_eq!(clean, []);

    let found = schema_drift(&mut conn, &name("tenant_template"), &name("tenant_globex"))
        .await
        .unwrap();
    let t = |s: &str| s.to_owned();
    let expected = vec![
        Drift::MissingTable { table: t("hidden") },
        Drift::ExtraTable { table: t("extra") },
        Drift::MissingColumn {
            table: t("projects"),
            column: t("name"),
        },
        Drift::ExtraColumn {
            table: t("projects"),
            column: t("note"),
        },
        Drift::ColumnType {
            table: t("projects"),
            column: t("size"),
            template: t("numeric(10,2)"),
            tenant: t("numeric(12,2)"),
        },
        Drift::Nullability {
            table: t("projects"),
            column: t("owner"),
            template_nullable: true,
        },
        Drift::RowSecurity {
            table: t("projects"),
            template: RowSecurity {
                enabled: true,
                forced: true,
            },
            tenant: RowSecurity {
                enabled: true,
                forced: false,
            },
        },
        // `writes` went with the dropped column `name` (CASCADE).
        Drift::MissingPolicy {
            table: t("projects"),
            policy: t("writes"),
        },
        Drift::ExtraPolicy {
            table: t("projects"),
            policy: t("backdoor"),
        },
        Drift::PolicyDiffers {
            table: t("projects"),
            policy: t("visible"),
        },
    ];
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(found, sorted);
    // Every finding reads as a sentence naming the table.
    assert!(found.iter().all(|d| d.to_string().contains('`')));

    // Same direction matters: compared the other way round, extra becomes missing.
    let reverse = schema_drift(&mut conn, &name("tenant_globex"), &name("tenant_template"))
        .await
        .unwrap();
    assert!(reverse.contains(&Drift::MissingTable { table: t("extra") }));
    assert!(reverse.contains(&Drift::ExtraTable { table: t("hidden") }));
    conn.close().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tenant_schema_is_an_error_not_a_clean_result() {
    let db = TestDatabase::new().await.unwrap();
    make(&db, "tenant_template", "").await;
    let mut conn = sqlx::PgConnection::connect_with(&db.app_connect_options().unwrap())
        .await
        .unwrap();
    let err = schema_drift(&mut conn, &name("tenant_template"), &name("tenant_gone"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DriftError::MissingSchema(s) if s == "tenant_gone"),
        "{err:?}"
    );
    // Control: the template against itself is clean.
    let same = schema_drift(
        &mut conn,
        &name("tenant_template"),
        &name("tenant_template"),
    )
    .await
    .unwrap();
    assert_eq!(same, []);
    conn.close().await.unwrap();
    db.close().await.unwrap();
}
