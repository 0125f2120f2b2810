//! The gateway's server identity and the subject alternative names it is
//! issued for.
//!
//! Guarantees: requested names are checked (an IP address or a DNS name)
//! before any file is touched, and compared without regard to case; a
//! stored identity naming all of them is reused.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::SystemTime;

use rcgen::{ExtendedKeyUsagePurpose, SanType};
use rustls_pki_types::DnsName;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::files;
use crate::validity::leaf_validity;
use crate::{Identity, Pki, PkiError};

/// Common name of the gateway certificate.
pub const GATEWAY_COMMON_NAME: &str = "Wasmbed Gateway";

const GATEWAY_CERT: &str = "gateway.crt";
const GATEWAY_KEY: &str = "gateway.key";

impl Pki {
    /// The gateway's server identity, stored as `gateway.crt`/`gateway.key`.
    ///
    /// `sans` are DNS names or IP addresses, e.g. `["localhost",
    /// "127.0.0.1", "10.0.2.2"]`. The stored identity is reused if it names
    /// all of them (and is otherwise usable, see [`Pki`]); if not, a new
    /// one is issued for exactly `sans`, valid from `now` less
    /// [`BACKDATE`](crate::BACKDATE) for [`LEAF_LIFETIME`](crate::LEAF_LIFETIME).
    pub fn gateway_identity(&self, sans: &[String], now: SystemTime) -> Result<Identity, PkiError> {
        let wanted = parse_sans(sans)?;
        let _lock = files::lock(&self.dir)?;
        let cert_path = self.dir.join(GATEWAY_CERT);
        let key_path = self.dir.join(GATEWAY_KEY);
        let names_all = |cert: &X509Certificate<'_>| {
            let have = cert_sans(cert);
            wanted.iter().all(|san| have.contains(san))
        };
        if let Some(id) = self.load_leaf(&cert_path, &key_path, now, names_all)? {
            return Ok(id);
        }
        let (not_before, not_after) = leaf_validity(now)?;
        let issued = self.issue(
            GATEWAY_COMMON_NAME,
            wanted.iter().map(San::to_rcgen).collect::<Result<_, _>>()?,
            ExtendedKeyUsagePurpose::ServerAuth,
            not_before,
            not_after,
        )?;
        issued.store(&cert_path, &key_path)
    }
}

/// A requested subject alternative name, comparable with one read back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    fn to_rcgen(&self) -> Result<SanType, PkiError> {
        Ok(match self {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(name) => SanType::DnsName(name.clone().try_into()?),
        })
    }
}

fn parse_sans(sans: &[String]) -> Result<Vec<San>, PkiError> {
    if sans.is_empty() {
        return Err(PkiError::InvalidSan(String::new()));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for s in sans {
        let san = if let Ok(ip) = s.parse::<IpAddr>() {
            San::Ip(ip)
        } else {
            let name =
                DnsName::try_from(s.as_str()).map_err(|_| PkiError::InvalidSan(s.chars().take(255).collect()))?;
            San::Dns(name.as_ref().to_ascii_lowercase())
        };
        if seen.insert(san.clone()) {
            out.push(san);
        }
    }
    Ok(out)
}

/// The DNS names and IP addresses a certificate names.
pub(crate) fn cert_sans(cert: &X509Certificate<'_>) -> HashSet<San> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return HashSet::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(San::Dns(dns.to_ascii_lowercase())),
            GeneralName::IPAddress(bytes) => <[u8; 4]>::try_from(*bytes)
                .map(IpAddr::from)
                .or_else(|_| <[u8; 16]>::try_from(*bytes).map(IpAddr::from))
                .ok()
                .map(San::Ip),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{common_name, parse_cert};
    use crate::testing::{sans, setup};

    #[test]
    fn gateway_identity_is_reused_until_a_san_is_missing() {
        let (_tmp, _dir, now, pki) = setup();
        let three = sans(&["localhost", "127.0.0.1", "10.0.2.2"]);
        let first = pki.gateway_identity(&three, now).unwrap();
        let cert = parse_cert(&first.cert_der).unwrap();
        assert_eq!(
            cert_sans(&cert),
            HashSet::from([
                San::Dns("localhost".into()),
                San::Ip("127.0.0.1".parse().unwrap()),
                San::Ip("10.0.2.2".parse().unwrap()),
            ])
        );
        assert_eq!(common_name(&cert).unwrap(), GATEWAY_COMMON_NAME);

        // A subset (any case) is already covered.
        assert_eq!(pki.gateway_identity(&sans(&["LOCALHOST", "10.0.2.2"]), now).unwrap(), first);
        let with_v6 = pki.gateway_identity(&sans(&["localhost", "::1"]), now).unwrap();
        assert_ne!(with_v6, first);
        let names = cert_sans(&parse_cert(&with_v6.cert_der).unwrap());
        assert!(names.contains(&San::Ip("::1".parse().unwrap())));
        assert_eq!(pki.gateway_identity(&sans(&["::1"]), now).unwrap(), with_v6);
    }

    #[test]
    fn gateway_sans_are_checked() {
        let (_tmp, _dir, now, pki) = setup();
        for bad in [&[][..], &["".to_string()], &["not a name".to_string()], &["a..b".to_string()]] {
            assert!(matches!(pki.gateway_identity(bad, now), Err(PkiError::InvalidSan(_))), "{bad:?}");
        }
    }
}
