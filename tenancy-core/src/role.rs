//! Organisation-scoped roles.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A member's role inside one organisation. Ordered: `Owner > Admin > Manager > Member`.
///
/// Platform administration is not a role inside an organisation; it is a separate scope type,
/// [`PlatformScope`](crate::PlatformScope).
///
/// ```
/// use tenancy_core::Role;
/// assert!(Role::Owner > Role::Admin);
/// assert!(Role::Admin.at_least(Role::Manager));
/// assert_eq!("manager".parse::<Role>()?, Role::Manager);
/// # Ok::<(), tenancy_core::RoleParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Can read and create ordinary records.
    Member,
    /// Member, plus edit and delete records and manage shared resources.
    Manager,
    /// Manager, plus manage members below owner and invitations, read the audit log.
    Admin,
    /// Everything, including managing owners and the organisation itself.
    Owner,
}

impl Role {
    /// Every built-in role, lowest first.
    ///
    /// ```
    /// use tenancy_core::Role;
    /// // Roles a manager may hand out: every role up to its own.
    /// let grantable: Vec<Role> = Role::ALL.into_iter().filter(|r| Role::Manager.at_least(*r)).collect();
    /// assert_eq!(grantable, [Role::Member, Role::Manager]);
    /// assert!(Role::ALL.is_sorted());
    /// ```
    pub const ALL: [Role; 4] = [Role::Member, Role::Manager, Role::Admin, Role::Owner];

    /// The stable lowercase name (`owner`, `admin`, `manager`, `member`).
    ///
    /// ```
    /// use tenancy_core::Role;
    /// assert_eq!(Role::Manager.as_str(), "manager");
    /// assert_eq!(Role::Manager.as_str().parse::<Role>(), Ok(Role::Manager));
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Member => "member",
        }
    }

    /// Whether this role is `min` or above.
    ///
    /// ```
    /// use tenancy_core::Role;
    /// assert!(Role::Owner.at_least(Role::Admin));
    /// assert!(Role::Admin.at_least(Role::Admin));
    /// assert!(!Role::Member.at_least(Role::Manager));
    /// ```
    pub fn at_least(self, min: Role) -> bool {
        self >= min
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown role name.
///
/// ```
/// use tenancy_core::{Role, RoleParseError};
/// let err: RoleParseError = "superuser".parse::<Role>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown role `superuser`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`")]
pub struct RoleParseError(String);

impl FromStr for Role {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "manager" => Ok(Self::Manager),
            "member" => Ok(Self::Member),
            other => Err(RoleParseError(other.chars().take(64).collect())),
        }
    }
}

/// The name of a role in a [`Policy`](crate::Policy): a built-in [`Role`] or an app-defined
/// custom role (`billing`, `support`).
///
/// 1 to 32 characters of `a-z`, `0-9`, `_`, `-`, starting with a letter. Built-in roles convert
/// with `From<Role>` and keep their stable names. Cloning is cheap.
///
/// Custom roles live here rather than in [`Role`] so that `Role` stays `Copy`, exhaustively
/// matchable and storable as one of four strings; the policy places custom roles in the
/// hierarchy.
///
/// ```
/// use tenancy_core::{Role, RoleName};
/// let billing: RoleName = "billing".parse()?;
/// assert_eq!(billing.as_str(), "billing");
/// assert_eq!(billing.builtin(), None);
/// assert_eq!(RoleName::from(Role::Admin).builtin(), Some(Role::Admin));
/// assert_eq!("admin".parse::<RoleName>()?, RoleName::from(Role::Admin));
/// assert!("Billing Team".parse::<RoleName>().is_err());
/// # Ok::<(), tenancy_core::RoleParseError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoleName(Arc<str>);

impl RoleName {
    /// The name.
    ///
    /// ```
    /// use tenancy_core::{Role, RoleName};
    /// assert_eq!(RoleName::from(Role::Owner).as_str(), "owner");
    /// assert_eq!("support".parse::<RoleName>()?.as_str(), "support");
    /// # Ok::<(), tenancy_core::RoleParseError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The built-in role with this name, if it is one.
    ///
    /// ```
    /// use tenancy_core::{Role, RoleName};
    /// let name: RoleName = "manager".parse()?;
    /// assert_eq!(name.builtin(), Some(Role::Manager));
    /// assert_eq!("support".parse::<RoleName>()?.builtin(), None);
    /// # Ok::<(), tenancy_core::RoleParseError>(())
    /// ```
    pub fn builtin(&self) -> Option<Role> {
        self.0.parse().ok()
    }
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        Self(Arc::from(role.as_str()))
    }
}

impl FromStr for RoleName {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 32
            && b[0].is_ascii_lowercase()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-');
        if ok {
            Ok(Self(Arc::from(s)))
        } else {
            Err(RoleParseError(s.chars().take(64).collect()))
        }
    }
}

impl TryFrom<String> for RoleName {
    type Error = RoleParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RoleName> for String {
    fn from(r: RoleName) -> Self {
        r.0.to_string()
    }
}

impl fmt::Debug for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoleName({})", self.0)
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
