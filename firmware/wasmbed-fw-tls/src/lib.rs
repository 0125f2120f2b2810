//! Mutual TLS 1.3 client for Wasmbed devices on top of embedded-tls 0.19:
//! a verifier pinned to the platform CA (signature, validity against a real
//! clock, server name / IP SAN, serverAuth EKU, not-a-CA) and a provider that
//! presents the device certificate and signs with its PKCS#8 P-256 key.
//!
//! Not yet wired into the board firmware (the next step: an
//! `embedded_io::{Read, Write}` over the smoltcp TCP socket, then the
//! agent's frames over this connection). Things to know, found while
//! testing it against a rustls server configured like our gateway
//! (`tests/mtls.rs`):
//!
//! - embedded-tls does not itself require the server's Certificate and
//!   CertificateVerify, and writes the client's Certificate before it asks
//!   for the signer: our provider hands out the device certificate, and
//!   signs, only after a good server signature (a server that skipped its
//!   own gets an empty Certificate), and callers must call
//!   `ensure_server_authenticated()` after `open()`.
//! - A client certificate the server refuses can still let `open()` return
//!   `Ok`: the failure shows on the first read or flush.
//! - rustls ignores the RFC 6066 `max_fragment_length` extension; the
//!   gateway's `ServerConfig::max_fragment_size` caps records instead
//!   (1024 would let the device use ~1.1 KB buffers instead of 16.6 KB).
//! - embedded-tls's own `rustpki` verifier checks no EKU or basic
//!   constraints and no IP SANs, and `webpki` does not build for thumbv7m:
//!   hence this verifier.
#![no_std]

pub mod cert;
pub mod der;

use core::marker::PhantomData;

use digest::Digest;
use embedded_tls::SignatureScheme;
use embedded_tls::blocking::{
    Aes128GcmSha256, Certificate, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider,
    TlsCipherSuite, TlsError, TlsVerifier,
};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey as _;

use cert::Cert;

/// Real time, in seconds since the Unix epoch; `None` when the device has no
/// trustworthy time yet (the handshake then fails closed).
pub trait UnixClock {
    /// Now, or `None` without a trustworthy time.
    fn now_unix(&self) -> Option<u64>;
}

impl<F: Fn() -> Option<u64>> UnixClock for F {
    fn now_unix(&self) -> Option<u64> {
        self()
    }
}

/// The identity the gateway certificate must carry as a subjectAltName.
#[derive(Clone, Copy, Debug)]
pub enum ServerName<'a> {
    /// dNSName, compared case-insensitively, no wildcards.
    Dns(&'a str),
    /// iPAddress (4 bytes).
    Ipv4([u8; 4]),
    /// iPAddress (16 bytes).
    Ipv6([u8; 16]),
}

/// Checks the server's leaf certificate against one pinned CA (no
/// intermediates: the Wasmbed CA only signs leaves) and then its
/// CertificateVerify signature.
pub struct PinnedVerifier<'a, CS: TlsCipherSuite, C: UnixClock> {
    ca_subject: &'a [u8],
    ca_key: VerifyingKey,
    server: ServerName<'a>,
    clock: C,
    /// Transcript up to and including the server Certificate, and the leaf key.
    pending: Option<(CS::Hash, VerifyingKey)>,
    authenticated: bool,
    _cs: PhantomData<CS>,
}

impl<'a, CS: TlsCipherSuite, C: UnixClock> PinnedVerifier<'a, CS, C> {
    /// `ca_der`: the platform CA certificate (DER). It must be a CA with a P-256 key.
    pub fn new(ca_der: &'a [u8], server: ServerName<'a>, clock: C) -> Result<Self, TlsError> {
        let ca = Cert::parse(ca_der).map_err(|_| TlsError::InvalidCertificate)?;
        if !ca.is_ca().map_err(|_| TlsError::InvalidCertificate)? {
            return Err(TlsError::InvalidCertificate);
        }
        let ca_key = VerifyingKey::from_sec1_bytes(ca.public_key).map_err(|_| TlsError::InvalidCertificate)?;
        Ok(Self {
            ca_subject: ca.subject,
            ca_key,
            server,
            clock,
            pending: None,
            authenticated: false,
            _cs: PhantomData,
        })
    }

