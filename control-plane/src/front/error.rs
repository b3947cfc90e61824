//! AWS-shaped API errors: one code enum, one exhaustive mapping to HTTP status.
//!
//! Every error leaves the emulator as `{"__type":"<Code>","message":"..."}` with the same code in
//! `x-amzn-ErrorType`, which is what botocore (body) and the Rust SDK (header first) parse.

use axum::http::StatusCode;

/// The error codes the emulator answers with (AWS short names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A body that is not the JSON the operation expects.
    SerializationException,
    /// An `X-Amz-Target` naming no known operation.
    UnknownOperationException,
    /// An unsigned request.
    MissingAuthenticationTokenException,
    /// An unknown access key or session token.
    UnrecognizedClientException,
    /// A signature that does not verify.
    InvalidSignatureException,
    /// ECS: a parameter is not valid.
    InvalidParameterException,
    /// ECS: a client-side error (bad reference, bad state).
    ClientException,
    /// ECS: the named cluster does not exist.
    ClusterNotFoundException,
    /// ECS: the cluster still has instances or tasks.
    ClusterContainsContainerInstancesException,
    /// ECS: the cluster still has tasks.
    ClusterContainsTasksException,
    /// ECS: the cluster still has ACTIVE services.
    ClusterContainsServicesException,
    /// ECS: the named service does not exist (or is INACTIVE).
    ServiceNotFoundException,
    /// ECS: the service is not ACTIVE (UpdateService on a DRAINING or INACTIVE one).
    ServiceNotActiveException,
    /// ECS: the resource (e.g. task definition) is not found.
    ResourceNotFoundException,
    /// CloudWatch Logs: the log group or stream already exists.
    ResourceAlreadyExistsException,
    /// ECS: an attribute limit is exceeded.
    AttributeLimitExceededException,
    /// ECS: the target (instance) for attributes is not found.
    TargetNotFoundException,
    /// Temporary credentials past their expiry.
    ExpiredTokenException,
    /// STS: a parameter is not valid.
    ValidationError,
    /// STS: unknown Action.
    InvalidAction,
    /// ECR: the repository does not exist.
    RepositoryNotFoundException,
    /// ECR: the repository exists already.
    RepositoryAlreadyExistsException,
    /// ECR: the repository still holds images (DeleteRepository without force).
    RepositoryNotEmptyException,
    /// ECR: the image does not exist.
    ImageNotFoundException,
    /// SSM: the parameter does not exist.
    ParameterNotFound,
    /// SSM: PutParameter without Overwrite on an existing parameter.
    ParameterAlreadyExists,
    /// SSM: the `name:version` selector names no version.
    ParameterVersionNotFound,
    /// SSM: a request member breaks a constraint (name, value, type, sizes).
    ValidationException,
    /// SSM: a `NextToken` the service did not hand out.
    InvalidNextToken,
    /// Secrets Manager: the request is not valid in the secret's state (e.g. marked for deletion).
    InvalidRequestException,
    /// Secrets Manager: the secret (or version) exists already.
    ResourceExistsException,
    /// Secrets Manager: a `NextToken` the service did not hand out.
    InvalidNextTokenException,
    /// A fault inside the emulator.
    ServerException,
    /// A code a service defines in its own folder (its own enum converted with `From`), so a new
    /// service adds its codes without editing this list.
    Service(ServiceCode),
}

/// An error code owned by one service: its name on the wire and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCode {
    /// The name that goes into `__type` (or the XML `Code`).
    pub name: &'static str,
    /// The HTTP status AWS answers it with.
    pub status: StatusCode,
}

