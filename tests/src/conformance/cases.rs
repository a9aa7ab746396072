//! The conformance cases: each asserts exact statuses and exact bodies, so every adapter that
//! passes answers identically. Numbers refer to ATTACKS.md section E.

use std::future::Future;

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::{
    BASE_DOMAIN, BUSY_QUOTA, Harness, Recording, TestRequest, TestResponse, World, b64url,
};

/// The exact body of a refusal with `code`. The messages are spelled out here, independently of
/// the library, so a change of wording (or a leak of detail) fails the suite.
pub fn error_body(code: &str) -> String {
    let message = match code {
        "invalid_tenant" => "the tenant selection is malformed",
        "tenant_conflict" => "the request names more than one tenant",
        "tenant_required" => "this route needs a tenant",
        "unauthenticated" => "authentication is required",
        "not_a_member" => "you are not a member of this tenant",
        "insufficient_role" => "your role does not allow this action",
        "tenant_suspended" => "this tenant is suspended",
        "tenant_not_found" => "tenant not found",
        "rate_limited" => "too many requests, retry later",
        "tenancy_layer_missing" => "the tenancy layer is not installed on this route",
        other => panic!("no expected message for `{other}`"),
    };
    format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#)
}

fn ok_body(tenant: &str, role: &str) -> String {
    json!({ "tenant": tenant, "role": role }).to_string()
}

async fn expect<H: Harness>(h: &H, req: TestRequest, status: u16, body: &str) {
    let what = format!("{req:?}");
    let res = h.send(req).await;
    assert_eq!(
        res,
        TestResponse {
            status,
            body: body.to_owned(),
            retry_after: None,
        },
        "request {what}"
    );
}

async fn refused<H: Harness>(h: &H, req: TestRequest, status: u16, code: &str) {
    expect(h, req, status, &error_body(code)).await;
}

/// Positive control: a member selects their tenant by `X-Tenant`.
pub async fn scoped_by_header<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    let req = TestRequest::get("/whoami").tenant("acme").bearer(&alice);
    expect(h, req, 200, &ok_body("acme", "owner")).await;
    let bob = w.token(w.users.bob);
    let req = TestRequest::get("/whoami").tenant("acme").bearer(&bob);
    expect(h, req, 200, &ok_body("acme", "member")).await;
}

/// Positive control: by subdomain.
pub async fn scoped_by_subdomain<H: Harness>(h: &H, w: &World) {
    let carol = w.token(w.users.carol);
    let req = TestRequest::get("/whoami")
        .host("globex.example.test")
        .bearer(&carol);
    expect(h, req, 200, &ok_body("globex", "admin")).await;
}

/// Positive control: by path prefix.
pub async fn scoped_by_path<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    let req = TestRequest::get("/t/acme/whoami").bearer(&alice);
    expect(h, req, 200, &ok_body("acme", "owner")).await;
}

/// E.26: case, port and one trailing dot are normalised.
pub async fn host_is_normalised<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    for host in [
        "ACME.Example.Test",
        "acme.example.test:8443",
        "acme.example.test.",
    ] {
        let req = TestRequest::get("/whoami").host(host).bearer(&alice);
        expect(h, req, 200, &ok_body("acme", "owner")).await;
    }
}

/// Several sources naming the same tenant are fine.
pub async fn agreeing_sources_are_accepted<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    let req = TestRequest::get("/t/acme/whoami")
        .host("acme.example.test")
        .tenant("acme")
        .bearer(&alice);
    expect(h, req, 200, &ok_body("acme", "owner")).await;
}

