//! Authentication: who is calling. It yields an identity ([`Principal`]), never authority:
//! authority comes from the principal's membership in the selected tenant.

use std::error::Error as StdError;

use async_trait::async_trait;
use http::StatusCode;

use crate::jwt::JwtError;
use crate::{RequestView, StoreError, UserId};

/// What kind of caller a [`Principal`] is. Carried by the [`TenantScope`](crate::TenantScope) so
/// audit entries record the real actor, and by a [`TenantRef`](crate::TenantRef) in job payloads.
///
/// In audit rows and job payloads it is written in `snake_case`:
///
/// ```
/// use tenancy_core::{Principal, PrincipalKind, UserId};
/// let caller = Principal::new(UserId::new_random(), PrincipalKind::ApiKey);
/// assert_eq!(serde_json::to_string(&caller.kind).unwrap(), r#""api_key""#);
/// let kind: PrincipalKind = serde_json::from_str(r#""service""#).unwrap();
/// assert_eq!(kind, PrincipalKind::Service);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PrincipalKind {
    /// A person with a session or a user token.
    User,
    /// An API key acting for a user.
    ApiKey,
    /// A background job acting for a user.
    Job,
    /// A service account.
    Service,
}

/// An authenticated caller: an identity, not a grant.
///
/// The app's [`Authenticator`] builds it freely; holding one proves nothing about any tenant.
///
/// ```
/// use tenancy_core::{Principal, PrincipalKind, UserId};
/// let p = Principal::new(UserId::new_random(), PrincipalKind::ApiKey);
/// assert_eq!(p.kind, PrincipalKind::ApiKey);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The user the caller acts as.
    pub user_id: UserId,
    /// The kind of caller.
    pub kind: PrincipalKind,
}

impl Principal {
    /// A principal.
    ///
    /// ```
    /// use tenancy_core::{Principal, PrincipalKind, UserId};
    /// // An API key that acts for the user who created it.
    /// let key_owner = UserId::new_random();
    /// let p = Principal::new(key_owner, PrincipalKind::ApiKey);
    /// assert_eq!((p.user_id, p.kind), (key_owner, PrincipalKind::ApiKey));
    /// ```
    pub const fn new(user_id: UserId, kind: PrincipalKind) -> Self {
        Self { user_id, kind }
    }

    /// A [`PrincipalKind::User`] principal.
    ///
    /// ```
    /// use tenancy_core::{Principal, PrincipalKind, UserId};
    /// let alice = UserId::new_random();
    /// assert_eq!(Principal::user(alice), Principal::new(alice, PrincipalKind::User));
    /// ```
    pub const fn user(user_id: UserId) -> Self {
        Self::new(user_id, PrincipalKind::User)
    }
}

