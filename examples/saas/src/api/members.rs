//! `GET /api/members`, `PATCH /api/members/{user_id}` `{role}`, `DELETE /api/members/{user_id}`.
//!
//! Listing: members. Changes go through the library's [`Members`](tenancy_sqlx::Members): it
//! re-reads the actor's role, applies the core assignment rules
//! ([`tenancy_core::assignment::check`]), relies on the database for the last-owner rule,
//! writes the audit entry and evicts the membership cache. The app only adds the policy check
//! "managing others needs `members:manage`" and the account details.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenancy_core::{Role, TenantScope, UserId};
use uuid::Uuid;

use super::json::{Body, Id};
use crate::app::AppState;
use crate::error::ApiResult;
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

/// Accounts by id (global table, read with the runtime role's plain pool).
async fn accounts(state: &AppState, ids: &[Uuid]) -> ApiResult<HashMap<Uuid, (String, String)>> {
    let rows: Vec<(Uuid, String, String)> =
        sqlx::query_as("SELECT id, email, name FROM users WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(state.app_pool())
            .await?;
    Ok(rows.into_iter().map(|(id, e, n)| (id, (e, n))).collect())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
) -> ApiResult<Json<Vec<Member>>> {
    state.allow(&scope, &MEMBERS_READ)?;
    let mut tx = state.db().begin(&scope).await?;
    let members = state.member_ops().list(&mut tx).await?;
    tx.commit().await?;
    let ids: Vec<Uuid> = members.iter().map(|m| m.user_id.into_uuid()).collect();
    let mut accounts = accounts(&state, &ids).await?;
    let mut out: Vec<Member> = members
        .into_iter()
        .map(|m| {
            let id = m.user_id.into_uuid();
            let (email, name) = accounts.remove(&id).unwrap_or_default();
            Member {
                user_id: id,
                email,
                name,
                role: m.role,
            }
        })
        .collect();
    out.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(Json(out))
}

/// Managing someone else needs `members:manage`; one's own membership is the assignment
/// rules' business (a member may leave, nobody raises their own role).
fn check_manage(state: &AppState, scope: &TenantScope, target: Uuid) -> ApiResult<()> {
    if target != scope.user_id().into_uuid() {
        state.allow(scope, &MEMBERS_MANAGE)?;
    }
    Ok(())
}

pub(crate) async fn update(
    State(state): State<AppState>,
    Tenant(scope): Tenant,
    Id(target): Id,
    Body(body): Body<RolePatch>,
) -> ApiResult<Json<Member>> {
    check_manage(&state, &scope, target)?;
    state
        .member_ops()
        .change_role(state.db(), &scope, UserId::from_uuid(target), body.role)
        .await?;
    let (email, name) = accounts(&state, &[target])
        .await?
        .remove(&target)
        .unwrap_or_default();
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
    check_manage(&state, &scope, target)?;
    state
        .member_ops()
        .remove(state.db(), &scope, UserId::from_uuid(target))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
