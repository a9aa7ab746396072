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
///
/// ```
/// use tenancy_core::{InMemoryTenantStore, Tenant, TenantId, TenantKey, TenantStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryTenantStore::new();
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// store.clone().insert(acme.clone()); // a clone writes to the same data
/// let by_slug = store.get(&TenantKey::Slug("acme".parse().unwrap())).await.unwrap();
/// assert_eq!(by_slug, Some(acme));
/// # });
/// ```
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
    ///
    /// ```
    /// use tenancy_core::{InMemoryTenantStore, TenantKey, TenantStore};
    /// let store = InMemoryTenantStore::new();
    /// assert!(store.get_now(&TenantKey::Slug("acme".parse().unwrap())).is_none());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a tenant (by id; its slug index is updated).
    ///
    /// ```
    /// use tenancy_core::{InMemoryTenantStore, Tenant, TenantId, TenantKey, TenantStore};
    /// let store = InMemoryTenantStore::new();
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// store.insert(acme.clone());
    /// // A rename: the same id under a new slug. The old slug no longer finds it.
    /// let mut renamed = acme.clone();
    /// renamed.slug = "acme-inc".parse().unwrap();
    /// store.insert(renamed);
    /// assert!(store.get_now(&TenantKey::Slug("acme".parse().unwrap())).is_none());
    /// let renamed = store.get_now(&TenantKey::Id(acme.id)).unwrap();
    /// assert_eq!(renamed.slug.as_str(), "acme-inc");
    /// ```
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
    ///
    /// ```
    /// use tenancy_core::{InMemoryTenantStore, Tenant, TenantId, TenantKey, TenantStore};
    /// let store = InMemoryTenantStore::new();
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// store.insert(acme.clone());
    /// assert_eq!(store.remove(acme.id), Some(acme.clone()));
    /// assert!(store.get_now(&TenantKey::Id(acme.id)).is_none());
    /// assert_eq!(store.remove(acme.id), None);
    /// ```
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
///
/// ```
/// use tenancy_core::{InMemoryMembershipStore, MembershipStore, Role, TenantId, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let members = InMemoryMembershipStore::new();
/// let (acme, globex) = (TenantId::new_random(), TenantId::new_random());
/// let alice = UserId::new_random();
/// members.insert(acme, alice, Role::Owner);
/// assert_eq!(members.role_of(acme, alice).await.unwrap(), Some(Role::Owner));
/// // A role in one tenant says nothing about another.
/// assert_eq!(members.role_of(globex, alice).await.unwrap(), None);
/// # });
/// ```
#[derive(Clone, Default, Debug)]
pub struct InMemoryMembershipStore {
    roles: Arc<RwLock<HashMap<(TenantId, UserId), Role>>>,
}

impl InMemoryMembershipStore {
    /// An empty store.
    ///
    /// ```
    /// use tenancy_core::{InMemoryMembershipStore, MembershipStore, TenantId, UserId};
    /// let members = InMemoryMembershipStore::new();
    /// assert_eq!(members.role_of_now(TenantId::new_random(), UserId::new_random()), None);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `user`'s role in `tenant`.
    ///
    /// ```
    /// use tenancy_core::{InMemoryMembershipStore, MembershipStore, Role, TenantId, UserId};
    /// let members = InMemoryMembershipStore::new();
    /// let (acme, bob) = (TenantId::new_random(), UserId::new_random());
    /// members.insert(acme, bob, Role::Member);
    /// members.insert(acme, bob, Role::Manager); // a promotion replaces the role
    /// assert_eq!(members.role_of_now(acme, bob), Some(Role::Manager));
    /// ```
    pub fn insert(&self, tenant: TenantId, user: UserId, role: Role) {
        if let Ok(mut m) = self.roles.write() {
            m.insert((tenant, user), role);
        }
    }

    /// Revokes `user`'s membership of `tenant`.
    ///
    /// ```
    /// use tenancy_core::{InMemoryMembershipStore, MembershipStore, Role, TenantId, UserId};
    /// let members = InMemoryMembershipStore::new();
    /// let (acme, bob) = (TenantId::new_random(), UserId::new_random());
    /// members.insert(acme, bob, Role::Member);
    /// members.remove(acme, bob);
    /// assert_eq!(members.role_of_now(acme, bob), None);
    /// ```
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
///
/// ```
/// use tenancy_core::{AuthorizeError, InMemoryPlatformAdmins, UserId, authorize_platform};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let admins = InMemoryPlatformAdmins::new();
/// let (root, alice) = (UserId::new_random(), UserId::new_random());
/// admins.insert(root);
/// assert!(authorize_platform(&admins, root).await.is_ok());
/// let refused = authorize_platform(&admins, alice).await;
/// assert!(matches!(refused, Err(AuthorizeError::NotPlatformAdmin)));
/// # });
/// ```
#[derive(Clone, Default, Debug)]
pub struct InMemoryPlatformAdmins {
    admins: Arc<RwLock<HashSet<UserId>>>,
}

impl InMemoryPlatformAdmins {
    /// An empty list.
    ///
    /// ```
    /// use tenancy_core::{InMemoryPlatformAdmins, PlatformAdmins, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let admins = InMemoryPlatformAdmins::new();
    /// assert!(!admins.is_platform_admin(UserId::new_random()).await.unwrap());
    /// # });
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `user` a platform administrator.
    ///
    /// ```
    /// use tenancy_core::{InMemoryPlatformAdmins, PlatformAdmins, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let admins = InMemoryPlatformAdmins::new();
    /// let root = UserId::new_random();
    /// admins.insert(root);
    /// assert!(admins.is_platform_admin(root).await.unwrap());
    /// # });
    /// ```
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
