//! Identifier newtypes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Error returned when a string is not a valid identifier.
///
/// Only the canonical hyphenated UUID form parses; the message quotes the input (cut to 64
/// characters) and names the kind of id.
///
/// ```
/// use tenancy_core::{TenantId, UserId};
/// let err = "{6f1c1f0e-8d5e-4c53-9d3c-8c7f0b6f2a11}".parse::<TenantId>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "`{6f1c1f0e-8d5e-4c53-9d3c-8c7f0b6f2a11}` is not a valid tenant id"
/// );
/// assert!("alice".parse::<UserId>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid {kind} id")]
pub struct IdParseError {
    kind: &'static str,
    input: String,
}

impl IdParseError {
    /// The kind of id that failed to parse (`tenant`, `user`).
    ///
    /// ```
    /// use tenancy_core::{TenantId, UserId};
    /// assert_eq!("acme".parse::<TenantId>().unwrap_err().kind(), "tenant");
    /// assert_eq!("alice".parse::<UserId>().unwrap_err().kind(), "user");
    /// ```
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

macro_rules! uuid_newtype {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        // A `Uuid` is 16 bytes aligned to 1: in the enums and results a request passes along
        // (principal, scope, outcome) it would sit at odd offsets, and copying it would stall
        // on store forwarding. Aligned to 8, it is copied as two words.
        #[repr(align(8))]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            ///
            /// ```
            /// use uuid::Uuid;
            #[doc = concat!("use tenancy_core::", stringify!($name), ";")]
            #[doc = concat!(
                "const SYSTEM: ", stringify!($name), " = ", stringify!($name), "::from_uuid(Uuid::nil());"
            )]
            /// assert_eq!(SYSTEM.to_string(), "00000000-0000-0000-0000-000000000000");
            /// ```
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// Generates a new random (v4) id.
            ///
            /// ```
            #[doc = concat!("use tenancy_core::", stringify!($name), ";")]
            #[doc = concat!("let a = ", stringify!($name), "::new_random();")]
            #[doc = concat!("let b = ", stringify!($name), "::new_random();")]
            /// assert_ne!(a, b);
            /// assert_eq!(a.as_uuid().get_version_num(), 4);
            /// ```
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The underlying UUID.
            ///
            /// ```
            #[doc = concat!("use tenancy_core::", stringify!($name), ";")]
            #[doc = concat!("let id = ", stringify!($name), "::new_random();")]
            /// let uuid: &uuid::Uuid = id.as_uuid();
            /// assert_eq!(uuid.to_string(), id.to_string());
            /// ```
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The underlying UUID, by value.
            ///
            /// ```
            #[doc = concat!("use tenancy_core::", stringify!($name), ";")]
            #[doc = concat!("let id = ", stringify!($name), "::new_random();")]
            /// let uuid: uuid::Uuid = id.into_uuid();
            #[doc = concat!("assert_eq!(", stringify!($name), "::from_uuid(uuid), id);")]
            /// ```
            pub const fn into_uuid(self) -> Uuid {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical hyphenated form is accepted: no braces, no urn prefix.
                if s.len() != 36 {
                    return Err(IdParseError { kind: $kind, input: s.chars().take(64).collect() });
                }
                Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| IdParseError { kind: $kind, input: s.chars().take(64).collect() })
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

uuid_newtype!(
    /// The id of a tenant (an organisation).
    ///
    /// ```
    /// use tenancy_core::TenantId;
    /// let id: TenantId = "6f1c1f0e-8d5e-4c53-9d3c-8c7f0b6f2a11".parse()?;
    /// assert_eq!(id.to_string(), "6f1c1f0e-8d5e-4c53-9d3c-8c7f0b6f2a11");
    /// assert!("not-a-uuid".parse::<TenantId>().is_err());
    /// # Ok::<(), tenancy_core::IdParseError>(())
    /// ```
    TenantId,
    "tenant"
);

uuid_newtype!(
    /// The id of a user (a principal that can hold memberships).
    ///
    /// ```
    /// use tenancy_core::UserId;
    /// let id = UserId::new_random();
    /// assert_eq!(id, id.to_string().parse()?);
    /// # Ok::<(), tenancy_core::IdParseError>(())
    /// ```
    UserId,
    "user"
);
