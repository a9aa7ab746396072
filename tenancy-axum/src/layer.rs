//! The tower [`Layer`] that wraps services in [`Tenancy`].

use std::fmt;
use std::sync::Arc;

use tenancy_core::{Policy, TenantPipeline};
use tower_layer::Layer;

use crate::service::Tenancy;

/// Wraps services in [`Tenancy`], which runs the [`TenantPipeline`] for every request.
///
/// Cloning is cheap (two `Arc`s). See the [crate docs](crate) for an example and for where the
/// layer belongs in a stack.
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct TenancyLayer {
    pipeline: Arc<TenantPipeline>,
    policy: Option<Arc<Policy>>,
}

impl TenancyLayer {
    /// A layer running `pipeline`. Without a policy, [`RequirePermission`](crate::RequirePermission)
    /// answers 500 `tenancy_policy_missing`.
    pub const fn new(pipeline: Arc<TenantPipeline>) -> Self {
        Self {
            pipeline,
            policy: None,
        }
    }

    /// The permission policy that [`RequirePermission`](crate::RequirePermission) checks against.
    pub fn with_policy(mut self, policy: Arc<Policy>) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl fmt::Debug for TenancyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenancyLayer")
            .field("pipeline", &self.pipeline)
            .field("policy", &self.policy.is_some())
            .finish()
    }
}

impl<S> Layer<S> for TenancyLayer {
    type Service = Tenancy<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Tenancy::new(inner, self.pipeline.clone(), self.policy.clone())
    }
}
