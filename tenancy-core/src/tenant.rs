//! The tenant record, its lifecycle and its isolation mode.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{TenantId, TenantSlug};

/// Lifecycle state of a tenant.
///
/// Only [`Active`](TenantStatus::Active) and an unexpired [`Trial`](TenantStatus::Trial) admit
/// requests; see [`TenantStatus::admits_requests`]. Allowed transitions are defined in one place,
/// [`TenantStatus::can_transition_to`].
///
/// ```
/// use tenancy_core::TenantStatus;
/// assert!(TenantStatus::Provisioning.can_transition_to(&TenantStatus::Active));
/// assert!(!TenantStatus::Deleted.can_transition_to(&TenantStatus::Active));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TenantStatus {
    /// Being created (schema, seed data); not yet usable.
    Provisioning,
    /// In normal use.
    Active,
    /// In use until the given instant, then refused until activated.
    Trial {
        /// End of the trial.
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    /// Refused on every entry point until activated again.
    Suspended,
    /// Soft-deleted; never admits requests again.
    Deleted,
}

impl TenantStatus {
    /// The stable lowercase name stored in the registry (`active`, `trial`, ...).
    ///
    /// ```
    /// use tenancy_core::TenantStatus;
    /// assert_eq!(TenantStatus::Suspended.as_str(), "suspended");
    /// assert_eq!(TenantStatus::Active.to_string(), "active");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Trial { .. } => "trial",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }

    /// Whether a request for this tenant may proceed at instant `now`.
    ///
    /// ```
    /// use time::{Duration, OffsetDateTime};
    /// use tenancy_core::TenantStatus;
    /// let now = OffsetDateTime::now_utc();
    /// let trial = TenantStatus::Trial { until: now + Duration::days(14) };
    /// assert!(trial.admits_requests_at(now));
    /// assert!(!trial.admits_requests_at(now + Duration::days(15)));
    /// assert!(!TenantStatus::Suspended.admits_requests_at(now));
    /// ```
    pub fn admits_requests_at(&self, now: OffsetDateTime) -> bool {
        match self {
            Self::Active => true,
            Self::Trial { until } => now < *until,
            Self::Provisioning | Self::Suspended | Self::Deleted => false,
        }
    }

    /// Whether a request for this tenant may proceed now.
    ///
    /// ```
    /// use time::{Duration, OffsetDateTime};
    /// use tenancy_core::TenantStatus;
    /// assert!(TenantStatus::Active.admits_requests());
    /// assert!(!TenantStatus::Provisioning.admits_requests());
    /// let ended = TenantStatus::Trial { until: OffsetDateTime::now_utc() - Duration::hours(1) };
    /// assert!(!ended.admits_requests());
    /// ```
    #[inline]
    pub fn admits_requests(&self) -> bool {
        match self {
            // Only a trial depends on the time: the hot path reads no clock for the others.
            Self::Trial { .. } => self.trial_admits_now(),
            Self::Active => true,
            Self::Provisioning | Self::Suspended | Self::Deleted => false,
        }
    }

    /// The clock read and comparison of a trial, out of line (an active tenant, the common case,
    /// needs none of it).
    #[inline(never)]
    fn trial_admits_now(&self) -> bool {
        self.admits_requests_at(OffsetDateTime::now_utc())
    }

