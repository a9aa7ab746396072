//! `GET /api/audit`: the organisation's audit log, oldest first (admin and above).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::policy::AUDIT_READ;
use crate::scope::Tenant;

/// One audit entry.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// Who (`user:<id>`, `platform_admin:<id>`, ...).
    pub actor: String,
    /// What (`member.role_changed`, ...).
    pub action: String,
    /// To what.
    pub target: Option<String>,
    /// Details.
    pub details: serde_json::Value,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
) -> ApiResult<Json<Vec<Entry>>> {
    state.allow(&scope, &AUDIT_READ)?;
    let mut tx = state.db().begin(&scope).await?;
    let records = tenancy_sqlx::audit_log::entries(&mut tx)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    tx.commit().await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| Entry {
                seq: r.seq,
                occurred_at: r.occurred_at,
                actor: r.actor.to_string(),
                action: r.action,
                target: r.target,
                details: r.details,
            })
            .collect(),
    ))
}
