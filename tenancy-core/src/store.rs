//! Registry contracts: where tenants, memberships and platform admins are looked up.
//!
//! Each trait has one required method and is used as `Arc<dyn Trait>` by the pipeline, so it is
//! declared with [`async_trait`](async_trait::async_trait) (object safe, boxed future).
//!
//! The lookup traits also have one *provided* synchronous method (`get_now`, `role_of_now`) that
//! answers from memory when the store can (a cache hit) and says `None` otherwise. The request
//! pipeline asks it first, so a request served from the caches allocates no boxed future and never
//! waits; backends that always do I/O (a database store) simply keep the default.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{Role, Tenant, TenantId, TenantSlug, UserId};

/// How a tenant is addressed: by id or by slug.
///
/// ```
/// use tenancy_core::TenantKey;
/// let key = TenantKey::Slug("acme".parse()?);
/// assert_eq!(key.to_string(), "acme");
/// # Ok::<(), tenancy_core::SlugError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum TenantKey {
    /// By id.
    Id(TenantId),
    /// By slug.
    Slug(TenantSlug),
}

impl fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "TenantKey::Id({id})"),
            Self::Slug(s) => write!(f, "TenantKey::Slug({s})"),
        }
    }
}

impl fmt::Display for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => fmt::Display::fmt(id, f),
            Self::Slug(s) => fmt::Display::fmt(s, f),
        }
    }
}

impl From<TenantId> for TenantKey {
    fn from(id: TenantId) -> Self {
        Self::Id(id)
    }
}

impl From<TenantSlug> for TenantKey {
    fn from(slug: TenantSlug) -> Self {
        Self::Slug(slug)
    }
}

/// A store backend failed (connection lost, timeout, corrupt row).
///
/// The message shown to users never includes the source; log the source.
///
/// ```
/// use tenancy_core::StoreError;
/// let err = StoreError::new("tenant store", std::io::Error::other("connection reset"));
/// assert_eq!(err.to_string(), "tenant store is unavailable"); // shown to users
/// let source = std::error::Error::source(&err).unwrap();
/// assert_eq!(source.to_string(), "connection reset"); // logged
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{what} is unavailable")]
pub struct StoreError {
    what: &'static str,
    #[source]
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl StoreError {
    /// Wraps a backend error; `what` names the store in the message (`tenant store`).
    ///
    /// ```
    /// use async_trait::async_trait;
    /// use tenancy_core::{PlatformAdmins, StoreError, UserId};
    ///
    /// struct RemoteAdmins;
    ///
    /// #[async_trait]
    /// impl PlatformAdmins for RemoteAdmins {
    ///     async fn is_platform_admin(&self, _user: UserId) -> Result<bool, StoreError> {
    ///         let reply: Result<bool, std::io::Error> = Err(std::io::ErrorKind::TimedOut.into());
    ///         reply.map_err(|e| StoreError::new("platform admin list", e))
    ///     }
    /// }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let err = RemoteAdmins.is_platform_admin(UserId::new_random()).await.unwrap_err();
    /// assert_eq!(err.to_string(), "platform admin list is unavailable");
    /// # });
    /// ```
    pub fn new(what: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            what,
            source: source.into(),
        }
    }
}

