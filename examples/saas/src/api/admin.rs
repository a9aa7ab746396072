//! Platform administration: `GET /api/admin/tenants`, `POST /api/admin/tenants/{id}/suspend`,
//! `POST /api/admin/tenants/{id}/activate`.
//!
//! Reached only without a tenant selection and with a [`PlatformScope`](tenancy_core::PlatformScope)
//! ([`Platform`] extractor); the listing (with member counts) is the library's
//! [`Lifecycle::overview`](tenancy_sqlx::Lifecycle::overview) on the platform role; status changes go through the library's audited
//! [`Lifecycle`](tenancy_sqlx::Lifecycle) on the [`PlatformPool`](tenancy_sqlx::PlatformPool).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tenancy_core::{TenantId, TenantStatus};
use time::OffsetDateTime;
use uuid::Uuid;

use super::json::Id;
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::scope::Platform;

/// A tenant as the platform admin sees it.
#[derive(Debug, Serialize)]
pub struct TenantRow {
    /// Id.
    pub id: Uuid,
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Lifecycle status.
    pub status: String,
    /// Plan.
    pub plan: String,
    /// Creation instant.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Number of members (listing only; absent from status change answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i64>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Platform(admin): Platform,
) -> ApiResult<Json<Vec<TenantRow>>> {
    // The library enters each tenant in turn to count its members under the ordinary row
    // level security policies: the platform role needs no BYPASSRLS.
    let rows = state
        .lifecycle()
        .overview(state.platform(), &admin)
        .await?
        .into_iter()
        .map(|o| TenantRow {
            member_count: Some(o.member_count),
            ..row(o.tenant)
        })
        .collect();
    Ok(Json(rows))
}

fn row(tenant: tenancy_core::Tenant) -> TenantRow {
    TenantRow {
        id: tenant.id.into_uuid(),
        slug: tenant.slug.to_string(),
        name: tenant.display_name,
        status: tenant.status.to_string(),
        plan: tenant.plan,
        created_at: tenant.created_at,
        member_count: None,
    }
}

async fn set_status(
    state: &AppState,
    admin: &tenancy_core::PlatformScope,
    id: Uuid,
    status: TenantStatus,
) -> ApiResult<Json<TenantRow>> {
    let id = TenantId::from_uuid(id);
    let lifecycle = state.lifecycle();
    match status {
        TenantStatus::Suspended => lifecycle.suspend(state.platform(), admin, id).await?,
        _ => lifecycle.activate(state.platform(), admin, id).await?,
    }
    let tenant = state
        .registry()
        .by_id(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(row(tenant)))
}

pub(crate) async fn suspend(
    State(state): State<AppState>,
    Platform(admin): Platform,
    Id(id): Id,
) -> ApiResult<Json<TenantRow>> {
    set_status(&state, &admin, id, TenantStatus::Suspended).await
}

pub(crate) async fn activate(
    State(state): State<AppState>,
    Platform(admin): Platform,
    Id(id): Id,
) -> ApiResult<Json<TenantRow>> {
    set_status(&state, &admin, id, TenantStatus::Active).await
}
