//! Scope types: values that prove a tenant was resolved and the principal authorised.

use std::fmt;
use std::sync::Arc;

use crate::store::{MembershipStore, PlatformAdmins, StoreError, TenantKey, TenantStore};
use crate::{PrincipalKind, Role, Tenant, TenantId, TenantSlug, TenantStatus, UserId};

/// Proof that a tenant was resolved, admits requests (active or in trial), and that a principal
/// is a member of it with a given role.
///
/// Only this crate can construct one (through [`authorize`] or the request pipeline); there is no
/// public constructor, no `Default`, no `Deserialize`. Cloning is cheap and keeps the proof.
///
/// ```compile_fail
/// // A scope cannot be built by hand.
/// let scope = tenancy_core::TenantScope { tenant: todo!() };
/// ```
#[derive(Clone)]
pub struct TenantScope {
    // The tenant is shared with the cache that served it: minting and cloning a scope copy no
    // strings.
    tenant: Arc<Tenant>,
    user: UserId,
    role: Role,
    actor: PrincipalKind,
}

impl TenantScope {
    /// Mints a scope after checking the tenant's status. Crate-private on purpose.
    pub(crate) fn mint(
        tenant: Arc<Tenant>,
        user: UserId,
        role: Role,
        actor: PrincipalKind,
    ) -> Result<Self, AuthorizeError> {
        if !tenant.status.admits_requests() {
            return Err(AuthorizeError::TenantNotActive {
                slug: tenant.slug.clone(),
                status: tenant.status,
            });
        }
        Ok(Self {
            tenant,
            user,
            role,
            actor,
        })
    }

    /// The tenant.
    ///
    /// ```
    /// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
    /// #     TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let alice = UserId::new_random();
    /// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme").with_plan("pro");
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// assert_eq!(scope.tenant().plan, "pro");
    /// assert_eq!(scope.tenant(), &acme);
    /// # });
    /// ```
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The tenant id.
    ///
    /// ```
    /// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
    /// #     TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Slug(acme.slug.clone()), alice).await.unwrap();
    /// assert_eq!(scope.tenant_id(), acme.id);
    /// # });
    /// ```
    pub fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }

    /// The tenant slug.
    ///
    /// ```
    /// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
    /// #     TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// assert_eq!(scope.slug().as_str(), "acme");
    /// # });
    /// ```
    pub fn slug(&self) -> &TenantSlug {
        &self.tenant.slug
    }

    /// The authorised principal.
    ///
    /// ```
    /// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
    /// #     TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// assert_eq!(scope.user_id(), alice);
    /// # });
    /// ```
    pub fn user_id(&self) -> UserId {
        self.user
    }

    /// The principal's role in this tenant.
    ///
    /// ```
    /// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
    /// #     TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// members.insert(acme.id, alice, Role::Manager);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// assert_eq!(scope.role(), Role::Manager);
    /// assert!(!scope.role().at_least(Role::Admin));
    /// # });
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }

    /// What kind of caller acts: a user, an API key, a job, a service. Authority still comes from
    /// the membership; the kind is for audit entries and logs.
    ///
    /// ```
    /// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, PrincipalKind, Role,
    /// #     Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// assert_eq!(scope.actor(), PrincipalKind::User);
    /// // A job rehydrated from the scope's reference acts as a job.
    /// let job_scope = scope.to_ref().rehydrate(&tenants, &members).await.unwrap();
    /// assert_eq!(job_scope.actor(), PrincipalKind::Job);
    /// # });
    /// ```
    pub fn actor(&self) -> PrincipalKind {
        self.actor
    }
}

impl fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantScope")
            .field("tenant_id", &self.tenant.id)
            .field("slug", &self.tenant.slug)
            .field("user_id", &self.user)
            .field("role", &self.role)
            .field("actor", &self.actor)
            .finish()
    }
}

/// Proof that a principal is a platform administrator. Distinct from [`TenantScope`]: it grants no
/// tenant route and cannot be converted into or obtained from a tenant scope.
///
/// ```
/// use tenancy_core::{authorize_platform, InMemoryPlatformAdmins, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let admins = InMemoryPlatformAdmins::new();
/// let root = UserId::new_random();
/// admins.insert(root);
/// let scope = authorize_platform(&admins, root).await.unwrap();
/// assert_eq!(scope.admin_id(), root);
/// # });
/// ```
#[derive(Clone)]
pub struct PlatformScope {
    admin: UserId,
}

