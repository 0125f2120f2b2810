//! Drives an stm32vldiscovery wired to its gateway: greets on its USART2,
//! echoes back whatever arrives there, and walks a pattern over its two
//! LEDs, one step per tick. The board has no WebAssembly runtime (8 KB of
//! RAM): this component runs on the gateway and reaches the board through
//! `attached-board`.
//!
//! Needs `log`, `attached-board` (for exactly that board).

use std::cell::Cell;

use wasmbed_edge_guest::wasmbed::edge::{attached_board as board, log};

/// USART2, port 1 in the board table (USART1, port 0, is the link to the
/// gateway; USART3 the board's console).
const PORT: u8 = 1;
/// LED states per step: blue, green, both, none.
const PATTERN: [(bool, bool); 4] = [(true, false), (false, true), (true, true), (false, false)];

thread_local! {
    static STEP: Cell<usize> = const { Cell::new(0) };
}

use wasmbed_edge_guest::{Guest, Sample, export};

struct VldBlink;

impl Guest for VldBlink {
    fn init() -> Result<(), String> {
        board::uart_write(PORT, b"hello from the edge\r\n").map_err(|e| format!("USART2: {e:?}"))?;
        log::log(log::Level::Info, "greeted on USART2");
        Ok(())
    }

    fn on_telemetry(_sample: Sample) {}

    fn on_message(payload: Vec<u8>) {
        if let Err(e) = board::uart_write(PORT, &payload) {
            log::log(log::Level::Error, &format!("USART2: {e:?}"));
        }
    }

    fn on_tick(_now_ms: i64) {
        let step = STEP.get();
        STEP.set((step + 1) % PATTERN.len());
        let (a, b) = PATTERN[step];
        for (led, on) in [(0, a), (1, b)] {
            if let Err(e) = board::led_set(led, on) {
                log::log(log::Level::Error, &format!("LED {led}: {e:?}"));
                return;
            }
        }
        match board::uart_read(PORT, 200) {
            Ok(echo) if !echo.is_empty() => {
                if let Err(e) = board::uart_write(PORT, &echo) {
                    log::log(log::Level::Error, &format!("USART2: {e:?}"));
                }
            }
            Ok(_) => {}
            Err(e) => log::log(log::Level::Error, &format!("USART2: {e:?}")),
        }
    }
}

export!(VldBlink);
