//! Writing to the action's log.
//!
//! Messages go to the action's log in the host, as do the provider's
//! standard output and standard error (`println!` works too). The log has a
//! size cap per action; past it, the host drops messages and says so.

use crate::bindings::log as host;
use std::sync::Once;

/// How important a log message is.
pub use crate::bindings::log::Level;

/// Appends `message` to the action's log at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Logs at info level: `sluice_sdk::info!("copied {n} files")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)*)) };
}

/// Logs at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}

/// Reports a panic to the host's log at error level, so the failure the
/// host records carries the panic's message and place.
pub(crate) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            let place = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            host::log(Level::Error, &format!("panicked{place}: {message}"));
        }));
    });
}
