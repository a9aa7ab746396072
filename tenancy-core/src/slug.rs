//! Validated tenant slugs.

use serde::{Deserialize, Deserializer, Serialize};
use smol_str::SmolStr;
use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

/// Reserved slugs refused by [`SlugPolicy::default`].
///
/// ```
/// use tenancy_core::{DEFAULT_RESERVED_SLUGS, SlugPolicy, TenantSlug};
/// assert!(DEFAULT_RESERVED_SLUGS.contains(&"admin"));
/// let policy = SlugPolicy::default();
/// assert!(DEFAULT_RESERVED_SLUGS.iter().all(|name| policy.is_reserved(name)));
/// assert!("admin".parse::<TenantSlug>().is_err());
/// ```
pub const DEFAULT_RESERVED_SLUGS: &[&str] = &[
    "www", "api", "admin", "app", "mail", "smtp", "ftp", "static", "assets", "cdn", "auth",
    "login", "signup", "status", "docs", "help", "support", "platform", "root", "system",
    "tenancy",
];

/// Why a string is not a valid [`TenantSlug`].
///
/// ```
/// use tenancy_core::{SlugError, TenantSlug};
/// let err = "api".parse::<TenantSlug>().unwrap_err();
/// assert!(matches!(err, SlugError::Reserved(_)));
/// assert_eq!(err.to_string(), "slug `api` is reserved");
/// assert!(matches!(TenantSlug::parse("ab"), Err(SlugError::Length(_))));
/// assert!(matches!(TenantSlug::parse("acme_inc"), Err(SlugError::Charset(_))));
/// assert!(matches!(TenantSlug::parse("acme-"), Err(SlugError::Hyphen(_))));
/// assert!(matches!(
///     TenantSlug::parse("0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60"),
///     Err(SlugError::IdShaped(_))
/// ));
/// ```
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
    /// Has the form of a tenant id (a hyphenated UUID): a selector such as `X-Tenant` reads that
    /// form as an id, so such a slug could never be selected by slug.
    #[error("slug `{0}` has the form of a tenant id")]
    IdShaped(String),
}

/// A validated tenant slug: a lowercase DNS label of 3 to 63 bytes, `a-z0-9-`, no leading or
/// trailing hyphen, not on the reserved list, and not of the form of a tenant id (a hyphenated
/// UUID), so that a selector value is never both an id and a slug.
///
/// Cheap to make and to clone: slugs up to 23 bytes (nearly all of them) are stored inline, no
/// allocation; longer ones are shared behind a reference count.
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
pub struct TenantSlug(SmolStr);

impl TenantSlug {
    /// Parses with the [default policy](SlugPolicy::default).
    ///
    /// ```
    /// use tenancy_core::TenantSlug;
    /// let slug = TenantSlug::parse("acme-2")?;
    /// assert_eq!(slug, "acme-2".parse::<TenantSlug>()?);
    /// assert!(TenantSlug::parse("support").is_err()); // reserved by default
    /// # Ok::<(), tenancy_core::SlugError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, SlugError> {
        SlugPolicy::default().parse(s)
    }

    /// The slug as a string slice.
    ///
    /// ```
    /// use tenancy_core::TenantSlug;
    /// let slug = TenantSlug::parse("acme")?;
    /// assert_eq!(slug.as_str(), "acme");
    /// # Ok::<(), tenancy_core::SlugError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantSlug({:?})", self.0.as_str())
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
    /// Lowercase, sorted, without duplicates: looked up by binary search.
    reserved: Vec<Box<str>>,
    /// A 256-bit filter over (length, first byte, last byte) of the reserved names: a slug whose
    /// bit is clear is not reserved, without any string comparison (most slugs on most requests).
    filter: [u64; 4],
}

