//! embedded-tls 0.19 client (blocking, pinned verifier) against a rustls 0.23 server
//! configured like wasmbed-pki's `server_config`.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use embedded_io_adapters::std::FromStd;
use embedded_tls::blocking::{
    Aes128GcmSha256, CryptoProvider, MaxFragmentLength, TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig};
use time::OffsetDateTime;
use wasmbed_fw_tls::{DeviceProvider, PinnedVerifier, Rng09, ServerName, UnixClock};

struct Ca {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

#[derive(Clone)]
struct Identity {
    cert: Vec<u8>,
    key: Vec<u8>, // PKCS#8
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(3650);
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::OrganizationName, "Wasmbed");
    p.distinguished_name.push(DnType::OrganizationalUnitName, name);
    p.distinguished_name.push(DnType::CommonName, "Wasmbed Platform CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let der = p.self_signed(&key).unwrap().der().to_vec();
    Ca { der, issuer: Issuer::new(p, key) }
}

/// Validity: not before, not after.
type Window = (OffsetDateTime, OffsetDateTime);

fn leaf(ca: &Ca, cn: &str, san: SanType, eku: ExtendedKeyUsagePurpose, (nb, na): Window) -> Identity {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::default();
    p.not_before = nb;
    p.not_after = na;
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.subject_alt_names = vec![san];
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![eku];
    p.use_authority_key_identifier_extension = true;
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    Identity { cert: cert.der().to_vec(), key: key.serialize_der() }
}

fn now_window() -> Window {
    let now = OffsetDateTime::now_utc();
    (now - time::Duration::hours(1), now + time::Duration::days(30))
}

/// The address the devices dial the gateway at here.
fn localhost_san() -> SanType {
    SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn gateway(ca: &Ca) -> Identity {
    gateway_valid(ca, now_window())
}

fn gateway_valid(ca: &Ca, window: Window) -> Identity {
    leaf(ca, "wasmbed-gateway", localhost_san(), ExtendedKeyUsagePurpose::ServerAuth, window)
}

fn device(ca: &Ca) -> Identity {
    let san = SanType::DnsName("dev-1.devices.wasmbed".try_into().unwrap());
    leaf(ca, "dev-1", san, ExtendedKeyUsagePurpose::ClientAuth, now_window())
}

/// Same shape as wasmbed_pki::tls::server_config.
fn server_config(client_ca_der: &[u8], server: &Identity, max_fragment: Option<usize>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(client_ca_der.to_vec())).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.cert.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key.clone())),
        )
        .unwrap();
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_fragment_size = max_fragment;
    Arc::new(config)
}

/// Accepts one connection; reads "ping" + N, answers "pong" + a reply of `reply_len` bytes.
fn spawn_server(config: Arc<ServerConfig>, reply_len: usize) -> (u16, thread::JoinHandle<Result<Vec<u8>, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).map_err(|e| e.to_string())?;
        let reply: Vec<u8> = (0..reply_len).map(|i| i as u8).collect();
        tls.write_all(b"pong").map_err(|e| e.to_string())?;
        tls.write_all(&reply).map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        tls.conn.send_close_notify();
        let _ = tls.flush();
        Ok(buf.to_vec())
    });
    (port, h)
}

/// How a server's handshake ended, and how many certificates the client presented.
type Seen = (Result<(), String>, usize);

/// Accepts one connection and runs the server's side of the handshake.
fn spawn_recording_server(config: Arc<ServerConfig>) -> (u16, thread::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        let mut ended = Ok(());
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut sock) {
                ended = Err(e.to_string());
                break;
            }
        }
        (ended, conn.peer_certificates().map_or(0, |c| c.len()))
    });
    (port, h)
}

fn sys_clock() -> impl UnixClock {
    || Some(SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs())
}

fn rng() -> Rng09<ChaCha20Rng> {
    // firmware: seeded from the per-boot seed; here from the OS
    let mut seed = [0u8; 32];
    getrandom(&mut seed);
    Rng09(ChaCha20Rng::from_seed(seed))
}

fn getrandom(buf: &mut [u8]) {
    std::fs::File::open("/dev/urandom").unwrap().read_exact(buf).unwrap();
}

struct Outcome {
    client: Result<Vec<u8>, TlsError>,
    server: Result<Vec<u8>, String>,
}

