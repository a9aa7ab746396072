//! Roles, permissions, decisions and assignment rules (issue 4; ATTACKS 30, 33).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use tenancy_core::assignment::{self, Action};
use tenancy_core::{
    CustomRole, Decision, DenyReason, InMemoryMembershipStore, InMemoryPlatformAdmins,
    InMemoryTenantStore, Permission, PermissionScope, Policy, PolicyError, Role, RoleName, Tenant,
    TenantId, TenantKey, UserId, authorize, authorize_platform,
};

// ---------------------------------------------------------------------------------------------
// Assignment: the full matrix against an independently written table.

/// Every combination that is ALLOWED, written out by hand from the issue text:
/// actor, action, target's current role ("-" = none), requested role ("-" = none).
/// Everything not listed must be denied.
const ALLOWED: &str = "
owner   grant   -       member
owner   grant   -       manager
owner   grant   -       admin
owner   grant   -       owner
owner   change  member  member
owner   change  member  manager
owner   change  member  admin
owner   change  member  owner
owner   change  manager member
owner   change  manager manager
owner   change  manager admin
owner   change  manager owner
owner   change  admin   member
owner   change  admin   manager
owner   change  admin   admin
owner   change  admin   owner
owner   change  owner   member
owner   change  owner   manager
owner   change  owner   admin
owner   change  owner   owner
owner   remove  member  -
owner   remove  manager -
owner   remove  admin   -
owner   remove  owner   -
owner   leave   owner   -
admin   grant   -       member
admin   grant   -       manager
admin   grant   -       admin
admin   change  member  member
admin   change  member  manager
admin   change  member  admin
admin   change  manager member
admin   change  manager manager
admin   change  manager admin
admin   remove  member  -
admin   remove  manager -
admin   leave   admin   -
manager leave   manager -
member  leave   member  -
";

fn parse_role(s: &str) -> Option<Role> {
    (s != "-").then(|| s.parse().unwrap())
}

fn parse_action(s: &str) -> Action {
    match s {
        "grant" => Action::Grant,
        "change" => Action::Change,
        "remove" => Action::Remove,
        "leave" => Action::Leave,
        other => panic!("bad action {other}"),
    }
}

type Combo = (Role, Action, Option<Role>, Option<Role>);

fn allowed_table() -> HashSet<Combo> {
    ALLOWED
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<_> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "bad table line {l:?}");
            (
                f[0].parse().unwrap(),
                parse_action(f[1]),
                parse_role(f[2]),
                parse_role(f[3]),
            )
        })
        .collect()
}

fn optional_roles() -> impl Iterator<Item = Option<Role>> + Clone {
    std::iter::once(None).chain(Role::ALL.into_iter().map(Some))
}

