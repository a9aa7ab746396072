//! Typed permissions and the role/permission policy.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use crate::decision::{Decision, DenyReason};
use crate::role::RoleName;
use crate::{PlatformScope, Role, TenantScope};

/// A permission: `resource:action`, each part 1 to 32 characters of `a-z`, `0-9`, `_`, `-`,
/// starting with a letter (`leads:write`, `audit_log:read`).
///
/// Declare permissions as constants with [`Permission::from_static`]: an invalid literal is then
/// a compile error.
///
/// ```
/// use tenancy_core::Permission;
/// const LEADS_WRITE: Permission = Permission::from_static("leads:write");
/// assert_eq!(LEADS_WRITE.resource(), "leads");
/// assert_eq!(LEADS_WRITE.action(), "write");
/// assert_eq!("leads:write".parse::<Permission>()?, LEADS_WRITE);
/// assert!("leads".parse::<Permission>().is_err());
/// assert!("Leads:Write".parse::<Permission>().is_err());
/// # Ok::<(), tenancy_core::PermissionError>(())
/// ```
///
/// ```compile_fail
/// const BAD: tenancy_core::Permission = tenancy_core::Permission::from_static("no colon");
/// ```
///
/// Apps that prefer an enum implement `From<MyPermission> for Permission`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(Cow<'static, str>);

/// Why a string is not a valid [`Permission`].
///
/// ```
/// use tenancy_core::Permission;
/// let err = Permission::parse("Leads:Write").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "`Leads:Write` is not a valid permission: expected `resource:action` with lowercase letters, digits, `_` and `-`"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a valid permission: expected `resource:action` with lowercase letters, digits, `_` and `-`"
)]
pub struct PermissionError(String);

const fn valid_part(b: &[u8], start: usize, end: usize) -> bool {
    if end <= start || end - start > 32 || !b[start].is_ascii_lowercase() {
        return false;
    }
    let mut i = start;
    while i < end {
        let c = b[i];
        if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

const fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut colon = None;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            if colon.is_some() {
                return false;
            }
            colon = Some(i);
        }
        i += 1;
    }
    match colon {
        Some(c) => valid_part(b, 0, c) && valid_part(b, c + 1, b.len()),
        None => false,
    }
}

impl Permission {
    /// A permission from a literal, checked at compile time when used in a `const`.
    ///
    /// # Panics
    ///
    /// When `s` is not `resource:action`; in a `const` item that is a compile error.
    ///
    /// ```
    /// use tenancy_core::Permission;
    /// const AUDIT_READ: Permission = Permission::from_static("audit_log:read");
    /// assert_eq!(AUDIT_READ.as_str(), "audit_log:read");
    /// ```
    #[allow(clippy::panic)]
    pub const fn from_static(s: &'static str) -> Self {
        if !is_valid(s) {
            panic!("invalid permission literal: expected `resource:action`");
        }
        Self(Cow::Borrowed(s))
    }

    /// Parses a permission.
    ///
    /// ```
    /// use tenancy_core::Permission;
    /// let p = Permission::parse("invoices:pay")?;
    /// assert_eq!(p, Permission::from_static("invoices:pay"));
    /// assert!(Permission::parse("invoices:pay:now").is_err());
    /// assert!(Permission::parse(":pay").is_err());
    /// # Ok::<(), tenancy_core::PermissionError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, PermissionError> {
        if is_valid(s) {
            Ok(Self(Cow::Owned(s.to_owned())))
        } else {
            Err(PermissionError(s.chars().take(64).collect()))
        }
    }

    /// The whole permission, `resource:action`.
    ///
    /// ```
    /// use tenancy_core::Permission;
    /// let p = Permission::from_static("leads:write");
    /// assert_eq!(p.as_str(), "leads:write");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the colon.
    ///
    /// ```
    /// use tenancy_core::Permission;
    /// assert_eq!(Permission::from_static("audit_log:read").resource(), "audit_log");
    /// ```
    pub fn resource(&self) -> &str {
        self.0.split_once(':').map_or("", |(r, _)| r)
    }

    /// The part after the colon.
    ///
    /// ```
    /// use tenancy_core::Permission;
    /// assert_eq!(Permission::from_static("audit_log:read").action(), "read");
    /// ```
    pub fn action(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, a)| a)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permission({})", self.0)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Permission {
    type Err = PermissionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Which kind of scope a permission applies to.
