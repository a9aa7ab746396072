//! The framework-neutral view of an incoming request that resolvers and authenticators read.

use std::fmt;
use std::iter::FusedIterator;
use std::net::IpAddr;
use std::sync::OnceLock;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue, ValueIter};

/// Request headers kept by a framework in its own types, read by a [`RequestView`] without
/// copying them into an [`http::HeaderMap`].
///
/// Adapters for frameworks whose header map is not `http` 1.x's (actix-web 4 uses `http` 0.2)
/// implement it over their map and build the view with
/// [`RequestView::with_header_source`]. Names are passed as lowercase
/// [`HeaderName::as_str`] strings; an implementation compares them with its own (lowercase) names
/// and must not allocate in [`nth`](Self::nth).
///
/// The values an implementation yields must be the ones [`to_header_map`](Self::to_header_map)
/// puts in the map, in the same order: a value `http::HeaderValue::from_bytes` would reject
/// (control characters) is skipped by both, so [`RequestView::header`] and
/// [`RequestView::headers`] always agree.
///
/// ```
/// use http::HeaderMap;
/// use std::sync::OnceLock;
/// use tenancy_core::{HeaderSource, RequestView};
///
/// /// Headers as a list of lowercase (name, value) pairs.
/// struct Pairs(Vec<(&'static str, &'static [u8])>);
///
/// impl HeaderSource for Pairs {
///     fn nth(&self, name: &str, n: usize) -> Option<&[u8]> {
///         self.0.iter().filter(|(k, _)| *k == name).map(|(_, v)| *v).nth(n)
///     }
///     fn len(&self) -> usize {
///         self.0.len()
///     }
///     fn to_header_map(&self) -> HeaderMap {
///         let mut map = HeaderMap::new();
///         for (k, v) in &self.0 {
///             if let (Ok(k), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()),
///                 http::HeaderValue::from_bytes(v)) {
///                 map.append(k, v);
///             }
///         }
///         map
///     }
/// }
///
/// static X_TENANT: http::HeaderName = http::HeaderName::from_static("x-tenant");
/// let source = Pairs(vec![("x-tenant", b"acme"), ("accept", b"*/*")]);
/// let map = OnceLock::new();
/// let view = RequestView::with_header_source("/", &source, &map);
/// assert_eq!(view.header(&X_TENANT), Some(&b"acme"[..]));
/// assert_eq!(view.header_count(), 2);
/// assert!(map.get().is_none()); // nothing was copied
/// ```
pub trait HeaderSource: Sync {
    /// The `n`-th (from 0) value of header `name` (lowercase), in the order received.
    fn nth(&self, name: &str, n: usize) -> Option<&[u8]>;

    /// The number of header values (a header sent twice counts twice), as [`HeaderMap::len`].
    fn len(&self) -> usize;

    /// Whether there are no headers.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers as an `http` 1.x map, for [`RequestView::headers`].
    fn to_header_map(&self) -> HeaderMap;

    /// The first value of header `name` (lowercase) and whether a second one follows: what a
    /// reader that refuses duplicated headers (`Host`, `X-Tenant`, `Authorization`) needs. The
    /// provided method calls [`nth`](Self::nth) twice; a source that can answer in one pass
    /// overrides it.
    fn first_and_more(&self, name: &str) -> (Option<&[u8]>, bool) {
        match self.nth(name, 0) {
            None => (None, false),
            first => (first, self.nth(name, 1).is_some()),
        }
    }
}

/// An `http` 1.x map is a source too (its own lookups are used; this impl is for code generic
/// over sources, such as tests comparing them).
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use tenancy_core::HeaderSource;
///
/// let mut headers = HeaderMap::new();
/// headers.append("x-tenant", HeaderValue::from_static("a"));
/// headers.append("x-tenant", HeaderValue::from_static("b"));
/// assert_eq!(HeaderSource::nth(&headers, "x-tenant", 1), Some(&b"b"[..]));
/// assert_eq!(HeaderSource::len(&headers), 2);
/// ```
impl HeaderSource for HeaderMap {
    fn nth(&self, name: &str, n: usize) -> Option<&[u8]> {
        self.get_all(name).iter().nth(n).map(HeaderValue::as_bytes)
    }

