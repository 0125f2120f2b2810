//! Messages to apps: `POST /applications/{name}/messages` delivers one
//! payload to the application on one device or on every device it
//! targets, through the [`Terminal`](crate::Terminal) (the gateway holding
//! each device's session), and answers what became of it on each. An edge
//! application is reached on each gateway it runs on (or, driving attached
//! boards, in each board's slot on the gateway holding it), each result
//! named by that gateway (or board).
//!
//! The payload is checked here first (one of text or base64, at most
//! [`MAX_MESSAGE_LEN`] bytes), so an oversized one is refused naming the
//! field before anything is sent. Devices are asked in parallel, at most
//! [`PARALLEL`] at a time; each waits at most its gateway's command timeout.

#[allow(unused_imports)] // named by the OpenAPI attributes
use crate::error::ErrorBody;
use crate::openapi::AuthErrors;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use wasmbed_model::telemetry::app_of_slot;
use wasmbed_model::{AppState, Application, Device, Runtime};
use wasmbed_protocol::{Delivery, MAX_MESSAGE_LEN};

use super::{ApiResult, json_error};
use crate::audit::{AuditNote, Outcome};
use crate::auth::Operator;
use crate::{ApiError, ApiState, TerminalError};

/// Devices asked at once.
pub const PARALLEL: usize = 64;

/// Body of `POST /api/v1/applications/{name}/messages`: exactly one of
/// `payload` and `payloadBase64`.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageRequest {
    /// One device the application targets (default: every one); for an
    /// edge application, one gateway it runs on (or board it drives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The message as UTF-8 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The message as standard base64, for binary payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
}

/// What became of a message on one device: a `delivery` when the device
/// answered, an `error` when it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageResult {
    /// The device.
    pub device: String,
    /// The device's answer: delivered, or why the app did not take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Why the device was not asked or did not answer (not connected, no
    /// answer in time, too many commands in flight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MessageResult {
    fn of(device: String, r: Result<Delivery, TerminalError>) -> Self {
        match r {
            Ok(delivery) => Self { device, delivery: Some(delivery), error: None },
            Err(e) => {
                let why = match e {
                    TerminalError::NotConnected => "not connected".to_string(),
                    TerminalError::NoAnswer(why) => format!("no answer: {why}"),
                    TerminalError::Busy => "too many commands in flight".to_string(),
                };
                Self { device, delivery: None, error: Some(why) }
            }
        }
    }
}

/// Standard base64 (RFC 4648 `+/`, padding optional); `None` when it is not.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let body = s.strip_suffix("==").or_else(|| s.strip_suffix('=')).unwrap_or(s);
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in body.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone sextet left over is not a byte.
    (bits < 6).then_some(out)
}

/// The payload's bytes, and the field they came from.
fn payload(req: &MessageRequest) -> ApiResult<(Vec<u8>, &'static str)> {
    let (bytes, field) = match (&req.payload, &req.payload_base64) {
        (Some(text), None) => (text.as_bytes().to_vec(), "payload"),
        (None, Some(b64)) => {
            let bytes = decode_base64(b64.trim())
                .ok_or_else(|| ApiError::bad_request("payloadBase64: not valid base64 (RFC 4648, '+' and '/')"))?;
            (bytes, "payloadBase64")
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "payload: give one of payload (text) and payloadBase64 (binary), not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request("payload: missing; give payload (text) or payloadBase64 (binary)"));
        }
    };
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(ApiError::bad_request(format!(
            "{field}: a message of {} bytes exceeds the limit of {MAX_MESSAGE_LEN}",
            bytes.len()
        )));
    }
    Ok((bytes, field))
}

/// The slot of `app` on `device` to deliver to: the running one (the newest
/// revision, for blue-green), else any it reports, else the plain name
/// (the device then answers `not-running`).
fn slot_on(device: &Device, app: &str) -> String {
    device
        .status
        .session
        .apps
        .iter()
        .filter(|a| app_of_slot(&a.name) == app)
        .max_by_key(|a| (a.state == AppState::Running, a.revision))
        .map_or_else(|| app.to_string(), |a| a.name.clone())
}