/// The filter bit of a non-empty lowercase name.
fn filter_bit(s: &[u8]) -> usize {
    let (first, last) = match s {
        [] => (0, 0),
        [one] => (*one, *one),
        [first, .., last] => (*first, *last),
    };
    (s.len()
        .wrapping_mul(131)
        .wrapping_add(usize::from(first).wrapping_mul(17))
        .wrapping_add(usize::from(last)))
        & 255
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
    ///
    /// ```
    /// use tenancy_core::SlugPolicy;
    /// let policy = SlugPolicy::permissive();
    /// assert!(policy.parse("www").is_ok()); // no reserved names
    /// assert!(policy.parse("WWW").is_err()); // the shape rules still apply
    /// ```
    pub fn permissive() -> Self {
        Self {
            reserved: Vec::new(),
            filter: [0; 4],
        }
    }

    /// Adds names to the reserved list (compared case-insensitively).
    ///
    /// ```
    /// use tenancy_core::SlugPolicy;
    /// let policy = SlugPolicy::permissive().with_reserved(["Billing", "pricing"]);
    /// assert!(policy.is_reserved("billing"));
    /// assert!(policy.parse("pricing").is_err());
    /// assert!(policy.parse("www").is_ok());
    /// ```
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
        self.filter = [0; 4];
        for name in &self.reserved {
            let bit = filter_bit(name.as_bytes());
            self.filter[bit / 64] |= 1 << (bit % 64);
        }
        self
    }

    /// Whether `s` is on the reserved list (compared case-insensitively).
    ///
    /// ```
    /// use tenancy_core::SlugPolicy;
    /// let policy = SlugPolicy::default();
    /// assert!(policy.is_reserved("www"));
    /// assert!(policy.is_reserved("WWW"));
    /// assert!(!policy.is_reserved("acme"));
    /// ```
    pub fn is_reserved(&self, s: &str) -> bool {
        self.reserved
            .binary_search_by(|r| cmp_ignore_ascii_case(r, s))
            .is_ok()
    }

    /// [`is_reserved`](Self::is_reserved) for a string already known to be lowercase: a plain
    /// byte comparison (the list is stored lowercase).
    fn is_reserved_lowercase(&self, s: &str) -> bool {
        let bit = filter_bit(s.as_bytes());
        self.filter[bit / 64] & (1 << (bit % 64)) != 0
            && self.reserved.binary_search_by(|r| (**r).cmp(s)).is_ok()
    }

    /// Validates `s` as a slug.
    ///
    /// ```
    /// use tenancy_core::{SlugError, SlugPolicy};
    /// let policy = SlugPolicy::default().with_reserved(["billing"]);
    /// assert_eq!(policy.parse("acme")?.as_str(), "acme");
    /// assert!(matches!(policy.parse("billing"), Err(SlugError::Reserved(_))));
    /// # Ok::<(), SlugError>(())
    /// ```
    pub fn parse(&self, s: &str) -> Result<TenantSlug, SlugError> {
        let shown = || s.chars().take(80).collect::<String>();
        if s.len() < 3 || s.len() > 63 {
            return Err(SlugError::Length(shown()));
        }
        if !s.bytes().all(|b| SLUG_BYTES[usize::from(b)]) {
            return Err(SlugError::Charset(shown()));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(SlugError::Hyphen(shown()));
        }
        // The charset check above proved `s` lowercase.
        if self.is_reserved_lowercase(s) {
            return Err(SlugError::Reserved(shown()));
        }
        if is_id_shaped(s.as_bytes()) {
            return Err(SlugError::IdShaped(shown()));
        }
        // Nearly every slug fits inline: copy it without `SmolStr::new`'s general dispatch.
        Ok(TenantSlug(if s.len() <= SmolStr::INLINE_CAP {
            SmolStr::new_inline(s)
        } else {
            SmolStr::new(s)
        }))
    }
}

/// Whether 36 bytes of `a-z0-9-` have the form of a hyphenated UUID (`8-4-4-4-12` hex digits),
/// the form in which selectors read a tenant id.
fn is_id_shaped(s: &[u8]) -> bool {
    s.len() == 36
        && s.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The bytes a slug may contain (`a-z`, `0-9`, `-`), as a table: one lookup per byte.
const SLUG_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        #[allow(clippy::cast_possible_truncation)] // b < 256
        let c = b as u8;
        table[b] = c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-';
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_slugs_behave_alike() {
        // 23 bytes and less are stored inline, longer ones on the heap: same behaviour.
        for s in ["abc", &"a".repeat(23), &"b".repeat(24), &"c".repeat(63)] {
            let slug = TenantSlug::parse(s).unwrap_or_else(|e| unreachable!("{e}"));
            assert_eq!(slug.as_str(), s);
            assert_eq!(slug.clone(), slug);
            assert_eq!(slug.to_string(), s);
            let borrowed: &str = slug.borrow();
            assert_eq!(borrowed, s);
        }
    }

    #[test]
    fn parse_refuses_every_reserved_name_and_is_reserved_agrees() {
        let policy = SlugPolicy::default().with_reserved(["billing", "Zed-Co"]);
        for name in DEFAULT_RESERVED_SLUGS
            .iter()
            .copied()
            .chain(["billing", "zed-co"])
        {
            assert!(policy.is_reserved(name), "{name}");
            assert!(policy.is_reserved(&name.to_ascii_uppercase()), "{name}");
            assert!(
                matches!(policy.parse(name), Err(SlugError::Reserved(_))),
                "{name}"
            );
        }
        for name in ["acme", "wwww", "ww1", "zed-cp", "aaa", "zzz"] {
            assert!(!policy.is_reserved(name), "{name}");
            assert!(policy.parse(name).is_ok(), "{name}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_filter_never_hides_a_reserved_name(
            names in proptest::collection::vec("[a-z0-9-]{1,12}", 0..40),
            probe in "[a-z0-9-]{1,12}",
        ) {
            let policy = SlugPolicy::permissive().with_reserved(names.iter().cloned());
            for name in &names {
                proptest::prop_assert!(policy.is_reserved_lowercase(name));
            }
            proptest::prop_assert_eq!(
                policy.is_reserved_lowercase(&probe),
                names.contains(&probe)
            );
        }
    }

    #[test]
    fn a_slug_never_has_the_form_of_a_tenant_id() {
        for _ in 0..200 {
            let id = uuid::Uuid::new_v4().hyphenated().to_string();
            assert!(
                matches!(TenantSlug::parse(&id), Err(SlugError::IdShaped(_))),
                "{id}"
            );
            assert!(
                matches!(
                    SlugPolicy::permissive().parse(&id),
                    Err(SlugError::IdShaped(_))
                ),
                "{id}"
            );
        }
        // Positive controls: 36 bytes that are not that form are ordinary slugs.
        for s in [
            "0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f6g", // a non-hex letter
            "0196b4a55-c1f-7f0e-9a51-3c1d2b8e4f60", // a hyphen moved
            "acme-corporation-eu-west-and-central", // words
        ] {
            assert_eq!(s.len(), 36);
            let slug = TenantSlug::parse(s).unwrap_or_else(|e| unreachable!("{s}: {e}"));
            assert_eq!(slug.as_str(), s);
        }
        // The message names the rule.
        assert_eq!(
            TenantSlug::parse("0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60").map_err(|e| e.to_string()),
            Err("slug `0196b4a5-5c1f-7f0e-9a51-3c1d2b8e4f60` has the form of a tenant id".into())
        );
    }
}
