//! Tenant selection by a request header such as `X-Tenant: acme`.

use http::HeaderName;

use super::{ConfigError, ResolveError, TenantResolver, parse_key, shown, single_header};
use crate::{RequestView, SlugPolicy, TenantKey};

/// Selects a tenant by the value of one request header.
///
/// The header must appear at most once (two values, also `X-Tenant: a` plus `X-Tenant: b`, are
/// [`ResolveError::DuplicateHeader`]) and its value must be visible ASCII. The value is either a
/// tenant id in canonical hyphenated UUID form (selects [`TenantKey::Id`]) or a slug (selects
/// [`TenantKey::Slug`]); a UUID-shaped value is always read as an id (no slug has that form). Use
/// [`slugs_only`](Self::slugs_only) to refuse ids. Values are not trimmed or case-folded:
/// `ACME` is an error, not `acme`. An empty value is an error, not an absent header.
///
/// A header only *selects* a tenant: the pipeline still requires the principal to be a member.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use tenancy_core::{HeaderResolver, RequestView, TenantKey, TenantResolver};
///
/// let resolver = HeaderResolver::x_tenant();
/// let mut headers = HeaderMap::new();
/// headers.insert("x-tenant", HeaderValue::from_static("acme"));
/// let key = resolver.resolve(&RequestView::new("/", &headers))?;
/// assert_eq!(key, Some(TenantKey::Slug("acme".parse()?)));
///
/// headers.append("x-tenant", HeaderValue::from_static("other"));
/// assert!(resolver.resolve(&RequestView::new("/", &headers)).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HeaderResolver {
    name: HeaderName,
    policy: SlugPolicy,
    accept_ids: bool,
}

impl HeaderResolver {
    /// A resolver reading header `name`.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderName, HeaderValue};
    /// use tenancy_core::{HeaderResolver, RequestView, TenantResolver};
    ///
    /// static X_ORG: HeaderName = HeaderName::from_static("x-org");
    /// let resolver = HeaderResolver::new(X_ORG.clone());
    /// let mut headers = HeaderMap::new();
    /// headers.insert(&X_ORG, HeaderValue::from_static("acme"));
    /// assert_eq!(resolver.resolve(&RequestView::new("/", &headers))?.unwrap().to_string(), "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(name: HeaderName) -> Self {
        Self {
            name,
            policy: SlugPolicy::default(),
            accept_ids: true,
        }
    }

    /// A resolver reading the header called `name` (case-insensitive).
    ///
    /// ```
    /// use tenancy_core::{ConfigError, HeaderResolver};
    /// let resolver = HeaderResolver::named("X-Organisation")?;
    /// assert_eq!(resolver.header_name().as_str(), "x-organisation");
    /// assert!(matches!(HeaderResolver::named("x org"), Err(ConfigError::HeaderName(_))));
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn named(name: &str) -> Result<Self, ConfigError> {
        HeaderName::try_from(name)
            .map(Self::new)
            .map_err(|_| ConfigError::HeaderName(shown(name)))
    }

    /// A resolver reading `X-Tenant`.
    ///
    /// ```
    /// use tenancy_core::HeaderResolver;
    /// assert_eq!(HeaderResolver::x_tenant().header_name(), "x-tenant");
    /// ```
    pub fn x_tenant() -> Self {
        Self::new(HeaderName::from_static("x-tenant"))
    }

    /// Refuses tenant ids: only slugs select. A value of the form of a tenant id (a hyphenated
    /// UUID) is then [`ResolveError::InvalidSlug`] (no slug has that form, see
    /// [`TenantSlug`](crate::TenantSlug)), so clients cannot select by the id.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tenancy_core::{HeaderResolver, RequestView, ResolveError, TenantKey, TenantResolver};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-tenant", HeaderValue::from_static("0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60"));
    /// let view = RequestView::new("/", &headers);
    /// assert!(matches!(HeaderResolver::x_tenant().resolve(&view)?, Some(TenantKey::Id(_))));
    /// let refused = HeaderResolver::x_tenant().slugs_only().resolve(&view);
    /// assert!(matches!(refused, Err(ResolveError::InvalidSlug(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn slugs_only(mut self) -> Self {
        self.accept_ids = false;
        self
    }

    /// The slug policy values must pass (default: [`SlugPolicy::default`]).
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tenancy_core::{HeaderResolver, RequestView, SlugPolicy, TenantResolver};
    ///
    /// let resolver = HeaderResolver::x_tenant().with_slug_policy(SlugPolicy::permissive());
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-tenant", HeaderValue::from_static("www")); // reserved by default
    /// let key = resolver.resolve(&RequestView::new("/", &headers))?;
    /// assert_eq!(key.unwrap().to_string(), "www");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_slug_policy(mut self, policy: SlugPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The header read.
    ///
    /// ```
    /// use tenancy_core::HeaderResolver;
    /// let resolver = HeaderResolver::named("X-Org")?;
    /// assert_eq!(resolver.header_name(), "x-org");
    /// # Ok::<(), tenancy_core::ConfigError>(())
    /// ```
    pub fn header_name(&self) -> &HeaderName {
        &self.name
    }
}

impl TenantResolver for HeaderResolver {
    fn resolve(&self, req: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> {
        let Some(value) = single_header(req, &self.name)? else {
            return Ok(None);
        };
        if value.is_empty() {
            return Err(ResolveError::MalformedHeader {
                name: self.name.clone(),
            });
        }
        parse_key(value, &self.policy, self.accept_ids)
            .map(Some)
            .map_err(ResolveError::InvalidSlug)
    }
}
