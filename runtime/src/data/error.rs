//! What a database failure means to the client. The driver's error is kept as the
//! fault's cause (logged, never answered); the client reads one of five plain sentences:
//! a bad parameter (400), nothing found (404), a constraint violation (409), the database
//! unavailable (503), or a failure it cannot fix (500). Neither the driver's message nor
//! the SQL text ever reaches an answer.

use sqlx::error::ErrorKind;

use crate::fault::{Fault, FaultSide, codes};

/// A classified database failure.
#[derive(Debug)]
pub struct DataError {
    /// What it means.
    pub kind: DataErrorKind,
    /// The client-facing sentence (never the driver's words).
    pub message: String,
    /// The driver's error, for the log.
    pub cause: Option<sqlx::Error>,
}

/// The classes of [`DataError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataErrorKind {
    /// A parameter the client gave is missing or does not fit (400).
    BadParameter,
    /// Nothing found where the resource answers 404.
    NotFound,
    /// A constraint refused the write (409).
    Conflict,
    /// The database cannot be reached (503).
    Unavailable,
    /// Anything else (500).
    Failed,
}

impl DataError {
    /// A parameter problem, said in `message`.
    pub fn bad_parameter(message: impl Into<String>) -> Self {
        Self {
            kind: DataErrorKind::BadParameter,
            message: message.into(),
            cause: None,
        }
    }

    /// Nothing found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: DataErrorKind::NotFound,
            message: message.into(),
            cause: None,
        }
    }

    /// A failure of Ferry's own (a column it cannot answer, say).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            kind: DataErrorKind::Failed,
            message: message.into(),
            cause: None,
        }
    }

    /// Classifies a driver error.
    pub fn from_sqlx(e: sqlx::Error) -> Self {
        let (kind, message) = classify(&e);
        Self {
            kind,
            message: message.to_string(),
            cause: Some(e),
        }
    }

    /// Whether the database could not be reached (the request may be retried).
    pub fn is_unavailable(&self) -> bool {
        self.kind == DataErrorKind::Unavailable
    }

    /// The fault a flow raises: the status follows the kind, the message is ours.
    pub fn into_fault(self, what: &str) -> Fault {
        let message = format!("{what}: {}", self.message);
        let fault = match self.kind {
            DataErrorKind::BadParameter => Fault::bad_request(codes::DATA_BAD_PARAMETER, message),
            DataErrorKind::NotFound => Fault::bad_request(codes::DATA_NOT_FOUND, message),
            DataErrorKind::Conflict => Fault::bad_request(codes::DATA_CONFLICT, message),
            DataErrorKind::Unavailable => Fault::upstream(codes::DATA_UNAVAILABLE, message, true),
            DataErrorKind::Failed => Fault::internal(codes::DATA_FAILED, message),
        };
        debug_assert!(self.kind != DataErrorKind::Unavailable || fault.side == FaultSide::Upstream);
        match self.cause {
            Some(cause) => fault.with_cause(cause),
            None => fault,
        }
    }
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The class and the client's sentence for a driver error.
fn classify(e: &sqlx::Error) -> (DataErrorKind, &'static str) {
    use DataErrorKind as K;
    match e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => (K::Conflict, "a row with this key already exists"),
            ErrorKind::ForeignKeyViolation => (
                K::Conflict,
                "the change refers to a row that does not exist, or is referred to",
            ),
            ErrorKind::NotNullViolation => (K::Conflict, "a required value is missing"),
            ErrorKind::CheckViolation => (K::Conflict, "a value breaks a check constraint"),
            _ => classify_code(db.code().as_deref().unwrap_or_default()),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => (K::Unavailable, "the database is not available"),
        sqlx::Error::RowNotFound => (K::NotFound, "no row was found"),
        _ => (K::Failed, "the statement failed"),
    }
}

/// Database error codes: PostgreSQL's SQLSTATE, MySQL's error numbers, SQLite's result
/// codes (as sqlx gives them, text).
fn classify_code(code: &str) -> (DataErrorKind, &'static str) {
    use DataErrorKind as K;
    let bad_value = (K::BadParameter, "a value does not fit its column");
    match code {
        // PostgreSQL: class 22 is a data exception (bad text for a type, out of range, too
        // long); 23 constraint violations; 08 connection; 57P0x shutting down; 53 resources.
        c if c.starts_with("22") && c.len() == 5 => bad_value,
        c if c.starts_with("23") && c.len() == 5 => {
            (K::Conflict, "a constraint refused the change")
        }
        c if (c.starts_with("08") || c.starts_with("57P") || c.starts_with("53"))
            && c.len() == 5 =>
        {
            (K::Unavailable, "the database is not available")
        }
        // MySQL / MariaDB.
        "1264" | "1265" | "1366" | "1406" | "1292" | "1367" => bad_value,
        "1062" | "1451" | "1452" | "1048" | "3819" => {
            (K::Conflict, "a constraint refused the change")
        }
        "1040" | "1053" | "2002" | "2003" | "2006" | "2013" => {
            (K::Unavailable, "the database is not available")
        }
        // SQLite: 5 busy, 6 locked; 19 constraint (extended codes end in 19 too); 20 mismatch.
        "5" | "6" | "261" | "517" => (K::Unavailable, "the database is busy"),
        "19" | "275" | "531" | "787" | "1043" | "1299" | "1555" | "2067" | "2579" | "1811" => {
            (K::Conflict, "a constraint refused the change")
        }
        "20" => bad_value,
        _ => (K::Failed, "the statement failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn each_kind_answers_its_status_with_our_words() {
        let cases = [
            (DataError::bad_parameter("p"), StatusCode::BAD_REQUEST),
            (DataError::not_found("n"), StatusCode::NOT_FOUND),
            (
                DataError::from_sqlx(sqlx::Error::PoolTimedOut),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (DataError::failed("f"), StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (e, status) in cases {
            assert_eq!(e.into_fault("query q").http_status(), status);
        }
    }

    #[test]
    fn database_codes_are_classified() {
        assert_eq!(classify_code("22P02").0, DataErrorKind::BadParameter);
        assert_eq!(classify_code("23505").0, DataErrorKind::Conflict);
        assert_eq!(classify_code("57P01").0, DataErrorKind::Unavailable);
        assert_eq!(classify_code("1062").0, DataErrorKind::Conflict);
        assert_eq!(classify_code("42601").0, DataErrorKind::Failed);
    }
}
