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
    // An IP address as host names no tenant: other sources still select, none means none.
    let r = t
        .send(
            Req::get("/api/leads")
                .token(tok)
                .host("127.0.0.1:3000")
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .send(Req::get("/api/leads").token(tok).host("[::1]:3000"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "tenant_required")
    );
    let r = t
        .send(Req::get("/api/me").token(tok).host("127.0.0.1"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
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

/// Every tenant route with a request that the given role may or may not make.
fn tenant_routes(
    w: &World,
    fresh_lead: uuid::Uuid,
    fresh_campaign: uuid::Uuid,
    n: usize,
) -> Vec<(Req, &'static str)> {
    vec![
        (Req::get("/api/leads"), "member"),
        (
            Req::post("/api/leads").json(json!({"name": "new lead"})),
            "member",
        ),
        (Req::get(&format!("/api/leads/{}", w.lead_a)), "member"),
        (
            Req::patch(&format!("/api/leads/{}", w.lead_a)).json(json!({"status": "contacted"})),
            "manager",
        ),
        (Req::delete(&format!("/api/leads/{fresh_lead}")), "manager"),
        (Req::get("/api/campaigns"), "member"),
        (
            Req::get(&format!("/api/campaigns/{}", w.campaign_a)),
            "member",
        ),
        (
            Req::post("/api/campaigns").json(json!({"name": "new campaign"})),
            "manager",
        ),
        (
            Req::patch(&format!("/api/campaigns/{}", w.campaign_a))
                .json(json!({"name": "Spring A"})),
            "manager",
        ),
        (
            Req::delete(&format!("/api/campaigns/{fresh_campaign}")),
            "manager",
        ),
        (Req::get("/api/members"), "member"),
        (
            Req::post("/api/invitations")
                .json(json!({"email": format!("invitee{n}@x.test"), "role": "member"})),
            "admin",
        ),
        (Req::get("/api/audit"), "admin"),
        (
            Req::patch("/api/org").json(json!({"name": "ACME"})),
            "admin",
        ),
    ]
}

const RANK: [&str; 4] = ["member", "manager", "admin", "owner"];

fn rank(role: &str) -> usize {
    RANK.iter().position(|r| *r == role).unwrap()
}

#[tokio::test]
async fn role_matrix_of_every_tenant_route() {
    let w = World::new().await;
    let t = &w.t;
    let users = [
        ("member", &w.member_a),
        ("manager", &w.manager_a),
        ("admin", &w.admin_a),
        ("owner", &w.owner_a),
    ];
    let mut n = 0;
    for (role, user) in users {
        // Fresh rows for the delete routes, made by the owner.
        let fresh_lead = t
            .send(
                Req::post("/api/leads")
                    .token(&w.owner_a.token)
                    .tenant("acme")
                    .json(json!({"name": "victim"})),
            )
            .await
            .id();
        let fresh_campaign = t
            .send(
                Req::post("/api/campaigns")
                    .token(&w.owner_a.token)
                    .tenant("acme")
                    .json(json!({"name": "victim"})),
            )
            .await
            .id();
        for (req, min) in tenant_routes(&w, fresh_lead, fresh_campaign, n) {
            n += 1;
            let r = t.send(req.clone().token(&user.token).tenant("acme")).await;
            if rank(role) >= rank(min) {
                assert!(
                    r.status.is_success(),
                    "{role} {req:?}: {} {:?}",
                    r.status,
                    r.body
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{role} {req:?}: {:?}",
                    r.body
                );
            }
        }
        // Denied deletes changed nothing.
        let still = t
            .send(
                Req::get(&format!("/api/leads/{fresh_lead}"))
                    .token(&w.owner_a.token)
                    .tenant("acme"),
            )
            .await;
        assert_eq!(
            still.status == StatusCode::OK,
            rank(role) < rank("manager"),
            "{role}"
        );
    }
    // Admin in acme, member in globex: member rights in globex (ATTACKS F.33).
    t.seed_member(w.globex, &w.admin_a, "member").await;
    let r = t
        .send(
            Req::delete(&format!("/api/leads/{}", w.lead_b))
                .token(&w.admin_a.token)
                .tenant("globex"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::get("/api/audit")
                .token(&w.admin_a.token)
                .tenant("globex"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::get("/api/audit")
                .token(&w.admin_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(t.count("leads", w.globex).await, 1);
    w.t.close().await;
}

#[tokio::test]
async fn suspended_tenant_is_refused_on_every_route_and_platform_routes_are_separate() {
    let w = World::new().await;
    let t = &w.t;
    let admin = &w.platform.token;
    // Platform routes: anonymous 401, non-admin 403, tenant-selected never reachable.
    let r = t.send(Req::get("/api/admin/tenants")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = t
        .send(Req::get("/api/admin/tenants").token(&w.owner_a.token))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_platform_admin")
    );
    let r = t
        .send(
            Req::post(&format!("/api/admin/tenants/{}/suspend", w.globex)).token(&w.owner_a.token),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::get("/api/admin/tenants")
                .token(&w.owner_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t
        .send(Req::get("/t/acme/api/admin/tenants").token(&w.owner_a.token))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = t
        .send(Req::get("/api/admin/tenants").token(admin).tenant("acme"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
    let me = t.send(Req::get("/api/me").token(admin)).await;
    assert_eq!(me.body["platform_admin"], true);

    let r = t.send(Req::get("/api/admin/tenants").token(admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    let slugs: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["slug"].clone())
        .collect();
    assert_eq!(slugs, vec![json!("acme"), json!("globex")]);
    // Member counts come from the library's overview (the platform role has no BYPASSRLS).
    let counts: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["member_count"].clone())
        .collect();
    assert_eq!(counts, vec![json!(4), json!(1)]);

    let r = t
        .send(Req::post(&format!("/api/admin/tenants/{}/suspend", w.acme)).token(admin))
        .await;
    assert_eq!(
        (r.status, r.body["status"].clone()),
        (StatusCode::OK, json!("suspended"))
    );
    let r = t
        .send(Req::post(&format!("/api/admin/tenants/{}/suspend", w.acme)).token(admin))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "invalid_transition")
    );
    let r = t
        .send(
            Req::post(&format!(
                "/api/admin/tenants/{}/suspend",
                uuid::Uuid::new_v4()
            ))
            .token(admin),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Every tenant route of acme, for every role and by every selection: 403 tenant_suspended.
    let lead = w.lead_a;
    for (role, user) in [("member", &w.member_a), ("owner", &w.owner_a)] {
        for (req, _) in tenant_routes(&w, lead, w.campaign_a, 0) {
            for selected in [
                req.clone().tenant("acme"),
                req.clone().host("acme.localhost"),
            ] {
                let r = t.send(selected.token(&user.token)).await;
                assert_eq!(
                    (r.status, r.code()),
                    (StatusCode::FORBIDDEN, "tenant_suspended"),
                    "{role} {req:?}"
                );
            }
        }
        for path in [format!("/api/members/{}", w.member_a.id)] {
            let r = t
                .send(Req::delete(&path).token(&user.token).tenant("acme"))
                .await;
            assert_eq!(r.code(), "tenant_suspended");
        }
    }
    assert_eq!(t.count("leads", w.acme).await, 1);
    // Positive control: globex is unaffected.
    let r = t
        .send(
            Req::get("/api/leads")
                .token(&w.owner_b.token)
                .tenant("globex"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = t
        .send(Req::post(&format!("/api/admin/tenants/{}/activate", w.acme)).token(admin))
        .await;
    assert_eq!(
        (r.status, r.body["status"].clone()),
        (StatusCode::OK, json!("active"))
    );
    let r = t
        .send(
            Req::get("/api/leads")
                .token(&w.member_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Both lifecycle changes are in acme's audit log, with the platform admin as actor.
    let r = t
        .send(
            Req::get("/api/audit")
                .token(&w.owner_a.token)
                .tenant("acme"),
        )
        .await;
    let actions: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        actions.contains(&"tenant.suspended".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"tenant.activated".to_owned()),
        "{actions:?}"
    );
    let suspended = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "tenant.suspended")
        .unwrap();
    assert_eq!(
        suspended["actor"],
        format!("platform_admin:{}", w.platform.id)
    );
    // Globex's log has none of acme's entries.
    let r = t
        .send(
            Req::get("/api/audit")
                .token(&w.owner_b.token)
                .tenant("globex"),
        )
        .await;
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "tenant.suspended")
    );
    w.t.close().await;
}

#[tokio::test]
async fn member_management_follows_the_assignment_rules() {
    let w = World::new().await;
    let t = &w.t;
    let member = |u: &common::User| format!("/api/members/{}", u.id);
    let r = t
        .send(
            Req::get("/api/members")
                .token(&w.member_a.token)
                .tenant("acme"),
        )
        .await;
    let emails: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].clone())
        .collect();
    assert_eq!(
        emails,
        vec![
            json!("admin@acme.test"),
            json!("manager@acme.test"),
            json!("member@acme.test"),
            json!("owner@acme.test")
        ]
    );

    // Nobody raises their own role; members and managers manage nobody.
    let r = t
        .send(
            Req::patch(&member(&w.member_a))
                .token(&w.member_a.token)
                .tenant("acme")
                .json(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::patch(&member(&w.member_a))
                .token(&w.manager_a.token)
                .tenant("acme")
                .json(json!({"role": "manager"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Admins manage roles below theirs, never owners.
    let r = t
        .send(
            Req::patch(&member(&w.member_a))
                .token(&w.admin_a.token)
                .tenant("acme")
                .json(json!({"role": "manager"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["role"].clone()),
        (StatusCode::OK, json!("manager"))
    );
    let r = t
        .send(
            Req::patch(&member(&w.member_a))
                .token(&w.admin_a.token)
                .tenant("acme")
                .json(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::patch(&member(&w.owner_a))
                .token(&w.admin_a.token)
                .tenant("acme")
                .json(json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::delete(&member(&w.owner_a))
                .token(&w.admin_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::patch(&member(&w.member_a))
                .token(&w.admin_a.token)
                .tenant("acme")
                .json(json!({"role": "superuser"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The new role takes effect at once: the promoted member may now delete leads.
    let r = t
        .send(
            Req::patch(&format!("/api/leads/{}", w.lead_a))
                .token(&w.member_a.token)
                .tenant("acme")
                .json(json!({"status": "won"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // The last owner can neither be demoted nor leave.
    let r = t
        .send(
            Req::patch(&member(&w.owner_a))
                .token(&w.owner_a.token)
                .tenant("acme")
                .json(json!({"role": "admin"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "last_owner"));
    let r = t
        .send(
            Req::delete(&member(&w.owner_a))
                .token(&w.owner_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "last_owner"));
    // With a second owner, the first may step down.
    let r = t
        .send(
            Req::patch(&member(&w.admin_a))
                .token(&w.owner_a.token)
                .tenant("acme")
                .json(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t
        .send(
            Req::patch(&member(&w.owner_a))
                .token(&w.owner_a.token)
                .tenant("acme")
                .json(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Removal and leaving; a removed member loses access immediately.
    let r = t
        .send(
            Req::delete(&member(&w.manager_a))
                .token(&w.admin_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .send(
            Req::get("/api/leads")
                .token(&w.manager_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "not_a_member")
    );
    let r = t
        .send(
            Req::delete(&member(&w.member_a))
                .token(&w.member_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .send(
            Req::delete(&member(&w.outsider))
                .token(&w.admin_a.token)
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Every change is in the audit log.
    let r = t
        .send(
            Req::get("/api/audit")
                .token(&w.admin_a.token)
                .tenant("acme"),
        )
        .await;
    let actions: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "member.role_changed")
            .count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("member.removed") || a.starts_with("member.left"))
            .count(),
        2,
        "{actions:?}"
    );
    w.t.close().await;
}

#[tokio::test]
async fn invitations_are_single_use_bound_to_the_email_and_capped_by_role() {
    let w = World::new().await;
    let t = &w.t;
    let invite = |token: &str, email: &str, role: &str| {
        Req::post("/api/invitations")
            .token(token)
            .tenant("acme")
            .json(json!({"email": email, "role": role}))
    };
    let r = t
        .send(invite(&w.member_a.token, "new@x.test", "member"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(invite(&w.admin_a.token, "new@x.test", "owner"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(invite(&w.admin_a.token, "not an email", "member"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = t
        .send(invite(&w.admin_a.token, "New@X.test", "manager"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(r.body["id"].is_string());

    let newbie = t.signup("new@x.test", "Newbie").await;
    let accept = |user: &str, token: &str| {
        Req::post("/api/invitations/accept")
            .token(user)
            .json(json!({"token": token}))
    };
    // Anonymous, another account, a garbage token: refused, and nothing learnt.
    let r = t
        .send(Req::post("/api/invitations/accept").json(json!({"token": token})))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let other = t.send(accept(&w.outsider.token, &token)).await;
    let garbage = t.send(accept(&w.outsider.token, "inv_garbage")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.body, garbage.body);
    // Before accepting, the newcomer is not a member.
    let r = t
        .send(Req::get("/api/leads").token(&newbie.token).tenant("acme"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t.send(accept(&newbie.token, &token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["slug"].clone(), r.body["role"].clone()),
        (json!("acme"), json!("manager"))
    );
    let r = t
        .send(Req::get("/api/leads").token(&newbie.token).tenant("acme"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = t.send(accept(&newbie.token, &token)).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "invitation_unusable")
    );
    // Accepting while selecting a tenant the user is not in yet goes nowhere.
    let r = t
        .send(accept(&w.outsider.token, &token).tenant("acme"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let me = t.send(Req::get("/api/me").token(&newbie.token)).await;
    assert_eq!(me.body["memberships"][0]["role"], "manager");
    w.t.close().await;
}

#[tokio::test]
async fn organisation_rename_needs_admin() {
    let w = World::new().await;
    let t = &w.t;
    let r = t
        .send(
            Req::patch("/api/org")
                .token(&w.manager_a.token)
                .tenant("acme")
                .json(json!({"name": "Hijacked"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .send(
            Req::patch("/api/org")
                .token(&w.admin_a.token)
                .tenant("acme")
                .json(json!({"name": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = t
        .send(
            Req::patch("/api/org")
                .token(&w.admin_a.token)
                .tenant("acme")
                .json(json!({"name": "Acme Corp"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["name"].clone()),
        (StatusCode::OK, json!("Acme Corp"))
    );
    let me = t.send(Req::get("/api/me").token(&w.owner_a.token)).await;
    assert_eq!(me.body["memberships"][0]["name"], "Acme Corp");
    // Creation and rename are audited in acme's log only.
    let r = t
        .send(
            Req::get("/api/audit")
                .token(&w.admin_a.token)
                .tenant("acme"),
        )
        .await;
    let actions: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(actions.first(), Some(&json!("tenant.created")));
    assert_eq!(actions.last(), Some(&json!("tenant.renamed")));
    assert_eq!(r.body[0]["actor"], format!("user:{}", w.owner_a.id));
    // Self-serve creation and renaming are the library's audited operations.
    assert_eq!(r.body[0]["details"]["self_serve"], json!(true));
    let last = r.body.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], format!("user:{}", w.admin_a.id));
    assert_eq!(last["details"]["to"], "Acme Corp");
    let r = t
        .send(
            Req::get("/api/audit")
                .token(&w.owner_b.token)
                .tenant("globex"),
        )
        .await;
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] != "tenant.renamed")
    );
    // Globex is untouched.
    let me = t.send(Req::get("/api/me").token(&w.owner_b.token)).await;
    assert_eq!(me.body["memberships"][0]["name"], "GLOBEX");
    w.t.close().await;
}

#[tokio::test]
async fn interleaved_requests_of_two_tenants_only_see_their_own_rows() {
    let w = World::new().await;
    let t = std::sync::Arc::new(w.t);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let t = t.clone();
        let (token, slug, own, other) = if i % 2 == 0 {
            (w.owner_a.token.clone(), "acme", w.lead_a, w.lead_b)
        } else {
            (w.owner_b.token.clone(), "globex", w.lead_b, w.lead_a)
        };
        tasks.push(tokio::spawn(async move {
            let req = match i % 3 {
                0 => Req::get("/api/leads").tenant(slug),
                1 => Req::get(&format!("/t/{slug}/api/leads")),
                _ => Req::get("/api/leads").host(&format!("{slug}.localhost")),
            };
            let r = t.send(req.token(&token)).await;
            assert_eq!(r.status, StatusCode::OK);
            let ids: Vec<_> = r
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].clone())
                .collect();
            assert_eq!(ids, vec![json!(own)], "request {i} for {slug}");
            assert!(!r.body.to_string().contains(&other.to_string()));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let t = std::sync::Arc::try_unwrap(t).ok().unwrap();
    t.close().await;
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_401_and_write_nothing() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let w = World::new().await;
    let t = &w.t;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let secret = b"an hs256 test secret of 32+ bytes!!";
    let sign = |claims: serde_json::Value, key: &[u8]| {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let sub = w.owner_a.id.to_string();
    let good = json!({"sub": sub, "iss": "saas", "aud": "saas-api", "exp": now + 600});
    // Positive control: a well-formed token signed with the app's key works.
    let r = t
        .send(
            Req::get("/api/leads")
                .token(&sign(good.clone(), secret))
                .tenant("acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let unsigned = {
        let token = sign(good.clone(), secret);
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[0] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        format!("{}.{}.", parts[0], parts[1])
    };
    let bad = [
        sign(
            json!({"sub": sub, "iss": "saas", "aud": "saas-api", "exp": now - 3600}),
            secret,
        ),
        sign(
            json!({"sub": sub, "iss": "saas", "aud": "saas-api", "exp": now + 600, "nbf": now + 3600}),
            secret,
        ),
        sign(
            json!({"sub": sub, "iss": "evil", "aud": "saas-api", "exp": now + 600}),
            secret,
        ),
        sign(
            json!({"sub": sub, "iss": "saas", "aud": "other", "exp": now + 600}),
            secret,
        ),
        sign(
            json!({"sub": "not-a-uuid", "iss": "saas", "aud": "saas-api", "exp": now + 600}),
            secret,
        ),
        sign(good.clone(), b"a different secret, also 32+ bytes long"),
        unsigned,
    ];
    for token in bad {
        for req in [
            Req::get("/api/leads").tenant("acme"),
            Req::post("/api/leads")
                .tenant("acme")
                .json(json!({"name": "forged"})),
            Req::get("/api/me"),
            Req::post("/api/orgs").json(json!({"slug": "forged", "name": "x"})),
        ] {
            let r = t.send(req.clone().token(&token)).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{req:?} with {token}");
        }
    }
    assert_eq!(t.count("leads", w.acme).await, 1);
    // A user of acme writing with `X-Tenant: globex`: refused, nothing written in globex.
    let r = t
        .send(
            Req::post("/api/leads")
                .token(&w.owner_a.token)
                .tenant("globex")
                .json(json!({"name": "spoof"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(t.count("leads", w.globex).await, 1);
    w.t.close().await;
}
