//! Invitations on real PostgreSQL as the unprivileged application role (ATTACKS F.34):
//! single use, bound to the invited email, expiring, capped at the inviter's role, token stored
//! only as a hash, accept atomic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod org_support;

use std::sync::Arc;

use org_support::{Org, members};
use tenancy_core::{DenyReason, Role, UserId};
use tenancy_sqlx::audit_log::{self, Actor};
use tenancy_sqlx::{InvitationError, Invitations};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_creates_the_membership_once_and_stores_only_a_hash() {
    let org = Org::new().await;
    let (owner, bob, mallory) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner).await;
    let s_owner = org.scope(a.id, owner).await;
    let inv = Invitations::new();

    let (invitation, token) = inv
        .invite(&org.pool, &s_owner, "Bob@Example.com", Role::Manager)
        .await
        .unwrap();
    assert_eq!(invitation.email, "bob@example.com");
    assert_eq!(invitation.tenant_id, a.id);

    // Only the sha256 of the token is stored; the token appears in no column.
    let (hash_ok, anywhere): (bool, bool) = sqlx::query_as(
        "SELECT token_hash = sha256(convert_to($1, 'UTF8')), \
                position($1 in i::text) > 0 \
         FROM tenancy.invitations i WHERE id = $2",
    )
    .bind(token.expose())
    .bind(invitation.id)
    .fetch_one(org.db.admin_pool())
    .await
    .unwrap();
    assert!(hash_ok);
    assert!(!anywhere, "the plain token must not be stored");

    let accepted = inv
        .accept(&org.app, token.expose(), bob, "bob@example.com")
        .await
        .unwrap();
    assert_eq!((accepted.tenant_id, accepted.role), (a.id, Role::Manager));
    assert_eq!(
        org.members.role(a.id, bob).await.unwrap(),
        Some(Role::Manager)
    );
    org.scope(a.id, bob).await;

    // Single use: neither bob again nor anyone else.
    for user in [bob, mallory] {
        let err = inv
            .accept(&org.app, token.expose(), user, "bob@example.com")
            .await
            .unwrap_err();
        assert!(matches!(err, InvitationError::AlreadyUsed), "{err:?}");
    }
    assert_eq!(org.members.role(a.id, mallory).await.unwrap(), None);
    // An accepted invitation cannot be revoked any more.
    let err = inv
        .revoke(&org.pool, &s_owner, invitation.id)
        .await
        .unwrap_err();
    assert!(matches!(err, InvitationError::AlreadyUsed), "{err:?}");

    let (by, used): (Option<uuid::Uuid>, bool) = sqlx::query_as(
        "SELECT accepted_by, accepted_at IS NOT NULL FROM tenancy.invitations WHERE id = $1",
    )
    .bind(invitation.id)
    .fetch_one(org.db.admin_pool())
    .await
    .unwrap();
    assert_eq!((by, used), (Some(bob.into_uuid()), true));

    // Both steps are in the tenant's audit trail, each with its real actor.
    let mut tx = org.pool.begin(&s_owner).await.unwrap();
    let trail: Vec<_> = audit_log::entries(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("invitation."))
        .map(|e| (e.action, e.actor, e.target))
        .collect();
    let target = Some(invitation.id.to_string());
    assert_eq!(
        trail,
        [
            (
                "invitation.created".to_owned(),
                Actor::User(owner),
                target.clone()
            ),
            ("invitation.accepted".to_owned(), Actor::User(bob), target),
        ]
    );
    audit_log::verify_chain(&mut tx).await.unwrap();
    drop(tx);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_is_bound_to_the_invited_email() {
    let org = Org::new().await;
    let (owner, bob, mallory) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner).await;
    let s_owner = org.scope(a.id, owner).await;
    let inv = Invitations::new();
    let (_, token) = inv
        .invite(&org.pool, &s_owner, "bob@example.com", Role::Member)
        .await
        .unwrap();

    let err = inv
        .accept(&org.app, token.expose(), mallory, "mallory@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, InvitationError::EmailMismatch), "{err:?}");
    assert_eq!(org.members.role(a.id, mallory).await.unwrap(), None);
    // Positive control: the failed attempt did not consume it.
    inv.accept(&org.app, token.expose(), bob, "BOB@example.com")
        .await
        .unwrap();
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_invitations_are_refused() {
    let org = Org::new().await;
    let (owner, bob, carol) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner).await;
    let s_owner = org.scope(a.id, owner).await;
    let inv = Invitations::new();

    let (old, old_token) = inv
        .invite(&org.pool, &s_owner, "bob@example.com", Role::Member)
        .await
        .unwrap();
    // Age it as the superuser (no sleeping).
    sqlx::query(
        "UPDATE tenancy.invitations SET created_at = now() - interval '8 days', \
         expires_at = now() - interval '1 day' WHERE id = $1",
    )
    .bind(old.id)
    .execute(org.db.admin_pool())
    .await
    .unwrap();
    let err = inv
        .accept(&org.app, old_token.expose(), bob, "bob@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, InvitationError::Expired), "{err:?}");

    let (revoked, revoked_token) = inv
        .invite(&org.pool, &s_owner, "carol@example.com", Role::Member)
        .await
        .unwrap();
    inv.revoke(&org.pool, &s_owner, revoked.id).await.unwrap();
    let err = inv
        .accept(&org.app, revoked_token.expose(), carol, "carol@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, InvitationError::Revoked), "{err:?}");
    // Revoking twice says so (not "already used").
    let err = inv
        .revoke(&org.pool, &s_owner, revoked.id)
        .await
        .unwrap_err();
    assert!(matches!(err, InvitationError::Revoked), "{err:?}");
    assert_eq!(org.members.role(a.id, bob).await.unwrap(), None);
    assert_eq!(org.members.role(a.id, carol).await.unwrap(), None);

    // Positive control: a fresh invitation with a short but unexpired lifetime works.
    let (_, fresh) = Invitations::new()
        .with_ttl(std::time::Duration::from_secs(3600))
        .invite(&org.pool, &s_owner, "bob@example.com", Role::Member)
        .await
        .unwrap();
    inv.accept(&org.app, fresh.expose(), bob, "bob@example.com")
        .await
        .unwrap();
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invited_role_is_capped_at_the_inviters_role() {
    let org = Org::new().await;
    let (owner, admin, manager, bob) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner).await;
    org.seed(a.id, admin, Role::Admin).await;
    org.seed(a.id, manager, Role::Manager).await;
    let (s_admin, s_manager) = (org.scope(a.id, admin).await, org.scope(a.id, manager).await);
    let inv = Invitations::new();

    let denied = |r: Result<_, InvitationError>| match r {
        Err(InvitationError::Denied(reason)) => reason,
        other => panic!("expected a denial, got {other:?}"),
    };
    assert_eq!(
        denied(
            inv.invite(&org.pool, &s_admin, "x@example.com", Role::Owner)
                .await
        ),
        DenyReason::OwnerOnly
    );
    assert_eq!(
        denied(
            inv.invite(&org.pool, &s_manager, "x@example.com", Role::Member)
                .await
        ),
        DenyReason::InsufficientRole
    );
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.invitations")
        .fetch_one(org.db.admin_pool())
        .await
        .unwrap();
    assert_eq!(pending, 0);

    // Positive control: an admin invites an admin.
    let (_, token) = inv
        .invite(&org.pool, &s_admin, "bob@example.com", Role::Admin)
        .await
        .unwrap();
    // ... but if the inviter is demoted before the accept, the invitation no longer carries it.
    let s_owner = org.scope(a.id, owner).await;
    members()
        .change_role(&org.pool, &s_owner, admin, Role::Manager)
        .await
        .unwrap();
    let err = inv
        .accept(&org.app, token.expose(), bob, "bob@example.com")
        .await
        .unwrap_err();
    assert!(matches!(err, InvitationError::InviterLostRights), "{err:?}");
    assert_eq!(org.members.role(a.id, bob).await.unwrap(), None);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_or_foreign_tokens_find_nothing() {
    let org = Org::new().await;
    let (owner_a, owner_b, bob) = (
        UserId::new_random(),
        UserId::new_random(),
        UserId::new_random(),
    );
    let a = org.tenant("acme", owner_a).await;
    let b = org.tenant("beta", owner_b).await;
    let inv = Invitations::new();
    let (_, token) = inv
        .invite(
            &org.pool,
            &org.scope(a.id, owner_a).await,
            "bob@example.com",
            Role::Member,
        )
        .await
        .unwrap();

    // The same secret under B's tenant prefix, a flipped secret, garbage.
    let secret = token.expose().rsplit_once('_').unwrap().1.to_owned();
    let under_b = format!("inv_{}_{secret}", b.id.into_uuid().simple());
    let mut flipped = token.expose().to_owned();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    for t in [under_b.as_str(), flipped.as_str(), "inv_x", ""] {
        let err = inv
            .accept(&org.app, t, bob, "bob@example.com")
            .await
            .unwrap_err();
        assert!(matches!(err, InvitationError::NotFound), "{t}: {err:?}");
    }
    assert_eq!(org.members.memberships_of(bob).await.unwrap().len(), 0);
    // Positive control.
    inv.accept(&org.app, token.expose(), bob, "bob@example.com")
        .await
        .unwrap();
    assert_eq!(org.members.memberships_of(bob).await.unwrap().len(), 1);
    org.close().await;
}

/// Two accepts of one invitation at the same moment: exactly one membership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_succeed_once() {
    let org = Org::new().await;
    let owner = UserId::new_random();
    let a = org.tenant("acme", owner).await;
    let s_owner = org.scope(a.id, owner).await;
    let inv = Invitations::new();
    for _ in 0..10 {
        let (_, token) = inv
            .invite(&org.pool, &s_owner, "bob@example.com", Role::Member)
            .await
            .unwrap();
        let (u1, u2) = (UserId::new_random(), UserId::new_random());
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let go = |u: UserId| {
            let (app, inv, token, barrier) = (
                org.app.clone(),
                inv.clone(),
                token.clone(),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                inv.accept(&app, token.expose(), u, "bob@example.com").await
            })
        };
        let (r1, r2) = tokio::join!(go(u1), go(u2));
        let results = [r1.unwrap(), r2.unwrap()];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(InvitationError::AlreadyUsed))),
            "{results:?}"
        );
    }
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1")
            .bind(a.id.into_uuid())
            .fetch_one(org.db.admin_pool())
            .await
            .unwrap();
    assert_eq!(n, 11, "the owner plus one member per invitation");
    org.close().await;
}
