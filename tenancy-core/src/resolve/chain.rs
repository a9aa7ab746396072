//! Combining several resolvers.

use std::fmt;

use super::{ResolveError, Selection, TenantResolver};
use crate::{RequestView, TenantId, TenantKey, TenantSlug};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    FirstMatch,
    AllAgree,
}

/// Several resolvers combined.
///
/// * [`first_match`](Self::first_match): the first resolver (in order) whose source is present
///   wins; later sources are not read.
/// * [`all_agree`](Self::all_agree): every resolver runs and every present source must name the
///   same tenant; otherwise [`ResolveError::Conflict`] (400). Slugs are compared with slugs and
///   ids with ids right away. A slug from one source and an id from another can only be compared
///   after a lookup, so the chain's [`select`](TenantResolver::select) returns
///   [`Selection::SlugAndId`] and the [pipeline](crate::TenantPipeline) checks, after looking the
///   id up, that the tenant has that slug (else `Conflict`). Called through
///   [`resolve`](TenantResolver::resolve), which can return one key only, that case fails closed
///   with `Conflict`.
///
/// In both modes an error from any resolver that runs is returned at once: a malformed source is
/// never skipped in favour of a later one.
///
/// ```
/// use http::{HeaderMap, HeaderValue, header::HOST};
/// use tenancy_core::{HeaderResolver, RequestView, ResolveError, ResolverChain,
///     SubdomainResolver, TenantResolver};
///
/// let chain = ResolverChain::all_agree(vec![
///     Box::new(SubdomainResolver::new("example.com")?),
///     Box::new(HeaderResolver::x_tenant()),
/// ]);
/// let mut headers = HeaderMap::new();
/// headers.insert(HOST, HeaderValue::from_static("acme.example.com"));
/// headers.insert("x-tenant", HeaderValue::from_static("globex"));
/// let err = chain.resolve(&RequestView::new("/", &headers)).unwrap_err();
/// assert!(matches!(err, ResolveError::Conflict { .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ResolverChain {
    mode: Mode,
    resolvers: Vec<Box<dyn TenantResolver>>,
}

impl fmt::Debug for ResolverChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolverChain")
            .field("mode", &self.mode)
            .field("resolvers", &self.resolvers.len())
            .finish()
    }
}

impl ResolverChain {
    /// The first present source wins.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tenancy_core::{HeaderResolver, PathResolver, RequestView, ResolverChain, TenantResolver};
    ///
    /// let chain = ResolverChain::first_match(vec![
    ///     Box::new(HeaderResolver::x_tenant()),
    ///     Box::new(PathResolver::prefix("t")?),
    /// ]);
    /// let mut headers = HeaderMap::new();
    /// let key = chain.resolve(&RequestView::new("/t/acme/leads", &headers))?;
    /// assert_eq!(key.unwrap().to_string(), "acme"); // no header: the path decides
    /// headers.insert("x-tenant", HeaderValue::from_static("globex"));
    /// let key = chain.resolve(&RequestView::new("/t/acme/leads", &headers))?;
    /// assert_eq!(key.unwrap().to_string(), "globex"); // the header wins, the path is not read
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn first_match(resolvers: Vec<Box<dyn TenantResolver>>) -> Self {
        Self {
            mode: Mode::FirstMatch,
            resolvers,
        }
    }

    /// Every present source must name the same tenant.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, header::HOST};
    /// use tenancy_core::{HeaderResolver, RequestView, ResolverChain, SubdomainResolver, TenantResolver};
    ///
    /// let chain = ResolverChain::all_agree(vec![
    ///     Box::new(SubdomainResolver::new("example.com")?),
    ///     Box::new(HeaderResolver::x_tenant()),
    /// ]);
    /// let mut headers = HeaderMap::new();
    /// headers.insert(HOST, HeaderValue::from_static("acme.example.com"));
    /// headers.insert("x-tenant", HeaderValue::from_static("acme"));
    /// let key = chain.resolve(&RequestView::new("/", &headers))?;
    /// assert_eq!(key.unwrap().to_string(), "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn all_agree(resolvers: Vec<Box<dyn TenantResolver>>) -> Self {
        Self {
            mode: Mode::AllAgree,
            resolvers,
        }
    }

    /// Appends a resolver.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use tenancy_core::{HeaderResolver, PathResolver, RequestView, ResolverChain, TenantResolver};
    ///
    /// let chain = ResolverChain::first_match(Vec::new())
    ///     .with(HeaderResolver::x_tenant())
    ///     .with(PathResolver::prefix("t")?);
    /// let headers = HeaderMap::new();
    /// let key = chain.resolve(&RequestView::new("/t/acme", &headers))?;
    /// assert_eq!(key.unwrap().to_string(), "acme");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with(mut self, resolver: impl TenantResolver + 'static) -> Self {
        self.resolvers.push(Box::new(resolver));
        self
    }
}

impl TenantResolver for ResolverChain {
    fn resolve(&self, req: &RequestView<'_>) -> Result<Option<TenantKey>, ResolveError> {
        match self.select(req)? {
            Selection::Absent => Ok(None),
            Selection::Key(key) => Ok(Some(key)),
            Selection::SlugAndId { slug, id } => Err(ResolveError::Conflict {
                first: TenantKey::Slug(slug),
                second: TenantKey::Id(id),
            }),
        }
    }

    fn select(&self, req: &RequestView<'_>) -> Result<Selection, ResolveError> {
        match self.mode {
            Mode::FirstMatch => {
                for r in &self.resolvers {
                    let s = r.select(req)?;
                    if s != Selection::Absent {
                        return Ok(s);
                    }
                }
                Ok(Selection::Absent)
            }
            Mode::AllAgree => {
                let mut slug: Option<TenantSlug> = None;
                let mut id: Option<TenantId> = None;
                for r in &self.resolvers {
                    match r.select(req)? {
                        Selection::Absent => {}
                        Selection::Key(TenantKey::Slug(s)) => agree_slug(&mut slug, s)?,
                        Selection::Key(TenantKey::Id(i)) => agree_id(&mut id, i)?,
                        Selection::SlugAndId { slug: s, id: i } => {
                            agree_slug(&mut slug, s)?;
                            agree_id(&mut id, i)?;
                        }
                    }
                }
                Ok(match (slug, id) {
                    (None, None) => Selection::Absent,
                    (Some(s), None) => Selection::Key(TenantKey::Slug(s)),
                    (None, Some(i)) => Selection::Key(TenantKey::Id(i)),
                    (Some(slug), Some(id)) => Selection::SlugAndId { slug, id },
                })
            }
        }
    }
}

fn agree_slug(seen: &mut Option<TenantSlug>, s: TenantSlug) -> Result<(), ResolveError> {
    match seen {
        Some(prev) if *prev != s => Err(ResolveError::Conflict {
            first: TenantKey::Slug(prev.clone()),
            second: TenantKey::Slug(s),
        }),
        Some(_) => Ok(()),
        None => {
            *seen = Some(s);
            Ok(())
        }
    }
}

fn agree_id(seen: &mut Option<TenantId>, i: TenantId) -> Result<(), ResolveError> {
    match seen {
        Some(prev) if *prev != i => Err(ResolveError::Conflict {
            first: TenantKey::Id(*prev),
            second: TenantKey::Id(i),
        }),
        Some(_) => Ok(()),
        None => {
            *seen = Some(i);
            Ok(())
        }
    }
}