    /// Whether the lifecycle allows moving from `self` to `next`.
    ///
    /// | from \ to    | provisioning | active | trial | suspended | deleted |
    /// |--------------|--------------|--------|-------|-----------|---------|
    /// | provisioning | -            | yes    | yes   | no        | yes     |
    /// | active       | no           | -      | no    | yes       | yes     |
    /// | trial        | no           | yes    | yes (extend) | yes | yes     |
    /// | suspended    | no           | yes    | no    | -         | yes     |
    /// | deleted      | no           | no     | no    | no        | -       |
    ///
    /// ```
    /// use tenancy_core::TenantStatus;
    /// let (current, next) = (TenantStatus::Active, TenantStatus::Suspended);
    /// assert!(current.can_transition_to(&next));
    /// assert!(next.can_transition_to(&TenantStatus::Active)); // reactivate
    /// assert!(!TenantStatus::Active.can_transition_to(&TenantStatus::Provisioning));
    /// ```
    pub fn can_transition_to(&self, next: &TenantStatus) -> bool {
        use TenantStatus::*;
        matches!(
            (self, next),
            (Provisioning, Active | Trial { .. } | Deleted)
                | (Active, Suspended | Deleted)
                | (Trial { .. }, Active | Trial { .. } | Suspended | Deleted)
                | (Suspended, Active | Deleted)
        )
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a PostgreSQL schema name that is not acceptable for a tenant schema.
///
/// ```
/// use tenancy_core::SchemaName;
/// let err = SchemaName::parse("public").unwrap_err();
/// assert!(err.to_string().starts_with("schema name `public` is invalid"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "schema name `{0}` is invalid: use 1 to 63 characters of `a-z`, `0-9` and `_`, starting with a letter, not `pg_`, `public`, `tenancy` or `information_schema`"
)]
pub struct SchemaNameError(String);

/// A validated PostgreSQL schema name for a schema-per-tenant tenant.
///
/// Only `[a-z][a-z0-9_]{0,62}` is accepted, and names PostgreSQL or this library treat specially
/// (`pg_*`, `public`, `information_schema`, `tenancy`) are refused, so the name can always be
/// quoted safely and never widens `search_path`.
///
/// ```
/// use tenancy_core::SchemaName;
/// assert!(SchemaName::parse("tenant_acme").is_ok());
/// assert!(SchemaName::parse("a,public").is_err());
/// assert!(SchemaName::parse("pg_temp").is_err());
/// assert!(SchemaName::parse("$user").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SchemaName(String);

