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
    pub fn new(verifier: Arc<JwtVerifier>, claim: impl Into<String>) -> Self {
        Self {
            verifier,
            claim: claim.into(),
            policy: SlugPolicy::default(),
            accept_ids: true,
        }
    }

    /// Refuses tenant ids in the claim: only slugs select.
    #[must_use]
    pub fn slugs_only(mut self) -> Self {
        self.accept_ids = false;
        self
    }

    /// The slug policy the claim must pass (default: [`SlugPolicy::default`]).
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
