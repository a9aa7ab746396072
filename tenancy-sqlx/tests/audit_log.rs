//! The audit log on real PostgreSQL: append-only for the runtime role, readable per tenant only,
//! hash-chained per tenant (also under concurrent appends), tamper detection (edited entry,
//! deleted entry, truncated tail against an anchor) with positive controls, real actors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod org_support;

use org_support::{Org, members, sqlstate};
use tenancy_core::{Role, TenantId, UserId};
use tenancy_sqlx::audit_log::{self, Actor, AuditEntry, TamperKind, VerifyError};

async fn with_entries(n: usize) -> (Org, TenantId, UserId) {
    let org = Org::new().await;
    let owner = UserId::new_random();
    let a = org.tenant("acme", owner).await;
    let scope = org.scope(a.id, owner).await;
    let mut tx = org.pool.begin(&scope).await.unwrap();
    for i in 0..n {
        audit_log::append(
            &mut tx,
            &AuditEntry::new(Actor::from_scope(&scope), "project.updated")
                .with_target(format!("p{i}"))
                .with_details(serde_json::json!({ "i": i })),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    (org, a.id, owner)
}

async fn verify(
    org: &Org,
    tenant: TenantId,
    user: UserId,
) -> Result<audit_log::ChainHead, VerifyError> {
    let scope = org.scope(tenant, user).await;
    let mut tx = org.pool.begin(&scope).await.unwrap();
    audit_log::verify_chain(&mut tx).await
}

/// Edits as the superuser, with the append-only triggers switched off for the session.
async fn tamper(org: &Org, sql: &str, tenant: TenantId, seq: i64) {
    let mut conn = org.db.admin_pool().acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    let n = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(tenant.into_uuid())
        .bind(seq)
        .execute(&mut *conn)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(n, 1);
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intact_chain_verifies_positive_control() {
    let (org, tenant, owner) = with_entries(5).await;
    let head = verify(&org, tenant, owner).await.unwrap();
    // tenant.created + 5 appended.
    assert_eq!(head.seq, 6);
    assert_eq!(head.hash.len(), 32);
    let scope = org.scope(tenant, owner).await;
    let mut tx = org.pool.begin(&scope).await.unwrap();
    let all = audit_log::entries(&mut tx).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].prev_hash, vec![0; 32]);
    for w in all.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    drop(tx);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_entry_is_detected_at_that_entry() {
    let (org, tenant, owner) = with_entries(5).await;
    tamper(
        &org,
        "UPDATE tenancy.audit_log SET details = '{\"i\": 99}' WHERE tenant_id = $1 AND seq = $2",
        tenant,
        4,
    )
    .await;
    let err = verify(&org, tenant, owner).await.unwrap_err();
    match err {
        VerifyError::Tampered(t) => {
            assert_eq!((t.first_bad_entry, t.kind), (4, TamperKind::HashMismatch));
        }
        other => panic!("{other:?}"),
    }
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehashed_edit_breaks_the_next_link() {
    let (org, tenant, owner) = with_entries(5).await;
    // A careful forger recomputes the edited entry's hash: the next entry's link breaks.
    tamper(
        &org,
        "UPDATE tenancy.audit_log SET actor_id = 'someone-else', \
           hash = tenancy.audit_entry_hash(prev_hash, tenant_id, seq, occurred_at, actor_kind, \
             'someone-else', action, target, details) \
         WHERE tenant_id = $1 AND seq = $2",
        tenant,
        3,
    )
    .await;
    let err = verify(&org, tenant, owner).await.unwrap_err();
    assert!(
        matches!(&err, VerifyError::Tampered(t) if t.first_bad_entry == 4 && t.kind == TamperKind::BrokenLink),
        "{err:?}"
    );
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_entry_is_detected() {
    let (org, tenant, owner) = with_entries(5).await;
    tamper(
        &org,
        "DELETE FROM tenancy.audit_log WHERE tenant_id = $1 AND seq = $2",
        tenant,
        3,
    )
    .await;
    let err = verify(&org, tenant, owner).await.unwrap_err();
    assert!(
        matches!(&err, VerifyError::Tampered(t) if t.first_bad_entry == 3 && t.kind == TamperKind::MissingEntry),
        "{err:?}"
    );
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_tail_is_detected_against_an_anchor() {
    let (org, tenant, owner) = with_entries(5).await;
    let anchor = verify(&org, tenant, owner).await.unwrap();
    tamper(
        &org,
        "DELETE FROM tenancy.audit_log WHERE tenant_id = $1 AND seq = $2",
        tenant,
        6,
    )
    .await;
    // Without an anchor a shorter chain is still a valid chain (documented) ...
    assert_eq!(verify(&org, tenant, owner).await.unwrap().seq, 5);
    // ... against the anchored head the loss is detected.
    let scope = org.scope(tenant, owner).await;
    let mut tx = org.pool.begin(&scope).await.unwrap();
    let err = audit_log::verify_chain_from(&mut tx, &anchor)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, VerifyError::Tampered(t) if t.first_bad_entry == 6 && t.kind == TamperKind::MissingEntry),
        "{err:?}"
    );
    drop(tx);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_role_can_only_append() {
    let (org, tenant, owner) = with_entries(2).await;
    let scope = org.scope(tenant, owner).await;
    for sql in [
        "UPDATE tenancy.audit_log SET action = 'x.y'",
        "DELETE FROM tenancy.audit_log",
        "TRUNCATE tenancy.audit_log",
    ] {
        let mut tx = org.pool.begin(&scope).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{sql}: {err}");
    }
    // Defence in depth: even the superuser is refused while the triggers are on.
    for sql in [
        "UPDATE tenancy.audit_log SET action = 'x.y'",
        "DELETE FROM tenancy.audit_log",
        "TRUNCATE tenancy.audit_log",
    ] {
        let err = sqlx::query(sql)
            .execute(org.db.admin_pool())
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("TY002"), "{sql}: {err}");
    }
    // A client cannot choose its own place in the chain: seq and hashes are set by the trigger.
    let mut tx = org.pool.begin(&scope).await.unwrap();
    sqlx::query(
        "INSERT INTO tenancy.audit_log (tenant_id, seq, actor_kind, actor_id, action, prev_hash, hash) \
         VALUES ($1, 1, 'job', 'forged', 'x.y', sha256('a'), sha256('b'))",
    )
    .bind(tenant.into_uuid())
    .execute(&mut *tx)
    .await
    .unwrap();
    let head = audit_log::verify_chain(&mut tx).await.unwrap();
    assert_eq!(head.seq, 4);
    tx.commit().await.unwrap();
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_is_readable_per_tenant_only() {
    let (org, a, owner_a) = with_entries(3).await;
    let owner_b = UserId::new_random();
    let b = org.tenant("beta", owner_b).await;
    let s_a = org.scope(a, owner_a).await;
    let s_b = org.scope(b.id, owner_b).await;

    let mut tx = org.pool.begin(&s_b).await.unwrap();
    let seen = audit_log::entries(&mut tx).await.unwrap();
    assert!(seen.iter().all(|e| e.tenant_id == b.id));
    assert_eq!(seen.len(), 1, "B sees only its own tenant.created");
    let raw: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenancy.audit_log WHERE tenant_id = $1")
            .bind(a.into_uuid())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(raw, 0);
    // B cannot write into A's chain.
    let err = sqlx::query(
        "INSERT INTO tenancy.audit_log (tenant_id, seq, actor_kind, actor_id, action, prev_hash, hash) \
         VALUES ($1, 1, 'job', 'x', 'x.y', sha256('a'), sha256('b'))",
    )
    .bind(a.into_uuid())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
    drop(tx);

    // Positive control: A sees A's four entries.
    let mut tx = org.pool.begin(&s_a).await.unwrap();
    assert_eq!(audit_log::entries(&mut tx).await.unwrap().len(), 4);
    drop(tx);
    // No tenant context: no rows.
    // (In a transaction, so the test also runs through PgBouncer in transaction mode.)
    let mut plain = org.app.begin().await.unwrap();
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM tenancy.audit_log")
        .fetch_one(&mut *plain)
        .await
        .unwrap();
    plain.commit().await.unwrap();
    assert_eq!(none, 0);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_chain_correctly() {
    let org = Org::with_pool_size(6).await;
    let owner = UserId::new_random();
    let a = org.tenant("acme", owner).await;
    let scope = org.scope(a.id, owner).await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (pool, scope) = (org.pool.clone(), scope.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                let mut tx = pool.begin(&scope).await.unwrap();
                audit_log::append(
                    &mut tx,
                    &AuditEntry::new(Actor::Job(format!("worker-{w}")), "job.step")
                        .with_details(serde_json::json!({ "i": i })),
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(verify(&org, a.id, owner).await.unwrap().seq, 61);
    org.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_and_lifecycle_changes_record_the_real_actor() {
    let org = Org::new().await;
    let (owner, bob) = (UserId::new_random(), UserId::new_random());
    let a = org.tenant("acme", owner).await;
    let scope = org.scope(a.id, owner).await;
    let m = members();
    m.add(&org.pool, &scope, bob, Role::Member).await.unwrap();
    m.change_role(&org.pool, &scope, bob, Role::Manager)
        .await
        .unwrap();
    m.remove(&org.pool, &scope, bob).await.unwrap();
    let mut tx = org.pool.begin(&scope).await.unwrap();
    let all = audit_log::entries(&mut tx).await.unwrap();
    let actions: Vec<_> = all.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "tenant.created",
            "member.added",
            "member.role_changed",
            "member.removed"
        ]
    );
    assert_eq!(all[0].actor, Actor::PlatformAdmin(org.admin.admin_id()));
    assert!(all[1..].iter().all(|e| e.actor == Actor::User(owner)));
    assert!(
        all[1..]
            .iter()
            .all(|e| e.target.as_deref() == Some(bob.to_string().as_str()))
    );
    assert_eq!(
        all[2].details,
        serde_json::json!({ "from": "member", "to": "manager" })
    );
    audit_log::verify_chain(&mut tx).await.unwrap();
    drop(tx);
    org.close().await;
}

/// The recorded actor cannot be claimed: in a user's tenant transaction an entry for another
/// user or for a platform administrator is refused; jobs and API keys are free-form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_cannot_be_forged() {
    let org = Org::new().await;
    let owner = UserId::new_random();
    let a = org.tenant("acme", owner).await;
    let scope = org.scope(a.id, owner).await;
    for actor in [
        Actor::User(UserId::new_random()),
        Actor::PlatformAdmin(org.admin.admin_id()),
    ] {
        let mut tx = org.pool.begin(&scope).await.unwrap();
        let err = audit_log::append(&mut tx, &AuditEntry::new(actor.clone(), "x.y"))
            .await
            .unwrap_err();
        let audit_log::AuditLogError::Database(e) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(sqlstate(e).as_deref(), Some("TY004"), "{actor}: {e}");
    }
    // Positive controls.
    let mut tx = org.pool.begin(&scope).await.unwrap();
    for actor in [
        Actor::User(owner),
        Actor::Job("nightly".into()),
        Actor::ApiKey("key_1".into()),
    ] {
        audit_log::append(&mut tx, &AuditEntry::new(actor, "x.y"))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    org.close().await;
}
