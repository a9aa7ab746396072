//! `POST /api/invitations` `{email, role}` → 201 `{id, token}` (admin and above, never above
//! the inviter's role) and `POST /api/invitations/accept` `{token}` (as the invited user,
//! without selecting a tenant: the invitee is not a member yet).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tenancy_core::{Role, TenantKey, TenantStore as _};

use super::json::{Body, email};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::policy::INVITATIONS_CREATE;
use crate::scope::{Caller, Tenant};

/// `POST /api/invitations` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    email: String,
    role: Role,
}

/// `POST /api/invitations/accept` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    token: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Body(body): Body<NewInvitation>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.allow(&scope, &INVITATIONS_CREATE)?;
    let email = email(&body.email)?;
    let (invitation, token) = state
        .invitations()
        .invite(state.db(), &scope, &email, body.role)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": invitation.id,
            "token": token.expose(),
            "email": invitation.email,
            "role": invitation.role,
        })),
    ))
}

pub(crate) async fn accept(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(body): Body<Accept>,
) -> ApiResult<Json<Value>> {
    // The account's email is the verified email the invitation must match.
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(caller.user_id.as_uuid())
        .fetch_optional(state.app_pool())
        .await?;
    let email = email.ok_or_else(ApiError::unauthenticated)?;
    let accepted = state
        .invitations()
        .accept(state.app_pool(), body.token.trim(), caller.user_id, &email)
        .await?;
    let slug = state
        .tenant_cache()
        .get(&TenantKey::Id(accepted.tenant_id))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map(|t| t.slug);
    Ok(Json(json!({
        "tenant_id": accepted.tenant_id,
        "slug": slug,
        "role": accepted.role,
    })))
}
