//! Boards devices can be declared with: the host simulator, and every board
//! of the board table ([`wasmbed_boards`]).

pub use wasmbed_boards as table;

/// The board name used by devices of the host simulator.
pub const SIM_BOARD: &str = "sim";

/// Longest name of a device of an attached board: its name is the board id
/// in its provisioning record, which holds 32 bytes
/// (`wasmbed_boardlink::MAX_BOARD_ID_LEN`).
pub const MAX_ATTACHED_NAME_LEN: usize = 32;

/// A board as the platform uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Name (QEMU `-M` machine, or `sim`).
    pub name: &'static str,
    /// Devices of this board are emulated by QEMU: they dial a gateway's
    /// device endpoint (QEMU user networking maps the host's loopback to
    /// 10.0.2.2); the simulator runs on the host itself.
    pub emulated: bool,
    /// `None` when devices of this board can be created; otherwise why not.
    pub unsupported: Option<&'static str>,
    /// The board's facts; `None` for the simulator.
    pub hardware: Option<&'static table::Board>,
}

const SIM: Board = Board { name: SIM_BOARD, emulated: false, unsupported: None, hardware: None };

impl From<&'static table::Board> for Board {
    fn from(b: &'static table::Board) -> Self {
        Self { name: b.name, emulated: true, unsupported: b.unsupported(), hardware: Some(b) }
    }
}

impl Board {
    /// The peripherals apps on this board can be granted (the simulator's
    /// are what it models).
    pub fn peripherals(&self) -> &'static [table::Peripheral] {
        self.hardware.map_or(table::SIM_PERIPHERALS, |h| h.peripherals)
    }

    /// Whether devices of this board have the hardware `r` names.
    pub fn has(&self, r: &wasmbed_protocol::Resource) -> bool {
        table::peripherals_have(self.peripherals(), r)
    }

    /// What the board offers apps, for error messages.
    pub fn describe_peripherals(&self) -> String {
        let list = table::describe(self.peripherals());
        if list.is_empty() { "no peripherals for apps".into() } else { list }
    }

    /// The board's attached layout when it runs no agent but is attached
    /// to its gateway over a serial link (its apps run on the gateway).
    pub fn attached(&self) -> Option<&'static table::AttachedLayout> {
        self.hardware.and_then(|h| h.attached())
    }

    /// What apps may hold on a device of this board (the simulator's own
    /// budget for `sim`); `None` when the board runs no agent.
    pub fn module_budget(&self) -> Option<table::ModuleBudget> {
        match self.hardware {
            Some(h) => h.module_budget(),
            None => Some(table::SIM_BUDGET),
        }
    }

    /// How a device of this board dials a gateway that listens on the
    /// host's loopback at `port`: emulated devices see the host as 10.0.2.2.
    pub fn loopback_endpoint(&self, port: u16) -> String {
        if self.emulated { guest_loopback(port) } else { format!("127.0.0.1:{port}") }
    }
}

/// The host's loopback as a QEMU guest on user networking sees it
/// (10.0.2.2): the address gateway certificates must name for QEMU devices.
pub fn host_from_guest() -> String {
    let [a, b, c, d] = table::HOST_FROM_GUEST;
    format!("{a}.{b}.{c}.{d}")
}

/// The host's loopback at `port`, as a QEMU guest on user networking dials it.
pub fn guest_loopback(port: u16) -> String {
    format!("{}:{port}", host_from_guest())
}

/// Every known board, the simulator first.
pub fn boards() -> impl Iterator<Item = Board> {
    std::iter::once(SIM).chain(table::BOARDS.iter().map(Board::from))
}

/// Looks a board up by name.
pub fn board(name: &str) -> Option<Board> {
    boards().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulated_boards_dial_the_host_through_qemu() {
        assert_eq!(board("mps2-an385").map(|b| b.loopback_endpoint(4443)).as_deref(), Some("10.0.2.2:4443"));
        assert_eq!(board(SIM_BOARD).map(|b| b.loopback_endpoint(4443)).as_deref(), Some("127.0.0.1:4443"));
        assert!(boards().filter(|b| b.emulated).all(|b| b.hardware.is_some()));
    }

    #[test]
    fn an_attached_board_is_a_board_devices_can_be_created_for() {
        let vl = board("stm32vldiscovery").unwrap();
        assert!(vl.unsupported.is_none() && vl.attached().is_some() && vl.module_budget().is_none());
        assert!(board("mps2-an385").unwrap().attached().is_none());
    }
}

#[cfg(test)]
mod peripheral_tests {
    use super::*;
    use wasmbed_protocol::{Pin, Resource};

    #[test]
    fn the_simulator_and_the_table_answer_what_a_board_has() {
        let an385 = board("mps2-an385").unwrap();
        assert!(an385.has(&Resource::Gpio(Pin::Led(0))));
        assert!(an385.has(&Resource::I2c { bus: 0, addr: 0x48 }));
        assert!(!an385.has(&Resource::Gpio(Pin::Led(9))));
        assert!(!an385.has(&Resource::Adc(0)), "QEMU's MPS2 has no ADC");
        let olimex = board("olimex-stm32-h405").unwrap();
        assert!(olimex.has(&Resource::Adc(0)));
        assert!(!olimex.has(&Resource::Gpio(Pin::Led(0))), "QEMU does not model its GPIO");
        let sim = board(SIM_BOARD).unwrap();
        assert!(sim.has(&Resource::I2c { bus: 0, addr: 0x48 }));
        assert!(an385.describe_peripherals().contains("gpio:led0"));
    }
}