/// Looks tenants up by id or slug.
///
/// ```
/// use tenancy_core::{InMemoryTenantStore, Tenant, TenantId, TenantKey, TenantStore};
/// # tokio_test_block(async {
/// let store = InMemoryTenantStore::new();
/// let t = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// store.insert(t.clone());
/// assert_eq!(store.get(&TenantKey::Id(t.id)).await.unwrap(), Some(t));
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// The tenant with this key, or `None` when unknown.
    async fn get(&self, key: &TenantKey) -> Result<Option<Tenant>, StoreError>;

    /// The tenant with this key, answered at once from memory, when this store holds a fresh
    /// answer naming one (a cache hit). `None` means "no immediate answer": ask
    /// [`get`](Self::get). It is never an answer that the tenant does not exist.
    ///
    /// Whatever it returns must be what `get` would return at this moment; the default (`None`)
    /// is always correct. The request pipeline calls it before `get`, so a store that can answer
    /// from memory serves a request without a boxed future or a clone of the tenant.
    ///
    /// ```
    /// use tenancy_core::{InMemoryTenantStore, Tenant, TenantId, TenantKey, TenantStore};
    /// let store = InMemoryTenantStore::new();
    /// let t = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// store.insert(t.clone());
    /// assert_eq!(store.get_now(&TenantKey::Id(t.id)).as_deref(), Some(&t));
    /// assert!(store.get_now(&TenantKey::Id(TenantId::new_random())).is_none());
    /// ```
    fn get_now(&self, key: &TenantKey) -> Option<Arc<Tenant>> {
        let _ = key;
        None
    }
}

/// Looks up a user's role in one tenant.
///
/// ```
/// use std::collections::HashMap;
/// use async_trait::async_trait;
/// use tenancy_core::{MembershipStore, Role, StoreError, TenantId, UserId};
///
/// /// Memberships loaded once, for example from a fixture file.
/// struct Fixed(HashMap<(TenantId, UserId), Role>);
///
/// #[async_trait]
/// impl MembershipStore for Fixed {
///     async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError> {
///         Ok(self.0.get(&(tenant, user)).copied())
///     }
/// }
///
/// let (acme, alice) = (TenantId::new_random(), UserId::new_random());
/// let store = Fixed(HashMap::from([((acme, alice), Role::Admin)]));
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(store.role_of(acme, alice).await.unwrap(), Some(Role::Admin));
/// assert_eq!(store.role_of(acme, UserId::new_random()).await.unwrap(), None);
/// # });
/// ```
#[async_trait]
pub trait MembershipStore: Send + Sync {
    /// The role of `user` in `tenant`, or `None` when not a member.
    async fn role_of(&self, tenant: TenantId, user: UserId) -> Result<Option<Role>, StoreError>;

    /// The role of `user` in `tenant`, answered at once from memory, when this store holds a
    /// fresh answer naming one (a cache hit). `None` means "no immediate answer": ask
    /// [`role_of`](Self::role_of). It is never an answer that the user is not a member.
    ///
    /// Whatever it returns must be what `role_of` would return at this moment; the default
    /// (`None`) is always correct.
    ///
    /// ```
    /// use tenancy_core::{InMemoryMembershipStore, MembershipStore, Role, TenantId, UserId};
    /// let store = InMemoryMembershipStore::new();
    /// let (acme, alice) = (TenantId::new_random(), UserId::new_random());
    /// store.insert(acme, alice, Role::Admin);
    /// assert_eq!(store.role_of_now(acme, alice), Some(Role::Admin));
    /// assert_eq!(store.role_of_now(acme, UserId::new_random()), None);
    /// ```
    fn role_of_now(&self, tenant: TenantId, user: UserId) -> Option<Role> {
        let _ = (tenant, user);
        None
    }
}

/// Says whether a user is a platform administrator.
///
/// ```
/// use async_trait::async_trait;
/// use tenancy_core::{authorize_platform, PlatformAdmins, StoreError, UserId};
///
/// /// One operator account, configured at start-up.
/// struct Operator(UserId);
///
/// #[async_trait]
/// impl PlatformAdmins for Operator {
///     async fn is_platform_admin(&self, user: UserId) -> Result<bool, StoreError> {
///         Ok(user == self.0)
///     }
/// }
///
/// let operator = UserId::new_random();
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let scope = authorize_platform(&Operator(operator), operator).await.unwrap();
/// assert_eq!(scope.admin_id(), operator);
/// assert!(authorize_platform(&Operator(operator), UserId::new_random()).await.is_err());
/// # });
/// ```
#[async_trait]
pub trait PlatformAdmins: Send + Sync {
    /// Whether `user` is a platform administrator.
    async fn is_platform_admin(&self, user: UserId) -> Result<bool, StoreError>;
}
