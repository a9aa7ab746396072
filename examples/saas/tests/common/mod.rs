//! In-process test harness: a fresh database per test (library and app migrations), the app
//! connected as the unprivileged runtime role and the platform role, requests through
//! `tower::ServiceExt::oneshot`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use std::sync::Mutex;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use saas::auth::TokenKeys;
use saas::{AppConfig, AppState};
use serde_json::{Value, json};
use tenancy_sqlx::testing::TestDatabase;
use tower::ServiceExt as _;
use uuid::Uuid;

/// The platform administrator's email in every test app.
pub const ADMIN_EMAIL: &str = "root@platform.test";
/// The password of every test account.
pub const PASSWORD: &str = "correct horse battery";

/// Words that must never appear in an error body.
const LEAKS: &[&str] = &[
    "select ",
    "insert ",
    "update ",
    "delete ",
    "constraint",
    "tenancy.",
    "violates",
    "sqlx",
    "postgres",
    "relation",
    "syntax",
    "duplicate key",
    "policy",
    "row-level",
    "sqlstate",
];

pub struct TestApp {
    pub db: TestDatabase,
    pub app: Router,
    pub state: AppState,
    /// Every tenant id created through the harness: none may appear in an error body.
    pub tenant_ids: Mutex<Vec<Uuid>>,
}

/// One request.
#[derive(Debug, Clone)]
pub struct Req {
    method: Method,
    path: String,
    token: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Req {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            token: None,
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }
    pub fn post(path: &str) -> Self {
        Self::new(Method::POST, path)
    }
    pub fn patch(path: &str) -> Self {
        Self::new(Method::PATCH, path)
    }
    pub fn delete(path: &str) -> Self {
        Self::new(Method::DELETE, path)
    }
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }
    pub fn tenant(self, slug: &str) -> Self {
        self.header("x-tenant", slug)
    }
    pub fn host(self, host: &str) -> Self {
        self.header("host", host)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self
    }
    pub fn raw(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }
}

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug, Clone)]
pub struct Res {
    pub status: StatusCode,
    pub body: Value,
}

impl Res {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn id(&self) -> Uuid {
        self.body["id"].as_str().unwrap().parse().unwrap()
    }
}

/// An account with a token.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

impl TestApp {
    pub async fn new() -> Self {
        let db = TestDatabase::new().await.unwrap();
        saas::db::app_migrator().run(db.admin_pool()).await.unwrap();
        let database = saas::db::connect(
            db.app_connect_options().unwrap(),
            db.platform_connect_options().unwrap(),
        )
        .await
        .unwrap();
        let config = AppConfig::new(
            "localhost",
            TokenKeys::new(b"an hs256 test secret of 32+ bytes!!").unwrap(),
        )
        .with_platform_admin_email(Some(ADMIN_EMAIL.to_owned()));
        let state = AppState::new(database, config).unwrap();
        Self {
            app: saas::router(state.clone()),
            db,
            state,
            tenant_ids: Mutex::new(Vec::new()),
        }
    }

    pub async fn send(&self, req: Req) -> Res {
        let mut builder = Request::builder().method(req.method).uri(&req.path);
        if let Some(t) = &req.token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let body = match req.body {
            Some(b) => {
                builder = builder.header("content-type", "application/json");
                Body::from(b)
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(builder.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let html = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = if bytes.is_empty() {
            Value::Null
        } else if html {
            // The web UI turns errors on non-API paths (such as malformed `/t/...` paths) into
            // pages; only the leak check applies to them.
            let lower = text.to_lowercase();
            for leak in LEAKS {
                assert!(
                    !lower.contains(leak),
                    "{status}: error page leaks `{leak}`: {text}"
                );
            }
            return Res {
                status,
                body: Value::String(text),
            };
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("{status}: body is not JSON: {text}"))
        };
        if status.is_client_error() || status.is_server_error() {
            self.check_error_body(status, &body, &text);
        }
        Res { status, body }
    }

    /// Every error body has the stable shape and leaks nothing (ATTACKS C.18).
    fn check_error_body(&self, status: StatusCode, body: &Value, text: &str) {
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{status}: error body has the wrong shape: {text}"
        );
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "500: {text}");
        let lower = text.to_lowercase();
        for leak in LEAKS {
            assert!(
                !lower.contains(leak),
                "{status}: error body leaks `{leak}`: {text}"
            );
        }
        for id in self.tenant_ids.lock().unwrap().iter() {
            assert!(
                !lower.contains(&id.to_string()),
                "{status}: error body names a tenant id: {text}"
            );
        }
    }

