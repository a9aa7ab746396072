//! The web UI's rules without a browser, in-process: session cookie flags, CSRF on every POST,
//! friendly HTML errors with the right status (never a 500 for bad input), the login redirect,
//! and tenant isolation of the pages. The browser flow is in `e2e.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use saas::auth::TokenKeys;
use saas::web::SessionAuthenticator;
use saas::{AppConfig, AppState};
use tenancy_sqlx::testing::TestDatabase;
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery";

struct Web {
    _db: TestDatabase,
    app: Router,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    content_type: String,
    body: String,
}

impl Page {
    /// The CSRF token of the first form on the page.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a csrf field") + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }

    /// `name=value` of the cookie `name` this response sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }
}

impl Web {
    async fn new() -> Self {
        let db = TestDatabase::new().await.unwrap();
        saas::db::app_migrator().run(db.admin_pool()).await.unwrap();
        let database = saas::db::connect(
            db.app_connect_options().unwrap(),
            db.platform_connect_options().unwrap(),
        )
        .await
        .unwrap();
        let keys = TokenKeys::random().unwrap();
        let config = AppConfig::new("localhost", keys.clone())
            .with_authenticator(Arc::new(SessionAuthenticator::new(&keys)));
        let state = AppState::new(database, config).unwrap();
        Self {
            _db: db,
            app: saas::router(state),
        }
    }

    async fn send(&self, method: Method, path: &str, cookie: &str, form: Option<&str>) -> Page {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie);
        }
        let body = match form {
            Some(f) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(f.to_owned())
            }
            None => Body::empty(),
        };
        let res = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookies = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec())
            .unwrap();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body}");
        Page {
            status,
            location,
            set_cookies,
            content_type,
            body,
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> Page {
        self.send(Method::GET, path, cookie, None).await
    }

    async fn post(&self, path: &str, cookie: &str, form: &str) -> Page {
        self.send(Method::POST, path, cookie, Some(form)).await
    }

    /// Signs up through the form; returns the session cookie (`saas_session=...`).
    async fn signup(&self, name: &str, email: &str) -> String {
        let page = self.get("/signup", "").await;
        let anon = page.cookie("saas_anon").unwrap();
        let form = format!(
            "csrf={}&name={name}&email={email}&password={}",
            page.csrf(),
            PASSWORD.replace(' ', "+")
        );
        let done = self.post("/signup", &anon, &form).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        done.cookie("saas_session").unwrap()
    }

    /// Creates an organisation through the form.
    async fn create_org(&self, session: &str, slug: &str) {
        let csrf = self.get("/orgs", session).await.csrf();
        let done = self
            .post(
                "/orgs",
                session,
                &format!("csrf={csrf}&name={slug}+Inc&slug={slug}"),
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location.as_deref(), Some(&*format!("/t/{slug}/leads")));
    }
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let web = Web::new().await;
    let login = web.get("/login", "").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.is_html());
    let anon = login
        .set_cookies
        .iter()
        .find(|c| c.starts_with("saas_anon="))
        .unwrap();
    assert!(anon.contains("HttpOnly") && anon.contains("SameSite=Lax"));

    web.signup("Ann", "ann@example.test").await;
    let page = web.get("/login", "").await;
    let form = format!(
        "csrf={}&email=ann%40example.test&password={}",
        page.csrf(),
        PASSWORD.replace(' ', "+")
    );
    let done = web
        .post("/login", &page.cookie("saas_anon").unwrap(), &form)
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let session = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("saas_session="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(flag), "{session} lacks {flag}");
    }

    // Logging out clears it.
    let cookie = done.cookie("saas_session").unwrap();
    let csrf = web.get("/orgs", &cookie).await.csrf();
    let out = web.post("/logout", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(
        out.set_cookies
            .iter()
            .any(|c| c.starts_with("saas_session=;") && c.contains("Max-Age=0"))
    );
}

