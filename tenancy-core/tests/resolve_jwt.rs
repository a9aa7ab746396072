//! Verified JWT claims and bearer authentication (ATTACKS.md E.28).
#![cfg(feature = "jwt")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};
use tenancy_core::{
    AuthenticateError, Authenticator, BearerJwtAuthenticator, ConfigError, JwtAlgorithm,
    JwtClaimResolver, JwtError, JwtVerifier, RequestView, ResolveError, TenantId, TenantKey,
    TenantResolver, UserId,
};

// Test-only keys, generated with `openssl genpkey` for this file.
const RSA_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCc6txhT1+2lsM4\n\
JCdKRLQ5VWUWU8TO9TwbUeGeLqk1Hf/pvSGSlbsk1EbTXwlVcGibsKpo7xLTfCcU\n\
1tTb2FtQy3opJb73AFYMQfLobHZC85bs9juQeO572/mkr1n+sDrQX0Ti6aG6rEMa\n\
CkP/RRJJy65Eghe7iezE51HYUOLRDNc1GZyWeT6efZ30YRM4EiG2AO3oj9VEsf4S\n\
QPLZHQ/eOfD7zmoUuJ5J4RU6B2YR5vS9YgRPb+ilpUlFmBl4m9+U0yhQIYhZhhwE\n\
wOnDwP2loVGnVxAq4/QAcW/C9nvKJp9b505qFB+pduhsbglQ380pHzsw7B5hvLfA\n\
PS4vigClAgMBAAECggEAAuN+I5d0H5BQCMvkYkUrnF7I63VaBLJPuGc61BavtdZD\n\
ytNMJF63xEi/gtTqy9Hm+ki+CYwvIhZuWyXNfNX5vMRfwkhBpycWyAdI9+p5O3T9\n\
aAbSl8k2ILCu7485az5/+RKFgHgRd1y3W1BP9wmYBnFzffgQ6xQLeDngg2IrAfMN\n\
n8G0bGByMRBDo6R49kj1NUe+GyRGJhkGuFHw/trh7fdutr9XWg8Vt2TgHvzRgx0M\n\
299ldeYU64Bx8iUC8bAIB162G+w6TQFPxVWdebJ+1rGUZl+pcsRN85A/CW8Gft5E\n\
p7x3LaEhGIXA8swJ5P8we+Xk2vJOY3LfPBZ0Kmv/QQKBgQDT1q92a8t1kLgEHMMX\n\
ycgq63to4O0ruu5Ev4J9r16Yq+qFlMRd4xmbJULb/gaYj89CwnOmw6rOmtu8J4Z+\n\
543CF/Sidqtt1gq06hBiE0a4usI3Q4ZXaIHVbhJizB7MbrT/JFMPAPNTC20Onqc+\n\
emGOfZp8C1IDF+QlGAoczNqJZQKBgQC9oSoU61s9DAUhgZzmJXMT7X2jvMnjWyat\n\
H3cVU7L9P+Cd2wiKjfsb8+6hfhfDF+XmQniHGCiIA7qMuiKPdWE6RX0vEOOO561F\n\
7cK+pQk3Q+Hqf01pgoM9JRplRcPZb7dIpOrqLzrPC+wxQkiiiPCpyZ9t4QpA8Oc1\n\
A6gylpXGQQKBgBwHGJoDcxzv89jfcVSRZwF+vIpI0Dhr+CBycjJs5IgwnsvjvgNq\n\
C7ZCPNFcj8TZqiN8FM8ork29oXsIg7wAqPnYL47bQp06p5n+KgK/6CiC1TV4oqqn\n\
8h2p/ZbCyQRlVV84kCC5EHiZV2mKxjf2+zdeGPV2jfhIze+2eYgL9pIdAoGAQ/HN\n\
HDXAOT1nUTwZtbTRaOB9Vf+87sOoNfvCNVgKGAedObJTeyGoSbm7VQ3TAco8S6ah\n\
fPZA/4smemnvHCvYrIJdelG412lXgmjQkHKdvLmL5vO6DwX+dBgpPwQiSnRm3ZaJ\n\
vWMy1SDWfkfbsrESWiOuBjbN77rhfPNUftvJyoECgYBb0MdZ2C12spHG43aIezLs\n\
MetL7P2ZqZu6tjU54YnIsQ5/Zk8jG9h0+BpUnN3wGLk0Dkw7xChcWyMHIslbzhW0\n\
kZoQI1zVsBZkI5IHPsudsMwfWluZa3bd0rmeWWIXcOpkRg9cU7AHFIT4mHC3po/R\n\
bhj7UPgr+636qCUtfpIg4w==\n\
-----END PRIVATE KEY-----\n\
";
const RSA_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnOrcYU9ftpbDOCQnSkS0\n\
OVVlFlPEzvU8G1Hhni6pNR3/6b0hkpW7JNRG018JVXBom7CqaO8S03wnFNbU29hb\n\
UMt6KSW+9wBWDEHy6Gx2QvOW7PY7kHjue9v5pK9Z/rA60F9E4umhuqxDGgpD/0US\n\
ScuuRIIXu4nsxOdR2FDi0QzXNRmclnk+nn2d9GETOBIhtgDt6I/VRLH+EkDy2R0P\n\
3jnw+85qFLieSeEVOgdmEeb0vWIET2/opaVJRZgZeJvflNMoUCGIWYYcBMDpw8D9\n\
paFRp1cQKuP0AHFvwvZ7yiafW+dOahQfqXbobG4JUN/NKR87MOweYby3wD0uL4oA\n\
pQIDAQAB\n\
-----END PUBLIC KEY-----\n\
";
const EC_PRIVATE: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDAQ7mFE+diexqq5W\n\
3iVUVu1EcXCS5GpbCSxyoZAz5fqhRANCAASRp52JVZuQ0MhZQ9Pa5PUaWiqvhG3K\n\
7Pr8VzsooVy8ueUxb3XZ0r8jsFR+o3AGbJAzq7UcdGTfkBgu0CFoOByi\n\
-----END PRIVATE KEY-----\n\
";
const EC_PUBLIC: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEkaediVWbkNDIWUPT2uT1Gloqr4Rt\n\
yuz6/Fc7KKFcvLnlMW912dK/I7BUfqNwBmyQM6u1HHRk35AYLtAhaDgcog==\n\
-----END PUBLIC KEY-----\n\
";

const SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";
const ISS: &str = "https://auth.example.test";
const AUD: &str = "tenancy-api";

fn now() -> u64 {
    get_current_timestamp()
}

fn claims(tenant: &str) -> Value {
    json!({
        "sub": UserId::new_random().to_string(),
        "tenant": tenant,
        "iss": ISS,
        "aud": AUD,
        "exp": now() + 600,
        "iat": now(),
    })
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap();
    encode(&Header::new(Algorithm::ES256), claims, &key).unwrap()
}

fn hmac_verifier() -> JwtVerifier {
    JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256])
        .unwrap()
        .with_issuer(ISS)
        .with_audience(AUD)
}

fn rsa_verifier() -> JwtVerifier {
    JwtVerifier::rsa_pem(RSA_PUBLIC.as_bytes(), &[JwtAlgorithm::RS256])
        .unwrap()
        .with_issuer(ISS)
        .with_audience(AUD)
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

fn resolve_with(v: JwtVerifier, token: &str) -> Result<Option<TenantKey>, ResolveError> {
    let r = JwtClaimResolver::new(Arc::new(v), "tenant");
    let h = bearer(token);
    r.resolve(&RequestView::new("/", &h))
}

fn jwt_err(res: Result<Option<TenantKey>, ResolveError>) -> JwtError {
    match res {
        Err(e @ ResolveError::InvalidToken(_)) => {
            assert_eq!(e.status(), 401);
            assert_eq!(e.code(), "invalid_token");
            match e {
                ResolveError::InvalidToken(j) => j,
                _ => unreachable!(),
            }
        }
        other => panic!("expected a 401 token error, got {other:?}"),
    }
}

fn acme() -> Option<TenantKey> {
    Some(TenantKey::Slug("acme".parse().unwrap()))
}

#[test]
fn valid_tokens_select_their_tenant() {
    assert_eq!(
        resolve_with(hmac_verifier(), &hs256(&claims("acme"))).unwrap(),
        acme()
    );
    assert_eq!(
        resolve_with(rsa_verifier(), &rs256(&claims("acme"))).unwrap(),
        acme()
    );
    let ec = JwtVerifier::ec_pem(EC_PUBLIC.as_bytes(), &[JwtAlgorithm::ES256])
        .unwrap()
        .with_issuer(ISS)
        .with_audience(AUD);
    assert_eq!(resolve_with(ec, &es256(&claims("acme"))).unwrap(), acme());
    let id = TenantId::new_random();
    assert_eq!(
        resolve_with(hmac_verifier(), &hs256(&claims(&id.to_string()))).unwrap(),
        Some(TenantKey::Id(id))
    );
}

#[test]
fn alg_none_is_rejected() {
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64url(claims("acme").to_string().as_bytes());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        jwt_err(resolve_with(hmac_verifier(), &token));
        jwt_err(resolve_with(rsa_verifier(), &token));
    }
    let header = b64url(br#"{"alg":"None","typ":"JWT"}"#);
    jwt_err(resolve_with(
        hmac_verifier(),
        &format!("{header}.{payload}."),
    ));
}

#[test]
fn hs_rs_confusion_is_rejected() {
    // Signed HS256 with the RSA *public* key as the HMAC secret.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims("acme"),
        &EncodingKey::from_secret(RSA_PUBLIC.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        jwt_err(resolve_with(rsa_verifier(), &forged)),
        JwtError::AlgorithmNotAllowed
    );
    // And the verifier cannot be configured to accept HS256 with an RSA key.
    assert!(matches!(
        JwtVerifier::rsa_pem(
            RSA_PUBLIC.as_bytes(),
            &[JwtAlgorithm::RS256, JwtAlgorithm::HS256]
        ),
        Err(ConfigError::Algorithms(_))
    ));
    // Other family against the pinned one.
    assert_eq!(
        jwt_err(resolve_with(rsa_verifier(), &es256(&claims("acme")))),
        JwtError::AlgorithmNotAllowed
    );
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &rs256(&claims("acme")))),
        JwtError::AlgorithmNotAllowed
    );
    // A different algorithm of the same family is refused when not pinned.
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims("acme"),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &hs512)),
        JwtError::AlgorithmNotAllowed
    );
}

