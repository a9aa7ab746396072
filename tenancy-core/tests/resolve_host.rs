//! Subdomain resolution (ATTACKS.md E.26): host normalisation and forwarded headers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;

use http::header::HOST;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use tenancy_core::{
    RequestView, ResolveError, SlugPolicy, SubdomainResolver, TenantKey, TenantResolver,
};

fn resolver() -> SubdomainResolver {
    SubdomainResolver::new("localhost").unwrap()
}

fn host_headers(host: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_str(host).unwrap());
    h
}

fn resolve_host(r: &SubdomainResolver, host: &str) -> Result<Option<TenantKey>, ResolveError> {
    let headers = host_headers(host);
    r.resolve(&RequestView::new("/", &headers))
}

fn slug(s: &str) -> Option<TenantKey> {
    Some(TenantKey::Slug(s.parse().unwrap()))
}

#[test]
fn accepted_hosts_normalise_to_the_label() {
    let r = resolver();
    let cases = [
        ("acme.localhost", "acme"),
        ("ACME.localhost", "acme"),
        ("Acme.LocalHost", "acme"),
        ("acme.localhost:3000", "acme"),
        ("acme.localhost.", "acme"),
        ("acme.localhost.:8080", "acme"),
        ("team-42.localhost", "team-42"),
    ];
    for (host, want) in cases {
        assert_eq!(resolve_host(&r, host).unwrap(), slug(want), "host {host:?}");
    }
}

#[test]
fn apex_and_www_select_no_tenant() {
    let r = resolver();
    for host in [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "localhost:80",
        "www.localhost",
    ] {
        assert_eq!(resolve_host(&r, host).unwrap(), None, "host {host:?}");
    }
    let headers = HeaderMap::new();
    assert_eq!(r.resolve(&RequestView::new("/", &headers)).unwrap(), None);
}

#[test]
fn rejected_hosts() {
    let r = resolver();
    let cases = [
        // other domains and nesting
        "evil.com",
        "acme.localhost.evil.com",
        "a.b.localhost",
        "acme.evil.localhost",
        "evillocalhost",
        "acmelocalhost",
        // trailing dots, empty labels
        "acme.localhost..",
        "acme..localhost",
        ".acme.localhost",
        ".localhost",
        // userinfo, whitespace, separators
        "user@acme.localhost",
        "acme.localhost@evil.com",
        "acme .localhost",
        "acme.localhost/x",
        "acme.localhost\\x",
        "acme%2elocalhost",
        "acme.localhost,evil.localhost",
        // ports
        "acme.localhost:",
        "acme.localhost:abc",
        "acme.localhost:123456",
        "acme.localhost:80:80",
        // IP literals
        "127.0.0.1",
        "[::1]",
        "[::1]:8080",
        // invalid labels
        "-acme.localhost",
        "acme-.localhost",
        "ac_me.localhost",
        "ab.localhost",
        // reserved
        "admin.localhost",
        "api.localhost",
        // idna: punycode that is not valid
        "xn--.localhost",
    ];
    for host in cases {
        assert!(
            resolve_host(&r, host).is_err(),
            "host {host:?} must be rejected"
        );
    }
    let long = format!("{}.localhost", "a".repeat(64));
    assert!(resolve_host(&r, &long).is_err());
    let very_long = format!("{}localhost", "a.".repeat(200));
    assert!(resolve_host(&r, &very_long).is_err());
}

#[test]
fn status_and_codes_are_data() {
    let r = resolver();
    let e = resolve_host(&r, "evil.com").unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(e.code(), "foreign_host");
    let e = resolve_host(&r, "acme.localhost..").unwrap_err();
    assert_eq!(e.code(), "invalid_host");
    let e = resolve_host(&r, "admin.localhost").unwrap_err();
    assert_eq!(e.code(), "invalid_slug");
}

