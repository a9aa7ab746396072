//! Header resolution and resolver chains (ATTACKS.md E.24, E.25).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tenancy_core::{
    HeaderResolver, PathResolver, RequestView, ResolveError, ResolverChain, Selection, SlugError,
    SubdomainResolver, TenantId, TenantKey, TenantResolver,
};

const X_TENANT: HeaderName = HeaderName::from_static("x-tenant");

fn with_tenant(values: &[&[u8]]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(X_TENANT, HeaderValue::from_bytes(v).unwrap());
    }
    h
}

fn slug(s: &str) -> TenantKey {
    TenantKey::Slug(s.parse().unwrap())
}

#[test]
fn header_values() {
    let r = HeaderResolver::x_tenant();
    let id = TenantId::new_random();
    let id_s = id.to_string();
    let ok: [(&[u8], TenantKey); 3] = [
        (b"acme", slug("acme")),
        (b"team-42", slug("team-42")),
        (id_s.as_bytes(), TenantKey::Id(id)),
    ];
    for (v, want) in ok {
        let h = with_tenant(&[v]);
        assert_eq!(r.resolve(&RequestView::new("/", &h)).unwrap(), Some(want));
    }
    let absent = HeaderMap::new();
    assert_eq!(r.resolve(&RequestView::new("/", &absent)).unwrap(), None);

    let bad: [&[u8]; 10] = [
        b"",
        b"ACME",
        b"ac",
        b"admin",
        b"acme, globex",
        b"acme globex",
        b"acme\xff",
        b"\xe2\x80\x8bacme",
        b"{6f1c1f0e-8d5e-4c53-9d3c-8c7f0b6f2a11}",
        b"../acme",
    ];
    for v in bad {
        let h = with_tenant(&[v]);
        let e = r.resolve(&RequestView::new("/", &h)).unwrap_err();
        assert_eq!(e.status(), 400, "{v:?}");
    }
}

#[test]
fn two_header_values_are_rejected() {
    let r = HeaderResolver::x_tenant();
    let h = with_tenant(&[b"acme", b"globex"]);
    let e = r.resolve(&RequestView::new("/", &h)).unwrap_err();
    assert!(matches!(e, ResolveError::DuplicateHeader { .. }));
    // Even two identical values.
    let h = with_tenant(&[b"acme", b"acme"]);
    assert!(r.resolve(&RequestView::new("/", &h)).is_err());
}

#[test]
fn slugs_only_refuses_ids() {
    let r = HeaderResolver::named("X-Org").unwrap().slugs_only();
    let mut h = HeaderMap::new();
    h.insert(
        "x-org",
        HeaderValue::from_str(&TenantId::new_random().to_string()).unwrap(),
    );
    // No slug has the form of a tenant id: with `slugs_only` an id is refused, not looked up.
    let got = r.resolve(&RequestView::new("/", &h));
    assert!(
        matches!(got, Err(ResolveError::InvalidSlug(SlugError::IdShaped(_)))),
        "{got:?}"
    );
    // Positive control: a slug still selects, and without `slugs_only` the id selects by id.
    h.insert("x-org", HeaderValue::from_static("acme"));
    let got = r.resolve(&RequestView::new("/", &h)).unwrap().unwrap();
    assert_eq!(got, TenantKey::Slug("acme".parse().unwrap()));
    let id = TenantId::new_random();
    h.insert("x-org", HeaderValue::from_str(&id.to_string()).unwrap());
    let r = HeaderResolver::named("X-Org").unwrap();
    assert_eq!(
        r.resolve(&RequestView::new("/", &h)).unwrap(),
        Some(TenantKey::Id(id))
    );
    assert!(HeaderResolver::named("bad header").is_err());
}

