//! The app side of the contract written once: the exports a device calls
//! (`init`, `tick`, and for apps that take messages `on_message`), the
//! panic that traps, and state kept in a `static`.

use core::sync::atomic::{AtomicU32, Ordering};

/// An app: what the device calls. Export it with [`export!`](crate::export).
pub trait App {
    /// Called once after instantiation.
    fn init();
    /// Called every tick interval with the device's uptime in milliseconds.
    fn tick(now_ms: u64);
}

/// An app that takes messages (capability `messages`): exported by
/// `export!(MyApp, messages)`, which reads each message for it. An app
/// without it exports no `on_message`, and the device answers a message
/// for it with `no-handler`.
pub trait OnMessage {
    /// Called with each message sent to the app (at most
    /// [`MAX_MESSAGE_LEN`](crate::messages::MAX_MESSAGE_LEN) bytes), under
    /// the same fuel budget as `tick`.
    fn on_message(msg: &[u8]);
}

/// Reads the message being delivered and hands it to `A`; what
/// `export!(A, messages)` exports as `on_message`.
#[doc(hidden)]
pub fn deliver<A: OnMessage>(_len: u32) {
    let mut buf = [0u8; crate::messages::MAX_MESSAGE_LEN];
    if let Ok(msg) = crate::messages::read(&mut buf) {
        A::on_message(msg);
    }
}

/// Exports an [`App`] as the module's `init` and `tick`, and on wasm32
/// installs the panic handler an app needs: a panic traps, and the device
/// marks the app failed and reports it. Use it once, in the app's crate.
/// `export!(MyApp, messages)` also exports `on_message` for an app that
/// implements [`OnMessage`].
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
///
/// An app that takes messages:
///
/// ```
/// use wasmbed_sdk::{App, OnMessage, log};
///
/// struct Echo;
///
/// impl App for Echo {
///     fn init() {}
///     fn tick(_now_ms: u64) {}
/// }
///
/// impl OnMessage for Echo {
///     fn on_message(msg: &[u8]) {
///         log(core::str::from_utf8(msg).unwrap_or("(not UTF-8)"));
///     }
/// }
///
/// wasmbed_sdk::export!(Echo, messages);
/// # fn main() { on_message(0); }
/// ```
#[macro_export]
macro_rules! export {
    (@core $app:ty) => {
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
    ($app:ty) => {
        $crate::export!(@core $app);
    };
    ($app:ty, messages) => {
        $crate::export!(@core $app);

        /// Called with each message sent to the app, `len` bytes long.
        #[unsafe(no_mangle)]
        pub extern "C" fn on_message(len: u32) {
            $crate::deliver::<$app>(len)
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
