//! `GET|POST /api/leads`, `GET|PATCH|DELETE /api/leads/{id}`.
//!
//! Read and create: members. Edit and delete: managers and above.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use super::json::{Body, Id, email, optional_text, required_text};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, sqlstate};
use crate::policy::{LEADS_CREATE, LEADS_DELETE, LEADS_READ, LEADS_UPDATE};
use crate::scope::Tenant;

/// Lead statuses.
pub const STATUSES: [&str; 5] = ["new", "contacted", "qualified", "won", "lost"];

/// A lead as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Lead {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Email, if known.
    pub email: Option<String>,
    /// Phone, if known.
    pub phone: Option<String>,
    /// One of [`STATUSES`].
    pub status: String,
    /// The campaign of the same organisation this lead came from.
    pub campaign_id: Option<Uuid>,
}

/// `POST /api/leads` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLead {
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    campaign_id: Option<Uuid>,
}

/// `PATCH /api/leads/{id}` body: absent fields are kept; `null` clears `email`, `phone` and
/// `campaign_id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    phone: Option<Option<String>>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    campaign_id: Option<Option<Uuid>>,
}

/// A field that is present (possibly `null`) becomes `Some(..)`; an absent one stays `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn status(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(s) if STATUSES.contains(&s) => Ok(Some(s.to_owned())),
        Some(_) => Err(ApiError::invalid(format!(
            "`status` must be one of {}",
            STATUSES.join(", ")
        ))),
    }
}

fn lead_email(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => email(v).map(Some),
    }
}

/// A campaign id that is not a campaign of this tenant, whether it belongs to another tenant or
/// to nobody: the composite foreign key fails the same way for both, and so does the answer.
fn unknown_campaign(e: sqlx::Error) -> ApiError {
    if sqlstate(&e).as_deref() == Some("23503") {
        ApiError::invalid("`campaign_id` is not a campaign of this organisation")
    } else {
        ApiError::from(e)
    }
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
) -> ApiResult<Json<Vec<Lead>>> {
    state.allow(&scope, &LEADS_READ)?;
    let mut tx = state.db().begin(&scope).await?;
    let rows = sqlx::query_as::<_, Lead>(
        "SELECT id, name, email, phone, status, campaign_id FROM leads ORDER BY created_at, id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Body(body): Body<NewLead>,
) -> ApiResult<(StatusCode, Json<Lead>)> {
    state.allow(&scope, &LEADS_CREATE)?;
    let name = required_text("name", &body.name, 200)?;
    let email = lead_email(body.email.as_deref())?;
    let phone = optional_text("phone", body.phone.as_deref(), 40)?;
    let status = status(body.status.as_deref())?.unwrap_or_else(|| "new".to_owned());
    let mut tx = state.db().begin(&scope).await?;
    let row = sqlx::query_as::<_, Lead>(
        "INSERT INTO leads (id, name, email, phone, status, campaign_id) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, name, email, phone, status, campaign_id",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(email)
    .bind(phone)
    .bind(status)
    .bind(body.campaign_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(unknown_campaign)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
) -> ApiResult<Json<Lead>> {
    state.allow(&scope, &LEADS_READ)?;
    let mut tx = state.db().begin(&scope).await?;
    let row = sqlx::query_as::<_, Lead>(
        "SELECT id, name, email, phone, status, campaign_id FROM leads WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(Json).ok_or_else(ApiError::not_found)
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
    Body(body): Body<LeadPatch>,
) -> ApiResult<Json<Lead>> {
    state.allow(&scope, &LEADS_UPDATE)?;
    let name = body
        .name
        .as_deref()
        .map(|n| required_text("name", n, 200))
        .transpose()?;
    let status = status(body.status.as_deref())?;
    let email = body
        .email
        .as_ref()
        .map(|e| lead_email(e.as_deref()))
        .transpose()?;
    let phone = body
        .phone
        .as_ref()
        .map(|p| optional_text("phone", p.as_deref(), 40))
        .transpose()?;
    let mut tx = state.db().begin(&scope).await?;
    // `$n_set` flags say whether a nullable field was sent, so `null` can clear it.
    let row = sqlx::query_as::<_, Lead>(
        "UPDATE leads SET \
           name = COALESCE($2, name), \
           status = COALESCE($3, status), \
           email = CASE WHEN $4 THEN $5 ELSE email END, \
           phone = CASE WHEN $6 THEN $7 ELSE phone END, \
           campaign_id = CASE WHEN $8 THEN $9 ELSE campaign_id END \
         WHERE id = $1 \
         RETURNING id, name, email, phone, status, campaign_id",
    )
    .bind(id)
    .bind(name)
    .bind(status)
    .bind(email.is_some())
    .bind(email.flatten())
    .bind(phone.is_some())
    .bind(phone.flatten())
    .bind(body.campaign_id.is_some())
    .bind(body.campaign_id.flatten())
    .fetch_optional(&mut *tx)
    .await
    .map_err(unknown_campaign)?;
    tx.commit().await?;
    row.map(Json).ok_or_else(ApiError::not_found)
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.allow(&scope, &LEADS_DELETE)?;
    let mut tx = state.db().begin(&scope).await?;
    let done = sqlx::query("DELETE FROM leads WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