#[test]
fn idna_and_homoglyphs() {
    let r = resolver();
    // Unicode labels go through IDNA: fullwidth letters fold to ASCII.
    assert_eq!(
        r.slug_of_host("ａｃｍｅ.localhost").unwrap(),
        slug("acme").map(|k| match k {
            TenantKey::Slug(s) => s,
            TenantKey::Id(_) => unreachable!(),
        })
    );
    // A Cyrillic `а` homoglyph becomes a distinct punycode label, never `acme`.
    let homoglyph = r.slug_of_host("\u{0430}cme.localhost").unwrap().unwrap();
    assert_ne!(homoglyph.as_str(), "acme");
    assert!(homoglyph.as_str().starts_with("xn--"));
    // Its punycode form resolves to the same slug (normalisation is idempotent).
    assert_eq!(
        r.slug_of_host(&format!("{homoglyph}.localhost"))
            .unwrap()
            .unwrap(),
        homoglyph
    );
    // Code points that map to separators, and non-ASCII whitespace, are rejected.
    assert!(r.slug_of_host("ac\u{FF0F}me.localhost").is_err());
    assert!(r.slug_of_host("ac\u{00A0}me.localhost").is_err());
    assert!(r.slug_of_host("acme\u{FF0E}\u{FF0E}localhost").is_err());
}

#[test]
fn non_ascii_base_domain_is_punycoded() {
    let r = SubdomainResolver::new("bücher.example").unwrap();
    assert_eq!(r.base_domain(), "xn--bcher-kva.example");
    assert!(
        r.slug_of_host("acme.xn--bcher-kva.example")
            .unwrap()
            .is_some()
    );
    assert!(r.slug_of_host("acme.BÜCHER.example").unwrap().is_some());
    assert!(SubdomainResolver::new("localhost:80").is_err());
    assert!(SubdomainResolver::new("a..b").is_err());
    assert!(SubdomainResolver::new("").is_err());
}

#[test]
fn authority_is_used_and_must_match_host_header() {
    let r = resolver();
    let empty = HeaderMap::new();
    let view = RequestView::new("/", &empty).with_authority(Some("acme.localhost:8443"));
    assert_eq!(r.resolve(&view).unwrap(), slug("acme"));

    let same = host_headers("ACME.localhost");
    let view = RequestView::new("/", &same).with_authority(Some("acme.localhost"));
    assert_eq!(r.resolve(&view).unwrap(), slug("acme"));

    let other = host_headers("globex.localhost");
    let view = RequestView::new("/", &other).with_authority(Some("acme.localhost"));
    assert!(r.resolve(&view).is_err());
}

#[test]
fn two_host_headers_are_rejected() {
    let r = resolver();
    let mut h = host_headers("acme.localhost");
    h.append(HOST, HeaderValue::from_static("acme.localhost"));
    let e = r.resolve(&RequestView::new("/", &h)).unwrap_err();
    assert_eq!(e.code(), "duplicate_header");
}

#[test]
fn non_utf8_host_header_is_rejected() {
    let r = resolver();
    let mut h = HeaderMap::new();
    h.insert(
        HOST,
        HeaderValue::from_bytes(b"acme\xff.localhost").unwrap(),
    );
    assert!(r.resolve(&RequestView::new("/", &h)).is_err());
}

const PROXY: &str = "10.0.0.5";

