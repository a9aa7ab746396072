//! The app's permissions and which role holds them, as a core [`Policy`].
//!
//! | role    | holds                                                                  |
//! |---------|------------------------------------------------------------------------|
//! | member  | read and create leads, read campaigns, list members                   |
//! | manager | + edit and delete leads, manage campaigns                              |
//! | admin   | + manage members below owner and invitations, read the audit log, rename the organisation |
//! | owner   | everything (owners are managed by owners: see [`tenancy_core::assignment`]) |

use tenancy_core::{Permission, PermissionMarker, Policy, PolicyError, Role};

/// Read leads.
pub const LEADS_READ: Permission = Permission::from_static("leads:read");
/// Create leads.
pub const LEADS_CREATE: Permission = Permission::from_static("leads:create");
/// Edit leads.
pub const LEADS_UPDATE: Permission = Permission::from_static("leads:update");
/// Delete leads.
pub const LEADS_DELETE: Permission = Permission::from_static("leads:delete");
/// Read campaigns.
pub const CAMPAIGNS_READ: Permission = Permission::from_static("campaigns:read");
/// Create, edit and delete campaigns.
pub const CAMPAIGNS_MANAGE: Permission = Permission::from_static("campaigns:manage");
/// List the organisation's members.
pub const MEMBERS_READ: Permission = Permission::from_static("members:read");
/// Change roles of and remove members (the assignment rules decide which ones).
pub const MEMBERS_MANAGE: Permission = Permission::from_static("members:manage");
/// Invite people.
pub const INVITATIONS_CREATE: Permission = Permission::from_static("invitations:create");
/// Read the audit log.
pub const AUDIT_READ: Permission = Permission::from_static("audit:read");
/// Rename the organisation.
pub const ORG_UPDATE: Permission = Permission::from_static("org:update");

/// The policy of the app.
///
/// ```
/// use saas::policy::{app_policy, LEADS_DELETE};
/// use tenancy_core::Role;
/// let policy = app_policy().unwrap();
/// assert!(!policy.check_role(&Role::Member.into(), &LEADS_DELETE).is_allowed());
/// assert!(policy.check_role(&Role::Manager.into(), &LEADS_DELETE).is_allowed());
/// ```
pub fn app_policy() -> Result<Policy, PolicyError> {
    Policy::builder()
        .permissions([
            LEADS_READ,
            LEADS_CREATE,
            LEADS_UPDATE,
            LEADS_DELETE,
            CAMPAIGNS_READ,
            CAMPAIGNS_MANAGE,
            MEMBERS_READ,
            MEMBERS_MANAGE,
            INVITATIONS_CREATE,
            AUDIT_READ,
            ORG_UPDATE,
        ])
        .grant(
            Role::Member,
            [LEADS_READ, LEADS_CREATE, CAMPAIGNS_READ, MEMBERS_READ],
        )
        .grant(
            Role::Manager,
            [LEADS_UPDATE, LEADS_DELETE, CAMPAIGNS_MANAGE],
        )
        .grant(
            Role::Admin,
            [MEMBERS_MANAGE, INVITATIONS_CREATE, AUDIT_READ, ORG_UPDATE],
        )
        .build()
}

/// Marker types for [`RequirePermission`](tenancy_axum::RequirePermission), one per permission.
pub mod marker {
    use super::*;

    /// [`LEADS_READ`] as a type.
    #[derive(Debug)]
    pub struct LeadsRead;
    impl PermissionMarker for LeadsRead {
        const PERMISSION: Permission = LEADS_READ;
    }

    /// [`LEADS_CREATE`] as a type.
    #[derive(Debug)]
    pub struct LeadsCreate;
    impl PermissionMarker for LeadsCreate {
        const PERMISSION: Permission = LEADS_CREATE;
    }

    /// [`LEADS_UPDATE`] as a type.
    #[derive(Debug)]
    pub struct LeadsUpdate;
    impl PermissionMarker for LeadsUpdate {
        const PERMISSION: Permission = LEADS_UPDATE;
    }

    /// [`LEADS_DELETE`] as a type.
    #[derive(Debug)]
    pub struct LeadsDelete;
    impl PermissionMarker for LeadsDelete {
        const PERMISSION: Permission = LEADS_DELETE;
    }

    /// [`CAMPAIGNS_READ`] as a type.
    #[derive(Debug)]
    pub struct CampaignsRead;
    impl PermissionMarker for CampaignsRead {
        const PERMISSION: Permission = CAMPAIGNS_READ;
    }

    /// [`CAMPAIGNS_MANAGE`] as a type.
    #[derive(Debug)]
    pub struct CampaignsManage;
    impl PermissionMarker for CampaignsManage {
        const PERMISSION: Permission = CAMPAIGNS_MANAGE;
    }

    /// [`MEMBERS_READ`] as a type.
    #[derive(Debug)]
    pub struct MembersRead;
    impl PermissionMarker for MembersRead {
        const PERMISSION: Permission = MEMBERS_READ;
    }

    /// [`MEMBERS_MANAGE`] as a type.
    #[derive(Debug)]
    pub struct MembersManage;
    impl PermissionMarker for MembersManage {
        const PERMISSION: Permission = MEMBERS_MANAGE;
    }

    /// [`INVITATIONS_CREATE`] as a type.
    #[derive(Debug)]
    pub struct InvitationsCreate;
    impl PermissionMarker for InvitationsCreate {
        const PERMISSION: Permission = INVITATIONS_CREATE;
    }

    /// [`AUDIT_READ`] as a type.
    #[derive(Debug)]
    pub struct AuditRead;
    impl PermissionMarker for AuditRead {
        const PERMISSION: Permission = AUDIT_READ;
    }

    /// [`ORG_UPDATE`] as a type.
    #[derive(Debug)]
    pub struct OrgUpdate;
    impl PermissionMarker for OrgUpdate {
        const PERMISSION: Permission = ORG_UPDATE;
    }
}
