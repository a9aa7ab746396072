//! JSON API handlers. Errors are `{"error":{"code":"...","message":"..."}}` ([`ApiError`](crate::ApiError)).

pub mod account;
pub mod admin;
pub mod audit;
pub mod campaigns;
pub mod invitations;
pub mod json;
pub mod leads;
pub mod members;
pub mod org;

use axum::Router;

use crate::app::AppState;

/// The API routes (state not yet provided).
pub fn routes() -> Router<AppState> {
    crate::app::api_routes()
}
