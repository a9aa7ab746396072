//! API tests of the reference SaaS, in-process against a fresh PostgreSQL database per test, the
//! app connected as the unprivileged runtime role (not superuser, no BYPASSRLS, owns no table).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::{PASSWORD, Req, TestApp, World};
use serde_json::json;

#[tokio::test]
async fn accounts_signup_login_me() {
    let t = TestApp::new().await;
    let alice = t.signup("Alice@Example.test", "Alice").await;

    // Duplicate email, in any case: 409.
    let r = t
        .send(
            Req::post("/api/signup")
                .json(json!({"email": "alice@example.TEST", "password": PASSWORD, "name": "A2"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "email_taken"));
    // Invalid input: 422.
    for body in [
        json!({"email": "not-an-email", "password": PASSWORD, "name": "X"}),
        json!({"email": "x@y.test", "password": "short", "name": "X"}),
        json!({"email": "x@y.test", "password": PASSWORD, "name": "  "}),
        json!({"email": "x@y.test", "password": PASSWORD}),
        json!({"email": "x@y.test", "password": PASSWORD, "name": "X", "platform_admin": true}),
    ] {
        let r = t.send(Req::post("/api/signup").json(body.clone())).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {:?}",
            r.body
        );
    }
    let r = t.send(Req::post("/api/signup").raw("{not json")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );

    // Login: wrong password and unknown account answer the same 401.
    let wrong = t
        .send(
            Req::post("/api/login")
                .json(json!({"email": "alice@example.test", "password": "wrong password"})),
        )
        .await;
    let unknown = t
        .send(
            Req::post("/api/login")
                .json(json!({"email": "nobody@example.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);

    // Me.
    let r = t.send(Req::get("/api/me").token(&alice.token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"], json!(alice.id));
    assert_eq!(r.body["email"], "alice@example.test");
    assert_eq!(r.body["platform_admin"], false);
    assert_eq!(r.body["memberships"], json!([]));
    let r = t.send(Req::get("/api/me")).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let r = t.send(Req::get("/api/me").token("not.a.jwt")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A token signed with another key.
    let other = saas::auth::TokenKeys::new(b"another secret that is 32+ bytes long")
        .unwrap()
        .issue(tenancy_core::UserId::from_uuid(alice.id))
        .unwrap();
    let r = t.send(Req::get("/api/me").token(&other)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    t.close().await;
}

#[tokio::test]
async fn organisations_creator_is_owner_and_slugs_are_unique() {
    let t = TestApp::new().await;
    let alice = t.signup("alice@example.test", "Alice").await;
    let bob = t.signup("bob@example.test", "Bob").await;
    let acme = t.create_org(&alice, "acme").await;

    let me = t.send(Req::get("/api/me").token(&alice.token)).await;
    assert_eq!(
        me.body["memberships"],
        json!([{"tenant_id": acme, "slug": "acme", "name": "ACME", "role": "owner"}])
    );
    // Bob sees none of Alice's organisations.
    let me = t.send(Req::get("/api/me").token(&bob.token)).await;
    assert_eq!(me.body["memberships"], json!([]));

    let r = t
        .send(
            Req::post("/api/orgs")
                .token(&bob.token)
                .json(json!({"slug": "acme", "name": "Mine"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "slug_taken"));
    for slug in ["Acme!", "a", "-acme", "www", "api", ""] {
        let r = t
            .send(
                Req::post("/api/orgs")
                    .token(&bob.token)
                    .json(json!({"slug": slug, "name": "X"})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "slug {slug:?}: {:?}",
            r.body
        );
    }
    let r = t
        .send(Req::post("/api/orgs").json(json!({"slug": "free", "name": "X"})))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    t.close().await;
}

#[tokio::test]
async fn tenant_selection_by_host_header_and_path() {
    let w = World::new().await;
    let t = &w.t;
    let tok = &w.owner_a.token;
    // Positive controls: each source selects acme and shows acme's lead only.
    for req in [
        Req::get("/api/leads").tenant("acme"),
        Req::get("/api/leads").host("acme.localhost:3000"),
        Req::get("/t/acme/api/leads"),
        Req::get("/t/acme/api/leads")
            .host("acme.localhost")
            .tenant("acme"),
    ] {
        let r = t.send(req.clone().token(tok)).await;
        assert_eq!(r.status, StatusCode::OK, "{req:?}: {:?}", r.body);
        let ids: Vec<_> = r
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].clone())
            .collect();
        assert_eq!(ids, vec![json!(w.lead_a)], "{req:?}");
    }
    // Sources that disagree: 400 tenant_conflict, whatever the membership.
    for req in [
        Req::get("/t/globex/api/leads").host("acme.localhost"),
        Req::get("/api/leads")
            .host("acme.localhost")
            .tenant("globex"),
        Req::get("/t/acme/api/leads").tenant("globex"),
    ] {
        let r = t.send(req.clone().token(tok)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "tenant_conflict"),
            "{req:?}"
        );
    }
    // Spoofed X-Tenant against membership: 403, and no globex row in the answer.
    let r = t
        .send(Req::get("/api/leads").token(tok).tenant("globex"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
    let r = t.send(Req::get("/t/globex/api/leads").token(tok)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
    // Unknown tenant: 404. Anonymous on a tenant: 401 (before any lookup).
    let r = t
        .send(Req::get("/api/leads").token(tok).tenant("nosuchorg"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "tenant_not_found")
    );
    let r = t.send(Req::get("/api/leads").tenant("acme")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // No tenant on a tenant route: 400 tenant_required (401 when anonymous).
    let r = t.send(Req::get("/api/leads").token(tok)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "tenant_required")
    );
    let r = t.send(Req::get("/api/leads")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Malformed selections: 400.
    for req in [
        Req::get("/api/leads").tenant("ACME!"),
        Req::get("/api/leads").tenant("acme").tenant("acme"),
        Req::get("/api/leads").host("acme.evil.test"),
        Req::get("/api/leads").host("a.b.localhost"),
        Req::get("/t/acme%2f..%2fglobex/api/leads"),
        Req::get("/t/acme/../globex/api/leads"),
        Req::get("/t/%61cme/api/leads"),
    ] {
        let r = t.send(req.clone().token(tok)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{req:?}: {:?}", r.body);
    }
    // Forwarded host headers are not trusted.
    let r = t
        .send(
            Req::get("/api/leads")
                .token(tok)
                .host("acme.localhost")
                .header("x-forwarded-host", "globex.localhost"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[0]["id"], json!(w.lead_a));
    w.t.close().await;
}