#[test]
fn assignment_matrix_matches_the_table_exhaustively() {
    let allowed = allowed_table();
    assert_eq!(allowed.len(), 39, "table lines are distinct");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for actor in Role::ALL {
        for action in Action::ALL {
            for target in optional_roles() {
                for requested in optional_roles() {
                    checked += 1;
                    let d = assignment::check(actor, action, target, requested);
                    let expect = allowed.contains(&(actor, action, target, requested));
                    if d.is_allowed() != expect {
                        mismatches.push(format!(
                            "{actor} {action:?} {target:?} -> {requested:?}: got {d:?}"
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(checked, 4 * 4 * 5 * 5);
    assert!(
        mismatches.is_empty(),
        "mismatches:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn nobody_ever_grants_above_their_own_role() {
    // Property over the whole matrix, independent of the table.
    for actor in Role::ALL {
        for action in Action::ALL {
            for target in optional_roles() {
                for requested in optional_roles() {
                    let d = assignment::check(actor, action, target, requested);
                    if d.is_allowed() {
                        assert!(requested.is_none_or(|r| r <= actor));
                        if actor != Role::Owner {
                            assert_ne!(target, Some(Role::Owner));
                            assert_ne!(requested, Some(Role::Owner));
                        }
                        if actor < Role::Admin {
                            assert_eq!(action, Action::Leave);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn malformed_requests_are_invalid_not_allowed() {
    use DenyReason::InvalidAssignment as I;
    let cases = [
        (
            Role::Owner,
            Action::Grant,
            Some(Role::Member),
            Some(Role::Admin),
        ),
        (Role::Owner, Action::Grant, None, None),
        (Role::Owner, Action::Change, None, Some(Role::Admin)),
        (Role::Owner, Action::Change, Some(Role::Admin), None),
        (Role::Owner, Action::Remove, None, None),
        (
            Role::Owner,
            Action::Remove,
            Some(Role::Admin),
            Some(Role::Member),
        ),
        // Leaving with a role that is not one's own is an attempt to remove someone else.
        (Role::Member, Action::Leave, Some(Role::Owner), None),
        (Role::Admin, Action::Leave, None, None),
    ];
    for (a, act, t, r) in cases {
        assert_eq!(
            assignment::check(a, act, t, r),
            Decision::Deny(I),
            "{a} {act:?} {t:?} {r:?}"
        );
    }
}

// ATTACKS 30 -----------------------------------------------------------------------------------

#[test]
fn f30_member_cannot_raise_own_role_or_anyone() {
    for requested in [Role::Manager, Role::Admin, Role::Owner] {
        assert_eq!(
            assignment::check(
                Role::Member,
                Action::Change,
                Some(Role::Member),
                Some(requested)
            ),
            Decision::Deny(DenyReason::InsufficientRole)
        );
        assert_eq!(
            assignment::check(Role::Member, Action::Grant, None, Some(requested)),
            Decision::Deny(DenyReason::InsufficientRole)
        );
    }
    // Managers cannot either.
    assert_eq!(
        assignment::check(
            Role::Manager,
            Action::Change,
            Some(Role::Manager),
            Some(Role::Admin)
        ),
        Decision::Deny(DenyReason::InsufficientRole)
    );
}

#[test]
fn f30_admin_cannot_grant_or_remove_owner() {
    let d = |act, t, r| assignment::check(Role::Admin, act, t, r);
    let owner_only = Decision::Deny(DenyReason::OwnerOnly);
    assert_eq!(d(Action::Grant, None, Some(Role::Owner)), owner_only);
    assert_eq!(
        d(Action::Change, Some(Role::Admin), Some(Role::Owner)),
        owner_only
    );
    assert_eq!(
        d(Action::Change, Some(Role::Owner), Some(Role::Member)),
        owner_only
    );
    assert_eq!(d(Action::Remove, Some(Role::Owner), None), owner_only);
    // Nor other admins.
    assert_eq!(
        d(Action::Remove, Some(Role::Admin), None),
        Decision::Deny(DenyReason::TargetNotBelow)
    );
    // Positive control: an admin does manage managers and members.
    assert!(d(Action::Change, Some(Role::Member), Some(Role::Manager)).is_allowed());
    assert!(d(Action::Remove, Some(Role::Manager), None).is_allowed());
}

#[test]
fn f30_only_owners_manage_owners() {
    for actor in Role::ALL {
        let grant = assignment::check(actor, Action::Grant, None, Some(Role::Owner));
        let demote = assignment::check(actor, Action::Change, Some(Role::Owner), Some(Role::Admin));
        let remove = assignment::check(actor, Action::Remove, Some(Role::Owner), None);
        let is_owner = actor == Role::Owner;
        assert_eq!(grant.is_allowed(), is_owner, "{actor} grant owner");
        assert_eq!(demote.is_allowed(), is_owner, "{actor} demote owner");
        assert_eq!(remove.is_allowed(), is_owner, "{actor} remove owner");
    }
}

#[test]
fn deny_reasons_map_to_403_and_read_cleanly() {
    let d = assignment::check(Role::Admin, Action::Grant, None, Some(Role::Owner));
    let reason = d.clone().into_result().unwrap_err();
    assert_eq!(reason.status(), http::StatusCode::FORBIDDEN);
    assert_eq!(reason.to_string(), "only owners can manage owners");
    assert_eq!(d.deny_reason(), Some(&reason));
}

/// A new `Decision` variant must break this build: the match below is exhaustive and has no
/// wildcard arm.
#[test]
fn decision_is_matched_exhaustively() {
    fn describe(d: &Decision) -> &'static str {
        match d {
            Decision::Allow => "allow",
            Decision::Deny(DenyReason::UnknownPermission) => "unknown permission",
            Decision::Deny(DenyReason::UnknownRole) => "unknown role",
            Decision::Deny(DenyReason::WrongScope) => "wrong scope",
            Decision::Deny(DenyReason::NotGranted { .. }) => "not granted",
            Decision::Deny(DenyReason::InsufficientRole) => "insufficient",
            Decision::Deny(DenyReason::OwnerOnly) => "owner only",
            Decision::Deny(DenyReason::AboveOwnRole) => "above own",
            Decision::Deny(DenyReason::TargetNotBelow) => "target not below",
            Decision::Deny(DenyReason::InvalidAssignment) => "invalid",
        }
    }
    assert_eq!(describe(&Decision::Allow), "allow");
}

// ---------------------------------------------------------------------------------------------
// Policy

const LEADS_READ: Permission = Permission::from_static("leads:read");
const LEADS_WRITE: Permission = Permission::from_static("leads:write");
const LEADS_DELETE: Permission = Permission::from_static("leads:delete");
const MEMBERS_MANAGE: Permission = Permission::from_static("members:manage");
const ORG_DELETE: Permission = Permission::from_static("org:delete");
const INVOICES_PAY: Permission = Permission::from_static("invoices:pay");
const TENANTS_SUSPEND: Permission = Permission::from_static("tenants:suspend");

fn billing() -> RoleName {
    "billing".parse().unwrap()
}

fn policy() -> Policy {
    Policy::builder()
        .permissions([
            LEADS_READ,
            LEADS_WRITE,
            LEADS_DELETE,
            MEMBERS_MANAGE,
            ORG_DELETE,
        ])
        .permission(INVOICES_PAY)
        .platform_permission(TENANTS_SUSPEND)
        .grant(Role::Member, [LEADS_READ, LEADS_WRITE])
        .grant(Role::Manager, [LEADS_DELETE])
        .grant(Role::Admin, [MEMBERS_MANAGE])
        .grant(Role::Owner, [ORG_DELETE])
        .custom_role(
            CustomRole::new(billing())
                .above(Role::Manager)
                .below(Role::Admin),
        )
        .grant(billing(), [INVOICES_PAY])
        .build()
        .unwrap()
}

#[test]
fn builtin_roles_inherit_downwards_only() {
    let p = policy();
    let expect: [(Role, &[Permission]); 4] = [
        (Role::Member, &[LEADS_READ, LEADS_WRITE]),
        (Role::Manager, &[LEADS_DELETE, LEADS_READ, LEADS_WRITE]),
        (
            Role::Admin,
            &[
                INVOICES_PAY,
                LEADS_DELETE,
                LEADS_READ,
                LEADS_WRITE,
                MEMBERS_MANAGE,
            ],
        ),
        (
            Role::Owner,
            &[
                INVOICES_PAY,
                LEADS_DELETE,
                LEADS_READ,
                LEADS_WRITE,
                MEMBERS_MANAGE,
                ORG_DELETE,
            ],
        ),
    ];
    for (role, perms) in expect {
        let mut want = perms.to_vec();
        want.sort();
        assert_eq!(p.permissions_of(&role.into()), want, "{role}");
    }
    assert!(
        p.check_role(&Role::Manager.into(), &MEMBERS_MANAGE)
            == Decision::Deny(DenyReason::NotGranted {
                role: Role::Manager.into()
            })
    );
}

#[test]
fn custom_role_sits_between_manager_and_admin() {
    let p = policy();
    let b = billing();
    assert!(p.check_role(&b, &INVOICES_PAY).is_allowed());
    assert!(
        p.check_role(&b, &LEADS_DELETE).is_allowed(),
        "inherits manager"
    );
    assert!(!p.check_role(&b, &MEMBERS_MANAGE).is_allowed(), "not admin");
    assert!(p.includes(&Role::Admin.into(), &b));
    assert!(p.includes(&Role::Owner.into(), &b));
    assert!(p.includes(&b, &Role::Member.into()));
    assert!(!p.includes(&Role::Manager.into(), &b));
}

#[test]
fn deny_by_default() {
    let p = policy();
    let undeclared = Permission::from_static("leads:export");
    assert_eq!(
        p.check_role(&Role::Owner.into(), &undeclared),
        Decision::Deny(DenyReason::UnknownPermission)
    );
    let ghost: RoleName = "ghost".parse().unwrap();
    assert_eq!(
        p.check_role(&ghost, &LEADS_READ),
        Decision::Deny(DenyReason::UnknownRole)
    );
    assert_eq!(
        Policy::builder()
            .build()
            .unwrap()
            .check_role(&Role::Owner.into(), &LEADS_READ),
        Decision::Deny(DenyReason::UnknownPermission)
    );
}

#[tokio::test]
async fn checks_are_against_the_scope_type() {
    let p = policy();
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let admins = InMemoryPlatformAdmins::new();
    let a = Tenant::new(TenantId::new_random(), "tenant-a".parse().unwrap(), "A");
    tenants.insert(a.clone());
    let (owner, root) = (UserId::new_random(), UserId::new_random());
    members.insert(a.id, owner, Role::Owner);
    admins.insert(root);
    let scope = authorize(&tenants, &members, &TenantKey::Id(a.id), owner)
        .await
        .unwrap();
    let platform = authorize_platform(&admins, root).await.unwrap();

    assert_eq!(
        p.scope_of(&TENANTS_SUSPEND),
        Some(PermissionScope::Platform)
    );
    // An owner's tenant scope does not hold a platform permission...
    assert_eq!(
        p.check(&scope, &TENANTS_SUSPEND),
        Decision::Deny(DenyReason::WrongScope)
    );
    // ...and a platform scope holds no tenant permission (ATTACKS 35).
    assert_eq!(
        p.check_platform(&platform, &LEADS_READ),
        Decision::Deny(DenyReason::WrongScope)
    );
    // Positive controls.
    assert!(p.check(&scope, &ORG_DELETE).is_allowed());
    assert!(p.check_platform(&platform, &TENANTS_SUSPEND).is_allowed());
}

// ATTACKS 33 -----------------------------------------------------------------------------------

#[tokio::test]
async fn f33_admin_in_a_has_member_rights_in_b() {
    let p = policy();
    let tenants = InMemoryTenantStore::new();
    let members = InMemoryMembershipStore::new();
    let a = Tenant::new(TenantId::new_random(), "tenant-a".parse().unwrap(), "A");
    let b = Tenant::new(TenantId::new_random(), "tenant-b".parse().unwrap(), "B");
    tenants.insert(a.clone());
    tenants.insert(b.clone());
    let carol = UserId::new_random();
    members.insert(a.id, carol, Role::Admin);
    members.insert(b.id, carol, Role::Member);

    let in_a = authorize(&tenants, &members, &TenantKey::Id(a.id), carol)
        .await
        .unwrap();
    let in_b = authorize(&tenants, &members, &TenantKey::Id(b.id), carol)
        .await
        .unwrap();
    assert!(
        p.check(&in_a, &MEMBERS_MANAGE).is_allowed(),
        "positive control in A"
    );
    assert_eq!(in_b.role(), Role::Member);
    assert!(p.check(&in_b, &LEADS_READ).is_allowed());
    assert_eq!(
        p.check(&in_b, &MEMBERS_MANAGE),
        Decision::Deny(DenyReason::NotGranted {
            role: Role::Member.into()
        })
    );
    // And her assignment rights in B are a member's: none.
    assert_eq!(
        assignment::check(in_b.role(), Action::Grant, None, Some(Role::Member)),
        Decision::Deny(DenyReason::InsufficientRole)
    );
}

// Policy definition errors ---------------------------------------------------------------------

#[test]
fn policy_build_errors() {
    let r = Policy::builder().grant(Role::Member, [LEADS_READ]).build();
    assert_eq!(
        r.unwrap_err(),
        PolicyError::UndeclaredPermission(LEADS_READ)
    );

    let r = Policy::builder()
        .platform_permission(TENANTS_SUSPEND)
        .grant(Role::Owner, [TENANTS_SUSPEND])
        .build();
    assert_eq!(
        r.unwrap_err(),
        PolicyError::PlatformPermissionGranted(TENANTS_SUSPEND)
    );

    let r = Policy::builder()
        .permission(LEADS_READ)
        .platform_permission(LEADS_READ)
        .build();
    assert_eq!(r.unwrap_err(), PolicyError::ConflictingScope(LEADS_READ));

    let r = Policy::builder()
        .custom_role(CustomRole::new(Role::Admin.into()))
        .build();
    assert_eq!(
        r.unwrap_err(),
        PolicyError::DuplicateRole(Role::Admin.into())
    );

    let ghost: RoleName = "ghost".parse().unwrap();
    let r = Policy::builder()
        .custom_role(CustomRole::new(billing()).above(ghost.clone()))
        .build();
    assert_eq!(r.unwrap_err(), PolicyError::UnknownRole(ghost.clone()));
    let r = Policy::builder()
        .permission(LEADS_READ)
        .grant(ghost.clone(), [LEADS_READ])
        .build();
    assert_eq!(r.unwrap_err(), PolicyError::UnknownRole(ghost));

    // billing above admin and below manager: admin > manager > billing > admin.
    let r = Policy::builder()
        .custom_role(
            CustomRole::new(billing())
                .above(Role::Admin)
                .below(Role::Manager),
        )
        .build();
    assert!(matches!(r.unwrap_err(), PolicyError::Cycle(_)));
}

#[test]
fn permission_and_role_name_parsing() {
    for bad in [
        "",
        "leads",
        ":write",
        "leads:",
        "a:b:c",
        "Leads:write",
        "leads: write",
        "1x:y",
    ] {
        assert!(bad.parse::<Permission>().is_err(), "{bad:?}");
    }
    assert!("audit_log:read".parse::<Permission>().is_ok());
    assert!("billing-team".parse::<RoleName>().is_ok());
    for bad in ["", "Billing", "a b", "-x", &"x".repeat(33)] {
        assert!(bad.parse::<RoleName>().is_err(), "{bad:?}");
    }
    // Stable text for built-in roles (tenancy-sqlx stores them as text).
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        assert_eq!(RoleName::from(role).as_str(), role.as_str());
    }
    let json = serde_json::to_string(&billing()).unwrap();
    assert_eq!(json, "\"billing\"");
    assert!(serde_json::from_str::<RoleName>("\"Not Valid\"").is_err());
}
