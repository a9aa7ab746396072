//! What every page shares: the header data ([`Chrome`]), rendering, friendly error pages and the
//! translation of the app's JSON errors into HTML on web paths.

use askama::Template;
use axum::body::to_bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use tenancy_core::{Permission, PlatformAdmins as _, Principal, TenantScope};

use super::session::CsrfToken;
use crate::app::{AppState, PATH_PREFIX};
use crate::error::ApiError;
use crate::members::{OwnMembership, memberships_of};

/// The signed-in user, as the header shows them.
#[derive(Debug, Clone)]
pub(crate) struct UserInfo {
    pub(crate) name: String,
    pub(crate) email: String,
}

/// The organisation of a tenant page.
#[derive(Debug, Clone)]
pub(crate) struct CurrentOrg {
    pub(crate) slug: String,
    pub(crate) name: String,
    /// `/t/{slug}`: prefix of every link of this organisation's pages.
    pub(crate) base: String,
    pub(crate) can_audit: bool,
    pub(crate) can_settings: bool,
}

/// Data of the page header and of every form: CSRF token, user, organisation switcher.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chrome {
    pub(crate) csrf: String,
    pub(crate) user: Option<UserInfo>,
    pub(crate) principal: Option<Principal>,
    pub(crate) orgs: Vec<OwnMembership>,
    pub(crate) current: Option<CurrentOrg>,
    pub(crate) platform_admin: bool,
    /// The nav entry to highlight.
    pub(crate) section: &'static str,
    /// Whether the caller is known (false on error pages, which show a neutral header).
    pub(crate) known: bool,
}

impl Chrome {
    /// The signed-in principal, or a redirect to the login page.
    pub(crate) fn principal(&self) -> Result<Principal, WebError> {
        self.principal.ok_or(WebError::Login)
    }

    /// Marks the nav entry of this page.
    pub(crate) fn at(mut self, section: &'static str) -> Self {
        self.section = section;
        self
    }

    /// Whether `org` is the organisation of this page.
    pub(crate) fn is_current(&self, org: &OwnMembership) -> bool {
        self.current.as_ref().is_some_and(|c| c.slug == org.slug)
    }
}

impl FromRequestParts<AppState> for Chrome {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let csrf = parts
            .extensions
            .get::<CsrfToken>()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        // What the tenancy layer left in the request: the tenant scope on tenant routes, the
        // principal otherwise.
        let scope = parts.extensions.get::<TenantScope>().cloned();
        let principal = match &scope {
            Some(scope) => Some(Principal::new(scope.user_id(), scope.actor())),
            None => parts.extensions.get::<Principal>().copied(),
        };
        let mut chrome = Self {
            csrf,
            known: true,
            ..Self::default()
        };
        let Some(principal) = principal else {
            return Ok(chrome);
        };
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, email FROM users WHERE id = $1")
                .bind(principal.user_id.as_uuid())
                .fetch_optional(state.app_pool())
                .await
                .map_err(|e| WebError::internal(&e))?;
        // A valid session of an account that no longer exists is no session.
        let Some((name, email)) = row else {
            return Ok(chrome);
        };
        chrome.user = Some(UserInfo { name, email });
        chrome.principal = Some(principal);
        chrome.orgs = memberships_of(state.app_pool(), principal.user_id)
            .await
            .map_err(|e| WebError::internal(&e))?;
        chrome.platform_admin = state
            .platform_admins()
            .is_platform_admin(principal.user_id)
            .await
            .map_err(|e| WebError::internal(&e))?;
        chrome.current = scope.map(|s| current_org(state, &s));
        Ok(chrome)
    }
}

fn current_org(state: &AppState, scope: &TenantScope) -> CurrentOrg {
    let slug = scope.slug().to_string();
    CurrentOrg {
        can_audit: can(state, scope, &crate::policy::AUDIT_READ),
        can_settings: can(state, scope, &crate::policy::ORG_UPDATE),
        base: format!("/{PATH_PREFIX}/{slug}"),
        name: scope.tenant().display_name.clone(),
        slug,
    }
}

/// Whether the scope's role holds `permission` (to show or hide buttons; the handlers check
/// again through the same policy).
pub(crate) fn can(state: &AppState, scope: &TenantScope, permission: &Permission) -> bool {
    state.allow(scope, permission).is_ok()
}

/// Renders a template with status 200.
pub(crate) fn render<T: Template>(template: &T) -> Response {
    render_with(StatusCode::OK, template)
}

/// Renders a template with `status`.
pub(crate) fn render_with<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::internal(&e).into_response(),
    }
}

