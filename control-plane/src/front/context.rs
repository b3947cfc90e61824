//! What every service gets with a request besides its input: who signed it, when it arrived,
//! its request id and the host it was addressed to. Built once by the front, after SigV4.

use std::time::SystemTime;

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// Access key used.
    pub access_key_id: String,
    /// ARN of the identity (`arn:aws:iam::<account>:root`, `...:assumed-role/<role>/<session>`).
    pub arn: String,
    /// User id (the account id for the root, `AROA...:<session>` for a role).
    pub user_id: String,
}

/// The per-request context a service's handler receives.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The id answered in `x-amzn-RequestId` (and in XML answers).
    pub request_id: String,
    /// The verified signer.
    pub caller: CallerIdentity,
    /// Arrival time, seconds since the epoch (as AWS JSON timestamps carry them).
    pub now: f64,
    /// The `Host` the request was sent to (DiscoverPollEndpoint answers with it).
    pub host: String,
    /// Whether the request came over TLS (a listener of [`super::tls`]).
    pub secure: bool,
}

impl RequestContext {
    /// The base URL the request was sent to: `https://<host>` over TLS, else `http://<host>`.
    pub fn base_url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }
}

/// A fresh request id (a UUID, as the JSON services answer it).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Seconds since the epoch, with millisecond precision, as AWS JSON timestamps carry them.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}
