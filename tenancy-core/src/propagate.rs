//! Carrying the tenant scope into spawned work and background jobs.
//!
//! Two tools, for two situations:
//!
//! - **Inside one process, same request:** a task-local holds the current [`TenantScope`].
//!   [`in_scope`] (or [`TenantScope::scope_future`]) runs a future with the scope attached;
//!   [`try_current`] reads it and fails closed with [`NoScopeError`] when there is none.
//! - **Across a queue or a restart:** a [`TenantRef`] is a serialisable *reference* to a scope
//!   (tenant id, user id, actor kind). It proves nothing; [`TenantRef::rehydrate`] turns it back
//!   into a scope by re-checking the tenant's status and the user's membership through
//!   [`authorize`], so a job for a suspended or deleted tenant, or for a revoked member, does not
//!   run (ATTACKS 14, 37).
//!
//! The task-local is a convenience for code far from the handler (logging, metrics, helpers);
//! prefer passing `&TenantScope` explicitly where you can. Database access still needs a
//! transaction opened from the scope; the task-local never reaches the database by itself.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use serde::{Deserialize, Serialize};

use crate::scope::{AuthorizeError, authorize_as};
use crate::store::{MembershipStore, TenantKey, TenantStore};
use crate::{PrincipalKind, TenantId, TenantScope, UserId};

thread_local! {
    /// The scope of the [`ScopedFuture`] being polled on this thread (a task-local: each
    /// `ScopedFuture` swaps its scope in for the duration of its poll, and back out after).
    ///
    /// A `Cell`, not a `RefCell`: it is only ever swapped or briefly taken and put back, never
    /// borrowed while other code runs, so no access can find it busy.
    static CURRENT_SCOPE: Cell<Option<TenantScope>> = const { Cell::new(None) };
}

pin_project! {
    /// A future running with a [`TenantScope`] attached; see [`in_scope`].
    ///
    /// While it is polled (and while the inner future is dropped) the scope is the current one
    /// for [`try_current`]; the scope that was current before (an outer `ScopedFuture`'s, or none)
    /// is restored afterwards, also when the inner future panics.
    ///
    /// ```
    /// use tenancy_core::{authorize, in_scope, try_current, InMemoryMembershipStore,
    ///     InMemoryTenantStore, Role, ScopedFuture, Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let tenants = InMemoryTenantStore::new();
    /// # let members = InMemoryMembershipStore::new();
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// let fut: ScopedFuture<_> = in_scope(scope, async { try_current().map(|s| s.tenant_id()) });
    /// assert_eq!(fut.await.unwrap(), acme.id);
    /// assert!(try_current().is_err()); // not past the future
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct ScopedFuture<F> {
        // This future's scope while it is not polled; while it is, whatever was current before.
        slot: Option<TenantScope>,
        // `None` once the inner future completed (it is dropped then, inside the scope).
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for ScopedFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            if future.is_some() {
                // The inner future's destructor runs inside the scope too.
                with_slot(this.slot, || future.set(None));
            }
        }
    }
}

impl<F: Future> Future for ScopedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut future = this.future;
        with_slot(this.slot, || {
            // Polled again after completion: stay pending rather than panic.
            let Some(inner) = future.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            let out = inner.poll(cx);
            if out.is_ready() {
                future.set(None);
            }
            out
        })
    }
}

impl<F> fmt::Debug for ScopedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedFuture")
            .field("scope", &self.slot)
            .finish_non_exhaustive()
    }
}

/// Runs `f` with the scope in `slot` as the current one, then puts it back (also on unwind).
#[inline]
fn with_slot<R>(slot: &mut Option<TenantScope>, f: impl FnOnce() -> R) -> R {
    /// Swaps the scopes back when dropped.
    struct Restore<'a>(&'a mut Option<TenantScope>);
    impl Drop for Restore<'_> {
        #[inline]
        fn drop(&mut self) {
            swap_current(self.0);
        }
    }
    swap_current(slot);
    let _restore = Restore(slot);
    f()
}

