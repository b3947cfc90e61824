//! Outbound proxies: which of the agent's connections go through `HTTP_PROXY` / `HTTPS_PROXY`
//! and which bypass them (`NO_PROXY`), and the connections that do.
//!
//! One decision, [`Proxies::for_url`], pure and unit-tested, serves every client: the ECS and
//! ECR SDK clients and the instance metadata credentials ([`Proxies::sdk_http_client`]), the
//! AWS JSON client for SSM, Secrets Manager and S3 ([`ProxyConnector`]), and the ACS and TCS
//! websockets ([`connect_websocket`]). The values come from the configuration (`ecs.config` and
//! the environment), never from the process environment directly.
//!
//! The rules are the reference agent's (its fork of Go's `httpproxy`, see the README):
//! - `https` (and `wss`) destinations use `HTTPS_PROXY`, or `HTTP_PROXY` when that is unset;
//!   `http` (and `ws`) destinations use `HTTP_PROXY`.
//! - `localhost` and loopback addresses are never proxied.
//! - `NO_PROXY` is a comma-separated list of `*` (nothing is proxied), IP addresses and CIDR
//!   blocks, and domain names (`foo.com` matches it and its subdomains, `.foo.com` and
//!   `*.foo.com` its subdomains only); an IP address or domain may carry a port (`foo.com:8080`).
//! - Unset `NO_PROXY` means `169.254.169.254,169.254.170.2`, as the reference's websocket client
//!   sets it: instance metadata and the task credentials endpoint are never proxied.
//! - Plain HTTP requests go to the proxy in absolute form; HTTPS and both websockets go through
//!   a `CONNECT` tunnel, as the reference's websocket dialer does for `ws` and `wss`.
//!
//! What it must not do: show a proxy's credentials (they are redacted in `Debug` and logs).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_runtime_api::client::http::{SharedHttpClient, SharedHttpConnector, http_client_fn};
use ecs_config::ProxyUrl;
use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;

/// `NO_PROXY` when the configuration leaves it unset (the reference's websocket client's default).
pub const DEFAULT_NO_PROXY: &str = "169.254.169.254,169.254.170.2";

/// Time allowed to reach a destination or a proxy (and, through a proxy, for its `CONNECT`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One proxy: where it listens and the `Proxy-Authorization` its URL's credentials make.
#[derive(Clone)]
pub struct Proxy {
    /// `http://host:port/`, credentials removed.
    uri: Uri,
    /// `Basic base64(user:password)` when the URL had a user.
    auth: Option<HeaderValue>,
    /// The URL as configured, for the SDK's client and for logs (redacted there).
    url: ProxyUrl,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url.redacted())
    }
}

impl Proxy {
    /// A proxy URL as the reference reads it: `host:port` means `http://host:port`; the port
    /// defaults to 80. Only `http` proxies are supported (the agent speaks plain HTTP to the
    /// proxy, TLS to the destination through it).
    pub fn parse(url: &ProxyUrl) -> Result<Self, String> {
        let raw = url.expose().trim();
        let full = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        let uri: Uri = full.parse().map_err(|e| format!("not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "the scheme {:?} is not supported, only http",
                uri.scheme_str().unwrap_or_default()
            ));
        }
        let authority = uri.authority().ok_or("no host")?.as_str();
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let host_port: http::uri::Authority = host_port.parse().map_err(|_| "no host")?;
        if host_port.host().is_empty() {
            return Err("no host".into());
        }
        let port = host_port.port_u16().unwrap_or(80);
        let uri = Uri::builder()
            .scheme("http")
            .authority(format!("{}:{port}", host_port.host()))
            .path_and_query("/")
            .build()
            .map_err(|e| e.to_string())?;
        let auth = userinfo.map(basic_auth).transpose()?;
        Ok(Proxy {
            uri,
            auth,
            url: url.clone(),
        })
    }

    /// Where the proxy listens: `http://host:port/`.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
}

