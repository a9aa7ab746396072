//! Accounts and organisations: `POST /api/signup`, `POST /api/login`, `GET /api/me`,
//! `POST /api/orgs`. None of them selects a tenant.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenancy_core::{PlatformAdmins as _, SlugPolicy, Tenant, TenantId, UserId};
use uuid::Uuid;

use super::json::{Body, email, required_text};
use crate::app::AppState;
use crate::auth::{hash_password, verify_password};
use crate::error::{ApiError, ApiResult, sqlstate};
use crate::members::{OwnMembership, memberships_of};
use crate::scope::Caller;

/// `POST /api/signup` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    email: String,
    password: String,
    name: String,
}

/// `POST /api/login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

/// `POST /api/orgs` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    slug: String,
    name: String,
}

/// `GET /api/me` answer.
#[derive(Debug, Serialize)]
pub struct Me {
    id: Uuid,
    email: String,
    name: String,
    platform_admin: bool,
    memberships: Vec<OwnMembership>,
}

/// Runs a password hash off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&e))
}

pub(crate) async fn signup(
    State(state): State<AppState>,
    Body(body): Body<Signup>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let email = email(&body.email)?;
    let name = required_text("name", &body.name, 200)?;
    let len = body.password.chars().count();
    if !(8..=256).contains(&len) {
        return Err(ApiError::invalid("`password` must be 8 to 256 characters"));
    }
    let password = body.password;
    let hash = blocking(move || hash_password(&password))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(&email)
        .bind(&name)
        .bind(hash)
        .execute(state.app_pool())
        .await
        .map_err(|e| match sqlstate(&e).as_deref() {
            Some("23505") => ApiError::conflict("email_taken", "this email is already registered"),
            _ => ApiError::from(e),
        })?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

pub(crate) async fn login(
    State(state): State<AppState>,
    Body(body): Body<Login>,
) -> ApiResult<Json<Value>> {
    let email = body.email.trim().to_lowercase();
    let row: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE lower(email) = $1")
            .bind(&email)
            .fetch_optional(state.app_pool())
            .await?;
    // Unknown accounts are checked against a dummy hash: same work, same answer.
    let (id, hash) = match row {
        Some((id, hash)) => (Some(id), hash),
        None => (None, state.dummy_hash().to_owned()),
    };
    let password = body.password;
    let ok = blocking(move || verify_password(&password, &hash)).await?;
    let Some(id) = id.filter(|_| ok) else {
        return Err(ApiError::invalid_credentials());
    };
    let token = state
        .tokens()
        .issue(UserId::from_uuid(id))
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({ "token": token })))
}

pub(crate) async fn me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> ApiResult<Json<Me>> {
    let row: Option<(Uuid, String, String)> =
        sqlx::query_as("SELECT id, email, name FROM users WHERE id = $1")
            .bind(caller.user_id.as_uuid())
            .fetch_optional(state.app_pool())
            .await?;
    // A valid token of a user that no longer exists is no credential.
    let Some((id, email, name)) = row else {
        return Err(ApiError::unauthenticated());
    };
    let platform_admin = state
        .platform_admins()
        .is_platform_admin(caller.user_id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let memberships = memberships_of(state.app_pool(), caller.user_id).await?;
    Ok(Json(Me {
        id,
        email,
        name,
        platform_admin,
        memberships,
    }))
}

pub(crate) async fn create_org(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(body): Body<NewOrg>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let slug = SlugPolicy::default()
        .parse(body.slug.trim())
        .map_err(|e| ApiError::invalid(format!("`slug`: {e}")))?;
    let name = required_text("name", &body.name, 200)?;
    let tenant = Tenant::new(TenantId::new_random(), slug, name);
    crate::members::create_org_with_owner(&state, &tenant, caller.user_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": tenant.id, "slug": tenant.slug })),
    ))
}