/// E.24: a header selects, membership authorises. Carol (globex) naming acme is refused; Alice
/// naming globex is refused; each in their own tenant is served.
pub async fn spoofed_header_against_membership<H: Harness>(h: &H, w: &World) {
    let carol = w.token(w.users.carol);
    let alice = w.token(w.users.alice);
    let mallory = w.token(w.users.mallory);
    refused(
        h,
        TestRequest::get("/whoami").tenant("acme").bearer(&carol),
        403,
        "not_a_member",
    )
    .await;
    refused(
        h,
        TestRequest::get("/t/acme/whoami").bearer(&carol),
        403,
        "not_a_member",
    )
    .await;
    refused(
        h,
        TestRequest::get("/admin").tenant("globex").bearer(&alice),
        403,
        "not_a_member",
    )
    .await;
    refused(
        h,
        TestRequest::get("/whoami").tenant("acme").bearer(&mallory),
        403,
        "not_a_member",
    )
    .await;
    // A header that looks like a scope is just a header.
    refused(
        h,
        TestRequest::get("/whoami")
            .tenant("acme")
            .header("x-tenant-id", &w.acme.to_string())
            .header("x-tenant-role", "owner")
            .bearer(&mallory),
        403,
        "not_a_member",
    )
    .await;
    // Positive controls.
    let req = TestRequest::get("/whoami").tenant("globex").bearer(&carol);
    expect(h, req, 200, &ok_body("globex", "admin")).await;
    let req = TestRequest::get("/whoami").tenant("acme").bearer(&alice);
    expect(h, req, 200, &ok_body("acme", "owner")).await;
}

/// E.24: a header naming a tenant that does not exist is 404 (and says nothing more).
pub async fn spoofed_header_for_unknown_tenant<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    refused(
        h,
        TestRequest::get("/whoami").tenant("nosuch").bearer(&alice),
        404,
        "tenant_not_found",
    )
    .await;
    refused(
        h,
        TestRequest::get("/whoami")
            .host("nosuch.example.test")
            .bearer(&alice),
        404,
        "tenant_not_found",
    )
    .await;
}

/// E.25: sources that disagree are a 400, never a silent pick.
pub async fn disagreeing_sources<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    let cases = [
        TestRequest::get("/whoami")
            .host("acme.example.test")
            .tenant("globex"),
        TestRequest::get("/t/globex/whoami").host("acme.example.test"),
        TestRequest::get("/t/acme/whoami").tenant("globex"),
        TestRequest::get("/t/acme/whoami")
            .host("acme.example.test")
            .tenant("globex"),
    ];
    for req in cases {
        refused(h, req.bearer(&alice), 400, "tenant_conflict").await;
    }
}

/// Malformed selections are 400 `invalid_tenant`.
pub async fn malformed_selection<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    for value in ["Acme!", "acme globex", "-acme", ""] {
        let req = TestRequest::get("/whoami").tenant(value).bearer(&alice);
        refused(h, req, 400, "invalid_tenant").await;
    }
    let req = TestRequest::get("/whoami")
        .tenant("acme")
        .tenant("acme")
        .bearer(&alice);
    refused(h, req, 400, "invalid_tenant").await;
}

/// E.26: only exactly one label under the base domain selects a tenant; anything else is
/// refused; the apex selects none.
pub async fn host_tricks<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    for host in [
        "acme.example.test.evil.net",
        "evil.net",
        "a.acme.example.test",
        "acme.example.test..",
        "alice@acme.example.test",
        "acme.example.test:99999999",
        "127.0.0.1",
        "acme%2eexample.test",
    ] {
        let req = TestRequest::get("/whoami").host(host).bearer(&alice);
        refused(h, req, 400, "invalid_tenant").await;
    }
    let req = TestRequest::get("/whoami")
        .host("example.test")
        .bearer(&alice);
    refused(h, req, 400, "tenant_required").await;
    let req = TestRequest::get("/optional")
        .host("www.example.test")
        .bearer(&alice);
    expect(h, req, 200, r#"{"tenant":null}"#).await;
}

/// E.27: the path segment must match exactly; encodings and dot segments are refused.
pub async fn path_tricks<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    for path in [
        "/t/acme%2fglobex/whoami",
        "/t/acme%2Fx/whoami",
        "/t/%61cme/whoami",
        "/t/acme/../globex/whoami",
        "/t/./acme/whoami",
        "/t/acme/%2e%2e/whoami",
        "/t//acme/whoami",
        "/t/ACME/whoami",
        "/%74/acme/whoami",
    ] {
        let req = TestRequest::get(path).bearer(&alice);
        refused(h, req, 400, "invalid_tenant").await;
    }
}

