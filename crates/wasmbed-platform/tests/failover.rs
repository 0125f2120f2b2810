//! A gateway killed while devices are connected: its devices come back
//! through the remaining gateway, their assignment follows, and their apps
//! keep running. Two real gateways over one store, simulated devices over
//! mutual TLS, the real control plane.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::*;
use wasmbed_model::{DevicePhase, GatewayHealth, Strategy};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::{devices_where, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_of_a_killed_gateway_come_back_through_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let p =
        Platform::start(PlatformConfig::new(tmp.path()).with_gateways(2).with_heartbeat_ms(300).quick()).await.unwrap();
    // Both gateways register before devices are assigned.
    eventually(&p.store, "both gateways reported", async || {
        let gws = p.store.list_gateways().await.unwrap();
        if gws.iter().filter(|g| g.status.last_seen_ms.is_some()).count() == 2 { Ok(()) } else { Err(gws) }
    })
    .await;
    let _fleet = Fleet::start(&p, "fo", 20, &[("fleet", "fo")]).await;
    deploy(&p.store, "hello", "1", &app("hello", 0), "fleet=fo", Strategy::AllAtOnce, APP_CAPS).await;
    let on = |d: &wasmbed_model::Device, gw: &str| {
        d.status.phase == DevicePhase::Online
            && d.status.session.gateway.as_deref() == Some(gw)
            && running_revision(d, "hello") == Some(1)
    };
    let devices = devices_where(&p.store, "online on both gateways, running hello", |ds| {
        ds.len() == 20 && ds.iter().all(|d| on(d, "gateway-0") || on(d, "gateway-1"))
    })
    .await;
    let on_first = devices.iter().filter(|d| d.status.session.gateway.as_deref() == Some("gateway-0")).count();
    assert_eq!(on_first, 10, "devices are spread over the gateways by capacity");

    p.kill_gateway(0);
    devices_where(&p.store, "all back through gateway-1, running hello", |ds| ds.iter().all(|d| on(d, "gateway-1")))
        .await;
    // The control plane noticed: gateway-0 is unhealthy and its devices
    // are assigned to gateway-1 now.
    eventually(&p.store, "gateway-0 unhealthy and its devices moved", async || {
        let gw0 = p.store.get_gateway("gateway-0").await.unwrap().unwrap();
        let devices = p.store.list_devices().await.unwrap();
        let moved = devices.iter().all(|d| d.spec.gateway.as_deref() == Some("gateway-1"));
        if gw0.status.health == GatewayHealth::Unhealthy && moved { Ok(()) } else { Err(gw0.status) }
    })
    .await;
    assert_eq!(p.gateways[1].session_count(), 20);
    p.shutdown().await;
}