///
/// ```
/// use tenancy_core::{Permission, PermissionScope, Policy};
/// const LEADS_READ: Permission = Permission::from_static("leads:read");
/// const TENANTS_SUSPEND: Permission = Permission::from_static("tenants:suspend");
/// let policy = Policy::builder()
///     .permission(LEADS_READ)
///     .platform_permission(TENANTS_SUSPEND)
///     .build()?;
/// assert_eq!(policy.scope_of(&LEADS_READ), Some(PermissionScope::Tenant));
/// assert_eq!(policy.scope_of(&TENANTS_SUSPEND), Some(PermissionScope::Platform));
/// # Ok::<(), tenancy_core::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermissionScope {
    /// Checked against a [`TenantScope`], granted to organisation roles.
    Tenant,
    /// Checked against a [`PlatformScope`], held by every platform administrator.
    Platform,
}

/// A mistake in a policy definition, reported by [`PolicyBuilder::build`].
///
/// ```
/// use tenancy_core::{Permission, Policy, PolicyError, Role};
/// const LEADS_READ: Permission = Permission::from_static("leads:read");
/// // Granted, but never declared with `permission`.
/// let err = Policy::builder().grant(Role::Member, [LEADS_READ]).build().unwrap_err();
/// assert!(matches!(&err, PolicyError::UndeclaredPermission(p) if *p == LEADS_READ));
/// assert_eq!(err.to_string(), "permission `leads:read` is granted but not declared");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A permission was granted without being declared with
    /// [`PolicyBuilder::permission`].
    #[error("permission `{0}` is granted but not declared")]
    UndeclaredPermission(Permission),
    /// A platform permission was granted to an organisation role.
    #[error("platform permission `{0}` cannot be granted to an organisation role")]
    PlatformPermissionGranted(Permission),
    /// A permission was declared twice with different scopes.
    #[error("permission `{0}` is declared for both tenant and platform scopes")]
    ConflictingScope(Permission),
    /// A role name was declared twice (or clashes with a built-in role).
    #[error("role `{0}` is declared twice")]
    DuplicateRole(RoleName),
    /// A grant or a placement names a role that was never declared.
    #[error("role `{0}` is not declared")]
    UnknownRole(RoleName),
    /// The inheritance relation has a cycle through this role.
    #[error("role `{0}` inherits from itself")]
    Cycle(RoleName),
}

/// A custom role and where it sits in the hierarchy.
///
/// A custom role *inherits* every permission of the roles it is placed above, and the roles it is
/// placed below inherit all of its permissions. Example: `billing` above `manager`, below `admin`:
/// billing has every manager permission plus its own; admin (and so owner) has billing's.
///
/// ```
/// use tenancy_core::{CustomRole, Permission, Policy, Role, RoleName};
/// const INVOICES_PAY: Permission = Permission::from_static("invoices:pay");
/// let billing: RoleName = "billing".parse()?;
/// let policy = Policy::builder()
///     .permission(INVOICES_PAY)
///     .custom_role(CustomRole::new(billing.clone()).above(Role::Manager).below(Role::Admin))
///     .grant(billing.clone(), [INVOICES_PAY])
///     .build()?;
/// assert!(policy.includes(&billing, &Role::Manager.into()));
/// assert!(policy.includes(&Role::Owner.into(), &billing));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "pass the role to `PolicyBuilder::custom_role`"]
pub struct CustomRole {
    name: RoleName,
    above: Vec<RoleName>,
    below: Vec<RoleName>,
}

