//! SigV4 verification of incoming requests (HTTP API calls and websocket upgrades).
//!
//! The signature is recomputed with `aws-sigv4` over exactly the headers the client says it signed, at the
//! instant it says it signed, and compared in constant time. This module owns no keys: it asks a
//! [`KeyLookup`] for the secret of an access key id. It must not log secrets or signatures.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use http::HeaderMap;

/// Why a request was refused. Mapped to AWS error codes by the API layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header (or not a SigV4 one).
    #[error("Missing Authentication Token")]
    Missing,
    /// The header could not be parsed.
    #[error(
        "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters: {0}"
    )]
    Malformed(String),
    /// The access key id is not known.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The session token does not match the temporary key.
    #[error("The security token included in the request is invalid.")]
    BadToken,
    /// The signature does not match.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    BadSignature,
    /// S3: `x-amz-content-sha256` is neither `UNSIGNED-PAYLOAD` nor the SHA-256 of the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// X-Amz-Date too far from now.
    #[error(
        "Signature expired: {0} is now earlier or later than the allowed clock skew of 15 minutes."
    )]
    Skew(String),
}

/// A secret known to the emulator: the account's long-term key or an issued temporary one.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    /// The secret access key.
    pub secret: String,
    /// For temporary credentials: the session token the caller must present.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("secret", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// Looks up the secret for an access key id.
pub trait KeyLookup {
    /// The secret for `access_key_id`, if the key is known.
    fn secret_for(&self, access_key_id: &str) -> Option<SecretKey>;
}

impl KeyLookup for BTreeMap<String, SecretKey> {
    fn secret_for(&self, access_key_id: &str) -> Option<SecretKey> {
        self.get(access_key_id).cloned()
    }
}

/// The identity a verified request was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Access key id used.
    pub access_key_id: String,
    /// Region of the credential scope.
    pub region: String,
    /// Service of the credential scope (`ecs`, `ecr`, `sts`, ...).
    pub service: String,
}

