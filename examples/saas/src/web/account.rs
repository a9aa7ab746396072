//! Sign up, log in, log out, the organisation list and organisation creation.
//!
//! Each form goes through the JSON API's own handler (same validation, same queries); this
//! module only turns forms into API bodies and answers with pages, cookies and redirects.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::page::{Chrome, WebError, WebForm, api_body, render, render_with, sentence};
use super::session::{clear_session_cookie, session_cookie};
use crate::api;
use crate::app::{AppState, PATH_PREFIX};
use crate::error::ApiError;
use crate::scope::Caller;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    chrome: Chrome,
    name: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsPage {
    chrome: Chrome,
    name: String,
    slug: String,
    error: Option<String>,
}

/// Login form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Sign-up form.
#[derive(Debug, Deserialize)]
pub(crate) struct SignupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// New organisation form.
#[derive(Debug, Deserialize)]
pub(crate) struct OrgForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
}

/// `GET /`: the organisations of a signed-in user, else the login page.
pub(crate) async fn home(chrome: Chrome) -> Response {
    if chrome.user.is_some() {
        Redirect::to("/orgs").into_response()
    } else {
        Redirect::to("/login").into_response()
    }
}

/// `GET /login`.
pub(crate) async fn login_page(chrome: Chrome) -> Response {
    render(&LoginPage {
        chrome,
        email: String::new(),
        error: None,
    })
}

/// Logs in through the API and stores the token in the session cookie.
async fn sign_in(state: &AppState, email: &str, password: &str) -> Result<Response, ApiError> {
    let body = api_body(json!({ "email": email, "password": password }))
        .map_err(|_| ApiError::invalid_credentials())?;
    let Json(answer) = api::account::login(State(state.clone()), body).await?;
    let token = answer
        .get("token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| ApiError::internal(&std::io::Error::other("login gave no token")))?;
    Ok((
        [(header::SET_COOKIE, session_cookie(token))],
        Redirect::to("/"),
    )
        .into_response())
}

/// `POST /login`: a wrong email or password shows the form again with 401.
pub(crate) async fn login(
    State(state): State<AppState>,
    chrome: Chrome,
    WebForm(form): WebForm<LoginForm>,
) -> Result<Response, WebError> {
    match sign_in(&state, &form.email, &form.password).await {
        Ok(response) => Ok(response),
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => Ok(render_with(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                chrome,
                email: form.email,
                error: Some("Email or password is wrong.".to_owned()),
            },
        )),
        Err(e) => Err(e.into()),
    }
}

/// `GET /signup`.
pub(crate) async fn signup_page(chrome: Chrome) -> Response {
    render(&SignupPage {
        chrome,
        name: String::new(),
        email: String::new(),
        error: None,
    })
}

/// `POST /signup`: creates the account through the API, then signs in. Invalid input or a
/// taken email shows the form again with the API's status and message.
pub(crate) async fn signup(
    State(state): State<AppState>,
    chrome: Chrome,
    WebForm(form): WebForm<SignupForm>,
) -> Result<Response, WebError> {
    let created = match api_body(json!({
        "email": form.email, "password": form.password, "name": form.name,
    })) {
        Ok(body) => api::account::signup(State(state.clone()), body)
            .await
            .map(|_| ()),
        Err(_) => Err(ApiError::invalid("the form could not be read")),
    };
    if let Err(e) = created {
        if e.status().is_server_error() {
            return Err(e.into());
        }
        return Ok(render_with(
            e.status(),
            &SignupPage {
                chrome,
                name: form.name,
                email: form.email,
                error: Some(sentence(e.message())),
            },
        ));
    }
    Ok(sign_in(&state, &form.email, &form.password).await?)
}

/// `POST /logout`: clears the session cookie.
pub(crate) async fn logout() -> Response {
    (
        [(header::SET_COOKIE, clear_session_cookie())],
        Redirect::to("/login"),
    )
        .into_response()
}

/// `GET /orgs`: the user's organisations and the creation form.
pub(crate) async fn orgs_page(chrome: Chrome) -> Result<Response, WebError> {
    chrome.principal()?;
    Ok(render(&OrgsPage {
        chrome: chrome.at("orgs"),
        name: String::new(),
        slug: String::new(),
        error: None,
    }))
}

/// `POST /orgs`: creates an organisation through the API (the creator is owner) and opens it.
pub(crate) async fn create_org(
    State(state): State<AppState>,
    chrome: Chrome,
    WebForm(form): WebForm<OrgForm>,
) -> Result<Response, WebError> {
    let principal = chrome.principal()?;
    let body = api_body(json!({ "slug": form.slug, "name": form.name }))?;
    match api::account::create_org(State(state), Caller(principal), body).await {
        Ok((_, Json(created))) => {
            let slug = created
                .get("slug")
                .and_then(|s| s.as_str())
                .unwrap_or_default();
            Ok(Redirect::to(&format!("/{PATH_PREFIX}/{slug}/leads")).into_response())
        }
        Err(e) if e.status().is_client_error() => Ok(render_with(
            e.status(),
            &OrgsPage {
                chrome: chrome.at("orgs"),
                name: form.name,
                slug: form.slug,
                error: Some(sentence(e.message())),
            },
        )),
        Err(e) => Err(e.into()),
    }
}
