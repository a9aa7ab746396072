//! Extractors for what the tenancy layer ([`tenancy_axum::TenancyLayer`]) leaves in the request:
//! the tenant scope ([`Tenant`]), the caller ([`Caller`]) and the platform administrator
//! ([`Platform`]), with [`ApiError`] rejections.
//!
//! Nothing here decides anything: the core pipeline, run by the layer, already resolved the
//! tenant, authenticated the caller, checked membership, status and platform administration.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use tenancy_axum::CurrentTenant;
use tenancy_core::{PlatformScope, Principal, TenantScope};

use crate::error::ApiError;

/// The tenant scope the layer minted: the adapter's
/// [`CurrentTenant`], with its rejection (400 `tenant_required`
/// when the request selected no tenant) as an [`ApiError`]; an anonymous request without a
/// tenant is 401, like an anonymous request with one.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantScope);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match CurrentTenant::from_request_parts(parts, state).await {
            Ok(CurrentTenant(scope)) => Ok(Self(scope)),
            // No tenant and no credentials: authentication comes first.
            Err(_)
                if parts.extensions.get::<Principal>().is_none()
                    && parts.extensions.get::<PlatformScope>().is_none() =>
            {
                Err(ApiError::unauthenticated())
            }
            Err(r) => Err(ApiError::from(r.refusal())),
        }
    }
}

/// An authenticated caller, with or without a tenant. 401 when anonymous.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(scope) = parts.extensions.get::<TenantScope>() {
            return Ok(Self(Principal::new(scope.user_id(), scope.actor())));
        }
        parts
            .extensions
            .get::<Principal>()
            .map(|p| Self(*p))
            .ok_or_else(ApiError::unauthenticated)
    }
}

/// A platform administrator on a platform route.
///
/// Anonymous: 401. Not an administrator: 403 `not_platform_admin`. A request that selects a
/// tenant never reaches a platform route: 404, as if the route did not exist there.
#[derive(Debug, Clone)]
pub struct Platform(pub PlatformScope);

impl<S: Send + Sync> FromRequestParts<S> for Platform {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ext = &parts.extensions;
        if ext.get::<TenantScope>().is_some() {
            return Err(ApiError::not_found());
        }
        if let Some(scope) = ext.get::<PlatformScope>() {
            return Ok(Self(scope.clone()));
        }
        if ext.get::<Principal>().is_some() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_platform_admin",
                "platform administrators only",
            ));
        }
        Err(ApiError::unauthenticated())
    }
}
