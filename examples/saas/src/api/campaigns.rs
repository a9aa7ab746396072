//! `GET|POST /api/campaigns`, `GET|PATCH|DELETE /api/campaigns/{id}`.
//!
//! Read: members. Write: managers and above.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::json::{Body, Id, required_text};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::policy::{CAMPAIGNS_MANAGE, CAMPAIGNS_READ};
use crate::scope::Tenant;

/// Campaign statuses.
pub const STATUSES: [&str; 4] = ["draft", "active", "paused", "archived"];

/// A campaign as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Campaign {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// One of [`STATUSES`].
    pub status: String,
}

/// `POST /api/campaigns` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    name: String,
    #[serde(default)]
    status: Option<String>,
}

/// `PATCH /api/campaigns/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
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

pub(crate) async fn list(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
) -> ApiResult<Json<Vec<Campaign>>> {
    state.allow(&scope, &CAMPAIGNS_READ)?;
    let mut tx = state.db().begin(&scope).await?;
    let rows = sqlx::query_as::<_, Campaign>(
        "SELECT id, name, status FROM campaigns ORDER BY created_at, id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(rows))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Body(body): Body<NewCampaign>,
) -> ApiResult<(StatusCode, Json<Campaign>)> {
    state.allow(&scope, &CAMPAIGNS_MANAGE)?;
    let name = required_text("name", &body.name, 200)?;
    let status = status(body.status.as_deref())?.unwrap_or_else(|| "draft".to_owned());
    let mut tx = state.db().begin(&scope).await?;
    // `tenant_id` is not written: its default is the transaction's tenant, and the policy's
    // WITH CHECK refuses any other value.
    let row = sqlx::query_as::<_, Campaign>(
        "INSERT INTO campaigns (id, name, status) VALUES ($1, $2, $3) RETURNING id, name, status",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(status)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
) -> ApiResult<Json<Campaign>> {
    state.allow(&scope, &CAMPAIGNS_READ)?;
    let mut tx = state.db().begin(&scope).await?;
    let row = sqlx::query_as::<_, Campaign>("SELECT id, name, status FROM campaigns WHERE id = $1")
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
    Body(body): Body<CampaignPatch>,
) -> ApiResult<Json<Campaign>> {
    state.allow(&scope, &CAMPAIGNS_MANAGE)?;
    let name = body
        .name
        .as_deref()
        .map(|n| required_text("name", n, 200))
        .transpose()?;
    let status = status(body.status.as_deref())?;
    let mut tx = state.db().begin(&scope).await?;
    let row = sqlx::query_as::<_, Campaign>(
        "UPDATE campaigns SET name = COALESCE($2, name), status = COALESCE($3, status) \
         WHERE id = $1 RETURNING id, name, status",
    )
    .bind(id)
    .bind(name)
    .bind(status)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    row.map(Json).ok_or_else(ApiError::not_found)
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    state.allow(&scope, &CAMPAIGNS_MANAGE)?;
    let mut tx = state.db().begin(&scope).await?;
    let done = sqlx::query("DELETE FROM campaigns WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