    fn reset(&mut self) {
        self.pending = None;
        self.authenticated = false;
    }

    /// True once the server proved possession of a valid certificate's key.
    pub fn server_authenticated(&self) -> bool {
        self.authenticated
    }

    fn check_leaf(&self, der: &[u8]) -> Result<VerifyingKey, TlsError> {
        let bad = |_| TlsError::InvalidCertificate;
        let leaf = Cert::parse(der).map_err(bad)?;
        // 1. issued by the pinned CA: name, then signature over the TBS bytes
        if leaf.issuer != self.ca_subject {
            return Err(TlsError::InvalidCertificate);
        }
        let sig = Signature::from_der(leaf.signature).map_err(|_| TlsError::InvalidCertificate)?;
        self.ca_key.verify(leaf.tbs, &sig).map_err(|_| TlsError::InvalidCertificate)?;
        // 2. validity period against real time; no time -> no connection
        let now = self.clock.now_unix().ok_or(TlsError::InvalidCertificate)?;
        if now < leaf.not_before || now > leaf.not_after {
            return Err(TlsError::InvalidCertificate);
        }
        // 3. extensions: name, purpose, not a CA, no unknown critical ones
        let (mut name_ok, mut server_auth) = (false, false);
        leaf.for_each_extension(|e| {
            match e.oid {
                cert::OID_SAN => name_ok |= san_matches(e.value, &self.server)?,
                cert::OID_EXT_KEY_USAGE => server_auth |= eku_has_server_auth(e.value)?,
                cert::OID_KEY_USAGE => {
                    // BIT STRING; bit 0 = digitalSignature
                    match e.value {
                        [0x03, _, _unused, first, ..] if first & 0x80 != 0 => {}
                        _ => return Err(der::DerError),
                    }
                }
                cert::OID_BASIC_CONSTRAINTS => {}
                _ if e.critical => return Err(der::DerError),
                _ => {}
            }
            Ok(())
        })
        .map_err(bad)?;
        if !name_ok || !server_auth || leaf.is_ca().map_err(bad)? {
            return Err(TlsError::InvalidCertificate);
        }
        VerifyingKey::from_sec1_bytes(leaf.public_key).map_err(|_| TlsError::InvalidCertificate)
    }
}

fn san_matches(value: &[u8], want: &ServerName<'_>) -> Result<bool, der::DerError> {
    let mut r = der::Reader(value);
    let mut names = der::Reader(r.expect(der::SEQUENCE)?.value);
    r.finish()?;
    let mut hit = false;
    while !names.is_empty() {
        let gn = names.next_tlv()?;
        hit |= match (gn.tag, want) {
            (0x82, ServerName::Dns(d)) => gn.value.eq_ignore_ascii_case(d.as_bytes()),
            (0x87, ServerName::Ipv4(ip)) => gn.value == ip,
            (0x87, ServerName::Ipv6(ip)) => gn.value == ip,
            _ => false,
        };
    }
    Ok(hit)
}

fn eku_has_server_auth(value: &[u8]) -> Result<bool, der::DerError> {
    let mut r = der::Reader(value);
    let mut oids = der::Reader(r.expect(der::SEQUENCE)?.value);
    r.finish()?;
    let mut hit = false;
    while !oids.is_empty() {
        hit |= oids.expect(der::OID)?.value == cert::OID_KP_SERVER_AUTH;
    }
    Ok(hit)
}

