//! The tenant audit log: append-only, readable per tenant, hash-chained.
//!
//! Table `tenancy.audit_log` (migration `0002`). Every entry of a tenant carries
//! `hash = sha256(prev_hash || canonical entry)`, computed in the database by an insert trigger
//! that takes a per-tenant transaction lock, so concurrent appends chain one after the other.
//! The runtime role may only `SELECT` (its tenant's rows, through row level security) and
//! `INSERT`; `UPDATE`, `DELETE` and `TRUNCATE` are revoked, and a trigger refuses them for
//! everyone as defence in depth. The trigger also refuses a claimed actor: a [`Actor::User`] entry
//! must name the transaction's user (when one is set), a [`Actor::PlatformAdmin`] entry needs a
//! platform transaction of that administrator (SQLSTATE `TY004`).
//!
//! [`verify_chain`] recomputes every hash and link and reports the first entry that does not
//! match. It detects edited entries and entries removed from the middle of the chain. Removing
//! the *newest* entries leaves a shorter valid chain: anchor the [`ChainHead`] it returns
//! somewhere the database cannot rewrite (a log shipper, a signed export) and pass it back with
//! [`verify_chain_from`] to detect that too.
//!
//! ```no_run
//! # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use tenancy_sqlx::audit_log::{self, Actor, AuditEntry};
//! let mut tx = pool.begin(scope).await?;
//! audit_log::append(&mut tx, &AuditEntry::new(Actor::from_scope(scope), "project.archived")
//!     .with_target("project-42")).await?;
//! let head = audit_log::verify_chain(&mut tx).await?;
//! tx.commit().await?;
//! # let _ = head; Ok(()) }
//! ```

use std::fmt;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use tenancy_core::{TenantId, TenantScope, UserId};
use time::OffsetDateTime;

use crate::TenantTx;

/// Who did something: the real actor, recorded with every entry.
///
/// ```
/// use tenancy_core::UserId;
/// use tenancy_sqlx::audit_log::Actor;
/// // Stored (and displayed) as `kind:id`.
/// assert_eq!(Actor::Job("nightly-cleanup".into()).to_string(), "job:nightly-cleanup");
/// assert_eq!(Actor::ApiKey("key_7f3a".into()).to_string(), "api_key:key_7f3a");
/// let admin = UserId::new_random();
/// assert_eq!(Actor::PlatformAdmin(admin).to_string(), format!("platform_admin:{admin}"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A signed-in user acting in the tenant.
    User(UserId),
    /// A platform administrator acting for the tenant (support access, lifecycle).
    PlatformAdmin(UserId),
    /// An API key, by its (non-secret) key id.
    ApiKey(String),
    /// A background job, by name.
    Job(String),
}

