//! Isolation matrix and ATTACKS.md sections A–D, against real PostgreSQL as the unprivileged
//! application role. No session-level state, no LISTEN, no reliance on named prepared
//! statements: this file also runs through PgBouncer (`TENANCY_TEST_PGBOUNCER`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Fixture, sqlstate};
use sqlx::{PgConnection, Postgres, Transaction};
use tenancy_core::{SchemaName, TenantScope};
use tenancy_sqlx::{FindingKind, PoolError, TenantPool, TenantPoolOptions, TenantTx, TxError};
use uuid::Uuid;

/// Who runs the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// Scoped to A (the owner of the targeted row): the positive control.
    Own,
    /// Scoped to B.
    Other,
    /// A transaction of the application role with no tenant setting.
    NoTenant,
    /// The client set `tenancy.tenant_id` to `''` itself.
    Empty,
    /// The client set `tenancy.tenant_id` to a malformed value itself.
    Malformed,
    /// The client set a value that tries to look like an injection.
    Injection,
}

const CTXS: [Ctx; 6] = [
    Ctx::Own,
    Ctx::Other,
    Ctx::NoTenant,
    Ctx::Empty,
    Ctx::Malformed,
    Ctx::Injection,
];

enum AnyTx {
    Tenant(TenantTx),
    Raw(Transaction<'static, Postgres>),
}

impl AnyTx {
    fn conn(&mut self) -> &mut PgConnection {
        match self {
            Self::Tenant(t) => t,
            Self::Raw(t) => t,
        }
    }
}

struct Env {
    fx: Fixture,
    pool: TenantPool,
    raw: sqlx::PgPool,
    a: TenantScope,
    b: TenantScope,
}

impl Env {
    async fn new() -> Self {
        let fx = Fixture::new().await;
        let pool = fx.tenant_pool(2).await;
        // One connection: the forged contexts also run on a connection that earlier carried a
        // tenant (A.8: "same on a fresh connection and a reused one").
        let raw = fx.raw_app_pool(1).await;
        let a = fx.scope_a().await;
        let b = fx.scope_b().await;
        Self {
            fx,
            pool,
            raw,
            a,
            b,
        }
    }

    async fn tx(&self, ctx: Ctx) -> AnyTx {
        let forged = match ctx {
            Ctx::Own => return AnyTx::Tenant(self.pool.begin(&self.a).await.unwrap()),
            Ctx::Other => return AnyTx::Tenant(self.pool.begin(&self.b).await.unwrap()),
            Ctx::NoTenant => None,
            Ctx::Empty => Some(""),
            Ctx::Malformed => Some("not-a-uuid"),
            Ctx::Injection => Some("' OR true --"),
        };
        let mut tx = self.raw.begin().await.unwrap();
        if let Some(v) = forged {
            sqlx::query("SELECT set_config('tenancy.tenant_id', $1, true)")
                .bind(v)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        AnyTx::Raw(tx)
    }

    /// Drops the database (`WITH (FORCE)`). The pools are not `close()`d: that would wait for
    /// transactions a test still holds.
    async fn close(self) {
        drop(self.pool);
        drop(self.raw);
        self.fx.close().await;
    }
}

/// What a statement is expected to do in a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Succeeds and affects (or returns) exactly this many rows.
    Rows(u64),
    /// Fails with `insufficient_privilege` / row level security violation (42501).
    Denied,
}

/// Runs `sql` (with `$1` = A's tenant id, `$2` = B's tenant id, `$3` = A's item id) in `ctx`,
/// rolled back afterwards, and returns the outcome.
async fn outcome(env: &Env, ctx: Ctx, sql: &'static str) -> Result<u64, String> {
    let mut tx = env.tx(ctx).await;
    let res = sqlx::query(sql)
        .bind(env.fx.a.id.into_uuid())
        .bind(env.fx.b.id.into_uuid())
        .bind(env.fx.a1)
        .fetch_all(tx.conn())
        .await;
    // Statements with RETURNING or SELECT report rows; others report none: count both ways.
    match res {
        Ok(rows) if !rows.is_empty() => Ok(rows.len() as u64),
        Ok(_) => {
            drop(tx);
            let mut tx = env.tx(ctx).await;
            sqlx::query(sql)
                .bind(env.fx.a.id.into_uuid())
                .bind(env.fx.b.id.into_uuid())
                .bind(env.fx.a1)
                .execute(tx.conn())
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| sqlstate(&e).unwrap_or_default())
        }
        Err(e) => Err(sqlstate(&e).unwrap_or_default()),
    }
}