/// `Basic base64(user:password)` from a URL's percent-encoded `user:password`.
fn basic_auth(userinfo: &str) -> Result<HeaderValue, String> {
    use base64::Engine as _;
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| "the proxy credentials are not valid UTF-8".to_string())
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (decode(user)?, decode(password)?),
        None => (decode(userinfo)?, String::new()),
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).map_err(|e| e.to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

/// `%XX` decoding; `None` when the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bypass {
    /// `*`: nothing is proxied.
    All,
    /// `10.0.0.0/8`.
    Network { addr: IpAddr, prefix: u8 },
    /// `10.1.2.3` or `10.1.2.3:8080`, `[::1]:80`.
    Ip { addr: IpAddr, port: Option<u16> },
    /// `foo.com` (`exact`: the name itself matches too) or `.foo.com` / `*.foo.com`
    /// (subdomains only), stored as `.foo.com`; with an optional port.
    Domain {
        suffix: String,
        exact: bool,
        port: Option<u16>,
    },
}

impl Bypass {
    /// An entry as Go's `httpproxy` reads it; `None` for an empty or malformed one (ignored).
    fn parse(entry: &str) -> Option<Bypass> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(Bypass::All);
        }
        if let Some((addr, prefix)) = entry.split_once('/')
            && let (Ok(addr), Ok(prefix)) = (addr.parse::<IpAddr>(), prefix.parse::<u8>())
        {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            return (prefix <= max).then_some(Bypass::Network { addr, prefix });
        }
        let (host, port) = split_host_port(&entry)?;
        if let Ok(addr) = host.parse::<IpAddr>() {
            let addr = addr.to_canonical();
            return Some(Bypass::Ip { addr, port });
        }
        let host = host.strip_prefix('*').unwrap_or(host);
        if host.is_empty() {
            return None;
        }
        Some(match host.strip_prefix('.') {
            Some(_) => Bypass::Domain {
                suffix: host.to_string(),
                exact: false,
                port,
            },
            None => Bypass::Domain {
                suffix: format!(".{host}"),
                exact: true,
                port,
            },
        })
    }

    /// Whether a destination (lower-case host without brackets, its IP if it is one, its port)
    /// bypasses the proxy.
    fn matches(&self, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        match self {
            Bypass::All => true,
            Bypass::Network { addr, prefix } => ip.is_some_and(|ip| in_network(ip, *addr, *prefix)),
            Bypass::Ip { addr, port: p } => ip == Some(*addr) && port_ok(p),
            Bypass::Domain {
                suffix,
                exact,
                port: p,
            } => {
                (host.ends_with(suffix.as_str()) || (*exact && host == &suffix[1..])) && port_ok(p)
            }
        }
    }
}

/// `host:port`, `[v6]:port`, or a bare host (a bare IPv6 address included); `None` when the
/// host is empty or the port is not a number.
fn split_host_port(entry: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match entry.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Some((entry, None)),
        Some((host, port)) if !host.is_empty() => Some((host, Some(port.parse().ok()?))),
        Some(_) => None,
        None => Some((entry, None)),
    }
}

/// Whether `ip` is in `addr/prefix` (an IPv4 network holds no IPv6 address and the reverse).
fn in_network(ip: IpAddr, addr: IpAddr, prefix: u8) -> bool {
    match (ip, addr) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The agent's proxy settings: the proxies and the `NO_PROXY` rules.
#[derive(Clone, Default)]
pub struct Proxies {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: Vec<Bypass>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("http", &self.http)
            .field("https", &self.https)
            .field("no_proxy", &self.no_proxy.len())
            .finish()
    }
}

impl Proxies {
    /// No proxy: every connection is direct.
    pub fn none() -> Self {
        Self::default()
    }

    /// From `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (unset: [`DEFAULT_NO_PROXY`]). A proxy
    /// URL that cannot be used is left out with a warning, as the reference ignores one it
    /// cannot parse.
    pub fn from_config(config: &ecs_config::Config) -> Self {
        let proxy = |name: &str, url: &Option<ProxyUrl>| {
            let url = url.as_ref().filter(|u| !u.expose().trim().is_empty())?;
            Proxy::parse(url)
                .inspect_err(|reason| {
                    tracing::warn!(variable = name, url = %url.redacted(), %reason, "proxy ignored");
                })
                .ok()
        };
        let proxies = Self::new(
            proxy("HTTP_PROXY", &config.http_proxy.value),
            proxy("HTTPS_PROXY", &config.https_proxy.value),
            config.no_proxy.value.as_deref().unwrap_or(DEFAULT_NO_PROXY),
        );
        if proxies.http.is_some() || proxies.https.is_some() {
            tracing::info!(http = ?proxies.http, https = ?proxies.https, no_proxy = ?config.no_proxy.value.as_deref().unwrap_or(DEFAULT_NO_PROXY), "outbound connections use a proxy");
        }
        proxies
    }

