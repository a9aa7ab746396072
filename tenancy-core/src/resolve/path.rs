//! Tenant selection by a path prefix: `/t/acme/projects` selects `acme`.

use percent_encoding::percent_decode_str;

use super::{ConfigError, ResolveError, TenantResolver, shown};
use crate::{RequestView, SlugPolicy, TenantKey, TenantSlug};

/// Selects a tenant by the path segment after a fixed prefix segment: `/{prefix}/{slug}/...`.
///
/// Rules (ATTACKS.md E.27):
///
/// * A path whose first segment is not the prefix is `Ok(None)`. A first segment that only
///   *decodes* to the prefix (`/%74/acme`) is an error.
/// * The tenant segment is percent-decoded exactly once and must equal its raw form (so any
///   percent-encoding in it is an error) and be a valid [`TenantSlug`]; it is not case-folded.
/// * Anywhere in the path, encoded slashes or backslashes (`%2f`, `%5c`), raw backslashes, dot
///   segments (`.`, `..`, also encoded as `%2e`), empty segments (`//`, except one trailing
///   slash) and invalid UTF-8 after decoding are errors: a path that a proxy or router could
///   normalise into another path never gets through.
///
/// Pass the raw path without the query ([`http::Uri::path`]). [`split`](Self::split) also returns
/// the rest of the path, for adapters that strip the prefix.
///
/// ```
/// use tenancy_core::PathResolver;
///
/// let resolver = PathResolver::prefix("t")?;
/// let (slug, rest) = resolver.split("/t/acme/projects/7")?.unwrap();
/// assert_eq!(slug.as_str(), "acme");
/// assert_eq!(rest, "/projects/7");
/// assert_eq!(resolver.split("/about")?, None);
/// assert!(resolver.split("/t/acme%2fevil/x").is_err());
/// assert!(resolver.split("/t/acme/../evil").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PathResolver {
    prefix: String,
    policy: SlugPolicy,
}

impl PathResolver {
    /// A resolver for paths `/{prefix}/{slug}/...`. `prefix` is one segment (surrounding slashes
    /// are ignored) of ASCII letters, digits, `-`, `_` or `.`, not `.` or `..`.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tenancy_core::{PathResolver, RequestView, TenantResolver};
    ///
    /// let resolver = PathResolver::prefix("/orgs/")?; // surrounding slashes are ignored
    /// let headers = HeaderMap::new();
    /// let key = resolver.resolve(&RequestView::new("/orgs/acme/leads", &headers))?;
    /// assert_eq!(key.unwrap().to_string(), "acme");
    /// assert!(PathResolver::prefix("..").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prefix(prefix: &str) -> Result<Self, ConfigError> {
        let p = prefix.trim_matches('/');
        if p.is_empty()
            || p == "."
            || p == ".."
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError::PathPrefix(shown(prefix)));
        }
        Ok(Self {
            prefix: p.to_owned(),
            policy: SlugPolicy::default(),
        })
    }

    /// The slug policy the segment must pass (default: [`SlugPolicy::default`]).
    ///
    /// ```
    /// use tenancy_core::{PathResolver, SlugPolicy};
    ///
    /// let resolver = PathResolver::prefix("t")?.with_slug_policy(SlugPolicy::default().with_reserved(["new"]));
    /// assert!(resolver.split("/t/new/setup").is_err());
    /// assert!(resolver.split("/t/acme/setup")?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_slug_policy(mut self, policy: SlugPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The prefix segment, without slashes.
    ///
    /// ```
    /// use tenancy_core::PathResolver;
    /// assert_eq!(PathResolver::prefix("/orgs/")?.prefix_segment(), "orgs");
    /// # Ok::<(), tenancy_core::ConfigError>(())
    /// ```
    pub fn prefix_segment(&self) -> &str {
        &self.prefix
    }

    /// The tenant slug and the rest of the path (at least `/`), or `None` when the path does not
    /// start with the prefix.
    ///
    /// ```
    /// use tenancy_core::PathResolver;
    ///
    /// let resolver = PathResolver::prefix("t")?;
    /// let (slug, rest) = resolver.split("/t/acme")?.unwrap();
    /// assert_eq!((slug.as_str(), rest), ("acme", "/")); // at least `/`
    /// assert!(resolver.split("/t/%61cme/x").is_err()); // percent-encoded tenant segment
    /// assert_eq!(resolver.split("/health")?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split<'p>(&self, path: &'p str) -> Result<Option<(TenantSlug, &'p str)>, ResolveError> {
        let malformed = |reason: &'static str| ResolveError::MalformedPath {
            path: shown(path),
            reason,
        };
        let Some(body) = path.strip_prefix('/') else {
            return Ok(None);
        };
        check_segments(body).map_err(malformed)?;

        let mut segments = body.splitn(3, '/');
        let first = segments.next().unwrap_or("");
        if first != self.prefix {
            let decoded = percent_decode_str(first)
                .decode_utf8()
                .map_err(|_| malformed("invalid utf-8"))?;
            if decoded.eq_ignore_ascii_case(&self.prefix) {
                return Err(malformed("percent-encoded or case-changed prefix"));
            }
            return Ok(None);
        }
        let raw = segments.next().unwrap_or("");
        if raw.is_empty() {
            return Err(malformed("missing tenant segment"));
        }
        let decoded = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| malformed("invalid utf-8"))?;
        if decoded != raw {
            return Err(malformed("percent-encoded tenant segment"));
        }
        let slug = self.policy.parse(raw).map_err(ResolveError::InvalidSlug)?;
        // `/` + prefix + `/` + segment
        let consumed = 1 + self.prefix.len() + 1 + raw.len();
        let rest = match path.get(consumed..) {
            Some("") | None => "/",
            Some(rest) => rest,
        };
        Ok(Some((slug, rest)))
    }
}

/// Refuses ambiguous segments anywhere in `body` (the path without its leading slash).
fn check_segments(body: &str) -> Result<(), &'static str> {
    if body.contains('\\') {
        return Err("backslash");
    }
    let mut segments = body.split('/').peekable();
    while let Some(seg) = segments.next() {
        if seg.is_empty() {
            // `/` alone, or one trailing slash, is fine; `//` is not.
            if segments.peek().is_none() {
                continue;
            }
            return Err("empty segment");
        }
        if seg.contains('%') {
            let decoded = percent_decode_str(seg)
                .decode_utf8()
                .map_err(|_| "invalid utf-8")?;
            if decoded.contains('/') || decoded.contains('\\') {
                return Err("encoded slash");
            }
            if decoded == "." || decoded == ".." {
                return Err("dot segment");
            }
        } else if seg == "." || seg == ".." {
            return Err("dot segment");
        }
    }
    Ok(())
}

impl TenantResolver for PathResolver {
    fn resolve(&self, req: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> {
        Ok(self
            .split(req.path())?
            .map(|(slug, _)| TenantKey::Slug(slug)))
    }
}