/// Exchanges `slot` with the current scope. When the thread's storage is already gone (thread
/// exit) nothing is exchanged: the future then runs without a scope and `try_current` fails
/// closed, as it does everywhere on that thread.
#[inline]
fn swap_current(slot: &mut Option<TenantScope>) {
    let _ = CURRENT_SCOPE.try_with(|current| {
        let mine = slot.take();
        *slot = current.replace(mine);
    });
}

/// Runs `fut` with `scope` as the current tenant scope (readable with [`try_current`]).
///
/// The scope is attached to this future only: tasks it spawns do not inherit it (see below).
/// Nested calls shadow the outer scope for the inner future.
///
/// # Pitfall: `tokio::spawn` does not inherit the scope
///
/// The scope belongs to the *future* it wraps, not to the thread or the runtime. A future
/// handed to `tokio::spawn` (or `spawn_blocking`, `JoinSet::spawn`, a thread pool) starts with no
/// scope, and [`try_current`] inside it returns `Err(NoScopeError)`. That is deliberate (no scope
/// means no tenant, never "the last tenant this thread saw"); wrap the spawned future explicitly:
///
/// ```
/// use tenancy_core::{authorize, in_scope, try_current, InMemoryMembershipStore,
///     InMemoryTenantStore, Role, Tenant, TenantId, TenantKey, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let tenants = InMemoryTenantStore::new();
/// # let members = InMemoryMembershipStore::new();
/// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// # let alice = UserId::new_random();
/// # tenants.insert(acme.clone());
/// # members.insert(acme.id, alice, Role::Member);
/// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
///
/// in_scope(scope.clone(), async {
///     // WRONG: the spawned task has no scope.
///     let lost = tokio::spawn(async { try_current().is_ok() }).await.unwrap();
///     assert!(!lost);
///
///     // RIGHT: attach the scope to the spawned future.
///     let current = try_current().unwrap();
///     let kept = tokio::spawn(in_scope(current.clone(), async {
///         try_current().map(|s| s.tenant_id())
///     }))
///     .await
///     .unwrap();
///     assert_eq!(kept.unwrap(), acme.id);
/// })
/// .await;
/// # });
/// ```
///
///
/// The task-local is a convenience for code far from the handler (logging, metrics, helpers);
/// prefer passing `&TenantScope` explicitly where you can. Database access still needs a
/// transaction opened from the scope; the task-local never reaches the database by itself.
pub fn in_scope<F: Future>(scope: TenantScope, fut: F) -> ScopedFuture<F> {
    ScopedFuture {
        slot: Some(scope),
        future: Some(fut),
    }
}

/// The tenant scope of the current task, or [`NoScopeError`] outside [`in_scope`].
///
/// ```
/// assert!(tenancy_core::try_current().is_err());
/// ```
pub fn try_current() -> Result<TenantScope, NoScopeError> {
    CURRENT_SCOPE
        .try_with(|current| {
            let scope = current.take();
            let copy = scope.clone();
            current.set(scope);
            copy
        })
        .ok()
        .flatten()
        .ok_or(NoScopeError { _private: () })
}

/// Runs `f` with a reference to the current scope, or fails with [`NoScopeError`] outside
/// [`in_scope`]. `f` gets its own handle on the scope (cheap: a reference count), so it may call
/// [`try_current`] or poll other scoped futures itself.
///
/// ```
/// assert!(tenancy_core::with_current(|s| s.tenant_id()).is_err());
/// ```
pub fn with_current<R>(f: impl FnOnce(&TenantScope) -> R) -> Result<R, NoScopeError> {
    try_current().map(|scope| f(&scope))
}

impl TenantScope {
    /// Runs `fut` with this scope as the current one; same as [`in_scope`]`(self.clone(), fut)`.
    ///
    /// ```
    /// use tenancy_core::{authorize, try_current, InMemoryMembershipStore, InMemoryTenantStore, Role,
    ///     Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// let slug = scope.scope_future(async { try_current().unwrap().slug().to_string() }).await;
    /// assert_eq!(slug, "acme");
    /// # });
    /// ```
    pub fn scope_future<F: Future>(&self, fut: F) -> ScopedFuture<F> {
        in_scope(self.clone(), fut)
    }