    /// These proxies with `no_proxy`'s bypass rules.
    pub fn new(http: Option<Proxy>, https: Option<Proxy>, no_proxy: &str) -> Self {
        Proxies {
            http,
            https,
            no_proxy: no_proxy.split(',').filter_map(Bypass::parse).collect(),
        }
    }

    /// The proxy a connection to `url` goes through, or `None` for a direct connection.
    /// `url`'s scheme is `http`, `https`, `ws` or `wss`.
    pub fn for_url(&self, url: &Uri) -> Option<&Proxy> {
        let secure = matches!(url.scheme_str(), Some("https" | "wss"));
        let proxy = if secure {
            self.https.as_ref().or(self.http.as_ref())
        } else {
            self.http.as_ref()
        }?;
        let host = url.host()?.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_u16().unwrap_or(if secure { 443 } else { 80 });
        if host == "localhost" {
            return None;
        }
        // As Go compares addresses: an IPv4-mapped IPv6 address is its IPv4 address.
        let ip = host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        if self.no_proxy.iter().any(|b| b.matches(host, ip, port)) {
            return None;
        }
        Some(proxy)
    }

    /// The proxy for a URL given as text (`None` as well when it is not a URL).
    pub fn for_endpoint(&self, url: &str) -> Option<&Proxy> {
        self.for_url(&url.parse().ok()?)
    }

    /// An HTTP client for an AWS SDK client that only talks to `endpoint`: the SDK's own rustls
    /// client, through the proxy [`Proxies::for_endpoint`] chooses for it, or direct. The SDK's
    /// proxy support is used, with the decision made here, because its `NO_PROXY` matching
    /// (curl's) is not the reference's.
    pub fn sdk_http_client(&self, endpoint: &str) -> SharedHttpClient {
        let proxy = self.for_endpoint(endpoint);
        tracing::debug!(endpoint, proxy = ?proxy, "SDK client");
        let config = proxy
            .and_then(|proxy| ProxyConfig::all(proxy.url_for_sdk()).ok())
            .unwrap_or_else(ProxyConfig::disabled);
        // One connector (one connection pool) per client: the settings never change between
        // its calls, so the first call's are the client's.
        let connector: Arc<OnceLock<SharedHttpConnector>> = Arc::default();
        // AWS_CA_BUNDLE's certificates besides the system's; a bundle that cannot be used is
        // logged here, and the connection it was meant for fails on the system's roots.
        let tls_context = crate::trust::sdk_tls_context().unwrap_or_else(|e| {
            tracing::error!(error = %e, "SDK client: the extra CA bundle is not used");
            None
        });
        http_client_fn(move |settings, components| {
            connector
                .get_or_init(|| {
                    let mut builder = aws_smithy_http_client::Connector::builder()
                        .connector_settings(settings.clone())
                        .proxy_config(config.clone());
                    builder.set_sleep_impl(components.sleep_impl());
                    let builder =
                        builder.tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                        ));
                    SharedHttpConnector::new(match &tls_context {
                        Some(ctx) => builder.tls_context(ctx.clone()).build(),
                        None => builder.build(),
                    })
                })
                .clone()
        })
    }

    /// `Proxy-Authorization` for a plain HTTP request to `url` sent through a proxy with
    /// credentials (a tunnel carries its own on the `CONNECT`).
    pub fn forward_auth(&self, url: &Uri) -> Option<&HeaderValue> {
        if url.scheme_str() != Some("http") {
            return None;
        }
        self.for_url(url)?.auth.as_ref()
    }
}

impl Proxy {
    /// The URL in the form the SDK's proxy support reads: scheme, credentials, host and port.
    fn url_for_sdk(&self) -> String {
        let raw = self.url.expose().trim();
        let full = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("http://{raw}")
        };
        match full.rsplit_once('@') {
            Some((creds, _)) => format!(
                "{creds}@{}",
                self.uri.authority().map_or("", |a| a.as_str())
            ),
            None => format!("http://{}", self.uri.authority().map_or("", |a| a.as_str())),
        }
    }
}

