//! Registry caches and the invalidation hooks store backends call after a change.
//!
//! The hook traits ([`TenantCacheInvalidator`], [`MembershipCacheInvalidator`]) are always
//! available, so a store backend (for example `tenancy-sqlx`'s tenant store) can accept an
//! `Arc<dyn TenantCacheInvalidator>` and call it after it suspends, deletes or renames a tenant,
//! or revokes a membership, whether or not the `cache` feature is enabled. The moka-backed
//! caching stores themselves need the `cache` feature.

use std::sync::Arc;

use crate::{TenantId, TenantSlug, UserId};

/// Evicts one tenant from whatever cache wraps a tenant store.
///
/// Call it after any change to a tenant that the cache could be serving stale: status change
/// (suspend, delete, reactivate), slug rename, isolation change. It is synchronous and cheap, so
/// it can run right after the database commit, before the response is sent.
///
/// Implementations must evict *both* the id entry and every slug entry of the tenant (the old
/// slug of a renamed tenant included) and the negative entry of `slug`, so that after this call
/// returns no lookup by id or by slug answers from data older than the call.
///
/// `()` is a no-op implementation, for backends used without a cache.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::{TenantCacheInvalidator, TenantId, TenantSlug};
///
/// // A backend keeps an optional hook and calls it after a status change.
/// struct Backend { on_change: Arc<dyn TenantCacheInvalidator> }
/// impl Backend {
///     fn after_suspend(&self, id: TenantId, slug: &TenantSlug) {
///         self.on_change.invalidate(id, slug);
///     }
/// }
/// let backend = Backend { on_change: Arc::new(()) };
/// backend.after_suspend(TenantId::new_random(), &"acme".parse()?);
/// # Ok::<(), tenancy_core::SlugError>(())
/// ```
pub trait TenantCacheInvalidator: Send + Sync {
    /// Evicts every cached entry of tenant `id`, and any cached entry (positive or negative)
    /// for `slug`.
    fn invalidate(&self, id: TenantId, slug: &TenantSlug);
}

impl TenantCacheInvalidator for () {
    fn invalidate(&self, _id: TenantId, _slug: &TenantSlug) {}
}

impl<T: TenantCacheInvalidator + ?Sized> TenantCacheInvalidator for Arc<T> {
    fn invalidate(&self, id: TenantId, slug: &TenantSlug) {
        (**self).invalidate(id, slug);
    }
}

/// Evicts memberships from whatever cache wraps a membership store.
///
/// Call [`invalidate_membership`](Self::invalidate_membership) after a role change or a
/// revocation, and [`invalidate_tenant_memberships`](Self::invalidate_tenant_memberships) after a
/// bulk change (tenant deleted, members imported). Both are synchronous and cheap.
///
/// `()` is a no-op implementation.
pub trait MembershipCacheInvalidator: Send + Sync {
    /// Evicts the cached role (or cached absence) of `user` in `tenant`.
    fn invalidate_membership(&self, tenant: TenantId, user: UserId);

    /// Evicts every cached membership of `tenant`.
    fn invalidate_tenant_memberships(&self, tenant: TenantId);
}

impl MembershipCacheInvalidator for () {
    fn invalidate_membership(&self, _tenant: TenantId, _user: UserId) {}
    fn invalidate_tenant_memberships(&self, _tenant: TenantId) {}
}

impl<T: MembershipCacheInvalidator + ?Sized> MembershipCacheInvalidator for Arc<T> {
    fn invalidate_membership(&self, tenant: TenantId, user: UserId) {
        (**self).invalidate_membership(tenant, user);
    }
    fn invalidate_tenant_memberships(&self, tenant: TenantId) {
        (**self).invalidate_tenant_memberships(tenant);
    }
}