/// E.26: forwarded headers are ignored without a trusted proxy.
pub async fn forwarded_headers_without_trusted_proxy<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    let req = TestRequest::get("/whoami")
        .host("acme.example.test")
        .header("x-forwarded-host", "globex.example.test")
        .header("forwarded", "host=globex.example.test")
        .bearer(&alice);
    expect(h, req, 200, &ok_body("acme", "owner")).await;
    let req = TestRequest::get("/whoami")
        .host("example.test")
        .header("x-forwarded-host", "acme.example.test")
        .header("forwarded", "for=10.0.0.1;host=acme.example.test")
        .bearer(&alice);
    refused(h, req, 400, "tenant_required").await;
}

/// E.28: signature verified with pinned algorithms; `alg: none`, expired, not yet valid, wrong
/// issuer or audience, bad subject → 401.
pub async fn jwt_attacks<H: Harness>(h: &H, w: &World) {
    let sub = w.users.alice.to_string();
    let now = jsonwebtoken::get_current_timestamp();
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(
            json!({ "sub": sub, "iss": super::ISSUER, "aud": super::AUDIENCE, "exp": now + 600 })
                .to_string()
                .as_bytes()
        )
    );
    let valid = w.token(w.users.alice);
    let mut tampered = valid.clone();
    tampered.pop();
    tampered.push(if valid.ends_with('A') { 'B' } else { 'A' });
    let tokens = [
        none,
        w.token_with(
            json!({ "sub": sub, "exp": now - 3600, "nbf": now - 7200, "iat": now - 7200 }),
            Algorithm::HS256,
            super::SECRET,
        ),
        w.token_with(
            json!({ "sub": sub, "nbf": now + 3600 }),
            Algorithm::HS256,
            super::SECRET,
        ),
        w.token_with(
            json!({ "sub": sub, "iss": "https://evil.test" }),
            Algorithm::HS256,
            super::SECRET,
        ),
        w.token_with(
            json!({ "sub": sub, "aud": "another-api" }),
            Algorithm::HS256,
            super::SECRET,
        ),
        w.token_with(
            json!({ "sub": sub }),
            Algorithm::HS256,
            b"another-secret-that-is-32-bytes-long!!",
        ),
        w.token_with(json!({ "sub": sub }), Algorithm::HS512, super::SECRET),
        w.token_with(json!({}), Algorithm::HS256, super::SECRET),
        w.token_with(json!({ "sub": "alice" }), Algorithm::HS256, super::SECRET),
        tampered,
        "not.a.jwt".to_owned(),
        "garbage".to_owned(),
    ];
    for token in &tokens {
        let req = TestRequest::get("/whoami").tenant("acme").bearer(token);
        refused(h, req, 401, "unauthenticated").await;
    }
    // Positive control.
    let req = TestRequest::get("/whoami").tenant("acme").bearer(&valid);
    expect(h, req, 200, &ok_body("acme", "owner")).await;
}

