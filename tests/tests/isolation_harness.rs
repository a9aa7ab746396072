//! The isolation property harness against real PostgreSQL as the unprivileged runtime role:
//! random data in two protected sample tables (one with a composite foreign key to the other)
//! must pass every check, and three deliberately broken tables prove the harness notices holes
//! (row level security off, a permissive catch-all without the restrictive policy) and missing
//! data (no rows of B).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tenancy_core::{
    InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant, TenantId, TenantKey, TenantScope,
    UserId, authorize,
};
use tenancy_sqlx::testing::TestDatabase;
use tenancy_sqlx::{TenantPool, TenantPoolOptions};
use tenancy_tests::isolation::{Check, IsolationHarness, IsolationReport, Outcome};
use uuid::Uuid;

const SAMPLE_SCHEMA: &str = r#"
CREATE TABLE accounts (
    tenant_id uuid NOT NULL,
    id        uuid NOT NULL DEFAULT gen_random_uuid(),
    name      text NOT NULL,
    balance   bigint NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
SELECT tenancy.protect_table('accounts');
CREATE TABLE entries (
    tenant_id  uuid NOT NULL,
    id         bigint GENERATED ALWAYS AS IDENTITY,
    account_id uuid NOT NULL,
    memo       text,
    amount     bigint NOT NULL,
    magnitude  bigint GENERATED ALWAYS AS (abs(amount)) STORED,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id)
);
SELECT tenancy.protect_table('entries');
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, entries TO tenancy_runtime;
"#;

struct Env {
    db: TestDatabase,
    runtime: TenantPool,
    plain: sqlx::PgPool,
    a: TenantScope,
    b: TenantScope,
}

impl Env {
    /// A test database with `ddl` applied, two authorised tenants and the runtime pools. The
    /// tenant pool does not refuse to start on audit errors: the negative controls are holes
    /// on purpose.
    async fn new(ddl: &str) -> Self {
        let db = TestDatabase::new().await.expect("test database");
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl.to_owned()))
            .execute(db.admin_pool())
            .await
            .expect("schema");
        let tenants = InMemoryTenantStore::new();
        let members = InMemoryMembershipStore::new();
        let ta = Tenant::new(TenantId::new_random(), "tenant-a".parse().unwrap(), "A");
        let tb = Tenant::new(TenantId::new_random(), "tenant-b".parse().unwrap(), "B");
        let (ua, ub) = (UserId::new_random(), UserId::new_random());
        tenants.insert(ta.clone());
        tenants.insert(tb.clone());
        members.insert(ta.id, ua, Role::Member);
        members.insert(tb.id, ub, Role::Member);
        let a = authorize(&tenants, &members, &TenantKey::Id(ta.id), ua)
            .await
            .unwrap();
        let b = authorize(&tenants, &members, &TenantKey::Slug(tb.slug.clone()), ub)
            .await
            .unwrap();
        let runtime = TenantPoolOptions::new()
            .max_connections(2)
            .refuse_on_audit_errors(false)
            .statement_timeout(Some(Duration::from_secs(30)))
            .connect_with(db.app_connect_options().unwrap())
            .await
            .expect("tenant pool");
        let plain = db.app_pool(1).await.expect("plain runtime pool");
        Self {
            db,
            runtime,
            plain,
            a,
            b,
        }
    }

    fn a(&self) -> Uuid {
        self.a.tenant_id().into_uuid()
    }

    fn b(&self) -> Uuid {
        self.b.tenant_id().into_uuid()
    }

    async fn run(&self, schemas: &[&str]) -> IsolationReport {
        IsolationHarness::new(
            self.db.admin_pool().clone(),
            self.runtime.clone(),
            self.a.clone(),
            self.b.clone(),
        )
        .schemas(schemas.iter().copied())
        .plain_runtime_pool(self.plain.clone())
        .run()
        .await
        .expect("harness runs")
    }

    async fn close(self) {
        drop(self.runtime);
        drop(self.plain);
        self.db.close().await.expect("drop test database");
    }
}

/// One tenant's random data: accounts, and entries pointing at one of them by index.
#[derive(Debug, Clone)]
struct TenantData {
    accounts: Vec<(String, i64)>,
    entries: Vec<(usize, Option<String>, i64)>,
}

fn tenant_data() -> impl Strategy<Value = TenantData> {
    (
        prop::collection::vec(("\\PC{0,24}", any::<i64>()), 0..20),
        prop::collection::vec(
            (
                any::<usize>(),
                prop::option::of("\\PC{0,24}"),
                -1_000_000_000i64..1_000_000_000,
            ),
            0..20,
        ),
    )
        .prop_map(|(accounts, entries)| TenantData { accounts, entries })
}

