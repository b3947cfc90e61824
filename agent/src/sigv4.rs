//! SigV4 for the requests the agent builds itself (the ACS and TCS websocket upgrades, the AWS
//! JSON calls of [`crate::aws_json`]): the headers aws-sigv4 says to add. The SDK clients sign
//! their own requests.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

/// The headers that sign `method url` with `headers` (which the signature covers) and `body`,
/// for `service` in `region` at `at`: `authorization`, `x-amz-date`, and `x-amz-security-token`
/// with temporary credentials. Errs with aws-sigv4's words.
#[allow(clippy::too_many_arguments)] // one signing request, field by field
pub fn signing_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    service: &str,
    at: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect())
}