#[test]
fn registered_claims_are_checked() {
    let mut c = claims("acme");
    c["exp"] = json!(now() - 3600);
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &hs256(&c))),
        JwtError::Expired
    );

    // Within the default leeway (30 s).
    let mut c = claims("acme");
    c["exp"] = json!(now() - 5);
    assert_eq!(resolve_with(hmac_verifier(), &hs256(&c)).unwrap(), acme());
    // No leeway.
    let strict = hmac_verifier().with_leeway(Duration::ZERO);
    let mut c = claims("acme");
    c["exp"] = json!(now() - 5);
    assert_eq!(jwt_err(resolve_with(strict, &hs256(&c))), JwtError::Expired);

    let mut c = claims("acme");
    c["nbf"] = json!(now() + 3600);
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &hs256(&c))),
        JwtError::NotYetValid
    );

    let mut c = claims("acme");
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &hs256(&c))),
        JwtError::MissingClaim("exp".into())
    );

    let mut c = claims("acme");
    c["exp"] = json!("tomorrow");
    jwt_err(resolve_with(hmac_verifier(), &hs256(&c)));

    let mut c = claims("acme");
    c["iss"] = json!("https://evil.example");
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &hs256(&c))),
        JwtError::WrongIssuer
    );
    let mut c = claims("acme");
    c.as_object_mut().unwrap().remove("iss");
    jwt_err(resolve_with(hmac_verifier(), &hs256(&c)));

    let mut c = claims("acme");
    c["aud"] = json!("other-api");
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &hs256(&c))),
        JwtError::WrongAudience
    );
    let mut c = claims("acme");
    c.as_object_mut().unwrap().remove("aud");
    jwt_err(resolve_with(hmac_verifier(), &hs256(&c)));
    // An audience in the token but none configured: refused.
    let no_aud = JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256]).unwrap();
    assert_eq!(
        jwt_err(resolve_with(no_aud, &hs256(&claims("acme")))),
        JwtError::WrongAudience
    );
}

