//! `GET /api/audit`: the organisation's audit log (admin and above).

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

pub(crate) async fn list(State(_state): State<AppState>) -> ApiResult<Json<Value>> {
    Err(ApiError::not_found())
}