impl CustomRole {
    /// A custom role with no place yet (it inherits nothing and nobody inherits it).
    ///
    /// ```
    /// use tenancy_core::{CustomRole, Policy, Role, RoleName};
    /// let auditor: RoleName = "auditor".parse()?;
    /// // Not placed: inherits nothing, and no built-in role inherits it.
    /// let policy = Policy::builder().custom_role(CustomRole::new(auditor.clone())).build()?;
    /// assert!(!policy.includes(&auditor, &Role::Member.into()));
    /// assert!(!policy.includes(&Role::Owner.into(), &auditor));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(name: RoleName) -> Self {
        Self {
            name,
            above: Vec::new(),
            below: Vec::new(),
        }
    }

    /// Places this role above `role`: this role inherits `role`'s permissions.
    ///
    /// ```
    /// use tenancy_core::{CustomRole, Permission, Policy, Role, RoleName};
    /// const LEADS_READ: Permission = Permission::from_static("leads:read");
    /// let support: RoleName = "support".parse()?;
    /// let policy = Policy::builder()
    ///     .permission(LEADS_READ)
    ///     .grant(Role::Member, [LEADS_READ])
    ///     .custom_role(CustomRole::new(support.clone()).above(Role::Member))
    ///     .build()?;
    /// assert!(policy.check_role(&support, &LEADS_READ).is_allowed()); // inherited from member
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn above(mut self, role: impl Into<RoleName>) -> Self {
        self.above.push(role.into());
        self
    }

    /// Places this role below `role`: `role` inherits this role's permissions.
    ///
    /// ```
    /// use tenancy_core::{CustomRole, Permission, Policy, Role, RoleName};
    /// const INVOICES_PAY: Permission = Permission::from_static("invoices:pay");
    /// let billing: RoleName = "billing".parse()?;
    /// let policy = Policy::builder()
    ///     .permission(INVOICES_PAY)
    ///     .custom_role(CustomRole::new(billing.clone()).below(Role::Admin))
    ///     .grant(billing, [INVOICES_PAY])
    ///     .build()?;
    /// assert!(policy.check_role(&Role::Admin.into(), &INVOICES_PAY).is_allowed());
    /// assert!(!policy.check_role(&Role::Manager.into(), &INVOICES_PAY).is_allowed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn below(mut self, role: impl Into<RoleName>) -> Self {
        self.below.push(role.into());
        self
    }
}

/// Builds a [`Policy`]; see there.
///
/// ```
/// use tenancy_core::{Permission, Policy, Role};
/// const LEADS_READ: Permission = Permission::from_static("leads:read");
/// let policy = Policy::builder()
///     .permission(LEADS_READ)
///     .grant(Role::Member, [LEADS_READ])
///     .build()?;
/// assert!(policy.check_role(&Role::Member.into(), &LEADS_READ).is_allowed());
/// # Ok::<(), tenancy_core::PolicyError>(())
/// ```
#[derive(Debug, Default)]
#[must_use = "call `build` to get the policy"]
pub struct PolicyBuilder {
    declared: Vec<(Permission, PermissionScope)>,
    grants: Vec<(RoleName, Permission)>,
    custom: Vec<CustomRole>,
}

impl PolicyBuilder {
    /// Declares a tenant permission. Undeclared permissions are always denied.
    ///
    /// ```
    /// use tenancy_core::{Decision, DenyReason, Permission, Policy, Role};
    /// const LEADS_READ: Permission = Permission::from_static("leads:read");
    /// const LEADS_DELETE: Permission = Permission::from_static("leads:delete");
    /// let policy = Policy::builder().permission(LEADS_READ).build()?;
    /// assert!(policy.scope_of(&LEADS_READ).is_some());
    /// // Never declared: denied for every role, owners included.
    /// assert_eq!(
    ///     policy.check_role(&Role::Owner.into(), &LEADS_DELETE),
    ///     Decision::Deny(DenyReason::UnknownPermission)
    /// );
    /// # Ok::<(), tenancy_core::PolicyError>(())
    /// ```
    pub fn permission(mut self, p: Permission) -> Self {
        self.declared.push((p, PermissionScope::Tenant));
        self
    }

    /// Declares several tenant permissions.
    ///
    /// ```
    /// use tenancy_core::{Permission, PermissionScope, Policy};
    /// const LEADS_READ: Permission = Permission::from_static("leads:read");
    /// const LEADS_WRITE: Permission = Permission::from_static("leads:write");
    /// let policy = Policy::builder().permissions([LEADS_READ, LEADS_WRITE]).build()?;
    /// assert_eq!(policy.scope_of(&LEADS_WRITE), Some(PermissionScope::Tenant));
    /// # Ok::<(), tenancy_core::PolicyError>(())
    /// ```
    pub fn permissions(mut self, ps: impl IntoIterator<Item = Permission>) -> Self {
        self.declared
            .extend(ps.into_iter().map(|p| (p, PermissionScope::Tenant)));
        self
    }

