//! The tenant transaction extractor (feature `sqlx`).

use std::ops::{Deref, DerefMut};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use tenancy_core::Refusal;
use tenancy_sqlx::{TenantPool, TenantTx};

use crate::extract::scope_of;
use crate::rejection::TenancyRejection;

/// A [`TenantTx`] opened with [`TenantPool::begin`] for the request's scope.
///
/// The pool comes from app data, registered as `web::Data<TenantPool>` or as a plain
/// `TenantPool` (`App::app_data`); no pool is 500 `internal`, like a failed `BEGIN` (the cause is
/// logged, never sent). Other rejections are those of [`CurrentTenant`](crate::CurrentTenant).
/// Commit explicitly with [`commit`](Self::commit); dropping rolls back.
///
/// ```no_run
/// use tenancy_actix::TenantTransaction;
///
/// async fn count(mut tx: TenantTransaction) -> actix_web::Result<String> {
///     let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM projects")
///         .fetch_one(&mut **tx)
///         .await
///         .map_err(actix_web::error::ErrorInternalServerError)?;
///     tx.commit().await.map_err(actix_web::error::ErrorInternalServerError)?;
///     Ok(n.to_string())
/// }
/// # let _ = actix_web::web::get().to(count);
/// ```
#[derive(Debug)]
#[must_use = "the transaction rolls back when dropped; call `commit`"]
pub struct TenantTransaction(pub TenantTx);

impl TenantTransaction {
    /// Commits the transaction.
    ///
    /// ```no_run
    /// use actix_web::error::ErrorInternalServerError;
    /// use tenancy_actix::TenantTransaction;
    ///
    /// async fn rename_project(mut tx: TenantTransaction) -> actix_web::Result<&'static str> {
    ///     sqlx::query("UPDATE projects SET name = $1 WHERE id = $2")
    ///         .bind("Apollo")
    ///         .bind(7_i64)
    ///         .execute(&mut **tx)
    ///         .await
    ///         .map_err(ErrorInternalServerError)?;
    ///     tx.commit().await.map_err(ErrorInternalServerError)?; // without this, the update is rolled back
    ///     Ok("renamed")
    /// }
    /// # let _ = actix_web::web::post().to(rename_project);
    /// ```
    pub async fn commit(self) -> Result<(), tenancy_sqlx::TxError> {
        self.0.commit().await
    }

    /// Rolls the transaction back.
    ///
    /// ```no_run
    /// use actix_web::error::{ErrorConflict, ErrorInternalServerError};
    /// use tenancy_actix::TenantTransaction;
    ///
    /// async fn archive_project(mut tx: TenantTransaction) -> actix_web::Result<&'static str> {
    ///     let (open,): (i64,) =
    ///         sqlx::query_as("SELECT count(*) FROM tasks WHERE project_id = $1 AND NOT done")
    ///             .bind(7_i64)
    ///             .fetch_one(&mut **tx)
    ///             .await
    ///             .map_err(ErrorInternalServerError)?;
    ///     if open > 0 {
    ///         // Nothing was written; end the transaction now rather than at drop.
    ///         tx.rollback().await.map_err(ErrorInternalServerError)?;
    ///         return Err(ErrorConflict("the project has open tasks"));
    ///     }
    ///     sqlx::query("UPDATE projects SET archived = true WHERE id = $1")
    ///         .bind(7_i64)
    ///         .execute(&mut **tx)
    ///         .await
    ///         .map_err(ErrorInternalServerError)?;
    ///     tx.commit().await.map_err(ErrorInternalServerError)?;
    ///     Ok("archived")
    /// }
    /// # let _ = actix_web::web::post().to(archive_project);
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

impl FromRequest for TenantTransaction {
    type Error = TenancyRejection;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let scope = scope_of(req).map(|(scope, _)| scope);
        let pool = req
            .app_data::<web::Data<TenantPool>>()
            .map(|d| d.get_ref().clone())
            .or_else(|| req.app_data::<TenantPool>().cloned());
        Box::pin(async move {
            let scope = scope?;
            let Some(pool) = pool else {
                tracing::error!("no TenantPool in the app data");
                return Err(TenancyRejection::new(Refusal::INTERNAL));
            };
            match pool.begin(&scope).await {
                Ok(tx) => Ok(Self(tx)),
                Err(e) => {
                    tracing::error!(error = %e, "could not begin the tenant transaction");
                    Err(TenancyRejection::new(Refusal::INTERNAL))
                }
            }
        })
    }
}
