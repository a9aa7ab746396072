//! `POST /api/invitations` `{email, role}` and `POST /api/invitations/accept` `{token}`.

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

pub(crate) async fn create(State(_state): State<AppState>) -> ApiResult<Json<Value>> {
    Err(ApiError::not_found())
}

pub(crate) async fn accept(State(_state): State<AppState>) -> ApiResult<Json<Value>> {
    Err(ApiError::not_found())
}
