//! IAM role credentials as ACS delivers them, in a payload's tasks and in
//! `IAMRoleCredentialsMessage` refreshes.
//!
//! Owns the one rule that matters here: the secret parts never reach a log. `Debug` is written by
//! hand and redacts them; nothing in this module stores or looks credentials up.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::open_enum;

/// Temporary credentials for a task role or a task execution role (`IAMRoleCredentials`).
///
/// `Debug` shows which credentials these are but not the secret access key or the session token.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamRoleCredentials {
    /// The id the agent stores them under; containers fetch them at `/v2/credentials/<id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Secret: redacted in `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<String>,
    /// Secret: redacted in `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// When they expire, as an ISO 8601 string (passed through to containers as is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_scope: Option<String>,
}

/// What `Debug` prints in place of a secret that is present.
const REDACTED: &str = "<redacted>";

impl fmt::Debug for IamRoleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |secret: &Option<String>| secret.as_ref().map(|_| REDACTED);
        f.debug_struct("IamRoleCredentials")
            .field("credentials_id", &self.credentials_id)
            .field("role_arn", &self.role_arn)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("session_token", &redact(&self.session_token))
            .field("expiration", &self.expiration)
            .field("credential_scope", &self.credential_scope)
            .finish()
    }
}

open_enum! {
    /// Which role a credentials refresh is for (`roleType`).
    pub enum RoleType {
        /// The task role, served to the task's containers.
        TaskApplication => "TaskApplication",
        /// The execution role, used by the agent itself (image pulls, logs, secrets).
        TaskExecution => "TaskExecution",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IamRoleCredentials {
        IamRoleCredentials {
            credentials_id: Some("creds-1".into()),
            role_arn: Some("arn:aws:iam::123456789012:role/app".into()),
            access_key_id: Some("ASIAEXAMPLE".into()),
            secret_access_key: Some("very-secret-key".into()),
            session_token: Some("very-secret-token".into()),
            expiration: Some("2026-11-22T09:12:13Z".into()),
            credential_scope: None,
        }
    }

    #[test]
    fn debug_redacts_the_secret_key_and_session_token() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("very-secret-key"), "{shown}");
        assert!(!shown.contains("very-secret-token"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(shown.contains("creds-1") && shown.contains("ASIAEXAMPLE"));
    }

    #[test]
    fn debug_shows_absent_secrets_as_none() {
        let shown = format!("{:?}", IamRoleCredentials::default());
        assert!(shown.contains("secret_access_key: None"), "{shown}");
    }

    #[test]
    fn serialization_keeps_the_secrets_for_the_wire() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["secretAccessKey"], "very-secret-key");
        assert_eq!(json["sessionToken"], "very-secret-token");
        assert!(json.get("credentialScope").is_none());
    }
}
