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

#[tokio::test]
async fn campaigns_and_leads_crud_within_a_tenant() {
    let w = World::new().await;
    let t = &w.t;
    let tok = &w.manager_a.token;
    // Campaigns.
    let r = t
        .send(
            Req::post("/api/campaigns")
                .token(tok)
                .tenant("acme")
                .json(json!({"name": " Autumn ", "status": "active"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["name"], "Autumn");
    assert_eq!(r.body["status"], "active");
    let autumn = r.id();
    let r = t
        .send(Req::get("/api/campaigns").token(tok).tenant("acme"))
        .await;
    let names: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Spring A"), json!("Autumn")]);
    let r = t
        .send(
            Req::patch(&format!("/api/campaigns/{autumn}"))
                .token(tok)
                .tenant("acme")
                .json(json!({"status": "paused"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["status"].clone(), r.body["name"].clone()),
        (StatusCode::OK, json!("paused"), json!("Autumn"))
    );
    let r = t
        .send(
            Req::patch(&format!("/api/campaigns/{autumn}"))
                .token(tok)
                .tenant("acme")
                .json(json!({"status": "bogus"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Leads: create linked to a campaign, clear the link with null, relink.
    let r = t
        .send(Req::post("/api/leads").token(tok).tenant("acme")
            .json(json!({"name": "Zed", "email": "ZED@Example.test", "phone": "+1 555", "campaign_id": autumn})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["email"], "zed@example.test");
    assert_eq!(r.body["status"], "new");
    let zed = r.id();
    let r = t
        .send(
            Req::patch(&format!("/api/leads/{zed}"))
                .token(tok)
                .tenant("acme")
                .json(json!({"campaign_id": null, "status": "won"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["campaign_id"], json!(null));
    assert_eq!(r.body["status"], "won");
    assert_eq!(r.body["phone"], "+1 555");
    let r = t
        .send(Req::get(&format!("/t/acme/api/leads/{zed}")).token(tok))
        .await;
    assert_eq!(
        (r.status, r.body["name"].clone()),
        (StatusCode::OK, json!("Zed"))
    );
    for body in [
        json!({"name": ""}),
        json!({"email": "nope"}),
        json!({"status": "gone"}),
        json!({"campaign_id": "not-a-uuid"}),
    ] {
        let r = t
            .send(
                Req::patch(&format!("/api/leads/{zed}"))
                    .token(tok)
                    .tenant("acme")
                    .json(body.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    // Deleting a campaign unlinks its leads.
    let r = t
        .send(
            Req::delete(&format!("/api/campaigns/{}", w.campaign_a))
                .token(tok)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .send(
            Req::get(&format!("/api/leads/{}", w.lead_a))
                .token(tok)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.body["campaign_id"], json!(null));
    let r = t
        .send(
            Req::delete(&format!("/api/leads/{zed}"))
                .token(tok)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .send(
            Req::get(&format!("/api/leads/{zed}"))
                .token(tok)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Ids in paths that are not UUIDs: 404.
    let r = t
        .send(Req::get("/api/leads/12345").token(tok).tenant("acme"))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    // Unique keys include the tenant: globex can use a campaign id value that exists in acme?
    // Ids are random UUIDs (ATTACKS C.17): nothing to guess; the same name is fine in both.
    let r = t
        .send(
            Req::post("/api/campaigns")
                .token(&w.owner_b.token)
                .tenant("globex")
                .json(json!({"name": "Autumn"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    w.t.close().await;
}

#[tokio::test]
async fn cross_tenant_ids_are_not_found_on_every_id_route_and_change_nothing() {
    let w = World::new().await;
    let t = &w.t;
    let tok = &w.owner_a.token; // owner of acme: every permission there
    let b_campaign = format!("/api/campaigns/{}", w.campaign_b);
    let b_lead = format!("/api/leads/{}", w.lead_b);
    let b_member = format!("/api/members/{}", w.owner_b.id);
    let sweep = [
        Req::get(&b_campaign),
        Req::patch(&b_campaign).json(json!({"name": "pwned"})),
        Req::delete(&b_campaign),
        Req::get(&b_lead),
        Req::patch(&b_lead).json(json!({"name": "pwned", "status": "lost"})),
        Req::delete(&b_lead),
        Req::patch(&b_member).json(json!({"role": "member"})),
        Req::delete(&b_member),
    ];
    for req in sweep {
        for selected in [
            req.clone().tenant("acme"),
            req.clone().host("acme.localhost"),
        ] {
            let r = t.send(selected.token(tok)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{req:?}: {:?}", r.body);
        }
    }
    // A's lead cannot point at B's campaign: same answer as for a campaign that does not exist.
    let foreign = t
        .send(
            Req::post("/api/leads")
                .token(tok)
                .tenant("acme")
                .json(json!({"name": "x", "campaign_id": w.campaign_b})),
        )
        .await;
    let missing = t
        .send(
            Req::post("/api/leads")
                .token(tok)
                .tenant("acme")
                .json(json!({"name": "x", "campaign_id": uuid::Uuid::new_v4()})),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(foreign.body, missing.body);
    let r = t
        .send(
            Req::patch(&format!("/api/leads/{}", w.lead_a))
                .token(tok)
                .tenant("acme")
                .json(json!({"campaign_id": w.campaign_b})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // No side effect: globex's data is intact, seen by globex's owner (and acme's lists show
    // none of it).
    let r = t
        .send(Req::get(&b_lead).token(&w.owner_b.token).tenant("globex"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["name"].clone(), r.body["status"].clone()),
        (json!("Lead B"), json!("new"))
    );
    assert_eq!(r.body["campaign_id"], json!(w.campaign_b));
    let r = t
        .send(
            Req::get(&b_campaign)
                .token(&w.owner_b.token)
                .tenant("globex"),
        )
        .await;
    assert_eq!(r.body["name"], "Spring B");
    let r = t
        .send(
            Req::get("/api/members")
                .token(&w.owner_b.token)
                .tenant("globex"),
        )
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["role"], "owner");
    assert_eq!(t.count("leads", w.globex).await, 1);
    assert_eq!(t.count("campaigns", w.globex).await, 1);
    let r = t
        .send(Req::get("/api/leads").token(tok).tenant("acme"))
        .await;
    assert!(!r.body.to_string().contains(&w.lead_b.to_string()));
    w.t.close().await;
}

#[tokio::test]
async fn tenant_fields_in_bodies_are_refused_never_honoured() {
    let w = World::new().await;
    let t = &w.t;
    let tok = &w.owner_a.token;
    let before = t.count("leads", w.globex).await;
    for (req, what) in [
        (
            Req::post("/api/leads").json(json!({"name": "m", "tenant_id": w.globex})),
            "lead create",
        ),
        (
            Req::patch(&format!("/api/leads/{}", w.lead_a)).json(json!({"tenant_id": w.globex})),
            "lead patch",
        ),
        (
            Req::patch(&format!("/api/leads/{}", w.lead_a)).json(json!({"id": w.lead_b})),
            "lead id patch",
        ),
        (
            Req::post("/api/campaigns").json(json!({"name": "m", "tenant_id": w.globex})),
            "campaign create",
        ),
        (
            Req::patch(&format!("/api/campaigns/{}", w.campaign_a))
                .json(json!({"tenant_id": w.globex})),
            "campaign patch",
        ),
        (
            Req::patch("/api/org").json(json!({"name": "x", "id": w.globex})),
            "org patch",
        ),
        (
            Req::post("/api/invitations")
                .json(json!({"email": "x@y.test", "role": "member", "tenant_id": w.globex})),
            "invitation",
        ),
    ] {
        let r = t.send(req.token(tok).tenant("acme")).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {:?}",
            r.body
        );
    }
    assert_eq!(t.count("leads", w.globex).await, before);
    let r = t
        .send(
            Req::get(&format!("/api/leads/{}", w.lead_a))
                .token(tok)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.body["name"], "Lead A");
    w.t.close().await;
}
