//! ELBv2's own error codes (botocore's `error.code` of each exception shape; all HTTP 400) and
//! the service's wordings.

use axum::http::StatusCode;

use crate::front::{ApiError, ErrorCode, ServiceCode};

/// An ELBv2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `LoadBalancerNotFound`.
    LoadBalancerNotFound,
    /// `DuplicateLoadBalancerName`.
    DuplicateLoadBalancerName,
    /// `TargetGroupNotFound`.
    TargetGroupNotFound,
    /// `DuplicateTargetGroupName`.
    DuplicateTargetGroupName,
    /// `ListenerNotFound`.
    ListenerNotFound,
    /// `DuplicateListener`.
    DuplicateListener,
    /// `RuleNotFound`.
    RuleNotFound,
    /// `PriorityInUse`.
    PriorityInUse,
    /// `ResourceInUse`.
    ResourceInUse,
    /// `InvalidConfigurationRequest`.
    InvalidConfigurationRequest,
    /// `InvalidTarget`.
    InvalidTarget,
    /// `InvalidSubnet`.
    InvalidSubnet,
    /// `InvalidSecurityGroup`.
    InvalidSecurityGroup,
    /// `OperationNotPermitted`.
    OperationNotPermitted,
    /// `DuplicateTagKeys`.
    DuplicateTagKeys,
    /// `TooManyTags`.
    TooManyTags,
    /// `IncompatibleProtocols`.
    IncompatibleProtocols,
    /// `InvalidLoadBalancerAction`.
    InvalidLoadBalancerAction,
    /// `TargetGroupAssociationLimit`.
    TargetGroupAssociationLimit,
    /// `UnsupportedProtocol`.
    UnsupportedProtocol,
    /// `TooManyActions`.
    TooManyActions,
}

impl Code {
    /// The code's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Code::LoadBalancerNotFound => "LoadBalancerNotFound",
            Code::DuplicateLoadBalancerName => "DuplicateLoadBalancerName",
            Code::TargetGroupNotFound => "TargetGroupNotFound",
            Code::DuplicateTargetGroupName => "DuplicateTargetGroupName",
            Code::ListenerNotFound => "ListenerNotFound",
            Code::DuplicateListener => "DuplicateListener",
            Code::RuleNotFound => "RuleNotFound",
            Code::PriorityInUse => "PriorityInUse",
            Code::ResourceInUse => "ResourceInUse",
            Code::InvalidConfigurationRequest => "InvalidConfigurationRequest",
            Code::InvalidTarget => "InvalidTarget",
            Code::InvalidSubnet => "InvalidSubnet",
            Code::InvalidSecurityGroup => "InvalidSecurityGroup",
            Code::OperationNotPermitted => "OperationNotPermitted",
            Code::DuplicateTagKeys => "DuplicateTagKeys",
            Code::TooManyTags => "TooManyTags",
            Code::IncompatibleProtocols => "IncompatibleProtocols",
            Code::InvalidLoadBalancerAction => "InvalidLoadBalancerAction",
            Code::TargetGroupAssociationLimit => "TargetGroupAssociationLimit",
            Code::UnsupportedProtocol => "UnsupportedProtocol",
            Code::TooManyActions => "TooManyActions",
        }
    }

    /// The HTTP status; every modeled ELBv2 client error is 400 (botocore's
    /// `httpStatusCode`). Exhaustive, so a new code forces a decision.
    pub fn status(self) -> StatusCode {
        match self {
            Code::LoadBalancerNotFound
            | Code::DuplicateLoadBalancerName
            | Code::TargetGroupNotFound
            | Code::DuplicateTargetGroupName
            | Code::ListenerNotFound
            | Code::DuplicateListener
            | Code::RuleNotFound
            | Code::PriorityInUse
            | Code::ResourceInUse
            | Code::InvalidConfigurationRequest
            | Code::InvalidTarget
            | Code::InvalidSubnet
            | Code::InvalidSecurityGroup
            | Code::OperationNotPermitted
            | Code::DuplicateTagKeys
            | Code::TooManyTags
            | Code::IncompatibleProtocols
            | Code::InvalidLoadBalancerAction
            | Code::TargetGroupAssociationLimit
            | Code::UnsupportedProtocol
            | Code::TooManyActions => StatusCode::BAD_REQUEST,
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

/// `ValidationError` (the query protocol's shared code for malformed members).
pub fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationError, message)
}

/// `InvalidConfigurationRequest`.
pub fn invalid_config(message: impl Into<String>) -> ApiError {
    Code::InvalidConfigurationRequest.err(message)
}
