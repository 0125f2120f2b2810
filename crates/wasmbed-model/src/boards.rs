//! Boards the platform knows, as data.

/// How a board's devices reach the gateway and whether they can run apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Name (QEMU `-M` machine, or `sim`).
    pub name: &'static str,
    /// Host a device of this board dials: QEMU user networking maps the
    /// host's loopback to 10.0.2.2; the simulator runs on the host itself.
    pub gateway_host: &'static str,
    /// `None` when devices of this board can be created; otherwise why not.
    pub unsupported: Option<&'static str>,
}

/// Every known board.
pub const BOARDS: &[Board] = &[
    Board { name: crate::SIM_BOARD, gateway_host: "127.0.0.1", unsupported: None },
    Board { name: "mps2-an385", gateway_host: "10.0.2.2", unsupported: None },
    Board { name: "mps2-an386", gateway_host: "10.0.2.2", unsupported: None },
    Board { name: "mps2-an500", gateway_host: "10.0.2.2", unsupported: None },
    Board { name: "mps2-an505", gateway_host: "10.0.2.2", unsupported: None },
    Board { name: "olimex-stm32-h405", gateway_host: "10.0.2.2", unsupported: None },
    Board {
        name: "stm32vldiscovery",
        gateway_host: "10.0.2.2",
        unsupported: Some(
            "stm32vldiscovery has 8 KB of RAM, too little for a WebAssembly runtime; \
             planned: its app will run on the gateway as an edge component and drive the board remotely",
        ),
    },
];

/// Looks a board up by name.
pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}
