//! The one place where query errors become gRPC status codes.
//!
//! The set of codes is deliberately small: a client can act on each.

use lineage_proto::validate::FieldError;

/// Why a query was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the client must fix the named field.
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// The entity does not exist; retrying will not help until events arrive.
    #[error("{0}")]
    NotFound(String),
    /// The service is still replaying its log; retry shortly.
    #[error("{0}")]
    NotReady(String),
    /// The one slot for this kind of work is taken; retry when it is free.
    #[error("{0}")]
    Busy(String),
    /// The graph had not applied what the request waited for by its
    /// deadline; retry later, or with a longer deadline.
    #[error("{0}")]
    NotYet(String),
    /// The log could not be read; retry once the storage is back.
    #[error("storage: {0}")]
    Storage(String),
    /// No credentials, or ones the service does not know.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller lacks the role or the workspace the call needs.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is well formed but the state it needs is missing (a
    /// promotion check of a model without stored criteria); retrying
    /// will not help until that state exists.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A bug or a lost task; report it.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        ApiError::InvalidArgument {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::InvalidArgument {
            field: error.field,
            reason: error.reason,
        }
    }
}

impl ApiError {
    /// The HTTP status of this error on the HTTP API: the same meaning as
    /// its gRPC code below (the gRPC-HTTP mapping of google.rpc.Code).
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            ApiError::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotReady(_) | ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotYet(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            ApiError::FailedPrecondition(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        match &error {
            ApiError::InvalidArgument { .. } => tonic::Status::invalid_argument(error.to_string()),
            ApiError::NotFound(_) => tonic::Status::not_found(error.to_string()),
            ApiError::NotReady(_) | ApiError::Storage(_) => {
                tonic::Status::unavailable(error.to_string())
            }
            ApiError::Busy(_) => tonic::Status::resource_exhausted(error.to_string()),
            ApiError::NotYet(_) => tonic::Status::deadline_exceeded(error.to_string()),
            ApiError::Unauthenticated(_) => tonic::Status::unauthenticated(error.to_string()),
            ApiError::PermissionDenied(_) => tonic::Status::permission_denied(error.to_string()),
            ApiError::FailedPrecondition(_) => {
                tonic::Status::failed_precondition(error.to_string())
            }
            ApiError::Internal(_) => tonic::Status::internal(error.to_string()),
        }
    }
}
