//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Why a PKI operation failed.
///
/// Errors about stored files name the file, so an operator can fix or remove
/// it; none of them carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A stored file is not what it should be: not PEM, not a certificate,
    /// not a P-256 key, or a key that does not match its certificate.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// One half of the CA's key/certificate pair exists without the other.
    #[error(
        "{} is missing but {} exists; restore it, or remove both to create a new CA",
        missing.display(),
        present.display()
    )]
    Incomplete {
        /// The file that is absent.
        missing: PathBuf,
        /// The file that is present.
        present: PathBuf,
    },
    /// The stored CA certificate is outside its validity period.
    #[error("{}: the platform CA certificate is not valid at this time", path.display())]
    CaNotValid {
        /// The CA certificate file.
        path: PathBuf,
    },
    /// A device id that is not 1-63 characters of `[a-z0-9-]`, or that
    /// starts or ends with `-`.
    #[error("invalid device id {0:?}: must be 1-63 characters of [a-z0-9-], not starting or ending with '-'")]
    InvalidDeviceId(String),
    /// An attached board's id is its device id, and its provisioning record
    /// holds at most 32 bytes of it.
    #[error("device id {0:?} is too long for an attached board: its provisioning record holds at most 32 bytes")]
    BoardIdTooLong(String),
    /// A bundle was asked for without any gateway address.
    #[error("an identity bundle needs at least one gateway address")]
    NoGateway,
    /// A subject alternative name that is neither an IP address nor a DNS
    /// name, or an empty list of them.
    #[error("invalid subject alternative name {0:?}")]
    InvalidSan(String),
    /// A time a certificate cannot hold, or a validity period that ends
    /// before it starts.
    #[error("invalid validity: {0}")]
    InvalidValidity(&'static str),
    /// Bytes that are not a certificate, or a certificate without a usable
    /// device id.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// Text that is not a certificate fingerprint (64 hex digits).
    #[error("invalid certificate fingerprint {0:?}: must be 64 hex digits")]
    InvalidFingerprint(String),
    /// Generating a key or signing a certificate failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls rejected a certificate, key or protocol setting.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

impl PkiError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Corrupt { path: path.into(), reason: reason.into() }
    }
}
