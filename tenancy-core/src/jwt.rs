//! Verified JSON Web Tokens: a verifier with pinned algorithms, and the errors it reports.
//!
//! There is deliberately no way to read a token's claims without verifying it: the only road to
//! [`VerifiedClaims`] is [`JwtVerifier::verify`].

use std::fmt;

/// A signature algorithm that a [`JwtVerifier`] may be pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// Why a bearer token was refused. Every variant means "401 Unauthorized".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a well-formed JWT (three base64url parts of JSON), too long, an unknown `alg`
    /// (including `none`), or an `Authorization` header that is repeated or not visible ASCII.
    #[error("malformed token")]
    Malformed,
    /// The header's `alg` is not one of the pinned algorithms.
    #[error("token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The signature does not verify with the configured key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iss` is missing or not the configured issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` is missing or not the configured audience, or present when no audience is
    /// configured.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// A required claim is absent.
    #[error("token claim `{0}` is missing")]
    MissingClaim(String),
    /// A claim has the wrong type or value (for example a tenant claim that is not a slug).
    #[error("token claim `{0}` is malformed")]
    InvalidClaim(String),
}

impl JwtError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::AlgorithmNotAllowed => "token_algorithm",
            Self::BadSignature => "token_signature",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::WrongIssuer => "token_issuer",
            Self::WrongAudience => "token_audience",
            Self::MissingClaim(_) => "token_claim_missing",
            Self::InvalidClaim(_) => "token_claim_invalid",
        }
    }
}

/// The claims of a token whose signature and registered claims were verified.
///
/// Only [`JwtVerifier::verify`] creates one.
#[derive(Clone, PartialEq)]
pub struct VerifiedClaims {
    claims: serde_json::Map<String, serde_json::Value>,
}

impl VerifiedClaims {
    /// The `sub` claim, if it is a string.
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(serde_json::Value::as_str)
    }

    /// A claim by name.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.get(name)
    }

    /// A string claim by name: `Err(MissingClaim)` when absent, `Err(InvalidClaim)` when not a
    /// string.
    pub fn str_claim(&self, name: &str) -> Result<&str, JwtError> {
        match self.claims.get(name) {
            None | Some(serde_json::Value::Null) => Err(JwtError::MissingClaim(name.to_owned())),
            Some(v) => v
                .as_str()
                .ok_or_else(|| JwtError::InvalidClaim(name.to_owned())),
        }
    }

    /// All claims.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }
}

impl fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Claim values may be personal data: show names only.
        f.debug_struct("VerifiedClaims")
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(feature = "jwt")]
pub use verifier::JwtVerifier;

#[cfg(feature = "jwt")]
pub(crate) use verifier::bearer_token;

#[cfg(feature = "jwt")]
mod verifier {
    use std::fmt;
    use std::time::Duration;