    /// Declares a platform permission, held by every platform administrator and by no
    /// organisation role.
    ///
    /// ```
    /// use tenancy_core::{Permission, Policy, PolicyError, Role};
    /// const TENANTS_SUSPEND: Permission = Permission::from_static("tenants:suspend");
    /// let builder = || Policy::builder().platform_permission(TENANTS_SUSPEND);
    /// assert!(builder().build().is_ok());
    /// // Platform permissions cannot be granted to organisation roles.
    /// let err = builder().grant(Role::Owner, [TENANTS_SUSPEND]).build().unwrap_err();
    /// assert!(matches!(err, PolicyError::PlatformPermissionGranted(_)));
    /// ```
    pub fn platform_permission(mut self, p: Permission) -> Self {
        self.declared.push((p, PermissionScope::Platform));
        self
    }

    /// Grants permissions to a role (built-in or custom); roles above it inherit them.
    ///
    /// ```
    /// use tenancy_core::{Permission, Policy, Role};
    /// const LEADS_WRITE: Permission = Permission::from_static("leads:write");
    /// let policy = Policy::builder()
    ///     .permission(LEADS_WRITE)
    ///     .grant(Role::Manager, [LEADS_WRITE])
    ///     .build()?;
    /// assert!(policy.check_role(&Role::Manager.into(), &LEADS_WRITE).is_allowed());
    /// assert!(policy.check_role(&Role::Owner.into(), &LEADS_WRITE).is_allowed()); // inherited
    /// assert!(!policy.check_role(&Role::Member.into(), &LEADS_WRITE).is_allowed());
    /// # Ok::<(), tenancy_core::PolicyError>(())
    /// ```
    pub fn grant(
        mut self,
        role: impl Into<RoleName>,
        ps: impl IntoIterator<Item = Permission>,
    ) -> Self {
        let role = role.into();
        self.grants
            .extend(ps.into_iter().map(|p| (role.clone(), p)));
        self
    }