impl SchemaName {
    /// Validates a schema name.
    ///
    /// ```
    /// use tenancy_core::SchemaName;
    /// let schema = SchemaName::parse("tenant_acme")?;
    /// assert_eq!(schema.as_str(), "tenant_acme");
    /// assert!(SchemaName::parse("Tenant_Acme").is_err());
    /// assert!(SchemaName::parse("information_schema").is_err());
    /// # Ok::<(), tenancy_core::SchemaNameError>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, SchemaNameError> {
        let bad = || SchemaNameError(s.chars().take(80).collect());
        let mut bytes = s.bytes();
        match bytes.next() {
            Some(b) if b.is_ascii_lowercase() => {}
            _ => return Err(bad()),
        }
        if s.len() > 63
            || !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            || s.starts_with("pg_")
            || matches!(s, "public" | "information_schema" | "tenancy")
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    /// The bare name.
    ///
    /// ```
    /// use tenancy_core::SchemaName;
    /// assert_eq!(SchemaName::parse("tenant_acme")?.as_str(), "tenant_acme");
    /// # Ok::<(), tenancy_core::SchemaNameError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a double-quoted SQL identifier (always safe, since the charset is restricted).
    ///
    /// ```
    /// use tenancy_core::SchemaName;
    /// let schema = SchemaName::parse("tenant_acme")?;
    /// assert_eq!(schema.quoted(), "\"tenant_acme\"");
    /// let sql = format!("SET LOCAL search_path TO {}, pg_catalog", schema.quoted());
    /// assert_eq!(sql, "SET LOCAL search_path TO \"tenant_acme\", pg_catalog");
    /// # Ok::<(), tenancy_core::SchemaNameError>(())
    /// ```
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl TryFrom<String> for SchemaName {
    type Error = SchemaNameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SchemaName> for String {
    fn from(s: SchemaName) -> String {
        s.0
    }
}

impl fmt::Debug for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchemaName({:?})", self.0)
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a tenant's rows are kept apart from other tenants' rows.
///
/// ```
/// use tenancy_core::{IsolationMode, SchemaName, Tenant, TenantId};
/// let acme = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme")
///     .with_isolation(IsolationMode::Schema { schema: SchemaName::parse("tenant_acme")? });
/// let schema = match &acme.isolation {
///     IsolationMode::SharedTable => None,
///     IsolationMode::Schema { schema } => Some(schema.as_str()),
/// };
/// assert_eq!(schema, Some("tenant_acme"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum IsolationMode {
    /// Shared tables with a `tenant_id` column and Row Level Security policies.
    SharedTable,
    /// A schema of its own; `search_path` is set to exactly that schema and `pg_catalog`.
    Schema {
        /// The tenant's schema.
        schema: SchemaName,
    },
}

/// A tenant (an organisation) as recorded in the registry.
///
/// ```
/// use tenancy_core::{IsolationMode, Tenant, TenantId, TenantSlug, TenantStatus};
/// let t = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme Inc.");
/// assert_eq!(t.status, TenantStatus::Active);
/// assert_eq!(t.isolation, IsolationMode::SharedTable);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tenant {
    /// Stable id.
    pub id: TenantId,
    /// URL-visible slug (subdomain, path segment, header value).
    pub slug: TenantSlug,
    /// Human-readable name.
    pub display_name: String,
    /// Lifecycle state.
    pub status: TenantStatus,
    /// Plan or tier name (`free`, `pro`, ...).
    pub plan: String,
    /// How the tenant's data is isolated.
    pub isolation: IsolationMode,
    /// Creation instant.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change instant.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Tenant {
    /// A new active shared-table tenant on the `free` plan, created now.
    ///
    /// ```
    /// use tenancy_core::{Tenant, TenantId, TenantStatus};
    /// let t = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme Inc.");
    /// assert_eq!(t.display_name, "Acme Inc.");
    /// assert_eq!((t.status, t.plan.as_str()), (TenantStatus::Active, "free"));
    /// assert_eq!(t.created_at, t.updated_at);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(id: TenantId, slug: TenantSlug, display_name: impl Into<String>) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            id,
            slug,
            display_name: display_name.into(),
            status: TenantStatus::Active,
            plan: "free".to_owned(),
            isolation: IsolationMode::SharedTable,
            created_at: now,
            updated_at: now,
        }
    }

    /// Sets the status.
    ///
    /// ```
    /// use tenancy_core::{Tenant, TenantId, TenantStatus};
    /// let t = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme")
    ///     .with_status(TenantStatus::Provisioning);
    /// assert!(!t.status.admits_requests());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_status(mut self, status: TenantStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the plan.
    ///
    /// ```
    /// use tenancy_core::{Tenant, TenantId};
    /// let t = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme").with_plan("pro");
    /// assert_eq!(t.plan, "pro");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_plan(mut self, plan: impl Into<String>) -> Self {
        self.plan = plan.into();
        self
    }

    /// Sets the isolation mode.
    ///
    /// ```
    /// use tenancy_core::{IsolationMode, SchemaName, Tenant, TenantId};
    /// let schema = SchemaName::parse("tenant_acme")?;
    /// let t = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme")
    ///     .with_isolation(IsolationMode::Schema { schema: schema.clone() });
    /// assert_eq!(t.isolation, IsolationMode::Schema { schema });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_isolation(mut self, isolation: IsolationMode) -> Self {
        self.isolation = isolation;
        self
    }

    /// Sets both timestamps (used by stores loading a record).
    ///
    /// ```
    /// use time::{Duration, OffsetDateTime};
    /// use tenancy_core::{Tenant, TenantId};
    /// // As read from the registry row.
    /// let created = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    /// let updated = created + Duration::days(30);
    /// let t = Tenant::new(TenantId::new_random(), "acme".parse()?, "Acme")
    ///     .with_timestamps(created, updated);
    /// assert_eq!((t.created_at, t.updated_at), (created, updated));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_timestamps(
        mut self,
        created_at: OffsetDateTime,
        updated_at: OffsetDateTime,
    ) -> Self {
        self.created_at = created_at;
        self.updated_at = updated_at;
        self
    }
}
