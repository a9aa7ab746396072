//! In-memory stores, for tests, examples and small deployments.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use crate::store::{MembershipStore, PlatformAdmins, StoreError, TenantKey, TenantStore};
use crate::{Role, Tenant, TenantId, TenantSlug, UserId};

#[derive(Default)]
struct TenantMaps {
    by_id: HashMap<TenantId, Arc<Tenant>>,
    by_slug: HashMap<TenantSlug, TenantId>,
}

impl TenantMaps {
    fn find(&self, key: &TenantKey) -> Option<&Arc<Tenant>> {
        match key {
            TenantKey::Id(id) => self.by_id.get(id),
            TenantKey::Slug(s) => self.by_slug.get(s).and_then(|id| self.by_id.get(id)),
        }
    }
}

/// A [`TenantStore`] kept in memory. Cloning shares the data.
#[derive(Clone, Default)]
pub struct InMemoryTenantStore {
    maps: Arc<RwLock<TenantMaps>>,
}

impl std::fmt::Debug for InMemoryTenantStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.maps.read().map(|m| m.by_id.len()).unwrap_or(0);
        f.debug_struct("InMemoryTenantStore")
            .field("tenants", &n)
            .finish()
    }
}

fn poisoned() -> StoreError {
    StoreError::new("in-memory store", "lock poisoned")
}

impl InMemoryTenantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a tenant (by id; its slug index is updated).
    pub fn insert(&self, tenant: Tenant) {
        if let Ok(mut m) = self.maps.write() {
            if let Some(old) = m.by_id.get(&tenant.id).map(|t| t.slug.clone()) {
                m.by_slug.remove(&old);
            }
            m.by_slug.insert(tenant.slug.clone(), tenant.id);
            m.by_id.insert(tenant.id, Arc::new(tenant));
        }
    }

    /// Removes a tenant.
    pub fn remove(&self, id: TenantId) -> Option<Tenant> {
        let mut m = self.maps.write().ok()?;
        let t = m.by_id.remove(&id)?;
        m.by_slug.remove(&t.slug);
        Some(Arc::unwrap_or_clone(t))
    }
}

#[async_trait]
impl TenantStore for InMemoryTenantStore {
    async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError> {
        let m = self.maps.read().map_err(|_| poisoned())?;
        Ok(m.find(key).map(|t| Tenant::clone(t)))
    }

    fn get_now(&self, key: &TenantKey) -> Option<Arc<Tenant>> {
        self.maps.read().ok()?.find(key).cloned()
    }
}

/// A [`MembershipStore`] kept in memory. Cloning shares the data.
#[derive(Clone, Default, Debug)]
pub struct InMemoryMembershipStore {
    roles: Arc<RwLock<HashMap<(TenantId, UserId), Role>>>,
}

impl InMemoryMembershipStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `user`'s role in `tenant`.
    pub fn insert(&self, tenant: TenantId, user: UserId, role: Role) {
        if let Ok(mut m) = self.roles.write() {
            m.insert((tenant, user), role);
        }
    }

    /// Revokes `user`'s membership of `tenant`.
    pub fn remove(&self, tenant: TenantId, user: UserId) {
        if let Ok(mut m) = self.roles.write() {
            m.remove(&(tenant, user));
        }
    }
}

#[async_trait]
impl MembershipStore for InMemoryMembershipStore {
    async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError> {
        let m = self.roles.read().map_err(|_| poisoned())?;
        Ok(m.get(&(tenant, user)).copied())
    }

    fn role_of_now(&self, tenant: TenantId, user: UserId) -> Option<Role> {
        self.roles.read().ok()?.get(&(tenant, user)).copied()
    }
}

/// A [`PlatformAdmins`] list kept in memory.
#[derive(Clone, Default, Debug)]
pub struct InMemoryPlatformAdmins {
    admins: Arc<RwLock<HashSet<UserId>>>,
}

impl InMemoryPlatformAdmins {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `user` a platform administrator.
    pub fn insert(&self, user: UserId) {
        if let Ok(mut m) = self.admins.write() {
            m.insert(user);
        }
    }
}

#[async_trait]
impl PlatformAdmins for InMemoryPlatformAdmins {
    async fn is_platform_admin(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self.admins.read().map_err(|_| poisoned())?.contains(&user))
    }
}
