//! The instance metadata service every emulated instance reaches at `169.254.169.254:80` (the
//! instance's own rules send it here, to its VPC's gateway): IMDSv2 session tokens and IMDSv1,
//! `meta-data` (ids, type, placement, network, tags when the instance allows it, spot and Auto
//! Scaling states, instance profile credentials), `dynamic/instance-identity` and `user-data`.
//!
//! An instance is known by the source address of the request: its private IP (its containers'
//! traffic is masqueraded to it by its Docker Engine). Nothing here needs SigV4, as on EC2; the
//! listener is on the VPC's gateway only, which instances reach and nothing off this machine does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State as AxState};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Ec2Handle;
use super::instances::private_dns_name;
use super::model::{Instance, InstanceState, instance_profile_id, zones};
use crate::front::context::now_secs;
use crate::sts::iso8601;
use crate::sts::keys::TempKeys;

/// The longest IMDSv2 token lifetime EC2 grants (6 hours).
pub const MAX_TOKEN_TTL_SECS: u64 = 21_600;
/// How long instance profile credentials last.
pub const CREDENTIALS_LIFETIME_SECS: i64 = 6 * 3600;

#[derive(Debug, Clone)]
struct Token {
    instance_id: String,
    expires: f64,
}

#[derive(Debug, Clone)]
struct Issued {
    access_key_id: String,
    secret: String,
    token: String,
    issued: f64,
    expires: f64,
}

/// The metadata service.
#[derive(Debug, Clone)]
pub struct Imds {
    ec2: Ec2Handle,
    keys: TempKeys,
    tokens: Arc<Mutex<HashMap<String, Token>>>,
    credentials: Arc<Mutex<HashMap<String, Issued>>>,
}

impl Imds {
    /// The service over `ec2`'s instances; instance profile credentials are issued in `keys`.
    pub fn new(ec2: Ec2Handle, keys: TempKeys) -> Self {
        Imds {
            ec2,
            keys,
            tokens: Arc::default(),
            credentials: Arc::default(),
        }
    }

    /// Serves on `listener` until `shutdown`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let app = Router::new().fallback(handle).with_state(self);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    }

    fn instance_at(&self, ip: IpAddr) -> Option<Instance> {
        let IpAddr::V4(v4) = ip else {
            return None;
        };
        self.ec2.read(|s| s.instance_by_ip(v4).cloned())
    }

    fn credentials_for(&self, i: &Instance, role: &str, now: f64) -> Issued {
        let mut cache = self
            .credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cache.get(&i.instance_id)
            && now < c.issued + (c.expires - c.issued) / 2.0
        {
            return c.clone();
        }
        let account = self.ec2.read(|s| s.account_id.clone());
        let key = self.keys.issue(
            format!(
                "arn:aws:sts::{account}:assumed-role/{role}/{}",
                i.instance_id
            ),
            format!(
                "{}:{}",
                crate::sts::keys::role_id(&format!("arn:aws:iam::{account}:role/{role}")),
                i.instance_id
            ),
            now,
            CREDENTIALS_LIFETIME_SECS,
            None,
        );
        let issued = Issued {
            access_key_id: key.access_key_id,
            secret: key.secret_access_key,
            token: key.session_token,
            issued: now,
            expires: key.expiration,
        };
        cache.insert(i.instance_id.clone(), issued.clone());
        issued
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [("content-type", "text/plain")], body.into()).into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "text/html")],
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<html><head><title>404 - Not Found</title></head><body><h1>404 - Not Found</h1></body></html>\n",
    )
        .into_response()
}

async fn handle(
    AxState(imds): AxState<Imds>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    _body: Body,
) -> Response {
    let Some(instance) = imds.instance_at(peer.ip()) else {
        return text(
            StatusCode::FORBIDDEN,
            "Forbidden: not an instance of this emulator\n",
        );
    };
    let now = now_secs();
    let path = uri.path();
    if path == "/latest/api/token" {
        if method != Method::PUT {
            return text(StatusCode::METHOD_NOT_ALLOWED, "");
        }
        if headers.contains_key("x-forwarded-for") {
            return text(StatusCode::FORBIDDEN, "");
        }
        let ttl = headers
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|t| (1..=MAX_TOKEN_TTL_SECS).contains(t));
        let Some(ttl) = ttl else {
            return text(StatusCode::BAD_REQUEST, "");
        };
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        #[allow(clippy::cast_precision_loss)]
        let expires = now + ttl as f64;
        let mut tokens = imds.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.retain(|_, t| t.expires > now);
        tokens.insert(
            token.clone(),
            Token {
                instance_id: instance.instance_id.clone(),
                expires,
            },
        );
        return (
            StatusCode::OK,
            [
                ("content-type", "text/plain"),
                ("x-aws-ec2-metadata-token-ttl-seconds", &ttl.to_string()),
            ],
            token,
        )
            .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    match headers
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok())
    {
        Some(token) => {
            let tokens = imds.tokens.lock().unwrap_or_else(PoisonError::into_inner);
            let valid = tokens
                .get(token)
                .is_some_and(|t| t.instance_id == instance.instance_id && t.expires > now);
            if !valid {
                return text(StatusCode::UNAUTHORIZED, "");
            }
        }
        None if instance.http_tokens == "required" => return text(StatusCode::UNAUTHORIZED, ""),
        None => {}
    }
    match lookup(&imds, &instance, path, now) {
        Some(body) => text(StatusCode::OK, body),
        None => not_found(),
    }
}

