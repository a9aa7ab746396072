//! Memberships on real PostgreSQL as the unprivileged application role: own-rows lookups before
//! a scope exists, organisation switching (ATTACKS F.33), the assignment rules through the
//! library (F.30), the last-owner invariant incl. concurrent demotions (F.31), and revocation
//! through the library and through the caching store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod org_support;

use std::sync::Arc;

use org_support::{Org, members, sqlstate};
use tenancy_core::{
    AuthorizeError, CachingMembershipStore, DenyReason, MembershipStore, Role, TenantKey, UserId,
    authorize,
};
use tenancy_sqlx::{Members, MembershipError, PgMembershipStore};
use tokio::sync::Barrier;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sees_own_memberships_across_tenants_and_nobody_elses() {
    let org = Org::new().await;
    let (alice, bob, carol) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", alice).await;
    let b = org.tenant("beta", bob).await;
    let c = org.tenant("gamma", carol).await;
    org.seed(b.id, alice, Role::Member).await;

    // Positive control: alice sees her two memberships, with the right role in each.
    let mine = org.members.memberships_of(alice).await.unwrap();
    let mut got: Vec<_> = mine.iter().map(|m| (m.tenant_id, m.role)).collect();
    got.sort();
    let mut want = vec![(a.id, Role::Owner), (b.id, Role::Member)];
    want.sort();
    assert_eq!(got, want);
    assert!(
        mine.iter()
            .any(|m| m.slug.as_str() == "acme" && m.name == "ACME")
    );

    // Nobody else's: not bob's ownership of B, not carol's tenant.
    assert!(mine.iter().all(|m| m.tenant_id != c.id));
    assert_eq!(
        org.members.role(b.id, bob).await.unwrap(),
        Some(Role::Owner)
    );
    assert_eq!(org.members.role(c.id, alice).await.unwrap(), None);
    let bobs = org.members.memberships_of(bob).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!((bobs[0].tenant_id, bobs[0].role), (b.id, Role::Owner));

    // The raw table as the runtime role: no setting, no rows; user set, only that user's rows.
    // (In a transaction, so the test also runs through PgBouncer in transaction mode.)
    let mut plain = org.app.begin().await.unwrap();
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.memberships")
        .fetch_one(&mut *plain)
        .await
        .unwrap();
    plain.commit().await.unwrap();
    assert_eq!(none, 0, "no context must mean no rows");
    let mut tx = org.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('tenancy.user_id', $1, true)")
        .bind(alice.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let users: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT DISTINCT user_id FROM tenancy.memberships")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    assert_eq!(users, vec![alice.into_uuid()]);
    // And a pre-scope context cannot write.
    let err = sqlx::query(
        "INSERT INTO tenancy.memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')",
    )
    .bind(c.id.into_uuid())
    .bind(alice.into_uuid())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
    drop(tx);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_writes_stay_in_the_scope_tenant() {
    let org = Org::new().await;
    let (alice, bob) = (UserId::new_random(), UserId::new_random());
    let a = org.tenant("acme", alice).await;
    let b = org.tenant("beta", bob).await;
    org.seed(b.id, alice, Role::Member).await;
    let scope_a = org.scope(a.id, alice).await;

    let mut tx = org.pool.begin(&scope_a).await.unwrap();
    // Alice can read her own row of B inside A's transaction, but not change it.
    let n = sqlx::query(
        "UPDATE tenancy.memberships SET role = 'owner' WHERE user_id = $1 AND tenant_id = $2",
    )
    .bind(alice.into_uuid())
    .bind(b.id.into_uuid())
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 0);
    let n = sqlx::query("DELETE FROM tenancy.memberships WHERE tenant_id = $1")
        .bind(b.id.into_uuid())
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 0);
    // Positive control: her row of A is writable in A.
    let n = sqlx::query(
        "UPDATE tenancy.memberships SET updated_at = now() WHERE user_id = $1 AND tenant_id = $2",
    )
    .bind(alice.into_uuid())
    .bind(a.id.into_uuid())
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 1);
    let listed = members().list(&mut tx).await.unwrap();
    assert_eq!(listed.len(), 1, "the member list is A's only");
    assert_eq!((listed[0].user_id, listed[0].role), (alice, Role::Owner));
    tx.rollback().await.unwrap();
    assert_eq!(
        org.members.role(b.id, alice).await.unwrap(),
        Some(Role::Member)
    );
    org.close().await;
}

