//! Verified JSON Web Tokens: a verifier with pinned algorithms, and the errors it reports.
//!
//! There is deliberately no way to read a token's claims without verifying it: the only road to
//! [`VerifiedClaims`] is [`JwtVerifier::verify`].

use std::fmt;

/// A signature algorithm that a [`JwtVerifier`] may be pinned to.
///
/// Pin every algorithm your issuer may use; they must all fit the key:
///
/// ```
/// # #[cfg(feature = "jwt")] {
/// use tenancy_core::{ConfigError, JwtAlgorithm, JwtVerifier};
/// let secret = b"a-secret-of-at-least-32-bytes!!!";
/// assert!(JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256, JwtAlgorithm::HS512]).is_ok());
/// // An RSA algorithm next to an HMAC secret is refused (the HS/RS confusion attack).
/// let mixed = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256, JwtAlgorithm::RS256]);
/// assert!(matches!(mixed, Err(ConfigError::Algorithms(_))));
/// # }
/// ```
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
///
/// [`JwtVerifier::verify`] returns it:
///
/// ```
/// # #[cfg(feature = "jwt")] {
/// use tenancy_core::{JwtAlgorithm, JwtError, JwtVerifier};
/// # use jsonwebtoken::{encode, EncodingKey, Header};
/// let verifier = JwtVerifier::hmac(b"a-secret-of-at-least-32-bytes!!!", &[JwtAlgorithm::HS256])?;
/// // A token signed with another secret.
/// # let exp = jsonwebtoken::get_current_timestamp() + 600;
/// # let claims = serde_json::json!({ "sub": "alice", "exp": exp });
/// # let key = EncodingKey::from_secret(b"someone-else's-secret-of-32-bytes");
/// # let forged = encode(&Header::default(), &claims, &key)?;
/// let err = verifier.verify(&forged).unwrap_err();
/// assert_eq!(err, JwtError::BadSignature);
/// assert_eq!(err.to_string(), "token signature is invalid");
/// assert_eq!(verifier.verify("not.a.token"), Err(JwtError::Malformed));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// `iss` is not the configured issuer (a token without `iss`, when an issuer is configured,
    /// is [`MissingClaim`](Self::MissingClaim)).
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` is not the configured audience, or present when no audience is configured (a token
    /// without `aud`, when an audience is configured, is [`MissingClaim`](Self::MissingClaim)).
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
    ///
    /// For an error body that clients can branch on (the message may change, the code does not):
    ///
    /// ```
    /// use tenancy_core::JwtError;
    /// let err = JwtError::MissingClaim("tenant".into());
    /// let body = serde_json::json!({ "error": err.code(), "message": err.to_string() });
    /// assert_eq!(body["error"], "token_claim_missing");
    /// assert_eq!(body["message"], "token claim `tenant` is missing");
    /// assert_eq!(JwtError::Expired.code(), "token_expired");
    /// ```
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
///
/// ```
/// # #[cfg(feature = "jwt")] {
/// use tenancy_core::{JwtAlgorithm, JwtVerifier};
/// # use jsonwebtoken::{encode, EncodingKey, Header};
/// let secret = b"a-secret-of-at-least-32-bytes!!!";
/// let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
/// // A token with `sub`, `exp` and a custom `tenant` claim.
/// # let exp = jsonwebtoken::get_current_timestamp() + 600;
/// # let claims = serde_json::json!({ "sub": "alice", "exp": exp, "tenant": "acme" });
/// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
/// let claims = verifier.verify(&token)?;
/// assert_eq!(claims.subject(), Some("alice"));
/// assert_eq!(claims.str_claim("tenant")?, "acme");
/// // Debug output names the claims but never shows their values.
/// assert!(!format!("{claims:?}").contains("alice"));
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct VerifiedClaims {
    claims: serde_json::Map<String, serde_json::Value>,
}