#[tokio::test]
async fn every_post_needs_the_csrf_token_of_its_session() {
    let web = Web::new().await;
    let page = web.get("/login", "").await;
    let anon = page.cookie("saas_anon").unwrap();
    let creds = format!("email=x%40y.test&password={}", PASSWORD.replace(' ', "+"));

    // No token, a wrong token, no cookie at all: 403 page, nothing done.
    for (cookie, form) in [
        (anon.as_str(), creds.clone()),
        (anon.as_str(), format!("csrf=00ff&{creds}")),
        (anon.as_str(), format!("csrf={}0&{creds}", page.csrf())),
        ("", format!("csrf={}&{creds}", page.csrf())),
    ] {
        let r = web.post("/login", cookie, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{form}");
        assert!(r.is_html() && r.body.contains("Form expired"));
    }
    // The right token passes the guard (and the login then fails on the credentials).
    let r = web
        .post("/login", &anon, &format!("csrf={}&{creds}", page.csrf()))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Email or password is wrong."));

    // After login the token is bound to the session: the pre-login token no longer works.
    let session = web.signup("Ben", "ben@example.test").await;
    let stale = web
        .post(
            "/orgs",
            &format!("{anon}; {session}"),
            &format!("csrf={}&name=Acme&slug=acme", page.csrf()),
        )
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    // Another user's token does not work for this session.
    let other = web.signup("Cat", "cat@example.test").await;
    let other_csrf = web.get("/orgs", &other).await.csrf();
    let forged = web
        .post(
            "/orgs",
            &session,
            &format!("csrf={other_csrf}&name=Acme&slug=acme"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Nothing was created by the refused posts.
    assert!(!web.get("/orgs", &session).await.body.contains("/t/acme"));
}

#[tokio::test]
async fn errors_are_friendly_pages_with_the_right_status() {
    let web = Web::new().await;
    let alice = web.signup("Alice", "alice@example.test").await;
    web.create_org(&alice, "acme").await;
    let csrf = web.get("/t/acme/leads", &alice).await.csrf();

    // Bad input: 422 page, never a 500 (send() asserts that on every response).
    for form in [
        format!("csrf={csrf}&name="),
        format!("csrf={csrf}&name=Ada&email=not-an-email"),
        format!("csrf={csrf}&name=Ada&campaign_id=not-a-uuid"),
        format!("csrf={csrf}&name=Ada&campaign_id={}", uuid::Uuid::new_v4()),
        format!("csrf={csrf}&name=Ada&status=bogus"),
        format!("csrf={csrf}&name={}", "x".repeat(300)),
    ] {
        let r = web.post("/t/acme/leads", &alice, &form).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{form}: {}",
            r.body
        );
        assert!(r.is_html() && r.body.contains("Check your input"));
    }
    // Unknown ids and malformed ids: 404 pages.
    let r = web
        .get(&format!("/t/acme/leads/{}", uuid::Uuid::new_v4()), &alice)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.is_html());
    let r = web.get("/t/acme/leads/not-a-uuid", &alice).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.is_html());
    let r = web.get("/t/no-such-org/leads", &alice).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.is_html());
    // A duplicate organisation address: the form again with 409.
    let csrf = web.get("/orgs", &alice).await.csrf();
    let r = web
        .post(
            "/orgs",
            &alice,
            &format!("csrf={csrf}&name=Again&slug=acme"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("id=\"org-form\""));
    // Anonymous on a tenant page: to the login page. The API keeps answering JSON.
    let r = web.get("/t/acme/leads", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/login"));
    let r = web.get("/t/acme/api/leads", "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.content_type.starts_with("application/json"));
    // Platform pages are for platform administrators only.
    let r = web.get("/admin", &alice).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.is_html());
}

#[tokio::test]
async fn pages_show_only_the_selected_organisation() {
    let web = Web::new().await;
    let alice = web.signup("Alice", "alice@example.test").await;
    let bob = web.signup("Bob", "bob@example.test").await;
    web.create_org(&alice, "acme").await;
    web.create_org(&bob, "bravo").await;
    for (who, slug, lead) in [
        (&alice, "acme", "Ada+Lovelace"),
        (&bob, "bravo", "Bravo+Buyer"),
    ] {
        let csrf = web.get(&format!("/t/{slug}/leads"), who).await.csrf();
        let r = web
            .post(
                &format!("/t/{slug}/leads"),
                who,
                &format!("csrf={csrf}&name={lead}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    // Positive control: each sees their own lead.
    let a = web.get("/t/acme/leads", &alice).await;
    assert!(a.body.contains("Ada Lovelace") && !a.body.contains("Bravo Buyer"));
    let b = web.get("/t/bravo/leads", &bob).await;
    assert!(b.body.contains("Bravo Buyer") && !b.body.contains("Ada Lovelace"));
    // Bob on Acme's pages: 403, nothing of Acme in the page.
    for path in [
        "/t/acme/leads",
        "/t/acme/campaigns",
        "/t/acme/members",
        "/t/acme/settings",
    ] {
        let r = web.get(path, &bob).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!r.body.contains("Ada Lovelace") && !r.body.contains("acme Inc"));
    }
    // Bob posting into Acme with his own valid token: 403, no lead created.
    let csrf = web.get("/t/bravo/leads", &bob).await.csrf();
    let r = web
        .post("/t/acme/leads", &bob, &format!("csrf={csrf}&name=Intruder"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        !web.get("/t/acme/leads", &alice)
            .await
            .body
            .contains("Intruder")
    );
    // Alice's lead id under Bob's organisation: 404, and deleting it there does nothing.
    let a = web.get("/t/acme/leads", &alice).await;
    let start = a.body.find("/t/acme/leads/").unwrap() + "/t/acme/leads/".len();
    let ada = &a.body[start..start + 36];
    let r = web.get(&format!("/t/bravo/leads/{ada}"), &bob).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = web
        .post(
            &format!("/t/bravo/leads/{ada}/delete"),
            &bob,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        web.get("/t/acme/leads", &alice)
            .await
            .body
            .contains("Ada Lovelace")
    );
}

/// The id after `prefix` in a page (the first link to a row).
fn id_after(body: &str, prefix: &str) -> String {
    let start = body.find(prefix).unwrap() + prefix.len();
    body[start..start + 36].to_owned()
}

#[tokio::test]
async fn create_edit_delete_and_rename_through_the_forms() {
    let web = Web::new().await;
    let alice = web.signup("Alice", "alice@example.test").await;
    web.create_org(&alice, "acme").await;
    let csrf = web.get("/t/acme/campaigns", &alice).await.csrf();

    // Campaign: create, edit, delete.
    let r = web
        .post(
            "/t/acme/campaigns",
            &alice,
            &format!("csrf={csrf}&name=Spring&status=draft"),
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/t/acme/campaigns"));
    let list = web.get("/t/acme/campaigns", &alice).await;
    assert!(list.body.contains("Spring"));
    let id = id_after(&list.body, "/t/acme/campaigns/");
    let r = web
        .post(
            &format!("/t/acme/campaigns/{id}"),
            &alice,
            &format!("csrf={csrf}&name=Summer&status=active"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let edit = web.get(&format!("/t/acme/campaigns/{id}"), &alice).await;
    assert!(
        edit.body.contains("value=\"Summer\"") && edit.body.contains("<option selected>active")
    );

    // Lead linked to it: update (clearing the email), then delete.
    let r = web
        .post(
            "/t/acme/leads",
            &alice,
            &format!("csrf={csrf}&name=Ada&email=ada%40example.test&campaign_id={id}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let leads = web.get("/t/acme/leads", &alice).await;
    assert!(leads.body.contains("ada@example.test") && leads.body.contains("Summer"));
    let lead = id_after(&leads.body, "/t/acme/leads/");
    let r = web
        .post(
            &format!("/t/acme/leads/{lead}"),
            &alice,
            &format!("csrf={csrf}&name=Ada+L&email=&phone=123&status=won&campaign_id="),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let leads = web.get("/t/acme/leads", &alice).await;
    assert!(leads.body.contains("Ada L") && !leads.body.contains("ada@example.test"));
    assert!(leads.body.contains("pill-won"));

    // Deleting the campaign keeps nothing of it; deleting the lead empties the list.
    let r = web
        .post(
            &format!("/t/acme/campaigns/{id}/delete"),
            &alice,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        !web.get("/t/acme/campaigns", &alice)
            .await
            .body
            .contains("Summer")
    );
    let r = web
        .post(
            &format!("/t/acme/leads/{lead}/delete"),
            &alice,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        web.get("/t/acme/leads", &alice)
            .await
            .body
            .contains("id=\"no-leads\"")
    );
    // Deleting again: 404 page.
    let r = web
        .post(
            &format!("/t/acme/leads/{lead}/delete"),
            &alice,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Settings: rename; the header and the switcher show the new name.
    let r = web
        .post(
            "/t/acme/settings",
            &alice,
            &format!("csrf={csrf}&name=Acme+Renamed"),
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/t/acme/settings?saved=1"));
    let page = web.get("/t/acme/settings?saved=1", &alice).await;
    assert!(page.body.contains("id=\"saved\"") && page.body.contains("Acme Renamed"));
    let r = web
        .post("/t/acme/settings", &alice, &format!("csrf={csrf}&name=+"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}