fn forwarded(host: &str, xfh: Option<&str>, fwd: Option<&str>) -> HeaderMap {
    let mut h = host_headers(host);
    if let Some(v) = xfh {
        h.insert("x-forwarded-host", HeaderValue::from_str(v).unwrap());
    }
    if let Some(v) = fwd {
        h.insert("forwarded", HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn forwarded_headers_are_ignored_without_a_trusted_proxy() {
    let untrusting = resolver();
    let trusting = resolver().trust_forwarded_from([PROXY.parse::<IpAddr>().unwrap()]);
    let h = forwarded(
        "acme.localhost",
        Some("globex.localhost"),
        Some("for=1.2.3.4;host=globex.localhost"),
    );
    // No trusted proxy configured: ignored, whoever the peer is.
    let view = RequestView::new("/", &h).with_peer(Some(PROXY.parse().unwrap()));
    assert_eq!(untrusting.resolve(&view).unwrap(), slug("acme"));
    // Proxy configured but the peer is someone else: ignored.
    let view = RequestView::new("/", &h).with_peer(Some("10.9.9.9".parse().unwrap()));
    assert_eq!(trusting.resolve(&view).unwrap(), slug("acme"));
    // Peer unknown: ignored.
    let view = RequestView::new("/", &h);
    assert_eq!(trusting.resolve(&view).unwrap(), slug("acme"));
}

#[test]
fn forwarded_headers_from_a_trusted_proxy_are_used_and_validated() {
    let r = resolver().trust_forwarded_from([PROXY.parse::<IpAddr>().unwrap()]);
    let peer = Some(PROXY.parse().unwrap());

    let h = forwarded("internal:8080", Some("globex.localhost"), None);
    assert_eq!(
        r.resolve(&RequestView::new("/", &h).with_peer(peer))
            .unwrap(),
        slug("globex")
    );

    let h = forwarded(
        "internal:8080",
        None,
        Some("for=1.2.3.4;host=\"globex.localhost:443\";proto=https"),
    );
    assert_eq!(
        r.resolve(&RequestView::new("/", &h).with_peer(peer))
            .unwrap(),
        slug("globex")
    );

    // The last element is the one the adjacent proxy wrote.
    let h = forwarded("internal", Some("evil.localhost, globex.localhost"), None);
    assert_eq!(
        r.resolve(&RequestView::new("/", &h).with_peer(peer))
            .unwrap(),
        slug("globex")
    );

    // IPv4-mapped IPv6 peer address is the same proxy.
    let mapped: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
    let h = forwarded("internal", Some("globex.localhost"), None);
    assert_eq!(
        r.resolve(&RequestView::new("/", &h).with_peer(Some(mapped)))
            .unwrap(),
        slug("globex")
    );

    // Disagreeing forwarded headers.
    let h = forwarded(
        "internal",
        Some("globex.localhost"),
        Some("host=acme.localhost"),
    );
    assert!(
        r.resolve(&RequestView::new("/", &h).with_peer(peer))
            .is_err()
    );

    // A forwarded host is validated like any host.
    for bad in [
        "evil.com",
        "a.b.localhost",
        "acme.localhost.evil.com",
        "x@acme.localhost",
    ] {
        let h = forwarded("acme.localhost", Some(bad), None);
        assert!(
            r.resolve(&RequestView::new("/", &h).with_peer(peer))
                .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn custom_apex_labels_and_policy() {
    let r = resolver()
        .with_apex_labels(["www", "app"])
        .with_slug_policy(SlugPolicy::default().with_reserved(["billing"]));
    assert_eq!(resolve_host(&r, "app.localhost").unwrap(), None);
    assert!(resolve_host(&r, "billing.localhost").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_host_string_panics(host in any::<String>()) {
        let r = resolver();
        let _ = r.slug_of_host(&host);
        let empty = HeaderMap::new();
        let _ = r.resolve(&RequestView::new("/", &empty).with_authority(Some(&host)));
    }

    #[test]
    fn no_host_bytes_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let r = resolver().trust_forwarded_from(["10.0.0.5".parse::<IpAddr>().unwrap()]);
        if let Ok(v) = HeaderValue::from_bytes(&bytes) {
            let mut h = HeaderMap::new();
            h.insert(HOST, v.clone());
            h.insert("x-forwarded-host", v.clone());
            h.insert("forwarded", v);
            let _ = r.resolve(&RequestView::new("/", &h));
            let _ = r.resolve(&RequestView::new("/", &h).with_peer(Some("10.0.0.5".parse().unwrap())));
        }
    }

    #[test]
    fn accepted_hosts_are_one_valid_label_under_base(host in "[a-zA-Z0-9.:@_-]{0,40}") {
        let r = resolver();
        if let Ok(Some(slug)) = r.slug_of_host(&host) {
            prop_assert!(tenancy_core::TenantSlug::parse(slug.as_str()).is_ok());
            let lower = host.to_ascii_lowercase();
            let bare = lower.split(':').next().unwrap().trim_end_matches('.');
            prop_assert_eq!(bare, format!("{}.localhost", slug));
        }
    }

    #[test]
    fn case_port_and_one_trailing_dot_do_not_change_the_result(
        label in "[a-z][a-z0-9-]{1,20}[a-z0-9]",
        port in proptest::option::of(1u16..),
        dot in any::<bool>(),
        upper in any::<bool>(),
    ) {
        let r = resolver();
        let plain = r.slug_of_host(&format!("{label}.localhost")).ok();
        let mut host = format!("{label}.localhost");
        if upper { host = host.to_ascii_uppercase(); }
        if dot { host.push('.'); }
        if let Some(p) = port { host.push_str(&format!(":{p}")); }
        prop_assert_eq!(plain, r.slug_of_host(&host).ok());
    }
}