/// A TCP connection, direct or to a proxy (then requests on it are sent in absolute form).
#[derive(Debug)]
pub struct ProxyStream {
    io: TokioIo<TcpStream>,
    forwarded: bool,
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forwarded)
    }
}

impl hyper::rt::Read for ProxyStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ProxyStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A hyper connector that follows [`Proxies`]: direct, to the proxy for plain HTTP, or a
/// `CONNECT` tunnel for HTTPS (TLS is the wrapping connector's, end to end with the destination).
#[derive(Debug, Clone)]
pub struct ProxyConnector {
    proxies: Arc<Proxies>,
    tcp: HttpConnector,
}

impl ProxyConnector {
    /// A connector following `proxies`.
    pub fn new(proxies: Arc<Proxies>) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        ProxyConnector { proxies, tcp }
    }
}

impl tower::Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<ProxyStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let proxy = self.proxies.for_url(&dst).cloned();
        let tcp = self.tcp.clone();
        Box::pin(async move {
            match proxy {
                None => Ok(ProxyStream {
                    io: direct(tcp, &dst).await?,
                    forwarded: false,
                }),
                Some(proxy) if dst.scheme_str() == Some("http") => {
                    let mut tcp = tcp;
                    let io = tower::Service::call(&mut tcp, proxy.uri.clone()).await?;
                    Ok(ProxyStream {
                        io,
                        forwarded: true,
                    })
                }
                Some(proxy) => Ok(ProxyStream {
                    io: tunnel(tcp, &proxy, &dst).await?,
                    forwarded: false,
                }),
            }
        })
    }
}

/// `host:port` of a destination as an `http://` URI with an explicit port (`ws`/`http` 80,
/// `wss`/`https` 443), the form the TCP connector and the tunnel take.
fn tcp_target(dst: &Uri) -> Result<Uri, BoxError> {
    let host = dst.host().ok_or("the URL has no host")?;
    let secure = matches!(dst.scheme_str(), Some("https" | "wss"));
    let port = dst.port_u16().unwrap_or(if secure { 443 } else { 80 });
    Ok(Uri::builder()
        .scheme("http")
        .authority(format!("{host}:{port}"))
        .path_and_query("/")
        .build()?)
}

/// A direct TCP connection to `dst`.
async fn direct(mut tcp: HttpConnector, dst: &Uri) -> Result<TokioIo<TcpStream>, BoxError> {
    Ok(tower::Service::call(&mut tcp, tcp_target(dst)?).await?)
}

