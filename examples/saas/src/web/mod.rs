//! HTML pages of the web UI (filled in by the web UI work; empty for now).

use axum::Router;

use crate::app::AppState;

/// The web UI's routes, merged into the app router next to the API.
pub fn routes() -> Router<AppState> {
    Router::new()
}
