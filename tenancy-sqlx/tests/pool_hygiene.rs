//! ATTACKS.md B.9: with a pool of ONE connection, after commit, rollback, error, panic and
//! futures dropped at every await point of `begin` and of a query, the next borrower sees no
//! transaction and no tenant. Session state a handler plants through the escape hatch (`&mut
//! *tx` is a `PgConnection`: session-level `SET`, advisory locks, SQL `PREPARE`, `WITH HOLD`
//! cursors) never reaches the next borrower: the connection is closed and counted under its
//! reason, while a connection returned clean is reused (same backend pid).
//!
//! Cancellation is deterministic: the future is polled by hand `n` times (n = 0, 1, 2, .. until
//! it completes), each poll after the previous one's wake-up (a waker that signals a `Notify`),
//! so poll `k` is the `k`-th await point reached; then it is dropped. No sleeps, no timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use common::Fixture;
use sqlx::Connection as _;
use tenancy_core::TenantScope;
use tenancy_sqlx::{DiscardReason, TenantPool, TenantPoolOptions, TenantTx};
use tokio::sync::Notify;

struct Signal(Notify);

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }
}

/// Polls `fut` at most `n` times, each time after it asked to be woken; `Some` if it completed.
async fn poll_n<F: Future>(mut fut: Pin<&mut F>, n: usize) -> Option<F::Output> {
    let signal = Arc::new(Signal(Notify::new()));
    let waker = Waker::from(Arc::clone(&signal));
    for i in 0..n {
        if i > 0 {
            signal.0.notified().await;
        }
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            return Some(out);
        }
    }
    None
}

async fn assert_next_borrower_clean(pool: &TenantPool, what: &str) {
    let state = pool.inspect_connection().await.unwrap();
    assert!(state.is_clean(), "after {what}: {state:?}");
    assert!(!state.open_transaction, "after {what}");
    assert!(
        state.tenant_id.as_deref().is_none_or(str::is_empty),
        "after {what}"
    );
}