/// A `CONNECT` tunnel to `dst` through `proxy`.
async fn tunnel(
    tcp: HttpConnector,
    proxy: &Proxy,
    dst: &Uri,
) -> Result<TokioIo<TcpStream>, BoxError> {
    let mut tunnel = Tunnel::new(proxy.uri.clone(), tcp);
    if let Some(auth) = &proxy.auth {
        tunnel = tunnel.with_auth(auth.clone());
    }
    let target = tcp_target(dst)?;
    tokio::time::timeout(CONNECT_TIMEOUT, tower::Service::call(&mut tunnel, target))
        .await
        .map_err(|_| format!("no CONNECT answer from proxy {proxy:?} within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("through proxy {proxy:?}: {e}").into())
}

/// The websocket stream the ACS and TCS sessions use.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Opens the websocket `request` names (`ws://` or `wss://`), directly or through a `CONNECT`
/// tunnel as [`Proxies::for_url`] says, then TLS (for `wss`, trusting the roots of
/// [`crate::trust::client_config`]) and the upgrade, as `tokio_tungstenite::connect_async`
/// does. A connection, tunnel or trust failure is an I/O error.
pub async fn connect_websocket(
    proxies: &Proxies,
    request: http::Request<()>,
) -> Result<(WebSocket, tungstenite::handshake::client::Response), tungstenite::Error> {
    let io_error = |e: BoxError| tungstenite::Error::Io(std::io::Error::other(e));
    let tcp = ProxyConnector::new(Arc::new(Proxies::none())).tcp;
    let dst = request.uri().clone();
    let stream = match proxies.for_url(&dst) {
        None => direct(tcp, &dst).await.map_err(io_error)?,
        Some(proxy) => tunnel(tcp, proxy, &dst).await.map_err(io_error)?,
    };
    let tls = match dst.scheme_str() {
        Some("wss" | "https") => Some(tokio_tungstenite::Connector::Rustls(
            crate::trust::client_config().map_err(|e| io_error(e.into()))?,
        )),
        _ => None,
    };
    tokio_tungstenite::client_async_tls_with_config(request, stream.into_inner(), None, tls).await
}

#[cfg(test)]
mod tests {
    use super::testing::{has_proxy_auth, origin, recording_proxy};
    use super::*;

    fn proxy(url: &str) -> Option<Proxy> {
        Some(Proxy::parse(&ProxyUrl::new(url)).unwrap())
    }

    /// The proxy chosen for `url`, as its URI, or `None`.
    fn chosen(p: &Proxies, url: &str) -> Option<String> {
        p.for_endpoint(url).map(|p| p.uri().to_string())
    }

    #[test]
    fn proxy_urls_read_as_the_reference_reads_them() {
        let p = Proxy::parse(&ProxyUrl::new("10.0.0.131:3128")).unwrap();
        assert_eq!(p.uri().to_string(), "http://10.0.0.131:3128/");
        assert!(p.auth.is_none());
        let p = Proxy::parse(&ProxyUrl::new("http://proxy.local")).unwrap();
        assert_eq!(p.uri().to_string(), "http://proxy.local:80/");
        let p = Proxy::parse(&ProxyUrl::new("http://us%40r:p%3Ass@proxy:3128/")).unwrap();
        assert_eq!(p.uri().to_string(), "http://proxy:3128/");
        // base64("us@r:p:ss")
        assert_eq!(p.auth.as_ref().unwrap(), "Basic dXNAcjpwOnNz");
        assert_eq!(format!("{p:?}"), "http://<redacted>@proxy:3128/");
        assert_eq!(p.url_for_sdk(), "http://us%40r:p%3Ass@proxy:3128");
        assert!(Proxy::parse(&ProxyUrl::new("socks5://proxy:1080")).is_err());
        assert!(Proxy::parse(&ProxyUrl::new("http://")).is_err());
    }

    #[test]
    fn https_falls_back_to_the_http_proxy_and_http_never_uses_the_https_one() {
        let only_http = Proxies::new(proxy("http://p:3128"), None, "");
        assert_eq!(
            chosen(&only_http, "https://ecs.us-east-1.amazonaws.com"),
            Some("http://p:3128/".into())
        );
        assert_eq!(
            chosen(&only_http, "wss://ecs-a-1.us-east-1.amazonaws.com/ws"),
            Some("http://p:3128/".into())
        );
        assert_eq!(
            chosen(&only_http, "http://s3.example.com"),
            Some("http://p:3128/".into())
        );
        let both = Proxies::new(proxy("http://p:3128"), proxy("http://s:3129"), "");
        assert_eq!(
            chosen(&both, "https://ecs.example.com"),
            Some("http://s:3129/".into())
        );
        assert_eq!(
            chosen(&both, "ws://ecs.example.com"),
            Some("http://p:3128/".into())
        );
        let only_https = Proxies::new(None, proxy("http://s:3129"), "");
        assert_eq!(chosen(&only_https, "http://ecs.example.com"), None);
        assert_eq!(
            chosen(&only_https, "https://ecs.example.com"),
            Some("http://s:3129/".into())
        );
        assert_eq!(chosen(&Proxies::none(), "https://ecs.example.com"), None);
    }

    #[test]
    fn localhost_and_loopback_are_never_proxied() {
        let p = Proxies::new(proxy("http://p:3128"), None, "");
        for url in [
            "http://localhost:4566",
            "http://LOCALHOST",
            "http://127.0.0.1:4566",
            "http://127.3.4.5",
            "http://[::1]:4566",
            "http://[::ffff:127.0.0.1]:4566",
        ] {
            assert_eq!(chosen(&p, url), None, "{url}");
        }
        // A name is not resolved: only the literal forms are exempt.
        assert!(chosen(&p, "http://localhost.example.com").is_some());
        assert!(chosen(&p, "http://10.0.0.1").is_some());
    }

    #[test]
    fn no_proxy_matches_as_go_httpproxy_does() {
        let p = Proxies::new(
            proxy("http://p:3128"),
            None,
            " foo.com, .y.com,*.z.org ,bar.net:8080, 10.0.0.0/8, 192.168.1.7, 172.16.0.1:443, \
             [2001:db8::1]:80, fd00::/8, /var/run/docker.sock, :80, bad/cidr/99",
        );
        let direct = [
            "http://foo.com",
            "https://a.b.foo.com",
            "https://FOO.com",
            "http://x.y.com",
            "http://w.z.org",
            "http://bar.net:8080",
            "http://sub.bar.net:8080",
            "http://10.200.0.1",
            "https://192.168.1.7:8443",
            "https://172.16.0.1",
            "http://[2001:db8::1]",
            "http://[fd12::1]:8080",
            "http://[::ffff:192.168.1.7]",
        ];
        for url in direct {
            assert_eq!(chosen(&p, url), None, "{url} bypasses the proxy");
        }
        let proxied = [
            "http://notfoo.com",
            "http://y.com",
            "http://z.org",
            "http://bar.net",
            "http://bar.net:8081",
            "http://11.0.0.1",
            "http://192.168.1.8",
            "http://172.16.0.1",
            "https://[2001:db8::1]",
            "http://[fe80::1]",
        ];
        for url in proxied {
            assert!(chosen(&p, url).is_some(), "{url} goes through the proxy");
        }
        let all = Proxies::new(proxy("http://p:3128"), None, "example.com,*");
        assert_eq!(chosen(&all, "https://ecs.us-east-1.amazonaws.com"), None);
    }

    #[test]
    fn unset_no_proxy_leaves_metadata_and_credentials_endpoints_direct() {
        let mut config = ecs_config::Config::default();
        config.http_proxy.value = Some(ProxyUrl::new("proxy:3128"));
        let p = Proxies::from_config(&config);
        assert_eq!(chosen(&p, "http://169.254.169.254/latest/meta-data"), None);
        assert_eq!(chosen(&p, "http://169.254.170.2/v2/credentials/x"), None);
        assert!(chosen(&p, "https://ecs.us-east-1.amazonaws.com").is_some());
        // NO_PROXY set: it replaces the default.
        config.no_proxy.value = Some("amazonaws.com".into());
        let p = Proxies::from_config(&config);
        assert!(chosen(&p, "http://169.254.169.254/").is_some());
        assert_eq!(chosen(&p, "https://ecs.us-east-1.amazonaws.com"), None);
    }

    #[tokio::test]
    async fn websockets_go_through_a_connect_tunnel_even_for_ws() {
        let origin = origin().await;
        let (proxy_url, heads) = recording_proxy(origin).await;
        let proxies = Proxies::new(proxy(&proxy_url), None, "");
        // The name resolves nowhere: only the proxy, which sends it to the origin, can reach it.
        let target = format!("acs.proxy-test.invalid:{}", origin.port());
        let request = http::Request::builder()
            .uri(format!("ws://{target}/ws"))
            .header("host", &target)
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header(
                "sec-websocket-key",
                tungstenite::handshake::client::generate_key(),
            )
            .body(())
            .unwrap();
        let (mut ws, _) = connect_websocket(&proxies, request).await.unwrap();
        use futures_util::StreamExt as _;
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(hello.into_text().unwrap().as_str(), "hello");
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(heads[0].starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")));
        assert!(has_proxy_auth(&heads[0]), "{heads:?}");
    }

    #[tokio::test]
    async fn websockets_to_no_proxy_hosts_connect_directly() {
        let origin = origin().await;
        let (proxy_url, heads) = recording_proxy(origin).await;
        let proxies = Proxies::new(proxy(&proxy_url), None, "");
        let request = http::Request::builder()
            .uri(format!("ws://{origin}/ws"))
            .header("host", origin.to_string())
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header(
                "sec-websocket-key",
                tungstenite::handshake::client::generate_key(),
            )
            .body(())
            .unwrap();
        connect_websocket(&proxies, request).await.unwrap();
        assert!(heads.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn sdk_clients_use_the_proxy_chosen_for_their_endpoint() {
        let origin = origin().await;
        let (proxy_url, heads) = recording_proxy(origin).await;
        let proxies = Proxies::new(proxy(&proxy_url), None, "bypass.invalid");
        let endpoint = format!("http://ecs.proxy-test.invalid:{}", origin.port());
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "t",
            ))
            .endpoint_url(&endpoint)
            .http_client(proxies.sdk_http_client(&endpoint))
            .build();
        // The origin's answer is no ECS answer; what matters is the way the request went.
        let _ = aws_sdk_ecs::Client::from_conf(config)
            .list_clusters()
            .send()
            .await;
        let first = heads.lock().unwrap().clone();
        assert!(!first.is_empty());
        assert!(
            first[0].starts_with(&format!("POST {endpoint}/ HTTP/1.1\r\n")),
            "{first:?}"
        );
        assert!(has_proxy_auth(&first[0]), "{first:?}");

        // HTTPS endpoints tunnel.
        let https = format!("https://ecs.proxy-test.invalid:{}", origin.port());
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "t",
            ))
            .endpoint_url(&https)
            .retry_config(aws_sdk_ecs::config::retry::RetryConfig::disabled())
            .http_client(proxies.sdk_http_client(&https))
            .build();
        let _ = aws_sdk_ecs::Client::from_conf(config)
            .list_clusters()
            .send()
            .await;
        let tunnelled = heads.lock().unwrap().clone();
        assert!(
            tunnelled.last().unwrap().starts_with(&format!(
                "CONNECT ecs.proxy-test.invalid:{} HTTP/1.1\r\n",
                origin.port()
            )),
            "{tunnelled:?}"
        );
        assert!(proxies.for_endpoint("https://bypass.invalid").is_none());

        // An endpoint NO_PROXY lists (an IP with its port) is called directly.
        heads.lock().unwrap().clear();
        let direct = format!("http://0.0.0.0:{}", origin.port());
        let proxies = Proxies::new(
            proxy(&proxy_url),
            None,
            &format!("0.0.0.0:{}", origin.port()),
        );
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "t",
            ))
            .endpoint_url(&direct)
            .http_client(proxies.sdk_http_client(&direct))
            .build();
        let _ = aws_sdk_ecs::Client::from_conf(config)
            .list_clusters()
            .send()
            .await;
        assert_eq!(*heads.lock().unwrap(), Vec::<String>::new());
    }
}