#[test]
fn tenant_claim_is_required_and_validated() {
    let mut c = claims("acme");
    c.as_object_mut().unwrap().remove("tenant");
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &hs256(&c))),
        JwtError::MissingClaim("tenant".into())
    );
    let mut c = claims("acme");
    c["tenant"] = Value::Null;
    jwt_err(resolve_with(hmac_verifier(), &hs256(&c)));
    for bad in [
        json!(42),
        json!(["acme"]),
        json!({"slug": "acme"}),
        json!("ACME"),
        json!("admin"),
        json!(""),
        json!("acme/../globex"),
    ] {
        let mut c = claims("acme");
        c["tenant"] = bad.clone();
        assert_eq!(
            jwt_err(resolve_with(hmac_verifier(), &hs256(&c))),
            JwtError::InvalidClaim("tenant".into()),
            "{bad}"
        );
    }
}

#[test]
fn tampered_tokens_are_rejected() {
    let token = hs256(&claims("acme"));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = b64url(claims("globex").to_string().as_bytes());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &forged)),
        JwtError::BadSignature
    );

    let other_secret = encode(
        &Header::new(Algorithm::HS256),
        &claims("acme"),
        &EncodingKey::from_secret(b"another-secret-that-is-32-bytes-long!"),
    )
    .unwrap();
    assert_eq!(
        jwt_err(resolve_with(hmac_verifier(), &other_secret)),
        JwtError::BadSignature
    );

    let rs = rs256(&claims("acme"));
    let parts: Vec<&str> = rs.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        jwt_err(resolve_with(rsa_verifier(), &forged)),
        JwtError::BadSignature
    );

    for garbage in ["x", "a.b", "a.b.c", "..", "a.b.c.d", &"a".repeat(10_000)] {
        jwt_err(resolve_with(hmac_verifier(), garbage));
    }
}

#[test]
fn authorization_header_shapes() {
    let r = JwtClaimResolver::new(Arc::new(hmac_verifier()), "tenant");
    let run = |h: &HeaderMap| r.resolve(&RequestView::new("/", h));
    assert_eq!(run(&HeaderMap::new()).unwrap(), None);
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Basic dXNlcjpwYXNz"),
    );
    assert_eq!(run(&h).unwrap(), None);
    let token = hs256(&claims("acme"));
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("bearer {token}")).unwrap(),
    );
    assert_eq!(run(&h).unwrap(), acme());
    for bad in ["Bearer", "Bearer ", "Bearer  "] {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static(bad));
        jwt_err(run(&h));
    }
    let mut h = bearer(&token);
    h.append(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    jwt_err(run(&h));
}

#[test]
fn verifier_configuration_errors() {
    assert!(matches!(
        JwtVerifier::hmac(b"short", &[JwtAlgorithm::HS256]),
        Err(ConfigError::WeakSecret)
    ));
    assert!(matches!(
        JwtVerifier::hmac(SECRET, &[]),
        Err(ConfigError::Algorithms(_))
    ));
    assert!(matches!(
        JwtVerifier::hmac(SECRET, &[JwtAlgorithm::RS256]),
        Err(ConfigError::Algorithms(_))
    ));
    assert!(matches!(
        JwtVerifier::rsa_pem(b"not a pem", &[JwtAlgorithm::RS256]),
        Err(ConfigError::Key)
    ));
    assert!(matches!(
        JwtVerifier::ec_pem(EC_PUBLIC.as_bytes(), &[JwtAlgorithm::RS256]),
        Err(ConfigError::Algorithms(_))
    ));
    // Leeway is capped: a token expired an hour ago stays expired.
    let lax = hmac_verifier().with_leeway(Duration::from_secs(86_400));
    let mut c = claims("acme");
    c["exp"] = json!(now() - 3600);
    assert_eq!(jwt_err(resolve_with(lax, &hs256(&c))), JwtError::Expired);
}

