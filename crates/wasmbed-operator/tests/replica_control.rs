//! The control channel between the controller and a gateway replica, on
//! loopback: a real gateway (an embedded platform's) holding a simulated
//! device that runs a real app, its control port served exactly as a
//! replica serves it, and the controller's side — `RemoteTerminal` and the
//! log collector — finding the replica through the Device and Gateway
//! resources. Only Kubernetes is missing.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use wasmbed_api::{Delivery, Terminal, TerminalError};
use wasmbed_model::{Application, ApplicationSpec, LogBook, Meta, TelemetryBook};
use wasmbed_operator::replica_control::{self as control, ControlClient, MAX_REQUEST, RemoteTerminal};
use wasmbed_platform::{Platform, PlatformConfig, fixtures};
use wasmbed_protocol::CommandOutcome;

const NAME: &str = "wasmbed-gateway.test.svc";
const TOKEN: &str = "0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_and_logs_reach_the_controller_through_a_replicas_control_port() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_heartbeat_ms(500).quick()).await.unwrap();
    let bundle = p.create_sim_devices("c", 1, &Default::default()).await.unwrap().remove(0);
    let device = bundle.device_id.clone();
    let (_off, off_rx) = watch::channel(false);
    tokio::spawn(wasmbed_sim::run_device(bundle, wasmbed_sim::SimOptions::default(), off_rx));
    let module = fixtures::app("hello from the replica", 0);
    let digest = hex::encode(Sha256::digest(&module));
    p.store.put_module(&digest, &module).await.unwrap();
    let mut spec = ApplicationSpec::new("1", &digest, module.len() as u32);
    spec.capabilities = fixtures::APP_CAPS.iter().map(|c| c.to_string()).collect();
    p.store
        .put_application(&Application { meta: Meta::named("hello"), spec, status: Default::default() })
        .await
        .unwrap();

    // The replica's control port, with the gateway's certificate.
    let id = p.pki.gateway_identity(&[NAME.into()], SystemTime::now()).unwrap();
    let tls = wasmbed_pki::tls::token_server_config(&id).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stop_rx) = watch::channel(false);
    let app = control::router(p.gateways[0].clone(), p.logs.clone(), TOKEN, stop_rx.clone());
    let server = tokio::spawn(control::serve(listener, tls, app, stop_rx.clone()));

    // The controller's side.
    let client = ControlClient::new(p.pki.ca_cert_der(), NAME, port, TOKEN).unwrap();
    let terminal = RemoteTerminal::new(p.store.clone(), client.clone());
    let controller_logs = Arc::new(LogBook::new(100));
    let controller_telemetry = Arc::new(TelemetryBook::default());
    let books = control::Books { logs: controller_logs.clone(), telemetry: controller_telemetry.clone() };
    tokio::spawn(control::collect_records(p.store.clone(), client.clone(), books, stop_rx.clone()));

    wasmbed_testkit::device_where(&p.store, &device, "running hello", |d| d.status.session.runs(|a| a.name == "hello"))
        .await;
    let answer = terminal.run(&device, "status", &[]).await.unwrap();
    assert_eq!(answer.outcome, CommandOutcome::Ok, "{answer:?}");
    assert!(answer.output.contains(&device), "{answer:?}");
    let refused = terminal.run(&device, "shutdown", &["now".into()]).await.unwrap();
    assert_eq!(refused.outcome, CommandOutcome::Refused, "the device itself refuses: {refused:?}");
    assert_eq!(terminal.run("nobody", "status", &[]).await.unwrap_err(), TerminalError::NotConnected);
    // Messages to apps go the same way (hello has no on_message).
    let message = |app: &'static str, payload: Vec<u8>| {
        let (terminal, device) = (&terminal, device.clone());
        async move { terminal.send_message(&device, app, &payload).await }
    };
    assert_eq!(message("hello", b"hi".to_vec()).await.unwrap(), Delivery::NoHandler);
    assert_eq!(message("nothing", b"hi".to_vec()).await.unwrap(), Delivery::NotRunning);
    assert_eq!(message("hello", vec![0; wasmbed_api::MAX_MESSAGE_LEN + 1]).await.unwrap(), Delivery::TooLarge);
    assert_eq!(terminal.send_message("nobody", "hello", b"hi").await.unwrap_err(), TerminalError::NotConnected);

    // So do messages to an edge application on the replica's gateway.
    let component = wasmbed_testkit::edge_component("probe");
    let digest = hex::encode(Sha256::digest(&component));
    p.store.put_module(&digest, &component).await.unwrap();
    let spec = ApplicationSpec {
        runtime: wasmbed_model::Runtime::Edge,
        capabilities: ["log", "config", "kv", "telemetry"].map(String::from).to_vec(),
        ..ApplicationSpec::new("1", &digest, component.len() as u32)
    };
    p.store
        .put_application(&Application { meta: Meta::named("probe"), spec, status: Default::default() })
        .await
        .unwrap();
    let gateway = p.gateways[0].config().name.clone();
    wasmbed_testkit::poll("the edge app running on the replica", async || {
        match terminal.send_edge_message(&gateway, "probe", b"publish").await {
            Ok(Delivery::Delivered) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    assert_eq!(terminal.send_edge_message(&gateway, "nothing", b"hi").await.unwrap(), Delivery::NotRunning);
    let too_large = vec![0; wasmbed_api::MAX_MESSAGE_LEN + 1];
    assert_eq!(terminal.send_edge_message(&gateway, "probe", &too_large).await.unwrap(), Delivery::TooLarge);
    assert_eq!(
        terminal.send_edge_message("no-gateway", "probe", b"hi").await.unwrap_err(),
        TerminalError::NotConnected
    );

    // The app logs at its start: restart it until a line has come through
    // (the collector may not have been connected for the first start).
    let line = wasmbed_testkit::poll("a log line at the controller", async || {
        let restarted = terminal.run(&device, "restart-app", &["hello".into()]).await.unwrap();
        assert_eq!(restarted.outcome, CommandOutcome::Ok, "{restarted:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        controller_logs.tail(&device, 10).pop().ok_or("no line yet")
    })
    .await;
    assert!(line.line.contains("hello from the replica"), "{line:?}");
    assert_eq!(line.app, "hello");

    // Samples the replica's devices publish reach the controller's book
    // (what its telemetry routes, /metrics and event stream serve).
    let sample = wasmbed_model::TelemetrySample {
        device: device.clone(),
        app: "hello".into(),
        revision: Some(1),
        metric: "temp_c".into(),
        t_ms: 1_767_225_600_000,
        value: 21.5,
    };
    let relayed = wasmbed_testkit::poll("a sample at the controller", async || {
        p.gateways[0].telemetry().record([sample.clone()]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        controller_telemetry.metrics(&device).pop().ok_or("no sample yet")
    })
    .await;
    assert_eq!((relayed.metric.as_str(), relayed.last.value), ("temp_c", 21.5));

    // Bad input at the control port: refused with the reason, nothing run.
    let tls = wasmbed_pki::tls::verifying_client_config(p.pki.ca_cert_der()).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let http = reqwest::Client::builder().use_preconfigured_tls(tls).resolve(NAME, addr).build().unwrap();
    let url = format!("https://{NAME}:{port}/v1/terminal");
    let call = serde_json::json!({ "device": device, "name": "status" });
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http.post(&url).json(&call).send().await.unwrap()), 401, "no token");
    let wrong = http.post(&url).bearer_auth("guess").json(&call).send().await.unwrap();
    assert_eq!(status(wrong), 401, "wrong token");
    let logs_url = format!("https://{NAME}:{port}/v1/logs");
    assert_eq!(status(http.get(&logs_url).send().await.unwrap()), 401, "the log stream needs the token too");
    let telemetry_url = format!("https://{NAME}:{port}/v1/telemetry");
    assert_eq!(status(http.get(&telemetry_url).send().await.unwrap()), 401, "and the telemetry stream");
    let post =
        |body: Vec<u8>| http.post(&url).bearer_auth(TOKEN).header("content-type", "application/json").body(body).send();
    let malformed = post(b"{\"device\":".to_vec()).await.unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    assert!(malformed.text().await.unwrap().contains("error"));
    let unknown = post(br#"{"device":"c-0","name":"status","sudo":true}"#.to_vec()).await.unwrap();
    assert_eq!(unknown.status().as_u16(), 422, "unknown fields are refused");
    let empty = post(br#"{"device":"c-0","name":""}"#.to_vec()).await.unwrap();
    assert_eq!(empty.status().as_u16(), 400, "an empty command");
    let huge = serde_json::to_vec(&serde_json::json!({ "device": device, "name": "x".repeat(MAX_REQUEST) })).unwrap();
    assert_eq!(post(huge).await.unwrap().status().as_u16(), 413);

    // A client trusting another CA refuses the replica; a replica that is
    // not there is named.
    let other = wasmbed_pki::Pki::open_or_create(&tmp.path().join("other-ca"), SystemTime::now()).unwrap();
    let stranger = ControlClient::new(other.ca_cert_der(), NAME, port, TOKEN).unwrap();
    let call = control::TerminalCall { device: device.clone(), name: "status".into(), args: vec![] };
    let e = stranger.terminal("127.0.0.1:4443", &call).await.unwrap_err();
    assert!(matches!(e, control::ControlError::Transport { .. }), "{e}");
    let e = client.terminal("no-such-host.invalid:4443", &call).await.unwrap_err();
    assert!(matches!(e, control::ControlError::Address(_)), "{e}");

    // Through all of that the replica kept serving.
    assert_eq!(terminal.run(&device, "uptime", &[]).await.unwrap().outcome, CommandOutcome::Ok);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
    p.shutdown().await;
}
