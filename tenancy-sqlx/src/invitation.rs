//! Invitations: single-use, bound to an email, expiring, capped at the inviter's role.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Row as _};
use tenancy_core::assignment::{self, Action};
use tenancy_core::{DenyReason, MembershipCacheInvalidator, Role, TenantId, TenantScope, UserId};
use time::OffsetDateTime;

use crate::audit_log::{self, Actor, AuditEntry, AuditLogError};
use crate::membership::{self, MembershipError};
use crate::{TenantPool, TxError, settings};

/// Why an invitation operation failed.
///
/// The accept errors say what is wrong with the invitation, never anything about the tenant's
/// other data.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use tenancy_core::UserId;
/// use tenancy_sqlx::{InvitationError, Invitations};
/// let pool = sqlx::PgPool::connect_lazy("postgres://app@localhost/saas").unwrap();
/// // A malformed (or forged) token is refused before any query.
/// let err = Invitations::new()
///     .accept(&pool, "inv_not-a-token", UserId::new_random(), "bob@example.com")
///     .await
///     .unwrap_err();
/// assert!(matches!(err, InvitationError::NotFound));
/// assert_eq!(err.to_string(), "invitation not found");
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvitationError {
    /// The database failed.
    #[error("invitation store is unavailable")]
    Database(#[source] sqlx::Error),
    /// The tenant transaction could not be opened or committed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The audit entry could not be written (nothing was changed).
    #[error(transparent)]
    Audit(#[from] AuditLogError),
    /// The membership part failed (actor no longer a member, already a member).
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// The inviter may not grant this role (above their own, owner by a non-owner, ...).
    #[error(transparent)]
    Denied(DenyReason),
    /// The email is not a plausible address.
    #[error("email `{0}` is invalid")]
    InvalidEmail(String),
    /// No invitation has this token (malformed, unknown, or another tenant's).
    #[error("invitation not found")]
    NotFound,
    /// The invitation was revoked.
    #[error("invitation was revoked")]
    Revoked,
    /// The invitation was already accepted.
    #[error("invitation was already used")]
    AlreadyUsed,
    /// The invitation expired.
    #[error("invitation has expired")]
    Expired,
    /// The accepting user's verified email is not the invited email.
    #[error("invitation is for another email address")]
    EmailMismatch,
    /// The tenant is suspended, deleted or not yet active.
    #[error("tenant does not accept members now")]
    TenantNotActive,
    /// The inviter has since lost the right to grant this role (demoted or removed).
    #[error("the inviter can no longer grant this role")]
    InviterLostRights,
}

fn db(e: sqlx::Error) -> InvitationError {
    InvitationError::Database(e)
}

/// The secret of an invitation, shown once. Its `Debug` output is redacted.
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::Role;
/// let invitations = tenancy_sqlx::Invitations::new();
/// let (_, token) = invitations.invite(pool, scope, "bob@example.com", Role::Member).await?;
/// // Safe to log: the secret never appears.
/// assert_eq!(format!("{token:?}"), "InvitationToken(..)");
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken(String);

impl InvitationToken {
    fn generate(tenant: TenantId) -> Self {
        // Two v4 UUIDs: 244 random bits from the operating system's generator.
        let secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Self(format!("inv_{}_{secret}", tenant.into_uuid().simple()))
    }

    /// The token, to put in the invitation link.
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::Role;
    /// let invitations = tenancy_sqlx::Invitations::new();
    /// let (_, token) = invitations.invite(pool, scope, "bob@example.com", Role::Member).await?;
    /// assert!(token.expose().starts_with("inv_"));
    /// let link = format!("https://app.example.com/join?token={}", token.expose());
    /// # let _ = link; Ok(()) }
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The tenant named by a token, if it is well formed.
    fn tenant_of(token: &str) -> Option<TenantId> {
        let rest = token.strip_prefix("inv_")?;
        let (tenant, secret) = rest.split_once('_')?;
        if tenant.len() != 32
            || secret.len() != 64
            || !secret.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        uuid::Uuid::try_parse(tenant).ok().map(TenantId::from_uuid)
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationToken(..)")
    }
}

/// A stored invitation (without its token).
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, scope: &tenancy_core::TenantScope)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::Role;
/// let invitations = tenancy_sqlx::Invitations::new();
/// let (invitation, _token) =
///     invitations.invite(pool, scope, " Bob@Example.COM ", Role::Member).await?;
/// assert_eq!(invitation.email, "bob@example.com");
/// assert_eq!((invitation.tenant_id, invitation.invited_by), (scope.tenant_id(), scope.user_id()));
/// println!("invitation {} valid until {}", invitation.id, invitation.expires_at);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The invitation id.
    pub id: uuid::Uuid,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The invited email (lowercase).
    pub email: String,
    /// The role the invitee gets.
    pub role: Role,
    /// Who invited.
    pub invited_by: UserId,
    /// When it stops being valid.
    pub expires_at: OffsetDateTime,
}

