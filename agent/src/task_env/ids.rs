//! The per-container id in task metadata paths (`/v3/<id>`, `/v4/<id>`): random-looking and
//! unguessable, stable across agent restarts, and never the Docker id or anything derived from
//! public data alone.
//!
//! Each id is a keyed hash of the task ARN and container name under a 32-byte secret that the
//! agent generates once and keeps in its state store. Without the secret an id cannot be computed
//! from the ARN; with it, the agent finds the container again after a restart without saving a
//! table of ids.

use sha2::{Digest, Sha256};

/// The key the ids are derived under.
#[derive(Clone)]
pub struct EndpointIds {
    secret: [u8; 32],
}

impl std::fmt::Debug for EndpointIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointIds(<secret>)")
    }
}

impl EndpointIds {
    /// Ids under `secret`.
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// A fresh random secret, hex-encoded (to save in the store).
    pub fn random_secret_hex() -> String {
        let bytes: [u8; 32] = rand::random();
        hex::encode(bytes)
    }

    /// Ids under a secret saved with [`EndpointIds::random_secret_hex`]; `None` if malformed.
    pub fn from_hex(secret: &str) -> Option<Self> {
        let bytes = hex::decode(secret.trim()).ok()?;
        Some(Self::new(bytes.try_into().ok()?))
    }

    /// The id of container `container` of task `task_arn`, formatted as a UUID.
    pub fn id(&self, task_arn: &str, container: &str) -> String {
        // HMAC-SHA256 keyed by the secret (RFC 2104, with SHA-256's 64-byte block).
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&self.secret);
        let pad = |b: u8| key.iter().map(|k| k ^ b).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(task_arn.as_bytes())
            .chain_update([0u8])
            .chain_update(container.as_bytes())
            .finalize();
        let mac = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        let h = hex::encode(&mac[..16]);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_and_keyed() {
        let a = EndpointIds::new([1; 32]);
        let b = EndpointIds::new([2; 32]);
        let id = a.id("arn:task/1", "web");
        assert_eq!(id.len(), 36);
        assert_eq!(id, a.id("arn:task/1", "web"));
        assert_ne!(id, a.id("arn:task/1", "db"));
        assert_ne!(id, a.id("arn:task/2", "web"));
        assert_ne!(id, b.id("arn:task/1", "web"));
        assert!(!id.contains("task"));
    }

    #[test]
    fn secrets_round_trip_through_hex() {
        let hex = EndpointIds::random_secret_hex();
        let ids = EndpointIds::from_hex(&hex);
        assert!(ids.is_some());
        assert!(EndpointIds::from_hex("abc").is_none());
    }
}
