//! Decoding AWS JSON request bodies.

use serde::de::DeserializeOwned;

use super::error::{ApiError, ErrorCode};

/// Decodes a request body into `T` (an empty body as `{}`), mapping failures to
/// `SerializationException`.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::SerializationException,
            format!("Cannot deserialize the request: {e}"),
        )
    })
}
