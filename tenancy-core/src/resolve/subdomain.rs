//! Tenant selection by subdomain: `acme.example.com` selects `acme`.

use std::net::IpAddr;

use http::HeaderName;
use http::header::{FORWARDED, HOST};

use super::{ConfigError, ResolveError, TenantResolver, shown, single_header};
use crate::request::visible_ascii;
use crate::{RequestView, SlugPolicy, TenantKey, TenantSlug};

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Longest raw host accepted before any processing (a DNS name is at most 253 bytes, plus a port).
const MAX_RAW_HOST: usize = 260;

/// Selects a tenant by the single DNS label in front of a configured base domain.
///
/// Normalisation, in this order: the port is removed (it must be 1 to 5 digits), ONE trailing dot
/// is removed, then the name goes through IDNA (UTS #46, strict STD3 rules, DNS length checks):
/// upper case is folded, non-ASCII labels become punycode (`xn--...`) and invalid names are
/// rejected. The result must then be
///
/// * the base domain itself (the apex) or `www.` + base: `Ok(None)`, no tenant selected;
///   the apex labels are configurable with [`with_apex_labels`](Self::with_apex_labels);
/// * exactly one label under the base domain, which must parse as a [`TenantSlug`] (reserved
///   names are errors): `Ok(Some(TenantKey::Slug(..)))`;
/// * anything else (another domain, `a.b.base`, an IP literal): [`ResolveError::ForeignHost`].
///
/// Userinfo (`@`), whitespace, control characters, `%`, `/`, `\`, empty labels, two trailing
/// dots and over-long names are [`ResolveError::MalformedHost`]. A homoglyph label (Cyrillic
/// `а` in `аcme`) becomes a distinct punycode slug and never selects `acme`.
///
/// The host is the request's URI authority (HTTP/2 `:authority`) or its single `Host` header;
/// when both are present they must agree. No host at all is `Ok(None)`.
///
/// Forwarded hosts (`X-Forwarded-Host`, `Forwarded: host=`) are read only when the resolver was
/// built with [`trust_forwarded_from`](Self::trust_forwarded_from) and the TCP peer is one of
/// those proxies; otherwise they are ignored. With a trusted peer the LAST element of each
/// header is used (the one the adjacent proxy appended); if both headers are present they must
/// agree. The trusted proxy must set or strip both headers.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::HOST};
/// use tenancy_core::{RequestView, SubdomainResolver, TenantKey, TenantResolver};
///
/// let resolver = SubdomainResolver::new("example.com")?;
/// let mut headers = HeaderMap::new();
/// headers.insert(HOST, HeaderValue::from_static("ACME.Example.com.:8443"));
/// let key = resolver.resolve(&RequestView::new("/", &headers))?;
/// assert_eq!(key, Some(TenantKey::Slug("acme".parse()?)));
///
/// headers.insert(HOST, HeaderValue::from_static("acme.example.com.evil.net"));
/// assert!(resolver.resolve(&RequestView::new("/", &headers)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SubdomainResolver {
    base: String,
    apex_labels: Vec<String>,
    policy: SlugPolicy,
    trusted_proxies: Vec<IpAddr>,
}

impl SubdomainResolver {
    /// A resolver for tenants under `base_domain` (for example `example.com`, `localhost`).
    ///
    /// The base domain is normalised like a request host; it may not carry a port.
    ///
    /// ```
    /// use tenancy_core::SubdomainResolver;
    ///
    /// let resolver = SubdomainResolver::new("Example.COM.")?;
    /// assert_eq!(resolver.base_domain(), "example.com");
    /// assert_eq!(resolver.slug_of_host("acme.example.com")?.unwrap().as_str(), "acme");
    /// assert!(SubdomainResolver::new("example.com:443").is_err()); // no port
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(base_domain: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BaseDomain(shown(base_domain));
        if base_domain.contains(':') {
            return Err(bad());
        }
        let base = normalize_host(base_domain).map_err(|_| bad())?;
        Ok(Self {
            base,
            apex_labels: vec!["www".to_owned()],
            policy: SlugPolicy::default(),
            trusted_proxies: Vec::new(),
        })
    }

