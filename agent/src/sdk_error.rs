//! AWS SDK errors in words: the one description of an `SdkError` that the ECS client
//! ([`crate::control`]) and the ECR token fetch ([`crate::images`]) put in their own errors. Pure;
//! it depends on no other module of the agent.

use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// An SDK error as `(code, message)`: the service's when it answered, else the SDK's description.
pub fn describe<E, R>(err: &SdkError<E, R>) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            (
                e.code().map(str::to_string),
                e.message().unwrap_or("no message").to_string(),
            )
        }
        other => (None, DisplayErrorContext(other).to_string()),
    }
}
