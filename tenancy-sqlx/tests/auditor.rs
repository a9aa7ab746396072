//! The catalog auditor finds each planted hole (one test per finding kind) and reports nothing
//! on a clean schema. Audits run as the unprivileged application role.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Fixture;
use tenancy_sqlx::{AuditOptions, Finding, FindingKind, Severity, audit, audit_with};

async fn plant(fx: &Fixture, sql: &'static str) {
    sqlx::raw_sql(sql)
        .execute(fx.db.admin_pool())
        .await
        .unwrap();
}

/// Plants `sql` as the superuser, audits as the application role and returns the findings of
/// `kind`, after checking that the clean fixture had none.
async fn findings_after(sql: &'static str, kind: FindingKind) -> Vec<Finding> {
    let fx = Fixture::new().await;
    let app = fx.raw_app_pool(1).await;
    let before = audit(&app).await.unwrap();
    assert!(before.iter().all(|f| f.kind != kind), "clean: {before:?}");
    plant(&fx, sql).await;
    let after = audit(&app).await.unwrap();
    drop(app);
    fx.close().await;
    let found: Vec<Finding> = after.into_iter().filter(|f| f.kind == kind).collect();
    assert!(!found.is_empty(), "{kind:?} not found after: {sql}");
    for f in &found {
        assert!(!f.fix.is_empty() && !f.object.is_empty(), "{f}");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_schema_has_no_findings() {
    let fx = Fixture::new().await;
    let app = fx.raw_app_pool(1).await;
    let findings = audit(&app).await.unwrap();
    assert_eq!(findings, vec![], "{findings:#?}");
    drop(app);
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_role_superuser_and_owner() {
    let fx = Fixture::new().await;
    let findings = audit(fx.db.admin_pool()).await.unwrap();
    let kinds: Vec<FindingKind> = findings.iter().map(|f| f.kind).collect();
    assert!(
        kinds.contains(&FindingKind::RuntimeRoleSuperuser),
        "{kinds:?}"
    );
    assert!(kinds.contains(&FindingKind::RuntimeRoleOwnsTenantTable));
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_role_bypassrls() {
    let fx = Fixture::new().await;
    // The platform test role has BYPASSRLS.
    let platform = fx.db.platform_pool(1).await.unwrap();
    let findings = audit(&platform).await.unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.kind == FindingKind::RuntimeRoleBypassRls && f.severity == Severity::Error),
        "{findings:?}"
    );
    drop(platform);
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_role_owns_table_through_membership() {
    let f = findings_after(
        "CREATE TABLE owned (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id));
         SELECT tenancy.protect_table('owned');
         ALTER TABLE owned OWNER TO tenancy_runtime;",
        FindingKind::RuntimeRoleOwnsTenantTable,
    )
    .await;
    assert_eq!(f[0].object, "public.owned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_not_enabled() {
    findings_after(
        "ALTER TABLE items DISABLE ROW LEVEL SECURITY",
        FindingKind::RlsNotEnabled,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_not_forced() {
    findings_after(
        "ALTER TABLE items NO FORCE ROW LEVEL SECURITY",
        FindingKind::RlsNotForced,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_policy() {
    let f = findings_after(
        "CREATE TABLE bare (tenant_id uuid NOT NULL, id int, PRIMARY KEY (tenant_id, id));
         ALTER TABLE bare ENABLE ROW LEVEL SECURITY; ALTER TABLE bare FORCE ROW LEVEL SECURITY;
         REVOKE TRUNCATE ON bare FROM PUBLIC;",
        FindingKind::NoPolicy,
    )
    .await;
    assert_eq!(f[0].object, "public.bare");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_restrictive_policy() {
    findings_after(
        "DROP POLICY tenant_isolation ON items",
        FindingKind::NoRestrictivePolicy,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_catch_all_true() {
    let f = findings_after(
        "CREATE POLICY open_read ON items FOR SELECT USING (true)",
        FindingKind::PermissiveCatchAll,
    )
    .await;
    assert_eq!(f[0].object, "public.items.open_read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_catch_all_is_null_or() {
    findings_after(
        "CREATE POLICY lax ON items FOR SELECT
           USING (tenancy.current_tenant_id() IS NULL OR tenant_id = tenancy.current_tenant_id())",
        FindingKind::PermissiveCatchAll,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_catch_all_coalesce() {
    findings_after(
        "CREATE POLICY lax ON items FOR SELECT
           USING (tenant_id = coalesce(tenancy.current_tenant_id(), tenant_id))",
        FindingKind::PermissiveCatchAll,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_without_with_check() {
    findings_after(
        "CREATE POLICY upd ON items AS RESTRICTIVE FOR UPDATE
           USING (tenant_id = (SELECT tenancy.current_tenant_id()))",
        FindingKind::PolicyWithoutWithCheck,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accessor_not_stable() {
    let f = findings_after(
        "ALTER FUNCTION tenancy.current_tenant_id() IMMUTABLE",
        FindingKind::AccessorNotStable,
    )
    .await;
    assert_eq!(f[0].severity, Severity::Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accessor_missing() {
    findings_after(
        "DROP FUNCTION tenancy.current_schema_tenant()",
        FindingKind::AccessorMissing,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_without_security_invoker() {
    let f = findings_after(
        "CREATE VIEW all_items AS SELECT * FROM items;
         GRANT SELECT ON all_items TO tenancy_runtime;
         CREATE VIEW safe_items WITH (security_invoker = true) AS SELECT * FROM items;
         GRANT SELECT ON safe_items TO tenancy_runtime;",
        FindingKind::ViewWithoutSecurityInvoker,
    )
    .await;
    // Only the owner-rights view; the security_invoker one is fine (positive control).
    let objects: Vec<&str> = f.iter().map(|f| f.object.as_str()).collect();
    assert_eq!(objects, ["public.all_items"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_definer_executable() {
    let f = findings_after(
        "CREATE FUNCTION count_all() RETURNS bigint LANGUAGE sql SECURITY DEFINER
           AS 'SELECT count(*) FROM items';",
        FindingKind::SecurityDefinerExecutable,
    )
    .await;
    assert!(f[0].object.starts_with("public.count_all("));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_definer_allow_list() {
    let fx = Fixture::new().await;
    plant(
        &fx,
        "CREATE FUNCTION count_all() RETURNS bigint LANGUAGE sql SECURITY DEFINER
           AS 'SELECT count(*) FROM items';",
    )
    .await;
    let app = fx.raw_app_pool(1).await;
    let opts = AuditOptions::default().allow_security_definer("public.count_all");
    assert_eq!(audit_with(&app, &opts).await.unwrap(), vec![]);
    drop(app);
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_without_tenant() {
    let f = findings_after(
        "CREATE UNIQUE INDEX items_name_global ON items (name)",
        FindingKind::UniqueWithoutTenant,
    )
    .await;
    assert!(f[0].object.contains("items_name_global"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_key_without_tenant() {
    findings_after(
        "CREATE UNIQUE INDEX items_id_only ON items (id);
         CREATE TABLE links (tenant_id uuid NOT NULL, id int, item_id uuid REFERENCES items (id),
            PRIMARY KEY (tenant_id, id));
         SELECT tenancy.protect_table('links');",
        FindingKind::ForeignKeyWithoutTenant,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_granted() {
    findings_after(
        "GRANT TRUNCATE ON items TO tenancy_runtime",
        FindingKind::TruncateGranted,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_column_nullable() {
    findings_after(
        "ALTER TABLE notes DROP CONSTRAINT notes_pkey;
         ALTER TABLE notes ALTER COLUMN tenant_id DROP NOT NULL;",
        FindingKind::TenantColumnNullable,
    )
    .await;
}
