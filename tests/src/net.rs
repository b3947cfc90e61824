//! Loopback networking for tests: free ports and a minimal blocking HTTP/1.1 client.
//!
//! The GET is enough to probe the registry, the test image and the agent's local endpoints
//! (plain HTTP, `Content-Length` or chunked bodies). It is not a general HTTP client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A port on 127.0.0.1 that was free a moment ago, chosen below the kernel's ephemeral range.
///
/// Not `bind(:0)`: that hands out an ephemeral port, the range the kernel also takes the local
/// ports of outgoing connections from, so between this call and the server's bind any client
/// on the machine could take it (an agent whose introspection port went that way never came up,
/// and every probe of it was refused). Below the range only an explicit bind takes a port.
/// Another test may still pick the same port before the caller binds it (the pick is random
/// over about 12,000 ports); callers that start a server on it must check that the server
/// answering is theirs (see [`crate::Registry::start`]).
pub fn free_port() -> Result<u16> {
    const FIRST: u16 = 20_000;
    let top = ephemeral_low()
        .unwrap_or(32_768)
        .clamp(FIRST + 1_000, 32_768);
    for _ in 0..64 {
        let candidate = FIRST + u16::try_from(random_u64() % u64::from(top - FIRST)).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", candidate)).is_ok() {
            return Ok(candidate);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(listener.local_addr().context("no local address")?.port())
}

/// The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`).
fn ephemeral_low() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A number that differs between calls and between processes (std's randomly keyed hasher).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// An HTTP response: status, headers (names as sent) and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("response body is not JSON: {}", self.text()))
    }
}

/// `GET url` over plain HTTP (`http://host:port/path`), with connect and read timeouts.
pub fn http_get(url: &str) -> Result<HttpResponse> {
    get(url, &[]).with_context(|| format!("GET {url}"))
}

/// [`http_get`] with extra request headers (e.g. `Authorization`).
pub fn http_get_with_headers(url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
    get(url, headers).with_context(|| format!("GET {url}"))
}

/// `METHOD url` over plain HTTP with a JSON `body` (none when empty), as [`http_get`] does.
pub fn http_request(method: &str, url: &str, body: &[u8]) -> Result<HttpResponse> {
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    request(method, url, headers, body).with_context(|| format!("{method} {url}"))
}

fn get(url: &str, extra: &[(&str, &str)]) -> Result<HttpResponse> {
    request("GET", url, extra, &[])
}

fn request(method: &str, url: &str, extra: &[(&str, &str)], body: &[u8]) -> Result<HttpResponse> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("only http:// URLs are supported");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = addr
        .to_socket_addrs()
        .context("cannot resolve the host")?
        .next()
        .context("the host has no address")?;
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let extra: String = extra
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    // GETs go as before (no length); everything else says how long its body is.
    let length = if method == "GET" && body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: ecs-e2e-tests\r\n\
         Accept: */*\r\n{extra}{length}Connection: close\r\n\r\n"
    )?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .context("cannot read the response")?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the response")?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: raw[head_end + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body)?;
    }
    Ok(response)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_below_the_ephemeral_range_bindable_and_spread() -> Result<()> {
        let low = ephemeral_low().unwrap_or(32_768);
        let ports: Vec<u16> = (0..20).map(|_| free_port()).collect::<Result<_>>()?;
        for &p in &ports {
            assert!(p < low, "{p} is in the ephemeral range from {low}");
            TcpListener::bind(("127.0.0.1", p))?;
        }
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert!(distinct.len() > 15, "{ports:?}");
        Ok(())
    }

    #[test]
    fn parses_content_length_and_chunked_responses() -> Result<()> {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}")?;
        assert_eq!(plain.status, 200);
        assert_eq!(plain.header("x-a"), Some("b"));
        assert_eq!(plain.text(), "{}");

        let chunked = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )?;
        assert_eq!(chunked.status, 404);
        assert_eq!(chunked.text(), "abcde");
        Ok(())
    }
}
