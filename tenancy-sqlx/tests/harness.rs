//! Tests of the test harness itself: the application pool really is unprivileged, and the
//! admin pool really is a superuser (positive control).
//!
//! Queries on application and platform pools run inside transactions so that this file also
//! passes through PgBouncer in transaction mode (`TENANCY_TEST_PGBOUNCER`, see
//! `tenancy_sqlx::testing`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenancy_sqlx::testing::{APP_ROLE, PLATFORM_ROLE, TestDatabase, TestDbError};

#[tokio::test]
async fn app_pool_is_neither_superuser_nor_bypassrls() {
    let db = TestDatabase::new().await.unwrap();
    let app = db.app_pool(2).await.unwrap();

    let mut tx = app.begin().await.unwrap();
    let (user, superuser, bypassrls): (String, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(user, APP_ROLE);
    assert_eq!(db.app_role(), APP_ROLE);
    assert!(!superuser, "application role must not be a superuser");
    assert!(
        !bypassrls,
        "application role must not bypass row level security"
    );

    app.close().await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn app_pool_cannot_become_postgres() {
    let db = TestDatabase::new().await.unwrap();
    let app = db.app_pool(1).await.unwrap();

    let mut tx = app.begin().await.unwrap();
    let err = sqlx::query("SET ROLE postgres")
        .execute(&mut *tx)
        .await
        .expect_err("SET ROLE postgres must fail for the application role");
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    // 42501 insufficient_privilege
    assert_eq!(code.as_deref(), Some("42501"), "unexpected error: {err}");
    drop(tx);

    app.close().await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn admin_pool_is_superuser_positive_control() {
    let db = TestDatabase::new().await.unwrap();
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(db.admin_pool())
            .await
            .unwrap();
    assert!(
        superuser,
        "the admin pool must be a superuser (positive control)"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn app_pool_refuses_a_role_that_owns_a_table() {
    let db = TestDatabase::new().await.unwrap();
    // Make the runtime group own a table: the app role inherits ownership and with it the
    // right to bypass row level security, so the harness must refuse to hand out the pool.
    sqlx::raw_sql(
        "CREATE TABLE harness_owned (id int); ALTER TABLE harness_owned OWNER TO tenancy_runtime;",
    )
    .execute(db.admin_pool())
    .await
    .unwrap();

    let err = db
        .app_pool(1)
        .await
        .expect_err("owner role must be refused");
    match err {
        TestDbError::Privileged { role, reason } => {
            assert_eq!(role, APP_ROLE);
            assert!(reason.contains("owns"), "unexpected reason: {reason}");
        }
        other => panic!("unexpected error: {other}"),
    }
    db.close().await.unwrap();
}

#[tokio::test]
async fn platform_pool_bypasses_rls_but_is_not_superuser() {
    let db = TestDatabase::new().await.unwrap();
    let platform = db.platform_pool(1).await.unwrap();
    let mut tx = platform.begin().await.unwrap();
    let (user, superuser, bypassrls): (String, bool, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(user, PLATFORM_ROLE);
    assert!(!superuser);
    assert!(bypassrls);
    platform.close().await;
    db.close().await.unwrap();
}

#[tokio::test]
async fn databases_are_distinct_and_dropped_on_close() {
    let a = TestDatabase::new().await.unwrap();
    let b = TestDatabase::new().await.unwrap();
    assert_ne!(a.name(), b.name());
    assert!(a.name().starts_with("tenancy_test_"));

    let name = a.name().to_owned();
    let admin = b.admin_pool().clone();
    a.close().await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(!exists, "closed database must be dropped");
    // Positive control: the other database still exists.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(b.name())
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(exists);
    b.close().await.unwrap();
}

#[tokio::test]
async fn embedded_cluster_serves_and_stop_removes_it() {
    use tenancy_sqlx::embedded::EmbeddedPostgres;

    let pg = EmbeddedPostgres::start().await.unwrap();
    let url = pg.url();
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
    );
    let data_dir = pg.data_dir().to_path_buf();
    assert!(data_dir.join("PG_VERSION").is_file());

    // Positive control: the cluster answers and we are its superuser.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (superuser, listen): (bool, String) = sqlx::query_as(
        "SELECT rolsuper, current_setting('listen_addresses') FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(superuser);
    assert_eq!(listen, "127.0.0.1");
    pool.close().await;

    pg.stop().await.unwrap();
    assert!(!data_dir.exists(), "stop must delete the data directory");
    assert!(
        <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .is_err(),
        "server must be gone"
    );
}

#[tokio::test]
async fn embedded_cluster_is_removed_on_drop() {
    use tenancy_sqlx::embedded::EmbeddedPostgres;

    let pg = EmbeddedPostgres::start().await.unwrap();
    let url = pg.url();
    let data_dir = pg.data_dir().to_path_buf();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    pool.close().await;

    drop(pg);
    assert!(!data_dir.exists(), "drop must delete the data directory");
    assert!(
        <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .is_err(),
        "server must be gone"
    );
}