    fn len(&self) -> usize {
        Self::len(self)
    }

    fn to_header_map(&self) -> HeaderMap {
        self.clone()
    }
}

/// Where a view's headers come from.
#[derive(Clone, Copy)]
enum Headers<'a> {
    /// An `http` 1.x map.
    Map(&'a HeaderMap),
    /// A framework's own map, and the cell [`RequestView::headers`] fills on first use.
    Source {
        source: &'a dyn HeaderSource,
        map: &'a OnceLock<HeaderMap>,
    },
}

/// The value as `&str` when every byte is visible ASCII (or a tab): exactly what
/// [`HeaderValue::to_str`] accepts.
pub(crate) fn visible_ascii(value: &[u8]) -> Option<&str> {
    // No early exit: the loop is vectorised (a bearer token is hundreds of bytes, read on every
    // request).
    let invalid = value.iter().fold(false, |invalid, &b| {
        invalid | !(b.wrapping_sub(32) < 95 || b == b'\t')
    });
    if invalid {
        None
    } else {
        std::str::from_utf8(value).ok()
    }
}

/// A borrowed, framework-neutral view of the parts of an HTTP request that tenant resolution and
/// authentication may read: the authority, the raw path, the headers and the peer address.
///
/// Adapters build one per request; it borrows everything and costs a few pointer copies.
///
/// # Which authority
///
/// * For HTTP/2 and HTTP/3 the adapter passes the `:authority` pseudo-header (in `http` and
///   `hyper` it is the authority of the request URI) with [`with_authority`](Self::with_authority).
/// * For HTTP/1.1 the request target is normally in origin form (`/path`), there is no URI
///   authority, and the `Host` header is used. When a client sends an absolute-form target the
///   adapter passes that authority.
///
/// When both an authority and a `Host` header are present they must name the same host (RFC 9113
/// §8.3.1 lets a server treat a mismatch as malformed, and this library does); see
/// [`SubdomainResolver`](crate::SubdomainResolver).
///
/// The path is the raw, still percent-encoded path of the request target, without the query
/// (what [`http::Uri::path`] returns).
///
/// The peer address is the address of the TCP peer, used only to decide whether forwarded headers
/// come from a trusted proxy. `None` means unknown, which trusts no proxy.
///
/// # Reading headers
///
/// [`header`](Self::header), [`header_str`](Self::header_str) and
/// [`header_values`](Self::header_values) are the cheap way: they never allocate, whatever the
/// adapter. [`headers`](Self::headers) returns an `http` 1.x [`HeaderMap`], which an adapter for
/// a framework with other header types ([`with_header_source`](Self::with_header_source), such
/// as actix-web) has to build by copying every header on first use.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::HOST};
/// use tenancy_core::RequestView;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(HOST, HeaderValue::from_static("acme.example.com"));
/// let view = RequestView::new("/projects", &headers);
/// assert_eq!(view.path(), "/projects");
/// assert_eq!(view.authority(), None);
/// assert_eq!(view.header_str(&HOST), Some("acme.example.com"));
///
/// let req = http::Request::builder()
///     .uri("https://acme.example.com/projects?x=1")
///     .body(())
///     .unwrap();
/// let view = RequestView::from_request(&req);
/// assert_eq!(view.authority(), Some("acme.example.com"));
/// assert_eq!(view.path(), "/projects");
/// ```
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    authority: Option<&'a str>,
    path: &'a str,
    headers: Headers<'a>,
    peer: Option<IpAddr>,
}

