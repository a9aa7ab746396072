//! `RequestView`'s header accessors over both kinds of source (an `http` 1.x map and a
//! framework's own map through `HeaderSource`): the same answers, duplicates and non-ASCII values
//! included, and the same answers from every resolver and the bearer authenticator.
#![cfg(feature = "jwt")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use http::header::{ACCEPT, AUTHORIZATION, FORWARDED, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tenancy_core::{
    Authenticator, BearerJwtAuthenticator, HeaderResolver, HeaderSource, JwtAlgorithm,
    JwtClaimResolver, JwtVerifier, RequestView, SubdomainResolver, TenantResolver,
};

static X_TENANT: HeaderName = HeaderName::from_static("x-tenant");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// A framework's map, reduced to its essence: (lowercase name, value) pairs in arrival order.
struct Pairs(Vec<(HeaderName, Vec<u8>)>);

impl HeaderSource for Pairs {
    fn nth(&self, name: &str, n: usize) -> Option<&[u8]> {
        self.0
            .iter()
            .filter(|(k, _)| k.as_str() == name)
            .map(|(_, v)| v.as_slice())
            .nth(n)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in &self.0 {
            map.append(k.clone(), HeaderValue::from_bytes(v).unwrap());
        }
        map
    }
}

fn map_of(pairs: &Pairs) -> HeaderMap {
    pairs.to_header_map()
}

fn pairs(list: &[(&HeaderName, &[u8])]) -> Pairs {
    Pairs(
        list.iter()
            .map(|(k, v)| ((*k).clone(), v.to_vec()))
            .collect(),
    )
}

/// Runs `check` on a view of `pairs` through the source and on a view of the same headers as an
/// `http` 1.x map.
fn both(pairs: &Pairs, check: impl Fn(&RequestView<'_>)) {
    let map = map_of(pairs);
    check(&RequestView::new("/", &map));
    let cell = OnceLock::new();
    check(&RequestView::with_header_source("/", pairs, &cell));
}

#[test]
fn first_value_all_values_and_count() {
    let p = pairs(&[
        (&ACCEPT, b"text/html"),
        (&X_TENANT, b"acme"),
        (&ACCEPT, b"*/*"),
        (&ACCEPT, b"application/json"),
    ]);
    both(&p, |view| {
        assert_eq!(view.header(&ACCEPT), Some(&b"text/html"[..]));
        assert_eq!(view.header_str(&X_TENANT), Some("acme"));
        assert_eq!(view.header(&HOST), None);
        let all: Vec<&[u8]> = view.header_values(&ACCEPT).collect();
        assert_eq!(all, [&b"text/html"[..], b"*/*", b"application/json"]);
        assert_eq!(
            view.header_values(&ACCEPT).last(),
            Some(&b"application/json"[..])
        );
        assert_eq!(view.header_values(&HOST).count(), 0);
        assert_eq!(view.header_values(&HOST).last(), None);
        assert_eq!(view.header_count(), 4);
    });
}

#[test]
fn the_values_iterator_is_fused_and_stops_at_the_end() {
    let p = pairs(&[(&X_TENANT, b"a"), (&X_TENANT, b"b")]);
    both(&p, |view| {
        let mut values = view.header_values(&X_TENANT);
        assert_eq!(values.next(), Some(&b"a"[..]));
        assert_eq!(values.next(), Some(&b"b"[..]));
        assert_eq!(values.next(), None);
        assert_eq!(values.next(), None);
        assert_eq!(values.size_hint().0, 0);
    });
}

#[test]
fn names_are_case_insensitive() {
    let p = pairs(&[(&X_TENANT, b"acme")]);
    let shouted = HeaderName::from_bytes(b"X-Tenant").unwrap();
    both(&p, |view| {
        assert_eq!(view.header_str(&shouted), Some("acme"));
    });
}

#[test]
fn non_ascii_values_are_bytes_but_not_text() {
    let p = pairs(&[(&X_TENANT, "café".as_bytes()), (&HOST, b"a\tb")]);
    both(&p, |view| {
        assert_eq!(view.header(&X_TENANT), Some("café".as_bytes()));
        assert_eq!(view.header_str(&X_TENANT), None);
        // A tab is visible ASCII for `HeaderValue::to_str`, and so here.
        assert_eq!(view.header_str(&HOST), Some("a\tb"));
        let map = view.headers();
        assert_eq!(map.get(&X_TENANT).map(|v| v.to_str().is_ok()), Some(false));
    });
}

#[test]
fn headers_copies_once_and_only_when_asked() {
    let p = pairs(&[(&X_TENANT, b"acme"), (&X_TENANT, b"other")]);
    let cell = OnceLock::new();
    let view = RequestView::with_header_source("/x", &p, &cell);
    assert_eq!(view.header_str(&X_TENANT), Some("acme"));
    assert!(HeaderResolver::x_tenant().resolve(&view).is_err());
    assert!(cell.get().is_none(), "the accessors copied the headers");
    let first: *const HeaderMap = view.headers();
    let second: *const HeaderMap = view.headers();
    assert_eq!(first, second);
    assert_eq!(view.headers().get_all(&X_TENANT).iter().count(), 2);
    assert!(format!("{view:?}").contains("headers: 2"));
}

#[test]
fn an_http_map_is_a_source_too() {
    let mut map = HeaderMap::new();
    map.append(&X_TENANT, HeaderValue::from_static("a"));
    map.append(&X_TENANT, HeaderValue::from_static("b"));
    let cell = OnceLock::new();
    let view = RequestView::with_header_source("/", &map, &cell);
    let all: Vec<&[u8]> = view.header_values(&X_TENANT).collect();
    assert_eq!(all, [&b"a"[..], b"b"]);
    assert_eq!(view.headers(), &map);
}

const SECRET: &[u8] = b"a-secret-of-at-least-32-bytes!!!";

fn verifier() -> Arc<JwtVerifier> {
    Arc::new(JwtVerifier::hmac(SECRET, &[JwtAlgorithm::HS256]).unwrap())
}

fn names() -> [HeaderName; 6] {
    [
        HOST,
        X_TENANT.clone(),
        AUTHORIZATION,
        X_FORWARDED_HOST.clone(),
        FORWARDED,
        ACCEPT,
    ]
}

/// Values a client could send: hosts, slugs, bearer tokens, lists, empty, tabs, obs-text.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"acme".to_vec()),
        Just(b"acme.localhost".to_vec()),
        Just(b"ACME.localhost:3000".to_vec()),
        Just(b"evil.localhost".to_vec()),
        Just(b"other.example.com, acme.localhost".to_vec()),
        Just(b"for=1.2.3.4;host=acme.localhost".to_vec()),
        Just(b"host=\"evil.localhost\"".to_vec()),
        Just(b"Bearer abc.def.ghi".to_vec()),
        Just(b"Bearer ".to_vec()),
        Just(b"Basic dXNlcjpwYXNz".to_vec()),
        Just(b"".to_vec()),
        Just(b"a\tb".to_vec()),
        Just("café.localhost".as_bytes().to_vec()),
        Just(b"\xff\xfe".to_vec()),
        proptest::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..12),
    ]
}