/// Invalid credentials are 401 on every route, tenant or not; none is anonymous.
pub async fn invalid_token_on_public_route<H: Harness>(h: &H, w: &World) {
    let req = TestRequest::get("/public").bearer("garbage");
    refused(h, req, 401, "unauthenticated").await;
    expect(h, TestRequest::get("/public"), 200, r#"{"ok":true}"#).await;
    let req = TestRequest::get("/public").bearer(&w.token(w.users.mallory));
    expect(h, req, 200, r#"{"ok":true}"#).await;
}

/// Anonymous callers on a tenant route get 401 before any lookup: an existing and an unknown
/// tenant answer the same.
pub async fn anonymous_on_tenant_route<H: Harness>(h: &H, _w: &World) {
    for tenant in ["acme", "nosuch", "initech", "umbrella"] {
        refused(
            h,
            TestRequest::get("/whoami").tenant(tenant),
            401,
            "unauthenticated",
        )
        .await;
    }
    let req = TestRequest::get("/whoami")
        .tenant("acme")
        .header("authorization", "Basic YWxpY2U6cHc=");
    refused(h, req, 401, "unauthenticated").await;
}

/// G.37: a suspended tenant refuses its members (403 `tenant_suspended`); non-members learn only
/// that they are not members.
pub async fn suspended_tenant<H: Harness>(h: &H, w: &World) {
    let dave = w.token(w.users.dave);
    let alice = w.token(w.users.alice);
    refused(
        h,
        TestRequest::get("/whoami").tenant("initech").bearer(&dave),
        403,
        "tenant_suspended",
    )
    .await;
    refused(
        h,
        TestRequest::get("/optional")
            .tenant("initech")
            .bearer(&dave),
        403,
        "tenant_suspended",
    )
    .await;
    refused(
        h,
        TestRequest::get("/whoami").tenant("initech").bearer(&alice),
        403,
        "not_a_member",
    )
    .await;
}

/// A deleted tenant is indistinguishable from one that never existed.
pub async fn deleted_tenant<H: Harness>(h: &H, w: &World) {
    let dave = w.token(w.users.dave);
    refused(
        h,
        TestRequest::get("/whoami").tenant("umbrella").bearer(&dave),
        404,
        "tenant_not_found",
    )
    .await;
}

/// E.29: a revoked membership stops working on the next request (the world's store is not
/// cached; with the caching store the bound is its TTL, see tenancy-core's cache tests).
pub async fn revoked_membership<H: Harness>(h: &H, w: &World) {
    let bob = w.token(w.users.bob);
    let req = || TestRequest::get("/whoami").tenant("acme").bearer(&bob);
    expect(h, req(), 200, &ok_body("acme", "member")).await;
    w.members.remove(w.acme, w.users.bob);
    refused(h, req(), 403, "not_a_member").await;
}

/// `RequireRole<Admin>`: owners and admins pass, members are 403.
pub async fn role_guard<H: Harness>(h: &H, w: &World) {
    let bob = w.token(w.users.bob);
    let manny = w.token(w.users.manny);
    refused(
        h,
        TestRequest::get("/admin").tenant("acme").bearer(&bob),
        403,
        "insufficient_role",
    )
    .await;
    refused(
        h,
        TestRequest::get("/admin").tenant("acme").bearer(&manny),
        403,
        "insufficient_role",
    )
    .await;
    let req = TestRequest::get("/admin")
        .tenant("acme")
        .bearer(&w.token(w.users.alice));
    expect(h, req, 200, &ok_body("acme", "owner")).await;
    let req = TestRequest::get("/admin")
        .tenant("globex")
        .bearer(&w.token(w.users.carol));
    expect(h, req, 200, &ok_body("globex", "admin")).await;
}

/// `RequirePermission<LeadsWrite>` (granted to managers): members are 403, managers and above
/// pass.
pub async fn permission_guard<H: Harness>(h: &H, w: &World) {
    let bob = w.token(w.users.bob);
    refused(
        h,
        TestRequest::get("/leads").tenant("acme").bearer(&bob),
        403,
        "insufficient_role",
    )
    .await;
    let req = TestRequest::get("/leads")
        .tenant("acme")
        .bearer(&w.token(w.users.manny));
    expect(h, req, 200, &ok_body("acme", "manager")).await;
    let req = TestRequest::get("/leads")
        .tenant("acme")
        .bearer(&w.token(w.users.alice));
    expect(h, req, 200, &ok_body("acme", "owner")).await;
}

/// A tenant route without a selection is 400 `tenant_required`; an optional route serves both.
pub async fn tenant_required_and_optional<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    for path in ["/whoami", "/admin", "/leads"] {
        refused(
            h,
            TestRequest::get(path).bearer(&alice),
            400,
            "tenant_required",
        )
        .await;
    }
    let req = TestRequest::get("/optional").bearer(&alice);
    expect(h, req, 200, r#"{"tenant":null}"#).await;
    expect(h, TestRequest::get("/optional"), 200, r#"{"tenant":null}"#).await;
    let req = TestRequest::get("/optional").tenant("acme").bearer(&alice);
    expect(h, req, 200, r#"{"tenant":"acme"}"#).await;
}

/// A handler asking for a scope on a route without the layer gets a 500 that says so, even when
/// the request names a tenant the caller belongs to; routes that ask for nothing still work.
pub async fn missing_layer<H: Harness>(h: &H, w: &World) {
    let alice = w.token(w.users.alice);
    for path in ["/whoami", "/optional", "/admin", "/leads"] {
        let req = TestRequest::get(path).tenant("acme").bearer(&alice);
        let res = h.send_without_layer(req).await;
        assert_eq!(
            res,
            TestResponse {
                status: 500,
                body: error_body("tenancy_layer_missing"),
                retry_after: None,
            },
            "{path}"
        );
    }
    let res = h.send_without_layer(TestRequest::get("/public")).await;
    assert_eq!(res.status, 200);
}

/// ATTACKS.md G.40: the `busy` tenant's quota is counted by tenant id, whichever way the tenant is
/// selected and whoever asks; over it, 429 `rate_limited` with a `Retry-After`. Other tenants are
/// untouched (positive control), and the quota comes back when the clock moves.
pub async fn rate_limited_per_tenant<H: Harness>(h: &H, w: &World) {
    let (alice, bob) = (w.token(w.users.alice), w.token(w.users.bob));
    // BUSY_QUOTA admitted requests, spread over three selections and two members.
    let selections = [
        TestRequest::get("/whoami").tenant("busy").bearer(&alice),
        TestRequest::get("/whoami")
            .host(&format!("busy.{BASE_DOMAIN}"))
            .bearer(&bob),
        TestRequest::get("/t/busy/whoami").bearer(&alice),
    ];
    assert_eq!(selections.len(), BUSY_QUOTA as usize);
    for req in selections.iter().cloned() {
        let res = h.send(req).await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert_eq!(res.retry_after, None);
    }
    // Switching the selection (or the user) does not multiply the quota.
    for req in [
        TestRequest::get("/whoami").tenant("busy").bearer(&bob),
        TestRequest::get("/whoami")
            .host(&format!("BUSY.{BASE_DOMAIN}."))
            .bearer(&alice),
        TestRequest::get("/t/busy/whoami").bearer(&bob),
    ] {
        let res = h.send(req).await;
        assert_eq!(res.status, 429, "{}", res.body);
        assert_eq!(res.body, error_body("rate_limited"));
        let secs: u64 = res.retry_after.as_deref().unwrap().parse().unwrap();
        assert!(secs > 0 && secs <= 3600, "Retry-After {secs}");
    }
    // Another tenant is not affected.
    let req = TestRequest::get("/whoami").tenant("acme").bearer(&alice);
    expect(h, req, 200, &ok_body("acme", "owner")).await;
    // Refusals of earlier steps are not counted: a non-member is still 403, not 429.
    let mallory = w.token(w.users.mallory);
    refused(
        h,
        TestRequest::get("/whoami").tenant("busy").bearer(&mallory),
        403,
        "not_a_member",
    )
    .await;
    // One replenish interval later, one more request is admitted.
    w.clock
        .advance(std::time::Duration::from_secs(3600 / u64::from(BUSY_QUOTA)));
    let req = TestRequest::get("/whoami").tenant("busy").bearer(&bob);
    expect(h, req, 200, &ok_body("busy", "member")).await;
}

macro_rules! transcript_fn {
    (; $($case:ident),* $(,)?) => {
        /// Runs every case, each in a fresh [`World`] made by `new_world` ([`World::new`] or
        /// [`World::waiting`]) with a fresh harness from `make`, and
        /// returns `(case, with_layer, path, response)` for every exchange. Two adapters that
        /// conform produce equal transcripts (tokens differ between worlds, so requests are
        /// compared by path and case only).
        pub async fn transcript<H, F, Fut>(
            new_world: fn() -> World,
            make: F,
        ) -> Vec<(&'static str, bool, String, TestResponse)>
        where
            H: Harness,
            F: Fn(World) -> Fut,
            Fut: Future<Output = (World, H)>,
        {
            let mut out = Vec::new();
            $(
                let (world, harness) = make(new_world()).await;
                let rec = Recording::new(harness);
                $case(&rec, &world).await;
                for (layer, req, res) in rec.take() {
                    out.push((stringify!($case), layer, req.path, res));
                }
            )*
            out
        }
    };
}

crate::for_each_conformance_case!(transcript_fn,);
