//! The app side of ABI v1 written once: the two exports a device calls,
//! the panic that traps, and state kept in a `static`.

use core::sync::atomic::{AtomicU32, Ordering};

/// An app: what the device calls. Export it with [`export!`](crate::export).
pub trait App {
    /// Called once after instantiation.
    fn init();
    /// Called every tick interval with the device's uptime in milliseconds.
    fn tick(now_ms: u64);
}

/// Exports an [`App`] as the module's `init` and `tick`, and on wasm32
/// installs the panic handler an app needs: a panic traps, and the device
/// marks the app failed and reports it. Use it once, in the app's crate.
///
/// ```
/// use wasmbed_sdk::{App, Counter, Line, log};
///
/// static TICKS: Counter = Counter::new();
///
/// struct Hello;
///
/// impl App for Hello {
///     fn init() {
///         log("hello");
///     }
///
///     fn tick(_now_ms: u64) {
///         Line::new().push_str("hello #").push_u64(TICKS.next().into()).log();
///     }
/// }
///
/// wasmbed_sdk::export!(Hello);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export {
    ($app:ty) => {
        /// Called once after instantiation.
        #[unsafe(no_mangle)]
        pub extern "C" fn init() {
            <$app as $crate::App>::init()
        }

        /// Called every tick interval with the device's uptime in milliseconds.
        #[unsafe(no_mangle)]
        pub extern "C" fn tick(now_ms: u64) {
            <$app as $crate::App>::tick(now_ms)
        }

        #[cfg(target_arch = "wasm32")]
        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
            core::arch::wasm32::unreachable()
        }
    };
}

/// A count kept in a `static`, such as the ticks seen so far. wasm32 apps
/// are single-threaded; an atomic is the safe way to keep state in a
/// static.
#[derive(Debug, Default)]
pub struct Counter(AtomicU32);

impl Counter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    /// Adds one (wrapping) and returns the new count.
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn counts_from_one_and_wraps() {
        let c = Counter::new();
        assert_eq!((c.next(), c.next()), (1, 2));
        let high = Counter(core::sync::atomic::AtomicU32::new(u32::MAX));
        assert_eq!(high.next(), 0);
    }
}
