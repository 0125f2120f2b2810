//! Properties of the wire format: every message survives encode → frame
//! reader (fed in arbitrary splits) → decode; untrusted bytes never make a
//! decoder panic; the frame reader never holds a body above its limit.

use minicbor::bytes::{ByteArray, ByteVec};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use wasmbed_protocol::*;

// ---------------------------------------------------------------- strategies

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including multi-byte and control characters.
    any::<String>().prop_map(|s| s.chars().take(24).collect())
}

/// Any Unicode, cut to at most `max` bytes on a character boundary.
fn text_within(max: usize) -> impl Strategy<Value = String> {
    any::<String>().prop_map(move |s| {
        let mut out = String::new();
        for c in s.chars() {
            if out.len() + c.len_utf8() > max {
                break;
            }
            out.push(c);
        }
        out
    })
}

fn command() -> impl Strategy<Value = Command> {
    (any::<u32>(), text_within(MAX_COMMAND_NAME_LEN), vec(text_within(MAX_COMMAND_ARG_LEN), 0..=MAX_COMMAND_ARGS))
        .prop_map(|(id, name, args)| Command { id, name, args })
}

fn command_result() -> impl Strategy<Value = CommandResult> {
    let outcome = select(vec![CommandOutcome::Ok, CommandOutcome::Refused, CommandOutcome::Failed]);
    (any::<u32>(), outcome, text_within(MAX_COMMAND_OUTPUT)).prop_map(|(id, outcome, output)| CommandResult {
        id,
        outcome,
        output,
    })
}

fn sha() -> impl Strategy<Value = ByteArray<32>> {
    any::<[u8; 32]>().prop_map(ByteArray::from)
}

fn bytes(max: usize) -> impl Strategy<Value = ByteVec> {
    vec(any::<u8>(), 0..max).prop_map(ByteVec::from)
}

const ERROR_CODES: [ErrorCode; 17] = [
    ErrorCode::Malformed,
    ErrorCode::UnsupportedVersion,
    ErrorCode::FrameTooLarge,
    ErrorCode::UnexpectedMessage,
    ErrorCode::HashMismatch,
    ErrorCode::InvalidModule,
    ErrorCode::InstantiateFailed,
    ErrorCode::NoResources,
    ErrorCode::Trap,
    ErrorCode::OutOfFuel,
    ErrorCode::MemoryLimit,
    ErrorCode::IdentityMismatch,
    ErrorCode::BadChunk,
    ErrorCode::UnknownApp,
    ErrorCode::Replaced,
    ErrorCode::MissingPeripheral,
    ErrorCode::Revoked,
];

fn error_code() -> impl Strategy<Value = ErrorCode> {
    select(ERROR_CODES.to_vec())
}

fn app_state() -> impl Strategy<Value = AppState> {
    select(vec![AppState::Installing, AppState::Running, AppState::Stopped, AppState::Failed])
}

fn app_report() -> impl Strategy<Value = AppReport> {
    (text(), text(), sha(), app_state(), proptest::option::of(any::<u64>()), proptest::option::of(counters())).prop_map(
        |(app, version, sha256, state, revision, counters)| AppReport {
            app,
            version,
            sha256,
            state,
            revision,
            counters,
        },
    )
}

fn counters() -> impl Strategy<Value = AppCounters> {
    (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(denied, hw_errors, dropped_samples, samples, messages)| AppCounters {
            denied,
            hw_errors,
            dropped_samples,
            samples,
            messages,
        },
    )
}

fn resource() -> impl Strategy<Value = Resource> {
    prop_oneof![
        any::<u8>().prop_map(|i| Resource::Gpio(Pin::Led(i))),
        any::<u8>().prop_map(|i| Resource::Gpio(Pin::Button(i))),
        (any::<u8>(), any::<u8>()).prop_map(|(bus, addr)| Resource::I2c { bus, addr }),
        any::<u8>().prop_map(Resource::Spi),
        any::<u8>().prop_map(Resource::Adc),
        any::<u8>().prop_map(Resource::Uart),
    ]
}

