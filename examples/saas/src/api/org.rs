//! `PATCH /api/org` `{name}`: rename the current organisation (admin and above).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{Body, required_text};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::policy::ORG_UPDATE;
use crate::scope::Tenant;
use tenancy_sqlx::audit_log::{self, Actor, AuditEntry};

/// `PATCH /api/org` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    name: String,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Body(body): Body<OrgPatch>,
) -> ApiResult<Json<Value>> {
    state.allow(&scope, &ORG_UPDATE)?;
    let name = required_text("name", &body.name, 200)?;
    // The registry is written by the platform role only; the tenant is the scope's, never an id
    // from the request.
    sqlx::query(
        "UPDATE tenancy.tenants SET display_name = $2, updated_at = pg_catalog.now() WHERE id = $1",
    )
    .bind(scope.tenant_id().as_uuid())
    .bind(&name)
    .execute(state.platform_raw())
    .await?;
    state.tenant_cache().invalidate_id(scope.tenant_id());
    let mut tx = state.db().begin(&scope).await?;
    audit_log::append(
        &mut tx,
        &AuditEntry::new(Actor::from_scope(&scope), "org.renamed")
            .with_details(json!({ "name": name })),
    )
    .await
    .map_err(|e| ApiError::internal(&e))?;
    tx.commit().await?;
    Ok(Json(json!({
        "id": scope.tenant_id(),
        "slug": scope.slug(),
        "name": name,
    })))
}