/// ATTACKS F.33: admin in A and member in B → member rights in B, also after A's role was
/// cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f33_admin_in_a_is_member_in_b() {
    let org = Org::new().await;
    let (owner_a, owner_b, dana, eve) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner_a).await;
    let b = org.tenant("beta", owner_b).await;
    org.seed(a.id, dana, Role::Admin).await;
    org.seed(b.id, dana, Role::Member).await;

    let cached = CachingMembershipStore::new(PgMembershipStore::new(org.app.clone()));
    let in_a = authorize(&org.tenants, &cached, &TenantKey::Id(a.id), dana)
        .await
        .unwrap();
    assert_eq!(in_a.role(), Role::Admin);
    // Switch organisation: the scope of B is built from B's membership.
    let in_b = authorize(
        &org.tenants,
        &cached,
        &TenantKey::Slug(b.slug.clone()),
        dana,
    )
    .await
    .unwrap();
    assert_eq!(in_b.role(), Role::Member);
    assert_eq!(in_b.tenant_id(), b.id);

    // Admin rights work in A (positive control) and not in B.
    let m = members();
    m.add(&org.pool, &in_a, eve, Role::Member).await.unwrap();
    let err = m
        .add(&org.pool, &in_b, eve, Role::Member)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MembershipError::Denied(DenyReason::InsufficientRole)),
        "{err:?}"
    );
    assert_eq!(org.members.role(b.id, eve).await.unwrap(), None);

    // The switcher lists each tenant with its own role.
    let list = org.members.memberships_of(dana).await.unwrap();
    let role_in = |t| list.iter().find(|m| m.tenant_id == t).map(|m| m.role);
    assert_eq!(
        (role_in(a.id), role_in(b.id)),
        (Some(Role::Admin), Some(Role::Member))
    );
    org.close().await;
}

/// ATTACKS F.30 through the library: the assignment rules of `tenancy_core::assignment::check`
/// decide, with the actor's role re-read in the transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f30_assignment_rules_apply_through_the_library() {
    let org = Org::new().await;
    let (owner, admin, member, newbie) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner).await;
    org.seed(a.id, admin, Role::Admin).await;
    org.seed(a.id, member, Role::Member).await;
    let (s_owner, s_admin, s_member) = (
        org.scope(a.id, owner).await,
        org.scope(a.id, admin).await,
        org.scope(a.id, member).await,
    );
    let m = members();

    let deny = |r: Result<(), MembershipError>| match r {
        Err(MembershipError::Denied(reason)) => reason,
        other => panic!("expected a denial, got {other:?}"),
    };
    assert_eq!(
        deny(
            m.change_role(&org.pool, &s_member, member, Role::Admin)
                .await
        ),
        DenyReason::InsufficientRole
    );
    assert_eq!(
        deny(
            m.change_role(&org.pool, &s_admin, member, Role::Owner)
                .await
        ),
        DenyReason::OwnerOnly
    );
    assert_eq!(
        deny(m.remove(&org.pool, &s_admin, owner).await),
        DenyReason::OwnerOnly
    );
    assert_eq!(
        deny(m.add(&org.pool, &s_admin, newbie, Role::Owner).await),
        DenyReason::OwnerOnly
    );
    assert_eq!(
        org.members.role(a.id, member).await.unwrap(),
        Some(Role::Member)
    );

    // Positive controls.
    m.change_role(&org.pool, &s_admin, member, Role::Manager)
        .await
        .unwrap();
    m.add(&org.pool, &s_owner, newbie, Role::Owner)
        .await
        .unwrap();
    assert_eq!(
        org.members.role(a.id, member).await.unwrap(),
        Some(Role::Manager)
    );
    assert_eq!(org.owners(a.id).await, 2);
    let err = m
        .add(&org.pool, &s_owner, newbie, Role::Member)
        .await
        .unwrap_err();
    assert!(matches!(err, MembershipError::AlreadyMember(u) if u == newbie));
    org.close().await;
}

/// ATTACKS F.31: the last owner cannot leave, be removed or be demoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f31_last_owner_cannot_leave_be_removed_or_demoted() {
    let org = Org::new().await;
    let (owner, other) = (UserId::new_random(), UserId::new_random());
    let a = org.tenant("acme", owner).await;
    let s_owner = org.scope(a.id, owner).await;
    let m = members();

    let last = |r: Result<(), MembershipError>| {
        assert!(matches!(r, Err(MembershipError::LastOwner)), "{r:?}");
    };
    last(m.leave(&org.pool, &s_owner).await);
    last(m.remove(&org.pool, &s_owner, owner).await);
    last(m.change_role(&org.pool, &s_owner, owner, Role::Admin).await);
    assert_eq!(org.owners(a.id).await, 1);

    // Also below the library: a raw statement in a tenant transaction hits the trigger.
    let mut tx = org.pool.begin(&s_owner).await.unwrap();
    let err = sqlx::query("DELETE FROM tenancy.memberships WHERE user_id = $1")
        .bind(owner.into_uuid())
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("TY001"));
    drop(tx);

    // Positive control: with a second owner, the first may step down and then leave.
    m.add(&org.pool, &s_owner, other, Role::Owner)
        .await
        .unwrap();
    m.change_role(&org.pool, &s_owner, owner, Role::Admin)
        .await
        .unwrap();
    let s_owner_now_admin = org.scope(a.id, owner).await;
    m.leave(&org.pool, &s_owner_now_admin).await.unwrap();
    assert_eq!(org.owners(a.id).await, 1);
    assert_eq!(
        org.members.role(a.id, other).await.unwrap(),
        Some(Role::Owner)
    );
    org.close().await;
}