fn config() -> impl Strategy<Value = Vec<ConfigEntry>> {
    vec((text(), text()).prop_map(|(key, value)| ConfigEntry { key, value }), 0..4)
}

fn telemetry() -> impl Strategy<Value = TelemetryBatch> {
    // Finite values: NaN is not equal to itself, so it cannot round-trip by ==.
    let sample = (text(), any::<u64>(), -1e300f64..1e300).prop_map(|(metric, uptime_ms, value)| Sample {
        metric,
        uptime_ms,
        value,
    });
    (
        text(),
        proptest::option::of(any::<u64>()),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        vec(sample, 0..4),
        any::<u32>(),
    )
        .prop_map(|(app, revision, uptime_ms, unix_ms, samples, dropped)| TelemetryBatch {
            app,
            revision,
            uptime_ms,
            unix_ms,
            samples,
            dropped,
        })
}

fn delivery() -> impl Strategy<Value = Delivery> {
    select(vec![Delivery::Delivered, Delivery::NotRunning, Delivery::NoHandler, Delivery::Failed, Delivery::TooLarge])
}

fn fail_reason() -> impl Strategy<Value = FailReason> {
    (error_code(), text()).prop_map(|(code, detail)| FailReason { code, detail })
}

fn error_report() -> impl Strategy<Value = ErrorReport> {
    (error_code(), text()).prop_map(|(code, detail)| ErrorReport { code, detail })
}

fn app_limits() -> impl Strategy<Value = AppLimits> {
    (any::<u64>(), any::<u32>(), any::<u32>()).prop_map(|(fuel_per_call, max_memory_pages, tick_ms)| AppLimits {
        fuel_per_call,
        max_memory_pages,
        tick_ms,
    })
}

fn grants() -> impl Strategy<Value = Vec<Capability>> {
    vec(select(Capability::ALL.to_vec()), 0..4)
}

fn app_ref() -> impl Strategy<Value = AppRef> {
    text().prop_map(|app| AppRef { app })
}

fn device_msg() -> impl Strategy<Value = DeviceMsg> {
    prop_oneof![
        (text(), text(), text(), any::<bool>(), vec(app_report(), 0..4)).prop_map(
            |(device_id, board, firmware_version, simulated, apps)| {
                DeviceMsg::Enroll(Enroll { device_id, board, firmware_version, simulated, apps })
            }
        ),
        (any::<u64>(), any::<u32>(), vec(app_report(), 0..4)).prop_map(|(uptime_ms, free_memory, apps)| {
            DeviceMsg::Heartbeat(Heartbeat { uptime_ms, free_memory, apps })
        }),
        (app_report(), proptest::option::of(fail_reason()))
            .prop_map(|(report, reason)| DeviceMsg::AppStatus(AppStatus { report, reason })),
        (text(), any::<u64>(), text()).prop_map(|(app, uptime_ms, line)| DeviceMsg::AppLog(AppLog {
            app,
            uptime_ms,
            line
        })),
        (text(), text(), fail_reason())
            .prop_map(|(app, version, reason)| { DeviceMsg::DeployRejected(DeployRejected { app, version, reason }) }),
        error_report().prop_map(DeviceMsg::Error),
        command_result().prop_map(DeviceMsg::CommandResult),
        telemetry().prop_map(DeviceMsg::Telemetry),
        (any::<u32>(), delivery()).prop_map(|(id, delivery)| DeviceMsg::MessageResult(MessageResult { id, delivery })),
    ]
}

