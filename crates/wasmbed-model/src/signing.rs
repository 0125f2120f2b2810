//! Signed deploys as the platform records them: which manifests the
//! control plane signed for an application, and the one rule that turns a
//! revision into the facts a manifest (and the deploy it vouches for) says.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmbed_protocol::{AppLimits, ConfigEntry, Grant, Manifest, Signed, split_grants};

use crate::Limits;

/// Manifests the control plane signed for one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SigningStatus {
    /// The last sequence number used (each signing takes the next).
    pub sequence: u64,
    /// Highest floor stated so far: a manifest with a lower sequence may be
    /// refused by devices as a replay, so it is signed again when needed.
    pub floor: u64,
    /// The manifests in use: one per revision devices may be sent.
    #[serde(default)]
    pub manifests: Vec<SignedManifest>,
}

/// One signed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SignedManifest {
    /// Revision it vouches for.
    pub revision: u64,
    /// Its sequence number.
    pub sequence: u64,
    /// Hex id of the key that signed it.
    pub key_id: String,
    /// Hex of the CBOR envelope ([`Signed`]) devices receive.
    pub envelope: String,
}

impl SigningStatus {
    /// The manifest for `revision`, if one was signed.
    pub fn manifest(&self, revision: u64) -> Option<&SignedManifest> {
        self.manifests.iter().find(|m| m.revision == revision)
    }
}

impl SignedManifest {
    /// Records `signed`, which vouches for `revision` at `sequence`.
    pub fn new(revision: u64, sequence: u64, signed: &Signed) -> Self {
        Self {
            revision,
            sequence,
            key_id: hex::encode(*signed.key_id),
            envelope: hex::encode(minicbor::to_vec(signed).unwrap_or_default()),
        }
    }

    /// The envelope, decoded; `None` if the record is corrupt.
    pub fn signed(&self) -> Option<Signed> {
        envelope(&self.envelope)
    }

    /// The manifest the envelope holds, read without checking the
    /// signature (for its signer, comparing it with what it would sign
    /// now); `None` if the record is corrupt.
    pub fn manifest(&self) -> Option<Manifest> {
        minicbor::decode(&self.signed()?.body).ok()
    }
}

/// A recorded envelope (hex of its CBOR), decoded; `None` if corrupt.
pub fn envelope(hex: &str) -> Option<Signed> {
    minicbor::decode(&hex::decode(hex).ok()?).ok()
}

/// What a deploy of one revision says, as a manifest: the one rule both
/// the control plane (which signs it) and the gateway (which sends the
/// deploy it vouches for, or runs: an edge component) use, so they cannot
/// differ. Capabilities a device knows are its grants and hardware; the
/// others (the edge tier's, specs are validated on the way in) are carried
/// as written in `edge_grants`.
/// `None` if `digest` is not a SHA-256 in hex.
#[allow(clippy::too_many_arguments)]
pub fn deploy_manifest(
    application: &str,
    revision: u64,
    version: &str,
    digest: &str,
    size: u32,
    capabilities: &[String],
    limits: Limits,
    config: &BTreeMap<String, String>,
) -> Option<Manifest> {
    let sha = <[u8; 32]>::try_from(hex::decode(digest).ok()?).ok()?;
    let grants: Vec<Grant> = capabilities.iter().filter_map(|c| Grant::parse(c).ok()).collect();
    let edge: Vec<String> = capabilities.iter().filter(|c| Grant::parse(c).is_err()).cloned().collect();
    let (groups, resources) = split_grants(&grants);
    Some(Manifest {
        application: application.into(),
        revision,
        version: version.into(),
        module_sha256: sha.into(),
        module_size: size,
        grants: groups,
        resources,
        limits: AppLimits {
            fuel_per_call: limits.fuel_per_call,
            max_memory_pages: limits.max_memory_pages,
            tick_ms: limits.tick_ms,
        },
        config: config.iter().map(|(key, value)| ConfigEntry { key: key.clone(), value: value.clone() }).collect(),
        sequence: 0,
        floor: 0,
        edge_grants: (!edge.is_empty()).then_some(edge),
        native: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use minicbor::bytes::ByteArray;

    #[test]
    fn envelopes_round_trip_and_corrupt_records_are_none() {
        let signed = Signed { body: vec![1, 2, 3].into(), key_id: [9; 8].into(), signature: ByteArray::from([7; 64]) };
        let rec = SignedManifest::new(3, 4, &signed);
        assert_eq!(rec.key_id, "0909090909090909");
        assert_eq!(rec.signed(), Some(signed));
        assert_eq!(SignedManifest { envelope: "zz".into(), ..rec.clone() }.signed(), None);
        assert_eq!(SignedManifest { envelope: "00".into(), ..rec }.signed(), None);
    }

    #[test]
    fn a_manifest_says_what_the_spec_says() {
        let caps = ["log".to_string(), "gpio:led0".into(), "kv".into()];
        let config = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let m = deploy_manifest("a", 2, "1.0", &"ab".repeat(32), 10, &caps, Limits::default(), &config);
        let m = m.unwrap_or_else(|| panic!("valid digest"));
        assert_eq!(m.grants, [wasmbed_protocol::Capability::Log, wasmbed_protocol::Capability::Gpio]);
        assert_eq!(m.resources.len(), 1);
        assert_eq!(m.config, [ConfigEntry { key: "k".into(), value: "v".into() }]);
        assert_eq!(m.edge_grants, Some(vec!["kv".to_string()]), "what a device does not know, as written");
        let device_only = deploy_manifest("a", 2, "1", &"ab".repeat(32), 10, &caps[..2], Limits::default(), &config);
        assert_eq!(device_only.and_then(|m| m.edge_grants), None);
        assert!(deploy_manifest("a", 2, "1", "xyz", 10, &caps, Limits::default(), &config).is_none());
        assert!(deploy_manifest("a", 2, "1", "abab", 10, &caps, Limits::default(), &config).is_none());
    }
}