    pub async fn signup(&self, email: &str, name: &str) -> User {
        let r = self
            .send(
                Req::post("/api/signup")
                    .json(json!({"email": email, "password": PASSWORD, "name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let id = r.id();
        let r = self
            .send(Req::post("/api/login").json(json!({"email": email, "password": PASSWORD})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        User {
            id,
            email: email.to_owned(),
            token: r.body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates an organisation through the API; `owner` becomes its owner.
    pub async fn create_org(&self, owner: &User, slug: &str) -> Uuid {
        let r = self
            .send(
                Req::post("/api/orgs")
                    .token(&owner.token)
                    .json(json!({"slug": slug, "name": slug.to_uppercase()})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let id = r.id();
        self.tenant_ids.lock().unwrap().push(id);
        id
    }

    /// Seeds a membership as the superuser (test setup only, not code under test).
    pub async fn seed_member(&self, tenant: Uuid, user: &User, role: &str) {
        sqlx::query(
            "INSERT INTO tenancy.memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)",
        )
        .bind(tenant)
        .bind(user.id)
        .bind(role)
        .execute(self.db.admin_pool())
        .await
        .unwrap();
        self.state.members().invalidate(
            tenancy_core::TenantId::from_uuid(tenant),
            tenancy_core::UserId::from_uuid(user.id),
        );
    }

    /// Counts rows of a table for one tenant as the superuser (side-effect checks).
    pub async fn count(&self, table: &str, tenant: Uuid) -> i64 {
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .fetch_one(self.db.admin_pool())
            .await
            .unwrap()
    }

    pub async fn close(self) {
        drop(self.app);
        drop(self.state);
        self.db.close().await.unwrap();
    }
}

/// Two organisations with a user of every role in `acme` and an owner in `globex`, each with a
/// campaign and a lead.
pub struct World {
    pub t: TestApp,
    pub acme: Uuid,
    pub globex: Uuid,
    pub owner_a: User,
    pub admin_a: User,
    pub manager_a: User,
    pub member_a: User,
    pub owner_b: User,
    pub outsider: User,
    pub platform: User,
    pub campaign_a: Uuid,
    pub lead_a: Uuid,
    pub campaign_b: Uuid,
    pub lead_b: Uuid,
}

impl World {
    pub async fn new() -> Self {
        let t = TestApp::new().await;
        let owner_a = t.signup("owner@acme.test", "Olive Owner").await;
        let admin_a = t.signup("admin@acme.test", "Adam Admin").await;
        let manager_a = t.signup("manager@acme.test", "Mona Manager").await;
        let member_a = t.signup("member@acme.test", "Mel Member").await;
        let owner_b = t.signup("owner@globex.test", "Gus Globex").await;
        let outsider = t.signup("outsider@nowhere.test", "Otto Outsider").await;
        let platform = t.signup(ADMIN_EMAIL, "Pat Platform").await;
        let acme = t.create_org(&owner_a, "acme").await;
        let globex = t.create_org(&owner_b, "globex").await;
        t.seed_member(acme, &admin_a, "admin").await;
        t.seed_member(acme, &manager_a, "manager").await;
        t.seed_member(acme, &member_a, "member").await;
        let campaign_a = t
            .send(
                Req::post("/api/campaigns")
                    .token(&owner_a.token)
                    .tenant("acme")
                    .json(json!({"name": "Spring A"})),
            )
            .await
            .id();
        let lead_a = t
            .send(Req::post("/api/leads").token(&owner_a.token).tenant("acme")
                .json(json!({"name": "Lead A", "email": "lead@a.test", "campaign_id": campaign_a})))
            .await
            .id();
        let campaign_b = t
            .send(
                Req::post("/api/campaigns")
                    .token(&owner_b.token)
                    .tenant("globex")
                    .json(json!({"name": "Spring B"})),
            )
            .await
            .id();
        let lead_b = t
            .send(Req::post("/api/leads").token(&owner_b.token).tenant("globex")
                .json(json!({"name": "Lead B", "email": "lead@b.test", "campaign_id": campaign_b})))
            .await
            .id();
        Self {
            t,
            acme,
            globex,
            owner_a,
            admin_a,
            manager_a,
            member_a,
            owner_b,
            outsider,
            platform,
            campaign_a,
            lead_a,
            campaign_b,
            lead_b,
        }
    }
}