/// Why authentication failed.
///
/// ```
/// # #[cfg(feature = "jwt")] {
/// use std::sync::Arc;
/// use http::{HeaderMap, StatusCode};
/// use tenancy_core::{AuthenticateError, Authenticator, BearerJwtAuthenticator, JwtAlgorithm,
///     JwtError, JwtVerifier, RequestView};
/// let verifier = JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?;
/// let auth = BearerJwtAuthenticator::new(Arc::new(verifier));
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", "Bearer not-a-jwt".parse()?);
/// let err = auth.authenticate_now(&RequestView::new("/", &headers)).unwrap().unwrap_err();
/// assert!(matches!(err, AuthenticateError::InvalidToken(JwtError::Malformed)));
/// assert_eq!(err.to_string(), "bearer token rejected");
/// assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticateError {
    /// Credentials were presented but are not valid (unknown API key, revoked session, ...).
    /// Status 401.
    #[error("invalid credentials")]
    InvalidCredentials(#[source] Option<Box<dyn StdError + Send + Sync + 'static>>),
    /// A bearer token failed verification. Status 401.
    #[error("bearer token rejected")]
    InvalidToken(#[source] JwtError),
    /// The credential store failed; the request fails closed. Status 500.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

impl AuthenticateError {
    /// The HTTP status: 401, or 500 when a store failed.
    ///
    /// ```
    /// use tenancy_core::{AuthenticateError, StoreError};
    /// // The API-key table could not be read: the request fails closed, as a server error.
    /// let down: AuthenticateError = StoreError::new("api key store", "connection refused").into();
    /// assert_eq!(down.status().as_u16(), 500);
    /// assert_eq!(AuthenticateError::InvalidCredentials(None).status().as_u16(), 401);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Finds out who is calling.
///
/// `Ok(None)` means no credentials were presented (anonymous); presented but invalid credentials
/// are an error. Declared with [`async_trait`](macro@async_trait::async_trait) because the pipeline stores it as
/// `Arc<dyn Authenticator>` and implementations usually query a store.
///
/// ```
/// use async_trait::async_trait;
/// use http::HeaderName;
/// use tenancy_core::{AuthenticateError, Authenticator, Principal, RequestView, UserId};
///
/// static X_USER: HeaderName = HeaderName::from_static("x-user");
///
/// /// Trusts an `x-user` header: for tests only.
/// struct HeaderUser;
///
/// #[async_trait]
/// impl Authenticator for HeaderUser {
///     async fn authenticate(&self, req: &RequestView<'_>)
///         -> Result<Option<Principal>, AuthenticateError> {
///         let Some(v) = req.header(&X_USER) else { return Ok(None) };
///         let id: UserId = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok())
///             .ok_or(AuthenticateError::InvalidCredentials(None))?;
///         Ok(Some(Principal::user(id)))
///     }
/// }
/// ```
///
/// An authenticator that needs no I/O (a signed token, a signed cookie, keys held in memory) also
/// implements [`authenticate_now`](Self::authenticate_now), or is written as a closure with
/// [`authenticator_fn`]: the pipeline then authenticates without a boxed future.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// The caller, `None` when anonymous.
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError>;

    /// The same answer as [`authenticate`](Self::authenticate), given at once when it needs no
    /// waiting; `None` means "call `authenticate`". The default is `None`.
    ///
    /// The pipeline calls this first; when it returns `Some`, `authenticate` is not called, so
    /// the two must agree. The simplest way to keep them agreeing is to write the check once,
    /// as below, or with [`authenticator_fn`].
    ///
    /// ```
    /// use async_trait::async_trait;
    /// use http::HeaderName;
    /// use tenancy_core::{AuthenticateError, Authenticator, Principal, RequestView, UserId};
    ///
    /// static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
    ///
    /// struct StaticKey { key: &'static str, user: UserId }
    ///
    /// impl StaticKey {
    ///     fn check(&self, req: &RequestView<'_>) -> Result<Option<Principal>, AuthenticateError> {
    ///         match req.header(&X_API_KEY) {
    ///             None => Ok(None),
    ///             Some(v) if v == self.key.as_bytes() => Ok(Some(Principal::user(self.user))),
    ///             Some(_) => Err(AuthenticateError::InvalidCredentials(None)),
    ///         }
    ///     }
    /// }
    ///
    /// #[async_trait]
    /// impl Authenticator for StaticKey {
    ///     async fn authenticate(&self, req: &RequestView<'_>)
    ///         -> Result<Option<Principal>, AuthenticateError> {
    ///         self.check(req)
    ///     }
    ///     fn authenticate_now(&self, req: &RequestView<'_>)
    ///         -> Option<Result<Option<Principal>, AuthenticateError>> {
    ///         Some(self.check(req))
    ///     }
    /// }
    /// ```
    fn authenticate_now(
        &self,
        req: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthenticateError>> {
        let _ = req;
        None
    }
}

/// Everyone is anonymous.
#[async_trait]
impl Authenticator for () {
    async fn authenticate(
        &self,
        _req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        Ok(None)
    }

    fn authenticate_now(
        &self,
        _req: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthenticateError>> {
        Some(Ok(None))
    }
}

/// An [`Authenticator`] from a synchronous closure (signed tokens or cookies, keys in memory):
/// answers through [`Authenticator::authenticate_now`], so the pipeline never boxes a future for
/// it.
///
/// ```
/// use std::sync::Arc;
/// use tenancy_core::{AuthenticateError, Principal, RequestView, UserId, authenticator_fn};
/// use http::{HeaderMap, HeaderName};
///
/// static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
///
/// let alice = UserId::new_random();
/// let auth = authenticator_fn(move |req: &RequestView<'_>| match req.header(&X_API_KEY) {
///     None => Ok(None),
///     Some(v) if v == b"k-alice" => Ok(Some(Principal::user(alice))),
///     Some(_) => Err(AuthenticateError::InvalidCredentials(None)),
/// });
/// # use tenancy_core::Authenticator;
/// let mut headers = HeaderMap::new();
/// headers.insert("x-api-key", "k-alice".parse().unwrap());
/// let found = auth.authenticate_now(&RequestView::new("/", &headers));
/// assert_eq!(found.unwrap().unwrap(), Some(Principal::user(alice)));
/// let _shared: Arc<dyn Authenticator> = Arc::new(auth);
/// ```
pub fn authenticator_fn<F>(f: F) -> AuthenticatorFn<F>
where
    F: Fn(&RequestView<'_>) -> Result<Option<Principal>, AuthenticateError> + Send + Sync,
{
    AuthenticatorFn { f }
}

/// The [`Authenticator`] returned by [`authenticator_fn`].
///
/// Name it when a function returns an authenticator built from a closure:
///
/// ```
/// use tenancy_core::{AuthenticateError, Authenticator, AuthenticatorFn, Principal, RequestView,
///     authenticator_fn};
/// type Found = Result<Option<Principal>, AuthenticateError>;
///
/// /// Everyone is anonymous (a public demo deployment).
/// fn anonymous() -> AuthenticatorFn<impl Fn(&RequestView<'_>) -> Found + Send + Sync + Clone> {
///     authenticator_fn(|_| Ok(None))
/// }
/// let headers = http::HeaderMap::new();
/// let found = anonymous().authenticate_now(&RequestView::new("/", &headers));
/// assert!(matches!(found, Some(Ok(None))));
/// ```
#[derive(Clone)]
pub struct AuthenticatorFn<F> {
    f: F,
}

impl<F> std::fmt::Debug for AuthenticatorFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatorFn").finish_non_exhaustive()
    }
}

#[async_trait]
impl<F> Authenticator for AuthenticatorFn<F>
where
    F: Fn(&RequestView<'_>) -> Result<Option<Principal>, AuthenticateError> + Send + Sync,
{
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        (self.f)(req)
    }

    fn authenticate_now(
        &self,
        req: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthenticateError>> {
        Some((self.f)(req))
    }
}

#[cfg(feature = "jwt")]
pub use bearer::BearerJwtAuthenticator;

#[cfg(feature = "jwt")]
mod bearer {
    use std::fmt;
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::{AuthenticateError, Authenticator, Principal, PrincipalKind};
    use crate::jwt::{JwtError, JwtVerifier, VerifiedClaims, bearer_token};
    use crate::sharded::ShardedMap;
    use crate::{RequestView, UserId};

    /// Tokens remembered by default by a [`BearerJwtAuthenticator`].
    const DEFAULT_CACHE_CAPACITY: usize = 4096;

    /// Authenticates `Authorization: Bearer` JWTs: the verified `sub` claim (a UUID) is the
    /// [`UserId`].
    ///
    /// No `Authorization` header or another scheme is anonymous (`Ok(None)`); a bearer token that
    /// fails verification or has no UUID `sub` is [`AuthenticateError::InvalidToken`].
    ///
    /// **Verified-token cache.** A client sends the same token on every request until it
    /// expires; checking its signature each time costs more than the rest of the request's
    /// tenancy work. So a token that passed verification is remembered (by its exact text,
    /// signature included) together with the user it names and its `exp` and `nbf`; when the same
    /// text comes again, only `exp` and `nbf` are checked again, against the clock, with the
    /// verifier's leeway: an expired token is refused exactly as verification would refuse it,
    /// and forgotten. Only tokens that verified and named a user are remembered, so invalid
    /// tokens cannot fill it; it holds at most [`with_cache_capacity`](Self::with_cache_capacity)
    /// tokens (4096 by default; a full shard is emptied before the next insert). The verifier
    /// cannot change after it is built, so a remembered verification stays true. Clones share
    /// the cache. [`without_cache`](Self::without_cache) verifies every request.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tenancy_core::{BearerJwtAuthenticator, JwtAlgorithm, JwtVerifier};
    /// let verifier = JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?;
    /// let auth = BearerJwtAuthenticator::new(Arc::new(verifier)).with_cache_capacity(10_000);
    /// # Ok::<(), tenancy_core::ConfigError>(())
    /// ```
    #[derive(Clone)]
    pub struct BearerJwtAuthenticator {
        verifier: Arc<JwtVerifier>,
        kind: PrincipalKind,
        cache: Option<Arc<TokenCache>>,
    }

    impl fmt::Debug for BearerJwtAuthenticator {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("BearerJwtAuthenticator")
                .field("verifier", &self.verifier)
                .field("kind", &self.kind)
                .field("cache", &self.cache)
                .finish()
        }
    }

    impl BearerJwtAuthenticator {
        /// An authenticator using `verifier`; principals are [`PrincipalKind::User`]; verified
        /// tokens are cached (4096).
        ///
        /// ```
        /// use std::sync::Arc;
        /// use tenancy_core::{Authenticator, BearerJwtAuthenticator, JwtAlgorithm, JwtVerifier,
        ///     Principal, RequestView, UserId};
        /// # use jsonwebtoken::{encode, EncodingKey, Header};
        /// let secret = b"a-secret-of-at-least-32-bytes!!!";
        /// let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
        /// let auth = BearerJwtAuthenticator::new(Arc::new(verifier));
        ///
        /// // An HS256 token issued for alice (`sub` is her id).
        /// let alice = UserId::new_random();
        /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
        /// # let claims = serde_json::json!({ "sub": alice.to_string(), "exp": exp });
        /// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
        /// let mut headers = http::HeaderMap::new();
        /// headers.insert("authorization", format!("Bearer {token}").parse()?);
        /// let found = auth.authenticate_now(&RequestView::new("/", &headers)).unwrap()?;
        /// assert_eq!(found, Some(Principal::user(alice)));
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn new(verifier: Arc<JwtVerifier>) -> Self {
            Self {
                verifier,
                kind: PrincipalKind::User,
                cache: Some(Arc::new(TokenCache::new(DEFAULT_CACHE_CAPACITY, unix_now))),
            }
        }

        /// The kind given to authenticated principals.
        ///
        /// ```
        /// use std::sync::Arc;
        /// use tenancy_core::{Authenticator, BearerJwtAuthenticator, JwtAlgorithm, JwtVerifier,
        ///     PrincipalKind, RequestView, UserId};
        /// # use jsonwebtoken::{encode, EncodingKey, Header};
        /// let secret = b"a-secret-of-at-least-32-bytes!!!";
        /// let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
        /// // Tokens of this issuer are held by service accounts, not people.
        /// let auth = BearerJwtAuthenticator::new(Arc::new(verifier))
        ///     .with_kind(PrincipalKind::Service);
        /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
        /// # let sub = UserId::new_random().to_string();
        /// # let claims = serde_json::json!({ "sub": sub, "exp": exp });
        /// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
        /// # let mut headers = http::HeaderMap::new();
        /// # headers.insert("authorization", format!("Bearer {token}").parse()?);
        /// let found = auth.authenticate_now(&RequestView::new("/", &headers)).unwrap()?.unwrap();
        /// assert_eq!(found.kind, PrincipalKind::Service);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        #[must_use]
        pub fn with_kind(mut self, kind: PrincipalKind) -> Self {
            self.kind = kind;
            self
        }

        /// Remembers up to `capacity` verified tokens (a new, empty cache); `0` is
        /// [`without_cache`](Self::without_cache).
        ///
        /// ```
        /// # use std::sync::Arc;
        /// # use tenancy_core::{BearerJwtAuthenticator, JwtAlgorithm, JwtVerifier};
        /// # let verifier = Arc::new(JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?);
        /// let auth = BearerJwtAuthenticator::new(verifier).with_cache_capacity(100_000);
        /// # Ok::<(), tenancy_core::ConfigError>(())
        /// ```
        #[must_use]
        pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
            self.cache = (capacity > 0).then(|| Arc::new(TokenCache::new(capacity, unix_now)));
            self
        }

        /// Verifies the token of every request (no verified-token cache).
        ///
        /// ```
        /// # use std::sync::Arc;
        /// # use tenancy_core::{BearerJwtAuthenticator, JwtAlgorithm, JwtVerifier};
        /// # let verifier = Arc::new(JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?);
        /// let auth = BearerJwtAuthenticator::new(verifier).without_cache();
        /// # Ok::<(), tenancy_core::ConfigError>(())
        /// ```
        #[must_use]
        pub fn without_cache(mut self) -> Self {
            self.cache = None;
            self
        }

        #[cfg(test)]
        fn with_clock(mut self, capacity: usize, now: fn() -> u64) -> Self {
            self.cache = Some(Arc::new(TokenCache::new(capacity, now)));
            self
        }
    }

    #[async_trait]
    impl Authenticator for BearerJwtAuthenticator {
        async fn authenticate(
            &self,
            req: &RequestView<'_>,
        ) -> Result<Option<Principal>, AuthenticateError> {
            self.check(req)
        }

        fn authenticate_now(
            &self,
            req: &RequestView<'_>,
        ) -> Option<Result<Option<Principal>, AuthenticateError>> {
            Some(self.check(req))
        }
    }

    impl BearerJwtAuthenticator {
        /// Verification needs no I/O: both trait methods answer through this.
        fn check(&self, req: &RequestView<'_>) -> Result<Option<Principal>, AuthenticateError> {
            let Some(token) = bearer_token(req).map_err(AuthenticateError::InvalidToken)? else {
                return Ok(None);
            };
            let leeway = self.verifier.leeway_secs();
            if let Some(cache) = &self.cache
                && let Some(user) = cache.get(token, leeway)
            {
                return user
                    .map(|user| Some(Principal::new(user, self.kind)))
                    .map_err(AuthenticateError::InvalidToken);
            }
            let claims = self
                .verifier
                .verify(token)
                .map_err(AuthenticateError::InvalidToken)?;
            let sub = claims
                .str_claim("sub")
                .map_err(AuthenticateError::InvalidToken)?;
            let user: UserId = sub.parse().map_err(|_| {
                AuthenticateError::InvalidToken(JwtError::InvalidClaim("sub".into()))
            })?;
            if let Some(cache) = &self.cache {
                cache.insert(token, user, &claims);
            }
            Ok(Some(Principal::new(user, self.kind)))
        }
    }

    /// Seconds since the Unix epoch, as `jsonwebtoken` reads them for `exp` and `nbf`.
    fn unix_now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    /// What a verified token proved, and until when.
    #[derive(Clone, Copy)]
    struct Verified {
        user: UserId,
        exp: u64,
        nbf: Option<u64>,
    }

    impl Verified {
        /// The checks `jsonwebtoken` makes on `exp` and `nbf`, at `now`, with `leeway`.
        fn check(&self, now: u64, leeway: u64) -> Result<UserId, JwtError> {
            if self.exp < now.saturating_sub(leeway) {
                return Err(JwtError::Expired);
            }
            if self.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
                return Err(JwtError::NotYetValid);
            }
            Ok(self.user)
        }
    }

    /// Verified tokens by their exact text (bounded; see [`ShardedMap`]).
    struct TokenCache {
        tokens: ShardedMap<Box<str>, Verified>,
        now: fn() -> u64,
    }

    impl fmt::Debug for TokenCache {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TokenCache")
                .field("capacity", &self.tokens.capacity())
                .field("len", &self.tokens.len())
                .finish()
        }
    }

    impl TokenCache {
        fn new(capacity: usize, now: fn() -> u64) -> Self {
            Self {
                tokens: ShardedMap::new(capacity),
                now,
            }
        }

        /// `None`: not remembered (verify it). `Some(Err)`: remembered but expired or not yet
        /// valid now (an expired one is forgotten).
        fn get(&self, token: &str, leeway: u64) -> Option<Result<UserId, JwtError>> {
            let answer = self.tokens.get(token)?.check((self.now)(), leeway);
            if matches!(answer, Err(JwtError::Expired)) {
                self.tokens.remove(token);
            }
            Some(answer)
        }

        fn insert(&self, token: &str, user: UserId, claims: &VerifiedClaims) {
            // `exp` is required and was checked by the verifier; without a readable one, do not
            // remember the token (it is verified again next time).
            let Some(exp) = claims.get("exp").and_then(serde_json::Value::as_u64) else {
                return;
            };
            // `jsonwebtoken` checks `nbf` only when it reads as a whole number; so does the cache.
            let nbf = claims.get("nbf").and_then(serde_json::Value::as_u64);
            self.tokens
                .insert(token.into(), Verified { user, exp, nbf });
        }

        #[cfg(test)]
        fn len(&self) -> usize {
            self.tokens.len()
        }
    }

    #[cfg(test)]
    mod tests {
        use std::sync::atomic::{AtomicU64, Ordering};

        use jsonwebtoken::{EncodingKey, Header, encode};

        use super::*;
        use crate::JwtAlgorithm;

        const SECRET: &[u8] = b"a-secret-of-at-least-32-bytes!!!";
        /// The clock of the cache in these tests (each test sets it before use).
        static NOW: AtomicU64 = AtomicU64::new(0);

        fn test_now() -> u64 {
            NOW.load(Ordering::SeqCst)
        }

        fn token(claims: &serde_json::Value) -> String {
            encode(
                &Header::default(),
                claims,
                &EncodingKey::from_secret(SECRET),
            )
            .unwrap_or_else(|e| unreachable!("{e}"))
        }

        fn auth(capacity: usize) -> BearerJwtAuthenticator {
            let verifier = JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])
                .unwrap_or_else(|e| unreachable!("{e}"));
            BearerJwtAuthenticator::new(Arc::new(verifier)).with_clock(capacity, test_now)
        }

        fn run(auth: &BearerJwtAuthenticator, token: &str) -> Result<Option<UserId>, JwtError> {
            let req = http::Request::builder()
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap_or_else(|e| unreachable!("{e}"));
            match auth.check(&RequestView::from_request(&req)) {
                Ok(p) => Ok(p.map(|p| p.user_id)),
                Err(AuthenticateError::InvalidToken(e)) => Err(e),
                Err(other) => unreachable!("{other}"),
            }
        }

        #[test]
        fn a_remembered_token_still_expires_and_waits_for_nbf() {
            // One test owns the shared clock (no other test in this module reads it).
            let now = jsonwebtoken::get_current_timestamp();
            let (alice, bob) = (UserId::new_random(), UserId::new_random());
            let a = token(&serde_json::json!({ "sub": alice.to_string(), "exp": now + 60 }));
            let b = token(&serde_json::json!({
                "sub": bob.to_string(), "exp": now + 600, "nbf": now
            }));
            let cached = auth(1024);
            NOW.store(now, Ordering::SeqCst);
            // Verified, then served from the cache: each token keeps its own user.
            for _ in 0..2 {
                assert_eq!(run(&cached, &a), Ok(Some(alice)));
                assert_eq!(run(&cached, &b), Ok(Some(bob)));
            }
            let cache = cached.cache.as_ref().unwrap_or_else(|| unreachable!());
            assert_eq!(cache.len(), 2);
            // Within the leeway (30 s) after `exp`: still accepted, as the verifier would.
            NOW.store(now + 60 + 30, Ordering::SeqCst);
            assert_eq!(run(&cached, &a), Ok(Some(alice)));
            // Past it: refused as expired, and forgotten.
            NOW.store(now + 60 + 31, Ordering::SeqCst);
            assert_eq!(run(&cached, &a), Err(JwtError::Expired));
            assert_eq!(cache.len(), 1);
            // Before `nbf` (beyond the leeway): refused, as the verifier would.
            NOW.store(now - 31, Ordering::SeqCst);
            assert_eq!(run(&cached, &b), Err(JwtError::NotYetValid));
            NOW.store(now - 30, Ordering::SeqCst);
            assert_eq!(run(&cached, &b), Ok(Some(bob)));
        }

        #[test]
        fn only_verified_tokens_are_remembered_and_a_tampered_one_is_not_a_hit() {
            let now = jsonwebtoken::get_current_timestamp();
            let alice = UserId::new_random();
            let good = token(&serde_json::json!({ "sub": alice.to_string(), "exp": now + 60 }));
            let cached = BearerJwtAuthenticator::new(Arc::new(
                JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])
                    .unwrap_or_else(|e| unreachable!("{e}")),
            ));
            assert_eq!(run(&cached, &good), Ok(Some(alice)));
            // The same token with one signature character changed (not the last one: its low
            // bits are padding that some decoders ignore).
            let mut bytes = good.clone().into_bytes();
            let i = bytes.len() - 10;
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(run(&cached, &tampered), Err(JwtError::BadSignature));
            // A token without a UUID `sub`, or with a wrong key: never remembered.
            let no_user = token(&serde_json::json!({ "sub": "root", "exp": now + 60 }));
            let other_key = encode(
                &Header::default(),
                &serde_json::json!({ "sub": alice.to_string(), "exp": now + 60 }),
                &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes"),
            )
            .unwrap_or_else(|e| unreachable!("{e}"));
            for _ in 0..2 {
                assert!(run(&cached, &no_user).is_err());
                assert_eq!(run(&cached, &other_key), Err(JwtError::BadSignature));
            }
            let cache = cached.cache.as_ref().unwrap_or_else(|| unreachable!());
            assert_eq!(cache.len(), 1);
            // Positive control: the good token is still served.
            assert_eq!(run(&cached, &good), Ok(Some(alice)));
        }

        #[test]
        fn the_cache_is_bounded_and_can_be_turned_off() {
            let now = jsonwebtoken::get_current_timestamp();
            let verifier = Arc::new(
                JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])
                    .unwrap_or_else(|e| unreachable!("{e}")),
            );
            let bounded = BearerJwtAuthenticator::new(verifier.clone()).with_cache_capacity(32);
            for _ in 0..500 {
                let user = UserId::new_random();
                let t = token(&serde_json::json!({ "sub": user.to_string(), "exp": now + 60 }));
                assert_eq!(run(&bounded, &t), Ok(Some(user)));
            }
            let cache = bounded.cache.as_ref().unwrap_or_else(|| unreachable!());
            assert!(cache.len() <= 32, "{}", cache.len());
            let off = BearerJwtAuthenticator::new(verifier.clone()).without_cache();
            assert!(off.cache.is_none());
            assert!(
                BearerJwtAuthenticator::new(verifier)
                    .with_cache_capacity(0)
                    .cache
                    .is_none()
            );
            let user = UserId::new_random();
            let t = token(&serde_json::json!({ "sub": user.to_string(), "exp": now + 60 }));
            assert_eq!(run(&off, &t), Ok(Some(user)));
        }
    }
}
