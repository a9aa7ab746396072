//! Request-scoped tenancy: running the core pipeline once per request and extracting its
//! outcome in handlers.
//!
//! Interim glue while `tenancy-axum` (layer and extractors) is being written: a thin
//! `from_fn` middleware that calls [`TenantPipeline::run`] and stores the
//! [`PipelineOutcome`] in the request extensions, plus three extractors. No resolution or
//! authorisation logic lives here: the pipeline decides, this module only translates.

use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tenancy_core::{
    PipelineOutcome, PlatformScope, Principal, RequestView, TenantPipeline, TenantScope,
};

use crate::error::ApiError;

/// Runs the pipeline on the request as the client sent it (the original URI, before the
/// `/t/{slug}` prefix is stripped for routing) and stores the outcome; a refusal is answered
/// at once with the pipeline's status, code and public message.
pub(crate) async fn run_pipeline(
    State(pipeline): State<TenantPipeline>,
    mut req: Request,
    next: Next,
) -> Response {
    let original = req
        .extensions()
        .get::<OriginalUri>()
        .map(|o| o.0.clone())
        .unwrap_or_else(|| req.uri().clone());
    let authority = original.authority().map(|a| a.as_str().to_owned());
    let outcome = {
        let view =
            RequestView::new(original.path(), req.headers()).with_authority(authority.as_deref());
        pipeline.run(&view).await
    };
    match outcome {
        Ok(outcome) => {
            req.extensions_mut().insert(outcome);
            next.run(req).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn outcome(parts: &Parts) -> Result<&PipelineOutcome, ApiError> {
    parts.extensions.get::<PipelineOutcome>().ok_or_else(|| {
        ApiError::internal(&std::io::Error::other(
            "no tenant pipeline outcome in the request: is the pipeline middleware installed?",
        ))
    })
}

/// The tenant scope of a tenant route: the request selected a tenant, the caller is an
/// authenticated member and the tenant admits requests.
///
/// No tenant selected: 401 for anonymous callers, else 400 `tenant_required`.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantScope);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match outcome(parts)? {
            PipelineOutcome::Scoped(scope) => Ok(Self(scope.clone())),
            PipelineOutcome::NoTenant {
                principal: None, ..
            } => Err(ApiError::unauthenticated()),
            PipelineOutcome::NoTenant { .. } => Err(ApiError::tenant_required()),
        }
    }
}

/// An authenticated caller, with or without a tenant. 401 when anonymous.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match outcome(parts)? {
            PipelineOutcome::Scoped(scope) => Ok(Self(Principal::user(scope.user_id()))),
            PipelineOutcome::NoTenant {
                principal: Some(p), ..
            } => Ok(Self(*p)),
            PipelineOutcome::NoTenant {
                principal: None, ..
            } => Err(ApiError::unauthenticated()),
        }
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
        match outcome(parts)? {
            PipelineOutcome::Scoped(_) => Err(ApiError::not_found()),
            PipelineOutcome::NoTenant {
                platform: Some(scope),
                ..
            } => Ok(Self(scope.clone())),
            PipelineOutcome::NoTenant {
                principal: None, ..
            } => Err(ApiError::unauthenticated()),
            PipelineOutcome::NoTenant { .. } => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "not_platform_admin",
                "platform administrators only",
            )),
        }
    }
}
