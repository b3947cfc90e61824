//! S3's errors: its codes, their statuses, the `<Error>` document, and how a refused signature
//! reads in S3's words.

use axum::http::StatusCode;

use super::xml_escape;
use crate::front::AuthFailure;
use crate::front::sigv4::AuthError;

/// S3's error codes the emulator answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Code {
    /// The bucket does not exist.
    NoSuchBucket,
    /// The key does not exist.
    NoSuchKey,
    /// CreateBucket of a bucket the account has.
    BucketAlreadyOwnedByYou,
    /// DeleteBucket of a bucket with objects.
    BucketNotEmpty,
    /// A bucket name S3 would refuse.
    InvalidBucketName,
    /// No credentials, or not allowed.
    AccessDenied,
    /// The signature does not verify.
    SignatureDoesNotMatch,
    /// The access key id is unknown.
    InvalidAccessKeyId,
    /// The session token does not match the temporary key.
    InvalidToken,
    /// Temporary credentials past their expiry.
    ExpiredToken,
    /// The `Authorization` header cannot be parsed.
    AuthorizationHeaderMalformed,
    /// `X-Amz-Date` too far from now.
    RequestTimeTooSkewed,
    /// `x-amz-content-sha256` does not match the body.
    XAmzContentSHA256Mismatch,
    /// `Content-MD5` does not match the body.
    BadDigest,
    /// A body above [`MAX_OBJECT_SIZE`].
    EntityTooLarge,
    /// A parameter S3 would refuse.
    InvalidArgument,
    /// A path that does not decode.
    InvalidURI,
    /// An XML body that cannot be read.
    MalformedXML,
    /// A Range outside the object.
    InvalidRange,
    /// An operation or feature the emulator does not serve.
    NotImplemented,
    /// A method the resource does not support.
    MethodNotAllowed,
    /// A fault inside the emulator.
    InternalError,
}

impl S3Code {
    /// The code as S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            S3Code::NoSuchBucket => "NoSuchBucket",
            S3Code::NoSuchKey => "NoSuchKey",
            S3Code::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            S3Code::BucketNotEmpty => "BucketNotEmpty",
            S3Code::InvalidBucketName => "InvalidBucketName",
            S3Code::AccessDenied => "AccessDenied",
            S3Code::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            S3Code::InvalidAccessKeyId => "InvalidAccessKeyId",
            S3Code::InvalidToken => "InvalidToken",
            S3Code::ExpiredToken => "ExpiredToken",
            S3Code::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            S3Code::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            S3Code::XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            S3Code::BadDigest => "BadDigest",
            S3Code::EntityTooLarge => "EntityTooLarge",
            S3Code::InvalidArgument => "InvalidArgument",
            S3Code::InvalidURI => "InvalidURI",
            S3Code::MalformedXML => "MalformedXML",
            S3Code::InvalidRange => "InvalidRange",
            S3Code::NotImplemented => "NotImplemented",
            S3Code::MethodNotAllowed => "MethodNotAllowed",
            S3Code::InternalError => "InternalError",
        }
    }

    /// The HTTP status S3 uses. Exhaustive on purpose: a new code forces a decision.
    pub fn status(self) -> StatusCode {
        match self {
            S3Code::NoSuchBucket | S3Code::NoSuchKey => StatusCode::NOT_FOUND,
            S3Code::BucketAlreadyOwnedByYou | S3Code::BucketNotEmpty => StatusCode::CONFLICT,
            S3Code::AccessDenied
            | S3Code::SignatureDoesNotMatch
            | S3Code::InvalidAccessKeyId
            | S3Code::RequestTimeTooSkewed => StatusCode::FORBIDDEN,
            S3Code::InvalidBucketName
            | S3Code::InvalidToken
            | S3Code::ExpiredToken
            | S3Code::AuthorizationHeaderMalformed
            | S3Code::XAmzContentSHA256Mismatch
            | S3Code::BadDigest
            | S3Code::EntityTooLarge
            | S3Code::InvalidArgument
            | S3Code::InvalidURI
            | S3Code::MalformedXML => StatusCode::BAD_REQUEST,
            S3Code::InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            S3Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            S3Code::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            S3Code::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An S3 refusal: `<Error><Code>..</Code><Message>..</Message><Resource>..</Resource>..`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct S3Error {
    /// The code.
    pub code: S3Code,
    /// The human message, in S3's words where known.
    pub message: String,
    /// The bucket or object path concerned, if any.
    pub resource: Option<String>,
}

impl S3Error {
    /// An error without a resource.
    pub fn new(code: S3Code, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            resource: None,
        }
    }

    /// The same error naming `resource`.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub(crate) fn not_implemented(what: &str) -> Self {
        S3Error::new(
            S3Code::NotImplemented,
            format!("{what} is not implemented by this emulator."),
        )
    }
}

impl From<AuthFailure> for S3Error {
    fn from(e: AuthFailure) -> Self {
        let code = match &e {
            AuthFailure::Signature(a) => match a {
                AuthError::Missing => S3Code::AccessDenied,
                AuthError::Malformed(_) => S3Code::AuthorizationHeaderMalformed,
                AuthError::UnknownKey => S3Code::InvalidAccessKeyId,
                AuthError::BadToken => S3Code::InvalidToken,
                AuthError::BadSignature => S3Code::SignatureDoesNotMatch,
                AuthError::ContentSha256Mismatch => S3Code::XAmzContentSHA256Mismatch,
                AuthError::Skew(_) => S3Code::RequestTimeTooSkewed,
            },
            AuthFailure::Expired => S3Code::ExpiredToken,
        };
        let message = match (&e, code) {
            (_, S3Code::InvalidAccessKeyId) => {
                "The AWS Access Key Id you provided does not exist in our records.".to_string()
            }
            (AuthFailure::Signature(a), _) => a.to_string(),
            (AuthFailure::Expired, _) => "The provided token has expired.".to_string(),
        };
        S3Error::new(code, message)
    }
}

/// The error document.
pub fn error_xml(e: &S3Error, request_id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>"#,
        e.code.as_str(),
        xml_escape(&e.message),
        xml_escape(e.resource.as_deref().unwrap_or_default()),
    )
}