impl Actor {
    /// The user of a tenant scope.
    ///
    /// ```
    /// # use tenancy_core::{authorize, InMemoryMembershipStore, InMemoryTenantStore, Role, Tenant,
    /// #     TenantId, TenantKey, UserId};
    /// use tenancy_sqlx::audit_log::Actor;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// # let (tenants, members) = (InMemoryTenantStore::new(), InMemoryMembershipStore::new());
    /// # let acme = Tenant::new(TenantId::new_random(), "acme".parse().unwrap(), "Acme");
    /// # let alice = UserId::new_random();
    /// # tenants.insert(acme.clone());
    /// # members.insert(acme.id, alice, Role::Member);
    /// let scope = authorize(&tenants, &members, &TenantKey::Id(acme.id), alice).await.unwrap();
    /// assert_eq!(Actor::from_scope(&scope), Actor::User(alice));
    /// # });
    /// ```
    pub fn from_scope(scope: &TenantScope) -> Self {
        Self::User(scope.user_id())
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::PlatformAdmin(_) => "platform_admin",
            Self::ApiKey(_) => "api_key",
            Self::Job(_) => "job",
        }
    }

    fn id(&self) -> String {
        match self {
            Self::User(u) | Self::PlatformAdmin(u) => u.to_string(),
            Self::ApiKey(k) | Self::Job(k) => k.clone(),
        }
    }

    fn decode(kind: &str, id: &str) -> Option<Self> {
        match kind {
            "user" => id.parse().ok().map(Self::User),
            "platform_admin" => id.parse().ok().map(Self::PlatformAdmin),
            "api_key" => Some(Self::ApiKey(id.to_owned())),
            "job" => Some(Self::Job(id.to_owned())),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// An entry to append: actor, action (`resource.verb`, lowercase, dot-separated), optional
/// target and JSON details.
///
/// ```
/// use tenancy_sqlx::audit_log::{Actor, AuditEntry};
/// let entry = AuditEntry::new(Actor::Job("billing-sync".into()), "subscription.renewed")
///     .with_target("sub_123")
///     .with_details(serde_json::json!({ "plan": "pro" }));
/// assert_eq!(entry.action, "subscription.renewed");
/// assert_eq!(entry.target.as_deref(), Some("sub_123"));
/// assert_eq!(entry.details["plan"], "pro");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Who did it.
    pub actor: Actor,
    /// What was done, for example `member.role_changed`.
    pub action: String,
    /// What it was done to (a user id, a resource id).
    pub target: Option<String>,
    /// Structured details (old and new role, invitation id, ...).
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// An entry with no target and empty details.
    ///
    /// ```
    /// use tenancy_sqlx::audit_log::{Actor, AuditEntry};
    /// let entry = AuditEntry::new(Actor::ApiKey("key_7f3a".into()), "project.created");
    /// assert_eq!(entry.target, None);
    /// assert_eq!(entry.details, serde_json::json!({}));
    /// ```
    pub fn new(actor: Actor, action: impl Into<String>) -> Self {
        Self {
            actor,
            action: action.into(),
            target: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the target.
    ///
    /// ```
    /// use tenancy_core::UserId;
    /// use tenancy_sqlx::audit_log::{Actor, AuditEntry};
    /// let (alice, bob) = (UserId::new_random(), UserId::new_random());
    /// let entry = AuditEntry::new(Actor::User(alice), "member.removed").with_target(bob.to_string());
    /// assert_eq!(entry.target, Some(bob.to_string()));
    /// ```
    #[must_use]
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the details.
    ///
    /// ```
    /// use tenancy_core::UserId;
    /// use tenancy_sqlx::audit_log::{Actor, AuditEntry};
    /// let entry = AuditEntry::new(Actor::User(UserId::new_random()), "member.role_changed")
    ///     .with_details(serde_json::json!({ "from": "member", "to": "admin" }));
    /// assert_eq!(entry.details["to"], "admin");
    /// ```
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// An entry as stored, with its place in the chain.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log;
/// let mut tx = pool.begin(scope).await?;
/// for r in audit_log::entries(&mut tx).await? {
///     let target = r.target.as_deref().unwrap_or("-");
///     println!("#{} {} {} {} {target}", r.seq, r.occurred_at, r.actor, r.action);
/// }
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Position in the tenant's chain, from 1.
    pub seq: i64,
    /// When it was written (database clock).
    pub occurred_at: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// Structured details.
    pub details: serde_json::Value,
    /// sha256 of the previous entry (32 zero bytes for the first).
    pub prev_hash: Vec<u8>,
    /// sha256 of `prev_hash` and this entry.
    pub hash: Vec<u8>,
}

/// The newest entry of a verified chain: anchor it outside the database to detect later
/// truncation of the chain's tail.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log;
/// let mut tx = pool.begin(scope).await?;
/// let head = audit_log::verify_chain(&mut tx).await?;
/// tx.commit().await?;
/// // Anchor it where the database cannot rewrite it (here: the log shipper).
/// let hash: String = head.hash.iter().map(|b| format!("{b:02x}")).collect();
/// println!("audit head tenant={} seq={} hash={hash}", scope.tenant_id(), head.seq);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Number of entries (the newest entry's `seq`; 0 for an empty log).
    pub seq: i64,
    /// Hash of the newest entry (32 zero bytes for an empty log).
    pub hash: Vec<u8>,
}

/// Why an audit-log operation failed.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log::{self, Actor, AuditEntry, AuditLogError};
/// let mut tx = pool.begin(scope).await?;
/// let entry = AuditEntry::new(Actor::from_scope(scope), "Project Archived");
/// let err = audit_log::append(&mut tx, &entry).await.unwrap_err();
/// assert!(matches!(err, AuditLogError::InvalidAction(ref a) if a == "Project Archived"));
/// assert_eq!(err.to_string(), "audit action `Project Archived` is invalid");
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditLogError {
    /// The database failed or refused (for example no tenant is set).
    #[error("audit log is unavailable")]
    Database(#[source] sqlx::Error),
    /// The action is not lowercase `resource.verb`.
    #[error("audit action `{0}` is invalid")]
    InvalidAction(String),
    /// A stored row could not be decoded.
    #[error("audit entry {0} is unreadable")]
    Corrupt(i64),
}

/// What is wrong with a chain.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log::{self, TamperKind, VerifyError};
/// let mut tx = pool.begin(scope).await?;
/// if let Err(VerifyError::Tampered(t)) = audit_log::verify_chain(&mut tx).await {
///     let what = match t.kind {
///         TamperKind::HashMismatch => "was edited",
///         TamperKind::BrokenLink => "does not follow its predecessor",
///         TamperKind::MissingEntry => "is missing",
///     };
///     eprintln!("audit entry {} {what}", t.first_bad_entry);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TamperKind {
    /// The entry's content does not hash to its stored hash (edited).
    HashMismatch,
    /// The entry's `prev_hash` is not the previous entry's hash.
    BrokenLink,
    /// An entry is missing (a gap in the sequence, or the anchored head is gone or differs).
    MissingEntry,
}

/// The chain of a tenant's audit log does not verify.
///
/// ```
/// use tenancy_sqlx::audit_log::{TamperError, TamperKind, VerifyError};
/// let err = TamperError { first_bad_entry: 3, kind: TamperKind::HashMismatch };
/// assert_eq!(err.to_string(), "audit log tampered at entry 3 (HashMismatch)");
/// // `verify_chain` returns it inside `VerifyError`, with the same message.
/// let err = VerifyError::from(err);
/// assert_eq!(err.to_string(), "audit log tampered at entry 3 (HashMismatch)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log tampered at entry {first_bad_entry} ({kind:?})")]
pub struct TamperError {
    /// `seq` of the first entry that fails (for a missing entry: the `seq` that is missing).
    pub first_bad_entry: i64,
    /// What fails there.
    pub kind: TamperKind,
}

/// Why verification did not succeed.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log::{self, VerifyError};
/// let mut tx = pool.begin(scope).await?;
/// match audit_log::verify_chain(&mut tx).await {
///     Ok(head) => println!("audit log intact, {} entries", head.seq),
///     // Raise an alarm: someone with database rights rewrote the log.
///     Err(VerifyError::Tampered(t)) => eprintln!("ALERT: {t}"),
///     // Retry later: nothing is known about the chain.
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The chain is broken.
    #[error(transparent)]
    Tampered(#[from] TamperError),
    /// The log could not be read.
    #[error("audit log is unavailable")]
    Database(#[source] sqlx::Error),
}

fn valid_action(action: &str) -> bool {
    !action.is_empty()
        && action.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Appends an entry to the log of the transaction's tenant and returns it as stored.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log::{self, Actor, AuditEntry};
/// let mut tx = pool.begin(scope).await?;
/// let entry = AuditEntry::new(Actor::from_scope(scope), "project.archived")
///     .with_target("project-42")
///     .with_details(serde_json::json!({ "reason": "inactive" }));
/// let record = audit_log::append(&mut tx, &entry).await?;
/// assert_eq!(record.tenant_id, tx.tenant_id());
/// assert_eq!((record.action.as_str(), record.hash.len()), ("project.archived", 32));
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub async fn append(tx: &mut TenantTx, entry: &AuditEntry) -> Result<AuditRecord, AuditLogError> {
    let tenant = tx.tenant_id();
    append_conn(tx, tenant, entry).await
}

/// Appends on any connection whose transaction has `tenancy.tenant_id` set to `tenant`.
pub(crate) async fn append_conn(
    conn: &mut PgConnection,
    tenant: TenantId,
    entry: &AuditEntry,
) -> Result<AuditRecord, AuditLogError> {
    if !valid_action(&entry.action) {
        return Err(AuditLogError::InvalidAction(entry.action.clone()));
    }
    let row = sqlx::query(
        "INSERT INTO tenancy.audit_log (tenant_id, seq, actor_kind, actor_id, action, target, \
         details, prev_hash, hash) \
         VALUES ($1, 1, $2, $3, $4, $5, $6, '\\x', '\\x') \
         RETURNING tenant_id, seq, occurred_at, actor_kind, actor_id, action, target, details, \
         prev_hash, hash",
    )
    .bind(tenant.into_uuid())
    .bind(entry.actor.kind())
    .bind(entry.actor.id())
    .bind(&entry.action)
    .bind(entry.target.as_deref())
    .bind(&entry.details)
    .fetch_one(conn)
    .await
    .map_err(AuditLogError::Database)?;
    decode(&row)
}

/// Every entry of the transaction's tenant, oldest first.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log::{self, Actor, AuditEntry};
/// let mut tx = pool.begin(scope).await?;
/// let entry = AuditEntry::new(Actor::from_scope(scope), "report.exported");
/// let appended = audit_log::append(&mut tx, &entry).await?;
/// let all = audit_log::entries(&mut tx).await?;
/// assert_eq!(all.last(), Some(&appended));
/// assert_eq!(all.len() as i64, appended.seq);
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub async fn entries(tx: &mut TenantTx) -> Result<Vec<AuditRecord>, AuditLogError> {
    let rows = sqlx::query(
        "SELECT tenant_id, seq, occurred_at, actor_kind, actor_id, action, target, details, \
         prev_hash, hash FROM tenancy.audit_log \
         WHERE tenant_id = (SELECT tenancy.current_tenant_id()) ORDER BY seq",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(AuditLogError::Database)?;
    rows.iter().map(decode).collect()
}

fn decode(row: &PgRow) -> Result<AuditRecord, AuditLogError> {
    let db = AuditLogError::Database;
    let seq: i64 = row.try_get("seq").map_err(db)?;
    let kind: String = row.try_get("actor_kind").map_err(db)?;
    let id: String = row.try_get("actor_id").map_err(db)?;
    let actor = Actor::decode(&kind, &id).ok_or(AuditLogError::Corrupt(seq))?;
    Ok(AuditRecord {
        tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(db)?),
        seq,
        occurred_at: row.try_get("occurred_at").map_err(db)?,
        actor,
        action: row.try_get("action").map_err(db)?,
        target: row.try_get("target").map_err(db)?,
        details: row.try_get("details").map_err(db)?,
        prev_hash: row.try_get("prev_hash").map_err(db)?,
        hash: row.try_get("hash").map_err(db)?,
    })
}

/// Recomputes the chain of the transaction's tenant in the database and returns its head, or
/// the first entry that fails.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log::{self, Actor, AuditEntry};
/// let mut tx = pool.begin(scope).await?;
/// let entry = AuditEntry::new(Actor::from_scope(scope), "project.archived");
/// let record = audit_log::append(&mut tx, &entry).await?;
/// let head = audit_log::verify_chain(&mut tx).await?;
/// assert_eq!((head.seq, head.hash), (record.seq, record.hash));
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub async fn verify_chain(tx: &mut TenantTx) -> Result<ChainHead, VerifyError> {
    verify(tx, None).await
}

/// Like [`verify_chain`], and also checks that an earlier anchored head is still part of the
/// chain (detects removal of the newest entries).
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope,
/// #     anchored_seq: i64, anchored_hash: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_sqlx::audit_log::{self, ChainHead, TamperKind, VerifyError};
/// // The head anchored outside the database last night.
/// let anchor = ChainHead { seq: anchored_seq, hash: anchored_hash };
/// let mut tx = pool.begin(scope).await?;
/// match audit_log::verify_chain_from(&mut tx, &anchor).await {
///     Ok(head) => assert!(head.seq >= anchor.seq),
///     Err(VerifyError::Tampered(t)) if t.kind == TamperKind::MissingEntry => {
///         eprintln!("audit entry {} is gone or was replaced", t.first_bad_entry);
///     }
///     Err(e) => return Err(e.into()),
/// }
/// # Ok(()) }
/// ```
pub async fn verify_chain_from(
    tx: &mut TenantTx,
    anchor: &ChainHead,
) -> Result<ChainHead, VerifyError> {
    verify(tx, Some(anchor)).await
}

async fn verify(tx: &mut TenantTx, anchor: Option<&ChainHead>) -> Result<ChainHead, VerifyError> {
    let rows: Vec<(i64, bool, bool, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, \
           hash = tenancy.audit_entry_hash(prev_hash, tenant_id, seq, occurred_at, actor_kind, \
             actor_id, action, target, details), \
           prev_hash = coalesce(lag(hash) OVER w, decode(repeat('00', 32), 'hex')), \
           hash \
         FROM tenancy.audit_log WHERE tenant_id = (SELECT tenancy.current_tenant_id()) \
         WINDOW w AS (ORDER BY seq) ORDER BY seq",
    )
    .fetch_all(&mut **tx)
    .await
    .map_err(VerifyError::Database)?;
    let mut head = ChainHead {
        seq: 0,
        hash: vec![0; 32],
    };
    for (expected, (seq, hash_ok, link_ok, hash)) in (1_i64..).zip(rows) {
        let bad = |first_bad_entry, kind| TamperError {
            first_bad_entry,
            kind,
        };
        if seq != expected {
            return Err(bad(expected, TamperKind::MissingEntry).into());
        }
        if !hash_ok {
            return Err(bad(seq, TamperKind::HashMismatch).into());
        }
        if !link_ok {
            return Err(bad(seq, TamperKind::BrokenLink).into());
        }
        if let Some(a) = anchor
            && a.seq == seq
            && a.hash != hash
        {
            return Err(bad(seq, TamperKind::MissingEntry).into());
        }
        head = ChainHead { seq, hash };
    }
    if let Some(a) = anchor
        && a.seq > head.seq
    {
        return Err(TamperError {
            first_bad_entry: head.seq + 1,
            kind: TamperKind::MissingEntry,
        }
        .into());
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_lowercase_dotted() {
        assert!(valid_action("member.role_changed"));
        assert!(valid_action("tenant.created"));
        assert!(!valid_action(""));
        assert!(!valid_action("Member.added"));
        assert!(!valid_action("member..added"));
        assert!(!valid_action("member.added; drop"));
    }

    #[test]
    fn actors_round_trip() {
        let u = UserId::new_random();
        for a in [
            Actor::User(u),
            Actor::PlatformAdmin(u),
            Actor::ApiKey("key_1".into()),
            Actor::Job("nightly".into()),
        ] {
            assert_eq!(Actor::decode(a.kind(), &a.id()), Some(a.clone()));
        }
        assert_eq!(Actor::decode("user", "not-a-uuid"), None);
        assert_eq!(Actor::decode("root", "x"), None);
    }
}
