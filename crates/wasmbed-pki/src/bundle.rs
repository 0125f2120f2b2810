//! The identity bundle a device is provisioned with.

use std::time::SystemTime;

use wasmbed_protocol::IdentityBundle;

use crate::{Identity, Pki, PkiError};

impl Pki {
    /// Everything a device is provisioned with: its identity (from
    /// [`device_identity`](Self::device_identity)), the CA it pins, the
    /// gateway addresses (`host:port`, its own first, the others as
    /// alternates), its board and its random `seed`.
    pub fn bundle<S: AsRef<str>>(
        &self,
        device_id: &str,
        board: &str,
        gateways: &[S],
        seed: [u8; 32],
        now: SystemTime,
    ) -> Result<IdentityBundle, PkiError> {
        let identity = self.device_identity(device_id, now)?;
        self.bundle_with(identity, device_id, board, gateways, seed)
    }

    /// A bundle holding `identity` (say from
    /// [`new_device_identity`](Self::new_device_identity)), which is not
    /// stored: for issuers that keep identities elsewhere, such as the
    /// Kubernetes controller, which writes each into its device's Secret.
    pub fn bundle_with<S: AsRef<str>>(
        &self,
        identity: Identity,
        device_id: &str,
        board: &str,
        gateways: &[S],
        seed: [u8; 32],
    ) -> Result<IdentityBundle, PkiError> {
        let (first, rest) = gateways.split_first().ok_or(PkiError::NoGateway)?;
        let Identity { cert_der, key_der } = identity;
        let alternates: Vec<String> = rest.iter().map(|g| g.as_ref().to_owned()).collect();
        let pinned = self.app_key.read().ok().and_then(|k| k.clone());
        Ok(IdentityBundle {
            device_id: device_id.to_owned(),
            gateway: first.as_ref().to_owned(),
            ca_der: self.ca_der.clone().into(),
            cert_der: cert_der.into(),
            key_der: key_der.into(),
            seed: seed.into(),
            board: board.to_owned(),
            alternates: (!alternates.is_empty()).then_some(alternates),
            app_key: pinned.as_ref().map(|(k, _)| k.clone().into()),
            app_key_generation: pinned.map(|(_, g)| g),
        })
    }

    /// Pins `key` (generation `generation`) in every bundle issued from now
    /// on: devices install only deploys it, or keys it announces, signed.
    pub fn pin_app_key(&self, key: &wasmbed_trust::SigningKey, generation: u32) {
        if let Ok(mut k) = self.app_key.write() {
            *k = Some((key.public_sec1().to_vec(), generation));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::setup;

    #[test]
    fn bundle_is_filled_from_the_device_identity() {
        let (_tmp, _dir, now, pki) = setup();
        let bundle = pki.bundle("dev-1", "mps2-an385", &["10.0.2.2:4443", "10.0.2.2:4444"], [7; 32], now).unwrap();
        assert_eq!(bundle.alternates.as_deref(), Some(&["10.0.2.2:4444".to_string()][..]));
        let dev = pki.device_identity("dev-1", now).unwrap();
        assert_eq!(bundle.device_id, "dev-1");
        assert_eq!(bundle.board, "mps2-an385");
        assert_eq!(bundle.gateway, "10.0.2.2:4443");
        assert_eq!(bundle.ca_der.as_slice(), pki.ca_cert_der());
        assert_eq!(bundle.cert_der.as_slice(), dev.cert_der.as_slice());
        assert_eq!(bundle.key_der.as_slice(), dev.key_der.as_slice());
        assert_eq!(*bundle.seed, [7; 32]);
        let round = IdentityBundle::from_bytes(&bundle.to_bytes()).unwrap();
        assert_eq!(round, bundle);
        assert!(pki.bundle("../x", "b", &["g:1"], [0; 32], now).is_err());
        assert!(matches!(pki.bundle::<&str>("dev-1", "b", &[], [0; 32], now), Err(PkiError::NoGateway)));
    }
}