    /// Adds a custom role placed in the hierarchy.
    ///
    /// ```
    /// use tenancy_core::{CustomRole, Policy, PolicyError, Role, RoleName};
    /// let support: RoleName = "support".parse()?;
    /// let policy = Policy::builder()
    ///     .custom_role(CustomRole::new(support.clone()).above(Role::Member))
    ///     .build()?;
    /// assert!(policy.includes(&support, &Role::Member.into()));
    /// // A custom role may not reuse a built-in name.
    /// let err = Policy::builder().custom_role(CustomRole::new(Role::Admin.into())).build();
    /// assert!(matches!(err, Err(PolicyError::DuplicateRole(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn custom_role(mut self, role: CustomRole) -> Self {
        self.custom.push(role);
        self
    }

    /// Validates the definition and computes the inheritance closure once.
    ///
    /// ```
    /// use tenancy_core::{CustomRole, Policy, PolicyError, RoleName};
    /// let a: RoleName = "a".parse()?;
    /// let b: RoleName = "b".parse()?;
    /// let err = Policy::builder()
    ///     .custom_role(CustomRole::new(a.clone()).above(b.clone()))
    ///     .custom_role(CustomRole::new(b.clone()).above(a.clone()))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, PolicyError::Cycle(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Policy, PolicyError> {
        // Permissions.
        let mut declared: HashMap<Permission, PermissionScope> = HashMap::new();
        for (p, scope) in self.declared {
            if let Some(prev) = declared.insert(p.clone(), scope)
                && prev != scope
            {
                return Err(PolicyError::ConflictingScope(p));
            }
        }

        // Roles and the "inherits from" edges: role -> roles whose permissions it includes.
        let mut edges: HashMap<RoleName, BTreeSet<RoleName>> = HashMap::new();
        for pair in Role::ALL.windows(2) {
            let [lower, upper] = pair else { continue };
            edges
                .entry(RoleName::from(*upper))
                .or_default()
                .insert(RoleName::from(*lower));
        }
        edges.entry(RoleName::from(Role::Member)).or_default();
        for c in &self.custom {
            if edges.contains_key(&c.name) {
                return Err(PolicyError::DuplicateRole(c.name.clone()));
            }
            edges.insert(c.name.clone(), BTreeSet::new());
        }
        for c in &self.custom {
            for lower in &c.above {
                if !edges.contains_key(lower) {
                    return Err(PolicyError::UnknownRole(lower.clone()));
                }
                edges
                    .entry(c.name.clone())
                    .or_default()
                    .insert(lower.clone());
            }
            for upper in &c.below {
                let Some(set) = edges.get_mut(upper) else {
                    return Err(PolicyError::UnknownRole(upper.clone()));
                };
                set.insert(c.name.clone());
            }
        }

        // Direct grants.
        let mut direct: HashMap<RoleName, HashSet<Permission>> = HashMap::new();
        for (role, p) in self.grants {
            match declared.get(&p) {
                None => return Err(PolicyError::UndeclaredPermission(p)),
                Some(PermissionScope::Platform) => {
                    return Err(PolicyError::PlatformPermissionGranted(p));
                }
                Some(PermissionScope::Tenant) => {}
            }
            if !edges.contains_key(&role) {
                return Err(PolicyError::UnknownRole(role));
            }
            direct.entry(role).or_default().insert(p);
        }

        // Closure: every role reachable through "inherits from", computed once (with cycle check).
        let mut roles = HashMap::new();
        for name in edges.keys() {
            let mut includes: HashSet<RoleName> = HashSet::new();
            let mut stack = vec![name.clone()];
            while let Some(r) = stack.pop() {
                for lower in edges.get(&r).into_iter().flatten() {
                    if lower == name {
                        return Err(PolicyError::Cycle(name.clone()));
                    }
                    if includes.insert(lower.clone()) {
                        stack.push(lower.clone());
                    }
                }
            }
            includes.insert(name.clone());
            let permissions = includes
                .iter()
                .filter_map(|r| direct.get(r))
                .flatten()
                .cloned()
                .collect();
            roles.insert(
                name.clone(),
                RoleEntry {
                    includes,
                    permissions,
                },
            );
        }
        Ok(Policy { declared, roles })
    }
}

#[derive(Debug)]
struct RoleEntry {
    /// This role and every role it inherits from.
    includes: HashSet<RoleName>,
    /// Every permission it holds, inherited ones included.
    permissions: HashSet<Permission>,
}

/// Roles, permissions and who holds what, with the inheritance closure computed at build time.
///
/// Built-in roles form the chain `owner > admin > manager > member`, each inheriting the
/// permissions of the one below. Apps declare their permissions, grant them to roles, and may add
/// custom roles anywhere in the hierarchy ([`CustomRole`]). Checks deny by default: an
/// undeclared permission, an unknown role, or a permission of the other scope kind is a
/// [`Decision::Deny`].
///
/// Custom roles are [`RoleName`]s, not [`Role`]s: memberships (and so [`TenantScope::role`]) hold
/// the built-in `Role`, which stays `Copy` and is stored as text. Apps that store custom roles
/// themselves check them with [`check_role`](Self::check_role).
///
/// ```
/// use tenancy_core::{CustomRole, Decision, DenyReason, Permission, Policy, Role, RoleName};
/// const LEADS_READ: Permission = Permission::from_static("leads:read");
/// const LEADS_WRITE: Permission = Permission::from_static("leads:write");
/// const INVOICES_PAY: Permission = Permission::from_static("invoices:pay");
///
/// let billing: RoleName = "billing".parse()?;
/// let policy = Policy::builder()
///     .permissions([LEADS_READ, LEADS_WRITE, INVOICES_PAY])
///     .grant(Role::Member, [LEADS_READ])
///     .grant(Role::Manager, [LEADS_WRITE])
///     .custom_role(CustomRole::new(billing.clone()).above(Role::Manager).below(Role::Admin))
///     .grant(billing.clone(), [INVOICES_PAY])
///     .build()?;
///
/// assert!(policy.check_role(&billing, &LEADS_WRITE).is_allowed()); // inherited from manager
/// assert!(policy.check_role(&Role::Admin.into(), &INVOICES_PAY).is_allowed()); // admin > billing
/// assert!(!policy.check_role(&Role::Manager.into(), &INVOICES_PAY).is_allowed());
/// let unknown = Permission::from_static("leads:delete");
/// assert_eq!(
///     policy.check_role(&Role::Owner.into(), &unknown),
///     Decision::Deny(DenyReason::UnknownPermission)
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Policy {
    declared: HashMap<Permission, PermissionScope>,
    roles: HashMap<RoleName, RoleEntry>,
}

