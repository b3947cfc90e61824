//! SigV4 for the requests the agent builds itself (the ACS and TCS websocket upgrades, the AWS
//! JSON calls of [`crate::aws_json`]): the headers aws-sigv4 says to add. The SDK clients sign
//! their own requests.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

/// The settings of every service but S3.
pub fn default_settings() -> SigningSettings {
    SigningSettings::default()
}

/// S3's: the path encoded once and not normalised, and the payload's SHA-256 signed in
/// `x-amz-content-sha256`.
pub fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings
}

/// The headers that sign `method url` with `headers` (which the signature covers) and `body`,
/// for `service` in `region` at `at` with `settings`: `authorization`, `x-amz-date`, and
/// `x-amz-security-token` with temporary credentials (and `x-amz-content-sha256` for S3). Errs
/// with aws-sigv4's words.
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
    settings: SigningSettings,
) -> Result<Vec<(String, String)>, String> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(settings)
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
