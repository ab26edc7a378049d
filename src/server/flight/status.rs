//! Engine errors as gRPC statuses: a status code a Flight client can act on, the same
//! message the shell prints, and the PostgreSQL SQLSTATE in the `x-sqlstate` metadata so
//! that both protocols classify an error the same way.

use datafusion::error::DataFusionError;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::server::sqlstate;

/// The metadata key that carries the SQLSTATE of an error.
pub(crate) const SQLSTATE_KEY: &str = "x-sqlstate";

/// An engine error as the client sees it.
pub(crate) fn status(error: &DataFusionError) -> Status {
    let code = sqlstate::sqlstate(error);
    with_sqlstate(grpc_code(code), code, crate::error::user_message(error))
}

/// A status with `sqlstate` attached.
pub(crate) fn with_sqlstate(code: Code, sqlstate: &str, message: String) -> Status {
    let mut status = Status::new(code, message);
    if let Ok(value) = MetadataValue::try_from(sqlstate) {
        status.metadata_mut().insert(SQLSTATE_KEY, value);
    }
    status
}

/// The gRPC code that fits a SQLSTATE best.
fn grpc_code(sqlstate: &str) -> Code {
    match sqlstate {
        sqlstate::UNDEFINED_TABLE => Code::NotFound,
        sqlstate::NOT_IMPLEMENTED => Code::Unimplemented,
        sqlstate::OUT_OF_MEMORY | sqlstate::TOO_MANY_CONNECTIONS => Code::ResourceExhausted,
        sqlstate::READ_ONLY | sqlstate::INSUFFICIENT_PRIVILEGE => Code::PermissionDenied,
        sqlstate::QUERY_CANCELED => Code::Cancelled,
        sqlstate::IO_ERROR | sqlstate::INTERNAL_ERROR => Code::Internal,
        _ => Code::InvalidArgument,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_sqlstate() {
        let error = DataFusionError::Plan("table 'datafusion.public.t' not found".into());
        let status = status(&error);
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status
                .metadata()
                .get(SQLSTATE_KEY)
                .and_then(|v| v.to_str().ok()),
            Some(sqlstate::UNDEFINED_TABLE)
        );
        let todo = DataFusionError::NotImplemented("x".into());
        assert_eq!(super::status(&todo).code(), Code::Unimplemented);
        let denied = crate::FileAccess::confined(".")
            .unwrap()
            .resolve_read("/etc/passwd")
            .unwrap_err();
        assert_eq!(super::status(&denied).code(), Code::PermissionDenied);
    }
}
