//! The browser session: a signed cookie read by a core [`Authenticator`], and CSRF tokens.
//!
//! * The session cookie `saas_session` holds a login token of [`TokenKeys`] (HS256, issuer and
//!   audience pinned, 12 hours); it is `HttpOnly`, `SameSite=Lax`, `Path=/`. The
//!   [`SessionAuthenticator`] verifies it with the same core [`JwtVerifier`] as the bearer
//!   authenticator, so the tenant pipeline sees the same [`Principal`] whichever way the caller
//!   signed in. Logging out clears the cookie; the token itself stays valid until it expires
//!   (stateless sessions: a copied cookie is not revoked by logging out).
//! * Every form carries a CSRF token: an HMAC-SHA256, under a key random per process, of the
//!   session cookie (or, before login, of a random `saas_anon` cookie). [`guard`] checks it on
//!   every POST of the web routes and refuses a missing or wrong token with 403.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tenancy_core::{AuthenticateError, Authenticator, JwtVerifier, Principal, RequestView, UserId};

use super::page::WebError;
use crate::auth::{TOKEN_TTL, TokenKeys};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "saas_session";
/// Name of the pre-login cookie that CSRF tokens of anonymous forms are bound to.
pub const ANON_COOKIE: &str = "saas_anon";
/// Name of the CSRF form field.
pub const CSRF_FIELD: &str = "csrf";
/// Largest form body accepted by the web routes.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The value of cookie `name` in `headers`, if any.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookie_in(
        headers
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes),
        name,
    )
}

/// The value of cookie `name` in the `Cookie` header values `values`, if any. A value that is not
/// visible ASCII is skipped (as `HeaderValue::to_str` refuses it).
fn cookie_in<'h>(values: impl Iterator<Item = &'h [u8]>, name: &str) -> Option<&'h str> {
    values
        .filter(|v| v.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b)))
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` value of the session cookie for `token`.
pub(crate) fn session_cookie(token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        TOKEN_TTL.as_secs()
    )
}

/// `Set-Cookie` value that deletes the session cookie.
pub(crate) fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Authenticates the `saas_session` cookie.
///
/// No cookie, or a cookie that does not verify (expired, signed with an old key, tampered), is
/// anonymous (`Ok(None)`), not an error: a stale cookie must not lock the browser out of the
/// login page. Pages that need a user send anonymous callers to the login page.
///
/// ```
/// use std::sync::Arc;
/// use saas::auth::TokenKeys;
/// use saas::web::SessionAuthenticator;
/// let keys = TokenKeys::random().unwrap();
/// let config = saas::AppConfig::new("localhost", keys.clone())
///     .with_authenticator(Arc::new(SessionAuthenticator::new(&keys)));
/// ```
#[derive(Debug, Clone)]
pub struct SessionAuthenticator {
    verifier: Arc<JwtVerifier>,
}

impl SessionAuthenticator {
    /// Verifies session cookies with the verifier of `keys`.
    pub fn new(keys: &TokenKeys) -> Self {
        Self {
            verifier: keys.verifier(),
        }
    }
}

impl SessionAuthenticator {
    /// The cookie is a signed token: checking it needs no I/O.
    fn check(&self, req: &RequestView<'_>) -> Option<Principal> {
        // The cheap accessor: no `http` map is built for adapters with other header types.
        let token = cookie_in(req.header_values(&header::COOKIE), SESSION_COOKIE)?;
        let claims = self.verifier.verify(token).ok()?;
        claims
            .subject()
            .and_then(|s| s.parse::<UserId>().ok())
            .map(Principal::user)
    }
}

#[async_trait]
impl Authenticator for SessionAuthenticator {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        Ok(self.check(req))
    }

    fn authenticate_now(
        &self,
        req: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthenticateError>> {
        Some(Ok(self.check(req)))
    }
}

/// The CSRF key of one router (random per process).
#[derive(Clone)]
pub(crate) struct CsrfKey(Arc<[u8; 32]>);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(..)")
    }
}

