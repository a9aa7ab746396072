//! Accounts: password hashing, login tokens, the authenticator chain and platform admins.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sqlx::PgPool;
use tenancy_core::{
    AuthenticateError, Authenticator, BearerJwtAuthenticator, ConfigError, JwtAlgorithm,
    JwtVerifier, PlatformAdmins, Principal, RequestView, StoreError, UserId,
};

/// Issuer of login tokens.
const ISSUER: &str = "saas";
/// Audience of login tokens.
const AUDIENCE: &str = "saas-api";
/// Lifetime of a login token.
pub const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError(#[source] argon2::password_hash::Error);

/// Hashes a password with Argon2id (default parameters) and a random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).map_err(HashError)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError)
}

/// Whether `password` matches the PHC string `hash`; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Signs and verifies login tokens (HS256, `sub` = user id, issuer and audience pinned).
///
/// Verification is the core [`JwtVerifier`]; this type only adds signing.
///
/// ```
/// use saas::auth::TokenKeys;
/// let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef").unwrap();
/// let user = tenancy_core::UserId::new_random();
/// let token = keys.issue(user).unwrap();
/// let claims = keys.verifier().verify(&token).unwrap();
/// assert_eq!(claims.subject(), Some(user.to_string().as_str()));
/// ```
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    verifier: Arc<JwtVerifier>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims {
    sub: String,
    iss: &'static str,
    aud: &'static str,
    iat: u64,
    exp: u64,
}

impl TokenKeys {
    /// Keys from an HMAC secret of at least 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self, ConfigError> {
        let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?
            .with_issuer(ISSUER)
            .with_audience(AUDIENCE);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            verifier: Arc::new(verifier),
        })
    }

    /// Keys from a random secret (tokens die with the process).
    pub fn random() -> Result<Self, ConfigError> {
        let mut secret = Vec::with_capacity(64);
        for _ in 0..4 {
            secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        Self::new(&secret)
    }

    /// The verifier (for the bearer authenticator).
    pub fn verifier(&self) -> Arc<JwtVerifier> {
        Arc::clone(&self.verifier)
    }

    /// A token for `user`, valid for [`TOKEN_TTL`].
    pub fn issue(&self, user: UserId) -> Result<String, jsonwebtoken::errors::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: user.to_string(),
            iss: ISSUER,
            aud: AUDIENCE,
            iat: now,
            exp: now + TOKEN_TTL.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }
}

/// Several authenticators tried in order: the first that recognises credentials names the
/// caller; invalid credentials from any of them end the request (no fall-through to the next).
///
/// The app starts with the bearer authenticator; the web UI adds its cookie session
/// authenticator with [`with`](Self::with).
#[derive(Clone, Default)]
pub struct Authenticators {
    chain: Vec<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for Authenticators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticators")
            .field("len", &self.chain.len())
            .finish()
    }
}

impl Authenticators {
    /// The bearer-JWT authenticator over `keys`.
    pub fn bearer(keys: &TokenKeys) -> Self {
        Self::default().with(Arc::new(BearerJwtAuthenticator::new(keys.verifier())))
    }

    /// Appends an authenticator.
    #[must_use]
    pub fn with(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.chain.push(authenticator);
        self
    }
}

#[async_trait]
impl Authenticator for Authenticators {
    async fn authenticate(
        &self,
        req: &RequestView<'_>,
    ) -> Result<Option<Principal>, AuthenticateError> {
        for a in &self.chain {
            if let Some(p) = a.authenticate(req).await? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// The same walk, when every authenticator up to the answering one answers at once.
    fn authenticate_now(
        &self,
        req: &RequestView<'_>,
    ) -> Option<Result<Option<Principal>, AuthenticateError>> {
        for a in &self.chain {
            match a.authenticate_now(req)? {
                Ok(None) => {}
                answer => return Some(answer),
            }
        }
        Some(Ok(None))
    }
}

/// The platform administrator is the account whose email is configured
/// (`SAAS_PLATFORM_ADMIN_EMAIL`); nobody is when it is unset.
#[derive(Debug, Clone)]
pub struct EmailPlatformAdmin {
    pool: PgPool,
    email: Option<String>,
}

impl EmailPlatformAdmin {
    /// Looks accounts up in `pool` (the runtime role may read `users`).
    pub fn new(pool: PgPool, email: Option<String>) -> Self {
        Self {
            pool,
            email: email
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty()),
        }
    }
}

#[async_trait]
impl PlatformAdmins for EmailPlatformAdmin {
    async fn is_platform_admin(&self, user: UserId) -> Result<bool, StoreError> {
        let Some(admin) = &self.email else {
            return Ok(false);
        };
        let email: Option<String> =
            sqlx::query_scalar("SELECT lower(email) FROM users WHERE id = $1")
                .bind(user.as_uuid())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| StoreError::new("user store", e))?;
        Ok(email.as_deref() == Some(admin.as_str()))
    }
}