impl<'a> RequestView<'a> {
    /// A view of `path` and `headers`, with no URI authority and no peer address.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tenancy_core::{HeaderResolver, RequestView, TenantResolver};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-tenant", HeaderValue::from_static("acme"));
    /// let view = RequestView::new("/leads", &headers);
    /// assert_eq!((view.authority(), view.peer()), (None, None));
    /// let key = HeaderResolver::x_tenant().resolve(&view)?;
    /// assert_eq!(key.unwrap().to_string(), "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn new(path: &'a str, headers: &'a HeaderMap) -> Self {
        Self {
            authority: None,
            path,
            headers: Headers::Map(headers),
            peer: None,
        }
    }

    /// A view of `path` and headers read through `source` (a framework's own header map), with
    /// no URI authority and no peer address. [`headers`](Self::headers) builds the `http` 1.x
    /// map into `map` on its first call (the only copy); the other accessors read `source`.
    ///
    /// ```
    /// use std::sync::OnceLock;
    /// use http::{HeaderMap, HeaderValue};
    /// use tenancy_core::RequestView;
    ///
    /// static X_TENANT: http::HeaderName = http::HeaderName::from_static("x-tenant");
    /// let mut source = HeaderMap::new(); // any `HeaderSource`
    /// source.insert(&X_TENANT, HeaderValue::from_static("acme"));
    /// let map = OnceLock::new();
    /// let view = RequestView::with_header_source("/", &source, &map);
    /// assert_eq!(view.header_str(&X_TENANT), Some("acme"));
    /// assert!(map.get().is_none());
    /// assert_eq!(view.headers().len(), 1); // copied now
    /// assert!(map.get().is_some());
    /// ```
    pub const fn with_header_source(
        path: &'a str,
        source: &'a dyn HeaderSource,
        map: &'a OnceLock<HeaderMap>,
    ) -> Self {
        Self {
            authority: None,
            path,
            headers: Headers::Source { source, map },
            peer: None,
        }
    }

    /// A view of an [`http::Request`]: authority from the URI (if any), path, headers. The peer
    /// address is unknown; add it with [`with_peer`](Self::with_peer).
    ///
    /// ```
    /// use tenancy_core::RequestView;
    /// let req = http::Request::builder()
    ///     .uri("/t/acme/leads?page=2")
    ///     .header("x-tenant", "acme")
    ///     .body(())?;
    /// let view = RequestView::from_request(&req);
    /// assert_eq!(view.path(), "/t/acme/leads"); // no query
    /// assert_eq!(view.header_str(&http::HeaderName::from_static("x-tenant")), Some("acme"));
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn from_request<B>(req: &'a http::Request<B>) -> Self {
        Self::from_uri_and_headers(req.uri(), req.headers())
    }

    /// A view of [`http::request::Parts`], as [`from_request`](Self::from_request).
    ///
    /// ```
    /// use tenancy_core::RequestView;
    /// let req = http::Request::builder().uri("https://acme.example.com/leads").body(())?;
    /// let (parts, _body) = req.into_parts();
    /// let view = RequestView::from_parts(&parts);
    /// assert_eq!(view.authority(), Some("acme.example.com"));
    /// assert_eq!(view.path(), "/leads");
    /// # Ok::<(), http::Error>(())
    /// ```
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::from_uri_and_headers(&parts.uri, &parts.headers)
    }

    fn from_uri_and_headers(uri: &'a http::Uri, headers: &'a HeaderMap) -> Self {
        Self {
            authority: uri.authority().map(http::uri::Authority::as_str),
            path: uri.path(),
            headers: Headers::Map(headers),
            peer: None,
        }
    }

    /// Sets the URI authority (HTTP/2 `:authority`, or an HTTP/1.1 absolute-form target).
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tenancy_core::{RequestView, SubdomainResolver, TenantResolver};
    ///
    /// let headers = HeaderMap::new();
    /// // An HTTP/2 request: the host is in `:authority`, not in a `Host` header.
    /// let view = RequestView::new("/", &headers).with_authority(Some("acme.example.com"));
    /// assert_eq!(view.authority(), Some("acme.example.com"));
    /// let key = SubdomainResolver::new("example.com")?.resolve(&view)?;
    /// assert_eq!(key.unwrap().to_string(), "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub const fn with_authority(mut self, authority: Option<&'a str>) -> Self {
        self.authority = authority;
        self
    }

    /// Sets the address of the TCP peer.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    /// use http::HeaderMap;
    /// use tenancy_core::RequestView;
    ///
    /// let headers = HeaderMap::new();
    /// let proxy = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    /// let view = RequestView::new("/", &headers).with_peer(Some(proxy));
    /// assert_eq!(view.peer(), Some(proxy));
    /// ```
    #[must_use]
    pub const fn with_peer(mut self, peer: Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// The URI authority, if the adapter had one.
    ///
    /// ```
    /// use tenancy_core::RequestView;
    /// let req = http::Request::builder().uri("https://acme.example.com/").body(())?;
    /// assert_eq!(RequestView::from_request(&req).authority(), Some("acme.example.com"));
    /// let req = http::Request::builder().uri("/").body(())?; // origin form: use `Host`
    /// assert_eq!(RequestView::from_request(&req).authority(), None);
    /// # Ok::<(), http::Error>(())
    /// ```
    pub const fn authority(&self) -> Option<&'a str> {
        self.authority
    }

    /// The raw (percent-encoded) request path.
    ///
    /// ```
    /// use tenancy_core::RequestView;
    /// let req = http::Request::builder().uri("/t/acme/caf%C3%A9?q=1").body(())?;
    /// assert_eq!(RequestView::from_request(&req).path(), "/t/acme/caf%C3%A9"); // still encoded
    /// # Ok::<(), http::Error>(())
    /// ```
    pub const fn path(&self) -> &'a str {
        self.path
    }

    /// The first value of header `name`, without allocating. A header sent more than once
    /// answers its first value; use [`header_values`](Self::header_values) to see them all
    /// (and to refuse duplicates).
    ///
    /// ```
    /// use http::{HeaderMap, HeaderName, HeaderValue};
    /// use tenancy_core::RequestView;
    ///
    /// static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
    /// let mut headers = HeaderMap::new();
    /// headers.insert(&X_API_KEY, HeaderValue::from_static("k-1"));
    /// let view = RequestView::new("/", &headers);
    /// assert_eq!(view.header(&X_API_KEY), Some(&b"k-1"[..]));
    /// assert_eq!(view.header(&http::header::HOST), None);
    /// ```
    pub fn header(&self, name: &HeaderName) -> Option<&'a [u8]> {
        match self.headers {
            Headers::Map(map) => map.get(name).map(HeaderValue::as_bytes),
            Headers::Source { source, .. } => source.nth(name.as_str(), 0),
        }
    }

    /// The first value of `name` and whether a second one follows (duplicated-header checks).
    pub(crate) fn first_and_more(&self, name: &HeaderName) -> (Option<&'a [u8]>, bool) {
        match self.headers {
            Headers::Map(map) => {
                let mut values = map.get_all(name).iter();
                let first = values.next().map(HeaderValue::as_bytes);
                (first, first.is_some() && values.next().is_some())
            }
            Headers::Source { source, .. } => source.first_and_more(name.as_str()),
        }
    }

    /// The first value of header `name` as text, when it is visible ASCII: what
    /// `headers().get(name).and_then(|v| v.to_str().ok())` answers, without allocating.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::HOST};
    /// use tenancy_core::RequestView;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(HOST, HeaderValue::from_static("acme.example.com"));
    /// let view = RequestView::new("/", &headers);
    /// assert_eq!(view.header_str(&HOST), Some("acme.example.com"));
    ///
    /// headers.insert(HOST, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
    /// assert_eq!(RequestView::new("/", &headers).header_str(&HOST), None);
    /// ```
    pub fn header_str(&self, name: &HeaderName) -> Option<&'a str> {
        self.header(name).and_then(visible_ascii)
    }

    /// Every value of header `name`, in the order received, without allocating.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::ACCEPT};
    /// use tenancy_core::RequestView;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.append(ACCEPT, HeaderValue::from_static("text/html"));
    /// headers.append(ACCEPT, HeaderValue::from_static("*/*"));
    /// let view = RequestView::new("/", &headers);
    /// let all: Vec<&[u8]> = view.header_values(&ACCEPT).collect();
    /// assert_eq!(all, [&b"text/html"[..], &b"*/*"[..]]);
    /// ```
    pub fn header_values<'n>(&self, name: &'n HeaderName) -> HeaderValues<'a, 'n> {
        HeaderValues {
            inner: match self.headers {
                Headers::Map(map) => Values::Map(map.get_all(name).iter()),
                Headers::Source { source, .. } => Values::Source {
                    source,
                    name: name.as_str(),
                    next: 0,
                },
            },
        }
    }

    /// The number of header values (a header sent twice counts twice), as [`HeaderMap::len`].
    ///
    /// ```
    /// let headers = http::HeaderMap::new();
    /// assert_eq!(tenancy_core::RequestView::new("/", &headers).header_count(), 0);
    /// ```
    pub fn header_count(&self) -> usize {
        match self.headers {
            Headers::Map(map) => map.len(),
            Headers::Source { source, .. } => source.len(),
        }
    }

    /// The request headers as an `http` 1.x map.
    ///
    /// Prefer [`header`](Self::header), [`header_str`](Self::header_str) and
    /// [`header_values`](Self::header_values): for a view built with
    /// [`with_header_source`](Self::with_header_source) (the actix-web adapter) the first call
    /// copies every header into a new map (later calls return the same map).
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::USER_AGENT};
    /// use tenancy_core::RequestView;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(USER_AGENT, HeaderValue::from_static("curl/8.5"));
    /// let view = RequestView::new("/", &headers);
    /// // For APIs that want the whole map; over an `http` map this is the same map, no copy.
    /// assert!(std::ptr::eq(view.headers(), &headers));
    /// assert_eq!(view.headers()[USER_AGENT], "curl/8.5");
    /// ```
    pub fn headers(&self) -> &'a HeaderMap {
        match self.headers {
            Headers::Map(map) => map,
            Headers::Source { source, map } => map.get_or_init(|| source.to_header_map()),
        }
    }

    /// The TCP peer address, if known.
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use http::HeaderMap;
    /// use tenancy_core::RequestView;
    ///
    /// let headers = HeaderMap::new();
    /// assert_eq!(RequestView::new("/", &headers).peer(), None); // unknown: trust no proxy
    /// let peer: IpAddr = "192.0.2.7".parse()?;
    /// assert_eq!(RequestView::new("/", &headers).with_peer(Some(peer)).peer(), Some(peer));
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub const fn peer(&self) -> Option<IpAddr> {
        self.peer
    }
}

