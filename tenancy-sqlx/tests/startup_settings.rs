//! ATTACKS.md B.9 and B.13: the release check and the startup parameters PgBouncer re-applies.
//!
//! sqlx sends `DateStyle=ISO, MDY`, `client_encoding=UTF8` and `TimeZone=UTC` in every startup
//! packet. Directly, the server records them with source `client`. Through PgBouncer in
//! transaction mode the server connection was logged in by PgBouncer without them, and PgBouncer
//! `SET`s them at session level whenever it hands the server to a client whose values differ:
//! the check must accept them there at sqlx's values (a clean connection is never closed), and
//! still close a connection on which a handler set one of them to anything else.
//!
//! Before any application connection exists, the database gets defaults unlike sqlx's values
//! for the three settings (`ALTER DATABASE .. SET`), so that through PgBouncer every server
//! connection starts with other values and PgBouncer has to `SET` all three. Runs directly and,
//! in `cargo xtask test`, through PgBouncer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Fixture;
use tenancy_sqlx::testing::PGBOUNCER_ENV;
use tenancy_sqlx::{DiscardReason, TenantPool, TenantTx};

/// Database defaults unlike sqlx's startup values (run as the superuser before the first
/// application connection).
const DATABASE_DEFAULTS_SQL: &str = "DO $$ BEGIN \
    EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Europe/Berlin'); \
    EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'German, DMY'); \
    EXECUTE format('ALTER DATABASE %I SET client_encoding = %L', current_database(), 'LATIN1'); \
    END $$";

/// `(name, sqlx's startup value, the database default above)`, in `lower(name)` order.
const STARTUP: [(&str, &str, &str); 3] = [
    ("client_encoding", "UTF8", "LATIN1"),
    ("DateStyle", "ISO, MDY", "German, DMY"),
    ("TimeZone", "UTC", "Europe/Berlin"),
];

fn through_pgbouncer() -> bool {
    std::env::var(PGBOUNCER_ENV).is_ok_and(|v| !v.trim().is_empty())
}

/// A fixture whose database has the defaults above, and a tenant pool of one connection.
async fn setup() -> (Fixture, TenantPool) {
    let fx = Fixture::new().await;
    sqlx::raw_sql(DATABASE_DEFAULTS_SQL)
        .execute(fx.db.admin_pool())
        .await
        .unwrap();
    let pool = fx.tenant_pool(1).await;
    (fx, pool)
}

async fn probe(tx: &mut TenantTx, sql: &'static str) -> String {
    sqlx::query_scalar(sql).fetch_one(&mut **tx).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_startup_values_are_accepted_even_when_set_at_session_level() {
    let (fx, pool) = setup().await;
    let a = fx.scope_a().await;
    for round in 0..3 {
        let mut tx = pool.begin(&a).await.unwrap();
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT name, setting, source, reset_val FROM pg_settings \
             WHERE name IN ('DateStyle', 'client_encoding', 'TimeZone') ORDER BY lower(name)",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(rows.len(), STARTUP.len());
        for ((name, setting, source, reset_val), (want, value, database_default)) in
            rows.iter().zip(STARTUP)
        {
            assert_eq!(name, want);
            // The client's values hold, directly and through PgBouncer.
            assert_eq!(setting, value, "round {round}: {name}");
            // Positive control: through PgBouncer the values were SET at session level and
            // differ from those the server session started with, the case the check must
            // accept; directly they come from the startup packet.
            let expected = if through_pgbouncer() {
                ("session", database_default)
            } else {
                ("client", value)
            };
            assert_eq!(
                (source.as_str(), reset_val.as_str()),
                expected,
                "round {round}: {name}"
            );
        }
        tx.commit().await.unwrap();
    }
    assert_eq!(
        pool.discarded_connections(),
        0,
        "{:?}",
        pool.discard_counts()
    );
    let state = pool.inspect_connection().await.unwrap();
    assert!(state.is_clean(), "{state:?}");
    assert!(state.session_settings.is_empty(), "{state:?}");
    pool.close().await;
    fx.close().await;
}

/// A handler's session-level `SET` of one of the three to a value that is neither sqlx's nor
/// the database default is still closed, counted and unseen by the next borrower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_time_zone_date_style_or_encoding_is_still_discarded() {
    const PLANTS: [(&str, &str, &str, &str); 3] = [
        (
            "SET TimeZone = 'America/New_York'",
            "SELECT current_setting('TimeZone')",
            "America/New_York",
            "UTC",
        ),
        (
            "SET DateStyle = 'SQL, DMY'",
            "SELECT current_setting('DateStyle')",
            "SQL, DMY",
            "ISO, MDY",
        ),
        (
            "SET client_encoding = 'LATIN2'",
            "SELECT current_setting('client_encoding')",
            "LATIN2",
            "UTF8",
        ),
    ];
    let (fx, pool) = setup().await;
    let a = fx.scope_a().await;
    for (plant, probe_sql, planted, startup) in PLANTS {
        let before = pool.discard_counts();
        let mut tx = pool.begin(&a).await.unwrap();
        assert_eq!(probe(&mut tx, probe_sql).await, startup, "{plant}: before");
        sqlx::raw_sql(plant).execute(&mut *tx).await.unwrap();
        // Positive control: the setting did change on this connection.
        assert_eq!(probe(&mut tx, probe_sql).await, planted, "{plant}");
        tx.commit().await.unwrap();

        // With one connection, `begin` waits for the release check of the previous borrower.
        let mut tx = pool.begin(&a).await.unwrap();
        assert_eq!(
            probe(&mut tx, probe_sql).await,
            startup,
            "{plant}: seen by the next borrower"
        );
        tx.commit().await.unwrap();
        let after = pool.discard_counts();
        assert_eq!(after.total(), before.total() + 1, "{plant}: {after:?}");
        assert_eq!(
            after.get(DiscardReason::SessionSetting),
            before.get(DiscardReason::SessionSetting) + 1,
            "{plant}: {after:?}"
        );
    }
    assert!(pool.inspect_connection().await.unwrap().is_clean());
    pool.close().await;
    fx.close().await;
}
