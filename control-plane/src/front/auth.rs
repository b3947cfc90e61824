//! Who signed a request: the account's long-term keys, and the temporary keys STS issued, which
//! the front asks for through [`TemporaryKeys`] (their owner is `crate::sts`; the front does
//! not import it).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, Uri};

use super::context::CallerIdentity;
use super::error::{ApiError, ErrorCode};
use super::sigv4::{self, Flavor, KeyLookup, SecretKey, VerifyOptions};

/// The account's access keys.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    keys: BTreeMap<String, SecretKey>,
}

impl Keys {
    /// Keys with one long-term pair.
    pub fn new(access_key_id: &str, secret: &str) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(
            access_key_id.to_string(),
            SecretKey {
                secret: secret.to_string(),
                session_token: None,
            },
        );
        Keys { keys }
    }
}

impl KeyLookup for Keys {
    fn secret_for(&self, access_key_id: &str) -> Option<SecretKey> {
        self.keys.get(access_key_id).cloned()
    }
}

/// A temporary key as authentication needs it.
#[derive(Clone)]
pub struct TemporaryKey {
    /// The secret.
    pub secret_access_key: String,
    /// The session token requests must carry.
    pub session_token: String,
    /// Epoch seconds.
    pub expiration: f64,
    /// Who it was issued to.
    pub identity: CallerIdentity,
}

impl fmt::Debug for TemporaryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryKey")
            .field("identity", &self.identity)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// Where temporary keys are looked up (implemented by STS's key owner).
pub trait TemporaryKeys: Send + Sync + fmt::Debug {
    /// The key with this access key id, if issued (expired ones too, until forgotten).
    fn lookup(&self, access_key_id: &str) -> Option<TemporaryKey>;
}

/// Why [`Authenticator::authenticate`] refused a request, before a service puts it in its format.
#[derive(Debug)]
pub enum AuthFailure {
    /// The signature (or its header) is wrong, or the key unknown.
    Signature(sigv4::AuthError),
    /// A correctly signed request with temporary credentials past their expiry.
    Expired,
}

impl From<AuthFailure> for ApiError {
    fn from(e: AuthFailure) -> Self {
        match e {
            AuthFailure::Signature(e) => e.into(),
            AuthFailure::Expired => ApiError::new(
                ErrorCode::ExpiredTokenException,
                "The security token included in the request is expired",
            ),
        }
    }
}

/// Verifies SigV4 against the account's keys and the temporary ones.
#[derive(Debug, Clone)]
pub struct Authenticator {
    keys: Keys,
    account_id: String,
    max_skew: Option<Duration>,
    temporary: Arc<dyn TemporaryKeys>,
}

impl Authenticator {
    /// An authenticator for `account_id` with long-term `keys`, looking temporary keys up in
    /// `temporary`; `max_skew` `None` disables the clock check (fixture replay).
    pub fn new(
        keys: Keys,
        account_id: impl Into<String>,
        max_skew: Option<Duration>,
        temporary: Arc<dyn TemporaryKeys>,
    ) -> Self {
        Authenticator {
            keys,
            account_id: account_id.into(),
            max_skew,
            temporary,
        }
    }

    /// Verifies the signature of a request, canonicalised as `flavor` says, and returns who
    /// signed it. `now` is seconds since the epoch.
    pub fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        flavor: Flavor,
        now: f64,
    ) -> Result<CallerIdentity, AuthFailure> {
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        let access_key_id = sigv4::access_key_id(headers).unwrap_or_default();
        let options = VerifyOptions {
            now: SystemTime::now(),
            max_skew: self.max_skew,
            flavor,
        };
        let verify = |secret: Option<SecretKey>| {
            let mut keys = BTreeMap::new();
            if let Some(secret) = secret {
                keys.insert(access_key_id.clone(), secret);
            }
            sigv4::verify(
                &keys,
                method.as_str(),
                path_and_query,
                headers,
                body,
                options,
            )
            .map(|_| ())
            .map_err(AuthFailure::Signature)
        };
        if let Some(secret) = self.keys.secret_for(&access_key_id) {
            verify(Some(secret))?;
            return Ok(CallerIdentity {
                access_key_id: access_key_id.clone(),
                arn: format!("arn:aws:iam::{}:root", self.account_id),
                user_id: self.account_id.clone(),
            });
        }
        let Some(k) = self.temporary.lookup(&access_key_id) else {
            verify(None)?;
            // Unreachable in practice: an unknown key never verifies.
            return Err(AuthFailure::Signature(sigv4::AuthError::UnknownKey));
        };
        verify(Some(SecretKey {
            secret: k.secret_access_key.clone(),
            session_token: Some(k.session_token.clone()),
        }))?;
        // Verified first, so an unsigned guess learns nothing about expiry.
        if k.expiration < now {
            return Err(AuthFailure::Expired);
        }
        Ok(k.identity)
    }
}
