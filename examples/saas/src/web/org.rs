//! The organisation's own pages: members (change role, remove, invite), invitations, settings
//! and the audit log. Each action is the JSON API's handler under the request's tenant scope.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy_core::{Role, TenantScope};

use super::page::{Chrome, WebError, WebForm, api_body, can, render};
use crate::api;
use crate::api::json::Id;
use crate::api::members::Member;
use crate::app::{AppState, PATH_PREFIX};
use crate::policy::{INVITATIONS_CREATE, MEMBERS_MANAGE};
use crate::scope::Tenant;

/// Role names offered by the forms, lowest first.
const ROLES: [&str; 4] = [
    Role::Member.as_str(),
    Role::Manager.as_str(),
    Role::Admin.as_str(),
    Role::Owner.as_str(),
];

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    chrome: Chrome,
    members: Vec<Member>,
    roles: &'static [&'static str],
    can_manage: bool,
    can_invite: bool,
    invitation: Option<String>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    saved: bool,
}

/// One audit entry as the page shows it.
struct AuditRow {
    at: String,
    actor: String,
    action: String,
    details: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<AuditRow>,
}

/// Role form.
#[derive(Debug, Deserialize)]
pub(crate) struct RoleForm {
    #[serde(default)]
    role: String,
}

/// Invitation form.
#[derive(Debug, Deserialize)]
pub(crate) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// Invitation acceptance form.
#[derive(Debug, Deserialize)]
pub(crate) struct AcceptForm {
    #[serde(default)]
    token: String,
}

/// `?saved=1` after a successful save.
#[derive(Debug, Deserialize)]
pub(crate) struct SettingsQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// Settings form.
#[derive(Debug, Deserialize)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    name: String,
}

fn to(scope: &TenantScope, rest: &str) -> Response {
    Redirect::to(&format!("/{PATH_PREFIX}/{}{rest}", scope.slug())).into_response()
}

async fn members_page(
    state: &AppState,
    scope: &TenantScope,
    chrome: Chrome,
    invitation: Option<String>,
) -> Result<Response, WebError> {
    let Json(members) = api::members::list(State(state.clone()), Tenant(scope.clone())).await?;
    Ok(render(&MembersPage {
        can_manage: can(state, scope, &MEMBERS_MANAGE),
        can_invite: can(state, scope, &INVITATIONS_CREATE),
        chrome: chrome.at("members"),
        members,
        roles: &ROLES,
        invitation,
    }))
}

/// `GET /t/{slug}/members`.
pub(crate) async fn members(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    chrome: Chrome,
) -> Result<Response, WebError> {
    members_page(&state, &scope, chrome, None).await
}

/// `POST /t/{slug}/members/{user_id}/role`.
pub(crate) async fn change_role(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(user): Id,
    WebForm(form): WebForm<RoleForm>,
) -> Result<Response, WebError> {
    let body = api_body(json!({ "role": form.role }))?;
    let _saved = api::members::update(State(state), Tenant(scope.clone()), Id(user), body).await?;
    Ok(to(&scope, "/members"))
}

/// `POST /t/{slug}/members/{user_id}/remove`: removing oneself is leaving.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(user): Id,
) -> Result<Response, WebError> {
    api::members::remove(State(state), Tenant(scope.clone()), Id(user)).await?;
    if user == scope.user_id().into_uuid() {
        return Ok(Redirect::to("/orgs").into_response());
    }
    Ok(to(&scope, "/members"))
}

/// `POST /t/{slug}/invitations`: shows the members page with the new invitation's code.
pub(crate) async fn invite(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    chrome: Chrome,
    WebForm(form): WebForm<InviteForm>,
) -> Result<Response, WebError> {
    let body = api_body(json!({ "email": form.email, "role": form.role }))?;
    let (_, Json(created)) =
        api::invitations::create(State(state.clone()), Tenant(scope.clone()), body).await?;
    let token = created
        .get("token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    members_page(&state, &scope, chrome, token).await
}

/// `POST /invitations/accept`: joins the organisation of the invitation and opens it.
pub(crate) async fn accept(
    State(state): State<AppState>,
    chrome: Chrome,
    WebForm(form): WebForm<AcceptForm>,
) -> Result<Response, WebError> {
    let principal = chrome.principal()?;
    let body = api_body(json!({ "token": form.token.trim() }))?;
    let Json(joined) =
        api::invitations::accept(State(state), crate::scope::Caller(principal), body).await?;
    match joined.get("slug").and_then(Value::as_str) {
        Some(slug) => Ok(Redirect::to(&format!("/{PATH_PREFIX}/{slug}/leads")).into_response()),
        None => Ok(Redirect::to("/orgs").into_response()),
    }
}

/// `GET /t/{slug}/settings` (admins and above).
pub(crate) async fn settings(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Query(query): Query<SettingsQuery>,
    chrome: Chrome,
) -> Result<Response, WebError> {
    state.allow(&scope, &crate::policy::ORG_UPDATE)?;
    Ok(render(&SettingsPage {
        chrome: chrome.at("settings"),
        saved: query.saved.is_some(),
    }))
}

/// `POST /t/{slug}/settings`: renames the organisation.
pub(crate) async fn save_settings(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    WebForm(form): WebForm<SettingsForm>,
) -> Result<Response, WebError> {
    let body = api_body(json!({ "name": form.name }))?;
    let _saved = api::org::update(State(state), Tenant(scope.clone()), body).await?;
    Ok(to(&scope, "/settings?saved=1"))
}

/// The first block of a UUID, enough to tell entries apart.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// `GET /t/{slug}/audit` (admins and above): newest first, actors named when they are members.
pub(crate) async fn audit(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    chrome: Chrome,
) -> Result<Response, WebError> {
    let Json(entries) = api::audit::list(State(state.clone()), Tenant(scope.clone())).await?;
    let Json(members) = api::members::list(State(state), Tenant(scope)).await?;
    // Users are named while they are members; others show a short id.
    let name_of = |id: &str| {
        members
            .iter()
            .find(|m| m.user_id.to_string() == id)
            .map_or_else(
                || format!("former member {}", short(id)),
                |m| m.name.clone(),
            )
    };
    let actor = |actor: &str| match actor.strip_prefix("user:") {
        Some(id) => name_of(id),
        None => actor.to_owned(),
    };
    let target = |t: &str| match uuid::Uuid::parse_str(t) {
        Ok(_) if members.iter().any(|m| m.user_id.to_string() == t) => name_of(t),
        Ok(_) => short(t).to_owned(),
        Err(_) => t.to_owned(),
    };
    let rows = entries
        .iter()
        .rev()
        .map(|e| AuditRow {
            at: e
                .occurred_at
                .format(&time::format_description::well_known::Rfc3339)
                .map(|t| t.chars().take(19).collect::<String>().replace('T', " "))
                .unwrap_or_default(),
            actor: actor(&e.actor),
            action: e.action.clone(),
            details: match (e.target.as_deref().map(target), &e.details) {
                (Some(t), serde_json::Value::Null) => t,
                (Some(t), d) => format!("{t} {d}"),
                (None, serde_json::Value::Null) => String::new(),
                (None, d) => d.to_string(),
            },
        })
        .collect();
    Ok(render(&AuditPage {
        chrome: chrome.at("audit"),
        entries: rows,
    }))
}