    /// A serialisable reference to this scope, to put in a job payload. It records the scope's
    /// actor kind as the originator; use [`to_ref_as`](Self::to_ref_as) for another.
    ///
    /// ```
    /// use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, PrincipalKind, Role,
    ///     Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// let job = scope.to_ref();
    /// assert_eq!((job.tenant_id(), job.user_id()), (acme.id, alice));
    /// assert_eq!(job.actor(), PrincipalKind::User);
    /// # });
    /// ```
    pub fn to_ref(&self) -> TenantRef {
        self.to_ref_as(self.actor())
    }

    /// A serialisable reference to this scope with an explicit actor kind.
    ///
    /// ```
    /// use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, PrincipalKind, Role,
    ///     Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// // A nightly export the user scheduled, recorded as started by a service.
    /// let job = scope.to_ref_as(PrincipalKind::Service);
    /// assert_eq!(job.actor(), PrincipalKind::Service);
    /// # });
    /// ```
    pub fn to_ref_as(&self, actor: PrincipalKind) -> TenantRef {
        TenantRef {
            tenant_id: self.tenant_id(),
            user_id: self.user_id(),
            actor,
        }
    }
}

/// There is no tenant scope in the current task.
///
/// Either the code runs outside [`in_scope`], or in a task spawned without re-attaching the
/// scope (`tokio::spawn` does not inherit task-locals).
///
/// ```
/// use tenancy_core::{NoScopeError, try_current};
/// let err: NoScopeError = try_current().unwrap_err();
/// assert!(err.to_string().starts_with("no tenant scope in this task"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no tenant scope in this task; spawned tasks do not inherit it, wrap the future with `in_scope`"
)]
pub struct NoScopeError {
    _private: (),
}

/// A serialisable reference to a tenant scope, for job payloads and messages.
///
/// It is **not** a scope: anybody can write one in JSON. Turn it back into a [`TenantScope`] with
/// [`rehydrate`](Self::rehydrate), which looks the tenant up by id (never by slug, which a
/// deleted tenant may have passed on), checks its status and re-reads the user's membership. The
/// rehydrated scope carries the user's *current* role, not the role at enqueue time.
///
/// ```
/// use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
///     TenantId, TenantKey, TenantRef, TenantStatus, UserId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let tenants = InMemoryTenantStore::new();
/// # let members = InMemoryMembershipStore::new();
/// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
/// # let alice = UserId::new_random();
/// # tenants.insert(acme.clone());
/// # members.insert(acme.id, alice, Role::Manager);
/// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
/// let payload = serde_json::to_string(&scope.to_ref()).unwrap();
///
/// // Later, in the worker:
/// let job: TenantRef = serde_json::from_str(&payload).unwrap();
/// let scope = job.rehydrate(&tenants, &members).await.unwrap();
/// assert_eq!(scope.tenant_id(), acme.id);
///
/// // Suspended meanwhile: the job does not run.
/// tenants.insert(acme.clone().with_status(TenantStatus::Suspended));
/// assert!(job.rehydrate(&tenants, &members).await.is_err());
/// # });
/// ```
///
/// A deserialised reference cannot stand in for a scope:
///
/// ```compile_fail
/// let scope: tenancy_core::TenantScope = serde_json::from_str("{}").unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRef {
    tenant_id: TenantId,
    user_id: UserId,
    actor: PrincipalKind,
}

