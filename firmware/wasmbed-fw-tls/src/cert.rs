//! X.509 (RFC 5280) fields Wasmbed needs, for ECDSA P-256 / SHA-256 certificates only.

use crate::der::{self, DerError, Reader, Tlv};

/// AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters.
const ALG_ECDSA_SHA256: &[u8] = &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// AlgorithmIdentifier id-ecPublicKey with namedCurve prime256v1.
const ALG_EC_P256: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
    0x01, 0x07,
];
/// subjectAltName 2.5.29.17
pub const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// basicConstraints 2.5.29.19
pub const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// keyUsage 2.5.29.15
pub const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// extKeyUsage 2.5.29.37
pub const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// id-kp-serverAuth 1.3.6.1.5.5.7.3.1
pub const OID_KP_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

/// A parsed certificate: slices of the DER it was read from.
pub struct Cert<'a> {
    /// The signed bytes (TBSCertificate TLV).
    pub tbs: &'a [u8],
    /// ECDSA-Sig-Value, DER.
    pub signature: &'a [u8],
    /// Raw Name TLVs, compared bytewise.
    pub issuer: &'a [u8],
    /// Raw subject Name TLV, compared bytewise.
    pub subject: &'a [u8],
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
    /// SEC1 uncompressed P-256 point (65 bytes).
    pub public_key: &'a [u8],
    /// Contents of the Extensions SEQUENCE (empty if none).
    pub extensions: &'a [u8],
}

/// One extension of a certificate.
pub struct Extension<'a> {
    /// Its OID's contents.
    pub oid: &'a [u8],
    /// Marked critical: a verifier that does not understand it must refuse.
    pub critical: bool,
    /// Contents of extnValue (the DER of the extension itself).
    pub value: &'a [u8],
}

impl<'a> Cert<'a> {
    /// Parses a whole certificate; anything but ECDSA P-256 with SHA-256 is an error.
    pub fn parse(input: &'a [u8]) -> Result<Self, DerError> {
        let mut outer = Reader(input);
        let cert = outer.expect(der::SEQUENCE)?;
        outer.finish()?;
        let mut c = Reader(cert.value);
        let tbs = c.expect(der::SEQUENCE)?;
        let alg = c.expect(der::SEQUENCE)?;
        let sig = c.expect(der::BIT_STRING)?;
        c.finish()?;
        if alg.raw != ALG_ECDSA_SHA256 {
            return Err(DerError);
        }

        let mut t = Reader(tbs.value);
        // version [0] EXPLICIT INTEGER 2 (v3)
        if t.expect(0xa0)?.value != [0x02, 0x01, 0x02] {
            return Err(DerError);
        }
        t.expect(der::INTEGER)?; // serial
        if t.expect(der::SEQUENCE)?.raw != ALG_ECDSA_SHA256 {
            return Err(DerError);
        }
        let issuer = t.expect(der::SEQUENCE)?;
        let mut validity = Reader(t.expect(der::SEQUENCE)?.value);
        let not_before = der::time(&validity.next_tlv()?)?;
        let not_after = der::time(&validity.next_tlv()?)?;
        validity.finish()?;
        let subject = t.expect(der::SEQUENCE)?;
        let mut spki = Reader(t.expect(der::SEQUENCE)?.value);
        if spki.expect(der::SEQUENCE)?.raw != ALG_EC_P256 {
            return Err(DerError);
        }
        let public_key = der::bit_string(&spki.expect(der::BIT_STRING)?)?;
        spki.finish()?;
        if public_key.len() != 65 || public_key[0] != 0x04 {
            return Err(DerError);
        }
        t.optional(0x81)?; // issuerUniqueID
        t.optional(0x82)?; // subjectUniqueID
        let extensions = match t.optional(0xa3)? {
            Some(e) => {
                let mut r = Reader(e.value);
                let seq = r.expect(der::SEQUENCE)?;
                r.finish()?;
                seq.value
            }
            None => &[],
        };
        t.finish()?;
        Ok(Self {
            tbs: tbs.raw,
            signature: der::bit_string(&sig)?,
            issuer: issuer.raw,
            subject: subject.raw,
            not_before,
            not_after,
            public_key,
            extensions,
        })
    }

    /// Calls `f` for each extension; stops at the first error.
    pub fn for_each_extension(&self, mut f: impl FnMut(Extension<'a>) -> Result<(), DerError>) -> Result<(), DerError> {
        let mut r = Reader(self.extensions);
        while !r.is_empty() {
            let mut e = Reader(r.expect(der::SEQUENCE)?.value);
            let oid = e.expect(der::OID)?.value;
            let critical = match e.optional(der::BOOLEAN)? {
                Some(Tlv { value: [0xff], .. }) => true,
                Some(Tlv { value: [0x00], .. }) => false,
                Some(_) => return Err(DerError),
                None => false,
            };
            let value = e.expect(der::OCTET_STRING)?.value;
            e.finish()?;
            f(Extension { oid, critical, value })?;
        }
        Ok(())
    }

    /// basicConstraints cA flag (false when the extension is absent).
    pub fn is_ca(&self) -> Result<bool, DerError> {
        let mut ca = false;
        self.for_each_extension(|e| {
            if e.oid == OID_BASIC_CONSTRAINTS {
                let mut r = Reader(e.value);
                let mut bc = Reader(r.expect(der::SEQUENCE)?.value);
                r.finish()?;
                ca = matches!(bc.optional(der::BOOLEAN)?, Some(Tlv { value: [0xff], .. }));
            }
            Ok(())
        })?;
        Ok(ca)
    }
}