impl PlatformScope {
    /// The platform administrator.
    ///
    /// ```
    /// # use tenancy_core::{authorize_platform, InMemoryPlatformAdmins, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let admins = InMemoryPlatformAdmins::new();
    /// # let root = UserId::new_random();
    /// # admins.insert(root);
    /// let scope = authorize_platform(&admins, root).await.unwrap();
    /// assert_eq!(scope.admin_id(), root);
    /// # });
    /// ```
    pub fn admin_id(&self) -> UserId {
        self.admin
    }
}

impl fmt::Debug for PlatformScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformScope")
            .field("admin_id", &self.admin)
            .finish()
    }
}

/// Why a scope could not be issued.
///
/// ```
/// use tenancy_core::{authorize, AuthorizeError, InMemoryMembershipStore, InMemoryTenantStore, Role,
///     Tenant, TenantId, TenantKey, TenantStatus, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme")
///     .with_status(TenantStatus::Suspended);
/// let alice = UserId::new_random();
/// tenants.insert(acme.clone());
/// members.insert(acme.id, alice, Role::Owner);
///
/// match authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await {
///     Err(e @ AuthorizeError::TenantNotActive { .. }) => {
///         assert_eq!(e.to_string(), "tenant `acme` is suspended");
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// let unknown = TenantKey::Slug("globex".parse().unwrap());
/// let err = authorize(&tenants, &members, &unknown, alice).await.unwrap_err();
/// assert_eq!(err.to_string(), "tenant `globex` not found");
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// No tenant has this key.
    #[error("tenant `{0}` not found")]
    UnknownTenant(TenantKey),
    /// The tenant exists but is suspended, deleted, provisioning or out of trial.
    #[error("tenant `{slug}` is {status}")]
    TenantNotActive {
        /// The tenant's slug.
        slug: TenantSlug,
        /// Its current status.
        status: TenantStatus,
    },
    /// The principal is not a member of the tenant.
    #[error("not a member of tenant `{0}`")]
    NotMember(TenantSlug),
    /// The principal is not a platform administrator.
    #[error("not a platform administrator")]
    NotPlatformAdmin,
    /// A store failed; the request must fail closed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Looks the tenant up, checks its status and the principal's membership, and mints the scope.
///
/// This is the only road to a [`TenantScope`].
///
/// ```
/// use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
///     TenantId, TenantKey, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tenants = InMemoryTenantStore::new();
/// let members = InMemoryMembershipStore::new();
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// let alice = UserId::new_random();
/// tenants.insert(acme.clone());
/// members.insert(acme.id, alice, Role::Admin);
///
/// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
/// assert_eq!(scope.role(), Role::Admin);
///
/// let mallory = UserId::new_random();
/// assert!(authorize(&tenants, &members, &TenantKey::Id(acme.id), mallory).await.is_err());
/// # });
/// ```
pub async fn authorize(
    tenants: &dyn TenantStore,
    members: &dyn MembershipStore,
    key: &TenantKey,
    user: UserId,
) -> Result<TenantScope, AuthorizeError> {
    authorize_as(tenants, members, key, user, PrincipalKind::User).await
}

/// [`authorize`] with an explicit actor kind (jobs rehydrating a [`TenantRef`](crate::TenantRef)).
pub(crate) async fn authorize_as(
    tenants: &dyn TenantStore,
    members: &dyn MembershipStore,
    key: &TenantKey,
    user: UserId,
    actor: PrincipalKind,
) -> Result<TenantScope, AuthorizeError> {
    let tenant = match tenants.get_now(key) {
        Some(t) => t,
        None => tenants
            .get(key)
            .await?
            .map(Arc::new)
            .ok_or_else(|| AuthorizeError::UnknownTenant(key.clone()))?,
    };
    if !tenant.status.admits_requests() {
        return Err(AuthorizeError::TenantNotActive {
            slug: tenant.slug.clone(),
            status: tenant.status,
        });
    }
    let role = match members.role_of_now(tenant.id, user) {
        Some(r) => r,
        None => members
            .role_of(tenant.id, user)
            .await?
            .ok_or_else(|| AuthorizeError::NotMember(tenant.slug.clone()))?,
    };
    TenantScope::mint(tenant, user, role, actor)
}

