//! Panics: a bug that one request (or one processor or task) reaches must not take every
//! other in-flight request of the replica with it. The release build unwinds, the HTTP
//! server answers a panicking request with a 500 (`transports::http::server`), and the hook
//! installed here logs each panic with its message and location and counts it
//! (`ferry_panics_total`), so a panic is seen and counted instead of ending the process.

use std::any::Any;
use std::sync::LazyLock;

use prometheus_client::metrics::counter::Counter;

/// Panics since the process started, wherever they happened.
pub static PANICS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Replaces the default panic output (a bare line on stderr) with a logged error that
/// carries the location and counts the panic. Called once by `ferry run`.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        PANICS.inc();
        let location = info
            .location()
            .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(
            %location,
            message = %message(info.payload()),
            "panic (a bug: please report it)"
        );
    }));
}

/// The text a panic was raised with (`panic!("...")`, `expect("...")`), when it has one.
pub fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_read_from_either_payload_kind() {
        let literal = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
        assert_eq!(message(literal.as_ref()), "boom");
        let formatted = std::panic::catch_unwind(|| panic!("{}", 42)).unwrap_err();
        assert_eq!(message(formatted.as_ref()), "42");
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(message(other.as_ref()), "(no message)");
    }
}
