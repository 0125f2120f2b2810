//! The gateway's end against an in-process board (`wasmbed-boardlink`'s
//! `Server`) over `tokio::io::duplex`, honest and hostile: noise, damaged,
//! truncated and replayed frames, a board with the wrong key, a board that
//! is gone mid-call, one that restarted, one that never answers.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use wasmbed_attach::*;
use wasmbed_boardlink::{BoardKey, Deframer, ErrorCode, MAX_WIRE_LEN, Provisioning, Readback, Response, Server, Step};

const KEY: [u8; 32] = [0x5c; 32];

fn provisioning(key: [u8; 32]) -> Provisioning {
    Provisioning::new(BoardId::new(b"vld-1").unwrap(), BoardKey::new(key))
}

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(14)
}

fn quick() -> LinkConfig {
    LinkConfig::default().with_call_deadline(Duration::from_millis(300)).with_hello_deadline(Duration::from_secs(2))
}

/// What the test board does with the answer it wrote to a request:
/// `good` is that answer's frame, `previous` the last one sent.
type Script = Box<dyn FnMut(u32, &[u8], &[u8]) -> Act + Send>;

/// The board's move.
enum Act {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Hang up (the board unplugged).
    HangUp,
    /// Say nothing.
    Silent,
    /// Forget the session (a restart on the same wire), then answer as a
    /// board without one.
    Restart,
}

/// Requests the board served, by count: the script sees the number.
#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<Vec<u8>>>>);