/// A directory listing: one entry a line, directories with a trailing `/`.
fn listing(entries: &[&str]) -> String {
    entries.join("\n")
}

fn mac_of(i: &Instance) -> String {
    let [a, b, c, d] = i.private_ip.octets();
    format!("0e:{a:02x}:{b:02x}:{c:02x}:{d:02x}:01")
}

fn identity_document(i: &Instance, account: &str, region: &str) -> String {
    let doc = json!({
        "accountId": account,
        "architecture": "x86_64",
        "availabilityZone": i.availability_zone,
        "billingProducts": null,
        "devpayProductCodes": null,
        "marketplaceProductCodes": null,
        "imageId": i.image_id,
        "instanceId": i.instance_id,
        "instanceType": i.instance_type,
        "kernelId": null,
        "pendingTime": iso8601(i.launch_time),
        "privateIp": i.private_ip.to_string(),
        "ramdiskId": null,
        "region": region,
        "version": "2017-09-30",
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The emulator's stand-in for AWS's signature of an identity document: not AWS's key (nothing
/// outside this emulator can verify it), stable for a document.
pub fn identity_signature(document: &str) -> String {
    let digest = Sha256::digest(format!("ecs-agent-rs emulated EC2\n{document}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

fn lookup(imds: &Imds, i: &Instance, path: &str, now: f64) -> Option<String> {
    let (account, region) = imds.ec2.read(|s| (s.account_id.clone(), s.region.clone()));
    let zone_id = zones(&region)
        .into_iter()
        .find(|(z, _)| z == &i.availability_zone)
        .map(|(_, id)| id)
        .unwrap_or_default();
    let mac = mac_of(i);
    let dns = private_dns_name(i);
    let rest = path.strip_prefix("/latest/")?;
    let out = match rest.trim_end_matches('/') {
        "" => listing(&["dynamic", "meta-data", "user-data"]),
        "user-data" => {
            let data = i.user_data.as_deref()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .ok()?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        "dynamic" => listing(&["instance-identity/"]),
        "dynamic/instance-identity" => listing(&["document", "pkcs7", "signature"]),
        "dynamic/instance-identity/document" => identity_document(i, &account, &region),
        "dynamic/instance-identity/signature" | "dynamic/instance-identity/pkcs7" => {
            identity_signature(&identity_document(i, &account, &region))
        }
        "meta-data" => {
            let mut entries = vec![
                "ami-id",
                "ami-launch-index",
                "autoscaling/",
                "hostname",
                "instance-id",
                "instance-life-cycle",
                "instance-type",
                "local-hostname",
                "local-ipv4",
                "mac",
                "network/",
                "placement/",
                "reservation-id",
                "security-groups",
            ];
            if i.instance_profile.is_some() {
                entries.push("iam/");
            }
            if i.metadata_tags {
                entries.push("tags/");
            }
            if i.spot {
                entries.push("spot/");
            }
            entries.sort_unstable();
            listing(&entries)
        }
        "meta-data/ami-id" => i.image_id.clone(),
        "meta-data/ami-launch-index" => i.ami_launch_index.to_string(),
        "meta-data/hostname" | "meta-data/local-hostname" => dns,
        "meta-data/instance-id" => i.instance_id.clone(),
        "meta-data/instance-life-cycle" => (if i.spot { "spot" } else { "on-demand" }).to_string(),
        "meta-data/instance-type" => i.instance_type.clone(),
        "meta-data/local-ipv4" => i.private_ip.to_string(),
        "meta-data/mac" => mac.clone(),
        "meta-data/reservation-id" => i.reservation_id.clone(),
        "meta-data/security-groups" => imds.ec2.read(|s| {
            i.security_group_ids
                .iter()
                .filter_map(|g| s.groups.get(g).map(|g| g.group_name.clone()))
                .collect::<Vec<_>>()
                .join("\n")
        }),
        "meta-data/placement" => listing(&["availability-zone", "availability-zone-id", "region"]),
        "meta-data/placement/availability-zone" => i.availability_zone.clone(),
        "meta-data/placement/availability-zone-id" => zone_id,
        "meta-data/placement/region" => region,
        "meta-data/autoscaling" => listing(&["target-lifecycle-state"]),
        "meta-data/autoscaling/target-lifecycle-state" => match (&i.target_lifecycle, i.state) {
            (Some(set), _) => set.clone(),
            (None, InstanceState::Running | InstanceState::Pending) => "InService".into(),
            (None, _) => "Terminated".into(),
        },
        "meta-data/network" => listing(&["interfaces/"]),
        "meta-data/network/interfaces" => listing(&["macs/"]),
        "meta-data/network/interfaces/macs" => format!("{mac}/"),
        other => {
            if let Some(rest) =
                other.strip_prefix(&format!("meta-data/network/interfaces/macs/{mac}"))
            {
                let (vpc, subnet, cidr) = imds.ec2.read(|s| {
                    let cidr = s
                        .subnets
                        .get(&i.subnet_id)
                        .map(|n| n.cidr())
                        .unwrap_or_default();
                    let vpc_cidr = s.default_vpc().map(|v| v.cidr.clone()).unwrap_or_default();
                    (i.vpc_id.clone(), i.subnet_id.clone(), (cidr, vpc_cidr))
                });
                match rest.trim_start_matches('/') {
                    "" => listing(&[
                        "device-number",
                        "interface-id",
                        "local-hostname",
                        "local-ipv4s",
                        "mac",
                        "security-group-ids",
                        "subnet-id",
                        "subnet-ipv4-cidr-block",
                        "vpc-id",
                        "vpc-ipv4-cidr-block",
                    ]),
                    "device-number" => "0".into(),
                    "interface-id" => i.instance_id.replacen("i-", "eni-", 1),
                    "local-hostname" => private_dns_name(i),
                    "local-ipv4s" => i.private_ip.to_string(),
                    "mac" => mac,
                    "security-group-ids" => i.security_group_ids.join("\n"),
                    "subnet-id" => subnet,
                    "subnet-ipv4-cidr-block" => cidr.0,
                    "vpc-id" => vpc,
                    "vpc-ipv4-cidr-block" => cidr.1,
                    _ => return None,
                }
            } else if let Some(rest) = other.strip_prefix("meta-data/tags") {
                if !i.metadata_tags {
                    return None;
                }
                match rest.trim_start_matches('/') {
                    "" => listing(&["instance/"]),
                    "instance" => i
                        .tags
                        .iter()
                        .map(|t| t.key.as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    key => {
                        let key = key.strip_prefix("instance/")?;
                        i.tags.iter().find(|t| t.key == key)?.value.clone()
                    }
                }
            } else if let Some(rest) = other.strip_prefix("meta-data/iam") {
                let role = i.instance_profile.as_deref()?;
                match rest.trim_start_matches('/') {
                    "" => listing(&["info", "security-credentials/"]),
                    "info" => serde_json::to_string_pretty(&json!({
                        "Code": "Success",
                        "LastUpdated": iso8601(i.launch_time),
                        "InstanceProfileArn": format!("arn:aws:iam::{account}:instance-profile/{role}"),
                        "InstanceProfileId": instance_profile_id(role),
                    }))
                    .unwrap_or_default(),
                    "security-credentials" => role.to_string(),
                    name => {
                        let name = name.strip_prefix("security-credentials/")?;
                        if name != role {
                            return None;
                        }
                        let c = imds.credentials_for(i, role, now);
                        serde_json::to_string_pretty(&json!({
                            "Code": "Success",
                            "LastUpdated": iso8601(c.issued),
                            "Type": "AWS-HMAC",
                            "AccessKeyId": c.access_key_id,
                            "SecretAccessKey": c.secret,
                            "Token": c.token,
                            "Expiration": iso8601(c.expires),
                        }))
                        .unwrap_or_default()
                    }
                }
            } else if let Some(rest) = other.strip_prefix("meta-data/spot") {
                if !i.spot {
                    return None;
                }
                // Both answer 404 until EC2 sends an interruption notice.
                match (rest.trim_start_matches('/'), &i.spot_action) {
                    ("", _) => listing(&["instance-action", "termination-time"]),
                    ("instance-action", Some((action, at))) => {
                        json!({"action": action, "time": iso8601(*at)}).to_string()
                    }
                    ("termination-time", Some((action, at))) if action != "hibernate" => {
                        iso8601(*at)
                    }
                    _ => return None,
                }
            } else {
                return None;
            }
        }
    };
    Some(out)
}