impl ErrorCode {
    /// The name that goes into `__type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::SerializationException => "SerializationException",
            ErrorCode::UnknownOperationException => "UnknownOperationException",
            ErrorCode::MissingAuthenticationTokenException => "MissingAuthenticationTokenException",
            ErrorCode::UnrecognizedClientException => "UnrecognizedClientException",
            ErrorCode::InvalidSignatureException => "InvalidSignatureException",
            ErrorCode::InvalidParameterException => "InvalidParameterException",
            ErrorCode::ClientException => "ClientException",
            ErrorCode::ClusterNotFoundException => "ClusterNotFoundException",
            ErrorCode::ClusterContainsContainerInstancesException => {
                "ClusterContainsContainerInstancesException"
            }
            ErrorCode::ClusterContainsTasksException => "ClusterContainsTasksException",
            ErrorCode::ClusterContainsServicesException => "ClusterContainsServicesException",
            ErrorCode::ServiceNotFoundException => "ServiceNotFoundException",
            ErrorCode::ServiceNotActiveException => "ServiceNotActiveException",
            ErrorCode::ResourceNotFoundException => "ResourceNotFoundException",
            ErrorCode::ResourceAlreadyExistsException => "ResourceAlreadyExistsException",
            ErrorCode::AttributeLimitExceededException => "AttributeLimitExceededException",
            ErrorCode::TargetNotFoundException => "TargetNotFoundException",
            ErrorCode::ExpiredTokenException => "ExpiredTokenException",
            ErrorCode::ValidationError => "ValidationError",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::RepositoryNotFoundException => "RepositoryNotFoundException",
            ErrorCode::RepositoryAlreadyExistsException => "RepositoryAlreadyExistsException",
            ErrorCode::RepositoryNotEmptyException => "RepositoryNotEmptyException",
            ErrorCode::ImageNotFoundException => "ImageNotFoundException",
            ErrorCode::ParameterNotFound => "ParameterNotFound",
            ErrorCode::ParameterAlreadyExists => "ParameterAlreadyExists",
            ErrorCode::ParameterVersionNotFound => "ParameterVersionNotFound",
            ErrorCode::ValidationException => "ValidationException",
            ErrorCode::InvalidNextToken => "InvalidNextToken",
            ErrorCode::InvalidRequestException => "InvalidRequestException",
            ErrorCode::ResourceExistsException => "ResourceExistsException",
            ErrorCode::InvalidNextTokenException => "InvalidNextTokenException",
            ErrorCode::ServerException => "ServerException",
            ErrorCode::Service(c) => c.name,
        }
    }

    /// The HTTP status AWS uses for this code. Exhaustive on purpose: a new code forces a decision.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::SerializationException
            | ErrorCode::UnknownOperationException
            | ErrorCode::InvalidParameterException
            | ErrorCode::ClientException
            | ErrorCode::ClusterNotFoundException
            | ErrorCode::ClusterContainsContainerInstancesException
            | ErrorCode::ClusterContainsTasksException
            | ErrorCode::ClusterContainsServicesException
            | ErrorCode::ServiceNotFoundException
            | ErrorCode::ServiceNotActiveException
            | ErrorCode::ResourceNotFoundException
            | ErrorCode::ResourceAlreadyExistsException
            | ErrorCode::AttributeLimitExceededException
            | ErrorCode::TargetNotFoundException
            | ErrorCode::ValidationError
            | ErrorCode::InvalidAction
            | ErrorCode::RepositoryNotFoundException
            | ErrorCode::RepositoryAlreadyExistsException
            | ErrorCode::RepositoryNotEmptyException
            | ErrorCode::ImageNotFoundException
            | ErrorCode::ParameterNotFound
            | ErrorCode::ParameterAlreadyExists
            | ErrorCode::ParameterVersionNotFound
            | ErrorCode::ValidationException
            | ErrorCode::InvalidNextToken
            | ErrorCode::InvalidRequestException
            | ErrorCode::ResourceExistsException
            | ErrorCode::InvalidNextTokenException => StatusCode::BAD_REQUEST,
            ErrorCode::MissingAuthenticationTokenException
            | ErrorCode::UnrecognizedClientException
            | ErrorCode::InvalidSignatureException
            | ErrorCode::ExpiredTokenException => StatusCode::FORBIDDEN,
            ErrorCode::ServerException => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Service(c) => c.status,
        }
    }
}

/// An error answered to an API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    /// The AWS error code.
    pub code: ErrorCode,
    /// The human message, in ECS's words where we know them.
    pub message: String,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// `InvalidParameterException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterException, message)
    }

    /// `ClientException`.
    pub fn client(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ClientException, message)
    }

    /// `ClusterNotFoundException` with ECS's message.
    pub fn cluster_not_found() -> Self {
        Self::new(ErrorCode::ClusterNotFoundException, "Cluster not found.")
    }

    /// `ServerException` (HTTP 500).
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServerException, message)
    }
}

impl From<super::sigv4::AuthError> for ApiError {
    fn from(e: super::sigv4::AuthError) -> Self {
        use super::sigv4::AuthError;
        let code = match &e {
            AuthError::Missing => ErrorCode::MissingAuthenticationTokenException,
            AuthError::Malformed(_) => ErrorCode::InvalidSignatureException,
            AuthError::UnknownKey | AuthError::BadToken => ErrorCode::UnrecognizedClientException,
            AuthError::BadSignature | AuthError::Skew(_) | AuthError::ContentSha256Mismatch => {
                ErrorCode::InvalidSignatureException
            }
        };
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_code_keeps_its_name_and_status() {
        const NOT_FOUND: ServiceCode = ServiceCode {
            name: "LoadBalancerNotFound",
            status: StatusCode::BAD_REQUEST,
        };
        let e = ApiError::new(
            ErrorCode::Service(NOT_FOUND),
            "One or more load balancers not found",
        );
        assert_eq!(e.code.as_str(), "LoadBalancerNotFound");
        assert_eq!(e.code.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            "LoadBalancerNotFound: One or more load balancers not found"
        );
    }
}