fn header_list() -> impl Strategy<Value = Vec<(usize, Vec<u8>)>> {
    proptest::collection::vec((0usize..6, value()), 0..8)
}

proptest! {
    #[test]
    fn both_sources_answer_alike(list in header_list(), authority in any::<bool>(),
                                 trusted in any::<bool>()) {
        let names = names();
        let p = Pairs(list.iter().map(|(i, v)| (names[*i].clone(), v.clone())).collect());
        let map = map_of(&p);
        let cell = OnceLock::new();
        let peer = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let authority = authority.then_some("acme.localhost");
        let a = RequestView::new("/", &map).with_authority(authority).with_peer(peer);
        let b = RequestView::with_header_source("/", &p, &cell)
            .with_authority(authority)
            .with_peer(peer);

        prop_assert_eq!(a.header_count(), b.header_count());
        for name in &names {
            prop_assert_eq!(a.header(name), b.header(name));
            prop_assert_eq!(a.header_str(name), b.header_str(name));
            prop_assert_eq!(
                a.header_values(name).collect::<Vec<_>>(),
                b.header_values(name).collect::<Vec<_>>()
            );
            prop_assert_eq!(a.header_values(name).last(), b.header_values(name).last());
            // The old way of reading, on the map the source would build.
            prop_assert_eq!(
                a.header(name),
                map.get(name).map(HeaderValue::as_bytes)
            );
            prop_assert_eq!(
                a.header_str(name),
                map.get(name).and_then(|v| v.to_str().ok())
            );
        }

        let mut subdomain = SubdomainResolver::new("localhost").unwrap();
        if trusted {
            subdomain = subdomain.trust_forwarded_from([IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        }
        let header = HeaderResolver::x_tenant();
        let jwt = JwtClaimResolver::new(verifier(), "tenant");
        prop_assert_eq!(subdomain.resolve(&a), subdomain.resolve(&b));
        prop_assert_eq!(header.resolve(&a), header.resolve(&b));
        prop_assert_eq!(jwt.resolve(&a), jwt.resolve(&b));
        let bearer = BearerJwtAuthenticator::new(verifier());
        prop_assert_eq!(
            format!("{:?}", bearer.authenticate_now(&a)),
            format!("{:?}", bearer.authenticate_now(&b))
        );
        // None of it copied the headers.
        prop_assert!(cell.get().is_none());
        prop_assert_eq!(b.headers(), &map);
    }
}