/// The result of a successful accept.
///
/// ```no_run
/// # async fn demo(app_pool: &sqlx::PgPool, token: &str, bob: tenancy_core::UserId,
/// #     tenants: &dyn tenancy_core::TenantStore, members: &dyn tenancy_core::MembershipStore)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::{TenantKey, authorize};
/// let invitations = tenancy_sqlx::Invitations::new();
/// let joined = invitations.accept(app_pool, token, bob, "bob@example.com").await?;
/// // Bob's first scope in the tenant he joined.
/// let scope = authorize(tenants, members, &TenantKey::Id(joined.tenant_id), bob).await?;
/// assert_eq!(scope.role(), joined.role);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedInvitation {
    /// The tenant joined.
    pub tenant_id: TenantId,
    /// The role received.
    pub role: Role,
}

/// Creates, revokes and accepts invitations.
///
/// Only `sha256(token)` is stored (`tenancy.invitations.token_hash`); the token itself is shown
/// once, to the inviter, by [`Invitations::invite`]. The token names its tenant
/// (`inv_<tenant>_<secret>`), so accepting needs no tenant scope and no special policy: the
/// library opens a transaction with that tenant and the accepting user set locally and looks the
/// hash up under the ordinary tenant policy. A forged tenant part finds nothing.
///
/// Accepting checks, in this order, that the invitation exists, is not revoked, not used, not
/// expired, that the accepting user's verified email is the invited one, that the tenant admits
/// requests, and that the inviter still holds a role that may grant the invited role
/// (`tenancy_core::assignment::check`); then it creates the membership, marks the invitation
/// used and appends an audit entry in one transaction. The invitation row is locked first, so a
/// second (or concurrent) accept fails with [`InvitationError::AlreadyUsed`].
///
/// ```no_run
/// # async fn demo(pool: &tenancy_sqlx::TenantPool, app_pool: &sqlx::PgPool,
/// #     scope: &tenancy_core::TenantScope, bob: tenancy_core::UserId)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use tenancy_core::Role;
/// let invitations = tenancy_sqlx::Invitations::new();
/// let (_invitation, token) = invitations.invite(pool, scope, "bob@example.com", Role::Member).await?;
/// // ... email the link with `token.expose()`; bob signs in with that verified email ...
/// invitations.accept(app_pool, token.expose(), bob, "bob@example.com").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Invitations {
    ttl: Duration,
    invalidator: Arc<dyn MembershipCacheInvalidator>,
}

impl Default for Invitations {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Invitations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitations")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn normalise_email(email: &str) -> Result<String, InvitationError> {
    let e = email.trim().to_lowercase();
    match e.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !e.chars().any(char::is_whitespace) =>
        {
            Ok(e)
        }
        _ => Err(InvitationError::InvalidEmail(email.to_owned())),
    }
}

impl Invitations {
    /// Default validity of an invitation: 7 days.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenancy_sqlx::Invitations;
    /// assert_eq!(Invitations::DEFAULT_TTL, Duration::from_secs(7 * 24 * 3600));
    /// // Links valid twice as long as the default:
    /// let invitations = Invitations::new().with_ttl(2 * Invitations::DEFAULT_TTL);
    /// assert_eq!(format!("{invitations:?}"), "Invitations { ttl: 1209600s, .. }");
    /// ```
    pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