    /// Reads forwarded hosts when (and only when) the TCP peer is one of `proxies`.
    ///
    /// IPv4-mapped IPv6 addresses are compared as IPv4.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use http::{HeaderMap, HeaderValue, header::HOST};
    /// use tenancy_core::{RequestView, SubdomainResolver, TenantResolver};
    ///
    /// let proxy = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    /// let resolver = SubdomainResolver::new("example.com")?.trust_forwarded_from([proxy]);
    /// let mut headers = HeaderMap::new();
    /// headers.insert(HOST, HeaderValue::from_static("backend.internal"));
    /// headers.insert("x-forwarded-host", HeaderValue::from_static("acme.example.com"));
    ///
    /// let via_proxy = RequestView::new("/", &headers).with_peer(Some(proxy));
    /// assert_eq!(resolver.resolve(&via_proxy)?.unwrap().to_string(), "acme");
    /// // From any other peer the forwarded host is ignored, and `Host` is not a tenant host.
    /// let direct = RequestView::new("/", &headers).with_peer(Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9))));
    /// assert!(resolver.resolve(&direct).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn trust_forwarded_from<I>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = IpAddr>,
    {
        self.trusted_proxies
            .extend(proxies.into_iter().map(|ip| ip.to_canonical()));
        self
    }

    /// Labels that address the apex site rather than a tenant (default: `www`).
    ///
    /// ```
    /// use tenancy_core::SubdomainResolver;
    ///
    /// let resolver = SubdomainResolver::new("example.com")?.with_apex_labels(["www", "home"]);
    /// assert_eq!(resolver.slug_of_host("home.example.com")?, None); // the marketing site
    /// assert_eq!(resolver.slug_of_host("acme.example.com")?.unwrap().as_str(), "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_apex_labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.apex_labels = labels
            .into_iter()
            .map(|s| s.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// The slug policy labels must pass (default: [`SlugPolicy::default`]).
    ///
    /// ```
    /// use tenancy_core::{SlugPolicy, SubdomainResolver};
    ///
    /// let resolver = SubdomainResolver::new("example.com")?
    ///     .with_slug_policy(SlugPolicy::default().with_reserved(["billing"]));
    /// assert!(resolver.slug_of_host("billing.example.com").is_err());
    /// assert!(resolver.slug_of_host("acme.example.com").is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_slug_policy(mut self, policy: SlugPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The normalised base domain.
    ///
    /// ```
    /// use tenancy_core::SubdomainResolver;
    /// assert_eq!(SubdomainResolver::new("APP.Example.com")?.base_domain(), "app.example.com");
    /// # Ok::<(), tenancy_core::ConfigError>(())
    /// ```
    pub fn base_domain(&self) -> &str {
        &self.base
    }

    /// The tenant slug a raw host names: the pure host part of [`resolve`](TenantResolver::resolve).
    ///
    /// ```
    /// use tenancy_core::SubdomainResolver;
    /// let r = SubdomainResolver::new("localhost")?;
    /// assert_eq!(r.slug_of_host("acme.localhost")?.unwrap().as_str(), "acme");
    /// assert_eq!(r.slug_of_host("localhost")?, None);
    /// assert!(r.slug_of_host("a.b.localhost").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn slug_of_host(&self, raw: &str) -> Result<Option<TenantSlug>, ResolveError> {
        let host = normalize_host(raw)?;
        self.slug_of_normalized(&host)
    }

