//! The server-rendered web UI: plain HTML forms (no JavaScript), askama templates in
//! `templates/`, one stylesheet in `static/app.css`.
//!
//! The pages follow exactly the API's rules because they call the API's handlers with the
//! request's scope: the same [`Tenant`](crate::scope::Tenant) scope from the core pipeline, the
//! same policy checks, the same [`TenantTx`](tenancy_sqlx::TenantTx)s. What this module adds:
//!
//! * a cookie session read by [`SessionAuthenticator`], a core
//!   [`Authenticator`](tenancy_core::Authenticator) the pipeline runs after the bearer token
//!   (register it with [`AppConfig::with_authenticator`](crate::AppConfig::with_authenticator));
//! * a CSRF token on every form, checked on every POST of these routes;
//! * [`html_errors`]: on non-API paths, the pipeline's and extractors' JSON errors become
//!   friendly pages with the same status (401 goes to the login page).
//!
//! Organisation pages live under `/t/{slug}/...` (the path resolver selects the tenant; the
//! header's switcher links there); account and platform pages have no prefix.
//!
//! | page | path |
//! |------|------|
//! | sign up, log in, log out | `/signup`, `/login`, `POST /logout` |
//! | organisations, create, accept an invitation | `/orgs`, `POST /invitations/accept` |
//! | leads, campaigns (list, create, edit, delete) | `/t/{slug}/leads[/{id}]`, `/t/{slug}/campaigns[/{id}]` |
//! | members (role, remove, invite) | `/t/{slug}/members` |
//! | settings, audit log | `/t/{slug}/settings`, `/t/{slug}/audit` |
//! | platform admin | `/admin` |

mod account;
mod admin;
mod crm;
mod org;
mod page;
mod session;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use page::html_errors;
pub use session::{ANON_COOKIE, CSRF_FIELD, SESSION_COOKIE, SessionAuthenticator};

use crate::app::AppState;

/// The stylesheet, served at `/static/app.css`.
const CSS: &str = include_str!("../../static/app.css");

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
}

/// The web UI's routes, merged into the app router next to the API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(account::home))
        .route("/login", get(account::login_page).post(account::login))
        .route("/signup", get(account::signup_page).post(account::signup))
        .route("/logout", post(account::logout))
        .route("/orgs", get(account::orgs_page).post(account::create_org))
        .route("/invitations/accept", post(org::accept))
        .route("/leads", get(crm::leads).post(crm::create_lead))
        .route("/leads/{id}", get(crm::lead).post(crm::update_lead))
        .route("/leads/{id}/delete", post(crm::delete_lead))
        .route("/campaigns", get(crm::campaigns).post(crm::create_campaign))
        .route(
            "/campaigns/{id}",
            get(crm::campaign).post(crm::update_campaign),
        )
        .route("/campaigns/{id}/delete", post(crm::delete_campaign))
        .route("/members", get(org::members))
        .route("/members/{id}/role", post(org::change_role))
        .route("/members/{id}/remove", post(org::remove))
        .route("/invitations", post(org::invite))
        .route("/settings", get(org::settings).post(org::save_settings))
        .route("/audit", get(org::audit))
        .route("/admin", get(admin::dashboard))
        .route("/admin/tenants/{id}/suspend", post(admin::suspend))
        .route("/admin/tenants/{id}/activate", post(admin::activate))
        .layer(axum::middleware::from_fn_with_state(
            session::CsrfKey::random(),
            session::guard,
        ))
        .route("/static/app.css", get(stylesheet))
}