fn request(host: &str, header: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_str(host).unwrap());
    if let Some(v) = header {
        h.insert(X_TENANT, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn sub() -> Box<dyn TenantResolver> {
    Box::new(SubdomainResolver::new("localhost").unwrap())
}

fn hdr() -> Box<dyn TenantResolver> {
    Box::new(HeaderResolver::x_tenant())
}

#[test]
fn all_agree_chain() {
    let chain = ResolverChain::all_agree(vec![sub(), hdr()]);
    let run = |h: &HeaderMap, path: &str| chain.select(&RequestView::new(path, h));

    assert_eq!(
        run(&request("acme.localhost", Some("acme")), "/").unwrap(),
        Selection::Key(slug("acme"))
    );
    assert_eq!(
        run(&request("acme.localhost", None), "/").unwrap(),
        Selection::Key(slug("acme"))
    );
    assert_eq!(
        run(&request("localhost", Some("acme")), "/").unwrap(),
        Selection::Key(slug("acme"))
    );
    assert_eq!(
        run(&request("localhost", None), "/").unwrap(),
        Selection::Absent
    );

    let e = run(&request("acme.localhost", Some("globex")), "/").unwrap_err();
    assert!(matches!(e, ResolveError::Conflict { .. }));
    assert_eq!(e.status(), 400);
    assert_eq!(e.code(), "tenant_conflict");

    // Slug from the subdomain, id from the header: left to the pipeline.
    let id = TenantId::new_random();
    let h = request("acme.localhost", Some(&id.to_string()));
    assert_eq!(
        run(&h, "/").unwrap(),
        Selection::SlugAndId {
            slug: "acme".parse().unwrap(),
            id
        }
    );
    // Through `resolve` that case fails closed.
    assert!(chain.resolve(&RequestView::new("/", &h)).is_err());

    // Subdomain A, path B: a clear 400 (E.25).
    let chain = ResolverChain::all_agree(vec![sub()]).with(PathResolver::prefix("t").unwrap());
    let e = chain
        .resolve(&RequestView::new(
            "/t/globex/x",
            &request("acme.localhost", None),
        ))
        .unwrap_err();
    assert!(matches!(e, ResolveError::Conflict { .. }));
}

#[test]
fn first_match_chain_and_fail_closed_errors() {
    let chain = ResolverChain::first_match(vec![hdr(), sub()]);
    let run = |h: &HeaderMap| chain.resolve(&RequestView::new("/", h));
    assert_eq!(
        run(&request("acme.localhost", Some("globex"))).unwrap(),
        Some(slug("globex"))
    );
    assert_eq!(
        run(&request("acme.localhost", None)).unwrap(),
        Some(slug("acme"))
    );
    // A malformed earlier source is an error, not skipped in favour of a later one.
    assert!(run(&request("acme.localhost", Some("NOT VALID"))).is_err());
    // A malformed later source after an earlier match is not read.
    assert_eq!(
        run(&request("a.b.localhost", Some("globex"))).unwrap(),
        Some(slug("globex"))
    );
    // In all-agree mode every source is read, so it is an error.
    let all = ResolverChain::all_agree(vec![hdr(), sub()]);
    assert!(
        all.resolve(&RequestView::new(
            "/",
            &request("a.b.localhost", Some("globex"))
        ))
        .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_header_value_panics(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..3)) {
        let r = ResolverChain::all_agree(vec![hdr(), sub()]);
        let mut h = HeaderMap::new();
        for v in &values {
            if let Ok(v) = HeaderValue::from_bytes(v) {
                h.append(X_TENANT, v.clone());
                h.append(HOST, v);
            }
        }
        let _ = r.select(&RequestView::new("/", &h));
    }

    #[test]
    fn accepted_header_values_are_exact(v in "[ -~]{0,40}") {
        let r = HeaderResolver::x_tenant();
        let mut h = HeaderMap::new();
        if let Ok(hv) = HeaderValue::from_str(&v) {
            h.insert(X_TENANT, hv);
            if let Ok(Some(key)) = r.resolve(&RequestView::new("/", &h)) {
                prop_assert_eq!(key.to_string(), v);
            }
        }
    }
}
