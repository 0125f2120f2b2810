//! Gateway health and the assignment of devices to gateways.
//!
//! A gateway reports itself every `report_ms`; it is Healthy while its last
//! report is within [`MISSED_REPORTS`](wasmbed_model::defaults::MISSED_REPORTS) intervals. Devices are assigned to
//! the healthy gateway with the most room (capacity minus assigned
//! devices); a device whose gateway turns unhealthy is moved — to the
//! gateway it reconnected through, when that one is healthy. A device's
//! identity bundle lists every gateway, its own first ([`endpoints_for`]),
//! so a device whose gateway dies finds the others by itself.

use std::collections::BTreeMap;

use wasmbed_model::{Device, Gateway, GatewayHealth};

use wasmbed_model::defaults::{GATEWAY_REPORT_MS, MISSED_REPORTS};

/// When a gateway last reported at `t` stops counting as Healthy.
fn report_deadline(gw: &Gateway, t: u64) -> u64 {
    let every = u64::from(gw.status.report_ms.unwrap_or(GATEWAY_REPORT_MS));
    t.saturating_add(every.saturating_mul(u64::from(MISSED_REPORTS)))
}

/// Health of `gw` at `now_ms`, from its last report.
pub fn health(gw: &Gateway, now_ms: u64) -> GatewayHealth {
    match gw.status.last_seen_ms {
        None => GatewayHealth::Unknown,
        Some(t) if now_ms <= report_deadline(gw, t) => GatewayHealth::Healthy,
        Some(_) => GatewayHealth::Unhealthy,
    }
}

/// When `gw` turns unhealthy unless it reports again.
pub fn health_deadline(gw: &Gateway) -> Option<u64> {
    gw.status.last_seen_ms.map(|t| report_deadline(gw, t))
}

/// Devices assigned to each gateway.
pub fn load<'a>(devices: impl IntoIterator<Item = &'a Device>) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for d in devices {
        if let Some(g) = &d.spec.gateway {
            *out.entry(g.clone()).or_insert(0) += 1;
        }
    }
    out
}

/// The gateway `device` should be assigned to, when that differs from its
/// current assignment; `None` leaves it as it is.
pub fn assign(device: &Device, gateways: &[Gateway], load: &BTreeMap<String, u32>, now_ms: u64) -> Option<String> {
    assign_lazily(device, gateways, now_ms, || load)
}

/// [`assign`], asking for the fleet's `load` only when the device has to
/// be placed anew (counting a whole fleet for every device that is where
/// it should be would make each status change cost the fleet's size).
pub fn assign_lazily<'l>(
    device: &Device,
    gateways: &[Gateway],
    now_ms: u64,
    load: impl FnOnce() -> &'l BTreeMap<String, u32>,
) -> Option<String> {
    // A gateway that registered but has not reported yet can take devices:
    // at start-up every gateway is Unknown for a moment.
    let usable = |g: &Gateway| health(g, now_ms) != GatewayHealth::Unhealthy;
    let current = device.spec.gateway.as_deref();
    if current.is_some_and(|c| gateways.iter().any(|g| g.meta.name == c && usable(g))) {
        return None;
    }
    let s = &device.status.session;
    if s.connected
        && let Some(g) = s.gateway.as_deref()
        && gateways.iter().any(|gw| gw.meta.name == g && health(gw, now_ms) == GatewayHealth::Healthy)
    {
        return (current != Some(g)).then(|| g.to_string());
    }
    let load = load();
    let room = |g: &Gateway| i64::from(g.spec.capacity) - i64::from(load.get(&g.meta.name).copied().unwrap_or(0));
    let best = gateways
        .iter()
        .filter(|g| usable(g) && room(g) > 0)
        .max_by(|a, b| room(a).cmp(&room(b)).then_with(|| b.meta.name.cmp(&a.meta.name)))?;
    (current != Some(best.meta.name.as_str())).then(|| best.meta.name.clone())
}

/// Gateway addresses for `device`'s bundle: its own first, then the
/// healthy ones, then the rest, each as a device of its board dials it.
pub fn endpoints_for(device: &Device, gateways: &[Gateway], now_ms: u64) -> Vec<String> {
    let mine = device.spec.gateway.as_deref();
    let mut order: Vec<&Gateway> = gateways.iter().collect();
    order.sort_by_key(|g| {
        let rank = match (Some(g.meta.name.as_str()) == mine, health(g, now_ms)) {
            (true, _) => 0,
            (false, GatewayHealth::Healthy) => 1,
            (false, GatewayHealth::Unknown) => 2,
            (false, GatewayHealth::Unhealthy) => 3,
        };
        (rank, g.meta.name.clone())
    });
    let mut out: Vec<String> = Vec::new();
    for g in order {
        let e = g.spec.endpoint_for(&device.spec.board).to_string();
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::*;

    use wasmbed_testkit::With;

    fn gw(name: &str, capacity: u32, seen: Option<u64>) -> Gateway {
        let port = 4000 + name.len() as u16;
        wasmbed_testkit::gateway(name, port, capacity).with(|g| g.status.last_seen_ms = seen)
    }

    fn device(gateway: Option<&str>) -> Device {
        wasmbed_testkit::device("d").with(|d| d.spec.gateway = gateway.map(String::from))
    }

    #[test]
    fn health_follows_reports() {
        let g = gw("a", 1, Some(1000));
        assert_eq!(health(&g, 3999), GatewayHealth::Healthy);
        assert_eq!(health(&g, 4001), GatewayHealth::Unhealthy);
        assert_eq!(health(&gw("a", 1, None), 0), GatewayHealth::Unknown);
    }

    #[test]
    fn devices_go_where_there_is_room_and_leave_dead_gateways() {
        let gws = [gw("a", 10, Some(0)), gw("bb", 10, Some(0))];
        let load: BTreeMap<String, u32> = [("a".to_string(), 3)].into();
        assert_eq!(assign(&device(None), &gws, &load, 0).as_deref(), Some("bb"));
        assert_eq!(assign(&device(Some("a")), &gws, &load, 0), None, "healthy assignment kept");
        // a dies: its device moves.
        let dead = [gw("a", 10, Some(0)), gw("bb", 10, Some(9000))];
        assert_eq!(assign(&device(Some("a")), &dead, &load, 9000).as_deref(), Some("bb"));
        // ... to the gateway it reconnected through, when that one is healthy.
        let three = [gw("a", 10, Some(0)), gw("bb", 10, Some(9000)), gw("ccc", 100, Some(9000))];
        let mut d = device(Some("a"));
        d.status.session = SessionStatus { connected: true, gateway: Some("bb".into()), ..Default::default() };
        assert_eq!(assign(&d, &three, &load, 9000).as_deref(), Some("bb"));
        // Full gateways take no more.
        let full: BTreeMap<String, u32> = [("a".to_string(), 10), ("bb".to_string(), 10)].into();
        assert_eq!(assign(&device(None), &gws, &full, 0), None);
    }

    #[test]
    fn bundles_list_every_gateway_own_first() {
        let gws = [gw("a", 10, Some(0)), gw("bb", 10, Some(0))];
        let mut d = device(Some("bb"));
        assert_eq!(endpoints_for(&d, &gws, 0), ["127.0.0.1:4002", "127.0.0.1:4001"]);
        d.spec.board = "mps2-an385".into();
        assert_eq!(endpoints_for(&d, &gws, 0), ["10.0.2.2:4002", "10.0.2.2:4001"]);
    }
}
