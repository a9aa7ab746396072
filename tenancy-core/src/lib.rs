//! Framework-neutral multi-tenancy for PostgreSQL SaaS backends.
//!
//! `tenancy-core` holds the contracts every other `tenancy` crate builds on: identifier and value
//! types, the tenant lifecycle, roles, the registry traits, and the scope types that prove a tenant
//! was resolved *and* the principal authorised. It depends on no database driver and no web
//! framework: `tenancy-sqlx` and the adapters `tenancy-axum` / `tenancy-actix` depend on it.
//!
//! ```
//! use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
//!     TenantId, TenantKey, UserId};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let tenants = InMemoryTenantStore::new();
//! let members = InMemoryMembershipStore::new();
//! let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
//! let alice = UserId::new_random();
//! tenants.insert(acme.clone());
//! members.insert(acme.id, alice, Role::Owner);
//! let scope = authorize(&tenants, &members, &TenantKey::Slug(acme.slug.clone()), alice)
//!     .await
//!     .unwrap();
//! assert_eq!(scope.tenant_id(), acme.id);
//! # });
//! ```
//!
//! | Feature | Default | What it adds |
//! | --- | --- | --- |
//! | `cache` | yes | moka-backed caching tenant and membership stores |
//! | `jwt` | yes | verified JWT claim resolver and bearer authenticator |
//! | `rate-limit` | yes | [`TenantRateLimiter`]: governor-backed limits per tenant and per principal |
//!
//! Minimum supported Rust version: 1.89 (the `rust-version` of this crate).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[path = "assign.rs"]
pub mod assignment;
mod auth;
mod cache;
mod clock;
mod decision;
mod id;
mod jwt;
mod limit;
mod memory;
mod permission;
mod pipeline;
mod propagate;
mod refusal;
mod request;
mod resolve;
mod role;
mod scope;
#[cfg(any(feature = "cache", feature = "jwt"))]
mod sharded;
mod slug;
mod store;
mod tenant;

#[cfg(feature = "jwt")]
pub use auth::BearerJwtAuthenticator;
pub use auth::{
    AuthenticateError, Authenticator, AuthenticatorFn, Principal, PrincipalKind, authenticator_fn,
};
#[cfg(feature = "cache")]
pub use cache::{
    CachingMembershipStore, CachingMembershipStoreBuilder, CachingTenantStore,
    CachingTenantStoreBuilder,
};
pub use cache::{MembershipCacheInvalidator, TenantCacheInvalidator};
pub use decision::{Decision, DenyReason};
pub use id::{IdParseError, TenantId, UserId};
#[cfg(feature = "jwt")]
pub use jwt::JwtVerifier;
pub use jwt::{JwtAlgorithm, JwtError, VerifiedClaims};
pub use limit::{LimitKind, LimitRequest, RateLimited, RateLimiter};
#[cfg(feature = "rate-limit")]
pub use limit::{ManualClock, RateQuota, TenantRateLimiter, TenantRateLimiterBuilder};
pub use memory::{InMemoryMembershipStore, InMemoryPlatformAdmins, InMemoryTenantStore};
pub use permission::{
    CustomRole, Permission, PermissionError, PermissionMarker, PermissionScope, Policy,
    PolicyBuilder, PolicyError,
};
pub use pipeline::{PipelineError, PipelineOutcome, TenantPipeline};
pub use propagate::{NoScopeError, ScopedFuture, TenantRef, in_scope, try_current, with_current};
pub use refusal::{Refusal, RoleMarker, markers, require_permission, require_role};
pub use request::{HeaderSource, HeaderValues, RequestView};
#[cfg(feature = "jwt")]
pub use resolve::JwtClaimResolver;
pub use resolve::{
    ConfigError, HeaderResolver, PathResolver, ResolveError, ResolverChain, Selection,
    SubdomainResolver, TenantResolver,
};
pub use role::{Role, RoleName, RoleParseError};
pub use scope::{
    AuthorizeError, PlatformScope, TenantScope, authorize, authorize_platform,
    record_scope_on_current_span, record_scope_on_span,
};
pub use slug::{DEFAULT_RESERVED_SLUGS, SlugError, SlugPolicy, TenantSlug};
pub use store::{MembershipStore, PlatformAdmins, StoreError, TenantKey, TenantStore};
pub use tenant::{IsolationMode, SchemaName, SchemaNameError, Tenant, TenantStatus};
