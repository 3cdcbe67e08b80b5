//! Turning diesel and pool errors into devflow's one `Error`, with a code the runner's policy can act on.

use devflow_core::{Code, Error};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// `.or_db("append event")?` on a diesel result: the one place query errors get their code.
pub(crate) trait QueryResultExt<T> {
    fn or_db(self, what: &str) -> Result<T, Error>;
}

impl<T> QueryResultExt<T> for Result<T, DieselError> {
    fn or_db(self, what: &str) -> Result<T, Error> {
        self.map_err(|error| query_error(what, error))
    }
}

/// Maps a failed query. `what` names the operation for the message ("append event").
pub(crate) fn query_error(what: &str, error: DieselError) -> Error {
    let code = match &error {
        DieselError::DatabaseError(kind, info) => database_error_code(kind, info.message()),
        // A row that does not deserialize is stored state we cannot read.
        DieselError::DeserializationError(_) => Code::InternalStateCorruption,
        DieselError::BrokenTransactionManager => Code::DatabaseUnavailable,
        _ => Code::DatabaseFailed,
    };
    let hint = match code {
        Code::DatabaseBusy => {
            Some("another devflow process holds the database; retry, or stop the other writer")
        }
        Code::DatabaseUnavailable => Some("check that the database is reachable, then retry"),
        _ => None,
    };
    let error = Error::new(code, format!("{what}: {error}")).with_source(error);
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

fn database_error_code(kind: &DatabaseErrorKind, message: &str) -> Code {
    match kind {
        // Constraint violations mean the caller named a row that exists already or does not
        // exist (a duplicate run id, an event for a missing run): bad input, not a broken store.
        DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation => {
            Code::InvalidInput
        }
        DatabaseErrorKind::NotNullViolation | DatabaseErrorKind::CheckViolation => {
            Code::DatabaseFailed
        }
        // PostgreSQL aborts one side of a conflict; retrying the whole step is the cure.
        DatabaseErrorKind::SerializationFailure => Code::DatabaseBusy,
        DatabaseErrorKind::ClosedConnection => Code::DatabaseUnavailable,
        DatabaseErrorKind::ReadOnlyTransaction => Code::DatabaseFailed,
        _ => classify_message(message),
    }
}

/// SQLite reports BUSY, and PostgreSQL a deadlock, only through the message text.
fn classify_message(message: &str) -> Code {
    let message = message.to_ascii_lowercase();
    if message.contains("database is locked")
        || message.contains("database is busy")
        || message.contains("database table is locked")
        || message.contains("deadlock detected")
    {
        Code::DatabaseBusy
    } else if message.contains("file is not a database")
        || message.contains("unable to open database")
        || message.contains("disk i/o error")
        || message.contains("readonly database")
    {
        Code::DatabaseUnavailable
    } else {
        Code::DatabaseFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_is_database_busy() {
        assert_eq!(classify_message("database is locked"), Code::DatabaseBusy);
        assert_eq!(classify_message("file is not a database"), Code::DatabaseUnavailable);
        assert_eq!(classify_message("syntax error"), Code::DatabaseFailed);
    }
}