impl TenantRef {
    /// The referenced tenant.
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
    /// # let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// let job = scope.to_ref();
    /// assert_eq!(job.tenant_id(), acme.id);
    /// # });
    /// ```
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The user the work runs as.
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
    /// # let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// let job = scope.to_ref();
    /// assert_eq!(job.user_id(), alice);
    /// # });
    /// ```
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Who started the work (informational: anybody can write this field).
    ///
    /// ```
    /// use tenancy_core::{PrincipalKind, TenantRef};
    /// // Anybody can write a reference; the actor field is only informational.
    /// let job: TenantRef = serde_json::from_str(r#"{
    ///     "tenant_id": "0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60",
    ///     "user_id": "0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f61",
    ///     "actor": "api_key"
    /// }"#)?;
    /// assert_eq!(job.actor(), PrincipalKind::ApiKey);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn actor(&self) -> PrincipalKind {
        self.actor
    }

    /// Re-checks the tenant (by id, status) and the membership, and mints a fresh scope.
    ///
    /// Fails with [`AuthorizeError::UnknownTenant`] for a deleted-and-purged tenant,
    /// [`AuthorizeError::TenantNotActive`] for a suspended or deleted one,
    /// [`AuthorizeError::NotMember`] for a revoked member, and [`AuthorizeError::Store`] when a
    /// store is down (fail closed: retry the job later).
    ///
    /// ```
    /// use tenancy_core::{authorize, AuthorizeError, InMemoryMembershipStore, InMemoryTenantStore,
    ///     PrincipalKind, Role, Tenant, TenantId, TenantKey, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Admin);
    /// let job = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap().to_ref();
    ///
    /// // The role is read again: a demotion since enqueueing applies.
    /// members.insert(acme.id, alice, Role::Member);
    /// let scope = job.rehydrate(&tenants, &members).await.unwrap();
    /// assert_eq!(scope.role(), Role::Member);
    /// assert_eq!(scope.actor(), PrincipalKind::Job);
    ///
    /// // A revoked member's job does not run.
    /// members.remove(acme.id, alice);
    /// let err = job.rehydrate(&tenants, &members).await.unwrap_err();
    /// assert!(matches!(err, AuthorizeError::NotMember(_)));
    /// # });
    /// ```
    pub async fn rehydrate(
        &self,
        tenants: &dyn TenantStore,
        members: &dyn MembershipStore,
    ) -> Result<TenantScope, AuthorizeError> {
        // The rehydrated scope acts as a job for the user, whatever the payload claims.
        let scope = authorize_as(
            tenants,
            members,
            &TenantKey::Id(self.tenant_id),
            self.user_id,
            PrincipalKind::Job,
        )
        .await;
        if let Err(e) = &scope {
            tracing::info!(tenant_id = %self.tenant_id, user_id = %self.user_id, error = %e,
                "tenant reference refused");
        }
        scope
    }

    /// Rehydrates, then runs the future built by `job` with the scope attached (so
    /// [`try_current`] works inside). The future is not built when rehydration fails.
    ///
    /// ```
    /// use tenancy_core::{authorize, try_current, InMemoryMembershipStore, InMemoryTenantStore, Role,
    ///     Tenant, TenantId, TenantKey, TenantStatus, UserId};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let job = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap().to_ref();
    ///
    /// let sent = job
    ///     .run(&tenants, &members, |scope| async move {
    ///         // Both the argument and the task-local carry the scope.
    ///         assert_eq!(try_current().unwrap().tenant_id(), scope.tenant_id());
    ///         format!("report for {}", scope.slug())
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(sent, "report for acme");
    ///
    /// tenants.insert(acme.with_status(TenantStatus::Suspended));
    /// let refused = job.run(&tenants, &members, |_| async { unreachable!("not built") }).await;
    /// assert!(refused.is_err());
    /// # });
    /// ```
    pub async fn run<F, Fut>(
        &self,
        tenants: &dyn TenantStore,
        members: &dyn MembershipStore,
        job: F,
    ) -> Result<Fut::Output, AuthorizeError>
    where
        F: FnOnce(TenantScope) -> Fut,
        Fut: Future,
    {
        let scope = self.rehydrate(tenants, members).await?;
        Ok(in_scope(scope.clone(), job(scope)).await)
    }
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant {} as {}", self.tenant_id, self.user_id)
    }
}