impl<CS: TlsCipherSuite, C: UnixClock> TlsVerifier<CS> for PinnedVerifier<'_, CS, C> {
    /// Only called when `TlsConfig::with_server_name` is used (which also
    /// sends SNI); it must agree with the name given to `new`.
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        match self.server {
            ServerName::Dns(d) if d.eq_ignore_ascii_case(hostname) => Ok(()),
            _ => Err(TlsError::InvalidCertificate),
        }
    }

    fn verify_certificate(&mut self, transcript: &CS::Hash, cert: CertificateRef) -> Result<(), TlsError> {
        self.authenticated = false;
        // Only the end-entity certificate is used; anything after it is ignored,
        // never used to build a path (the pinned CA signs leaves directly).
        let leaf = match cert.entries.first() {
            Some(CertificateEntryRef::X509(der)) => *der,
            _ => return Err(TlsError::InvalidCertificate),
        };
        let key = self.check_leaf(leaf)?;
        self.pending = Some((transcript.clone(), key));
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef) -> Result<(), TlsError> {
        let (transcript, key) = self.pending.take().ok_or(TlsError::InvalidHandshake)?;
        if verify.signature_scheme != SignatureScheme::EcdsaSecp256r1Sha256 {
            return Err(TlsError::InvalidSignatureScheme);
        }
        // RFC 8446 4.4.3: 64 spaces, context string, 0, transcript hash
        let mut msg = [0u8; 64 + 34 + 64];
        msg[..64].fill(0x20);
        msg[64..98].copy_from_slice(b"TLS 1.3, server CertificateVerify\x00");
        let hash = transcript.finalize();
        let n = 98 + hash.len();
        msg[98..n].copy_from_slice(&hash);
        let sig = Signature::from_der(verify.signature).map_err(|_| TlsError::InvalidSignature)?;
        key.verify(&msg[..n], &sig).map_err(|_| TlsError::InvalidSignature)?;
        self.authenticated = true;
        Ok(())
    }
}

/// The device's crypto provider: CSPRNG, pinned verifier, client certificate and key.
pub struct DeviceProvider<'a, R, C: UnixClock> {
    rng: R,
    verifier: PinnedVerifier<'a, Aes128GcmSha256, C>,
    cert_der: &'a [u8],
    key: SigningKey,
}

impl<'a, R: rand_core_06::CryptoRngCore, C: UnixClock> DeviceProvider<'a, R, C> {
    /// `key_pkcs8_der`: the device key as rcgen's `KeyPair::serialize_der` writes it (PKCS#8).
    pub fn new(
        rng: R,
        verifier: PinnedVerifier<'a, Aes128GcmSha256, C>,
        cert_der: &'a [u8],
        key_pkcs8_der: &[u8],
    ) -> Result<Self, TlsError> {
        let key = SigningKey::from_pkcs8_der(key_pkcs8_der).map_err(|_| TlsError::InvalidPrivateKey)?;
        Ok(Self { rng, verifier, cert_der, key })
    }

    /// Call after `TlsConnection::open` returns Ok and before sending anything:
    /// embedded-tls does not itself insist on Certificate + CertificateVerify.
    pub fn ensure_server_authenticated(&self) -> Result<(), TlsError> {
        if self.verifier.server_authenticated() { Ok(()) } else { Err(TlsError::InvalidCertificate) }
    }
}

impl<R: rand_core_06::CryptoRngCore, C: UnixClock> CryptoProvider for DeviceProvider<'_, R, C> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = DerSignature;

    fn rng(&mut self) -> impl rand_core_06::CryptoRngCore {
        // embedded-tls calls rng() only while building the ClientHello, i.e. at the
        // start of every handshake: forget any earlier connection's server proof so a
        // reused provider can't carry `authenticated` into a new handshake.
        self.verifier.reset();
        &mut self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(&mut self) -> Result<(impl signature::SignerMut<Self::Signature>, SignatureScheme), TlsError> {
        // Reached after the server's Finished: refuse to sign for an unauthenticated server.
        if !self.verifier.server_authenticated() {
            return Err(TlsError::InvalidCertificate);
        }
        Ok((self.key.clone(), SignatureScheme::EcdsaSecp256r1Sha256))
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        // Asked after the server's Finished, which any peer of the key
        // exchange can compute: the device's identity goes only to a server
        // that proved its own.
        self.verifier.server_authenticated().then_some(Certificate::X509(self.cert_der))
    }
}

/// Lets a rand_core 0.9 CSPRNG (the firmware's `rand_chacha 0.9::ChaCha20Rng`)
/// serve embedded-tls 0.19, which is on rand_core 0.6.
pub struct Rng09<R>(pub R);

impl<R: rand_core::RngCore> rand_core_06::RngCore for Rng09<R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl<R: rand_core::CryptoRng> rand_core_06::CryptoRng for Rng09<R> {}