    /// Invitations valid for [`DEFAULT_TTL`](Self::DEFAULT_TTL), with no cache to invalidate.
    ///
    /// ```
    /// let invitations = tenancy_sqlx::Invitations::new();
    /// assert_eq!(format!("{invitations:?}"), "Invitations { ttl: 604800s, .. }");
    /// ```
    pub fn new() -> Self {
        Self {
            ttl: Self::DEFAULT_TTL,
            invalidator: Arc::new(()),
        }
    }

    /// How long a new invitation stays valid (at least one second).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tenancy_sqlx::Invitations;
    /// let two_days = Invitations::new().with_ttl(Duration::from_secs(48 * 3600));
    /// assert_eq!(format!("{two_days:?}"), "Invitations { ttl: 172800s, .. }");
    /// // Zero is raised to the minimum.
    /// let shortest = Invitations::new().with_ttl(Duration::ZERO);
    /// assert_eq!(format!("{shortest:?}"), "Invitations { ttl: 1s, .. }");
    /// ```
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// Invalidates `invalidator` after an accept created a membership.
    ///
    /// ```no_run
    /// # fn demo(app_pool: sqlx::PgPool) {
    /// use std::sync::Arc;
    /// use tenancy_core::CachingMembershipStore;
    /// use tenancy_sqlx::{Invitations, PgMembershipStore};
    /// // The pipeline reads roles through this cache; an accept evicts the new member's entry,
    /// // so their first request after accepting is admitted at once.
    /// let memberships = Arc::new(CachingMembershipStore::new(PgMembershipStore::new(app_pool)));
    /// let invitations = Invitations::new().with_invalidator(memberships.clone());
    /// # let _ = invitations; }
    /// ```
    #[must_use]
    pub fn with_invalidator(mut self, invalidator: Arc<dyn MembershipCacheInvalidator>) -> Self {
        self.invalidator = invalidator;
        self
    }

    /// Invites `email` to the scope's tenant with `role`, if the inviter may grant it. Returns
    /// the invitation and its token (shown once; only its hash is stored).
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, admin: &tenancy_core::TenantScope,
    /// #     member: &tenancy_core::TenantScope) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::Role;
    /// use tenancy_sqlx::{InvitationError, Invitations};
    /// let invitations = Invitations::new();
    /// let (invitation, token) = invitations.invite(pool, admin, "bob@example.com", Role::Member).await?;
    /// assert_eq!(invitation.role, Role::Member);
    /// // ... email `token.expose()` to bob ...
    /// // A plain member may not invite an admin.
    /// let err = invitations.invite(pool, member, "carol@example.com", Role::Admin).await.unwrap_err();
    /// assert!(matches!(err, InvitationError::Denied(_)));
    /// # let _ = token; Ok(()) }
    /// ```
    pub async fn invite(
        &self,
        pool: &TenantPool,
        scope: &TenantScope,
        email: &str,
        role: Role,
    ) -> Result<(Invitation, InvitationToken), InvitationError> {
        let email = normalise_email(email)?;
        let mut tx = pool.begin(scope).await?;
        let actor = membership::actor_role(&mut tx, scope).await?;
        assignment::check(actor, Action::Grant, None, Some(role))
            .into_result()
            .map_err(InvitationError::Denied)?;
        let token = InvitationToken::generate(scope.tenant_id());
        let id = uuid::Uuid::new_v4();
        let secs = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let expires_at: OffsetDateTime = sqlx::query_scalar(
            "INSERT INTO tenancy.invitations (tenant_id, id, token_hash, email, role, invited_by, \
             expires_at) \
             VALUES ((SELECT tenancy.current_tenant_id()), $1, \
               pg_catalog.sha256(pg_catalog.convert_to($2, 'UTF8')), $3, $4, $5, \
               pg_catalog.now() + pg_catalog.make_interval(secs => $6::double precision)) \
             RETURNING expires_at",
        )
        .bind(id)
        .bind(token.expose())
        .bind(&email)
        .bind(role.as_str())
        .bind(scope.user_id().into_uuid())
        .bind(secs as f64)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        audit_log::append(
            &mut tx,
            &AuditEntry::new(Actor::from_scope(scope), "invitation.created")
                .with_target(id.to_string())
                .with_details(serde_json::json!({ "email": email, "role": role.as_str() })),
        )
        .await?;
        tx.commit().await?;
        Ok((
            Invitation {
                id,
                tenant_id: scope.tenant_id(),
                email,
                role,
                invited_by: scope.user_id(),
                expires_at,
            },
            token,
        ))
    }

