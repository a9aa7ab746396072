//! Validated tenant slugs.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

/// Reserved slugs refused by [`SlugPolicy::default`].
pub const DEFAULT_RESERVED_SLUGS: &[&str] = &[
    "www", "api", "admin", "app", "mail", "smtp", "ftp", "static", "assets", "cdn", "auth",
    "login", "signup", "status", "docs", "help", "support", "platform", "root", "system",
    "tenancy",
];

/// Why a string is not a valid [`TenantSlug`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlugError {
    /// Shorter than 3 or longer than 63 bytes.
    #[error("slug `{0}` must be 3 to 63 characters long")]
    Length(String),
    /// Contains a character other than `a-z`, `0-9` or `-`.
    #[error("slug `{0}` may contain only lowercase letters, digits and hyphens")]
    Charset(String),
    /// Starts or ends with a hyphen.
    #[error("slug `{0}` must not start or end with a hyphen")]
    Hyphen(String),
    /// On the reserved list of the policy.
    #[error("slug `{0}` is reserved")]
    Reserved(String),
}

/// A validated tenant slug: a lowercase DNS label of 3 to 63 bytes, `a-z0-9-`, no leading or
/// trailing hyphen, not on the reserved list.
///
/// Cloning is cheap (reference counted).
///
/// ```
/// use tenancy_core::TenantSlug;
/// let slug: TenantSlug = "acme".parse()?;
/// assert_eq!(slug.as_str(), "acme");
/// assert!("Acme".parse::<TenantSlug>().is_err());
/// assert!("www".parse::<TenantSlug>().is_err());
/// assert!("-acme".parse::<TenantSlug>().is_err());
/// # Ok::<(), tenancy_core::SlugError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantSlug(Arc<str>);

impl TenantSlug {
    /// Parses with the [default policy](SlugPolicy::default).
    pub fn parse(s: &str) -> Result<Self, SlugError> {
        SlugPolicy::default().parse(s)
    }

    /// The slug as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantSlug({:?})", &*self.0)
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantSlug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TenantSlug {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantSlug {
    type Err = SlugError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for TenantSlug {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantSlug {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        // Deserialisation checks the shape only: a slug stored before a name was reserved must
        // still load.
        SlugPolicy::permissive()
            .parse(&s)
            .map_err(serde::de::Error::custom)
    }
}

/// Validation policy for slugs: the shape rules are fixed, the reserved list is configurable.
///
/// ```
/// use tenancy_core::SlugPolicy;
/// let policy = SlugPolicy::default().with_reserved(["billing"]);
/// assert!(policy.parse("billing").is_err());
/// assert!(policy.parse("www").is_err());
/// assert!(policy.parse("acme").is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct SlugPolicy {
    /// Lowercase, sorted, without duplicates: looked up by binary search on every request.
    reserved: Vec<Box<str>>,
}

impl Default for SlugPolicy {
    fn default() -> Self {
        Self::permissive().with_reserved(DEFAULT_RESERVED_SLUGS.iter().copied())
    }
}

/// `a` and `b` compared as if both were ASCII-lowercased.
fn cmp_ignore_ascii_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

impl SlugPolicy {
    /// A policy with no reserved names (shape rules only).
    pub fn permissive() -> Self {
        Self {
            reserved: Vec::new(),
        }
    }

    /// Adds names to the reserved list (compared case-insensitively).
    #[must_use]
    pub fn with_reserved<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reserved.extend(
            names
                .into_iter()
                .map(|s| s.into().to_ascii_lowercase().into_boxed_str()),
        );
        self.reserved.sort_unstable();
        self.reserved.dedup();
        self
    }

    /// Whether `s` is on the reserved list (compared case-insensitively).
    pub fn is_reserved(&self, s: &str) -> bool {
        self.reserved
            .binary_search_by(|r| cmp_ignore_ascii_case(r, s))
            .is_ok()
    }

    /// Validates `s` as a slug.
    pub fn parse(&self, s: &str) -> Result<TenantSlug, SlugError> {
        let shown = || s.chars().take(80).collect::<String>();
        if s.len() < 3 || s.len() > 63 {
            return Err(SlugError::Length(shown()));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(SlugError::Charset(shown()));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(SlugError::Hyphen(shown()));
        }
        if self.is_reserved(s) {
            return Err(SlugError::Reserved(shown()));
        }
        Ok(TenantSlug(Arc::from(s)))
    }
}