/// Checks that `user` is a platform administrator and mints a [`PlatformScope`].
///
/// ```
/// use tenancy_core::{authorize_platform, AuthorizeError, InMemoryPlatformAdmins, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let admins = InMemoryPlatformAdmins::new();
/// let (root, alice) = (UserId::new_random(), UserId::new_random());
/// admins.insert(root);
/// assert!(authorize_platform(&admins, root).await.is_ok());
/// assert!(matches!(
///     authorize_platform(&admins, alice).await,
///     Err(AuthorizeError::NotPlatformAdmin)
/// ));
/// # });
/// ```
pub async fn authorize_platform(
    admins: &dyn PlatformAdmins,
    user: UserId,
) -> Result<PlatformScope, AuthorizeError> {
    if admins.is_platform_admin(user).await? {
        tracing::info!(admin_id = %user, "platform scope issued");
        Ok(PlatformScope { admin: user })
    } else {
        Err(AuthorizeError::NotPlatformAdmin)
    }
}

/// Records the scope's `tenant_id` and `tenant_slug` on `span` (fields the span must declare,
/// for example `tenant_id = tracing::field::Empty`). A disabled span (no subscriber wants it)
/// costs one check. The adapters and the pipeline record their own spans through this.
///
/// ```
/// # use std::sync::Arc;
/// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
/// #     TenantId, TenantKey, UserId};
/// use tenancy_core::record_scope_on_span;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// # let alice = UserId::new_random();
/// # tenants.insert(acme.clone());
/// # members.insert(acme.id, alice, Role::Member);
/// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
/// let span = tracing::info_span!("job", tenant_id = tracing::field::Empty, tenant_slug = tracing::field::Empty);
/// record_scope_on_span(&scope, &span);
/// # });
/// ```
#[inline]
pub fn record_scope_on_span(scope: &TenantScope, span: &tracing::Span) {
    if !span.is_disabled() {
        record_fields(scope, span);
    }
}

/// The recording itself, out of line: most requests run with their spans disabled.
#[inline(never)]
fn record_fields(scope: &TenantScope, span: &tracing::Span) {
    span.record("tenant_id", tracing::field::display(scope.tenant_id()));
    span.record("tenant_slug", tracing::field::display(scope.slug()));
}

/// Records the scope's `tenant_id` and `tenant_slug` on the span that is current, when that span
/// declares those fields (for example `tenant_id = tracing::field::Empty`); does nothing when no
/// span is current, the span lacks the fields or no subscriber is installed.
///
/// This is what the adapters call on the caller's span (tower-http's `TraceLayer` span, an
/// `actix` logger span, ...). Unlike `tracing::Span::current().record(..)` it does not take a
/// handle on the span (a reference count in the subscriber's registry, and its release), which
/// matters on every request.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::{
///     HeaderResolver, InMemoryMembershipStore, InMemoryTenantStore, PipelineOutcome, Principal,
///     RequestView, Role, Tenant, TenantId, TenantPipeline, UserId, authenticator_fn,
///     record_scope_on_current_span,
/// };
///
/// let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme");
/// let user = UserId::new_random();
/// members.insert(acme.id, user, Role::Member);
/// tenants.insert(acme);
/// let pipeline = TenantPipeline::new(Arc::new(tenants), Arc::new(members))
///     .with_resolver(Arc::new(HeaderResolver::x_tenant()))
///     .with_authenticator(Arc::new(authenticator_fn(move |_: &RequestView<'_>| {
///         Ok(Some(Principal::user(user)))
///     })));
/// let req = http::Request::builder().header("x-tenant", "acme").body(())?;
/// let span = tracing::info_span!("request", tenant_id = tracing::field::Empty);
/// let _entered = span.enter();
/// if let Some(Ok(PipelineOutcome::Scoped(scope))) =
///     pipeline.run_now(&RequestView::from_request(&req))
/// {
///     record_scope_on_current_span(&scope); // `span` now carries the tenant id
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn record_scope_on_current_span(scope: &TenantScope) {
    use tracing::field::{Value, display};
    if !tracing::dispatcher::has_been_set() {
        return;
    }
    tracing::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        let (Some(id), Some(meta)) = (current.id(), current.metadata()) else {
            return;
        };
        let fields = meta.fields();
        if let Some(field) = fields.field("tenant_id") {
            let value = display(scope.tenant_id());
            let values = [(&field, Some(&value as &dyn Value))];
            dispatch.record(id, &tracing::span::Record::new(&fields.value_set(&values)));
        }
        if let Some(field) = fields.field("tenant_slug") {
            let value = display(scope.slug());
            let values = [(&field, Some(&value as &dyn Value))];
            dispatch.record(id, &tracing::span::Record::new(&fields.value_set(&values)));
        }
    });
}
