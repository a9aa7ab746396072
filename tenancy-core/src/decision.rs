//! Authorisation decisions that fail closed.

use crate::role::RoleName;

/// The outcome of an authorisation check: allow, or deny with a reason.
///
/// Deliberately **not** `#[non_exhaustive]`, and neither is [`DenyReason`]: a new kind of outcome
/// must break every exhaustive `match` downstream, so no caller silently treats it as "allow".
/// The type is `#[must_use]`; use [`into_result`](Self::into_result) with `?` to stop at the first
/// deny.
///
/// ```
/// use tenancy_core::{Decision, DenyReason};
/// fn handler(d: Decision) -> Result<&'static str, DenyReason> {
///     d.into_result()?;
///     Ok("done")
/// }
/// assert_eq!(handler(Decision::Allow), Ok("done"));
/// assert!(handler(Decision::Deny(DenyReason::UnknownPermission)).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a decision does nothing unless it is checked"]
pub enum Decision {
    /// The action may proceed.
    Allow,
    /// The action must not proceed.
    Deny(DenyReason),
}

impl Decision {
    /// Whether this is [`Decision::Allow`].
    ///
    /// ```
    /// use tenancy_core::{assignment::{check, Action}, Role};
    /// assert!(check(Role::Owner, Action::Grant, None, Some(Role::Admin)).is_allowed());
    /// assert!(!check(Role::Manager, Action::Grant, None, Some(Role::Member)).is_allowed());
    /// ```
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }

    /// `Ok(())` for allow, `Err(reason)` for deny.
    ///
    /// ```
    /// use tenancy_core::{assignment::{check, Action}, DenyReason, Role};
    /// let to_owner = check(Role::Admin, Action::Change, Some(Role::Admin), Some(Role::Owner));
    /// assert_eq!(to_owner.into_result(), Err(DenyReason::OwnerOnly));
    /// let leave = check(Role::Admin, Action::Leave, Some(Role::Admin), None);
    /// assert_eq!(leave.into_result(), Ok(()));
    /// ```
    pub fn into_result(self) -> Result<(), DenyReason> {
        match self {
            Self::Allow => Ok(()),
            Self::Deny(reason) => Err(reason),
        }
    }

    /// The reason, when denied.
    ///
    /// ```
    /// use tenancy_core::{assignment::{check, Action}, DenyReason, Role};
    /// let d = check(Role::Member, Action::Remove, Some(Role::Member), None);
    /// assert_eq!(d.deny_reason(), Some(&DenyReason::InsufficientRole));
    /// let d = check(Role::Owner, Action::Remove, Some(Role::Member), None);
    /// assert_eq!(d.deny_reason(), None);
    /// ```
    pub fn deny_reason(&self) -> Option<&DenyReason> {
        match self {
            Self::Allow => None,
            Self::Deny(reason) => Some(reason),
        }
    }
}

/// Why an action was denied. Every variant maps to HTTP 403 ([`DenyReason::status`]); the
/// message never names another tenant or user.
///
/// ```
/// use tenancy_core::{assignment::{check, Action}, DenyReason, Role};
/// let refused = check(Role::Manager, Action::Grant, None, Some(Role::Member)).into_result();
/// let Err(reason) = refused else { panic!("managers cannot invite") };
/// assert!(matches!(reason, DenyReason::InsufficientRole));
/// assert_eq!(reason.to_string(), "your role cannot manage members");
/// assert_eq!(reason.status(), http::StatusCode::FORBIDDEN);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenyReason {
    /// The permission was never declared in the policy (deny by default; usually a bug).
    #[error("unknown permission")]
    UnknownPermission,
    /// The role was never declared in the policy.
    #[error("unknown role")]
    UnknownRole,
    /// A platform permission checked against a tenant scope, or a tenant permission against a
    /// platform scope.
    #[error("permission does not apply to this kind of scope")]
    WrongScope,
    /// The role, with everything it inherits, does not hold the permission.
    #[error("role `{role}` does not grant this permission")]
    NotGranted {
        /// The role that was checked.
        role: RoleName,
    },
    /// Managing memberships needs admin or owner; the actor's role is below.
    #[error("your role cannot manage members")]
    InsufficientRole,
    /// Only owners may grant, change, demote or remove the owner role.
    #[error("only owners can manage owners")]
    OwnerOnly,
    /// Nobody grants a role above their own.
    #[error("cannot grant a role above your own")]
    AboveOwnRole,
    /// The target's current role is not below the actor's (admins do not manage other admins).
    #[error("cannot manage a member whose role is not below yours")]
    TargetNotBelow,
    /// The request is malformed for its action (for example a grant to someone who already has a
    /// role, a change without a requested role, or leaving with a role that is not one's own).
    #[error("invalid role assignment request")]
    InvalidAssignment,
}

impl DenyReason {
    /// The HTTP status for this deny: always `403 Forbidden`.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tenancy_core::{assignment::{check, Action}, Role};
    /// let invite_owner = check(Role::Admin, Action::Grant, None, Some(Role::Owner));
    /// let status = match invite_owner.into_result() {
    ///     Ok(()) => StatusCode::CREATED,
    ///     Err(reason) => reason.status(),
    /// };
    /// assert_eq!(status, StatusCode::FORBIDDEN);
    /// ```
    pub fn status(&self) -> http::StatusCode {
        http::StatusCode::FORBIDDEN
    }
}