    fn slug_of_normalized(&self, host: &str) -> Result<Option<TenantSlug>, ResolveError> {
        if host == self.base {
            return Ok(None);
        }
        let foreign = || ResolveError::ForeignHost { host: shown(host) };
        let label = host
            .strip_suffix(self.base.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .ok_or_else(foreign)?;
        if label.is_empty() || label.contains('.') {
            return Err(foreign());
        }
        if self.apex_labels.iter().any(|a| a == label) {
            return Ok(None);
        }
        self.policy
            .parse(label)
            .map(Some)
            .map_err(ResolveError::InvalidSlug)
    }

    fn peer_is_trusted(&self, req: &RequestView<'_>) -> bool {
        match req.peer() {
            Some(peer) if !self.trusted_proxies.is_empty() => {
                let peer = peer.to_canonical();
                self.trusted_proxies.contains(&peer)
            }
            _ => false,
        }
    }

    /// The normalised host of the request, if it has one.
    fn request_host(&self, req: &RequestView<'_>) -> Result<Option<String>, ResolveError> {
        if self.peer_is_trusted(req)
            && let Some(forwarded) = forwarded_host(req)?
        {
            return normalize_host(forwarded).map(Some);
        }
        let header = single_header(req, &HOST)?;
        match (req.authority(), header) {
            (None, None) => Ok(None),
            (Some(h), None) | (None, Some(h)) => normalize_host(h).map(Some),
            (Some(authority), Some(host)) => {
                let a = normalize_host(authority)?;
                let h = normalize_host(host)?;
                if a == h {
                    Ok(Some(a))
                } else {
                    Err(ResolveError::MalformedHost {
                        host: shown(host),
                        reason: "the authority and the host header differ",
                    })
                }
            }
        }
    }
}

impl TenantResolver for SubdomainResolver {
    fn resolve(&self, req: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> {
        match self.request_host(req)? {
            None => Ok(None),
            Some(host) => Ok(self.slug_of_normalized(&host)?.map(TenantKey::Slug)),
        }
    }
}

/// The forwarded host set by the adjacent (trusted) proxy, from the last element of
/// `X-Forwarded-Host` and of `Forwarded`; both present and different is an error.
fn forwarded_host<'a>(req: &RequestView<'a>) -> Result<Option<&'a str>, ResolveError> {
    let last_value = |name: &HeaderName| -> Result<Option<&'a str>, ResolveError> {
        match req.header_values(name).last() {
            None => Ok(None),
            Some(v) => visible_ascii(v)
                .map(Some)
                .ok_or_else(|| ResolveError::MalformedHeader { name: name.clone() }),
        }
    };
    let xfh = last_value(&X_FORWARDED_HOST)?
        .map(|v| v.rsplit(',').next().unwrap_or(v).trim())
        .filter(|v| !v.is_empty());
    let fwd = match last_value(&FORWARDED)? {
        None => None,
        Some(v) => {
            let element = v.rsplit(',').next().unwrap_or(v);
            element.split(';').find_map(|pair| {
                let (k, val) = pair.split_once('=')?;
                if !k.trim().eq_ignore_ascii_case("host") {
                    return None;
                }
                let val = val.trim();
                Some(
                    val.strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .unwrap_or(val),
                )
            })
        }
    };
    match (xfh, fwd) {
        (Some(a), Some(b)) => {
            if normalize_host(a)? == normalize_host(b)? {
                Ok(Some(a))
            } else {
                Err(ResolveError::MalformedHost {
                    host: shown(b),
                    reason: "forwarded headers name different hosts",
                })
            }
        }
        (a, b) => Ok(a.or(b)),
    }
}

/// Normalises a raw host (with optional port) to lowercase ASCII (punycode), without port and
/// without one trailing dot.
pub(crate) fn normalize_host(raw: &str) -> Result<String, ResolveError> {
    let malformed = |reason: &'static str| ResolveError::MalformedHost {
        host: shown(raw),
        reason,
    };
    if raw.is_empty() {
        return Err(malformed("empty"));
    }
    if raw.len() > MAX_RAW_HOST {
        return Err(malformed("too long"));
    }
    if raw.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | '\\' | '%' | '?' | '#' | ',')
    }) {
        return Err(malformed("forbidden character"));
    }
    if raw.starts_with('[') {
        return Err(ResolveError::ForeignHost { host: shown(raw) });
    }
    let name = match raw.rsplit_once(':') {
        None => raw,
        Some((name, port)) => {
            if port.is_empty()
                || port.len() > 5
                || !port.bytes().all(|b| b.is_ascii_digit())
                || name.contains(':')
            {
                return Err(malformed("invalid port"));
            }
            name
        }
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.ends_with('.') || name.starts_with('.') || name.contains("..") {
        return Err(malformed("empty label"));
    }
    let ascii = idna::domain_to_ascii_strict(name).map_err(|_| malformed("invalid name"))?;
    // Defence in depth: what IDNA returns must be plain LDH labels.
    if ascii.is_empty()
        || ascii.len() > 253
        || ascii.split('.').any(|l| {
            l.is_empty()
                || l.len() > 63
                || !l
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    {
        return Err(malformed("invalid name"));
    }
    if ascii
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        // An IPv4 literal.
        return Err(ResolveError::ForeignHost { host: ascii });
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(normalize_host("ACME.localhost").unwrap(), "acme.localhost");
        assert_eq!(normalize_host("acme.localhost.").unwrap(), "acme.localhost");
        assert_eq!(
            normalize_host("acme.localhost.:3000").unwrap(),
            "acme.localhost"
        );
        assert!(normalize_host("acme.localhost..").is_err());
        assert!(normalize_host("127.0.0.1").is_err());
        assert!(normalize_host("[::1]:80").is_err());
    }
}
