//! Extractors whose rejections are [`ApiError`]s: JSON bodies (422) and ids in paths (404).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON body; malformed JSON, a wrong content type, unknown fields (the body types deny
/// them, so `tenant_id` is refused) and wrong types are 422 `invalid_body`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(v))
    }
}

/// The single `{id}` of a path as a UUID; anything else is 404 (a non-UUID names nothing).
#[derive(Debug, Clone, Copy)]
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) =
            axum::extract::Path::<Uuid>::from_request_parts(parts, state).await?;
        Ok(Self(id))
    }
}

/// Trims a required text field; empty or longer than `max` characters is 422.
pub(crate) fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "`{field}` must be 1 to {max} characters"
        )));
    }
    Ok(v.to_owned())
}

/// Trims an optional text field; empty becomes `None`, longer than `max` is 422.
pub(crate) fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(format!(
            "`{field}` must be at most {max} characters"
        ))),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

/// A plausible email address: one `@`, something on both sides, a dot in the domain, no spaces.
pub(crate) fn email(value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_lowercase();
    let ok = v.len() <= 254
        && !v.chars().any(char::is_whitespace)
        && matches!(v.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.contains('@') && domain.contains('.')
                && !domain.starts_with('.') && !domain.ends_with('.'));
    if ok {
        Ok(v)
    } else {
        Err(ApiError::invalid("`email` is not a valid email address"))
    }
}
