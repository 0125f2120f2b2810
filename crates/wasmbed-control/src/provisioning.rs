//! Provisioning a device: the gateway it is assigned when it is created,
//! and the gateway addresses its identity bundle carries. The API, the
//! platform's simulated fleets and the QEMU manager all provision through
//! here, so a device gets the same bundle whoever made it.
//!
//! ```
//! use wasmbed_control::provisioning::Provisioner;
//! use wasmbed_model::{Device, DeviceSpec, Meta};
//! let d = Device { meta: Meta::named("d"), spec: DeviceSpec { board: "mps2-an385".into(), ..Default::default() }, status: Default::default() };
//! // No gateway registered yet: the bundle names the platform's own port.
//! let p = Provisioner::new(Vec::new(), &[], 0, 4443);
//! assert_eq!(p.endpoints(&d), ["10.0.2.2:4443"]);
//! ```

use std::collections::BTreeMap;

use wasmbed_model::{Device, Gateway, board};

use crate::gateways::{assign, endpoints_for, load};

/// Provisions devices against one reading of the fleet's gateways.
#[derive(Debug, Clone)]
pub struct Provisioner {
    gateways: Vec<Gateway>,
    load: BTreeMap<String, u32>,
    now_ms: u64,
    fallback_port: u16,
}

impl Provisioner {
    /// `gateways` and `devices` as the store has them now; `fallback_port`
    /// is where the platform's gateway listens on the host's loopback, for
    /// bundles made before any gateway registered itself.
    pub fn new(gateways: Vec<Gateway>, devices: &[Device], now_ms: u64, fallback_port: u16) -> Self {
        Self { gateways, load: load(devices), now_ms, fallback_port }
    }

    /// Assigns `device` the gateway with the most room (as the gateway
    /// reconciler would) and counts it, so the next device sees the load.
    pub fn assign(&mut self, device: &mut Device) {
        if let Some(g) = assign(device, &self.gateways, &self.load, self.now_ms) {
            *self.load.entry(g.clone()).or_insert(0) += 1;
            device.spec.gateway = Some(g);
        }
    }

    /// The gateway addresses for `device`'s identity bundle: its own
    /// gateway first, then the others; without any registered gateway, the
    /// platform's port as a device of its board dials the host.
    pub fn endpoints(&self, device: &Device) -> Vec<String> {
        let list = endpoints_for(device, &self.gateways, self.now_ms);
        if !list.is_empty() {
            return list;
        }
        let fallback = match board(&device.spec.board) {
            Some(b) => b.loopback_endpoint(self.fallback_port),
            None => format!("127.0.0.1:{}", self.fallback_port),
        };
        vec![fallback]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_testkit::{With, gateway};

    fn device(name: &str, board: &str) -> Device {
        wasmbed_testkit::device(name).with(|d| d.spec.board = board.into())
    }

    #[test]
    fn without_gateways_the_bundle_names_the_platform_port_as_the_board_dials_it() {
        let p = Provisioner::new(Vec::new(), &[], 0, 4443);
        assert_eq!(p.endpoints(&device("q", "mps2-an385")), ["10.0.2.2:4443"]);
        assert_eq!(p.endpoints(&device("s", "sim")), ["127.0.0.1:4443"]);
    }

    #[test]
    fn assignment_spreads_devices_by_room_and_bundles_list_their_own_gateway_first() {
        let mut p = Provisioner::new(vec![gateway("a", 5001, 2), gateway("b", 5002, 2)], &[], 0, 4443);
        let mut names = Vec::new();
        for i in 0..4 {
            let mut d = device(&format!("d{i}"), "sim");
            p.assign(&mut d);
            names.push(d.spec.gateway.clone().unwrap_or_default());
            assert_eq!(p.endpoints(&d)[0], if names[i] == "a" { "127.0.0.1:5001" } else { "127.0.0.1:5002" });
        }
        names.sort();
        assert_eq!(names, ["a", "a", "b", "b"], "two each");
        let mut full = device("d4", "mps2-an505");
        p.assign(&mut full);
        assert_eq!(full.spec.gateway, None, "no room left");
        assert_eq!(p.endpoints(&full), ["10.0.2.2:5001", "10.0.2.2:5002"]);
    }
}
