//! Capability `telemetry`: numeric samples the platform keeps as time
//! series per device and metric, and can gate rollouts on.
//!
//! ```
//! use wasmbed_sdk::telemetry;
//! // Off wasm32 there is no device: samples are accepted and dropped.
//! assert_eq!(telemetry::publish("temp_c", 21.5), Ok(()));
//! ```

use crate::HostError;
use crate::error::status;

/// Publishes `value` as metric `name` (1-32 bytes of `[a-z0-9_.]`,
/// starting with a letter), taken now. Over the device's rate limit (10
/// samples a second, bursts of 20) the sample is dropped: `Limited`.
pub fn publish(name: &str, value: f64) -> Result<(), HostError> {
    publish_at(name, value, 0)
}

/// [`publish`], for a sample taken at `uptime_ms` (device uptime, as
/// [`now_ms`](crate::now_ms) says it; 0 means now).
pub fn publish_at(name: &str, value: f64, uptime_ms: u64) -> Result<(), HostError> {
    status(crate::host::telemetry_publish(name, value, uptime_ms)).map(drop)
}