fn gateway_msg() -> impl Strategy<Value = GatewayMsg> {
    prop_oneof![
        (any::<u32>(), any::<u64>(), proptest::option::of(any::<u64>())).prop_map(
            |(heartbeat_ms, unix_time_s, unix_time_ms)| GatewayMsg::Welcome(Welcome {
                heartbeat_ms,
                unix_time_s,
                unix_time_ms
            })
        ),
        (
            (text(), text(), any::<u32>(), sha(), app_limits()),
            (proptest::option::of(any::<u64>()), proptest::option::of(any::<bool>()), proptest::option::of(grants())),
            (
                proptest::option::of(vec(resource(), 0..4)),
                proptest::option::of(config()),
                proptest::option::of(signed())
            )
        )
            .prop_map(
                |((app, version, size, sha256, limits), (revision, start, grants), (resources, config, manifest))| {
                    GatewayMsg::DeployBegin(DeployBegin {
                        app,
                        version,
                        size,
                        sha256,
                        limits,
                        revision,
                        start,
                        grants,
                        resources,
                        config,
                        manifest,
                        native: None,
                    })
                }
            ),
        (text(), any::<u32>(), bytes(600)).prop_map(|(app, offset, data)| GatewayMsg::DeployChunk(DeployChunk {
            app,
            offset,
            data
        })),
        app_ref().prop_map(GatewayMsg::Start),
        app_ref().prop_map(GatewayMsg::Stop),
        app_ref().prop_map(GatewayMsg::Remove),
        error_report().prop_map(GatewayMsg::Error),
        command().prop_map(GatewayMsg::Command),
        (any::<u32>(), text(), bytes(300)).prop_map(|(id, app, payload)| GatewayMsg::AppMessage(AppMessage {
            id,
            app,
            payload
        })),
        signed().prop_map(GatewayMsg::TrustKey),
    ]
}

/// A signed envelope (any body: the signature is the device's to check).
fn signed() -> impl Strategy<Value = Signed> {
    (bytes(400), any::<[u8; 8]>(), vec(any::<u8>(), 64)).prop_map(|(body, key_id, sig)| Signed {
        body,
        key_id: key_id.into(),
        signature: <[u8; 64]>::try_from(sig).unwrap_or([0; 64]).into(),
    })
}

fn identity_bundle() -> impl Strategy<Value = IdentityBundle> {
    (text(), text(), bytes(300), bytes(300), bytes(200), sha(), text(), proptest::option::of(vec(text(), 0..3)))
        .prop_map(|(device_id, gateway, ca_der, cert_der, key_der, seed, board, alternates)| IdentityBundle {
            device_id,
            gateway,
            ca_der,
            cert_der,
            key_der,
            seed,
            board,
            alternates,
            app_key: None,
            app_key_generation: None,
        })
}

/// Sizes of the pieces a stream arrives in (cycled until the stream ends).
fn splits() -> impl Strategy<Value = Vec<usize>> {
    vec(1usize..48, 1..16)
}

// ------------------------------------------------------------------- helpers

fn frames_of<M: minicbor::Encode<()>>(msgs: &[M]) -> Vec<u8> {
    let mut wire = Vec::new();
    for m in msgs {
        encode_frame(m, &mut wire).expect("generated messages fit a frame");
    }
    wire
}