impl VerifiedClaims {
    /// The `sub` claim, if it is a string.
    ///
    /// ```
    /// # #[cfg(feature = "jwt")] {
    /// # use tenancy_core::{JwtAlgorithm, JwtVerifier};
    /// # use jsonwebtoken::{encode, EncodingKey, Header};
    /// # let secret = b"a-secret-of-at-least-32-bytes!!!";
    /// # let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
    /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
    /// # let claims = serde_json::json!({ "sub": "alice", "exp": exp });
    /// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
    /// // `token` carries `"sub": "alice"`.
    /// let claims = verifier.verify(&token)?;
    /// assert_eq!(claims.subject(), Some("alice"));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(serde_json::Value::as_str)
    }

    /// A claim by name.
    ///
    /// ```
    /// # #[cfg(feature = "jwt")] {
    /// # use tenancy_core::{JwtAlgorithm, JwtVerifier};
    /// # use jsonwebtoken::{encode, EncodingKey, Header};
    /// # let secret = b"a-secret-of-at-least-32-bytes!!!";
    /// # let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
    /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
    /// # let scopes = ["read", "write"];
    /// # let claims = serde_json::json!({ "sub": "alice", "exp": exp, "scopes": scopes });
    /// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
    /// // `token` carries `"scopes": ["read", "write"]`.
    /// let claims = verifier.verify(&token)?;
    /// let scopes = claims.get("scopes").and_then(|v| v.as_array()).unwrap();
    /// assert!(scopes.iter().any(|s| s == "write"));
    /// assert!(claims.get("email").is_none());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.claims.get(name)
    }

    /// A string claim by name: `Err(MissingClaim)` when absent, `Err(InvalidClaim)` when not a
    /// string.
    ///
    /// ```
    /// # #[cfg(feature = "jwt")] {
    /// # use tenancy_core::{JwtAlgorithm, JwtError, JwtVerifier};
    /// # use jsonwebtoken::{encode, EncodingKey, Header};
    /// # let secret = b"a-secret-of-at-least-32-bytes!!!";
    /// # let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
    /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
    /// # let claims = serde_json::json!({ "sub": "a", "exp": exp, "tenant": "acme", "org": 7 });
    /// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
    /// // `token` carries `"tenant": "acme"` and `"org": 7`.
    /// let claims = verifier.verify(&token)?;
    /// assert_eq!(claims.str_claim("tenant")?, "acme");
    /// assert_eq!(claims.str_claim("org"), Err(JwtError::InvalidClaim("org".into())));
    /// assert_eq!(claims.str_claim("email"), Err(JwtError::MissingClaim("email".into())));
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn str_claim(&self, name: &str) -> Result<&str, JwtError> {
        match self.claims.get(name) {
            None | Some(serde_json::Value::Null) => Err(JwtError::MissingClaim(name.to_owned())),
            Some(v) => v
                .as_str()
                .ok_or_else(|| JwtError::InvalidClaim(name.to_owned())),
        }
    }

    /// All claims.
    ///
    /// ```
    /// # #[cfg(feature = "jwt")] {
    /// # use tenancy_core::{JwtAlgorithm, JwtVerifier};
    /// # use jsonwebtoken::{encode, EncodingKey, Header};
    /// # let secret = b"a-secret-of-at-least-32-bytes!!!";
    /// # let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
    /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
    /// # let claims = serde_json::json!({ "sub": "alice", "exp": exp, "tenant": "acme" });
    /// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
    /// // `token` carries `sub`, `exp` and `tenant`.
    /// let claims = verifier.verify(&token)?;
    /// let mut names: Vec<&str> = claims.as_map().keys().map(String::as_str).collect();
    /// names.sort();
    /// assert_eq!(names, ["exp", "sub", "tenant"]);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        ///
        /// ```
        /// use tenancy_core::{ConfigError, JwtAlgorithm, JwtVerifier};
        /// // In production the secret comes from configuration, never from the source.
        /// let secret = b"a-secret-of-at-least-32-bytes!!!";
        /// assert!(JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256]).is_ok());
        /// let short = JwtVerifier::hmac(b"hunter2", &[JwtAlgorithm::HS256]);
        /// assert!(matches!(short, Err(ConfigError::WeakSecret)));
        /// ```
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
        ///
        /// ```
        /// use tenancy_core::{ConfigError, JwtAlgorithm, JwtVerifier};
        /// // `RSA_PUBLIC_PEM`: the identity provider's public key (`-----BEGIN PUBLIC KEY-----`).
        /// # const RSA_PUBLIC_PEM: &[u8] = b"-----BEGIN PUBLIC KEY-----
        /// # MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnOrcYU9ftpbDOCQnSkS0
        /// # OVVlFlPEzvU8G1Hhni6pNR3/6b0hkpW7JNRG018JVXBom7CqaO8S03wnFNbU29hb
        /// # UMt6KSW+9wBWDEHy6Gx2QvOW7PY7kHjue9v5pK9Z/rA60F9E4umhuqxDGgpD/0US
        /// # ScuuRIIXu4nsxOdR2FDi0QzXNRmclnk+nn2d9GETOBIhtgDt6I/VRLH+EkDy2R0P
        /// # 3jnw+85qFLieSeEVOgdmEeb0vWIET2/opaVJRZgZeJvflNMoUCGIWYYcBMDpw8D9
        /// # paFRp1cQKuP0AHFvwvZ7yiafW+dOahQfqXbobG4JUN/NKR87MOweYby3wD0uL4oA
        /// # pQIDAQAB
        /// # -----END PUBLIC KEY-----
        /// # ";
        /// let pinned = [JwtAlgorithm::RS256, JwtAlgorithm::PS256];
        /// assert!(JwtVerifier::rsa_pem(RSA_PUBLIC_PEM, &pinned).is_ok());
        /// // A public key can never be used as an HMAC secret.
        /// let confused = JwtVerifier::rsa_pem(RSA_PUBLIC_PEM, &[JwtAlgorithm::HS256]);
        /// assert!(matches!(confused, Err(ConfigError::Algorithms(_))));
        /// let garbage = JwtVerifier::rsa_pem(b"not a key", &[JwtAlgorithm::RS256]);
        /// assert!(matches!(garbage, Err(ConfigError::Key)));
        /// ```
        pub fn rsa_pem(pem: &[u8], algorithms: &[JwtAlgorithm]) -> Result<Self, ConfigError> {
            let key = DecodingKey::from_rsa_pem(pem).map_err(|_| ConfigError::Key)?;
            Self::build(key, AlgorithmFamily::Rsa, algorithms)
        }

        /// A verifier for ECDSA-signed tokens (`ES256`, `ES384`) with a PEM public key.
        ///
        /// ```
        /// use tenancy_core::{JwtAlgorithm, JwtVerifier};
        /// # use jsonwebtoken::{encode, EncodingKey, Header};
        /// const EC_PUBLIC_PEM: &[u8] = b"-----BEGIN PUBLIC KEY-----
        /// MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkaediVWbkNDIWUPT2uT1Gloqr4Rt
        /// yuz6/Fc7KKFcvLnlMW912dK/I7BUfqNwBmyQM6u1HHRk35AYLtAhaDgcog==
        /// -----END PUBLIC KEY-----";
        /// let verifier = JwtVerifier::ec_pem(EC_PUBLIC_PEM, &[JwtAlgorithm::ES256])?;
        /// # const EC_PRIVATE_PEM: &[u8] = b"-----BEGIN PRIVATE KEY-----
        /// # MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDAQ7mFE+diexqq5W
        /// # 3iVUVu1EcXCS5GpbCSxyoZAz5fqhRANCAASRp52JVZuQ0MhZQ9Pa5PUaWiqvhG3K
        /// # 7Pr8VzsooVy8ueUxb3XZ0r8jsFR+o3AGbJAzq7UcdGTfkBgu0CFoOByi
        /// # -----END PRIVATE KEY-----";
        /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
        /// # let claims = serde_json::json!({ "sub": "alice", "exp": exp });
        /// # let header = Header::new(jsonwebtoken::Algorithm::ES256);
        /// # let token = encode(&header, &claims, &EncodingKey::from_ec_pem(EC_PRIVATE_PEM)?)?;
        /// // `token`: an ES256 token signed with the matching private key.
        /// assert_eq!(verifier.verify(&token)?.subject(), Some("alice"));
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn ec_pem(pem: &[u8], algorithms: &[JwtAlgorithm]) -> Result<Self, ConfigError> {
            let key = DecodingKey::from_ec_pem(pem).map_err(|_| ConfigError::Key)?;
            Self::build(key, AlgorithmFamily::Ec, algorithms)
        }

        /// A verifier for Ed25519-signed tokens (`EdDSA`) with a PEM public key.
        ///
        /// ```
        /// use tenancy_core::{ConfigError, JwtAlgorithm, JwtVerifier};
        /// const ED_PUBLIC_PEM: &[u8] = b"-----BEGIN PUBLIC KEY-----
        /// MCowBQYDK2VwAyEAjR2Ad4rddlnLJb9kT6LrOWsudemrrwmdCy7/LAZRZRA=
        /// -----END PUBLIC KEY-----";
        /// assert!(JwtVerifier::ed_pem(ED_PUBLIC_PEM, &[JwtAlgorithm::EdDSA]).is_ok());
        /// let ecdsa = JwtVerifier::ed_pem(ED_PUBLIC_PEM, &[JwtAlgorithm::ES256]);
        /// assert!(matches!(ecdsa, Err(ConfigError::Algorithms(_))));
        /// ```
        pub fn ed_pem(pem: &[u8], algorithms: &[JwtAlgorithm]) -> Result<Self, ConfigError> {
            let key = DecodingKey::from_ed_pem(pem).map_err(|_| ConfigError::Key)?;
            Self::build(key, AlgorithmFamily::Ed, algorithms)
        }

        /// Requires `iss` to be present and equal to `issuer` (call again to accept several).
        ///
        /// ```
        /// use tenancy_core::{JwtAlgorithm, JwtError, JwtVerifier};
        /// # use jsonwebtoken::{encode, EncodingKey, Header};
        /// let secret = b"a-secret-of-at-least-32-bytes!!!";
        /// let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?
        ///     .with_issuer("https://auth.example.com")
        ///     .with_issuer("https://auth.example.org");
        /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
        /// # let key = EncodingKey::from_secret(secret);
        /// # let issued_by = |iss: &str| {
        /// #     let claims = serde_json::json!({ "sub": "alice", "exp": exp, "iss": iss });
        /// #     encode(&Header::default(), &claims, &key).unwrap()
        /// # };
        /// // `issued_by(iss)`: a token with that `iss` claim.
        /// assert!(verifier.verify(&issued_by("https://auth.example.org")).is_ok());
        /// let err = verifier.verify(&issued_by("https://evil.example")).unwrap_err();
        /// assert_eq!(err, JwtError::WrongIssuer);
        /// # let no_iss = serde_json::json!({ "sub": "alice", "exp": exp });
        /// # let no_iss = encode(&Header::default(), &no_iss, &key)?;
        /// // `no_iss`: a token without `iss`.
        /// let err = verifier.verify(&no_iss).unwrap_err();
        /// assert_eq!(err, JwtError::MissingClaim("iss".into()));
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
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
        ///
        /// ```
        /// use tenancy_core::{JwtAlgorithm, JwtError, JwtVerifier};
        /// # use jsonwebtoken::{encode, EncodingKey, Header};
        /// let secret = b"a-secret-of-at-least-32-bytes!!!";
        /// let verifier =
        ///     JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?.with_audience("tenancy-api");
        /// # let exp = jsonwebtoken::get_current_timestamp() + 600;
        /// # let key = EncodingKey::from_secret(secret);
        /// # let for_audience = |aud: serde_json::Value| {
        /// #     let claims = serde_json::json!({ "sub": "alice", "exp": exp, "aud": aud });
        /// #     encode(&Header::default(), &claims, &key).unwrap()
        /// # };
        /// // `for_audience(aud)`: a token with that `aud` claim.
        /// assert!(verifier.verify(&for_audience("tenancy-api".into())).is_ok());
        /// let both = serde_json::json!(["billing", "tenancy-api"]);
        /// assert!(verifier.verify(&for_audience(both)).is_ok());
        /// let err = verifier.verify(&for_audience("billing".into())).unwrap_err();
        /// assert_eq!(err, JwtError::WrongAudience);
        /// # let no_aud = serde_json::json!({ "sub": "alice", "exp": exp });
        /// # let no_aud = encode(&Header::default(), &no_aud, &key)?;
        /// // `no_aud`: a token without `aud`.
        /// let err = verifier.verify(&no_aud).unwrap_err();
        /// assert_eq!(err, JwtError::MissingClaim("aud".into()));
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
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
        ///
        /// ```
        /// use std::time::Duration;
        /// use tenancy_core::{JwtAlgorithm, JwtError, JwtVerifier};
        /// # use jsonwebtoken::{encode, EncodingKey, Header};
        /// let secret = b"a-secret-of-at-least-32-bytes!!!";
        /// let strict = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
        /// let lenient = strict.clone().with_leeway(Duration::from_secs(120));
        /// # let exp = jsonwebtoken::get_current_timestamp() - 60;
        /// # let claims = serde_json::json!({ "sub": "alice", "exp": exp });
        /// # let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
        /// // `token` expired a minute ago.
        /// assert_eq!(strict.verify(&token).unwrap_err(), JwtError::Expired);
        /// assert!(lenient.verify(&token).is_ok());
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
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
        ///
        /// ```
        /// use tenancy_core::{JwtAlgorithm, JwtError, JwtVerifier};
        /// use jsonwebtoken::{encode, EncodingKey, Header};
        /// let secret = b"a-secret-of-at-least-32-bytes!!!";
        /// let verifier = JwtVerifier::hmac(secret, &[JwtAlgorithm::HS256])?;
        ///
        /// // What the identity provider issues.
        /// let exp = jsonwebtoken::get_current_timestamp() + 600;
        /// let claims = serde_json::json!({ "sub": "alice", "exp": exp, "tenant": "acme" });
        /// let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret))?;
        ///
        /// let verified = verifier.verify(&token)?;
        /// assert_eq!(verified.str_claim("tenant")?, "acme");
        /// // Tokens without `exp`, or signed with a pinned-out algorithm, are refused.
        /// let forever = serde_json::json!({ "sub": "alice" });
        /// let token = encode(&Header::default(), &forever, &EncodingKey::from_secret(secret))?;
        /// assert_eq!(verifier.verify(&token).unwrap_err(), JwtError::MissingClaim("exp".into()));
        /// let header = Header::new(jsonwebtoken::Algorithm::HS512);
        /// let hs512 = encode(&header, &claims, &EncodingKey::from_secret(secret))?;
        /// assert_eq!(verifier.verify(&hs512).unwrap_err(), JwtError::AlgorithmNotAllowed);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
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
