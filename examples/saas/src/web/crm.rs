//! Leads and campaigns: lists, create, edit, delete.
//!
//! Every read and write is the JSON API's handler called with the request's
//! [`Tenant`] scope, so the pages obey exactly the API's policy checks and run in the same
//! [`TenantTx`](tenancy_sqlx::TenantTx)s.

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use tenancy_core::TenantScope;
use uuid::Uuid;

use super::page::{Chrome, WebError, WebForm, api_body, blank_null, can, render};
use crate::api;
use crate::api::campaigns::Campaign;
use crate::api::json::Id;
use crate::api::leads::Lead;
use crate::app::{AppState, PATH_PREFIX};
use crate::policy::{CAMPAIGNS_MANAGE, LEADS_CREATE, LEADS_DELETE, LEADS_UPDATE};
use crate::scope::Tenant;

/// A lead row of the list, with its campaign's name.
struct LeadRow {
    id: Uuid,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    status: String,
    campaign: String,
}

#[derive(Template)]
#[template(path = "leads.html")]
struct LeadsPage {
    chrome: Chrome,
    leads: Vec<LeadRow>,
    campaigns: Vec<Campaign>,
    statuses: &'static [&'static str],
    can_create: bool,
    can_edit: bool,
}

#[derive(Template)]
#[template(path = "lead_edit.html")]
struct LeadEditPage {
    chrome: Chrome,
    lead: Lead,
    campaigns: Vec<Campaign>,
    statuses: &'static [&'static str],
    can_delete: bool,
}

impl LeadEditPage {
    /// Whether `campaign` is the lead's campaign.
    fn selected(&self, campaign: &Uuid) -> bool {
        self.lead.campaign_id.as_ref() == Some(campaign)
    }
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    chrome: Chrome,
    campaigns: Vec<Campaign>,
    statuses: &'static [&'static str],
    can_manage: bool,
}

#[derive(Template)]
#[template(path = "campaign_edit.html")]
struct CampaignEditPage {
    chrome: Chrome,
    campaign: Campaign,
    statuses: &'static [&'static str],
}

/// Lead form (create and edit).
#[derive(Debug, Deserialize)]
pub(crate) struct LeadForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    campaign_id: String,
}

impl LeadForm {
    fn json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "email": blank_null(&self.email),
            "phone": blank_null(&self.phone),
            "status": blank_null(&self.status),
            "campaign_id": blank_null(&self.campaign_id),
        })
    }
}

/// Campaign form (create and edit).
#[derive(Debug, Deserialize)]
pub(crate) struct CampaignForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
}

fn to(scope: &TenantScope, rest: &str) -> Response {
    Redirect::to(&format!("/{PATH_PREFIX}/{}{rest}", scope.slug())).into_response()
}

async fn campaigns_of(state: &AppState, scope: &TenantScope) -> Result<Vec<Campaign>, WebError> {
    let Json(rows) = api::campaigns::list(State(state.clone()), Tenant(scope.clone())).await?;
    Ok(rows)
}

/// `GET /t/{slug}/leads`.
pub(crate) async fn leads(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    chrome: Chrome,
) -> Result<Response, WebError> {
    let Json(leads) = api::leads::list(State(state.clone()), Tenant(scope.clone())).await?;
    let campaigns = campaigns_of(&state, &scope).await?;
    let names: HashMap<Uuid, &str> = campaigns.iter().map(|c| (c.id, c.name.as_str())).collect();
    let leads = leads
        .into_iter()
        .map(|l| LeadRow {
            campaign: l
                .campaign_id
                .and_then(|id| names.get(&id).copied())
                .unwrap_or("")
                .to_owned(),
            id: l.id,
            name: l.name,
            email: l.email,
            phone: l.phone,
            status: l.status,
        })
        .collect();
    Ok(render(&LeadsPage {
        can_create: can(&state, &scope, &LEADS_CREATE),
        can_edit: can(&state, &scope, &LEADS_UPDATE),
        chrome: chrome.at("leads"),
        leads,
        campaigns,
        statuses: &api::leads::STATUSES,
    }))
}

