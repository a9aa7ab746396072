//! Shared fixture of the organisation tests: a fresh database, the tenant pool and a raw pool of
//! the unprivileged application role, the platform pool, and tenants created through
//! [`Lifecycle`] with scopes minted by `tenancy_core::authorize` over the database stores.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tenancy_core::{
    InMemoryPlatformAdmins, PlatformScope, Role, Tenant, TenantId, TenantKey, TenantScope, UserId,
    authorize, authorize_platform,
};
use tenancy_sqlx::testing::TestDatabase;
use tenancy_sqlx::{
    Lifecycle, Members, PgMembershipStore, PgTenantStore, PlatformPool, TenantPool,
    TenantPoolOptions,
};

pub struct Org {
    pub db: TestDatabase,
    /// Tenant transactions of the application role (the startup catalog audit passed).
    pub pool: TenantPool,
    /// Raw pool of the application role (membership lookups, invitation accepts).
    pub app: PgPool,
    pub platform: PlatformPool,
    pub admin: PlatformScope,
    pub tenants: PgTenantStore,
    pub members: PgMembershipStore,
}

impl Org {
    pub async fn new() -> Self {
        Self::with_pool_size(4).await
    }

    pub async fn with_pool_size(max: u32) -> Self {
        let db = TestDatabase::new().await.expect("test database");
        let pool = TenantPoolOptions::new()
            .max_connections(max)
            .connect_with(db.app_connect_options().unwrap())
            .await
            .expect("tenant pool (the catalog audit must pass with migration 0002)");
        let app = db.app_pool(max).await.expect("app pool");
        let platform = PlatformPool::connect_with(
            PgPoolOptions::new().max_connections(2),
            db.platform_connect_options().unwrap(),
        )
        .await
        .expect("platform pool");
        let admins = InMemoryPlatformAdmins::new();
        let admin_id = UserId::new_random();
        admins.insert(admin_id);
        let admin = authorize_platform(&admins, admin_id).await.unwrap();
        Self {
            tenants: PgTenantStore::new(app.clone()),
            members: PgMembershipStore::new(app.clone()),
            db,
            pool,
            app,
            platform,
            admin,
        }
    }

    /// Creates an active tenant through the library with `owner` as its first owner.
    pub async fn tenant(&self, slug: &str, owner: UserId) -> Tenant {
        let t = Tenant::new(
            TenantId::new_random(),
            slug.parse().unwrap(),
            slug.to_uppercase(),
        );
        Lifecycle::new()
            .create_with_owner(&self.platform, &self.admin, &t, owner)
            .await
            .expect("create tenant");
        t
    }

    /// Seeds a membership as the superuser (test setup only).
    pub async fn seed(&self, tenant: TenantId, user: UserId, role: Role) {
        sqlx::query(
            "INSERT INTO tenancy.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)",
        )
        .bind(tenant.into_uuid())
        .bind(user.into_uuid())
        .bind(role.as_str())
        .execute(self.db.admin_pool())
        .await
        .expect("seed membership");
    }

    /// The scope of `user` in `tenant`, through the database stores (the pipeline's path).
    pub async fn scope(&self, tenant: TenantId, user: UserId) -> TenantScope {
        authorize(&self.tenants, &self.members, &TenantKey::Id(tenant), user)
            .await
            .expect("authorize")
    }

    pub async fn owners(&self, tenant: TenantId) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1 AND role = 'owner'",
        )
        .bind(tenant.into_uuid())
        .fetch_one(self.db.admin_pool())
        .await
        .unwrap()
    }

    /// Drops the database (`WITH (FORCE)`, so a transaction a failing test left open cannot
    /// hang the close), then the pools.
    pub async fn close(self) {
        self.db.close().await.expect("drop test database");
        drop((self.pool, self.app, self.platform));
    }
}

pub fn members() -> Members {
    Members::new()
}

/// The SQLSTATE of an sqlx error, if it came from the server.
pub fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}
