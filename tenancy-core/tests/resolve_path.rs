//! Path resolution (ATTACKS.md E.27): exact decoded segment, no encoded slashes or dot segments.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http::HeaderMap;
use proptest::prelude::*;
use tenancy_core::{PathResolver, RequestView, TenantKey, TenantResolver};

fn resolver() -> PathResolver {
    PathResolver::prefix("t").unwrap()
}

#[test]
fn accepted_paths_and_rest() {
    let r = resolver();
    let cases = [
        ("/t/acme", "acme", "/"),
        ("/t/acme/", "acme", "/"),
        ("/t/acme/projects", "acme", "/projects"),
        ("/t/acme/projects/", "acme", "/projects/"),
        ("/t/team-42/a/b%20c", "team-42", "/a/b%20c"),
    ];
    for (path, want, rest) in cases {
        let (slug, got_rest) = r.split(path).unwrap().unwrap_or_else(|| panic!("{path}"));
        assert_eq!(slug.as_str(), want, "{path}");
        assert_eq!(got_rest, rest, "{path}");
    }
    let headers = HeaderMap::new();
    assert_eq!(
        r.resolve(&RequestView::new("/t/acme/x", &headers)).unwrap(),
        Some(TenantKey::Slug("acme".parse().unwrap()))
    );
}

#[test]
fn paths_without_the_prefix_select_nothing() {
    let r = resolver();
    for path in [
        "/",
        "",
        "/about",
        "/tt/acme",
        "/ta/acme",
        "/x/t/acme",
        "*",
        "t/acme",
    ] {
        assert_eq!(r.split(path).unwrap(), None, "{path}");
    }
}

#[test]
fn rejected_paths() {
    let r = resolver();
    let cases = [
        // encoded slashes and backslashes
        "/t/acme%2fevil/x",
        "/t/acme%2Fevil",
        "/t/acme%5cevil",
        "/t/acme\\evil",
        "/t/acme/x%2fy",
        // dot segments, raw and encoded, in and after the tenant segment
        "/t/./acme",
        "/t/../acme",
        "/t/%2e%2e/acme",
        "/t/%2E%2E",
        "/t/.%2e",
        "/t/acme/../globex",
        "/t/acme/./x",
        "/t/acme/%2e%2e/%2e%2e/t/globex",
        "/./t/acme",
        "/x/../t/acme",
        // double slashes
        "//t/acme",
        "/t//acme",
        "/t/acme//x",
        // missing segment
        "/t",
        "/t/",
        // anything that decodes into a different segment
        "/t/%61cme",
        "/t/acm%65/x",
        "/t/acme%00",
        "/t/acme%20",
        "/t/acme%ff",
        // encoded or case-changed prefix
        "/%74/acme",
        "/T/acme",
        // not a slug
        "/t/ACME",
        "/t/ac",
        "/t/-acme",
        "/t/admin",
        "/t/ac_me",
        "/t/acme;x=1",
    ];
    for path in cases {
        let e = r.split(path).expect_err(path);
        assert_eq!(e.status(), 400, "{path}");
    }
}

#[test]
fn prefix_configuration() {
    assert!(PathResolver::prefix("/orgs/").is_ok());
    assert_eq!(
        PathResolver::prefix("/orgs/").unwrap().prefix_segment(),
        "orgs"
    );
    for bad in ["", "/", "a/b", "..", ".", "%74", "a b"] {
        assert!(PathResolver::prefix(bad).is_err(), "{bad:?}");
    }
    let r = PathResolver::prefix("orgs").unwrap();
    assert_eq!(r.split("/orgs/acme/x").unwrap().unwrap().1, "/x");
    assert_eq!(r.split("/t/acme").unwrap(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn no_path_panics(path in any::<String>()) {
        let r = resolver();
        let _ = r.split(&path);
        let _ = r.split(&format!("/t/{path}"));
    }

    #[test]
    fn accepted_segments_are_raw_valid_slugs(path in "/t/[a-zA-Z0-9%./\\\\-]{0,30}") {
        let r = resolver();
        if let Ok(Some((slug, rest))) = r.split(&path) {
            // The accepted slug appears verbatim in the raw path.
            let expected = format!("/t/{}", slug);
            prop_assert!(path.starts_with(&expected));
            prop_assert!(tenancy_core::TenantSlug::parse(slug.as_str()).is_ok());
            prop_assert!(rest.starts_with('/'));
            prop_assert!(!path.contains("%2f") && !path.contains("%2F") && !path.contains('\\'));
            prop_assert!(!path.split('/').any(|s| s == "." || s == ".."));
        }
    }
}