impl fmt::Debug for RequestView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values are left out: they carry credentials.
        f.debug_struct("RequestView")
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("headers", &self.header_count())
            .field("peer", &self.peer)
            .finish()
    }
}

/// The values of one header: see [`RequestView::header_values`].
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::ACCEPT_LANGUAGE};
/// use tenancy_core::RequestView;
///
/// let mut headers = HeaderMap::new();
/// headers.append(ACCEPT_LANGUAGE, HeaderValue::from_static("de"));
/// headers.append(ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
/// let view = RequestView::new("/", &headers);
/// let mut values = view.header_values(&ACCEPT_LANGUAGE);
/// assert_eq!(values.next(), Some(&b"de"[..]));
/// assert_eq!(values.last(), Some(&b"en"[..]));
/// assert_eq!(view.header_values(&http::header::HOST).count(), 0);
/// ```
pub struct HeaderValues<'a, 'n> {
    inner: Values<'a, 'n>,
}

enum Values<'a, 'n> {
    Map(ValueIter<'a, HeaderValue>),
    Source {
        source: &'a dyn HeaderSource,
        name: &'n str,
        /// The index of the next value; `usize::MAX` once exhausted.
        next: usize,
    },
}

impl<'a> Iterator for HeaderValues<'a, '_> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.inner {
            Values::Map(values) => values.next().map(HeaderValue::as_bytes),
            Values::Source { source, name, next } => {
                if *next == usize::MAX {
                    return None;
                }
                let value = source.nth(name, *next);
                *next = if value.is_some() {
                    next.saturating_add(1)
                } else {
                    usize::MAX
                };
                value
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Values::Map(values) => values.size_hint(),
            Values::Source { next, .. } if *next == usize::MAX => (0, Some(0)),
            Values::Source { .. } => (0, None),
        }
    }

    fn last(self) -> Option<&'a [u8]> {
        match self.inner {
            Values::Map(mut values) => values.next_back().map(HeaderValue::as_bytes),
            inner @ Values::Source { .. } => Self { inner }.fold(None, |_, v| Some(v)),
        }
    }
}

impl FusedIterator for HeaderValues<'_, '_> {}

impl fmt::Debug for HeaderValues<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are left out: they carry credentials.
        f.debug_struct("HeaderValues").finish_non_exhaustive()
    }
}
