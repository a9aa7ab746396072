//! `PATCH /api/org` `{name}`: rename the current organisation (admin and above).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::json::{Body, required_text};
use crate::app::AppState;
use crate::error::ApiResult;
use crate::policy::ORG_UPDATE;
use crate::scope::Tenant;

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
    // The library renames the scope's tenant (never an id from the request) in one audited
    // platform-role transaction and evicts the tenant cache.
    let renamed = state
        .lifecycle()
        .rename(state.platform(), &scope, &name)
        .await?;
    Ok(Json(json!({
        "id": scope.tenant_id(),
        "slug": scope.slug(),
        "name": renamed.display_name,
    })))
}