/// The device side, as the firmware would run it (blocking embedded-io socket).
fn run_client<P: CryptoProvider<CipherSuite = Aes128GcmSha256>>(
    port: u16,
    config: &TlsConfig<'_>,
    provider: P,
    check: impl FnOnce(&P) -> Result<(), TlsError>,
    rx_len: usize,
    tx_len: usize,
    want: usize,
) -> Result<Vec<u8>, TlsError> {
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rx = vec![0u8; rx_len];
    let mut tx = vec![0u8; tx_len];
    let mut tls: TlsConnection<'_, FromStd<TcpStream>, Aes128GcmSha256> =
        TlsConnection::new(FromStd::new(sock), &mut rx, &mut tx);
    let mut provider = provider;
    tls.open(TlsContext::new(config, &mut provider)).inspect_err(|e| eprintln!("  open() failed: {e:?}"))?;
    check(&provider)?;
    tls.write(b"ping")?;
    tls.flush().inspect_err(|e| eprintln!("  flush() after open failed: {e:?}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while got.len() < want {
        let n = tls.read(&mut buf).inspect_err(|e| eprintln!("  read() failed: {e:?}"))?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let _ = tls.close();
    Ok(got)
}

fn connect(
    ca_pinned: &Ca,
    server_cfg: Arc<ServerConfig>,
    dev: &Identity,
    name: ServerName<'_>,
    clock: impl UnixClock,
) -> Outcome {
    connect_with(ca_pinned, server_cfg, dev, name, clock, &TlsConfig::new(), 16 * 1024 + 256, 4096, 100)
}

#[allow(clippy::too_many_arguments)]
fn connect_with(
    ca_pinned: &Ca,
    server_cfg: Arc<ServerConfig>,
    dev: &Identity,
    name: ServerName<'_>,
    clock: impl UnixClock,
    config: &TlsConfig<'_>,
    rx_len: usize,
    tx_len: usize,
    reply_len: usize,
) -> Outcome {
    let (port, server) = spawn_server(server_cfg, reply_len);
    let verifier = PinnedVerifier::new(&ca_pinned.der, name, clock).unwrap();
    let provider = DeviceProvider::new(rng(), verifier, &dev.cert, &dev.key).unwrap();
    let client = run_client(port, config, provider, |p| p.ensure_server_authenticated(), rx_len, tx_len, 4 + reply_len);
    let server = server.join().unwrap();
    Outcome { client, server }
}

const LOCALHOST: ServerName<'static> = ServerName::Ipv4([127, 0, 0, 1]);

/// A device of `ca` (pinning it, with a good clock) connecting to a gateway
/// that presents `gateway` and trusts `ca`'s devices.
fn connect_to(ca: &Ca, gateway: &Identity) -> Outcome {
    let cfg = server_config(&ca.der, gateway, None);
    connect(ca, cfg, &device(ca), LOCALHOST, sys_clock())
}

/// The device refused the gateway's certificate.
#[track_caller]
fn assert_certificate_refused(o: &Outcome) {
    assert!(matches!(o.client, Err(TlsError::InvalidCertificate)), "{:?}", o.client.as_ref().err());
}

#[test]
fn mutual_tls_round_trip() {
    let ca = ca("ca-1");
    let o = connect_to(&ca, &gateway(&ca));
    let got = o.client.expect("client");
    assert_eq!(&got[..4], b"pong");
    assert_eq!(got.len(), 104);
    assert_eq!(o.server.expect("server"), b"ping");
}

#[test]
fn server_from_other_ca_is_refused() {
    let (ca1, ca2) = (ca("ca-1"), ca("ca-2"));
    // gateway cert from ca2, but it trusts devices from ca1: only the client check can fail
    let o = connect_to(&ca1, &gateway(&ca2));
    println!("client: {:?} / server: {:?}", o.client.as_ref().err(), o.server.as_ref().err());
    assert_certificate_refused(&o);
    assert!(o.server.is_err());
}

/// TLS 1.3 sends the client certificate after the server's Certificate,
/// CertificateVerify and Finished: a server with another CA's certificate
/// that asks for the device's (and would accept it) gets none, because the
/// handshake ends at the device's check of the server.
#[test]
fn a_refused_server_never_sees_the_device_certificate() {
    let (ca1, ca2) = (ca("ca-1"), ca("ca-2"));
    let dev = device(&ca1);
    let shown = |gateway: &Identity| {
        // It trusts ca-1's devices: a certificate sent would be taken.
        let (port, server) = spawn_recording_server(server_config(&ca1.der, gateway, None));
        let verifier = PinnedVerifier::new(&ca1.der, LOCALHOST, sys_clock()).unwrap();
        let provider = DeviceProvider::new(rng(), verifier, &dev.cert, &dev.key).unwrap();
        let check = |p: &DeviceProvider<'_, _, _>| p.ensure_server_authenticated();
        let client = run_client(port, &TlsConfig::new(), provider, check, 17 * 1024, 4096, 0);
        let (server, certs) = server.join().unwrap();
        (client.err(), server, certs)
    };
    // The platform's own gateway gets it: the server would have recorded it.
    let (client, server, certs) = shown(&gateway(&ca1));
    assert!(client.is_none() && server.is_ok() && certs == 1, "{client:?} {server:?} {certs}");
    let (client, server, certs) = shown(&gateway(&ca2));
    assert!(matches!(client, Some(TlsError::InvalidCertificate)), "{client:?}");
    assert!(server.is_err());
    assert_eq!(certs, 0, "the device showed its certificate to a server it refused");
}

/// embedded-tls 0.19 asks for the client certificate after the server's
/// Finished even when the server sent no Certificate or CertificateVerify
/// (any peer of the key exchange can compute that Finished), and sends it
/// before asking for the signer: until the server proved its key there is
/// no certificate to send, and nothing is signed.
#[test]
fn no_client_certificate_before_the_server_proved_its_key() {
    let ca = ca("ca-1");
    let dev = device(&ca);
    let verifier = PinnedVerifier::new(&ca.der, LOCALHOST, sys_clock()).unwrap();
    let mut provider = DeviceProvider::new(rng(), verifier, &dev.cert, &dev.key).unwrap();
    assert!(provider.client_cert().is_none());
    assert!(provider.signer().is_err());
}

#[test]
fn other_ca_with_same_subject_is_refused() {
    // same DN as the pinned CA, different key: the signature check must catch it
    let (ca1, ca2) = (ca("ca-same"), ca("ca-same"));
    let o = connect_to(&ca1, &gateway(&ca2));
    assert_certificate_refused(&o);
}

#[test]
fn expired_server_cert_is_refused() {
    let ca = ca("ca-1");
    let now = OffsetDateTime::now_utc();
    let gw = gateway_valid(&ca, (now - time::Duration::days(30), now - time::Duration::days(1)));
    let o = connect_to(&ca, &gw);
    assert_certificate_refused(&o);
}

#[test]
fn not_yet_valid_and_no_clock_are_refused() {
    let ca = ca("ca-1");
    let cfg = server_config(&ca.der, &gateway(&ca), None);
    // a device clock stuck in 1970 (not synced): cert not yet valid
    let o = connect(&ca, cfg.clone(), &device(&ca), LOCALHOST, || Some(0));
    assert_certificate_refused(&o);
    // no time at all: fail closed
    let o = connect(&ca, cfg, &device(&ca), LOCALHOST, || None);
    assert_certificate_refused(&o);
}

#[test]
fn wrong_ip_san_is_refused() {
    let ca = ca("ca-1");
    let cfg = server_config(&ca.der, &gateway(&ca), None);
    let o = connect(&ca, cfg, &device(&ca), ServerName::Ipv4([127, 0, 0, 2]), sys_clock());
    assert_certificate_refused(&o);
}

#[test]
fn device_cert_posing_as_gateway_is_refused() {
    // a (stolen) device certificate for a name the client expects, but with clientAuth EKU only
    let ca = ca("ca-1");
    let fake = leaf(&ca, "x", localhost_san(), ExtendedKeyUsagePurpose::ClientAuth, now_window());
    let o = connect_to(&ca, &fake);
    assert_certificate_refused(&o);
}

#[test]
fn dns_name_san() {
    let ca = ca("ca-1");
    let san = SanType::DnsName("gateway.wasmbed.local".try_into().unwrap());
    let gw = leaf(&ca, "gw", san, ExtendedKeyUsagePurpose::ServerAuth, now_window());
    let cfg = server_config(&ca.der, &gw, None);
    // name given to the verifier only (no SNI)
    let o = connect(&ca, cfg.clone(), &device(&ca), ServerName::Dns("Gateway.wasmbed.local"), sys_clock());
    assert!(o.client.is_ok(), "{:?}", o.client.err());
    // and with SNI too
    let config = TlsConfig::new().with_server_name("gateway.wasmbed.local");
    let o = connect_with(
        &ca,
        cfg,
        &device(&ca),
        ServerName::Dns("gateway.wasmbed.local"),
        sys_clock(),
        &config,
        17 * 1024,
        4096,
        10,
    );
    assert!(o.client.is_ok(), "{:?}", o.client.err());
}

/// A provider with the pinned verifier but no client certificate.
struct NoCert<V> {
    rng: Rng09<ChaCha20Rng>,
    verifier: V,
}

impl<V: TlsVerifier<Aes128GcmSha256>> CryptoProvider for NoCert<V> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = p256::ecdsa::DerSignature;
    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut self.rng
    }
    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

#[test]
fn client_without_cert_is_refused_by_server() {
    let ca = ca("ca-1");
    let cfg = server_config(&ca.der, &gateway(&ca), None);
    let (port, server) = spawn_server(cfg, 10);
    let verifier = PinnedVerifier::new(&ca.der, LOCALHOST, sys_clock()).unwrap();
    let client = run_client(port, &TlsConfig::new(), NoCert { rng: rng(), verifier }, |_| Ok(()), 17 * 1024, 4096, 14);
    let server = server.join().unwrap();
    println!("client: {client:?}\nserver: {server:?}");
    assert!(server.is_err());
    assert!(client.is_err());
}

#[test]
fn device_from_other_ca_is_refused_by_server() {
    let (ca1, ca2) = (ca("ca-1"), ca("ca-2"));
    let cfg = server_config(&ca1.der, &gateway(&ca1), None);
    let o = connect(&ca1, cfg, &device(&ca2), LOCALHOST, sys_clock());
    println!("client: {:?}\nserver: {:?}", o.client, o.server);
    assert!(o.server.is_err());
    assert!(o.client.is_err());
}

#[test]
fn max_fragment_length_extension() {
    // Client asks for 2^10 byte fragments (RFC 6066) and brings ~1.3 KiB buffers.
    let ca = ca("ca-1");
    let cfg = server_config(&ca.der, &gateway(&ca), None);
    let config = TlsConfig::new().with_max_fragment_length(MaxFragmentLength::Bits10);
    let o = connect_with(&ca, cfg, &device(&ca), LOCALHOST, sys_clock(), &config, 1024 + 256, 1024 + 256, 4000);
    println!("MFL request only -> client: {:?} / server: {:?}", o.client.as_ref().map(|v| v.len()), o.server);
}

#[test]
fn server_side_max_fragment_size_small_buffers() {
    // rustls' own knob (ServerConfig::max_fragment_size, whole record incl. 5-byte header)
    let ca = ca("ca-1");
    let cfg = server_config(&ca.der, &gateway(&ca), Some(1024 + 5));
    let o = connect_with(&ca, cfg, &device(&ca), LOCALHOST, sys_clock(), &TlsConfig::new(), 1024 + 128, 1024, 8000);
    let got = o.client.expect("client");
    assert_eq!(got.len(), 8004);
    o.server.expect("server");
}

/// Smallest buffers that work when the gateway caps its records (rustls max_fragment_size = 1029).
#[test]
fn smallest_buffers() {
    let ca = ca("ca-1");
    for (rx, tx) in
        [(1029, 1029), (1051, 1029), (1052, 1029), (1060, 1029), (1100, 1029), (1100, 700), (1100, 600), (1100, 512)]
    {
        let cfg = server_config(&ca.der, &gateway(&ca), Some(1029));
        let o = connect_with(&ca, cfg, &device(&ca), LOCALHOST, sys_clock(), &TlsConfig::new(), rx, tx, 3000);
        println!("rx {rx} tx {tx}: client {:?}", o.client.as_ref().map(|v| v.len()));
    }
}

/// Rough stack depth of open()+write+read on x86_64 (release build): paint, run, scan.
#[test]
#[cfg(all(target_arch = "x86_64", not(debug_assertions)))]
fn stack_depth() {
    const PAINT: usize = 128 * 1024;
    let ca = ca("ca-1");
    let cfg = server_config(&ca.der, &gateway(&ca), None);
    let (port, server) = spawn_server(cfg, 100);
    let dev = device(&ca);
    let ca_der = ca.der.clone();
    let h = thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let sp: usize;
            unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp) };
            let low = sp - PAINT - 4096;
            unsafe { core::ptr::write_bytes(low as *mut u8, 0xa5, PAINT) };
            let verifier = PinnedVerifier::new(&ca_der, LOCALHOST, sys_clock()).unwrap();
            let provider = DeviceProvider::new(rng(), verifier, &dev.cert, &dev.key).unwrap();
            let r = std::hint::black_box(run_client(
                port,
                &TlsConfig::new(),
                provider,
                |p| p.ensure_server_authenticated(),
                17 * 1024,
                4096,
                104,
            ));
            let mut deepest = low + PAINT;
            for a in low..low + PAINT {
                if unsafe { core::ptr::read_volatile(a as *const u8) } != 0xa5 {
                    deepest = a;
                    break;
                }
            }
            (r.map(|v| v.len()), sp - deepest)
        })
        .unwrap();
    let (r, depth) = h.join().unwrap();
    server.join().unwrap().unwrap();
    println!(
        "client {r:?}; stack used below the thread's entry (x86_64, incl. std TcpStream + run_client frame, buffers on heap): {depth} bytes"
    );
}
