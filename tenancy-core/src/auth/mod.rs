//! Authentication: who is calling. It yields an identity ([`Principal`]), never authority:
//! authority comes from the principal's membership in the selected tenant.

use std::error::Error as StdError;

use async_trait::async_trait;
use http::StatusCode;

use crate::jwt::JwtError;
use crate::{RequestView, StoreError, UserId};

/// What kind of caller a [`Principal`] is. Carried by the [`TenantScope`](crate::TenantScope) so
/// audit entries record the real actor, and by a [`TenantRef`](crate::TenantRef) in job payloads.
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
    pub const fn new(user_id: UserId, kind: PrincipalKind) -> Self {
        Self { user_id, kind }
    }

    /// A [`PrincipalKind::User`] principal.
    pub const fn user(user_id: UserId) -> Self {
        Self::new(user_id, PrincipalKind::User)
    }
}

/// Why authentication failed.
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
/// use tenancy_core::{AuthenticateError, Authenticator, Principal, RequestView, UserId};
///
/// /// Trusts an `x-user` header: for tests only.
/// struct HeaderUser;
///
/// #[async_trait]
/// impl Authenticator for HeaderUser {
///     async fn authenticate(&self, req: &RequestView<'_>)
///         -> Result<Option<Principal>, AuthenticateError> {
///         let Some(v) = req.headers().get("x-user") else { return Ok(None) };
///         let id: UserId = v.to_str().ok().and_then(|s| s.parse().ok())
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
    /// use tenancy_core::{AuthenticateError, Authenticator, Principal, RequestView, UserId};
    ///
    /// struct StaticKey { key: &'static str, user: UserId }
    ///
    /// impl StaticKey {
    ///     fn check(&self, req: &RequestView<'_>) -> Result<Option<Principal>, AuthenticateError> {
    ///         match req.headers().get("x-api-key") {
    ///             None => Ok(None),
    ///             Some(v) if v.as_bytes() == self.key.as_bytes() => Ok(Some(Principal::user(self.user))),
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
/// use http::HeaderMap;
///
/// let alice = UserId::new_random();
/// let auth = authenticator_fn(move |req: &RequestView<'_>| match req.headers().get("x-api-key") {
///     None => Ok(None),
///     Some(v) if v.as_bytes() == b"k-alice" => Ok(Some(Principal::user(alice))),
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
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::{AuthenticateError, Authenticator, Principal, PrincipalKind};
    use crate::jwt::{JwtError, JwtVerifier, bearer_token};
    use crate::{RequestView, UserId};

    /// Authenticates `Authorization: Bearer` JWTs: the verified `sub` claim (a UUID) is the
    /// [`UserId`].
    ///
    /// No `Authorization` header or another scheme is anonymous (`Ok(None)`); a bearer token that
    /// fails verification or has no UUID `sub` is [`AuthenticateError::InvalidToken`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tenancy_core::{BearerJwtAuthenticator, JwtAlgorithm, JwtVerifier};
    /// let verifier = JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?;
    /// let auth = BearerJwtAuthenticator::new(Arc::new(verifier));
    /// # Ok::<(), tenancy_core::ConfigError>(())
    /// ```
    #[derive(Debug, Clone)]
    pub struct BearerJwtAuthenticator {
        verifier: Arc<JwtVerifier>,
        kind: PrincipalKind,
    }

    impl BearerJwtAuthenticator {
        /// An authenticator using `verifier`; principals are [`PrincipalKind::User`].
        pub fn new(verifier: Arc<JwtVerifier>) -> Self {
            Self {
                verifier,
                kind: PrincipalKind::User,
            }
        }

        /// The kind given to authenticated principals.
        #[must_use]
        pub fn with_kind(mut self, kind: PrincipalKind) -> Self {
            self.kind = kind;
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
            let Some(token) =
                bearer_token(req.headers()).map_err(AuthenticateError::InvalidToken)?
            else {
                return Ok(None);
            };
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
            Ok(Some(Principal::new(user, self.kind)))
        }
    }
}