/// A page-level failure: a friendly error page with the right status, or a trip to the login
/// page.
#[derive(Debug, Clone)]
pub(crate) enum WebError {
    /// An error page.
    Page {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
    /// The page needs a signed-in user.
    Login,
}

impl WebError {
    /// An error page.
    pub(crate) fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self::Page {
            status,
            title,
            message: message.into(),
        }
    }

    /// 422 with `message`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Check your input",
            message,
        )
    }

    /// 500: logs `source`, shows no detail.
    pub(crate) fn internal(source: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %source, "page failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "the page could not be shown; try again later",
        )
    }

    /// The page of an error with this status, code and public message.
    fn from_parts(status: StatusCode, code: &str, message: String) -> Self {
        if status == StatusCode::UNAUTHORIZED {
            return Self::Login;
        }
        let message = match code {
            "tenant_suspended" => "This organisation has been suspended by the platform \
                administrator. Its data is kept, but nobody can use it until it is activated \
                again."
                .to_owned(),
            "not_a_member" => "You are not a member of this organisation.".to_owned(),
            _ => sentence(&message),
        };
        let title = match (status.as_u16(), code) {
            (_, "tenant_suspended") => "Organisation suspended",
            (_, "not_a_member") => "Not a member",
            (400, _) => "Bad request",
            (403, _) => "Not allowed",
            (404, _) => "Not found",
            (409, _) => "Conflict",
            (413, _) => "Too large",
            (422, _) => "Check your input",
            _ => "Something went wrong",
        };
        Self::new(status, title, message)
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        Self::from_parts(e.status(), e.code(), e.message().to_owned())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
    status: u16,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            Self::Login => Redirect::to("/login").into_response(),
            Self::Page {
                status,
                title,
                message,
            } => {
                let page = ErrorPage {
                    chrome: Chrome::default(),
                    title,
                    message: &message,
                    status: status.as_u16(),
                };
                match page.render() {
                    Ok(html) => (status, Html(html)).into_response(),
                    Err(_) => (status, message).into_response(),
                }
            }
        }
    }
}

/// A lowercase library message as a sentence.
pub(crate) fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.as_str().trim_end_matches('.');
            format!("{}{rest}.", first.to_uppercase())
        }
        None => String::new(),
    }
}

/// `application/x-www-form-urlencoded` form whose rejection is a friendly 422 page.
#[derive(Debug, Clone)]
pub(crate) struct WebForm<T>(pub(crate) T);

impl<T, S> FromRequest<S> for WebForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| Self(v))
            .map_err(|_| WebError::invalid("the form could not be read"))
    }
}

/// Builds an API body type from form values, so the web pages go through the API's own
/// validation; a value of the wrong shape (say a campaign id that is not a UUID) is 422.
pub(crate) fn api_body<T: DeserializeOwned>(
    value: serde_json::Value,
) -> Result<crate::api::json::Body<T>, WebError> {
    serde_json::from_value(value)
        .map(crate::api::json::Body)
        .map_err(|_| WebError::invalid("a field has a value of the wrong kind"))
}

/// An optional form value: blank is JSON `null`.
pub(crate) fn blank_null(value: &str) -> serde_json::Value {
    match value.trim() {
        "" => serde_json::Value::Null,
        v => serde_json::Value::String(v.to_owned()),
    }
}

/// Whether `path` (as sent, possibly under `/t/{slug}`) is a JSON API path.
fn is_api_path(path: &str) -> bool {
    let rest = path
        .strip_prefix(&format!("/{PATH_PREFIX}/"))
        .and_then(|r| r.find('/').map(|i| &r[i..]))
        .unwrap_or(path);
    rest == "/api" || rest.starts_with("/api/")
}

/// Outer middleware of the app: on web (non-`/api`) paths, a JSON error of the pipeline or of an
/// extractor becomes the friendly HTML page with the same status (401: the login page).
pub async fn html_errors(req: Request, next: Next) -> Response {
    let api = is_api_path(req.uri().path());
    let response = next.run(req).await;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if api || !json || !(response.status().is_client_error() || response.status().is_server_error())
    {
        return response;
    }
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let parsed: Option<(String, String)> = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            Some((
                e.get("code")?.as_str()?.to_owned(),
                e.get("message")?.as_str()?.to_owned(),
            ))
        });
    let (code, message) = parsed.unwrap_or_else(|| ("error".to_owned(), "error".to_owned()));
    WebError::from_parts(status, &code, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::is_api_path;

    #[test]
    fn api_paths_are_recognised_under_the_tenant_prefix() {
        assert!(is_api_path("/api/leads"));
        assert!(is_api_path("/t/acme/api/leads"));
        assert!(is_api_path("/api"));
        assert!(!is_api_path("/leads"));
        assert!(!is_api_path("/t/acme/leads"));
        assert!(!is_api_path("/t/api"));
        assert!(!is_api_path("/apiary"));
    }
}