/// A board: its LED shadow, a UART that takes everything, a timer that
/// fires three events 20 ms apart, and the script for each answer.
async fn board(mut wire: DuplexStream, key: [u8; 32], ignore_hellos: usize, mut script: Script, seen: Seen) {
    let p = provisioning(key);
    let mut server = Server::new(p.key.clone(), p.board);
    let mut deframer = Deframer::new();
    let (mut buf, mut out) = ([0u8; 512], [0u8; MAX_WIRE_LEN]);
    let mut previous = Vec::new();
    let (mut hellos, mut served, mut leds) = (0, 0u32, 0u8);
    loop {
        let Ok(n) = wire.read(&mut buf).await else { return };
        if n == 0 {
            return;
        }
        let mut input = &buf[..n];
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut timer = false;
        while let Some(frame) = deframer.feed(&mut input) {
            let Ok(frame) = frame else { continue };
            let len = match server.receive(&frame, &mut out) {
                Step::Reply(m) => {
                    hellos += 1;
                    if hellos <= ignore_hellos {
                        continue;
                    }
                    m
                }
                Step::Refused { reply, .. } => reply,
                Step::Serve { seq, request } => {
                    served += 1;
                    let answer = match request {
                        wasmbed_boardlink::Request::Uptime => Response::Uptime { ms: u64::from(served) * 10 },
                        wasmbed_boardlink::Request::LedSet { led: led @ 0..2, on } => {
                            leds = if on { leds | 1 << led } else { leds & !(1 << led) };
                            Response::Done
                        }
                        wasmbed_boardlink::Request::LedGet { led: led @ 0..2 } => {
                            Response::Led { led, on: leds & 1 << led != 0, readback: Readback::Shadow }
                        }
                        wasmbed_boardlink::Request::UartWrite { port: 1, bytes } => {
                            seen.0.lock().unwrap().push(bytes.to_vec());
                            Response::Written { count: bytes.len() as u8 }
                        }
                        wasmbed_boardlink::Request::TimerStart { .. } => {
                            timer = true;
                            Response::Done
                        }
                        _ => Response::Error(ErrorCode::NoSuchPeripheral),
                    };
                    let m = server.respond(seq, &answer, &mut out).unwrap();
                    match script(served, &out[..m], &previous) {
                        Act::Send(bytes) => {
                            previous = out[..m].to_vec();
                            replies.push(bytes);
                            continue;
                        }
                        Act::HangUp => return,
                        Act::Silent => continue,
                        Act::Restart => {
                            server = Server::new(p.key.clone(), p.board);
                            let Step::Refused { reply, .. } = server.receive(&frame, &mut out) else { panic!() };
                            reply
                        }
                    }
                }
            };
            if len > 0 {
                previous = out[..len].to_vec();
                replies.push(out[..len].to_vec());
            }
        }
        for r in replies {
            if wire.write_all(&r).await.is_err() {
                return;
            }
        }
        if timer {
            for count in 1..=3 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let m = server.event(&Event::TimerFired { timer: 0, count }, &mut out).unwrap();
                if wire.write_all(&out[..m]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn honest() -> Script {
    Box::new(|_, good, _| Act::Send(good.to_vec()))
}

/// A board with `script` on the other end of a fresh duplex; returns the
/// gateway's end.
fn spawn_board(key: [u8; 32], ignore_hellos: usize, script: Script, seen: Seen) -> DuplexStream {
    let (gateway, board_end) = tokio::io::duplex(4096);
    tokio::spawn(board(board_end, key, ignore_hellos, script, seen));
    gateway
}

async fn attached(script: Script) -> (BoardLink, Events, Seen) {
    let seen = Seen::default();
    let wire = spawn_board(KEY, 0, script, seen.clone());
    let (link, events) = attach(wire, &provisioning(KEY), &mut rng(), quick()).await.unwrap();
    (link, events, seen)
}

#[tokio::test]
async fn an_honest_board_is_attached_and_serves_calls_and_events() {
    let (link, mut events, seen) = attached(honest()).await;
    assert_eq!(link.board(), BoardId::new(b"vld-1").unwrap());
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }));
    assert_eq!(link.call(Request::LedSet { led: 1, on: true }).await, Ok(OwnedResponse::Done));
    assert_eq!(
        link.call(Request::LedGet { led: 1 }).await,
        Ok(OwnedResponse::Led { led: 1, on: true, readback: Readback::Shadow })
    );
    assert_eq!(
        link.call(Request::UartWrite { port: 1, bytes: b"echo" }).await,
        Ok(OwnedResponse::Written { count: 4 })
    );
    assert_eq!(seen.0.lock().unwrap().as_slice(), [b"echo".to_vec()]);
    assert_eq!(
        link.call(Request::UartWrite { port: 7, bytes: b"x" }).await,
        Err(LinkError::Refused(ErrorCode::NoSuchPeripheral))
    );
    assert_eq!(
        link.call(Request::TimerStart { timer: 0, period_ms: 20, periodic: true }).await,
        Ok(OwnedResponse::Done)
    );
    for count in 1..=3 {
        let event = tokio::time::timeout(Duration::from_secs(2), events.recv()).await.unwrap();
        assert_eq!(event, Some(Event::TimerFired { timer: 0, count }));
    }
    assert_eq!(link.call(Request::Hello { challenge: [0; 16] }).await, Err(LinkError::Hello));
    assert_eq!(link.stats(), LinkStats::default());
}

#[tokio::test]
async fn calls_from_many_clones_are_serialized_and_each_gets_its_own_answer() {
    let (link, _events, _) = attached(honest()).await;
    let calls = (0..20u8).map(|i| {
        let link = link.clone();
        tokio::spawn(async move { (i, link.call(Request::LedGet { led: i % 3 }).await) })
    });
    for call in calls {
        let (i, answer) = call.await.unwrap();
        match i % 3 {
            2 => assert_eq!(answer, Err(LinkError::Refused(ErrorCode::NoSuchPeripheral))),
            led => assert_eq!(answer, Ok(OwnedResponse::Led { led, on: false, readback: Readback::Shadow })),
        }
    }
}

#[tokio::test]
async fn a_board_with_another_key_is_refused_as_bad_proof() {
    let wire = spawn_board([1; 32], 0, honest(), Seen::default());
    let e = attach(wire, &provisioning(KEY), &mut rng(), quick()).await.unwrap_err();
    assert!(matches!(e, AttachError::BadProof), "{e:?}");
    assert!(e.to_string().contains("does not hold the provisioned key"), "{e}");
}

#[tokio::test]
async fn a_board_that_names_itself_is_attached_with_the_key_provisioned_for_that_name() {
    // One listener for every board: the key is looked up by the claimed id.
    let asked = Arc::new(Mutex::new(Vec::new()));
    let keys = |asked: Arc<Mutex<Vec<BoardId>>>, key: [u8; 32]| {
        move |id: &BoardId| {
            asked.lock().unwrap().push(*id);
            (id.as_bytes() == b"vld-1").then(|| BoardKey::new(key))
        }
    };
    let wire = spawn_board(KEY, 1, honest(), Seen::default());
    let (link, _events) = attach_claimed(wire, keys(asked.clone(), KEY), &mut rng(), quick()).await.unwrap();
    assert_eq!(link.board(), BoardId::new(b"vld-1").unwrap());
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }));
    assert_eq!(asked.lock().unwrap().as_slice(), [BoardId::new(b"vld-1").unwrap()]);

    // Another key than the one provisioned for the claimed name: refused.
    let wire = spawn_board([1; 32], 0, honest(), Seen::default());
    let e = attach_claimed(wire, keys(asked.clone(), KEY), &mut rng(), quick()).await.unwrap_err();
    assert!(matches!(e, AttachError::BadProof), "{e:?}");

    // A name nothing is provisioned for: refused, naming it.
    let wire = spawn_board(KEY, 0, honest(), Seen::default());
    let e = attach_claimed(wire, |_: &BoardId| None, &mut rng(), quick()).await.unwrap_err();
    assert!(matches!(e, AttachError::UnknownBoard(id) if id.as_bytes() == b"vld-1"), "{e:?}");
    assert!(e.to_string().contains("vld-1"), "{e}");
}