/// Seeds one tenant's data as admin; returns (accounts, entries) inserted.
async fn seed(env: &Env, tenant: Uuid, data: &TenantData) -> (usize, usize) {
    let admin = env.db.admin_pool();
    let mut ids = Vec::new();
    for (name, balance) in &data.accounts {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO accounts (tenant_id, name, balance) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(tenant)
        .bind(name)
        .bind(balance)
        .fetch_one(admin)
        .await
        .unwrap();
        ids.push(id);
    }
    let mut entries = 0;
    if !ids.is_empty() {
        for (i, memo, amount) in &data.entries {
            sqlx::query(
                "INSERT INTO entries (tenant_id, account_id, memo, amount) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant)
            .bind(ids[i % ids.len()])
            .bind(memo)
            .bind(amount)
            .execute(admin)
            .await
            .unwrap();
            entries += 1;
        }
    }
    (ids.len(), entries)
}

/// Random rows (0..20 per tenant and table, random payloads): no check ever fails, every
/// check passes when both tenants have rows, and an empty side is reported inconclusive.
#[test]
fn protected_sample_tables_pass_for_random_data() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let env = rt.block_on(Env::new(SAMPLE_SCHEMA));
    let mut runner = TestRunner::new(Config {
        cases: 8,
        failure_persistence: None,
        ..Config::default()
    });
    // Cases where both tenants own rows in both tables (the fully conclusive ones).
    let conclusive = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&(tenant_data(), tenant_data()), |(da, db)| {
        rt.block_on(async {
            sqlx::raw_sql("TRUNCATE entries, accounts")
                .execute(env.db.admin_pool())
                .await
                .unwrap();
            let (acc_a, ent_a) = seed(&env, env.a(), &da).await;
            let (acc_b, ent_b) = seed(&env, env.b(), &db).await;
            let report = env.run(&["public"]).await;
            prop_assert_eq!(report.tables.len(), 2, "{}", report);
            prop_assert!(report.has_no_failures(), "{}", report);
            for (table, rows_a, rows_b) in [("accounts", acc_a, acc_b), ("entries", ent_a, ent_b)] {
                let t = report.table("public", table).unwrap();
                prop_assert_eq!((t.rows_a, t.rows_b), (rows_a as i64, rows_b as i64));
                // Privilege checks never depend on data.
                prop_assert_eq!(t.outcome(Check::TruncateDenied), Some(&Outcome::Passed));
                let both = rows_a > 0 && rows_b > 0;
                prop_assert_eq!(t.all_passed(), both, "{}", report);
                let own = t.outcome(Check::SeesOnlyOwnRows).unwrap();
                if rows_b == 0 {
                    let Outcome::Inconclusive { why } = own else {
                        return Err(TestCaseError::fail(format!("{own:?}")));
                    };
                    if rows_a > 0 {
                        prop_assert!(why.contains("no data for B"), "{}", why);
                    }
                    prop_assert!(
                        t.outcome(Check::InsertForOtherDenied)
                            .unwrap()
                            .is_inconclusive()
                    );
                }
            }
            if report.tables.iter().all(|t| t.rows_a > 0 && t.rows_b > 0) {
                report.assert_isolated();
                conclusive.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // With 0..20 rows per side, all 8 cases lacking data somewhere is ~1e-6 likely.
    assert!(
        conclusive.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no case gave both tenants rows in both tables"
    );
    rt.block_on(env.close());
}

/// A broken table in its own schema, protected first and then weakened by `weaken`.
fn broken_table(schema: &str, weaken: &str) -> String {
    format!(
        "CREATE SCHEMA {schema};
         GRANT USAGE ON SCHEMA {schema} TO tenancy_runtime;
         CREATE TABLE {schema}.docs (
             tenant_id uuid NOT NULL,
             id        uuid NOT NULL DEFAULT gen_random_uuid(),
             body      text NOT NULL,
             PRIMARY KEY (tenant_id, id)
         );
         SELECT tenancy.protect_table('{schema}.docs');
         GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.docs TO tenancy_runtime;
         {weaken}"
    )
}

async fn seed_docs(env: &Env, schema: &str, tenant: Uuid, n: usize) {
    for i in 0..n {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {schema}.docs (tenant_id, body) VALUES ($1, $2)"
        )))
        .bind(tenant)
        .bind(format!("doc {i}"))
        .execute(env.db.admin_pool())
        .await
        .unwrap();
    }
}

fn failed(report: &IsolationReport, schema: &str, check: Check) -> String {
    match report
        .table(schema, "docs")
        .unwrap()
        .outcome(check)
        .unwrap()
    {
        Outcome::Failed { detail } => detail.clone(),
        other => panic!("{check} on {schema}.docs: expected a failure, got {other:?}\n{report}"),
    }
}

/// Positive control for the negative controls: the same table, protected and untouched, with
/// rows of both tenants, passes every check; also without a plain runtime pool (the no-tenant
/// contexts then reset the settings inside a tenant transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_table_passes() {
    let env = Env::new(&broken_table("intact", "")).await;
    seed_docs(&env, "intact", env.a(), 3).await;
    seed_docs(&env, "intact", env.b(), 2).await;
    let report = env.run(&["intact"]).await;
    report.assert_isolated();
    let t = report.table("intact", "docs").unwrap();
    assert_eq!((t.rows_a, t.rows_b, t.rows_total), (3, 2, 5));
    IsolationHarness::new(
        env.db.admin_pool().clone(),
        env.runtime.clone(),
        env.a.clone(),
        env.b.clone(),
    )
    .schemas(["intact"])
    .assert_isolated()
    .await;
    env.close().await;
}