/// ATTACKS F.31 under concurrency: two owners demote each other at the same moment, on two
/// connections released together by a barrier (no sleeps). Exactly one demotion wins; the
/// tenant keeps exactly one owner. Repeated on fresh tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f31_two_owners_demoting_each_other_at_once_leave_one_owner() {
    const ROUNDS: usize = 40;
    let org = Org::with_pool_size(4).await;
    let mut outcomes = [0usize; 2];
    for round in 0..ROUNDS {
        let (x, y) = (UserId::new_random(), UserId::new_random());
        let t = org.tenant(&format!("race-{round}"), x).await;
        org.seed(t.id, y, Role::Owner).await;
        let (sx, sy) = (org.scope(t.id, x).await, org.scope(t.id, y).await);
        let barrier = Arc::new(Barrier::new(2));

        // Odd rounds go through the library, even rounds use raw statements in tenant
        // transactions (the trigger alone).
        let demote = |actor: tenancy_core::TenantScope, target: UserId| {
            let pool = org.pool.clone();
            let barrier = Arc::clone(&barrier);
            async move {
                if round % 2 == 1 {
                    barrier.wait().await;
                    return Members::new()
                        .change_role(&pool, &actor, target, Role::Admin)
                        .await;
                }
                let mut tx = pool.begin(&actor).await?;
                barrier.wait().await;
                sqlx::query("UPDATE tenancy.memberships SET role = 'admin' WHERE user_id = $1")
                    .bind(target.into_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if sqlstate(&e).as_deref() == Some("TY001") {
                            MembershipError::LastOwner
                        } else {
                            MembershipError::Database(e)
                        }
                    })?;
                tx.commit().await?;
                Ok(())
            }
        };
        let (r1, r2) = tokio::join!(tokio::spawn(demote(sx, y)), tokio::spawn(demote(sy, x)));
        let results = [r1.unwrap(), r2.unwrap()];
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            ok, 1,
            "round {round}: exactly one demotion must win: {results:?}"
        );
        for r in &results {
            if let Err(e) = r {
                // Through the library the loser may also see the winner's demotion first and be
                // refused by the assignment rules (an admin cannot demote an owner).
                assert!(
                    matches!(
                        e,
                        MembershipError::LastOwner | MembershipError::Denied(DenyReason::OwnerOnly)
                    ),
                    "round {round}: unexpected error {e:?}"
                );
                outcomes[usize::from(matches!(e, MembershipError::LastOwner))] += 1;
            }
        }
        assert_eq!(org.owners(t.id).await, 1, "round {round}");
    }
    assert!(
        outcomes[1] > 0,
        "the trigger must have refused at least once: {outcomes:?}"
    );
    org.close().await;
}

/// Revocation through the library takes effect at once: the pipeline's `authorize` fails, the
/// revoked actor's stale scope can no longer manage members, and a `CachingMembershipStore`
/// passed as invalidator forgets the role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_membership_stops_working_immediately() {
    let org = Org::new().await;
    let (owner, admin, newbie) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner).await;
    org.seed(a.id, admin, Role::Admin).await;

    let cache = Arc::new(CachingMembershipStore::new(PgMembershipStore::new(
        org.app.clone(),
    )));
    let m = Members::new().with_invalidator(cache.clone());
    let s_owner = org.scope(a.id, owner).await;
    let s_admin = authorize(&org.tenants, cache.as_ref(), &TenantKey::Id(a.id), admin)
        .await
        .unwrap();
    assert_eq!(
        cache.role_of(a.id, admin).await.unwrap(),
        Some(Role::Admin),
        "cached"
    );

    m.remove(&org.pool, &s_owner, admin).await.unwrap();

    let err = authorize(&org.tenants, cache.as_ref(), &TenantKey::Id(a.id), admin)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthorizeError::NotMember(_)), "{err:?}");
    let err = authorize(&org.tenants, &org.members, &TenantKey::Id(a.id), admin)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthorizeError::NotMember(_)), "{err:?}");
    // The scope minted before the removal no longer carries admin rights.
    let err = m
        .add(&org.pool, &s_admin, newbie, Role::Member)
        .await
        .unwrap_err();
    assert!(matches!(err, MembershipError::ActorNotMember), "{err:?}");
    // Positive control: the owner still works.
    authorize(&org.tenants, cache.as_ref(), &TenantKey::Id(a.id), owner)
        .await
        .unwrap();
    org.close().await;
}