/// `POST /t/{slug}/leads`.
pub(crate) async fn create_lead(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    WebForm(form): WebForm<LeadForm>,
) -> Result<Response, WebError> {
    let _saved =
        api::leads::create(State(state), Tenant(scope.clone()), api_body(form.json())?).await?;
    Ok(to(&scope, "/leads"))
}

/// `GET /t/{slug}/leads/{id}`.
pub(crate) async fn lead(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
    chrome: Chrome,
) -> Result<Response, WebError> {
    let Json(lead) = api::leads::get(State(state.clone()), Tenant(scope.clone()), Id(id)).await?;
    let campaigns = campaigns_of(&state, &scope).await?;
    Ok(render(&LeadEditPage {
        can_delete: can(&state, &scope, &LEADS_DELETE),
        chrome: chrome.at("leads"),
        lead,
        campaigns,
        statuses: &api::leads::STATUSES,
    }))
}

/// `POST /t/{slug}/leads/{id}`: saves every field (blank email, phone or campaign clears it).
pub(crate) async fn update_lead(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
    WebForm(form): WebForm<LeadForm>,
) -> Result<Response, WebError> {
    let _saved = api::leads::update(
        State(state),
        Tenant(scope.clone()),
        Id(id),
        api_body(form.json())?,
    )
    .await?;
    Ok(to(&scope, "/leads"))
}

/// `POST /t/{slug}/leads/{id}/delete`.
pub(crate) async fn delete_lead(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
) -> Result<Response, WebError> {
    api::leads::delete(State(state), Tenant(scope.clone()), Id(id)).await?;
    Ok(to(&scope, "/leads"))
}

/// `GET /t/{slug}/campaigns`.
pub(crate) async fn campaigns(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    chrome: Chrome,
) -> Result<Response, WebError> {
    let campaigns = campaigns_of(&state, &scope).await?;
    Ok(render(&CampaignsPage {
        can_manage: can(&state, &scope, &CAMPAIGNS_MANAGE),
        chrome: chrome.at("campaigns"),
        campaigns,
        statuses: &api::campaigns::STATUSES,
    }))
}

/// `POST /t/{slug}/campaigns`.
pub(crate) async fn create_campaign(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    WebForm(form): WebForm<CampaignForm>,
) -> Result<Response, WebError> {
    let body = api_body(json!({ "name": form.name, "status": blank_null(&form.status) }))?;
    let _saved = api::campaigns::create(State(state), Tenant(scope.clone()), body).await?;
    Ok(to(&scope, "/campaigns"))
}

/// `GET /t/{slug}/campaigns/{id}`: the edit form (managers and above).
pub(crate) async fn campaign(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
    chrome: Chrome,
) -> Result<Response, WebError> {
    state.allow(&scope, &CAMPAIGNS_MANAGE)?;
    let Json(campaign) = api::campaigns::get(State(state.clone()), Tenant(scope), Id(id)).await?;
    Ok(render(&CampaignEditPage {
        chrome: chrome.at("campaigns"),
        campaign,
        statuses: &api::campaigns::STATUSES,
    }))
}

/// `POST /t/{slug}/campaigns/{id}`.
pub(crate) async fn update_campaign(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
    WebForm(form): WebForm<CampaignForm>,
) -> Result<Response, WebError> {
    let body = api_body(json!({ "name": form.name, "status": blank_null(&form.status) }))?;
    let _saved = api::campaigns::update(State(state), Tenant(scope.clone()), Id(id), body).await?;
    Ok(to(&scope, "/campaigns"))
}

/// `POST /t/{slug}/campaigns/{id}/delete`.
pub(crate) async fn delete_campaign(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
) -> Result<Response, WebError> {
    api::campaigns::delete(State(state), Tenant(scope.clone()), Id(id)).await?;
    Ok(to(&scope, "/campaigns"))
}