/// (a) Row level security disabled: A sees B's rows, and the writes reach them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rls_disabled_is_caught() {
    let env = Env::new(&broken_table(
        "rls_off",
        "ALTER TABLE rls_off.docs NO FORCE ROW LEVEL SECURITY;
         ALTER TABLE rls_off.docs DISABLE ROW LEVEL SECURITY;",
    ))
    .await;
    seed_docs(&env, "rls_off", env.a(), 3).await;
    seed_docs(&env, "rls_off", env.b(), 2).await;
    let report = env.run(&["rls_off"]).await;
    let detail = failed(&report, "rls_off", Check::SeesOnlyOwnRows);
    assert!(
        detail.contains("A sees 2 row(s) of other tenants"),
        "{detail}"
    );
    failed(&report, "rls_off", Check::UpdateCannotReassign);
    failed(&report, "rls_off", Check::InsertForOtherDenied);
    failed(&report, "rls_off", Check::DeleteOtherNoop);
    failed(&report, "rls_off", Check::NoTenantSeesNothing);
    failed(&report, "rls_off", Check::MalformedTenantSeesNothing);
    // TRUNCATE is still revoked by protect_table.
    let t = report.table("rls_off", "docs").unwrap();
    assert_eq!(t.outcome(Check::TruncateDenied), Some(&Outcome::Passed));
    let panic = std::panic::catch_unwind(|| report.assert_isolated()).unwrap_err();
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(msg.contains("rls_off.docs | sees_only_own_rows"), "{msg}");
    env.close().await;
}

/// (b) A permissive `USING (true)` policy without the restrictive `tenant_isolation` one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_catch_all_is_caught() {
    let env = Env::new(&broken_table(
        "leaky",
        "DROP POLICY tenant_isolation ON leaky.docs;
         CREATE POLICY everyone ON leaky.docs AS PERMISSIVE FOR ALL TO PUBLIC USING (true);",
    ))
    .await;
    seed_docs(&env, "leaky", env.a(), 2).await;
    seed_docs(&env, "leaky", env.b(), 4).await;
    let report = env.run(&["leaky"]).await;
    let detail = failed(&report, "leaky", Check::SeesOnlyOwnRows);
    assert!(
        detail.contains("A sees 4 row(s) of other tenants"),
        "{detail}"
    );
    failed(&report, "leaky", Check::UpdateCannotReassign);
    failed(&report, "leaky", Check::NoTenantSeesNothing);
    assert!(!report.has_no_failures());
    env.close().await;
}

/// (c) No rows of B: nothing could leak, so the checks that need B's rows are inconclusive,
/// not passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_data_of_b_is_inconclusive() {
    let env = Env::new(&broken_table("only_a", "")).await;
    seed_docs(&env, "only_a", env.a(), 3).await;
    let report = env.run(&["only_a"]).await;
    assert!(report.has_no_failures(), "{report}");
    assert!(!report.is_isolated());
    let t = report.table("only_a", "docs").unwrap();
    for check in [
        Check::SeesOnlyOwnRows,
        Check::InsertForOtherDenied,
        Check::DeleteOtherNoop,
    ] {
        match t.outcome(check).unwrap() {
            Outcome::Inconclusive { why } => {
                assert!(
                    why.contains("no data for B in table `only_a.docs`"),
                    "{why}"
                )
            }
            other => panic!("{check}: expected inconclusive, got {other:?}"),
        }
    }
    assert_eq!(
        t.outcome(Check::UpdateCannotReassign),
        Some(&Outcome::Passed)
    );
    assert!(std::panic::catch_unwind(|| report.assert_isolated()).is_err());
    env.close().await;
}

/// The harness refuses to prove anything over schemas without tenant tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tables_is_an_error() {
    let env = Env::new("CREATE SCHEMA empty;").await;
    let err = IsolationHarness::new(
        env.db.admin_pool().clone(),
        env.runtime.clone(),
        env.a.clone(),
        env.b.clone(),
    )
    .schemas(["empty"])
    .run()
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("no table with column `tenant_id`"),
        "{err}"
    );
    env.close().await;
}
