//! Tenant resolution: which tenant does a request *select*?
//!
//! A resolver reads one source of a [`RequestView`] (subdomain, header, path segment, a verified
//! JWT claim) and answers with a [`TenantKey`], with `None` when its source is absent, or with a
//! [`ResolveError`] when the source is present but malformed. Selection is not authority: the
//! [pipeline](crate::TenantPipeline) still checks that the principal is a member of the selected
//! tenant.
//!
//! Resolvers fail closed: a malformed source is an error, never skipped in favour of another
//! source, and never treated as absent.

mod chain;
mod header;
#[cfg(feature = "jwt")]
mod jwt;
mod path;
mod subdomain;

use std::fmt;

use http::{HeaderName, StatusCode};

pub use chain::ResolverChain;
pub use header::HeaderResolver;
#[cfg(feature = "jwt")]
pub use jwt::JwtClaimResolver;
pub use path::PathResolver;
pub use subdomain::SubdomainResolver;

use crate::jwt::JwtError;
use crate::request::visible_ascii;
use crate::{RequestView, SlugError, SlugPolicy, TenantId, TenantKey, TenantSlug};

/// Reads one source of a request and names the tenant it selects.
///
/// The method is synchronous: every shipped source is a pure function of the request (JWT
/// signature checks included), and a sync method keeps the trait object safe without boxing.
/// Closures `Fn(&RequestView<'_>) -> Result<Option<TenantKey>, ResolveError>` implement it.
///
/// ```
/// use tenancy_core::{RequestView, ResolveError, TenantKey, TenantResolver};
///
/// // A resolver that always selects `acme`, for tests.
/// let fixed = |_: &RequestView<'_>| -> Result<Option<TenantKey>, ResolveError> {
///     Ok(Some(TenantKey::Slug("acme".parse().unwrap())))
/// };
/// let headers = http::HeaderMap::new();
/// let key = fixed.resolve(&RequestView::new("/", &headers)).unwrap();
/// assert_eq!(key.unwrap().to_string(), "acme");
/// ```
pub trait TenantResolver: Send + Sync {
    /// The tenant this source selects; `Ok(None)` when the source is absent from the request.
    fn resolve(&self, req: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError>;

    /// The selection including keys that can only be compared after a lookup (a slug from one
    /// source and an id from another). The pipeline calls this method.
    ///
    /// The default wraps [`resolve`](Self::resolve); only combinators such as
    /// [`ResolverChain::all_agree`] override it.
    fn select(&self, req: &RequestView<'_>) -> Result<Selection, ResolveError> {
        Ok(match self.resolve(req)? {
            Some(key) => Selection::Key(key),
            None => Selection::Absent,
        })
    }
}

impl<F> TenantResolver for F
where
    F: Fn(&RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> + Send + Sync,
{
    fn resolve(&self, req: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> {
        self(req)
    }
}

/// What the resolvers of a request selected, as seen by the pipeline.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::HOST};
/// use tenancy_core::{HeaderResolver, RequestView, ResolverChain, Selection, SubdomainResolver,
///     TenantResolver};
///
/// let chain = ResolverChain::all_agree(vec![
///     Box::new(SubdomainResolver::new("example.com")?),
///     Box::new(HeaderResolver::x_tenant()),
/// ]);
/// let mut headers = HeaderMap::new();
/// headers.insert(HOST, HeaderValue::from_static("acme.example.com"));
/// headers.insert("x-tenant", HeaderValue::from_static("0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60"));
/// // A slug and an id: only a lookup can tell whether they name one tenant.
/// match chain.select(&RequestView::new("/", &headers))? {
///     Selection::SlugAndId { slug, id } => {
///         assert_eq!(slug.as_str(), "acme");
///         assert_eq!(id.to_string(), "0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60");
///     }
///     other => panic!("unexpected {other}"),
/// }
/// let empty = HeaderMap::new();
/// assert_eq!(chain.select(&RequestView::new("/", &empty))?, Selection::Absent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// No source named a tenant.
    Absent,
    /// One key (every present source named this key).
    Key(TenantKey),
    /// One source named a slug, another an id: they select one tenant only if the tenant with
    /// this id has this slug, which the pipeline checks after looking the id up.
    SlugAndId {
        /// The slug named.
        slug: TenantSlug,
        /// The id named.
        id: TenantId,
    },
}

/// Why a request's tenant selection is unusable.
///
/// Every variant maps to an HTTP status ([`status`](Self::status)) and a stable machine-readable
/// code ([`code`](Self::code)) here, so adapters only translate. Messages may quote (truncated)
/// request input in backticks; they never contain secrets or other tenants' data.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::HOST};
/// use tenancy_core::{RequestView, ResolveError, SubdomainResolver, TenantResolver};
///
/// let resolver = SubdomainResolver::new("example.com")?;
/// let mut headers = HeaderMap::new();
/// headers.insert(HOST, HeaderValue::from_static("acme.evil.net"));
/// match resolver.resolve(&RequestView::new("/", &headers)) {
///     Err(e @ ResolveError::ForeignHost { .. }) => {
///         assert_eq!(e.to_string(), "host `acme.evil.net` is not a tenant host of this service");
///         assert_eq!((e.status().as_u16(), e.code()), (400, "foreign_host"));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The host (URI authority, `Host` or a trusted forwarded host) is not a valid host name:
    /// bad characters, userinfo, a bad port, empty labels, more than one trailing dot, invalid
    /// IDNA, too long, or an authority and a `Host` header that differ.
    #[error("host `{host}` is malformed: {reason}")]
    MalformedHost {
        /// The offending host (truncated).
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The host is well formed but is not exactly one label under the configured base domain
    /// (another domain, a nested subdomain, an IP literal).
    #[error("host `{host}` is not a tenant host of this service")]
    ForeignHost {
        /// The normalised host (truncated).
        host: String,
    },
    /// A header that must appear at most once appeared more than once.
    #[error("header `{name}` appears more than once")]
    DuplicateHeader {
        /// The header.
        name: HeaderName,
    },
    /// A header value is not visible ASCII, is empty, or is not a tenant slug or id.
    #[error("header `{name}` has a malformed value")]
    MalformedHeader {
        /// The header.
        name: HeaderName,
    },
    /// The selected label, segment or value is not a valid tenant slug (shape or reserved name).
    #[error("invalid tenant slug")]
    InvalidSlug(#[source] SlugError),
    /// The path is ambiguous or malformed: encoded slashes or backslashes, dot segments, empty
    /// segments, a missing or percent-encoded tenant segment, invalid UTF-8.
    #[error("path `{path}` is malformed: {reason}")]
    MalformedPath {
        /// The offending path (truncated).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The bearer token was present but failed verification, or its tenant claim is missing or
    /// malformed. Status 401.
    #[error("bearer token rejected")]
    InvalidToken(#[source] JwtError),
    /// Two sources named different tenants.
    #[error("tenant sources disagree: `{first}` and `{second}`")]
    Conflict {
        /// The key of the earlier source.
        first: TenantKey,
        /// The key of the later source.
        second: TenantKey,
    },
}

impl ResolveError {
    /// The HTTP status this error maps to: 401 for token problems, 400 otherwise.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tenancy_core::{HeaderResolver, RequestView, TenantResolver};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.append("x-tenant", HeaderValue::from_static("acme"));
    /// headers.append("x-tenant", HeaderValue::from_static("globex"));
    /// let err = HeaderResolver::x_tenant().resolve(&RequestView::new("/", &headers)).unwrap_err();
    /// assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable, machine-readable code.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tenancy_core::{HeaderResolver, RequestView, TenantResolver};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.append("x-tenant", HeaderValue::from_static("acme"));
    /// headers.append("x-tenant", HeaderValue::from_static("globex"));
    /// let err = HeaderResolver::x_tenant().resolve(&RequestView::new("/", &headers)).unwrap_err();
    /// assert_eq!(err.code(), "duplicate_header");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedHost { .. } => "invalid_host",
            Self::ForeignHost { .. } => "foreign_host",
            Self::DuplicateHeader { .. } => "duplicate_header",
            Self::MalformedHeader { .. } => "invalid_header",
            Self::InvalidSlug(_) => "invalid_slug",
            Self::MalformedPath { .. } => "invalid_path",
            Self::InvalidToken(_) => "invalid_token",
            Self::Conflict { .. } => "tenant_conflict",
        }
    }
}

/// A resolver or verifier was configured with an unusable value.
///
/// ```
/// use tenancy_core::{ConfigError, PathResolver, SubdomainResolver};
///
/// let err = SubdomainResolver::new("example.com:8443").unwrap_err();
/// assert_eq!(err, ConfigError::BaseDomain("example.com:8443".to_owned()));
/// assert_eq!(err.to_string(), "base domain `example.com:8443` is not a valid domain name");
/// assert!(matches!(PathResolver::prefix("orgs/t"), Err(ConfigError::PathPrefix(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base domain is not a valid host name.
    #[error("base domain `{0}` is not a valid domain name")]
    BaseDomain(String),
    /// The header name is not a valid HTTP header name.
    #[error("`{0}` is not a valid header name")]
    HeaderName(String),
    /// The path prefix is not a single plain path segment.
    #[error("path prefix `{0}` must be one segment of letters, digits, `-`, `_` or `.`")]
    PathPrefix(String),
    /// No algorithm was pinned, or an algorithm does not fit the key type.
    #[error("algorithm list does not fit the key: {0}")]
    Algorithms(&'static str),
    /// The key could not be parsed.
    #[error("the verification key could not be parsed")]
    Key,
    /// The HMAC secret is shorter than 32 bytes.
    #[error("hmac secret must be at least 32 bytes")]
    WeakSecret,
}

/// Input shown in error messages is cut to this many characters.
const SHOWN: usize = 100;

pub(crate) fn shown(s: &str) -> String {
    s.chars().take(SHOWN).collect()
}

/// Parses a selection value as a tenant id (canonical hyphenated UUID) when `accept_ids`, else
/// (or when it is not UUID-shaped) as a slug under `policy`.
pub(crate) fn parse_key(
    value: &str,
    policy: &SlugPolicy,
    accept_ids: bool,
) -> Result<TenantKey, SlugError> {
    if accept_ids
        && value.len() == 36
        && let Ok(id) = value.parse::<TenantId>()
    {
        return Ok(TenantKey::Id(id));
    }
    policy.parse(value).map(TenantKey::Slug)
}

/// The single value of header `name`: `None` when absent, an error when repeated or not visible
/// ASCII.
pub(crate) fn single_header<'a>(
    req: &RequestView<'a>,
    name: &HeaderName,
) -> Result<Option<&'a str>, ResolveError> {
    let (first, more) = req.first_and_more(name);
    let Some(first) = first else {
        return Ok(None);
    };
    if more {
        return Err(ResolveError::DuplicateHeader { name: name.clone() });
    }
    visible_ascii(first)
        .map(Some)
        .ok_or_else(|| ResolveError::MalformedHeader { name: name.clone() })
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absent => f.write_str("no tenant"),
            Self::Key(k) => fmt::Display::fmt(k, f),
            Self::SlugAndId { slug, id } => write!(f, "{slug} / {id}"),
        }
    }
}