/// Where one message goes.
enum Ask {
    /// To the app's slot on a device, through its session.
    Device { slot: String },
    /// To an edge application's slot on the gateway running it (none: a
    /// board that is not attached now).
    Edge { gateway: Option<String>, slot: String },
}

/// One target of a message, named as its result is.
struct Target {
    name: String,
    ask: Ask,
}

/// Where `app` runs: the devices it targets; for an edge application the
/// gateways it targets, or the attached boards it drives (each on the
/// gateway holding it, in its own slot).
async fn targets_of(st: &ApiState, app: &Application) -> ApiResult<Vec<Target>> {
    use wasmbed_control::desired::{board_slot, drives_boards, targets, targets_board, targets_gateway};
    let name = &app.meta.name;
    if app.spec.runtime == Runtime::Device {
        let devices = st.store.list_devices().await?;
        return Ok(devices
            .into_iter()
            .filter(|d| targets(app, &d.spec.labels))
            .map(|d| Target { ask: Ask::Device { slot: slot_on(&d, name) }, name: d.meta.name })
            .collect());
    }
    let gateways = st.store.list_gateways().await?;
    let reported = |gateway: &str| gateways.iter().find(|g| g.meta.name == gateway).map(|g| g.status.edge.as_slice());
    Ok(if drives_boards(app) {
        st.store
            .list_devices()
            .await?
            .into_iter()
            .filter(|d| targets_board(app, d))
            .map(|d| {
                let gateway = d.status.session.gateway.clone();
                let key = board_slot(name, &d.meta.name);
                let slot = edge_slot(gateway.as_deref().and_then(reported).unwrap_or_default(), &key);
                Target { ask: Ask::Edge { gateway, slot }, name: d.meta.name }
            })
            .collect()
    } else {
        gateways
            .iter()
            .filter(|g| targets_gateway(app, &g.meta.name))
            .map(|g| Target {
                ask: Ask::Edge { gateway: Some(g.meta.name.clone()), slot: edge_slot(&g.status.edge, name) },
                name: g.meta.name.clone(),
            })
            .collect()
    })
}

/// The slot on a gateway to deliver to for `key` (`app` or `app@device`):
/// the running one (the newest revision, for blue-green), else any it
/// reports, else `key` itself (answered `not-running`).
fn edge_slot(reported: &[wasmbed_model::AppObservation], key: &str) -> String {
    reported
        .iter()
        .filter(|o| wasmbed_control::desired::unversioned_slot(&o.name) == key)
        .max_by_key(|o| (o.state == AppState::Running, o.revision))
        .map_or_else(|| key.to_string(), |o| o.name.clone())
}

/// What the audit log keeps of a payload: short text as is, else its size.
fn describe(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().count() <= 64 => format!("{text:?}"),
        _ => format!("{} bytes", bytes.len()),
    }
}

#[utoipa::path(post, path = "/api/v1/applications/{name}/messages", tag = "applications",
    params(("name" = String, Path)), request_body = MessageRequest,
    summary = "Send a message to the application on one device or every device it targets",
    description = "Role: operator. One result per device, sorted by device: `delivery` (delivered, not-running, \
        no-handler, failed, too-large) or `error` (not connected, no answer). Payload: at most 256 bytes. \
        An edge application's results are one per gateway it runs on (per board, for one driving attached \
        boards), and `device` names one of those.",
    responses((status = 200, description = "What became of it on each device", body = Vec<MessageResult>),
        (status = 400, description = "Bad payload (field and limit named)", body = ErrorBody),
        (status = 404, description = "No such application, or a device it does not target", body = ErrorBody),
        (status = 422, description = "This platform holds no device sessions", body = ErrorBody), AuthErrors))]
