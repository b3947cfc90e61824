//! STS over the AWS query protocol (form body in, XML out): GetCallerIdentity, GetSessionToken and
//! AssumeRole. Temporary credentials are kept by the state actor (persisted, with their expiry), and
//! every later request signed with them must carry the matching session token.

use std::collections::BTreeMap;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorCode};
use crate::state::{Key, State};

/// A temporary key pair issued by the emulator.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TempKey {
    /// `ASIA...`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token the caller must send.
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: f64,
    /// The identity's ARN (`...:assumed-role/<role>/<session>` or the account root).
    pub arn: String,
    /// The user id GetCallerIdentity reports.
    pub user_id: String,
    /// The task role these credentials were issued for (task IAM roles, `crate::roles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<crate::roles::TaskRoleBinding>,
}

impl std::fmt::Debug for TempKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempKey")
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// XML-escapes text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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

/// Who signed a request, as the STS operations need it.
#[derive(Debug, Clone)]
pub struct CallerIdentity {
    /// Access key used.
    pub access_key_id: String,
    /// ARN of the identity.
    pub arn: String,
    /// User id.
    pub user_id: String,
}

/// Answers one STS query-protocol request; returns the XML body.
pub fn handle(
    state: &mut State,
    caller: &CallerIdentity,
    form: &BTreeMap<String, String>,
    now: f64,
) -> Result<String, ApiError> {
    let action = form.get("Action").map(String::as_str).unwrap_or_default();
    let request_id = uuid::Uuid::new_v4();
    let account = state.account.account_id.clone();
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
            let key = issue(state, caller.arn.clone(), caller.user_id.clone(), now, d);
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
            let role_id = format!("AROA{}", random_string(17, UPPER_DIGITS));
            let arn = format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}");
            let key = issue(state, arn.clone(), format!("{role_id}:{session}"), now, d);
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

/// A stable `AROA...` role id for a role ARN (the same role always has the same id).
pub fn role_id(role_arn: &str) -> String {
    // FNV-1a, twice with different seeds, spelled in the key alphabet.
    let hash = |seed: u64| {
        role_arn.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    let digits: String = (0..17)
        .map(|i| {
            let v = if i < 12 {
                a >> (i * 5)
            } else {
                b >> ((i - 12) * 5)
            };
            #[allow(clippy::cast_possible_truncation)]
            char::from(UPPER_DIGITS[(v & 31) as usize])
        })
        .collect();
    format!("AROA{digits}")
}

/// Keys expired longer ago than this are forgotten (until then they answer ExpiredToken).
const FORGET_EXPIRED_AFTER_SECS: f64 = 3600.0;

fn issue(state: &mut State, arn: String, user_id: String, now: f64, seconds: i64) -> TempKey {
    issue_key(state, arn, user_id, now, seconds, None)
}

/// Issues (and keeps) a temporary key for `arn`, valid `seconds` from `now`.
pub fn issue_key(
    state: &mut State,
    arn: String,
    user_id: String,
    now: f64,
    seconds: i64,
    task: Option<crate::roles::TaskRoleBinding>,
) -> TempKey {
    #[allow(clippy::cast_precision_loss)]
    let key = TempKey {
        access_key_id: format!("ASIA{}", random_string(16, UPPER_DIGITS)),
        secret_access_key: random_string(40, SECRET_CHARS),
        session_token: random_string(300, SECRET_CHARS),
        expiration: now + seconds as f64,
        arn,
        user_id,
        task,
    };
    // Long-expired keys are dropped whenever a new one is issued, so the table stays small.
    let expired: Vec<String> = state
        .temp_keys
        .values()
        .filter(|k| k.expiration + FORGET_EXPIRED_AFTER_SECS < now)
        .map(|k| k.access_key_id.clone())
        .collect();
    for ak in expired {
        state.temp_keys.remove(&ak);
        state.touch(Key::TempKey(ak));
    }
    state
        .temp_keys
        .insert(key.access_key_id.clone(), key.clone());
    state.touch(Key::TempKey(key.access_key_id.clone()));
    key
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
pub fn error_xml(e: &ApiError) -> String {
    let kind = if e.code.status().is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>"#,
        sts_code(e.code),
        esc(&e.message),
        uuid::Uuid::new_v4()
    )
}
