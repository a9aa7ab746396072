//! ATTACKS.md B.9: with a pool of ONE connection, after commit, rollback, error, panic and
//! futures dropped at every await point of `begin` and of a query, the next borrower sees no
//! transaction and no tenant.
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
use tenancy_core::TenantScope;
use tenancy_sqlx::TenantPool;
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
