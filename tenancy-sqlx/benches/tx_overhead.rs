//! Overhead of a tenant transaction against an unscoped autocommit query with `WHERE tenant_id`.
//!
//! Run with: `cargo bench -p tenancy-sqlx --bench tx_overhead`
//! (`TENANCY_BENCH_URL` = a superuser URL, default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Seeds, once, database `tenancy_bench`: 1,000 tenants x 1,000 rows (1 M rows) in a protected
//! table. Baseline: the table owner (row level security does not apply), autocommit, one acquire
//! per unit of work. Scoped: the application role, `TenantPool::begin` + query + commit.
//! Both pools: 4 connections, same connect options apart from the user.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool};
use tenancy_core::{
    InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant, TenantId, TenantKey, TenantScope,
    UserId, authorize,
};
use tenancy_sqlx::{TenantPool, TenantPoolOptions};
use uuid::Uuid;

const DB: &str = "tenancy_bench";
const ITERS: usize = 2000;
const POOL: u32 = 4;

const SEED: &str = r#"
CREATE TABLE events (
    tenant_id  uuid NOT NULL,
    id         uuid NOT NULL,
    created_at timestamptz NOT NULL,
    payload    text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_tenant_time ON events (tenant_id, created_at DESC);
INSERT INTO events
SELECT t.id, md5(t.id::text || n)::uuid, now() - n * interval '1 minute', 'payload ' || n
FROM (SELECT md5('tenant' || i)::uuid AS id FROM generate_series(1, 1000) i) t,
     generate_series(1, 1000) n;
SELECT tenancy.protect_table('events');
GRANT SELECT, INSERT, UPDATE, DELETE ON events TO tenancy_runtime;
DO $$ BEGIN
  BEGIN CREATE ROLE tenancy_bench_app LOGIN IN ROLE tenancy_runtime;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END;
END $$;
GRANT CONNECT ON DATABASE tenancy_bench TO tenancy_runtime;
GRANT USAGE ON SCHEMA public TO tenancy_runtime;
ANALYZE events;
"#;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("TENANCY_BENCH_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin: PgConnectOptions = url.parse().unwrap();
    let mut maint = PgConnection::connect_with(&admin).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DB)
            .fetch_one(&mut maint)
            .await
            .unwrap();
    let admin_db = admin.clone().database(DB);
    if !exists {
        println!("seeding {DB}: 1,000 tenants x 1,000 rows (once)...");
        sqlx::raw_sql("CREATE DATABASE tenancy_bench")
            .execute(&mut maint)
            .await
            .unwrap();
        let pool = PgPool::connect_with(admin_db.clone()).await.unwrap();
        tenancy_sqlx::migrate(&pool).await.unwrap();
        sqlx::raw_sql(SEED).execute(&pool).await.unwrap();
        pool.close().await;
    }
    let app_opts = admin_db.clone().username("tenancy_bench_app");

    // Tenants and scopes through the public road.
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let user = UserId::new_random();
    let mut scopes: Vec<TenantScope> = Vec::new();
    for i in 1..=1000 {
        let id: Uuid = sqlx::query_scalar("SELECT md5('tenant' || $1::int)::uuid")
            .bind(i)
            .fetch_one(&mut maint)
            .await
            .unwrap();
        let t = Tenant::new(
            TenantId::from_uuid(id),
            format!("t{i:04}").parse().unwrap(),
            "t",
        );
        tenants.insert(t.clone());
        members.insert(t.id, user, Role::Member);
        scopes.push(
            authorize(&tenants, &members, &TenantKey::Id(t.id), user)
                .await
                .unwrap(),
        );
    }
    let plain = PgPoolOptions::new()
        .max_connections(POOL)
        .connect_with(admin_db)
        .await
        .unwrap();
    let scoped: TenantPool = TenantPoolOptions::new()
        .max_connections(POOL)
        .connect_with(app_opts)
        .await
        .unwrap();
    println!(
        "settings: {POOL} connections each, sqlx statement cache on, {ITERS} iterations, \
         tenant pool statement_timeout {:?}, release hygiene check on (tenant pool only)",
        scoped.statement_timeout()
    );
    println!(
        "{:<14} {:>14} {:>14} {:>7}",
        "query", "unscoped µs", "tenant tx µs", "ratio"
    );

    type Q = (&'static str, &'static str, &'static str);
    let queries: [Q; 3] = [
        (
            "point lookup",
            "SELECT payload FROM events WHERE tenant_id = $1 AND id = $2",
            "SELECT payload FROM events WHERE id = $2 AND $1::uuid IS NOT NULL",
        ),
        (
            "list 50",
            "SELECT id, created_at FROM events WHERE tenant_id = $1 AND $2::uuid IS NOT NULL ORDER BY created_at DESC LIMIT 50",
            "SELECT id, created_at FROM events WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL ORDER BY created_at DESC LIMIT 50",
        ),
        (
            "count",
            "SELECT count(*)::int8 FROM events WHERE tenant_id = $1 AND $2::uuid IS NOT NULL",
            "SELECT count(*)::int8 FROM events WHERE $1::uuid IS NOT NULL AND $2::uuid IS NOT NULL",
        ),
    ];
    for (name, base_sql, tx_sql) in queries {
        let mut base = Vec::with_capacity(ITERS);
        let mut tx_t = Vec::with_capacity(ITERS);
        for i in 0..ITERS * 2 {
            let scope = &scopes[(i * 7) % scopes.len()];
            let t = scope.tenant_id().into_uuid();
            let n = (i * 13) % 1000 + 1;
            let id: Uuid = Uuid::from_bytes(*md5_uuid(&format!("{t}{n}")).as_bytes());
            let warm = i < ITERS / 5;
            if i % 2 == 0 {
                let start = Instant::now();
                let mut c = plain.acquire().await.unwrap();
                let rows = sqlx::query(base_sql)
                    .bind(t)
                    .bind(id)
                    .fetch_all(&mut *c)
                    .await
                    .unwrap();
                drop(c);
                let e = start.elapsed();
                assert!(!rows.is_empty());
                if !warm {
                    base.push(e)
                }
            } else {
                let start = Instant::now();
                let mut tx = scoped.begin(scope).await.unwrap();
                let rows = sqlx::query(tx_sql)
                    .bind(t)
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                let e = start.elapsed();
                assert!(!rows.is_empty());
                if !warm {
                    tx_t.push(e)
                }
            }
        }
        let (b, s) = (median(base), median(tx_t));
        println!("{name:<14} {b:>14.1} {s:>14.1} {:>6.2}x", s / b);
    }
}

/// `md5(text)::uuid` as PostgreSQL computes it, without a round trip.
fn md5_uuid(s: &str) -> Uuid {
    Uuid::from_bytes(md5(s.as_bytes()))
}

fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = input.to_vec();
    let bits = (input.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f2 = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f2.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}