impl CsrfKey {
    /// A fresh random key.
    pub(crate) fn random() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(Arc::new(key))
    }

    /// The MAC of `material`; `None` only if the key were refused, which HMAC never does
    /// (callers then fail closed: no token, nothing verifies).
    fn mac(&self, material: &str) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0[..]).ok()?;
        mac.update(b"saas csrf v1\0");
        mac.update(material.as_bytes());
        Some(mac)
    }

    /// The token of forms bound to `material`, lowercase hex.
    fn token(&self, material: &str) -> String {
        self.mac(material)
            .map(|mac| hex(&mac.finalize().into_bytes()))
            .unwrap_or_default()
    }

    /// Whether `token` is the token of `material` (constant-time comparison).
    fn verify(&self, material: &str, token: &str) -> bool {
        match (unhex(token), self.mac(material)) {
            (Some(bytes), Some(mac)) => mac.verify_slice(&bytes).is_ok(),
            _ => false,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()))
        .collect()
}

/// The CSRF token of this request's forms (in the request extensions, set by [`guard`]).
#[derive(Debug, Clone)]
pub(crate) struct CsrfToken(pub(crate) String);

/// The `csrf` field of an `application/x-www-form-urlencoded` body (hex, so never encoded).
fn csrf_field(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == CSRF_FIELD)
        .map(|(_, v)| v)
}

/// Middleware of every web route: binds a CSRF token to the session (setting the anonymous
/// cookie on first visit), and refuses every POST whose form lacks the right token.
pub(crate) async fn guard(State(key): State<CsrfKey>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let existing = cookie(&parts.headers, SESSION_COOKIE)
        .or_else(|| cookie(&parts.headers, ANON_COOKIE))
        .map(str::to_owned);
    let (material, new_anon) = match existing {
        Some(m) => (m, None),
        None => {
            let anon = uuid::Uuid::new_v4().simple().to_string();
            (anon.clone(), Some(anon))
        }
    };
    let body = if parts.method == Method::POST {
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return WebError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                "the form you sent is too large",
            )
            .into_response();
        };
        let ok = new_anon.is_none()
            && csrf_field(&bytes).is_some_and(|token| key.verify(&material, token));
        if !ok {
            return WebError::new(
                axum::http::StatusCode::FORBIDDEN,
                "Form expired",
                "this form is out of date or was not sent by this site: go back, reload the page and try again",
            )
            .into_response();
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(CsrfToken(key.token(&material)));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if let Some(anon) = new_anon {
        let value = format!("{ANON_COOKIE}={anon}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn tokens_are_bound_to_the_session_and_the_key() {
        let key = CsrfKey::random();
        let token = key.token("session-a");
        assert!(key.verify("session-a", &token));
        assert!(!key.verify("session-b", &token));
        assert!(!CsrfKey::random().verify("session-a", &token));
        assert!(!key.verify("session-a", ""));
        assert!(!key.verify("session-a", "zz"));
        assert!(!key.verify("session-a", &token[..10]));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; saas_session=tok"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("saas_anon=x"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, ANON_COOKIE), Some("x"));
        assert_eq!(cookie(&h, "b"), None);
    }

    async fn authenticate(keys: &TokenKeys, cookie: &str) -> Option<Principal> {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        let view = RequestView::new("/", &headers);
        SessionAuthenticator::new(keys)
            .authenticate(&view)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_session_cookie_names_its_user_and_anything_else_is_anonymous() {
        let keys = TokenKeys::random().unwrap();
        let user = UserId::new_random();
        let token = keys.issue(user).unwrap();
        let p = authenticate(&keys, &format!("a=b; {SESSION_COOKIE}={token}")).await;
        assert_eq!(p, Some(Principal::user(user)));
        // Signed with another key, tampered, empty, absent: anonymous, not an error.
        let other = TokenKeys::random().unwrap().issue(user).unwrap();
        assert_eq!(
            authenticate(&keys, &format!("{SESSION_COOKIE}={other}")).await,
            None
        );
        let tampered = format!("{token}x");
        assert_eq!(
            authenticate(&keys, &format!("{SESSION_COOKIE}={tampered}")).await,
            None
        );
        assert_eq!(
            authenticate(&keys, &format!("{SESSION_COOKIE}=")).await,
            None
        );
        assert_eq!(
            authenticate(&keys, &format!("{ANON_COOKIE}={token}")).await,
            None
        );
    }

    #[test]
    fn csrf_field_is_read_from_the_form() {
        assert_eq!(csrf_field(b"name=x&csrf=abc"), Some("abc"));
        assert_eq!(csrf_field(b"name=x"), None);
    }
}