/// Positive control: inside a transaction the probe's own check does see the tenant.
async fn assert_tenant_visible_inside(pool: &TenantPool, scope: &TenantScope) {
    let mut tx = pool.begin(scope).await.unwrap();
    let t: Option<String> = sqlx::query_scalar("SELECT current_setting('tenancy.tenant_id', true)")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(t, Some(scope.tenant_id().to_string()));
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_commit_rollback_error_and_drop() {
    let fx = Fixture::new().await;
    let pool = fx.tenant_pool(1).await;
    let a = fx.scope_a().await;
    assert_tenant_visible_inside(&pool, &a).await;
    assert_next_borrower_clean(&pool, "commit").await;

    let tx = pool.begin(&a).await.unwrap();
    tx.rollback().await.unwrap();
    assert_next_borrower_clean(&pool, "rollback").await;

    let mut tx = pool.begin(&a).await.unwrap();
    assert!(sqlx::query("SELECT 1/0").execute(&mut *tx).await.is_err());
    drop(tx);
    assert_next_borrower_clean(&pool, "error").await;

    let mut tx = pool.begin(&a).await.unwrap();
    sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
    drop(tx);
    assert_next_borrower_clean(&pool, "drop").await;
    pool.close().await;
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_panic_in_a_spawned_task() {
    let fx = Fixture::new().await;
    let pool = fx.tenant_pool(1).await;
    let a = fx.scope_a().await;
    let p = pool.clone();
    let res = tokio::spawn(async move {
        let mut tx = p.begin(&a).await.unwrap();
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
        panic!("handler bug while the tenant transaction is open");
    })
    .await;
    assert!(res.unwrap_err().is_panic());
    assert_next_borrower_clean(&pool, "panic").await;
    pool.close().await;
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_dropping_begin_at_every_await_point() {
    let fx = Fixture::new().await;
    let pool = fx.tenant_pool(1).await;
    let a = fx.scope_a().await;
    let mut completed = 0;
    for n in 0..40 {
        {
            let mut fut = Box::pin(pool.begin(&a));
            if let Some(r) = poll_n(fut.as_mut(), n).await {
                completed += 1;
                drop(r.unwrap());
            }
        }
        assert_next_borrower_clean(&pool, &format!("begin dropped after {n} polls")).await;
    }
    // Positive control: the loop did reach completion of `begin` for large n.
    assert!(completed > 0, "begin never completed");
    assert_tenant_visible_inside(&pool, &a).await;
    pool.close().await;
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_dropping_a_query_at_every_await_point() {
    let fx = Fixture::new().await;
    let pool = fx.tenant_pool(1).await;
    let a = fx.scope_a().await;
    let mut completed = 0;
    for n in 0..40 {
        {
            let mut tx = pool.begin(&a).await.unwrap();
            let mut fut = Box::pin(
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM items, generate_series(1, 2000)",
                )
                .fetch_one(&mut *tx),
            );
            if poll_n(fut.as_mut(), n).await.is_some() {
                completed += 1;
            }
        }
        assert_next_borrower_clean(&pool, &format!("query dropped after {n} polls")).await;
    }
    assert!(completed > 0, "the query never completed");
    pool.close().await;
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_session_state_is_detected_and_the_connection_closed() {
    let fx = Fixture::new().await;
    let pool = fx.tenant_pool(1).await;
    let a = fx.scope_a().await;
    // A handler misusing the connection: session-level tenant setting inside the transaction
    // (set_config(.., false) survives COMMIT).
    let mut tx = pool.begin(&a).await.unwrap();
    sqlx::query("SELECT set_config('tenancy.tenant_id', $1, false)")
        .bind(fx.b.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_next_borrower_clean(&pool, "session-level set_config").await;
    assert!(pool.discarded_connections() >= 1);

    // A temporary table.
    let before = pool.discarded_connections();
    let mut tx = pool.begin(&a).await.unwrap();
    sqlx::query("CREATE TEMP TABLE scratch (x int)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_next_borrower_clean(&pool, "temporary table").await;
    assert_eq!(pool.discarded_connections(), before + 1);

    // Positive control: a clean transaction does not discard the connection.
    let before = pool.discarded_connections();
    let tx = pool.begin(&a).await.unwrap();
    tx.commit().await.unwrap();
    assert_next_borrower_clean(&pool, "clean commit").await;
    assert_eq!(pool.discarded_connections(), before);
    pool.close().await;
    fx.close().await;
}

/// One kind of session state a handler can leave behind through `&mut *tx`.
struct Leak {
    what: &'static str,
    reason: DiscardReason,
    /// Run inside a transaction on the borrowed connection.
    plant: &'static str,
    /// What a borrower of the same connection would see of it (one text value).
    probe: &'static str,
}

const LEAKS: &[Leak] = &[
    Leak {
        what: "session-level search_path (a schema tenant's schema)",
        reason: DiscardReason::SessionSetting,
        plant: "SET search_path = tenant_b, public",
        probe: "SELECT current_setting('search_path')",
    },
    Leak {
        what: "session-level search_path through set_config(.., false)",
        reason: DiscardReason::SessionSetting,
        plant: "SELECT set_config('search_path', 'tenant_b', false)",
        probe: "SELECT current_setting('search_path')",
    },
    Leak {
        what: "session-level statement_timeout",
        reason: DiscardReason::SessionSetting,
        plant: "SET statement_timeout = '4321s'",
        probe: "SELECT current_setting('statement_timeout')",
    },
    Leak {
        what: "session-level lock_timeout",
        reason: DiscardReason::SessionSetting,
        plant: "SET lock_timeout = '4322s'",
        probe: "SELECT current_setting('lock_timeout')",
    },
    Leak {
        what: "session-level idle_in_transaction_session_timeout",
        reason: DiscardReason::SessionSetting,
        plant: "SET idle_in_transaction_session_timeout = '4323s'",
        probe: "SELECT current_setting('idle_in_transaction_session_timeout')",
    },
    Leak {
        what: "SET SESSION CHARACTERISTICS (every later transaction read-only)",
        reason: DiscardReason::SessionSetting,
        plant: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        probe: "SELECT current_setting('default_transaction_read_only')",
    },
    Leak {
        what: "session-level TimeZone",
        reason: DiscardReason::SessionSetting,
        plant: "SET TimeZone = 'Pacific/Chatham'",
        probe: "SELECT current_setting('TimeZone')",
    },
    // DateStyle and client_encoding are, like TimeZone, startup parameters of sqlx that the
    // check accepts at session level only at sqlx's value (what PgBouncer re-applies).
    Leak {
        what: "session-level DateStyle",
        reason: DiscardReason::SessionSetting,
        plant: "SET DateStyle = 'German, DMY'",
        probe: "SELECT current_setting('DateStyle')",
    },
    Leak {
        what: "session-level client_encoding",
        reason: DiscardReason::SessionSetting,
        plant: "SET client_encoding = 'LATIN1'",
        probe: "SELECT current_setting('client_encoding')",
    },
    Leak {
        what: "session-level advisory lock",
        reason: DiscardReason::AdvisoryLock,
        plant: "SELECT pg_advisory_lock(4242)",
        probe: "SELECT count(*)::text FROM pg_locks \
                WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    },
    Leak {
        what: "SQL PREPARE",
        reason: DiscardReason::PreparedStatement,
        plant: "PREPARE tenancy_leak AS SELECT 1",
        probe: "SELECT count(*)::text FROM pg_prepared_statements WHERE from_sql",
    },
    Leak {
        what: "cursor WITH HOLD",
        reason: DiscardReason::Cursor,
        plant: "DECLARE tenancy_leak CURSOR WITH HOLD FOR SELECT 1",
        probe: "SELECT count(*)::text FROM pg_cursors WHERE name = 'tenancy_leak'",
    },
];

async fn probe(conn: &mut sqlx::PgConnection, sql: &'static str) -> String {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

async fn backend_pid(tx: &mut TenantTx) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

/// A pool of one connection without a per-transaction `statement_timeout`, so that a leaked
/// session-level timeout is what a borrower's transaction would run with.
async fn pool_of_one(fx: &Fixture) -> TenantPool {
    TenantPoolOptions::new()
        .max_connections(1)
        .statement_timeout(None)
        .connect_with(fx.db.app_connect_options().unwrap())
        .await
        .unwrap()
}

/// Positive control for every kind: without the release check (a plain sqlx pool of one
/// connection, same role) the planted state does reach the next borrower, and the probe sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_check_every_leak_reaches_the_next_borrower() {
    let fx = Fixture::new().await;
    let raw = fx.raw_app_pool(1).await;
    for leak in LEAKS {
        let mut c = raw.acquire().await.unwrap();
        let clean = probe(&mut c, leak.probe).await;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let mut tx = c.begin().await.unwrap();
        sqlx::raw_sql(leak.plant).execute(&mut *tx).await.unwrap();
        let planted = probe(&mut tx, leak.probe).await;
        assert_ne!(planted, clean, "{}: the plant changed nothing", leak.what);
        tx.commit().await.unwrap();
        drop(c);

        let mut c = raw.acquire().await.unwrap();
        let next_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!(next_pid, pid, "{}: same connection", leak.what);
        assert_eq!(
            probe(&mut c, leak.probe).await,
            planted,
            "{}: leaks without the check",
            leak.what
        );
        // Fresh connection for the next kind.
        c.detach().close().await.unwrap();
    }
    raw.close().await;
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_leak_is_closed_counted_and_invisible_to_the_next_borrower() {
    let fx = Fixture::new().await;
    let pool = pool_of_one(&fx).await;
    let a = fx.scope_a().await;
    for leak in LEAKS {
        // Two clean transactions: the connection passes the check and is reused, so the plant
        // below is judged by a connection that was checked before (not by a first check).
        let mut tx = pool.begin(&a).await.unwrap();
        let pid = backend_pid(&mut tx).await;
        let clean = probe(&mut tx, leak.probe).await;
        tx.commit().await.unwrap();
        let mut tx = pool.begin(&a).await.unwrap();
        assert_eq!(backend_pid(&mut tx).await, pid, "{}: reused", leak.what);
        tx.commit().await.unwrap();

        let before = pool.discard_counts();
        let mut tx = pool.begin(&a).await.unwrap();
        assert_eq!(backend_pid(&mut tx).await, pid);
        sqlx::raw_sql(leak.plant).execute(&mut *tx).await.unwrap();
        // Positive control: the leak is there on this connection before it is released.
        let planted = probe(&mut tx, leak.probe).await;
        assert_ne!(planted, clean, "{}: the plant changed nothing", leak.what);
        tx.commit().await.unwrap();

        let mut tx = pool.begin(&a).await.unwrap();
        assert_ne!(
            backend_pid(&mut tx).await,
            pid,
            "{}: the dirty connection was reused",
            leak.what
        );
        assert_eq!(
            probe(&mut tx, leak.probe).await,
            clean,
            "{}: seen by the next borrower",
            leak.what
        );
        tx.commit().await.unwrap();

        let after = pool.discard_counts();
        assert_eq!(
            after.total(),
            before.total() + 1,
            "{}: {after:?}",
            leak.what
        );
        for reason in DiscardReason::ALL {
            let expected = before.get(reason) + u64::from(reason == leak.reason);
            assert_eq!(after.get(reason), expected, "{}: {after:?}", leak.what);
        }
    }
    assert_eq!(pool.discarded_connections(), LEAKS.len() as u64);
    assert!(format!("{pool:?}").contains("discarded"));
    assert!(pool.inspect_connection().await.unwrap().is_clean());
    pool.close().await;
    fx.close().await;
}

/// A connection's first check reads every setting, not only the watched ones: a planner switch
/// changed at session level on a fresh connection is caught too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_check_of_a_connection_sees_any_session_setting() {
    let fx = Fixture::new().await;
    let pool = pool_of_one(&fx).await;
    let a = fx.scope_a().await;
    // Close the pool's connection (checked once already, after the startup audit) so that the
    // next borrower gets a connection that has never been checked.
    let mut tx = pool.begin(&a).await.unwrap();
    let first = backend_pid(&mut tx).await;
    sqlx::raw_sql("LISTEN tenancy_leak")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // With one connection, `begin` waits for the release check of the previous borrower.
    let mut tx = pool.begin(&a).await.unwrap();
    assert_eq!(pool.discard_counts().get(DiscardReason::Listening), 1);
    let fresh = backend_pid(&mut tx).await;
    assert_ne!(fresh, first);
    sqlx::raw_sql("SET enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(probe(&mut tx, "SHOW enable_seqscan").await, "off");
    tx.commit().await.unwrap();

    let mut tx = pool.begin(&a).await.unwrap();
    assert_ne!(backend_pid(&mut tx).await, fresh);
    assert_eq!(probe(&mut tx, "SHOW enable_seqscan").await, "on");
    tx.commit().await.unwrap();
    let counts = pool.discard_counts();
    assert_eq!(counts.get(DiscardReason::SessionSetting), 1, "{counts:?}");
    assert_eq!(counts.total(), 2);
    pool.close().await;
    fx.close().await;
}

/// The check does not simply close everything: a connection used in every ordinary way
/// (transaction-local settings of a schema tenant, `SET LOCAL`, sqlx's own prepared statements,
/// transaction-scoped advisory locks, a cursor without hold, an empty temporary schema, a
/// savepoint, an error, a rollback, sqlx's own startup values of `TimeZone`, `DateStyle` and
/// `client_encoding` set again at session level as PgBouncer does) is reused: same backend pid,
/// nothing counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_connection_is_reused() {
    let fx = Fixture::new().await;
    let pool = pool_of_one(&fx).await;
    let a = fx.scope_a().await;
    let s = fx.schema_tenant("schema-s", "tenant_s", true).await;
    let mut tx = pool.begin(&a).await.unwrap();
    let pid = backend_pid(&mut tx).await;
    tx.commit().await.unwrap();

    let mut tx = pool.begin(&s).await.unwrap();
    assert_eq!(backend_pid(&mut tx).await, pid);
    assert_eq!(
        probe(&mut tx, "SELECT body FROM docs WHERE id = 1").await,
        "tenant_s doc"
    );
    tx.commit().await.unwrap();

    let mut tx = pool.begin(&a).await.unwrap();
    assert_eq!(backend_pid(&mut tx).await, pid);
    sqlx::raw_sql(
        "SET LOCAL search_path = pg_catalog; SET LOCAL lock_timeout = '1s'; \
         SELECT pg_advisory_xact_lock(4242); \
         DECLARE local_cursor CURSOR FOR SELECT 1; \
         CREATE TEMP TABLE scratch (x int) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let n: i32 = sqlx::query_scalar("SELECT $1::int4 + 1")
        .bind(41)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 42);
    {
        let mut nested = tx.nested(&a).await.unwrap();
        assert!(
            sqlx::query("SELECT 1/0")
                .execute(&mut *nested)
                .await
                .is_err()
        );
        nested.rollback().await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = pool.begin(&a).await.unwrap();
    assert_eq!(backend_pid(&mut tx).await, pid);
    assert!(sqlx::query("SELECT 1/0").execute(&mut *tx).await.is_err());
    tx.rollback().await.unwrap();

    // What PgBouncer sends when it hands a server connection to this client: sqlx's startup
    // values, at session level. Emptying the check's marker makes the release check read
    // `pg_settings` again (these values equal the watched ones it recorded).
    let mut tx = pool.begin(&a).await.unwrap();
    assert_eq!(backend_pid(&mut tx).await, pid);
    sqlx::raw_sql(
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET client_encoding = 'UTF8'; \
         SELECT set_config('tenancy.checked_settings', '', false)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let sources = probe(
        &mut tx,
        "SELECT string_agg(name || '=' || setting || ' ' || source, ', ' ORDER BY lower(name)) \
         FROM pg_settings WHERE name IN ('TimeZone', 'DateStyle', 'client_encoding')",
    )
    .await;
    assert_eq!(
        sources,
        "client_encoding=UTF8 session, DateStyle=ISO, MDY session, TimeZone=UTC session"
    );
    tx.commit().await.unwrap();
    let mut tx = pool.begin(&a).await.unwrap();
    assert_eq!(backend_pid(&mut tx).await, pid);
    // The release check read `pg_settings`, found nothing and recorded its marker again.
    assert_ne!(
        probe(
            &mut tx,
            "SELECT current_setting('tenancy.checked_settings')"
        )
        .await,
        ""
    );
    tx.commit().await.unwrap();

    let mut tx = pool.begin(&a).await.unwrap();
    assert_eq!(backend_pid(&mut tx).await, pid);
    let driver_statements: i64 = probe(
        &mut tx,
        "SELECT count(*)::text FROM pg_prepared_statements WHERE NOT from_sql",
    )
    .await
    .parse()
    .unwrap();
    assert!(
        driver_statements > 0,
        "sqlx's own statements stay on the connection"
    );
    tx.commit().await.unwrap();

    assert_eq!(
        pool.discarded_connections(),
        0,
        "{:?}",
        pool.discard_counts()
    );
    let state = pool.inspect_connection().await.unwrap();
    assert!(state.is_clean(), "{state:?}");
    assert!(state.session_settings.is_empty());
    pool.close().await;
    fx.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_pool_runs_the_same_release_check_and_counts_reasons() {
    use tenancy_core::{InMemoryPlatformAdmins, UserId, authorize_platform};
    use tenancy_sqlx::PlatformPool;

    let fx = Fixture::new().await;
    let admins = InMemoryPlatformAdmins::new();
    let admin_id = UserId::new_random();
    admins.insert(admin_id);
    let admin = authorize_platform(&admins, admin_id).await.unwrap();
    let pool = PlatformPool::connect_with(
        sqlx::postgres::PgPoolOptions::new().max_connections(1),
        fx.db.platform_connect_options().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        pool.statement_timeout(),
        Some(tenancy_sqlx::DEFAULT_STATEMENT_TIMEOUT)
    );

    // Positive control first: a clean platform transaction keeps its connection (the second
    // `begin` waits for the release check of the first: there is one connection).
    let tx = pool.begin(&admin).await.unwrap();
    tx.commit().await.unwrap();
    let tx = pool.begin(&admin).await.unwrap();
    assert_eq!(pool.discarded_connections(), 0);
    tx.commit().await.unwrap();

    // A session-level SET outlives the transaction: the connection is closed, with its reason.
    let mut tx = pool.begin(&admin).await.unwrap();
    sqlx::query("SET lock_timeout = '1s'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // One connection: this waits for the release check of the one before.
    let mut tx = pool.begin(&admin).await.unwrap();
    let lock_timeout: String = sqlx::query_scalar("SHOW lock_timeout")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(lock_timeout, "0", "the next borrower got the old session");
    tx.rollback().await.unwrap();
    let counts = pool.discard_counts();
    assert_eq!(pool.discarded_connections(), 1);
    assert_eq!(counts.total(), 1);
    assert_eq!(counts.get(DiscardReason::SessionSetting), 1, "{counts:?}");
    pool.close().await;
    fx.close().await;
}
