//! `GET /api/members`, `PATCH /api/members/{user_id}` `{role}`, `DELETE /api/members/{user_id}`.
//!
//! Listing: members. Changes: the core assignment rules ([`tenancy_core::assignment::check`])
//! decide; the last-owner rule is the database's (trigger of the library's migration), race-safe.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenancy_core::assignment::{Action, check};
use tenancy_core::{Role, TenantScope, UserId};
use tenancy_sqlx::TenantTx;
use uuid::Uuid;

use super::json::{Body, Id};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, sqlstate};
use crate::policy::{MEMBERS_MANAGE, MEMBERS_READ};
use crate::scope::Tenant;

/// A member of the current organisation.
#[derive(Debug, Serialize)]
pub struct Member {
    /// The user.
    pub user_id: Uuid,
    /// Email.
    pub email: String,
    /// Name.
    pub name: String,
    /// Role here.
    pub role: Role,
}

/// `PATCH /api/members/{user_id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolePatch {
    role: Role,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
) -> ApiResult<Json<Vec<Member>>> {
    state.allow(&scope, &MEMBERS_READ)?;
    let mut tx = state.db().begin(&scope).await?;
    let rows: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT m.user_id, u.email, u.name, m.role \
         FROM tenancy.memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = tenancy.current_tenant_id() ORDER BY u.email",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(
        rows.into_iter()
            .filter_map(|(user_id, email, name, role)| {
                role.parse().ok().map(|role| Member {
                    user_id,
                    email,
                    name,
                    role,
                })
            })
            .collect(),
    ))
}

/// The role of `user` in the transaction's tenant.
async fn role_in_tenant(tx: &mut TenantTx, user: Uuid) -> ApiResult<Option<Role>> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM tenancy.memberships \
         WHERE tenant_id = tenancy.current_tenant_id() AND user_id = $1",
    )
    .bind(user)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(role.and_then(|r| r.parse().ok()))
}

fn last_owner(e: sqlx::Error) -> ApiError {
    if sqlstate(&e).as_deref() == Some("TY001") {
        ApiError::conflict(
            "last_owner",
            "the last owner cannot leave, be removed or be demoted",
        )
    } else {
        ApiError::from(e)
    }
}

fn may_manage(state: &AppState, scope: &TenantScope, target: Uuid) -> ApiResult<bool> {
    let own = target == scope.user_id().into_uuid();
    if !own {
        state.allow(scope, &MEMBERS_MANAGE)?;
    }
    Ok(own)
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(target): Id,
    Body(body): Body<RolePatch>,
) -> ApiResult<Json<Member>> {
    may_manage(&state, &scope, target)?;
    let mut tx = state.db().begin(&scope).await?;
    let Some(current) = role_in_tenant(&mut tx, target).await? else {
        return Err(ApiError::not_found());
    };
    check(scope.role(), Action::Change, Some(current), Some(body.role)).into_result()?;
    let row: Option<(String, String)> = sqlx::query_as(
        "WITH changed AS ( \
             UPDATE tenancy.memberships SET role = $2, updated_at = pg_catalog.now() \
             WHERE tenant_id = tenancy.current_tenant_id() AND user_id = $1 RETURNING user_id) \
         SELECT u.email, u.name FROM changed JOIN users u ON u.id = changed.user_id",
    )
    .bind(target)
    .bind(body.role.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(last_owner)?;
    let Some((email, name)) = row else {
        return Err(ApiError::not_found());
    };
    tx.commit().await?;
    state
        .members()
        .invalidate(scope.tenant_id(), UserId::from_uuid(target));
    Ok(Json(Member {
        user_id: target,
        email,
        name,
        role: body.role,
    }))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(target): Id,
) -> ApiResult<StatusCode> {
    let own = may_manage(&state, &scope, target)?;
    let mut tx = state.db().begin(&scope).await?;
    let Some(current) = role_in_tenant(&mut tx, target).await? else {
        return Err(ApiError::not_found());
    };
    let action = if own { Action::Leave } else { Action::Remove };
    check(scope.role(), action, Some(current), None).into_result()?;
    sqlx::query(
        "DELETE FROM tenancy.memberships \
         WHERE tenant_id = tenancy.current_tenant_id() AND user_id = $1",
    )
    .bind(target)
    .execute(&mut *tx)
    .await
    .map_err(last_owner)?;
    tx.commit().await?;
    state
        .members()
        .invalidate(scope.tenant_id(), UserId::from_uuid(target));
    Ok(StatusCode::NO_CONTENT)
}