    /// Revokes a pending invitation of the scope's tenant (whoever could have granted its role).
    /// An invitation that was already revoked gives [`InvitationError::Revoked`], an accepted one
    /// [`InvitationError::AlreadyUsed`], another tenant's [`InvitationError::NotFound`].
    ///
    /// ```no_run
    /// # async fn demo(pool: &tenancy_sqlx::TenantPool, app_pool: &sqlx::PgPool,
    /// #     scope: &tenancy_core::TenantScope, bob: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_core::Role;
    /// use tenancy_sqlx::{InvitationError, Invitations};
    /// let invitations = Invitations::new();
    /// let (invitation, token) = invitations.invite(pool, scope, "bob@example.com", Role::Member).await?;
    /// invitations.revoke(pool, scope, invitation.id).await?;
    /// let err = invitations.accept(app_pool, token.expose(), bob, "bob@example.com").await.unwrap_err();
    /// assert!(matches!(err, InvitationError::Revoked));
    /// # Ok(()) }
    /// ```
    pub async fn revoke(
        &self,
        pool: &TenantPool,
        scope: &TenantScope,
        id: uuid::Uuid,
    ) -> Result<(), InvitationError> {
        let mut tx = pool.begin(scope).await?;
        let actor = membership::actor_role(&mut tx, scope).await?;
        let row: Option<(String, bool, bool)> = sqlx::query_as(
            "SELECT role, accepted_at IS NOT NULL, revoked_at IS NOT NULL \
             FROM tenancy.invitations \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) AND id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let (role, accepted, revoked) = row.ok_or(InvitationError::NotFound)?;
        let role = membership::parse_role(&role)?;
        // Revoking is allowed to whoever could have granted the role.
        assignment::check(actor, Action::Grant, None, Some(role))
            .into_result()
            .map_err(InvitationError::Denied)?;
        // The row is locked: what it says now stays true until the update below.
        if revoked {
            return Err(InvitationError::Revoked);
        }
        if accepted {
            return Err(InvitationError::AlreadyUsed);
        }
        sqlx::query(
            "UPDATE tenancy.invitations SET revoked_at = pg_catalog.now() \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) AND id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        audit_log::append(
            &mut tx,
            &AuditEntry::new(Actor::from_scope(scope), "invitation.revoked")
                .with_target(id.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accepts an invitation for `user`, whose email the application has verified.
    ///
    /// `pool` is a pool of the runtime role. Creates the membership, marks the invitation used
    /// and appends an audit entry in one transaction.
    ///
    /// ```no_run
    /// # async fn demo(app_pool: &sqlx::PgPool, token: &str, bob: tenancy_core::UserId)
    /// #     -> Result<(), Box<dyn std::error::Error>> {
    /// use tenancy_sqlx::{InvitationError, Invitations};
    /// // `token` from the link, the email as verified by the application's sign-in.
    /// match Invitations::new().accept(app_pool, token, bob, "bob@example.com").await {
    ///     Ok(joined) => println!("welcome to {} as {}", joined.tenant_id, joined.role),
    ///     Err(InvitationError::Expired) => println!("this link has expired, ask for a new one"),
    ///     Err(InvitationError::EmailMismatch) => println!("sign in with the invited address"),
    ///     Err(e) => return Err(e.into()),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn accept(
        &self,
        pool: &PgPool,
        token: &str,
        user: UserId,
        verified_email: &str,
    ) -> Result<AcceptedInvitation, InvitationError> {
        let tenant = InvitationToken::tenant_of(token).ok_or(InvitationError::NotFound)?;
        let email = normalise_email(verified_email)?;
        let mut tx = pool.begin().await.map_err(db)?;
        sqlx::query(
            "SELECT pg_catalog.set_config($1, $2, true), pg_catalog.set_config($3, $4, true)",
        )
        .bind(settings::TENANT_ID)
        .bind(tenant.to_string())
        .bind(settings::USER_ID)
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query(
            "SELECT id, email, role, invited_by, revoked_at IS NOT NULL AS revoked, \
               accepted_at IS NOT NULL AS used, expires_at <= pg_catalog.now() AS expired \
             FROM tenancy.invitations \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) \
               AND token_hash = pg_catalog.sha256(pg_catalog.convert_to($1, 'UTF8')) \
             FOR UPDATE",
        )
        .bind(token)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(InvitationError::NotFound)?;
        if row.try_get::<bool, _>("revoked").map_err(db)? {
            return Err(InvitationError::Revoked);
        }
        if row.try_get::<bool, _>("used").map_err(db)? {
            return Err(InvitationError::AlreadyUsed);
        }
        if row.try_get::<bool, _>("expired").map_err(db)? {
            return Err(InvitationError::Expired);
        }
        if row.try_get::<String, _>("email").map_err(db)? != email {
            return Err(InvitationError::EmailMismatch);
        }
        let id: uuid::Uuid = row.try_get("id").map_err(db)?;
        let role = membership::parse_role(&row.try_get::<String, _>("role").map_err(db)?)?;
        let inviter = UserId::from_uuid(row.try_get("invited_by").map_err(db)?);

        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM tenancy.tenants WHERE id = $1")
                .bind(tenant.into_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if !matches!(status.as_deref(), Some("active" | "trial")) {
            return Err(InvitationError::TenantNotActive);
        }
        let inviter_role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM tenancy.memberships \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) AND user_id = $1",
        )
        .bind(inviter.into_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let inviter_role = inviter_role
            .as_deref()
            .map(membership::parse_role)
            .transpose()?
            .ok_or(InvitationError::InviterLostRights)?;
        if !assignment::check(inviter_role, Action::Grant, None, Some(role)).is_allowed() {
            return Err(InvitationError::InviterLostRights);
        }

        membership::insert_membership(&mut tx, user, role).await?;
        sqlx::query(
            "UPDATE tenancy.invitations SET accepted_by = $2, accepted_at = pg_catalog.now() \
             WHERE tenant_id = (SELECT tenancy.current_tenant_id()) AND id = $1",
        )
        .bind(id)
        .bind(user.into_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        audit_log::append_conn(
            &mut tx,
            tenant,
            &AuditEntry::new(Actor::User(user), "invitation.accepted")
                .with_target(id.to_string())
                .with_details(serde_json::json!({
                    "role": role.as_str(),
                    "invited_by": inviter.to_string(),
                })),
        )
        .await?;
        tx.commit().await.map_err(db)?;
        self.invalidator.invalidate_membership(tenant, user);
        Ok(AcceptedInvitation {
            tenant_id: tenant,
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_tenant() {
        let t = TenantId::new_random();
        let token = InvitationToken::generate(t);
        assert_eq!(InvitationToken::tenant_of(token.expose()), Some(t));
        assert_eq!(format!("{token:?}"), "InvitationToken(..)");
        assert_ne!(
            InvitationToken::generate(t).expose(),
            token.expose(),
            "tokens are random"
        );
        for bad in ["", "inv_", "inv_x_y", &token.expose()[..40], "abc"] {
            assert_eq!(InvitationToken::tenant_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalise_email(" Bob@Example.COM ").ok().as_deref(),
            Some("bob@example.com")
        );
        for bad in ["", "bob", "@x", "bob@", "a b@c", "a@b@c"] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }
}
