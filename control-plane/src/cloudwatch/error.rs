//! CloudWatch's error codes and how each protocol carries them.
//!
//! CloudWatch is "query compatible": its codes are the query protocol's (`InvalidParameterValue`,
//! `MissingParameter`, ...), while the AWS JSON and RPC v2 CBOR answers name the model's error
//! shape in `__type` (`InvalidParameterValueException`) and give the query code in the
//! `x-amzn-query-error: <Code>;<Sender|Receiver>` header, which botocore prefers.
//!
//! Wordings: "The value NaN for parameter MetricData.member.1.Value is invalid.", "You have
//! requested up to 1,441 datapoints, which exceeds the limit of 1,440. You may reduce the
//! datapoints requested by increasing Period, or decreasing the time range." and "Metrics cannot
//! be checked across more than a day (EvaluationPeriods * Period must be <= 86400)." are
//! CloudWatch's as users quote them; the others follow the same patterns ("The value X for
//! parameter P is invalid.", "The parameter P is required.", "The parameters A and B are mutually
//! exclusive and you have specified both.") and are not verified one by one against AWS.

use axum::http::StatusCode;

use crate::front::{ApiError, ErrorCode, ServiceCode};

/// One CloudWatch error: its query code, its model shape name and its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CwError {
    /// A parameter's value is not valid.
    InvalidParameterValue,
    /// Parameters that cannot go together (or a request too large, such as too many datapoints).
    InvalidParameterCombination,
    /// A required parameter is missing.
    MissingParameter,
    /// The named alarm does not exist.
    ResourceNotFound,
    /// A `NextToken` CloudWatch did not hand out.
    InvalidNextToken,
    /// `StateReasonData` that is not JSON.
    InvalidFormat,
    /// Too many alarms.
    LimitExceeded,
    /// A fault inside the emulator.
    InternalServiceError,
}

const ALL: [CwError; 8] = [
    CwError::InvalidParameterValue,
    CwError::InvalidParameterCombination,
    CwError::MissingParameter,
    CwError::ResourceNotFound,
    CwError::InvalidNextToken,
    CwError::InvalidFormat,
    CwError::LimitExceeded,
    CwError::InternalServiceError,
];

impl CwError {
    /// The query protocol's code (what the AWS CLI prints).
    pub fn code(self) -> &'static str {
        match self {
            CwError::InvalidParameterValue => "InvalidParameterValue",
            CwError::InvalidParameterCombination => "InvalidParameterCombination",
            CwError::MissingParameter => "MissingParameter",
            CwError::ResourceNotFound => "ResourceNotFound",
            CwError::InvalidNextToken => "InvalidNextToken",
            CwError::InvalidFormat => "InvalidFormat",
            CwError::LimitExceeded => "LimitExceeded",
            CwError::InternalServiceError => "InternalServiceError",
        }
    }

    /// The model's error shape (`__type` in AWS JSON and CBOR answers).
    pub fn shape(self) -> &'static str {
        match self {
            CwError::InvalidParameterValue => "InvalidParameterValueException",
            CwError::InvalidParameterCombination => "InvalidParameterCombinationException",
            CwError::MissingParameter => "MissingRequiredParameterException",
            CwError::ResourceNotFound => "ResourceNotFound",
            CwError::InvalidNextToken => "InvalidNextToken",
            CwError::InvalidFormat => "InvalidFormatFault",
            CwError::LimitExceeded => "LimitExceededFault",
            CwError::InternalServiceError => "InternalServiceFault",
        }
    }

    /// The HTTP status CloudWatch answers it with.
    pub fn status(self) -> StatusCode {
        match self {
            CwError::InvalidParameterValue
            | CwError::InvalidParameterCombination
            | CwError::MissingParameter
            | CwError::InvalidNextToken
            | CwError::InvalidFormat
            | CwError::LimitExceeded => StatusCode::BAD_REQUEST,
            CwError::ResourceNotFound => StatusCode::NOT_FOUND,
            CwError::InternalServiceError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// This error with `message`.
    pub fn with(self, message: impl Into<String>) -> ApiError {
        ApiError::new(
            ErrorCode::Service(ServiceCode {
                name: self.code(),
                status: self.status(),
            }),
            message,
        )
    }
}

/// `InvalidParameterValue` with `message`.
pub fn invalid(message: impl Into<String>) -> ApiError {
    CwError::InvalidParameterValue.with(message)
}

/// `InvalidParameterValue`: "The value X for parameter P is invalid."
pub fn invalid_value(value: impl std::fmt::Display, parameter: &str) -> ApiError {
    invalid(format!(
        "The value {value} for parameter {parameter} is invalid."
    ))
}

/// `MissingParameter`: "The parameter P is required."
pub fn missing(parameter: &str) -> ApiError {
    CwError::MissingParameter.with(format!("The parameter {parameter} is required."))
}

/// `InvalidParameterCombination` with `message`.
pub fn combination(message: impl Into<String>) -> ApiError {
    CwError::InvalidParameterCombination.with(message)
}

/// `InvalidNextToken`.
pub fn bad_token() -> ApiError {
    CwError::InvalidNextToken.with("The service cannot process the given NextToken.")
}

/// The (query code, shape name, sender fault) of any error a CloudWatch call returns: its own
/// codes, and the front's shared ones (signature failures, malformed bodies) as they are.
pub fn describe(e: &ApiError) -> (&'static str, &'static str, bool) {
    let code = e.code.as_str();
    let sender = !e.code.status().is_server_error();
    match ALL.iter().find(|c| c.code() == code) {
        Some(c) => (c.code(), c.shape(), sender),
        None => (code, code, sender),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes and codes are the botocore model's (`error.code` of each exception shape).
    #[test]
    fn codes_and_shapes_are_the_models() {
        let e = invalid_value("NaN", "MetricData.member.1.Value");
        assert_eq!(
            describe(&e),
            (
                "InvalidParameterValue",
                "InvalidParameterValueException",
                true
            )
        );
        assert_eq!(
            e.message,
            "The value NaN for parameter MetricData.member.1.Value is invalid."
        );
        assert_eq!(
            describe(&missing("Namespace")),
            (
                "MissingParameter",
                "MissingRequiredParameterException",
                true
            )
        );
        let nf = CwError::ResourceNotFound.with("x");
        assert_eq!(nf.code.status(), StatusCode::NOT_FOUND);
        let other = ApiError::new(ErrorCode::SerializationException, "bad");
        assert_eq!(
            describe(&other),
            ("SerializationException", "SerializationException", true)
        );
    }
}
