//! Role assignment rules: who may grant, change or remove whose role.
//!
//! One function, [`check`], decides every membership change from four facts: the actor's role,
//! the action, the target's current role and the requested role. The rules (ATTACKS 30):
//!
//! - members and managers cannot grant, change or remove anyone (so nobody raises their own
//!   role: a self-change is a [`Action::Change`] whose target role is the actor's own);
//! - an admin grants member, manager or admin, and changes or removes managers and members (not
//!   other admins, not owners; an admin who wants a lower role asks an owner or leaves);
//! - only owners grant, change, demote or remove owners; owners may do everything;
//! - nobody grants a role above their own;
//! - everyone may leave.
//!
//! **Not decided here:** "the last owner cannot leave or be demoted" (ATTACKS 31) needs the
//! current number of owners and must hold under concurrent demotions, so it is enforced in the
//! database (a constraint trigger in `tenancy-sqlx`), after this check allowed the change.
//!
//! ```
//! use tenancy_core::{assignment::{check, Action}, Decision, DenyReason, Role};
//! assert!(check(Role::Admin, Action::Grant, None, Some(Role::Manager)).is_allowed());
//! assert_eq!(
//!     check(Role::Admin, Action::Change, Some(Role::Member), Some(Role::Owner)),
//!     Decision::Deny(DenyReason::OwnerOnly)
//! );
//! assert_eq!(
//!     check(Role::Member, Action::Change, Some(Role::Member), Some(Role::Admin)),
//!     Decision::Deny(DenyReason::InsufficientRole)
//! );
//! ```

use crate::Role;
use crate::decision::{Decision, DenyReason};

/// A membership change.
///
/// A handler turns its request into an action and the two roles around it, then asks [`check`]:
///
/// ```
/// use tenancy_core::{assignment::{check, Action}, Role};
/// // "Make this member a manager", asked by an admin.
/// let (action, target, requested) = (Action::Change, Some(Role::Member), Some(Role::Manager));
/// assert!(check(Role::Admin, action, target, requested).is_allowed());
/// // The same admin leaving: the target is the admin's own role, nothing is requested.
/// assert!(check(Role::Admin, Action::Leave, Some(Role::Admin), None).is_allowed());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Give a role to someone who has none in this tenant (add or invite). Target role `None`,
    /// requested role `Some`.
    Grant,
    /// Change an existing member's role (promote or demote, the actor's own included). Target
    /// role `Some`, requested role `Some`.
    Change,
    /// Remove another member. Target role `Some`, requested role `None`.
    Remove,
    /// The actor leaves. Target role `Some(actor's role)`, requested role `None`.
    Leave,
}

impl Action {
    /// Every action.
    ///
    /// ```
    /// use tenancy_core::{assignment::{check, Action}, Role};
    /// // What a member may do to another member (or, to leave, to themself): only leave.
    /// let allowed: Vec<Action> = Action::ALL
    ///     .into_iter()
    ///     .filter(|&action| {
    ///         let (target, requested) = match action {
    ///             Action::Grant => (None, Some(Role::Member)),
    ///             Action::Change => (Some(Role::Member), Some(Role::Manager)),
    ///             Action::Remove | Action::Leave => (Some(Role::Member), None),
    ///         };
    ///         check(Role::Member, action, target, requested).is_allowed()
    ///     })
    ///     .collect();
    /// assert_eq!(allowed, [Action::Leave]);
    /// ```
    pub const ALL: [Action; 4] = [Action::Grant, Action::Change, Action::Remove, Action::Leave];
}

/// Decides whether `actor` may perform `action` on a member whose role is `target` (`None`: not
/// a member yet), giving them `requested` (`None`: no role afterwards).
///
/// ```
/// use tenancy_core::{assignment::{check, Action}, Decision, DenyReason, Role};
/// // An admin removes a manager, but not another admin.
/// assert_eq!(check(Role::Admin, Action::Remove, Some(Role::Manager), None), Decision::Allow);
/// assert_eq!(
///     check(Role::Admin, Action::Remove, Some(Role::Admin), None),
///     Decision::Deny(DenyReason::TargetNotBelow)
/// );
/// // An owner may demote another owner.
/// assert!(check(Role::Owner, Action::Change, Some(Role::Owner), Some(Role::Admin)).is_allowed());
/// // A grant to someone who already has a role is malformed, whoever asks.
/// assert_eq!(
///     check(Role::Owner, Action::Grant, Some(Role::Member), Some(Role::Admin)),
///     Decision::Deny(DenyReason::InvalidAssignment)
/// );
/// ```
pub fn check(
    actor: Role,
    action: Action,
    target: Option<Role>,
    requested: Option<Role>,
) -> Decision {
    use Decision::{Allow, Deny};

    let shape_ok = match action {
        Action::Grant => target.is_none() && requested.is_some(),
        Action::Change => target.is_some() && requested.is_some(),
        Action::Remove => target.is_some() && requested.is_none(),
        Action::Leave => target == Some(actor) && requested.is_none(),
    };
    if !shape_ok {
        return Deny(DenyReason::InvalidAssignment);
    }
    if action == Action::Leave {
        return Allow;
    }
    if actor < Role::Admin {
        return Deny(DenyReason::InsufficientRole);
    }
    if actor != Role::Owner && (target == Some(Role::Owner) || requested == Some(Role::Owner)) {
        return Deny(DenyReason::OwnerOnly);
    }
    if requested.is_some_and(|r| r > actor) {
        return Deny(DenyReason::AboveOwnRole);
    }
    if actor != Role::Owner && target.is_some_and(|t| t >= actor) {
        return Deny(DenyReason::TargetNotBelow);
    }
    Allow
}
