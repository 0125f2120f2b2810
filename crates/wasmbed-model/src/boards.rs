//! Boards the platform knows, as data.

/// How a board's devices reach the gateway and whether they can run apps.
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
}

/// Every known board.
pub const BOARDS: &[Board] = &[
    Board { name: crate::SIM_BOARD, emulated: false, unsupported: None },
    Board { name: "mps2-an385", emulated: true, unsupported: None },
    Board { name: "mps2-an386", emulated: true, unsupported: None },
    Board { name: "mps2-an500", emulated: true, unsupported: None },
    Board { name: "mps2-an505", emulated: true, unsupported: None },
    Board { name: "olimex-stm32-h405", emulated: true, unsupported: None },
    Board {
        name: "stm32vldiscovery",
        emulated: true,
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
