//! Tenant selection by a claim of a verified bearer token.

use std::sync::Arc;

use super::{ResolveError, TenantResolver, parse_key};
use crate::jwt::{JwtError, JwtVerifier, bearer_token};
use crate::{RequestView, SlugPolicy, TenantKey};

/// Selects a tenant by a claim (for example `tenant`) of the request's `Authorization: Bearer`
/// token, after the [`JwtVerifier`] has checked its signature and registered claims.
///
/// No `Authorization` header, or another scheme (`Basic ...`), is `Ok(None)`. A bearer token that
/// fails verification, lacks the claim, or whose claim is neither a tenant id (canonical UUID) nor
/// a valid slug is [`ResolveError::InvalidToken`] (401). There is no way to read the claim without
/// verifying the token.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::{JwtAlgorithm, JwtClaimResolver, JwtVerifier, RequestView, TenantResolver};
///
/// let verifier = Arc::new(JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?);
/// let resolver = JwtClaimResolver::new(verifier, "tenant");
/// let headers = http::HeaderMap::new();
/// assert_eq!(resolver.resolve(&RequestView::new("/", &headers))?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct JwtClaimResolver {
    verifier: Arc<JwtVerifier>,
    claim: String,
    policy: SlugPolicy,
    accept_ids: bool,
}

impl JwtClaimResolver {
    /// A resolver reading claim `claim` of tokens verified by `verifier`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use http::{HeaderMap, header::AUTHORIZATION};
    /// use tenancy_core::{JwtAlgorithm, JwtClaimResolver, JwtVerifier, RequestView, TenantResolver};
    ///
    /// const SECRET: &[u8] = b"a-secret-of-at-least-32-bytes!!!";
    /// let verifier = Arc::new(JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])?);
    /// let resolver = JwtClaimResolver::new(verifier, "org");
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 600;
    /// # let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(),
    /// #     &serde_json::json!({ "sub": "u1", "org": "acme", "exp": exp }),
    /// #     &jsonwebtoken::EncodingKey::from_secret(SECRET))?;
    /// let mut headers = HeaderMap::new();
    /// headers.insert(AUTHORIZATION, format!("Bearer {token}").parse()?); // {"org": "acme", ..}
    /// let key = resolver.resolve(&RequestView::new("/", &headers))?;
    /// assert_eq!(key.unwrap().to_string(), "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(verifier: Arc<JwtVerifier>, claim: impl Into<String>) -> Self {
        Self {
            verifier,
            claim: claim.into(),
            policy: SlugPolicy::default(),
            accept_ids: true,
        }
    }

    /// Refuses tenant ids: only slugs select. A claim of the form of a tenant id (a hyphenated
    /// UUID) is then an invalid claim, [`ResolveError::InvalidToken`] (no slug has that form).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use http::{HeaderMap, header::AUTHORIZATION};
    /// use tenancy_core::{JwtAlgorithm, JwtClaimResolver, JwtVerifier, RequestView, ResolveError,
    ///     TenantResolver};
    ///
    /// const SECRET: &[u8] = b"a-secret-of-at-least-32-bytes!!!";
    /// let verifier = Arc::new(JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])?);
    /// let resolver = JwtClaimResolver::new(verifier, "tenant").slugs_only();
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 600;
    /// # let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(),
    /// #     &serde_json::json!({ "tenant": "0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60", "exp": exp }),
    /// #     &jsonwebtoken::EncodingKey::from_secret(SECRET))?;
    /// let mut headers = HeaderMap::new();
    /// // The token's `tenant` claim is a tenant id: refused.
    /// headers.insert(AUTHORIZATION, format!("Bearer {token}").parse()?);
    /// let refused = resolver.resolve(&RequestView::new("/", &headers));
    /// assert!(matches!(refused, Err(ResolveError::InvalidToken(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn slugs_only(mut self) -> Self {
        self.accept_ids = false;
        self
    }

    /// The slug policy the claim must pass (default: [`SlugPolicy::default`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use http::{HeaderMap, header::AUTHORIZATION};
    /// use tenancy_core::{JwtAlgorithm, JwtClaimResolver, JwtVerifier, RequestView, SlugPolicy,
    ///     TenantResolver};
    ///
    /// const SECRET: &[u8] = b"a-secret-of-at-least-32-bytes!!!";
    /// let verifier = Arc::new(JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])?);
    /// let resolver = JwtClaimResolver::new(verifier, "tenant")
    ///     .with_slug_policy(SlugPolicy::default().with_reserved(["demo"]));
    /// # let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + 600;
    /// # let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(),
    /// #     &serde_json::json!({ "tenant": "demo", "exp": exp }),
    /// #     &jsonwebtoken::EncodingKey::from_secret(SECRET))?;
    /// let mut headers = HeaderMap::new();
    /// headers.insert(AUTHORIZATION, format!("Bearer {token}").parse()?); // {"tenant": "demo", ..}
    /// let err = resolver.resolve(&RequestView::new("/", &headers)).unwrap_err();
    /// assert_eq!(err.status(), 401);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_slug_policy(mut self, policy: SlugPolicy) -> Self {
        self.policy = policy;
        self
    }
}

impl TenantResolver for JwtClaimResolver {
    fn resolve(&self, req: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> {
        let Some(token) = bearer_token(req).map_err(ResolveError::InvalidToken)? else {
            return Ok(None);
        };
        let claims = self
            .verifier
            .verify(token)
            .map_err(ResolveError::InvalidToken)?;
        let value = claims
            .str_claim(&self.claim)
            .map_err(ResolveError::InvalidToken)?;
        parse_key(value, &self.policy, self.accept_ids)
            .map(Some)
            .map_err(|_| ResolveError::InvalidToken(JwtError::InvalidClaim(self.claim.clone())))
    }
}
