//! Names of the transaction-local settings the library sets, in one place.
//!
//! These are the only names the SQL side reads (through the accessor functions in schema
//! `tenancy`). The library sets them with `set_config(name, value, true)` inside the transaction
//! it opens, never at session level.

/// The tenant id (`uuid` text), read by `tenancy.current_tenant_id()`.
pub const TENANT_ID: &str = "tenancy.tenant_id";
/// The authorised user id (`uuid` text), read by `tenancy.current_user_id()`.
pub const USER_ID: &str = "tenancy.user_id";
/// The member's role (`owner`, `admin`, `manager`, `member`), read by
/// `tenancy.current_member_role()`.
pub const ROLE: &str = "tenancy.role";
/// The tenant's own schema for schema-per-tenant tenants, read by
/// `tenancy.current_schema_tenant()`.
pub const SCHEMA: &str = "tenancy.schema";
/// The platform administrator's user id, set in platform transactions (for audit triggers).
pub const PLATFORM_ADMIN_ID: &str = "tenancy.platform_admin_id";