/// A change behind the library's back is served from the cache until the TTL (documented
/// bound) or an explicit invalidation; the uncached store sees it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_behind_the_librarys_back_is_bounded_by_the_cache() {
    let org = Org::new().await;
    let (owner, member) = (UserId::new_random(), UserId::new_random());
    let a = org.tenant("acme", owner).await;
    org.seed(a.id, member, Role::Member).await;
    let cache = CachingMembershipStore::new(PgMembershipStore::new(org.app.clone()));
    assert_eq!(
        cache.role_of(a.id, member).await.unwrap(),
        Some(Role::Member)
    );

    sqlx::query("DELETE FROM tenancy.memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(a.id.into_uuid())
        .bind(member.into_uuid())
        .execute(org.db.admin_pool())
        .await
        .unwrap();
    assert_eq!(
        org.members.role(a.id, member).await.unwrap(),
        None,
        "database is current"
    );
    assert_eq!(
        cache.role_of(a.id, member).await.unwrap(),
        Some(Role::Member),
        "served from the cache within the TTL"
    );
    cache.invalidate(a.id, member);
    assert_eq!(cache.role_of(a.id, member).await.unwrap(), None);
    org.close().await;
}

/// The race window of F.31 forced deterministically: T1 has demoted Y but not committed; T2's
/// demotion of X must wait for T1 (observed in `pg_locks`, no sleeping), then see Y's demotion
/// and fail with the last-owner error. Without the per-tenant lock both would count the other
/// as owner and commit, leaving none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f31_interleaved_demotion_waits_and_then_fails() {
    let org = Org::new().await;
    let (x, y) = (UserId::new_random(), UserId::new_random());
    let t = org.tenant("acme", x).await;
    org.seed(t.id, y, Role::Owner).await;
    let (sx, sy) = (org.scope(t.id, x).await, org.scope(t.id, y).await);

    let mut t1 = org.pool.begin(&sx).await.unwrap();
    sqlx::query("UPDATE tenancy.memberships SET role = 'admin' WHERE user_id = $1")
        .bind(y.into_uuid())
        .execute(&mut *t1)
        .await
        .unwrap();

    let mut t2 = org.pool.begin(&sy).await.unwrap();
    let t2_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *t2)
        .await
        .unwrap();
    let demote_x = tokio::spawn(async move {
        let r = sqlx::query("UPDATE tenancy.memberships SET role = 'admin' WHERE user_id = $1")
            .bind(x.into_uuid())
            .execute(&mut *t2)
            .await;
        (r, t2)
    });
    // Wait until T2 is blocked on the advisory lock held by T1.
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted)",
        )
        .bind(t2_pid)
        .fetch_one(org.db.admin_pool())
        .await
        .unwrap();
        if waiting {
            break;
        }
        assert!(!demote_x.is_finished(), "T2 must wait for T1's owner lock");
        tokio::task::yield_now().await;
    }
    t1.commit().await.unwrap();
    let (r, t2) = demote_x.await.unwrap();
    let err = r.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("TY001"), "{err}");
    drop(t2);
    assert_eq!(org.owners(t.id).await, 1);
    assert_eq!(org.members.role(t.id, x).await.unwrap(), Some(Role::Owner));
    org.close().await;
}

/// Under REPEATABLE READ the owner count would come from a stale snapshot: owner changes are
/// refused there instead (documented), other changes still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_changes_are_refused_under_repeatable_read() {
    let org = Org::new().await;
    let (x, y, z) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let t = org.tenant("acme", x).await;
    org.seed(t.id, y, Role::Owner).await;
    org.seed(t.id, z, Role::Member).await;
    let mut tx = org
        .app
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    sqlx::query("SELECT set_config('tenancy.tenant_id', $1, true)")
        .bind(t.id.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    // Positive control: a non-owner change is fine.
    sqlx::query("UPDATE tenancy.memberships SET role = 'manager' WHERE user_id = $1")
        .bind(z.into_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("UPDATE tenancy.memberships SET role = 'admin' WHERE user_id = $1")
        .bind(y.into_uuid())
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("TY003"), "{err}");
    drop(tx);
    org.close().await;
}

/// The catalog auditor finds no error in the tables of migration 0002 (the tenant pool of the
/// fixture would also refuse to start otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_audit_accepts_the_organisation_tables() {
    let org = Org::new().await;
    let findings = tenancy_sqlx::audit(&org.app).await.unwrap();
    let errors: Vec<_> = findings
        .iter()
        .filter(|f| f.severity == tenancy_sqlx::Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let ours: Vec<_> = findings
        .iter()
        .filter(|f| {
            ["memberships", "invitations", "audit_log"]
                .iter()
                .any(|t| f.object.contains(t))
        })
        .collect();
    assert!(ours.is_empty(), "{ours:#?}");
    org.close().await;
}
