//! Shared fixture: a fresh database with two tenants' rows, scopes minted through
//! `tenancy_core::authorize`, and pools of the unprivileged application role.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use sqlx::PgPool;
use tenancy_core::{
    InMemoryMembershipStore, InMemoryTenantStore, IsolationMode, Role, SchemaName, Tenant,
    TenantId, TenantKey, TenantScope, UserId, authorize,
};
use tenancy_sqlx::testing::TestDatabase;
use tenancy_sqlx::{TenantPool, TenantPoolOptions};
use uuid::Uuid;

pub const SCHEMA_SQL: &str = r#"
CREATE TABLE items (
    tenant_id uuid NOT NULL,
    id        uuid NOT NULL DEFAULT gen_random_uuid(),
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
SELECT tenancy.protect_table('items');
CREATE TABLE notes (
    tenant_id uuid NOT NULL,
    id        uuid NOT NULL DEFAULT gen_random_uuid(),
    item_id   uuid NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, item_id) REFERENCES items (tenant_id, id)
);
SELECT tenancy.protect_table('notes');
GRANT SELECT, INSERT, UPDATE, DELETE ON items, notes TO tenancy_runtime;
"#;

pub struct Fixture {
    pub db: TestDatabase,
    pub tenants: InMemoryTenantStore,
    pub members: InMemoryMembershipStore,
    pub a: Tenant,
    pub b: Tenant,
    pub ua: UserId,
    pub ub: UserId,
    /// A's seeded item.
    pub a1: Uuid,
    /// B's seeded item.
    pub b1: Uuid,
}

impl Fixture {
    pub async fn new() -> Self {
        let db = TestDatabase::new().await.expect("test database");
        sqlx::raw_sql(SCHEMA_SQL)
            .execute(db.admin_pool())
            .await
            .expect("schema");
        let tenants = InMemoryTenantStore::new();
        let members = InMemoryMembershipStore::new();
        let a = Tenant::new(TenantId::new_random(), "tenant-a".parse().unwrap(), "A");
        let b = Tenant::new(TenantId::new_random(), "tenant-b".parse().unwrap(), "B");
        let (ua, ub) = (UserId::new_random(), UserId::new_random());
        tenants.insert(a.clone());
        tenants.insert(b.clone());
        members.insert(a.id, ua, Role::Admin);
        members.insert(b.id, ub, Role::Member);
        let (a1, b1) = (Uuid::new_v4(), Uuid::new_v4());
        for (t, id, name) in [(a.id, a1, "a-one"), (b.id, b1, "b-one")] {
            sqlx::query("INSERT INTO items (tenant_id, id, name) VALUES ($1, $2, $3)")
                .bind(t.into_uuid())
                .bind(id)
                .bind(name)
                .execute(db.admin_pool())
                .await
                .expect("seed");
        }
        Self {
            db,
            tenants,
            members,
            a,
            b,
            ua,
            ub,
            a1,
            b1,
        }
    }

    /// Adds a schema-per-tenant tenant with its own schema (created when `create` is true).
    pub async fn schema_tenant(&self, slug: &str, schema: &str, create: bool) -> TenantScope {
        let t = Tenant::new(TenantId::new_random(), slug.parse().unwrap(), slug).with_isolation(
            IsolationMode::Schema {
                schema: SchemaName::parse(schema).unwrap(),
            },
        );
        if create {
            let sql = format!(
                "CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.docs (id int PRIMARY KEY, body text NOT NULL);
                 SELECT tenancy.protect_schema_table('{schema}.docs');
                 GRANT USAGE ON SCHEMA {schema} TO tenancy_runtime;
                 GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.docs TO tenancy_runtime;
                 INSERT INTO {schema}.docs VALUES (1, '{schema} doc');"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(self.db.admin_pool())
                .await
                .expect("tenant schema");
        }
        let user = UserId::new_random();
        self.tenants.insert(t.clone());
        self.members.insert(t.id, user, Role::Member);
        authorize(&self.tenants, &self.members, &TenantKey::Id(t.id), user)
            .await
            .unwrap()
    }

    pub async fn scope_a(&self) -> TenantScope {
        authorize(
            &self.tenants,
            &self.members,
            &TenantKey::Id(self.a.id),
            self.ua,
        )
        .await
        .unwrap()
    }

    pub async fn scope_b(&self) -> TenantScope {
        authorize(
            &self.tenants,
            &self.members,
            &TenantKey::Slug(self.b.slug.clone()),
            self.ub,
        )
        .await
        .unwrap()
    }

    pub async fn tenant_pool(&self, max: u32) -> TenantPool {
        TenantPoolOptions::new()
            .max_connections(max)
            .statement_timeout(Some(Duration::from_secs(30)))
            .connect_with(self.db.app_connect_options().unwrap())
            .await
            .expect("tenant pool")
    }

    /// A plain pool of the application role (for the no-tenant / forged-setting contexts).
    pub async fn raw_app_pool(&self, max: u32) -> PgPool {
        self.db.app_pool(max).await.expect("app pool")
    }

    pub async fn close(self) {
        self.db.close().await.expect("drop test database");
    }
}

/// The SQLSTATE of an sqlx error, if it came from the server.
pub fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}