#[tokio::test]
async fn a_booting_board_that_missed_the_first_hellos_is_attached_by_a_later_one() {
    let wire = spawn_board(KEY, 3, honest(), Seen::default());
    let (link, _) = attach(wire, &provisioning(KEY), &mut rng(), quick()).await.unwrap();
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }));
}

#[tokio::test]
async fn a_board_that_never_answers_times_out_the_attach() {
    let (gateway, _board_end) = tokio::io::duplex(4096);
    let config = quick().with_hello_deadline(Duration::from_millis(200));
    let e = attach(gateway, &provisioning(KEY), &mut rng(), config).await.unwrap_err();
    assert!(matches!(e, AttachError::Timeout(_)), "{e:?}");
    let (gateway, board_end) = tokio::io::duplex(4096);
    drop(board_end);
    let e = attach(gateway, &provisioning(KEY), &mut rng(), config).await.unwrap_err();
    assert!(matches!(e, AttachError::Disconnected | AttachError::Io(_)), "{e:?}");
}

#[tokio::test]
async fn noise_corrupted_and_truncated_frames_are_skipped_and_counted() {
    let (link, _events, _) = attached(Box::new(|n, good, _| {
        let mut bytes = match n % 3 {
            // Noise, then the answer.
            0 => vec![0x13, 0x37, 0x00, 0xFF, 0x42],
            // A corrupted copy first (one bit of the stuffed body).
            1 => {
                let mut bad = good.to_vec();
                bad[3] ^= 0x04;
                bad
            }
            // A truncated copy, cut before its end delimiter, then a
            // delimiter of its own.
            _ => {
                let mut cut = good[..good.len() / 2].to_vec();
                cut.push(0);
                cut
            }
        };
        bytes.extend_from_slice(good);
        Act::Send(bytes)
    }))
    .await;
    for i in 1..=6u64 {
        assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: i * 10 }), "call {i}");
    }
    let stats = link.stats();
    assert!(stats.bad_frames >= 4, "{stats:?}");
    assert_eq!((stats.stale, stats.timeouts), (0, 0), "{stats:?}");
}

#[tokio::test]
async fn a_replayed_answer_is_skipped_as_stale_and_never_answers_a_later_call() {
    let (link, _events, _) = attached(Box::new(|n, good, previous| {
        // From the second call on: the previous answer again, then this one.
        let mut bytes = if n > 1 { previous.to_vec() } else { Vec::new() };
        bytes.extend_from_slice(good);
        Act::Send(bytes)
    }))
    .await;
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }));
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 20 }));
    assert_eq!(link.call(Request::LedGet { led: 0 }).await.map(|_| ()), Ok(()));
    assert_eq!(link.stats().stale, 2);
}