#[tokio::test]
async fn bearer_authenticator() {
    let auth = BearerJwtAuthenticator::new(Arc::new(hmac_verifier()));
    let user = UserId::new_random();
    let mut c = claims("acme");
    c["sub"] = json!(user.to_string());
    let h = bearer(&hs256(&c));
    let p = auth
        .authenticate(&RequestView::new("/", &h))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.user_id, user);

    assert!(
        auth.authenticate(&RequestView::new("/", &HeaderMap::new()))
            .await
            .unwrap()
            .is_none()
    );

    for sub in [json!("not-a-uuid"), json!(7), Value::Null] {
        let mut c = claims("acme");
        c["sub"] = sub;
        let h = bearer(&hs256(&c));
        let e = auth
            .authenticate(&RequestView::new("/", &h))
            .await
            .unwrap_err();
        assert!(matches!(e, AuthenticateError::InvalidToken(_)));
        assert_eq!(e.status(), 401);
    }
    let mut c = claims("acme");
    c["exp"] = json!(now() - 3600);
    let h = bearer(&hs256(&c));
    let e = auth
        .authenticate(&RequestView::new("/", &h))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        AuthenticateError::InvalidToken(JwtError::Expired)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn no_token_string_panics(token in any::<String>()) {
        let _ = hmac_verifier().verify(&token);
        let _ = rsa_verifier().verify(&token);
    }

    #[test]
    fn no_structured_token_panics(
        alg in prop::sample::select(vec!["HS256", "RS256", "ES256", "PS256", "EdDSA", "none", "", "hs256"]),
        payload in any::<Vec<u8>>(),
        sig in any::<Vec<u8>>(),
    ) {
        let header = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
        let token = format!("{header}.{}.{}", b64url(&payload), b64url(&sig));
        let ec = JwtVerifier::ec_pem(EC_PUBLIC.as_bytes(), &[JwtAlgorithm::ES256]).unwrap();
        for v in [hmac_verifier(), rsa_verifier(), ec] {
            prop_assert!(v.verify(&token).is_err());
        }
    }

    #[test]
    fn no_authorization_bytes_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let r = JwtClaimResolver::new(Arc::new(hmac_verifier()), "tenant");
        if let Ok(v) = HeaderValue::from_bytes(&bytes) {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, v);
            let _ = r.resolve(&RequestView::new("/", &h));
        }
    }

    #[test]
    fn token_like_inputs_never_verify(h in "[A-Za-z0-9_-]{0,40}", p in "[A-Za-z0-9_-]{0,80}", s in "[A-Za-z0-9_-]{0,43}") {
        let v = hmac_verifier();
        let token = format!("{h}.{p}.{s}");
        prop_assert!(v.verify(&token).is_err());
    }

    #[test]
    fn single_character_changes_never_select_another_tenant(pos in any::<prop::sample::Index>(), c in "[A-Za-z0-9_-]") {
        let token = hs256(&claims("acme"));
        let i = pos.index(token.len());
        let mut bytes = token.clone().into_bytes();
        if token.as_bytes()[i] != b'.' {
            bytes[i] = c.as_bytes()[0];
        }
        let changed = String::from_utf8(bytes).unwrap();
        match resolve_with(hmac_verifier(), &changed) {
            Ok(key) => prop_assert_eq!(key, acme()),
            Err(e) => prop_assert_eq!(e.status(), 401),
        }
    }
}
