//! The control plane's check before it signs a module: the store's bytes
//! validate under the agent's own validator. Uploads through this API are
//! validated already; this also covers an application written around it
//! (`kubectl apply`, a store edited by hand), since device firmware
//! compiles signed modules without validating them.

use std::sync::Arc;

use async_trait::async_trait;
use wasmbed_control::CheckError;
use wasmbed_model::Store;

/// Validates stored modules by digest.
pub struct StoredModuleCheck {
    store: Arc<dyn Store>,
}

impl StoredModuleCheck {
    /// A check reading modules from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

impl std::fmt::Debug for StoredModuleCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredModuleCheck").finish_non_exhaustive()
    }
}

#[async_trait]
impl wasmbed_control::ModuleCheck for StoredModuleCheck {
    async fn check(&self, digest: &str) -> Result<(), CheckError> {
        let bytes = self
            .store
            .get_module(digest)
            .await
            .map_err(|e| CheckError::Unavailable(format!("cannot read it: {e}")))?
            .ok_or_else(|| CheckError::Unavailable("it is not in the store (not uploaded yet?)".into()))?;
        wasmbed_agent::validate_bytes(&bytes).map_err(CheckError::Invalid)
    }
}