async fn check(env: &Env, sql: &'static str, own: Expect, others: Expect) {
    for ctx in CTXS {
        let want = if ctx == Ctx::Own { own } else { others };
        let got = outcome(env, ctx, sql).await;
        match (want, &got) {
            (Expect::Rows(n), Ok(m)) if *m == n => {}
            (Expect::Denied, Err(code)) if code == "42501" => {}
            _ => panic!("{sql}\n  in {ctx:?}: expected {want:?}, got {got:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_select_forms() {
    let env = Env::new().await;
    // A's row by id: only A sees it.
    check(
        &env,
        "SELECT name FROM items WHERE id = $3 AND $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL",
        Expect::Rows(1),
        Expect::Rows(0),
    )
    .await;
    // A tenant's whole table: A sees its one row; B sees its one row (not A's); no context
    // sees nothing.
    for ctx in CTXS {
        let mut tx = env.tx(ctx).await;
        let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT tenant_id FROM items")
            .fetch_all(tx.conn())
            .await
            .unwrap();
        let want: Vec<Uuid> = match ctx {
            Ctx::Own => vec![env.fx.a.id.into_uuid()],
            Ctx::Other => vec![env.fx.b.id.into_uuid()],
            _ => vec![],
        };
        assert_eq!(tenants, want, "{ctx:?}");
    }
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_insert_forms() {
    let env = Env::new().await;
    let forms: [&'static str; 5] = [
        "INSERT INTO items (tenant_id, name) VALUES ($1, 'new') RETURNING id, $2::uuid, $3::uuid",
        "INSERT INTO items (tenant_id, name) SELECT $1, 'sel' WHERE $2::uuid <> $3::uuid",
        "WITH ins AS (INSERT INTO items (tenant_id, name) VALUES ($1, 'cte') RETURNING id) \
         SELECT id, $2::uuid, $3::uuid FROM ins",
        "INSERT INTO items (tenant_id, id, name) VALUES ($1, $3, 'dup') \
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = 'upsert' RETURNING $2::uuid",
        "INSERT INTO items (tenant_id, id, name) VALUES ($1, gen_random_uuid(), 'ret') \
         RETURNING tenant_id, $2::uuid, $3::uuid",
    ];
    for sql in forms {
        check(&env, sql, Expect::Rows(1), Expect::Denied).await;
    }
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_insert_default_tenant_column() {
    let env = Env::new().await;
    // Without an explicit tenant, the column default (the accessor) applies: A's row for A;
    // with no valid context the default is NULL and the insert fails, never a row for "all".
    let mut tx = env.tx(Ctx::Own).await;
    let t: Uuid =
        sqlx::query_scalar("INSERT INTO items (name) VALUES ('dflt') RETURNING tenant_id")
            .fetch_one(tx.conn())
            .await
            .unwrap();
    assert_eq!(t, env.fx.a.id.into_uuid());
    for ctx in [Ctx::NoTenant, Ctx::Empty, Ctx::Malformed, Ctx::Injection] {
        let mut tx = env.tx(ctx).await;
        let err = sqlx::query("INSERT INTO items (name) VALUES ('dflt')")
            .execute(tx.conn())
            .await
            .unwrap_err();
        let code = sqlstate(&err).unwrap();
        assert!(code == "42501" || code == "23502", "{ctx:?}: {code}");
    }
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_update_forms() {
    let env = Env::new().await;
    let visible_only: [&'static str; 4] = [
        "UPDATE items SET name = 'u' WHERE id = $3 AND $1::uuid <> $2::uuid",
        "UPDATE items i SET name = 'f' FROM (SELECT $3::uuid AS id) s WHERE i.id = s.id AND $1::uuid <> $2::uuid",
        "UPDATE items SET name = 'r' WHERE id = $3 AND $1::uuid <> $2::uuid RETURNING id",
        "UPDATE items SET name = name || '!' WHERE $1::uuid <> $2::uuid AND id = $3",
    ];
    for sql in visible_only {
        check(&env, sql, Expect::Rows(1), Expect::Rows(0)).await;
    }
    // Moving A's row to B: refused for A in every form; invisible to everyone else.
    let moves: [&'static str; 3] = [
        "UPDATE items SET tenant_id = $2 WHERE id = $3 AND $1::uuid IS NOT NULL",
        "UPDATE items i SET tenant_id = s.t FROM (SELECT $2::uuid AS t) s WHERE i.id = $3 AND $1::uuid IS NOT NULL",
        "UPDATE items SET tenant_id = $2 WHERE id = $3 AND $1::uuid IS NOT NULL RETURNING id",
    ];
    for sql in moves {
        for ctx in CTXS {
            let got = outcome(&env, ctx, sql).await;
            if ctx == Ctx::Own {
                assert_eq!(got, Err("42501".to_owned()), "{sql} as A");
            } else {
                assert_eq!(got, Ok(0), "{sql} in {ctx:?}");
            }
        }
    }
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_delete_and_merge_forms() {
    let env = Env::new().await;
    let deletes: [&'static str; 4] = [
        "DELETE FROM items WHERE id = $3 AND $1::uuid <> $2::uuid",
        "DELETE FROM items i USING (SELECT $3::uuid AS id) s WHERE i.id = s.id AND $1::uuid <> $2::uuid",
        "DELETE FROM items WHERE id = $3 AND $1::uuid <> $2::uuid RETURNING name",
        "MERGE INTO items t USING (SELECT $1::uuid AS tenant_id, $3::uuid AS id) s \
         ON t.tenant_id = s.tenant_id AND t.id = s.id AND $2::uuid IS NOT NULL \
         WHEN MATCHED THEN DELETE",
    ];
    for sql in deletes {
        check(&env, sql, Expect::Rows(1), Expect::Rows(0)).await;
    }
    // MERGE with an INSERT branch: A updates its row; anyone else does not see it, falls into
    // NOT MATCHED and the insert of a row for A is refused.
    check(
        &env,
        "MERGE INTO items t USING (SELECT $1::uuid AS tenant_id, $3::uuid AS id) s \
         ON t.tenant_id = s.tenant_id AND t.id = s.id AND $2::uuid IS NOT NULL \
         WHEN MATCHED THEN UPDATE SET name = 'merged' \
         WHEN NOT MATCHED THEN INSERT (tenant_id, id, name) VALUES (s.tenant_id, s.id, 'mi')",
        Expect::Rows(1),
        Expect::Denied,
    )
    .await;
    // MERGE moving the row to B.
    let got = outcome(
        &env,
        Ctx::Own,
        "MERGE INTO items t USING (SELECT $3::uuid AS id) s ON t.id = s.id AND $1::uuid IS NOT NULL \
         WHEN MATCHED THEN UPDATE SET tenant_id = $2",
    )
    .await;
    assert_eq!(got, Err("42501".to_owned()));
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_forms_run_and_closure_commits() {
    let env = Env::new().await;
    #[derive(sqlx::FromRow)]
    struct Item {
        id: Uuid,
        name: String,
    }
    let mut tx = env.pool.begin(&env.a).await.unwrap();
    let items: Vec<Item> = sqlx::query_as("SELECT id, name FROM items")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0].id, items[0].name.as_str()), (env.fx.a1, "a-one"));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let done = sqlx::query("INSERT INTO items (name) VALUES ('committed')")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    // Settings visible inside, typed.
    let (t, u, r): (Option<Uuid>, Option<Uuid>, Option<String>) = sqlx::query_as(
        "SELECT tenancy.current_tenant_id(), tenancy.current_user_id(), tenancy.current_member_role()",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(t, Some(env.fx.a.id.into_uuid()));
    assert_eq!(u, Some(env.fx.ua.into_uuid()));
    assert_eq!(r.as_deref(), Some("admin"));
    tx.commit().await.unwrap();

    // The closure form commits on Ok and rolls back on Err.
    let inserted: u64 = env
        .pool
        .run(&env.a, |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO items (name) VALUES ('by-run')")
                    .execute(&mut **tx)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(TxError::Begin)
            })
        })
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let failed: Result<(), TxError> = env
        .pool
        .run(&env.a, |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO items (name) VALUES ('rolled-back')")
                    .execute(&mut **tx)
                    .await
                    .map_err(TxError::Begin)?;
                Err(TxError::TenantMismatch {
                    active: tx.tenant_id(),
                    requested: tx.tenant_id(),
                })
            })
        })
        .await;
    assert!(failed.is_err());
    let mut tx = env.pool.begin(&env.a).await.unwrap();
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items ORDER BY name")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(names, ["a-one", "by-run", "committed"]);
    tx.rollback().await.unwrap();
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_scope_same_tenant_only() {
    let env = Env::new().await;
    let mut tx = env.pool.begin(&env.a).await.unwrap();
    match tx.nested(&env.b).await {
        Err(TxError::TenantMismatch { active, requested }) => {
            assert_eq!((active, requested), (env.fx.a.id, env.fx.b.id));
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    {
        let mut inner = tx.nested(&env.a).await.unwrap();
        sqlx::query("INSERT INTO items (name) VALUES ('inner-kept')")
            .execute(&mut *inner)
            .await
            .unwrap();
        inner.commit().await.unwrap();
    }
    {
        let mut inner = tx.nested(&env.a).await.unwrap();
        sqlx::query("INSERT INTO items (name) VALUES ('inner-dropped')")
            .execute(&mut *inner)
            .await
            .unwrap();
        // dropped: rolled back to the savepoint
    }
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items ORDER BY name")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(names, ["a-one", "inner-kept"]);
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_scope_failures_name_the_savepoint() {
    let env = Env::new().await;
    // A failed statement aborts the savepoint. Ended with `commit`, the release fails and the
    // error says so (not "could not commit the tenant transaction"); ended with `rollback` (the
    // usual recovery), it succeeds. Either way the outer transaction goes on, still as tenant A
    // (positive control: A's own row, nothing else).
    for release in [true, false] {
        let mut tx = env.pool.begin(&env.a).await.unwrap();
        let mut inner = tx.nested(&env.a).await.unwrap();
        assert!(
            sqlx::query("SELECT no_such_column FROM items")
                .execute(&mut *inner)
                .await
                .is_err()
        );
        if release {
            match inner.commit().await {
                Err(e @ TxError::ReleaseSavepoint(_)) => {
                    assert_eq!(e.to_string(), "could not release the nested tenant scope");
                }
                other => panic!("expected a savepoint release failure, got {other:?}"),
            }
        } else {
            inner.rollback().await.unwrap();
        }
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM items ORDER BY name")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert_eq!(names, ["a-one"], "release: {release}");
        tx.rollback().await.unwrap();
    }
    env.close().await;
}

// ---- A. Privileges and policy coverage -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_privileged_runtime_role_refused_at_startup() {
    let fx = Fixture::new().await;
    // The superuser: refused, with the reason named.
    let err = TenantPoolOptions::new()
        .max_connections(1)
        .refuse_on_audit_errors(false)
        .connect_with(fx.db.admin_connect_options())
        .await
        .unwrap_err();
    match err {
        PoolError::Findings(f) => {
            assert!(
                f.iter()
                    .any(|f| f.kind == FindingKind::RuntimeRoleSuperuser),
                "{f:?}"
            );
            assert!(
                f.iter()
                    .any(|f| f.kind == FindingKind::RuntimeRoleOwnsTenantTable)
            );
        }
        other => panic!("expected findings, got {other:?}"),
    }
    // Positive control: the application role starts.
    let pool = fx.tenant_pool(1).await;
    pool.close().await;
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a6_truncate_denied() {
    let env = Env::new().await;
    for ctx in [Ctx::Own, Ctx::NoTenant] {
        let mut tx = env.tx(ctx).await;
        let err = sqlx::query("TRUNCATE items")
            .execute(tx.conn())
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{ctx:?}");
    }
    let mut tx = env.tx(Ctx::Other).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(n, 1, "B's row survives");
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_error_bodies_carry_no_sql() {
    let env = Env::new().await;
    let mut tx = env.pool.begin(&env.b).await.unwrap();
    let err = sqlx::query("INSERT INTO items (tenant_id, name) VALUES ($1, 'x')")
        .bind(env.fx.a.id.into_uuid())
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"));
    // The library's own errors say what failed, never the database text.
    let e = TxError::Begin(err);
    assert_eq!(e.to_string(), "could not begin the tenant transaction");
    env.close().await;
}

// ---- B. Context lifecycle and pooling -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b11_interleaved_tenants_on_a_small_pool() {
    let env = Env::new().await;
    let mut handles = Vec::new();
    for i in 0..400u32 {
        let pool = env.pool.clone();
        // A deterministic but irregular schedule of tenants.
        let (scope, want) = if (i * 7919) % 5 < 2 {
            (env.a.clone(), env.fx.a.id.into_uuid())
        } else {
            (env.b.clone(), env.fx.b.id.into_uuid())
        };
        handles.push(tokio::spawn(async move {
            let mut tx = pool.begin(&scope).await.unwrap();
            if i % 3 == 0 {
                tokio::task::yield_now().await;
            }
            let rows: Vec<Uuid> = sqlx::query_scalar("SELECT tenant_id FROM items")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            if i % 2 == 0 {
                tx.commit().await.unwrap();
            }
            assert_eq!(rows, vec![want]);
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(env.pool.inspect_connection().await.unwrap().is_clean());
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b12_statement_timeout_bounds_long_statements() {
    let env = Env::new().await;
    let short = TenantPoolOptions::new()
        .max_connections(1)
        .statement_timeout(Some(Duration::from_millis(50)))
        .connect_with(env.fx.db.app_connect_options().unwrap())
        .await
        .unwrap();
    let mut tx = short.begin(&env.a).await.unwrap();
    let err = sqlx::query("SELECT pg_sleep(10)")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"));
    drop(tx);
    // The timeout is transaction-local: the next borrower's connection is clean, and the
    // default pool's timeout is 30 s.
    let mut tx = env.pool.begin(&env.a).await.unwrap();
    let t: String = sqlx::query_scalar("SELECT current_setting('statement_timeout')")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(t, "30s");
    drop(tx);
    short.close().await;
    env.close().await;
}

// ---- C. Side channels and integrity ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c15_unique_keys_are_per_tenant() {
    let env = Env::new().await;
    let mut tx = env.pool.begin(&env.b).await.unwrap();
    // A already has "a-one"; B can create its own "a-one" (no existence oracle).
    sqlx::query("INSERT INTO items (name) VALUES ('a-one')")
        .execute(&mut *tx)
        .await
        .unwrap();
    // Positive control: B's own duplicate is refused.
    let err = sqlx::query("INSERT INTO items (name) VALUES ('b-one')")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23505"));
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c16_composite_foreign_keys_same_error_for_other_tenant_and_missing_row() {
    let env = Env::new().await;
    let attempt = |item: Uuid| {
        let pool = env.pool.clone();
        let b = env.b.clone();
        async move {
            let mut tx = pool.begin(&b).await.unwrap();
            sqlx::query("INSERT INTO notes (item_id) VALUES ($1)")
                .bind(item)
                .execute(&mut *tx)
                .await
        }
    };
    let to_a = attempt(env.fx.a1).await.unwrap_err();
    let to_missing = attempt(Uuid::new_v4()).await.unwrap_err();
    assert_eq!(sqlstate(&to_a).as_deref(), Some("23503"));
    assert_eq!(sqlstate(&to_missing), sqlstate(&to_a));
    let msg = |e: &sqlx::Error| e.as_database_error().unwrap().message().to_owned();
    assert_eq!(msg(&to_a), msg(&to_missing));
    // Positive control: B links to its own row.
    attempt(env.fx.b1).await.unwrap();
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c19_copy_is_scoped_or_refused() {
    let env = Env::new().await;
    use futures_util::StreamExt as _;
    for (scope, want) in [(&env.a, "a-one"), (&env.b, "b-one")] {
        let mut tx = env.pool.begin(scope).await.unwrap();
        // `COPY table TO` on a table with row level security is refused by PostgreSQL...
        let direct = match tx.copy_out_raw("COPY items (name) TO STDOUT").await {
            Ok(mut s) => s.next().await.map(|r| r.map(|b| b.to_vec())),
            Err(e) => Some(Err(e)),
        };
        match direct {
            Some(Err(e)) => assert_eq!(sqlstate(&e).as_deref(), Some("0A000")),
            other => {
                // ...or, where allowed, scoped by the policies.
                let bytes = other.unwrap().unwrap();
                assert_eq!(String::from_utf8(bytes).unwrap().trim(), want);
            }
        }
        drop(tx);
        // `COPY (SELECT ..) TO` is scoped.
        let mut tx = env.pool.begin(scope).await.unwrap();
        let mut out = Vec::new();
        let mut s = tx
            .copy_out_raw("COPY (SELECT name FROM items) TO STDOUT")
            .await
            .unwrap();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        drop(s);
        assert_eq!(String::from_utf8(out).unwrap(), format!("{want}\n"));
        drop(tx);
        // `COPY FROM` into a table with row level security is refused.
        let mut tx = env.pool.begin(scope).await.unwrap();
        let err = match tx.copy_in_raw("COPY items (name) FROM STDIN").await {
            Ok(mut c) => {
                c.send(b"x\n".as_slice()).await.unwrap();
                c.finish().await.unwrap_err()
            }
            Err(e) => e,
        };
        assert_eq!(sqlstate(&err).as_deref(), Some("0A000"));
    }
    env.close().await;
}

// ---- D. Schema per tenant -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d20_d22_schema_tenants_see_exactly_their_schema() {
    let env = Env::new().await;
    let sa = env.fx.schema_tenant("schema-a", "tenant_sa", true).await;
    let sb = env.fx.schema_tenant("schema-b", "tenant_sb", true).await;
    for (scope, own, other) in [
        (&sa, "tenant_sa", "tenant_sb"),
        (&sb, "tenant_sb", "tenant_sa"),
    ] {
        let mut tx = env.pool.begin(scope).await.unwrap();
        let path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(path, format!("\"{own}\", pg_catalog, pg_temp"));
        // Unqualified names resolve to the tenant's schema (positive control).
        let body: String = sqlx::query_scalar("SELECT body FROM docs")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(body, format!("{own} doc"));
        // A qualified name of the other tenant's schema: no rows, no writes.
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {other}.docs"
        )))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(n, 0);
        let err = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {other}.docs VALUES (2, 'planted')"
        )))
        .execute(&mut *tx)
        .await
        .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"));
        drop(tx);
        // `public` is not on the path: the shared tables are not reachable unqualified.
        let mut tx = env.pool.begin(scope).await.unwrap();
        let err = sqlx::query("SELECT count(*) FROM items")
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("42P01"));
    }
    // Dangerous names never become a schema name.
    for bad in [
        "a,public",
        "\"x\"",
        "$user",
        "pg_temp",
        "public",
        "tenant_a; drop",
        "Tenant",
    ] {
        assert!(SchemaName::parse(bad).is_err(), "{bad}");
    }
    env.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d21_missing_schema_is_an_error_not_public() {
    let env = Env::new().await;
    let ghost = env
        .fx
        .schema_tenant("schema-ghost", "tenant_ghost", false)
        .await;
    match env.pool.begin(&ghost).await {
        Err(TxError::MissingSchema(s)) => assert_eq!(s.as_str(), "tenant_ghost"),
        other => panic!("expected MissingSchema, got {other:?}"),
    }
    // The failed begin left nothing behind.
    assert!(env.pool.inspect_connection().await.unwrap().is_clean());
    env.close().await;
}
