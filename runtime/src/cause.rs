//! The error behind an error, kept so a failure can be explained down to its root.
//!
//! Errors on the mediation path ([`crate::fault::Fault`], the endpoint client's
//! [`crate::endpoints::client::CallError`], [`crate::stores::StoreError`],
//! [`crate::expr::context::PayloadError`]) keep the error that caused them and return it from
//! [`Error::source`], instead of keeping only its text: a log line can then name the whole
//! chain ([`Chain`]) and code can look for one error inside it (an `io::Error`'s kind, say).
//!
//! A cause is an `Arc` so those errors stay `Clone` (a payload caches its parse error and
//! hands out copies). It is only built when something failed: a successful request
//! allocates nothing for it.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// An error kept as the cause of another.
pub type Cause = Arc<dyn Error + Send + Sync + 'static>;

/// Keeps `err` as a cause.
pub fn cause(err: impl Error + Send + Sync + 'static) -> Cause {
    Arc::new(err)
}

/// The cause as [`Error::source`] returns it: the error itself, not the `Arc` around it,
/// so `downcast_ref` down the chain finds the `io::Error` or `hyper::Error` it holds.
pub fn as_source(cause: &Option<Cause>) -> Option<&(dyn Error + 'static)> {
    cause.as_deref().map(|e| e as &(dyn Error + 'static))
}

/// An error and its sources on one line, `error: cause: cause's cause`, as logs print it.
///
/// A cause whose text the line holds already is left out: our messages often quote their
/// cause (clients and fault sequences see that text in `ERROR_MESSAGE`), and the line
/// should say each thing once. Only called on the error path, so building the line in a
/// `String` costs a successful request nothing.
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut next = self.0.source();
        while let Some(err) = next {
            let text = err.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            next = err.source();
        }
        f.write_str(&line)
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// An error with a message and an optional source, to build chains from.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Cause>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            as_source(&self.1)
        }
    }

    #[test]
    fn the_chain_names_every_cause_in_order() {
        let io = io::Error::new(io::ErrorKind::PermissionDenied, "disk is read-only");
        let err = Layer(
            "cannot store",
            Some(cause(Layer("sqlite: I/O error", Some(cause(io))))),
        );
        assert_eq!(
            Chain(&err).to_string(),
            "cannot store: sqlite: I/O error: disk is read-only"
        );
    }

    #[test]
    fn a_cause_the_message_already_quotes_is_said_once() {
        let io = io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused");
        let err = Layer("cannot connect to a:1: connection refused", Some(cause(io)));
        assert_eq!(
            Chain(&err).to_string(),
            "cannot connect to a:1: connection refused"
        );
    }

    #[test]
    fn the_source_is_the_cause_itself_not_the_arc_around_it() {
        let io = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let err = Layer("x", Some(cause(io)));
        let source = err.source().and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(
            source.map(io::Error::kind),
            Some(io::ErrorKind::ConnectionRefused)
        );
    }
}
