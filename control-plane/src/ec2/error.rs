//! EC2's error codes (as the service sends them in `<Code>`; each is HTTP 400 unless noted) and
//! its wordings.

use axum::http::StatusCode;

use crate::front::{ApiError, ErrorCode, ServiceCode};

/// An EC2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `InvalidParameterValue`.
    InvalidParameterValue,
    /// `InvalidParameterCombination`.
    InvalidParameterCombination,
    /// `MissingParameter`.
    MissingParameter,
    /// `InvalidAMIID.NotFound`.
    AmiNotFound,
    /// `InvalidAMIID.Malformed`.
    AmiMalformed,
    /// `InvalidInstanceID.NotFound`.
    InstanceNotFound,
    /// `InvalidInstanceID.Malformed`.
    InstanceMalformed,
    /// `InvalidSubnetID.NotFound`.
    SubnetNotFound,
    /// `InvalidVpcID.NotFound`.
    VpcNotFound,
    /// `InvalidGroup.NotFound`.
    GroupNotFound,
    /// `InvalidGroup.Duplicate`.
    GroupDuplicate,
    /// `InvalidGroupId.Malformed`.
    GroupMalformed,
    /// `CannotDelete`.
    CannotDelete,
    /// `DependencyViolation`.
    DependencyViolation,
    /// `IncorrectInstanceState`.
    IncorrectInstanceState,
    /// `InvalidInstanceType`.
    InvalidInstanceType,
    /// `InsufficientInstanceCapacity` (HTTP 500 on EC2).
    InsufficientInstanceCapacity,
    /// `InvalidFilter`.
    InvalidFilter,
    /// `OperationNotPermitted`.
    OperationNotPermitted,
    /// `UnsupportedOperation`.
    UnsupportedOperation,
    /// `DryRunOperation` (HTTP 412: the request would have succeeded).
    DryRunOperation,
    /// `InvalidAction`.
    InvalidAction,
}

impl Code {
    /// The code's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Code::InvalidParameterValue => "InvalidParameterValue",
            Code::InvalidParameterCombination => "InvalidParameterCombination",
            Code::MissingParameter => "MissingParameter",
            Code::AmiNotFound => "InvalidAMIID.NotFound",
            Code::AmiMalformed => "InvalidAMIID.Malformed",
            Code::InstanceNotFound => "InvalidInstanceID.NotFound",
            Code::InstanceMalformed => "InvalidInstanceID.Malformed",
            Code::SubnetNotFound => "InvalidSubnetID.NotFound",
            Code::VpcNotFound => "InvalidVpcID.NotFound",
            Code::GroupNotFound => "InvalidGroup.NotFound",
            Code::GroupDuplicate => "InvalidGroup.Duplicate",
            Code::GroupMalformed => "InvalidGroupId.Malformed",
            Code::CannotDelete => "CannotDelete",
            Code::DependencyViolation => "DependencyViolation",
            Code::IncorrectInstanceState => "IncorrectInstanceState",
            Code::InvalidInstanceType => "InvalidInstanceType",
            Code::InsufficientInstanceCapacity => "InsufficientInstanceCapacity",
            Code::InvalidFilter => "InvalidFilter",
            Code::OperationNotPermitted => "OperationNotPermitted",
            Code::UnsupportedOperation => "UnsupportedOperation",
            Code::DryRunOperation => "DryRunOperation",
            Code::InvalidAction => "InvalidAction",
        }
    }

    /// The HTTP status EC2 answers it with. Exhaustive, so a new code forces a decision.
    pub fn status(self) -> StatusCode {
        match self {
            Code::InsufficientInstanceCapacity => StatusCode::INTERNAL_SERVER_ERROR,
            Code::DryRunOperation => StatusCode::PRECONDITION_FAILED,
            Code::InvalidParameterValue
            | Code::InvalidParameterCombination
            | Code::MissingParameter
            | Code::AmiNotFound
            | Code::AmiMalformed
            | Code::InstanceNotFound
            | Code::InstanceMalformed
            | Code::SubnetNotFound
            | Code::VpcNotFound
            | Code::GroupNotFound
            | Code::GroupDuplicate
            | Code::GroupMalformed
            | Code::CannotDelete
            | Code::DependencyViolation
            | Code::IncorrectInstanceState
            | Code::InvalidInstanceType
            | Code::InvalidFilter
            | Code::OperationNotPermitted
            | Code::UnsupportedOperation
            | Code::InvalidAction => StatusCode::BAD_REQUEST,
        }
    }

    /// An error with this code.
    pub fn err(self, message: impl Into<String>) -> ApiError {
        ApiError::new(
            ErrorCode::Service(ServiceCode {
                name: self.name(),
                status: self.status(),
            }),
            message,
        )
    }
}

/// `MissingParameter` for a required member.
pub fn missing(member: &str) -> ApiError {
    Code::MissingParameter.err(format!("The request must contain the parameter {member}"))
}

/// The answer to a `DryRun` request that would have succeeded.
pub fn dry_run_ok() -> ApiError {
    Code::DryRunOperation.err("Request would have succeeded, but DryRun flag is set.")
}

/// The code EC2 sends for an authentication failure the front found.
pub fn auth_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UnrecognizedClientException
        | ErrorCode::InvalidSignatureException
        | ErrorCode::MissingAuthenticationTokenException => "AuthFailure",
        ErrorCode::ExpiredTokenException => "RequestExpired",
        other => other.as_str(),
    }
}