impl Policy {
    /// A builder.
    ///
    /// ```
    /// use tenancy_core::Policy;
    /// let policy = Policy::builder().build()?;
    /// assert!(policy.permissions_of(&tenancy_core::Role::Owner.into()).is_empty());
    /// # Ok::<(), tenancy_core::PolicyError>(())
    /// ```
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// Whether the scope's role holds `permission` in its tenant.
    ///
    /// ```
    /// use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Permission, Policy,
    ///     Role, Tenant, TenantId, TenantKey, UserId};
    /// const LEADS_WRITE: Permission = Permission::from_static("leads:write");
    /// let policy = Policy::builder().permission(LEADS_WRITE).grant(Role::Manager, [LEADS_WRITE]).build()?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # tenants.insert(acme.clone());
    /// let (alice, bob) = (UserId::new_random(), UserId::new_random());
    /// members.insert(acme.id, alice, Role::Manager);
    /// members.insert(acme.id, bob, Role::Member);
    /// let key = TenantKey::Id(acme.id);
    /// let alice_scope = authorize(&tenants, &members, &key, alice).await.unwrap();
    /// let bob_scope = authorize(&tenants, &members, &key, bob).await.unwrap();
    /// assert!(policy.check(&alice_scope, &LEADS_WRITE).is_allowed());
    /// assert!(policy.check(&bob_scope, &LEADS_WRITE).into_result().is_err());
    /// # });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(&self, scope: &TenantScope, permission: &Permission) -> Decision {
        self.check_role(&RoleName::from(scope.role()), permission)
    }

    /// Whether `role` (built-in or custom) holds the tenant permission `permission`.
    ///
    /// ```
    /// use tenancy_core::{Decision, DenyReason, Permission, Policy, Role, RoleName};
    /// const LEADS_READ: Permission = Permission::from_static("leads:read");
    /// let policy = Policy::builder().permission(LEADS_READ).grant(Role::Member, [LEADS_READ]).build()?;
    /// assert_eq!(policy.check_role(&Role::Admin.into(), &LEADS_READ), Decision::Allow);
    /// let stranger: RoleName = "stranger".parse()?;
    /// assert_eq!(policy.check_role(&stranger, &LEADS_READ), Decision::Deny(DenyReason::UnknownRole));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_role(&self, role: &RoleName, permission: &Permission) -> Decision {
        match self.declared.get(permission) {
            None => return Decision::Deny(DenyReason::UnknownPermission),
            Some(PermissionScope::Platform) => return Decision::Deny(DenyReason::WrongScope),
            Some(PermissionScope::Tenant) => {}
        }
        let Some(entry) = self.roles.get(role) else {
            return Decision::Deny(DenyReason::UnknownRole);
        };
        if entry.permissions.contains(permission) {
            Decision::Allow
        } else {
            Decision::Deny(DenyReason::NotGranted { role: role.clone() })
        }
    }

    /// Whether a platform administrator holds the platform permission `permission`. Tenant
    /// permissions are denied ([`DenyReason::WrongScope`]): a platform scope is not a tenant
    /// scope.
    ///
    /// ```
    /// use tenancy_core::{authorize_platform, Decision, DenyReason, InMemoryPlatformAdmins, Permission,
    ///     Policy, UserId};
    /// const TENANTS_SUSPEND: Permission = Permission::from_static("tenants:suspend");
    /// const LEADS_READ: Permission = Permission::from_static("leads:read");
    /// let policy = Policy::builder()
    ///     .permission(LEADS_READ)
    ///     .platform_permission(TENANTS_SUSPEND)
    ///     .build()?;
    /// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    /// let admins = InMemoryPlatformAdmins::new();
    /// let root = UserId::new_random();
    /// admins.insert(root);
    /// let scope = authorize_platform(&admins, root).await.unwrap();
    /// assert_eq!(policy.check_platform(&scope, &TENANTS_SUSPEND), Decision::Allow);
    /// assert_eq!(policy.check_platform(&scope, &LEADS_READ), Decision::Deny(DenyReason::WrongScope));
    /// # });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_platform(&self, _scope: &PlatformScope, permission: &Permission) -> Decision {
        match self.declared.get(permission) {
            None => Decision::Deny(DenyReason::UnknownPermission),
            Some(PermissionScope::Tenant) => Decision::Deny(DenyReason::WrongScope),
            Some(PermissionScope::Platform) => Decision::Allow,
        }
    }

    /// Whether `higher` is `lower` or inherits from it (directly or transitively).
    ///
    /// ```
    /// use tenancy_core::{Policy, Role};
    /// let policy = Policy::builder().build()?;
    /// assert!(policy.includes(&Role::Owner.into(), &Role::Member.into()));
    /// assert!(policy.includes(&Role::Admin.into(), &Role::Admin.into()));
    /// assert!(!policy.includes(&Role::Manager.into(), &Role::Admin.into()));
    /// # Ok::<(), tenancy_core::PolicyError>(())
    /// ```
    pub fn includes(&self, higher: &RoleName, lower: &RoleName) -> bool {
        self.roles
            .get(higher)
            .is_some_and(|e| e.includes.contains(lower))
    }

    /// Every permission `role` holds, inherited ones included, sorted.
    ///
    /// ```
    /// use tenancy_core::{Permission, Policy, Role};
    /// const LEADS_READ: Permission = Permission::from_static("leads:read");
    /// const LEADS_WRITE: Permission = Permission::from_static("leads:write");
    /// let policy = Policy::builder()
    ///     .permissions([LEADS_READ, LEADS_WRITE])
    ///     .grant(Role::Member, [LEADS_READ])
    ///     .grant(Role::Manager, [LEADS_WRITE])
    ///     .build()?;
    /// assert_eq!(policy.permissions_of(&Role::Member.into()), [LEADS_READ]);
    /// assert_eq!(policy.permissions_of(&Role::Admin.into()), [LEADS_READ, LEADS_WRITE]);
    /// # Ok::<(), tenancy_core::PolicyError>(())
    /// ```
    pub fn permissions_of(&self, role: &RoleName) -> Vec<Permission> {
        let mut v: Vec<_> = self
            .roles
            .get(role)
            .map(|e| e.permissions.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The scope kind a permission was declared for, if declared.
    ///
    /// ```
    /// use tenancy_core::{Permission, PermissionScope, Policy};
    /// const LEADS_READ: Permission = Permission::from_static("leads:read");
    /// let policy = Policy::builder().permission(LEADS_READ).build()?;
    /// assert_eq!(policy.scope_of(&LEADS_READ), Some(PermissionScope::Tenant));
    /// assert_eq!(policy.scope_of(&Permission::from_static("leads:delete")), None);
    /// # Ok::<(), tenancy_core::PolicyError>(())
    /// ```
    pub fn scope_of(&self, permission: &Permission) -> Option<PermissionScope> {
        self.declared.get(permission).copied()
    }
}

/// A type standing for one permission, so that it can be named in a type: the adapters'
/// `RequirePermission<P>` extractors take such a `P`.
///
/// ```
/// use tenancy_core::{Permission, PermissionMarker};
/// struct LeadsWrite;
/// impl PermissionMarker for LeadsWrite {
///     const PERMISSION: Permission = Permission::from_static("leads:write");
/// }
/// assert_eq!(LeadsWrite::PERMISSION.as_str(), "leads:write");
/// ```
pub trait PermissionMarker: Send + Sync + 'static {
    /// The permission this type stands for.
    const PERMISSION: Permission;
}
