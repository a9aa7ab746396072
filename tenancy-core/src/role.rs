//! Organisation-scoped roles.

use std::fmt;
use std::str::FromStr;

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
    pub const ALL: [Role; 4] = [Role::Member, Role::Manager, Role::Admin, Role::Owner];

    /// The stable lowercase name (`owner`, `admin`, `manager`, `member`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Member => "member",
        }
    }

    /// Whether this role is `min` or above.
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