#[tokio::test]
async fn an_unanswered_call_times_out_and_its_late_answer_is_skipped() {
    let late = Arc::new(Mutex::new(None::<Vec<u8>>));
    let keep = late.clone();
    let (link, _events, _) = attached(Box::new(move |n, good, _| {
        if n == 1 {
            *keep.lock().unwrap() = Some(good.to_vec());
            return Act::Silent;
        }
        // The late answer to call 1 first.
        let mut bytes = keep.lock().unwrap().take().unwrap_or_default();
        bytes.extend_from_slice(good);
        Act::Send(bytes)
    }))
    .await;
    let t = tokio::time::Instant::now();
    assert_eq!(link.call(Request::Uptime).await, Err(LinkError::Timeout(Duration::from_millis(300))));
    assert!(t.elapsed() < Duration::from_secs(1));
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 20 }));
    let stats = link.stats();
    assert_eq!((stats.timeouts, stats.stale), (1, 1), "{stats:?}");
}

#[tokio::test]
async fn a_board_gone_mid_call_fails_the_call_at_once_and_every_later_one() {
    let (link, mut events, _) =
        attached(Box::new(|n, good, _| if n == 2 { Act::HangUp } else { Act::Send(good.to_vec()) })).await;
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }));
    let t = tokio::time::Instant::now();
    let slow = link.call_within(Request::Uptime, Duration::from_secs(30)).await;
    assert_eq!(slow, Err(LinkError::Disconnected));
    assert!(t.elapsed() < Duration::from_secs(1), "promptly, not at the deadline: {:?}", t.elapsed());
    assert_eq!(link.call(Request::Uptime).await, Err(LinkError::Disconnected));
    assert!(link.is_closed());
    tokio::time::timeout(Duration::from_secs(1), link.closed()).await.expect("closed() resolves once it ended");
    assert_eq!(events.recv().await, None, "the events end with the link");
}

#[tokio::test]
async fn a_board_back_on_a_new_stream_is_attached_again() {
    let (link, _events, _) =
        attached(Box::new(|n, good, _| if n == 1 { Act::HangUp } else { Act::Send(good.to_vec()) })).await;
    assert_eq!(link.call(Request::Uptime).await, Err(LinkError::Disconnected));
    let (again, _events, _) = attached(honest()).await;
    assert_eq!(again.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }));
}

#[tokio::test]
async fn a_board_that_restarted_on_the_same_stream_loses_the_session() {
    let (link, _events, _) =
        attached(Box::new(|n, good, _| if n == 2 { Act::Restart } else { Act::Send(good.to_vec()) })).await;
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }));
    assert_eq!(link.call(Request::Uptime).await, Err(LinkError::SessionLost));
    assert_eq!(link.call(Request::Uptime).await, Err(LinkError::Disconnected));
}

#[tokio::test]
async fn data_over_the_frame_limit_is_refused_before_it_is_sent() {
    let (link, _events, seen) = attached(honest()).await;
    let big = [0u8; 241];
    let e = link.call(Request::UartWrite { port: 1, bytes: &big }).await.unwrap_err();
    assert!(matches!(e, LinkError::Encode(_)), "{e:?}");
    assert!(seen.0.lock().unwrap().is_empty());
    assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: 10 }), "the link goes on");
}

/// Bytes that are not frames at all, in every shape, from a board that
/// proved its key: the link never panics and the next good answer gets
/// through.
#[tokio::test]
async fn garbage_from_an_authenticated_board_never_breaks_the_link() {
    let mut seed = 0x9e37_79b9u32;
    let (link, _events, _) = attached(Box::new(move |_, good, _| {
        let mut bytes: Vec<u8> = (0..300)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        bytes.extend_from_slice(good);
        Act::Send(bytes)
    }))
    .await;
    for i in 1..=20u64 {
        assert_eq!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { ms: i * 10 }), "call {i}");
    }
    let stats = link.stats();
    assert!(stats.bad_frames > 0, "{stats:?}");
}
