//! Propagation of the tenant scope: task-local (and its absence in spawned tasks), and
//! `TenantRef` rehydration re-checking status and membership.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tenancy_core::{
    AuthorizeError, InMemoryMembershipStore, InMemoryTenantStore, PrincipalKind, Role, Tenant,
    TenantId, TenantKey, TenantRef, TenantScope, TenantStatus, UserId, authorize, in_scope,
    try_current, with_current,
};

struct World {
    tenants: InMemoryTenantStore,
    members: InMemoryMembershipStore,
    a: Tenant,
    b: Tenant,
    alice: UserId,
    bob: UserId,
}

fn world() -> World {
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let a = Tenant::new(TenantId::new_random(), "tenant-a".parse().unwrap(), "A");
    let b = Tenant::new(TenantId::new_random(), "tenant-b".parse().unwrap(), "B");
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    tenants.insert(a.clone());
    tenants.insert(b.clone());
    members.insert(a.id, alice, Role::Admin);
    members.insert(b.id, bob, Role::Member);
    World {
        tenants,
        members,
        a,
        b,
        alice,
        bob,
    }
}

impl World {
    async fn scope(&self, t: &Tenant, u: UserId) -> TenantScope {
        authorize(&self.tenants, &self.members, &TenantKey::Id(t.id), u)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn no_scope_outside_in_scope() {
    let err = try_current().unwrap_err();
    assert!(err.to_string().contains("in_scope"));
    assert!(with_current(|s| s.tenant_id()).is_err());
}

#[tokio::test]
async fn scope_is_visible_inside_and_gone_after() {
    let w = world();
    let scope = w.scope(&w.a, w.alice).await;
    let seen = in_scope(scope.clone(), async { try_current().unwrap().tenant_id() }).await;
    assert_eq!(seen, w.a.id);
    let seen = scope
        .scope_future(async { with_current(|s| s.user_id()).unwrap() })
        .await;
    assert_eq!(seen, w.alice);
    assert!(
        try_current().is_err(),
        "the scope does not leak past the future"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_spawn_does_not_inherit_and_wrapped_spawn_does() {
    let w = world();
    let scope = w.scope(&w.a, w.alice).await;
    let (plain, wrapped) = in_scope(scope, async {
        let plain = tokio::spawn(async { try_current().is_err() })
            .await
            .unwrap();
        let current = try_current().unwrap();
        let wrapped = tokio::spawn(in_scope(current, async {
            try_current().map(|s| s.tenant_id()).ok()
        }))
        .await
        .unwrap();
        (plain, wrapped)
    })
    .await;
    assert!(plain, "a plain spawn has no scope: fails closed");
    assert_eq!(
        wrapped,
        Some(w.a.id),
        "positive control: the wrapped spawn has A"
    );
}

#[tokio::test]
async fn interleaved_tasks_each_see_their_own_tenant() {
    let w = world();
    let sa = w.scope(&w.a, w.alice).await;
    let sb = w.scope(&w.b, w.bob).await;
    let run = |scope: TenantScope| {
        in_scope(scope, async {
            let mut seen = Vec::new();
            for _ in 0..50 {
                seen.push(try_current().unwrap().tenant_id());
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let (seen_a, seen_b) = tokio::join!(run(sa), run(sb));
    assert!(seen_a.iter().all(|t| *t == w.a.id));
    assert!(seen_b.iter().all(|t| *t == w.b.id));
}

#[tokio::test]
async fn nested_scope_shadows_then_restores() {
    let w = world();
    let sa = w.scope(&w.a, w.alice).await;
    let sb = w.scope(&w.b, w.bob).await;
    in_scope(sa, async {
        let inner = in_scope(sb, async { try_current().unwrap().tenant_id() }).await;
        assert_eq!(inner, w.b.id);
        assert_eq!(try_current().unwrap().tenant_id(), w.a.id);
    })
    .await;
}

#[tokio::test]
async fn tenant_ref_round_trips_through_json_and_rehydrates() {
    let w = world();
    let scope = w.scope(&w.a, w.alice).await;
    let r = scope.to_ref_as(PrincipalKind::Service);
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"actor\":\"service\""));
    let back: TenantRef = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let rehydrated = back.rehydrate(&w.tenants, &w.members).await.unwrap();
    assert_eq!(rehydrated.tenant_id(), w.a.id);
    assert_eq!(rehydrated.user_id(), w.alice);
    assert_eq!(rehydrated.role(), Role::Admin);
    // The origin kind travels in the payload; the rehydrated scope acts as a job.
    assert_eq!(back.actor(), PrincipalKind::Service);
    assert_eq!(rehydrated.actor(), PrincipalKind::Job);
}

#[tokio::test]
async fn unknown_fields_in_a_payload_are_refused() {
    let w = world();
    let scope = w.scope(&w.a, w.alice).await;
    let mut v = serde_json::to_value(scope.to_ref()).unwrap();
    v["role"] = serde_json::json!("owner");
    assert!(serde_json::from_value::<TenantRef>(v).is_err());
}

#[tokio::test]
async fn rehydrate_fails_for_suspended_and_deleted_tenants() {
    let w = world();
    let r = w.scope(&w.a, w.alice).await.to_ref();
    for status in [TenantStatus::Suspended, TenantStatus::Deleted] {
        w.tenants.insert(w.a.clone().with_status(status));
        let err = r.rehydrate(&w.tenants, &w.members).await.unwrap_err();
        assert!(
            matches!(err, AuthorizeError::TenantNotActive { .. }),
            "{status:?}: {err}"
        );
    }
    w.tenants.remove(w.a.id);
    let err = r.rehydrate(&w.tenants, &w.members).await.unwrap_err();
    assert!(matches!(err, AuthorizeError::UnknownTenant(_)));
    // Positive control: B's job is unaffected.
    let rb = w.scope(&w.b, w.bob).await.to_ref();
    assert!(rb.rehydrate(&w.tenants, &w.members).await.is_ok());
}

#[tokio::test]
async fn rehydrate_fails_for_revoked_member_and_uses_current_role() {
    let w = world();
    let r = w.scope(&w.a, w.alice).await.to_ref();
    w.members.insert(w.a.id, w.alice, Role::Member);
    let s = r.rehydrate(&w.tenants, &w.members).await.unwrap();
    assert_eq!(
        s.role(),
        Role::Member,
        "the current role, not the enqueue-time role"
    );
    w.members.remove(w.a.id, w.alice);
    let err = r.rehydrate(&w.tenants, &w.members).await.unwrap_err();
    assert!(matches!(err, AuthorizeError::NotMember(_)));
}

#[tokio::test]
async fn forged_ref_for_another_tenant_is_refused() {
    let w = world();
    // Bob is a member of B only; a hand-written payload naming A does not get him in.
    let forged = serde_json::json!({
        "tenant_id": w.a.id, "user_id": w.bob, "actor": "user"
    });
    let r: TenantRef = serde_json::from_value(forged).unwrap();
    let err = r.rehydrate(&w.tenants, &w.members).await.unwrap_err();
    assert!(matches!(err, AuthorizeError::NotMember(_)));
}

#[tokio::test]
async fn run_attaches_the_scope_and_does_not_run_refused_jobs() {
    let w = world();
    let r = w.scope(&w.a, w.alice).await.to_ref();
    let seen = r
        .run(&w.tenants, &w.members, |_scope| async {
            try_current().unwrap().tenant_id()
        })
        .await
        .unwrap();
    assert_eq!(seen, w.a.id);

    w.tenants
        .insert(w.a.clone().with_status(TenantStatus::Suspended));
    let mut ran = false;
    let res = r
        .run(&w.tenants, &w.members, |_scope| {
            ran = true;
            async {}
        })
        .await;
    assert!(res.is_err());
    assert!(!ran, "the job closure is not even called");
}

#[tokio::test]
async fn a_panicking_poll_restores_the_outer_scope() {
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::task::{Context, Waker};

    let w = world();
    let sa = w.scope(&w.a, w.alice).await;
    let sb = w.scope(&w.b, w.bob).await;
    let after = in_scope(sa, async move {
        let mut inner = Box::pin(in_scope(sb, async {
            assert!(try_current().is_ok());
            panic!("handler panicked");
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let res = catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(&mut cx)));
        assert!(res.is_err());
        try_current().unwrap().tenant_id()
    })
    .await;
    assert_eq!(after, w.a.id, "the outer scope is back after the panic");
    assert!(try_current().is_err());
}

#[tokio::test]
async fn the_inner_future_is_dropped_inside_its_scope() {
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Waker};

    struct Probe(Arc<Mutex<Option<TenantId>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = try_current().ok().map(|s| s.tenant_id());
        }
    }

    let w = world();
    let seen = Arc::new(Mutex::new(None));
    let probe = Probe(seen.clone());
    let mut fut = Box::pin(in_scope(w.scope(&w.b, w.bob).await, async move {
        let _probe = probe;
        std::future::pending::<()>().await;
    }));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    // Dropped unfinished, outside any scope: the inner future's destructor still sees B.
    drop(fut);
    assert_eq!(*seen.lock().unwrap(), Some(w.b.id));
    assert!(try_current().is_err());
}
