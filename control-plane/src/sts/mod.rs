//! STS over the AWS query protocol (form body in, XML out): GetCallerIdentity, GetSessionToken and
//! AssumeRole. The temporary keys it issues are kept by their owner, [`keys::TempKeys`], which
//! authentication asks; every later request signed with one must carry the matching session token.

pub mod keys;

use std::collections::BTreeMap;

use axum::response::Response;
use futures_util::future::BoxFuture;

use crate::front::render::{self, xml_escape as esc};
use crate::front::sigv4::Flavor;
use crate::front::{
    ApiError, CallerIdentity, ErrorCode, Input, Output, Protocol, Refusal, RequestContext, Service,
    ServiceInfo,
};
use keys::{TempKey, TempKeys, random_role_id};

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The emulated STS.
#[derive(Debug, Clone)]
pub struct Sts {
    keys: TempKeys,
    account_id: String,
}

impl Sts {
    /// STS of `account_id`, issuing into `keys`.
    pub fn new(keys: TempKeys, account_id: impl Into<String>) -> Self {
        Sts {
            keys,
            account_id: account_id.into(),
        }
    }
}

impl Service for Sts {
    fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: "sts",
            signing_name: "sts",
            protocol: Protocol::Query,
            flavor: Flavor::Standard,
            max_body: 1 << 20,
        }
    }

    fn call(&self, ctx: RequestContext, input: Input) -> BoxFuture<'_, Result<Output, ApiError>> {
        Box::pin(async move {
            let Input::Query { params } = input else {
                return Err(ApiError::new(
                    ErrorCode::InvalidAction,
                    "STS speaks the query protocol.",
                ));
            };
            handle(&self.keys, &self.account_id, &ctx.caller, &params, ctx.now).map(Output::Xml)
        })
    }

    fn refuse(&self, request_id: &str, _method: &http::Method, refusal: Refusal) -> Response {
        self.error(request_id, refusal.into_error())
    }

    fn error(&self, request_id: &str, e: ApiError) -> Response {
        render::xml(e.code.status(), request_id, error_xml(&e, request_id))
    }
}

/// Epoch seconds as `2026-11-22T09:00:00Z`.
pub fn iso8601(epoch: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let t = time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format).unwrap_or_default()
}

/// Answers one STS query-protocol request; returns the XML body.
pub fn handle(
    keys: &TempKeys,
    account: &str,
    caller: &CallerIdentity,
    form: &BTreeMap<String, String>,
    now: f64,
) -> Result<String, ApiError> {
    let action = form.get("Action").map(String::as_str).unwrap_or_default();
    let request_id = uuid::Uuid::new_v4();
    let duration = |default: i64, min: i64, max: i64| -> Result<i64, ApiError> {
        let d = match form.get("DurationSeconds") {
            Some(v) => v.parse::<i64>().map_err(|_| {
                ApiError::new(
                    ErrorCode::ValidationError,
                    "DurationSeconds must be a number",
                )
            })?,
            None => default,
        };
        if !(min..=max).contains(&d) {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                format!(
                    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between {min} and {max}"
                ),
            ));
        }
        Ok(d)
    };
    match action {
        "GetCallerIdentity" => Ok(format!(
            r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#,
            esc(&caller.arn),
            esc(&caller.user_id)
        )),
        "GetSessionToken" => {
            let d = duration(43_200, 900, 129_600)?;
            let key = issue(keys, caller.arn.clone(), caller.user_id.clone(), now, d);
            Ok(format!(
                r#"<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetSessionTokenResult>{}</GetSessionTokenResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></GetSessionTokenResponse>"#,
                credentials_xml(&key)
            ))
        }
        "AssumeRole" => {
            let role_arn = form
                .get("RoleArn")
                .ok_or_else(|| ApiError::new(ErrorCode::ValidationError, "RoleArn is required"))?;
            let session = form.get("RoleSessionName").ok_or_else(|| {
                ApiError::new(ErrorCode::ValidationError, "RoleSessionName is required")
            })?;
            let role_name = role_arn
                .strip_prefix("arn:aws:iam::")
                .and_then(|r| r.split_once(":role/"))
                .map(|(_, name)| name.rsplit('/').next().unwrap_or(name).to_string())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ValidationError,
                        format!("{role_arn} is not a valid role ARN"),
                    )
                })?;
            let d = duration(3600, 900, 43_200)?;
            let role_id = random_role_id();
            let arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
            let key = issue(keys, arn.clone(), format!("{role_id}:{session}"), now, d);
            Ok(format!(
                r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>{}</AssumeRoleResult><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></AssumeRoleResponse>"#,
                esc(&format!("{role_id}:{session}")),
                esc(&arn),
                credentials_xml(&key)
            ))
        }
        other => Err(ApiError::new(
            ErrorCode::InvalidAction,
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    }
}

fn credentials_xml(k: &TempKey) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        k.access_key_id,
        esc(&k.secret_access_key),
        esc(&k.session_token),
        iso8601(k.expiration)
    )
}

fn issue(keys: &TempKeys, arn: String, user_id: String, now: f64, seconds: i64) -> TempKey {
    keys.issue(arn, user_id, now, seconds, None)
}

/// STS's own names for the authentication errors (the JSON APIs' names otherwise).
fn sts_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ExpiredTokenException => "ExpiredToken",
        ErrorCode::UnrecognizedClientException => "InvalidClientTokenId",
        other => other.as_str(),
    }
}

/// The STS error document.
pub fn error_xml(e: &ApiError, request_id: &str) -> String {
    render::query_error_xml(Some(XMLNS), sts_code(e.code), e, request_id)
}