/// The access key id a request claims to be signed with, if it carries a SigV4 `Authorization`.
pub fn access_key_id(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    parse_auth_header(auth)
        .ok()
        .map(|a| a.access_key_id.to_string())
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`.
#[derive(Debug, PartialEq, Eq)]
struct AuthHeader<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_auth_header(value: &str) -> Result<AuthHeader<'_>, AuthError> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256")
        .ok_or(AuthError::Missing)?
        .trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(AuthError::Malformed("a parameter is missing".to_string()));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(AuthError::Malformed(format!(
            "Credential should be scoped to a valid region and service, not '{}'",
            scope.get(1..).map(|s| s.join("/")).unwrap_or_default()
        )));
    };
    Ok(AuthHeader {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').collect(),
        signature,
    })
}

fn parse_amz_date(value: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let dt = time::PrimitiveDateTime::parse(value, format).ok()?;
    let secs = u64::try_from(dt.assume_utc().unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// How the service being called canonicalises requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Every service but S3: the path is normalised and encoded twice, the body is hashed.
    Standard,
    /// S3: the path is used as sent (encoded once, not normalised) and the payload hash is the
    /// signed `x-amz-content-sha256` header, which must be `UNSIGNED-PAYLOAD` or the body's hash.
    S3,
}

/// The service of the credential scope of a request's SigV4 `Authorization` header, if any.
pub fn scope_service(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    parse_auth_header(auth).ok().map(|a| a.service.to_string())
}

/// Options for [`verify`].
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// The current time.
    pub now: SystemTime,
    /// Largest allowed distance between `X-Amz-Date` and `now`; `None` skips the check (fixture replay).
    pub max_skew: Option<Duration>,
    /// How to canonicalise the request.
    pub flavor: Flavor,
}

/// Verifies the SigV4 signature of a request.
///
/// `path_and_query` is the raw request target as received (already percent-encoded).
pub fn verify(
    keys: &impl KeyLookup,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    options: VerifyOptions,
) -> Result<Caller, AuthError> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::Missing)?;
    let auth = parse_auth_header(auth)?;
    let secret = keys
        .secret_for(auth.access_key_id)
        .ok_or(AuthError::UnknownKey)?;

    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let amz_date = header_str("x-amz-date")
        .ok_or_else(|| AuthError::Malformed("X-Amz-Date header is missing".to_string()))?;
    let signed_at = parse_amz_date(amz_date)
        .ok_or_else(|| AuthError::Malformed(format!("X-Amz-Date '{amz_date}' is not valid")))?;
    if !amz_date.starts_with(auth.date) {
        return Err(AuthError::Malformed(
            "the credential scope date does not match X-Amz-Date".to_string(),
        ));
    }
    if let Some(max) = options.max_skew {
        let skew = match options.now.duration_since(signed_at) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if skew > max {
            return Err(AuthError::Skew(amz_date.to_string()));
        }
    }

    let presented_token = header_str("x-amz-security-token");
    match (&secret.session_token, presented_token) {
        (Some(expected), Some(got)) if expected == got => {}
        (None, None) => {}
        _ => return Err(AuthError::BadToken),
    }
    let token_signed = auth.signed_headers.contains(&"x-amz-security-token");

    // Exactly the headers the client signed; aws-sigv4 re-adds x-amz-date and the session token itself.
    let mut signed: Vec<(&str, String)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        if *name == "x-amz-date" || *name == "x-amz-security-token" {
            continue;
        }
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(AuthError::BadSignature);
        }
        signed.push((name, values.join(",")));
    }
    let host = header_str("host").unwrap_or("localhost");
    let uri = format!("http://{host}{path_and_query}");

    let mut settings = SigningSettings::default();
    settings.excluded_headers = Some(Vec::new());
    let content_sha256 = header_str("x-amz-content-sha256");
    let signable_body = match (options.flavor, content_sha256) {
        (Flavor::Standard, _) | (Flavor::S3, None) => SignableBody::Bytes(body),
        (Flavor::S3, Some(UNSIGNED_PAYLOAD)) => SignableBody::UnsignedPayload,
        (Flavor::S3, Some(claimed)) => {
            let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
            if !claimed.eq_ignore_ascii_case(&actual) {
                return Err(AuthError::ContentSha256Mismatch);
            }
            SignableBody::Precomputed(claimed.to_string())
        }
    };
    if options.flavor == Flavor::S3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    settings.session_token_mode = if token_signed {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    let identity = Credentials::new(
        auth.access_key_id,
        secret.secret.clone(),
        secret.session_token.clone(),
        None,
        "ecs-control-plane",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| AuthError::Malformed(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        method,
        uri,
        signed.iter().map(|(k, v)| (*k, v.as_str())),
        signable_body,
    )
    .map_err(|e| AuthError::Malformed(e.to_string()))?;
    let (_, expected) = sign(request, &params)
        .map_err(|_| AuthError::BadSignature)?
        .into_parts();
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(Caller {
            access_key_id: auth.access_key_id.to_string(),
            region: auth.region.to_string(),
            service: auth.service.to_string(),
        })
    } else {
        Err(AuthError::BadSignature)
    }
}

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization_header() {
        let h = parse_auth_header(
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(h.access_key_id, "AKID");
        assert_eq!(h.region, "us-east-1");
        assert_eq!(h.service, "ecs");
        assert_eq!(h.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(h.signature, "abc");
    }

    #[test]
    fn refuses_bad_headers() {
        assert_eq!(parse_auth_header("Bearer x"), Err(AuthError::Missing));
        assert!(matches!(
            parse_auth_header(
                "AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=a"
            ),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            parse_auth_header("AWS4-HMAC-SHA256 Signature=a"),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn parses_amz_date() {
        let t = parse_amz_date("20261122T031213Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_795_317_133);
        assert!(parse_amz_date("2026-11-22").is_none());
    }
}
