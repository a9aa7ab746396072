//! The framework-neutral view of an incoming request that resolvers and authenticators read.

use std::fmt;
use std::net::IpAddr;

use http::HeaderMap;

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
/// ```
/// use http::{HeaderMap, HeaderValue, header::HOST};
/// use tenancy_core::RequestView;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(HOST, HeaderValue::from_static("acme.example.com"));
/// let view = RequestView::new("/projects", &headers);
/// assert_eq!(view.path(), "/projects");
/// assert_eq!(view.authority(), None);
/// assert!(view.headers().contains_key(HOST));
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
    headers: &'a HeaderMap,
    peer: Option<IpAddr>,
}

impl<'a> RequestView<'a> {
    /// A view of `path` and `headers`, with no URI authority and no peer address.
    pub const fn new(path: &'a str, headers: &'a HeaderMap) -> Self {
        Self {
            authority: None,
            path,
            headers,
            peer: None,
        }
    }

    /// A view of an [`http::Request`]: authority from the URI (if any), path, headers. The peer
    /// address is unknown; add it with [`with_peer`](Self::with_peer).
    pub fn from_request<B>(req: &'a http::Request<B>) -> Self {
        Self::from_uri_and_headers(req.uri(), req.headers())
    }

    /// A view of [`http::request::Parts`], as [`from_request`](Self::from_request).
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        Self::from_uri_and_headers(&parts.uri, &parts.headers)
    }

    fn from_uri_and_headers(uri: &'a http::Uri, headers: &'a HeaderMap) -> Self {
        Self {
            authority: uri.authority().map(http::uri::Authority::as_str),
            path: uri.path(),
            headers,
            peer: None,
        }
    }

    /// Sets the URI authority (HTTP/2 `:authority`, or an HTTP/1.1 absolute-form target).
    #[must_use]
    pub const fn with_authority(mut self, authority: Option<&'a str>) -> Self {
        self.authority = authority;
        self
    }

    /// Sets the address of the TCP peer.
    #[must_use]
    pub const fn with_peer(mut self, peer: Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }

    /// The URI authority, if the adapter had one.
    pub const fn authority(&self) -> Option<&'a str> {
        self.authority
    }

    /// The raw (percent-encoded) request path.
    pub const fn path(&self) -> &'a str {
        self.path
    }

    /// The request headers.
    pub const fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The TCP peer address, if known.
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
            .field("headers", &self.headers.len())
            .field("peer", &self.peer)
            .finish()
    }
}
