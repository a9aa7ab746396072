//! The tenant transaction extractor (feature `sqlx`).

use std::ops::{Deref, DerefMut};

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use tenancy_core::Refusal;
use tenancy_sqlx::{TenantPool, TenantTx};

use crate::extract::CurrentTenant;
use crate::rejection::TenancyRejection;

/// A [`TenantTx`] opened with [`TenantPool::begin`] for the request's scope: the only road to
/// tenant tables from a handler.
///
/// The pool comes from the router state (`TenantPool: FromRef<S>`). Commit explicitly with
/// [`commit`](Self::commit); dropping the extractor rolls back. Rejections are those of
/// [`CurrentTenant`], and 500 `internal` when the transaction cannot begin (the cause is logged,
/// never sent).
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tenancy_axum::TenantTransaction;
/// use tenancy_sqlx::TenantPool;
///
/// async fn count(mut tx: TenantTransaction) -> Result<String, String> {
///     let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM projects")
///         .fetch_one(&mut **tx)
///         .await
///         .map_err(|_| "query failed".to_owned())?;
///     tx.commit().await.map_err(|_| "commit failed".to_owned())?;
///     Ok(n.to_string())
/// }
///
/// fn app(pool: TenantPool) -> Router {
///     Router::new().route("/count", get(count)).with_state(pool)
/// }
/// ```
#[derive(Debug)]
#[must_use = "the transaction rolls back when dropped; call `commit`"]
pub struct TenantTransaction(pub TenantTx);

impl TenantTransaction {
    /// Commits the transaction.
    ///
    /// ```no_run
    /// use tenancy_axum::TenantTransaction;
    ///
    /// async fn rename_project(mut tx: TenantTransaction) -> Result<&'static str, String> {
    ///     sqlx::query("UPDATE projects SET name = $1 WHERE id = $2")
    ///         .bind("Apollo")
    ///         .bind(7_i64)
    ///         .execute(&mut **tx)
    ///         .await
    ///         .map_err(|e| e.to_string())?;
    ///     tx.commit().await.map_err(|e| e.to_string())?; // without this, the update is rolled back
    ///     Ok("renamed")
    /// }
    /// # let _: axum::routing::MethodRouter<tenancy_sqlx::TenantPool> = axum::routing::post(rename_project);
    /// ```
    pub async fn commit(self) -> Result<(), tenancy_sqlx::TxError> {
        self.0.commit().await
    }

    /// Rolls the transaction back.
    ///
    /// ```no_run
    /// use tenancy_axum::TenantTransaction;
    ///
    /// async fn archive_project(mut tx: TenantTransaction) -> Result<&'static str, String> {
    ///     let (open,): (i64,) = sqlx::query_as("SELECT count(*) FROM tasks WHERE project_id = $1 AND NOT done")
    ///         .bind(7_i64)
    ///         .fetch_one(&mut **tx)
    ///         .await
    ///         .map_err(|e| e.to_string())?;
    ///     if open > 0 {
    ///         // Nothing was written; end the transaction now rather than at drop.
    ///         tx.rollback().await.map_err(|e| e.to_string())?;
    ///         return Err(format!("{open} open tasks"));
    ///     }
    ///     sqlx::query("UPDATE projects SET archived = true WHERE id = $1")
    ///         .bind(7_i64)
    ///         .execute(&mut **tx)
    ///         .await
    ///         .map_err(|e| e.to_string())?;
    ///     tx.commit().await.map_err(|e| e.to_string())?;
    ///     Ok("archived")
    /// }
    /// # let _: axum::routing::MethodRouter<tenancy_sqlx::TenantPool> = axum::routing::post(archive_project);
    /// ```
    pub async fn rollback(self) -> Result<(), tenancy_sqlx::TxError> {
        self.0.rollback().await
    }
}

impl Deref for TenantTransaction {
    type Target = TenantTx;
    fn deref(&self) -> &TenantTx {
        &self.0
    }
}

impl DerefMut for TenantTransaction {
    fn deref_mut(&mut self) -> &mut TenantTx {
        &mut self.0
    }
}

impl<S> FromRequestParts<S> for TenantTransaction
where
    S: Send + Sync,
    TenantPool: FromRef<S>,
{
    type Rejection = TenancyRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let CurrentTenant(scope) = CurrentTenant::from_request_parts(parts, state).await?;
        let pool = TenantPool::from_ref(state);
        match pool.begin(&scope).await {
            Ok(tx) => Ok(Self(tx)),
            Err(e) => {
                tracing::error!(error = %e, "could not begin the tenant transaction");
                Err(TenancyRejection::new(Refusal::INTERNAL))
            }
        }
    }
}
