//! The platform administrator's dashboard: every organisation with its status and member
//! count, suspend and activate. Reached only without a tenant selection, through the API's
//! platform handlers (platform scope, platform role, audited).

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::page::{Chrome, WebError, render};
use crate::api;
use crate::api::json::Id;
use crate::app::AppState;
use crate::scope::Platform;

/// One organisation row.
struct TenantRow {
    id: String,
    slug: String,
    name: String,
    status: String,
    plan: String,
    members: Option<i64>,
    created: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    tenants: Vec<TenantRow>,
}

fn field(v: &serde_json::Value, name: &str) -> String {
    v.get(name)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `GET /admin`.
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    Platform(admin): Platform,
    chrome: Chrome,
) -> Result<Response, WebError> {
    let Json(rows) = api::admin::list(State(state), Platform(admin)).await?;
    let rows = serde_json::to_value(rows).map_err(|e| WebError::internal(&e))?;
    let tenants = rows
        .as_array()
        .map(|list| {
            list.iter()
                .map(|t| TenantRow {
                    id: field(t, "id"),
                    slug: field(t, "slug"),
                    name: field(t, "name"),
                    status: field(t, "status"),
                    plan: field(t, "plan"),
                    members: t.get("member_count").and_then(serde_json::Value::as_i64),
                    created: field(t, "created_at").chars().take(10).collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(render(&AdminPage {
        chrome: chrome.at("admin"),
        tenants,
    }))
}

/// `POST /admin/tenants/{id}/suspend`.
pub(crate) async fn suspend(
    State(state): State<AppState>,
    Platform(admin): Platform,
    Id(id): Id,
) -> Result<Response, WebError> {
    let _saved = api::admin::suspend(State(state), Platform(admin), Id(id)).await?;
    Ok(Redirect::to("/admin").into_response())
}

/// `POST /admin/tenants/{id}/activate`.
pub(crate) async fn activate(
    State(state): State<AppState>,
    Platform(admin): Platform,
    Id(id): Id,
) -> Result<Response, WebError> {
    let _saved = api::admin::activate(State(state), Platform(admin), Id(id)).await?;
    Ok(Redirect::to("/admin").into_response())
}