/// A recording forward proxy and an origin for the proxy tests here and in the clients' modules.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::net::TcpStream;

    /// A forward proxy for tests: records each request's head, answers `CONNECT` with 200 and
    /// relays to the target, forwards absolute-form requests to `origin`.
    pub(crate) async fn recording_proxy(
        origin: std::net::SocketAddr,
    ) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        let heads: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::clone(&heads);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap() == 0 || line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    seen.lock().unwrap().push(head.clone());
                    let mut upstream = TcpStream::connect(origin).await.unwrap();
                    if head.starts_with("CONNECT ") {
                        reader
                            .get_mut()
                            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .await
                            .unwrap();
                    } else {
                        upstream.write_all(head.as_bytes()).await.unwrap();
                        upstream.write_all(b"\r\n").await.unwrap();
                    }
                    let mut buffered = vec![0; reader.buffer().len()];
                    reader.read_exact(&mut buffered).await.unwrap();
                    upstream.write_all(&buffered).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(reader.get_mut(), &mut upstream).await;
                });
            }
        });
        (format!("http://user:secret@{addr}"), heads)
    }

    /// Whether a request head carries the test proxy's credentials (`user:secret`).
    pub(crate) fn has_proxy_auth(head: &str) -> bool {
        head.to_ascii_lowercase()
            .contains("proxy-authorization: basic dxnlcjpzzwnyzxq=\r\n")
    }

    /// An origin answering `POST /` with `{"ok":true}` and upgrading `GET /ws` to a websocket.
    pub(crate) async fn origin() -> std::net::SocketAddr {
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::post(|| async { r#"{"Parameters":[]}"# }),
            )
            .route(
                "/ws",
                axum::routing::get(|ws: axum::extract::ws::WebSocketUpgrade| async move {
                    ws.on_upgrade(|mut socket| async move {
                        let _ = socket
                            .send(axum::extract::ws::Message::Text("hello".into()))
                            .await;
                    })
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}