/// `stream` cut into pieces of the `splits` sizes, cycled until it ends.
fn pieces<'a>(mut rest: &'a [u8], splits: &'a [usize]) -> impl Iterator<Item = &'a [u8]> {
    splits.iter().cycle().map_while(move |&n| {
        if rest.is_empty() {
            return None;
        }
        let (piece, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        Some(piece)
    })
}

/// Pushes `wire` in pieces of the given sizes, taking frames as they complete.
fn reassemble(wire: &[u8], splits: &[usize]) -> Vec<Vec<u8>> {
    let mut reader = FrameReader::new(MAX_FRAME_LEN);
    let mut frames = Vec::new();
    for piece in pieces(wire, splits) {
        reader.push(piece).expect("valid header");
        while let Some(frame) = reader.next_frame().expect("valid frame") {
            frames.push(frame);
        }
    }
    assert_eq!(reader.buffered(), 0, "nothing left over");
    frames
}

fn payload_of<M: minicbor::Encode<()>>(msg: &M) -> Vec<u8> {
    let wire = frames_of(std::slice::from_ref(msg));
    wire[FRAME_HEADER_LEN..].to_vec()
}

/// Decoder of one direction's messages.
type Decode<M> = fn(&[u8]) -> Result<M, FrameError>;

/// `msgs` framed, pushed in pieces of the `splits` sizes, and decoded.
fn through_reader<M: minicbor::Encode<()>>(msgs: &[M], splits: &[usize], decode: Decode<M>) -> Vec<M> {
    reassemble(&frames_of(msgs), splits).iter().map(|f| decode(f).expect("decodes")).collect()
}

/// Every proper prefix of `msg`'s payload decodes as malformed.
fn prefixes_are_malformed<M>(msg: &M, decode: Decode<M>) -> Result<(), TestCaseError>
where
    M: minicbor::Encode<()> + PartialEq + std::fmt::Debug,
{
    let payload = payload_of(msg);
    for cut in 0..payload.len() {
        prop_assert_eq!(decode(&payload[..cut]), Err(FrameError::Malformed), "cut {}", cut);
    }
    Ok(())
}

fn decode_all(bytes: &[u8]) {
    let _ = decode_device_msg(bytes);
    let _ = decode_gateway_msg(bytes);
    let _ = IdentityBundle::from_bytes(bytes);
}

fn bundle_header(body_len: usize) -> Vec<u8> {
    let mut h = BUNDLE_MAGIC.to_vec();
    h.extend_from_slice(&[BUNDLE_VERSION, 0, 0, 0]);
    h.extend_from_slice(&(body_len as u32).to_le_bytes());
    h
}

// ---------------------------------------------------------------- properties

proptest! {
    #[test]
    fn device_messages_round_trip_through_the_reader(msgs in vec(device_msg(), 1..4), splits in splits()) {
        prop_assert_eq!(through_reader(&msgs, &splits, decode_device_msg), msgs);
    }

    #[test]
    fn gateway_messages_round_trip_through_the_reader(msgs in vec(gateway_msg(), 1..4), splits in splits()) {
        prop_assert_eq!(through_reader(&msgs, &splits, decode_gateway_msg), msgs);
    }

    #[test]
    fn identity_bundles_round_trip(bundle in identity_bundle(), trailing in vec(any::<u8>(), 0..32)) {
        let mut bytes = bundle.to_bytes();
        bytes.extend_from_slice(&trailing);
        prop_assert_eq!(IdentityBundle::from_bytes(&bytes).expect("decodes"), bundle);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn arbitrary_bundle_bodies_never_panic(body in vec(any::<u8>(), 0..512), claimed in any::<bool>()) {
        // Behind a valid header, so the CBOR decoder is reached.
        let len = if claimed { body.len() } else { body.len() / 2 };
        let mut bytes = bundle_header(len);
        bytes.extend_from_slice(&body);
        let _ = IdentityBundle::from_bytes(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        msg in gateway_msg(),
        other in device_msg(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        for mut payload in [payload_of(&msg), payload_of(&other)] {
            for (at, byte) in &edits {
                let i = at.index(payload.len());
                payload[i] = *byte;
            }
            decode_all(&payload);
        }
    }

    #[test]
    fn truncated_payloads_are_malformed(dev in device_msg(), gw in gateway_msg()) {
        prefixes_are_malformed(&dev, decode_device_msg)?;
        prefixes_are_malformed(&gw, decode_gateway_msg)?;
    }

    #[test]
    fn truncated_bundles_are_refused(bundle in identity_bundle()) {
        let bytes = bundle.to_bytes();
        for cut in 0..bytes.len() {
            prop_assert_eq!(IdentityBundle::from_bytes(&bytes[..cut]), Err(BundleError::Truncated), "cut {}", cut);
        }
    }

    #[test]
    fn reader_never_buffers_a_body_above_its_limit(
        (max, stream) in (0usize..300).prop_flat_map(|max| (Just(max), reader_stream(max))),
        splits in splits(),
    ) {
        check_reader_bound(max, &stream, &splits)?;
    }

    #[test]
    fn reader_survives_arbitrary_bytes(max in 0usize..70_000, stream in vec(any::<u8>(), 0..512), splits in splits()) {
        check_reader_bound(max, &stream, &splits)?;
    }
}

/// A stream of frames announcing lengths around `max`, mostly with the right
/// version, the last one possibly cut short.
fn reader_stream(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let len = 0..=(max as u32 + 8);
    let version = select(vec![PROTOCOL_VERSION, PROTOCOL_VERSION, PROTOCOL_VERSION, 0, 2, 0xff]);
    let cut = proptest::option::of(any::<prop::sample::Index>());
    (vec((len, version, any::<u8>()), 0..6), cut).prop_map(|(frames, cut)| {
        let mut s = Vec::new();
        for (len, version, fill) in frames {
            s.extend_from_slice(&len.to_be_bytes());
            if len > 0 {
                s.push(version);
                s.extend(std::iter::repeat_n(fill, len as usize - 1));
            }
        }
        if let Some(cut) = cut {
            s.truncate(cut.index(s.len() + 1));
        }
        s
    })
}

/// Feeds `stream` in pieces: every push is accepted or refused with
/// `TooLarge`/`Empty`; every frame handed out fits `max`; what stays buffered
/// is at most one incomplete frame that fits `max`.
fn check_reader_bound(max: usize, stream: &[u8], splits: &[usize]) -> Result<(), TestCaseError> {
    let mut reader = FrameReader::new(max);
    for piece in pieces(stream, splits) {
        match reader.push(piece) {
            Ok(()) => {}
            Err(FrameError::TooLarge { len, max: m }) => {
                prop_assert!(len as usize > max);
                prop_assert_eq!(m as usize, max);
                return Ok(()); // the session ends here
            }
            Err(FrameError::Empty) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("push: unexpected {e:?}"))),
        }
        loop {
            match reader.next_frame() {
                Ok(Some(payload)) => {
                    prop_assert!(payload.len() < max, "{} >= {max}", payload.len())
                }
                Ok(None) => break,
                Err(FrameError::TooLarge { len, .. }) => {
                    prop_assert!(len as usize > max);
                    return Ok(());
                }
                Err(FrameError::Empty | FrameError::UnsupportedVersion(_)) => return Ok(()),
                Err(e) => return Err(TestCaseError::fail(format!("next_frame: unexpected {e:?}"))),
            }
        }
        // At most one incomplete frame, whose announced length fits `max`.
        prop_assert!(reader.buffered() < 4 + max, "buffered {} with max {max}", reader.buffered());
    }
    Ok(())
}

// --------------------------------------------------------------- regressions

/// Replaces the CBOR head at `at` (one byte: a short array/bytes/text head)
/// by a head of the same major type claiming 2^64 - 1 items.
fn claim_huge(payload: &[u8], at: usize) -> Vec<u8> {
    let major = payload[at] & 0xe0;
    let mut out = payload[..at].to_vec();
    out.push(major | 27);
    out.extend_from_slice(&[0xff; 8]);
    out.extend_from_slice(&payload[at + 1..]);
    out
}

fn find_unique(haystack: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> =
        haystack.windows(needle.len()).enumerate().filter(|(_, w)| *w == needle).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 1, "pattern {needle:02x?} must occur once in {haystack:02x?}");
    hits[0]
}

#[test]
fn huge_array_length_claim_is_malformed_without_allocating() {
    let report = AppReport {
        app: "a".into(),
        version: "1".into(),
        sha256: [0u8; 32].into(),
        state: AppState::Running,
        revision: None,
        counters: None,
    };
    let hb = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 5, free_memory: 7, apps: vec![report] });
    let payload = payload_of(&hb);
    // Field 2 (`apps`), an array of one item, that item a map of 4 fields.
    let at = find_unique(&payload, &[0x02, 0x81, 0xa4]) + 1;
    let patched = claim_huge(&payload, at);
    assert_eq!(patched[at..at + 9], [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(decode_device_msg(&patched), Err(FrameError::Malformed));
}

#[test]
fn huge_text_and_byte_length_claims_are_malformed() {
    let chunk = GatewayMsg::DeployChunk(DeployChunk { app: "abc".into(), offset: 9, data: vec![1, 2, 3].into() });
    let payload = payload_of(&chunk);
    let text_at = find_unique(&payload, b"\x63abc");
    assert_eq!(decode_gateway_msg(&claim_huge(&payload, text_at)), Err(FrameError::Malformed));
    let bytes_at = find_unique(&payload, &[0x43, 1, 2, 3]);
    assert_eq!(decode_gateway_msg(&claim_huge(&payload, bytes_at)), Err(FrameError::Malformed));
}

#[test]
fn a_full_deploy_chunk_fits_a_frame() {
    let chunk = GatewayMsg::DeployChunk(DeployChunk {
        app: "a".repeat(MAX_APP_NAME_LEN),
        offset: u32::MAX,
        data: vec![0xff; DEPLOY_CHUNK_LEN].into(),
    });
    let mut wire = Vec::new();
    encode_frame(&chunk, &mut wire).expect("a full chunk fits MAX_FRAME_LEN");
    assert!(wire.len() <= FRAME_HEADER_LEN - 1 + MAX_FRAME_LEN);
}

// ------------------------------------------------------------ terminal bounds

/// The terminal messages without their bounds, encoded as the real ones
/// are (same variant and field numbers), to build what a peer must refuse.
mod unbounded {
    use minicbor::Encode;

    #[derive(Encode)]
    #[cbor(map)]
    pub struct Command {
        #[n(0)]
        pub id: u32,
        #[n(1)]
        pub name: String,
        #[n(2)]
        pub args: Vec<String>,
    }

    #[derive(Encode)]
    pub enum GatewayMsg {
        #[n(7)]
        Command(#[n(0)] Command),
    }

    #[derive(Encode)]
    #[cbor(map)]
    pub struct CommandResult {
        #[n(0)]
        pub id: u32,
        #[n(1)]
        pub outcome: u8,
        #[n(2)]
        pub output: String,
    }

    #[derive(Encode)]
    pub enum DeviceMsg {
        #[n(6)]
        CommandResult(#[n(0)] CommandResult),
    }
}

fn raw_command(name: &str, args: &[String]) -> Vec<u8> {
    let msg = unbounded::GatewayMsg::Command(unbounded::Command { id: 1, name: name.into(), args: args.to_vec() });
    minicbor::to_vec(&msg).expect("encodes into a Vec")
}

fn raw_result(output: &str) -> Vec<u8> {
    let msg =
        unbounded::DeviceMsg::CommandResult(unbounded::CommandResult { id: 1, outcome: 0, output: output.into() });
    minicbor::to_vec(&msg).expect("encodes into a Vec")
}

#[test]
fn the_unbounded_mirror_encodes_like_the_real_messages() {
    let args = vec!["hello".to_string()];
    let real = GatewayMsg::Command(Command { id: 1, name: "restart-app".into(), args: args.clone() });
    assert_eq!(raw_command("restart-app", &args), payload_of(&real));
    let real = DeviceMsg::CommandResult(CommandResult { id: 1, outcome: CommandOutcome::Ok, output: "up".into() });
    assert_eq!(raw_result("up"), payload_of(&real));
}

#[test]
fn commands_at_their_bounds_decode() {
    let name = "n".repeat(MAX_COMMAND_NAME_LEN);
    let args = vec!["a".repeat(MAX_COMMAND_ARG_LEN); MAX_COMMAND_ARGS];
    let msg = decode_gateway_msg(&raw_command(&name, &args)).unwrap();
    assert_eq!(msg, GatewayMsg::Command(Command { id: 1, name, args }));
    let output = "o".repeat(MAX_COMMAND_OUTPUT);
    assert!(decode_device_msg(&raw_result(&output)).is_ok());
}

#[test]
fn commands_over_their_bounds_are_malformed() {
    let one = vec!["x".to_string()];
    let cases = [
        ("name", raw_command(&"n".repeat(MAX_COMMAND_NAME_LEN + 1), &one)),
        ("arg count", raw_command("status", &vec!["a".to_string(); MAX_COMMAND_ARGS + 1])),
        ("arg length", raw_command("status", &["ok".to_string(), "a".repeat(MAX_COMMAND_ARG_LEN + 1)])),
    ];
    for (what, payload) in cases {
        assert_eq!(decode_gateway_msg(&payload), Err(FrameError::Malformed), "{what}");
    }
    let long = raw_result(&"o".repeat(MAX_COMMAND_OUTPUT + 1));
    assert_eq!(decode_device_msg(&long), Err(FrameError::Malformed));
    // A multi-byte character past the bound counts in bytes, not characters.
    let wide = raw_result(&"é".repeat(MAX_COMMAND_OUTPUT / 2 + 1));
    assert_eq!(decode_device_msg(&wide), Err(FrameError::Malformed));
}

#[test]
fn huge_or_indefinite_argument_arrays_are_malformed() {
    let payload = raw_command("status", &["x".to_string()]);
    // Field 2 (`args`): an array of one text of one byte.
    let at = find_unique(&payload, &[0x02, 0x81, 0x61, b'x']) + 1;
    assert_eq!(decode_gateway_msg(&claim_huge(&payload, at)), Err(FrameError::Malformed));
    let mut indefinite = payload.clone();
    indefinite.splice(at..at + 1, [0x9f]);
    indefinite.insert(at + 3, 0xff);
    assert_eq!(decode_gateway_msg(&indefinite), Err(FrameError::Malformed));
}

#[test]
fn commands_over_their_bounds_are_not_encoded() {
    let cases = [
        GatewayMsg::Command(Command { id: 1, name: "n".repeat(MAX_COMMAND_NAME_LEN + 1), args: vec![] }),
        GatewayMsg::Command(Command { id: 1, name: "s".into(), args: vec![String::new(); MAX_COMMAND_ARGS + 1] }),
        GatewayMsg::Command(Command { id: 1, name: "s".into(), args: vec!["a".repeat(MAX_COMMAND_ARG_LEN + 1)] }),
    ];
    for msg in cases {
        let mut wire = vec![0xaa];
        assert_eq!(encode_frame(&msg, &mut wire), Err(FrameError::Encode), "{msg:?}");
    }
    let long = DeviceMsg::CommandResult(CommandResult {
        id: 1,
        outcome: CommandOutcome::Ok,
        output: "o".repeat(MAX_COMMAND_OUTPUT + 1),
    });
    assert_eq!(encode_frame(&long, &mut Vec::new()), Err(FrameError::Encode));
}

#[test]
fn check_bounds_names_the_first_bound_exceeded() {
    assert_eq!(Command::check_bounds("status", &[] as &[&str]), Ok(()));
    let long_name = "n".repeat(MAX_COMMAND_NAME_LEN + 1);
    assert_eq!(Command::check_bounds(&long_name, &[] as &[&str]), Err(CommandBoundError::NameTooLong(33)));
    let many = vec!["a"; MAX_COMMAND_ARGS + 1];
    assert_eq!(Command::check_bounds("s", &many), Err(CommandBoundError::TooManyArgs(9)));
    let long_arg = "a".repeat(MAX_COMMAND_ARG_LEN + 1);
    let args = ["ok", long_arg.as_str()];
    assert_eq!(Command::check_bounds("s", &args), Err(CommandBoundError::ArgTooLong { index: 1, len: 65 }));
    assert_eq!(CommandBoundError::ArgTooLong { index: 1, len: 65 }.to_string(), "argument 2 of 65 bytes exceeds 64");
}

proptest! {
    #[test]
    fn fit_output_always_fits_and_keeps_short_texts(text in any::<String>(), repeat in 1usize..400) {
        let long = text.repeat(repeat);
        let fitted = fit_output(long.clone());
        prop_assert!(fitted.len() <= MAX_COMMAND_OUTPUT);
        if long.len() <= MAX_COMMAND_OUTPUT {
            prop_assert_eq!(&fitted, &long);
        } else {
            prop_assert!(fitted.ends_with("[output truncated]"));
        }
        let result = DeviceMsg::CommandResult(CommandResult { id: 0, outcome: CommandOutcome::Ok, output: fitted });
        prop_assert!(encode_frame(&result, &mut Vec::new()).is_ok());
    }
}