    use http::header::AUTHORIZATION;
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};

    use super::{JwtAlgorithm, JwtError, VerifiedClaims};
    use crate::RequestView;
    use crate::request::visible_ascii;
    use crate::resolve::ConfigError;

    /// Longest token accepted, in bytes.
    const MAX_TOKEN_LEN: usize = 8 * 1024;
    /// Largest clock-skew leeway accepted.
    const MAX_LEEWAY: Duration = Duration::from_secs(300);
    /// Default clock-skew leeway.
    const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

    /// Verifies JWTs: signature with one key and a pinned algorithm list, `exp` required, `nbf`
    /// checked when present, `iss` and `aud` required and checked when configured, a small
    /// leeway (30 s by default, at most 300 s).
    ///
    /// Every pinned algorithm must belong to the key's family, so an RSA or EC public key can
    /// never be used as an HMAC secret (the HS/RS confusion attack), and `alg: none` is never
    /// accepted. HMAC secrets must be at least 32 bytes.
    ///
    /// ```
    /// use tenancy_core::{JwtAlgorithm, JwtVerifier};
    ///
    /// let verifier = JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?
    ///     .with_issuer("https://auth.example.com")
    ///     .with_audience("tenancy-api");
    /// assert!(verifier.verify("not.a.token").is_err());
    /// # Ok::<(), tenancy_core::ConfigError>(())
    /// ```
    #[derive(Clone)]
    pub struct JwtVerifier {
        key: DecodingKey,
        validation: Validation,
    }

    impl fmt::Debug for JwtVerifier {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("JwtVerifier")
                .field("algorithms", &self.validation.algorithms)
                .field("iss", &self.validation.iss)
                .field("aud", &self.validation.aud)
                .field("leeway", &self.validation.leeway)
                .finish_non_exhaustive()
        }
    }

    fn to_alg(a: JwtAlgorithm) -> Algorithm {
        match a {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::RS384 => Algorithm::RS384,
            JwtAlgorithm::RS512 => Algorithm::RS512,
            JwtAlgorithm::PS256 => Algorithm::PS256,
            JwtAlgorithm::PS384 => Algorithm::PS384,
            JwtAlgorithm::PS512 => Algorithm::PS512,
            JwtAlgorithm::ES256 => Algorithm::ES256,
            JwtAlgorithm::ES384 => Algorithm::ES384,
            JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }

    impl JwtVerifier {
        fn build(
            key: DecodingKey,
            family: AlgorithmFamily,
            algorithms: &[JwtAlgorithm],
        ) -> Result<Self, ConfigError> {
            if algorithms.is_empty() {
                return Err(ConfigError::Algorithms("no algorithm pinned"));
            }
            let algs: Vec<Algorithm> = algorithms.iter().map(|a| to_alg(*a)).collect();
            if !algs.iter().all(|a| a.family() == family) {
                return Err(ConfigError::Algorithms(
                    "every algorithm must belong to the key's family",
                ));
            }
            let mut validation = Validation::new(algs[0]);
            validation.algorithms = algs;
            validation.set_required_spec_claims(&["exp"]);
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.validate_aud = true;
            validation.leeway = DEFAULT_LEEWAY.as_secs();
            Ok(Self { key, validation })
        }

        /// A verifier for HMAC-signed tokens (`HS256`, `HS384`, `HS512`).
        pub fn hmac(secret: &[u8], algorithms: &[JwtAlgorithm]) -> Result<Self, ConfigError> {
            if secret.len() < 32 {
                return Err(ConfigError::WeakSecret);
            }
            Self::build(
                DecodingKey::from_secret(secret),
                AlgorithmFamily::Hmac,
                algorithms,
            )
        }

        /// A verifier for RSA-signed tokens (`RS*`, `PS*`) with a PEM public key.
        pub fn rsa_pem(pem: &[u8], algorithms: &[JwtAlgorithm]) -> Result<Self, ConfigError> {
            let key = DecodingKey::from_rsa_pem(pem).map_err(|_| ConfigError::Key)?;
            Self::build(key, AlgorithmFamily::Rsa, algorithms)
        }

        /// A verifier for ECDSA-signed tokens (`ES256`, `ES384`) with a PEM public key.
        pub fn ec_pem(pem: &[u8], algorithms: &[JwtAlgorithm]) -> Result<Self, ConfigError> {
            let key = DecodingKey::from_ec_pem(pem).map_err(|_| ConfigError::Key)?;
            Self::build(key, AlgorithmFamily::Ec, algorithms)
        }

        /// A verifier for Ed25519-signed tokens (`EdDSA`) with a PEM public key.
        pub fn ed_pem(pem: &[u8], algorithms: &[JwtAlgorithm]) -> Result<Self, ConfigError> {
            let key = DecodingKey::from_ed_pem(pem).map_err(|_| ConfigError::Key)?;
            Self::build(key, AlgorithmFamily::Ed, algorithms)
        }

        /// Requires `iss` to be present and equal to `issuer` (call again to accept several).
        #[must_use]
        pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
            self.validation
                .iss
                .get_or_insert_with(Default::default)
                .insert(issuer.into());
            self.validation
                .required_spec_claims
                .insert("iss".to_owned());
            self
        }

        /// Requires `aud` to be present and to contain `audience` (call again to accept several).
        #[must_use]
        pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
            self.validation
                .aud
                .get_or_insert_with(Default::default)
                .insert(audience.into());
            self.validation
                .required_spec_claims
                .insert("aud".to_owned());
            self
        }

        /// Clock-skew leeway for `exp` and `nbf` (default 30 s, capped at 300 s).
        #[must_use]
        pub fn with_leeway(mut self, leeway: Duration) -> Self {
            self.validation.leeway = leeway.min(MAX_LEEWAY).as_secs();
            self
        }

        /// The clock-skew leeway, in seconds (for checks of `exp`/`nbf` made outside
        /// [`verify`](Self::verify), such as on a verified-token cache hit).
        pub(crate) fn leeway_secs(&self) -> u64 {
            self.validation.leeway
        }

        /// Verifies `token` (without the `Bearer ` prefix) and returns its claims.
        pub fn verify(&self, token: &str) -> Result<VerifiedClaims, JwtError> {
            if token.is_empty() || token.len() > MAX_TOKEN_LEN {
                return Err(JwtError::Malformed);
            }
            let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
                token,
                &self.key,
                &self.validation,
            )
            .map_err(|e| map_error(e.kind()))?;
            Ok(VerifiedClaims {
                claims: data.claims,
            })
        }
    }

    fn map_error(kind: &ErrorKind) -> JwtError {
        match kind {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => JwtError::BadSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidAlgorithmName => JwtError::AlgorithmNotAllowed,
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
            ErrorKind::InvalidAudience => JwtError::WrongAudience,
            ErrorKind::InvalidSubject => JwtError::InvalidClaim("sub".to_owned()),
            ErrorKind::MissingRequiredClaim(c) => JwtError::MissingClaim(c.clone()),
            ErrorKind::InvalidClaimFormat(c) => JwtError::InvalidClaim(c.clone()),
            _ => JwtError::Malformed,
        }
    }

    /// The bearer token of the request: `None` without an `Authorization` header or with another
    /// scheme; an error when the header is repeated, not visible ASCII, or `Bearer` is empty.
    pub(crate) fn bearer_token<'a>(req: &RequestView<'a>) -> Result<Option<&'a str>, JwtError> {
        let (value, more) = req.first_and_more(&AUTHORIZATION);
        let Some(value) = value else {
            return Ok(None);
        };
        if more {
            return Err(JwtError::Malformed);
        }
        let value = visible_ascii(value).ok_or(JwtError::Malformed)?;
        // Visible ASCII only (and tabs): byte-wise search and ASCII trimming are exact here.
        let (scheme, rest) = match value.bytes().position(|b| b == b' ') {
            Some(i) => (&value[..i], &value[i + 1..]),
            None => (value, ""),
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let token = rest.trim_ascii();
        if token.is_empty() {
            return Err(JwtError::Malformed);
        }
        Ok(Some(token))
    }
}