pub async fn send(
    _: Operator,
    State(st): State<ApiState>,
    Path(name): Path<String>,
    body: Result<Json<MessageRequest>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(req) = body.map_err(json_error)?;
    let (bytes, _) = payload(&req)?;
    let Some(app) = st.store.get_application(&name).await? else {
        return Err(ApiError::not_found(format!("application {name:?} not found")));
    };
    let mut targets = targets_of(&st, &app).await?;
    if let Some(one) = &req.device {
        targets.retain(|t| &t.name == one);
        if targets.is_empty() {
            let what = if app.spec.runtime == Runtime::Edge { "run on" } else { "target" };
            let known = match app.spec.runtime {
                Runtime::Device => st.store.get_device(one).await?.is_some(),
                Runtime::Edge => true,
            };
            if !known {
                return Err(ApiError::not_found(format!("device: {one:?} not found")));
            }
            return Err(ApiError::not_found(format!(
                "device: application {name:?} does not {what} {one:?} (selector {:?})",
                app.spec.selector
            )));
        }
    }
    let Some(terminal) = st.terminal.clone() else {
        return Err(ApiError::unprocessable("this platform holds no device sessions"));
    };

    let every = if app.spec.runtime == Runtime::Edge { "every target" } else { "every device" };
    let detail = format!("{} to {}", describe(&bytes), req.device.as_deref().unwrap_or(every));
    let payload: Arc<[u8]> = bytes.into();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut asks = tokio::task::JoinSet::new();
    for t in targets {
        let (terminal, payload, gate) = (terminal.clone(), payload.clone(), gate.clone());
        asks.spawn(async move {
            // Never closed: acquiring only waits for a free place.
            let _place = gate.acquire_owned().await;
            let r = match &t.ask {
                Ask::Device { slot } => terminal.send_message(&t.name, slot, &payload).await,
                Ask::Edge { gateway: Some(gateway), slot } => terminal.send_edge_message(gateway, slot, &payload).await,
                Ask::Edge { gateway: None, .. } => Err(TerminalError::NotConnected),
            };
            MessageResult::of(t.name, r)
        });
    }
    let mut results = Vec::with_capacity(asks.len());
    while let Some(done) = asks.join_next().await {
        results.push(done.map_err(ApiError::internal)?);
    }
    results.sort_by(|a, b| a.device.cmp(&b.device));

    let delivered = results.iter().filter(|r| r.delivery == Some(Delivery::Delivered)).count();
    let outcome = if delivered > 0 { Outcome::Ok } else { Outcome::Failed };
    let note = AuditNote {
        outcome: Some(outcome),
        detail: Some(format!("{detail}: delivered on {delivered} of {}", results.len())),
        ..AuditNote::default()
    };
    let mut resp = Json(results).into_response();
    resp.extensions_mut().insert(note);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_or_without_padding_and_refuses_the_rest() {
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("AP8A").as_deref(), Some(&[0u8, 255, 0][..]));
        assert_eq!(decode_base64("").as_deref(), Some(&[][..]));
        assert_eq!(decode_base64("+/+/").as_deref(), Some(&[0xfb, 0xff, 0xbf][..]));
        for bad in ["a", "aGVsbG8===", "aGV sbG8=", "aGVsbG8-", "é"] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_payload_is_one_field_within_the_limit() {
        let req = |payload: Option<&str>, b64: Option<&str>| MessageRequest {
            device: None,
            payload: payload.map(String::from),
            payload_base64: b64.map(String::from),
        };
        assert_eq!(payload(&req(Some("hi"), None)).ok(), Some((b"hi".to_vec(), "payload")));
        assert_eq!(payload(&req(None, Some("aGk="))).ok(), Some((b"hi".to_vec(), "payloadBase64")));
        let err = |r: ApiResult<(Vec<u8>, &str)>| r.err().map(|e| e.message).unwrap_or_default();
        assert!(err(payload(&req(Some("a"), Some("YQ==")))).contains("not both"));
        assert!(err(payload(&req(None, None))).starts_with("payload: missing"));
        let long = "x".repeat(MAX_MESSAGE_LEN + 1);
        assert!(err(payload(&req(Some(&long), None))).starts_with("payload: a message of 257 bytes"));
        assert!(err(payload(&req(Some(&"x".repeat(MAX_MESSAGE_LEN)), None))).is_empty(), "the limit itself is fine");
        assert!(err(payload(&req(None, Some("!!")))).starts_with("payloadBase64:"));
    }
}
