//! A logging TCP proxy between an agent and the control plane, for the wire-diff test: it
//! forwards bytes unchanged both ways and records what the agent sends, in the line format of
//! the reference recordings (`shared/reference/go-agent-wire/against-emulator.*.jsonl`, made
//! with `wireproxy.py`): `http_request` lines (method, target, headers, body, and `ws` = `acs` or
//! `tcs` for a websocket upgrade) and, after an upgrade, `ws_frame` lines (opcode, unmasked text).
//!
//! Only the agent's direction is parsed; the control plane's answers are forwarded as they come.
//! An agent request is HTTP/1.1 with a `Content-Length` body (or none); after a request asking
//! for `Upgrade: websocket`, the agent's bytes are websocket frames (it sends none before the
//! 101). The agent's endpoint is the proxy: DiscoverPollEndpoint answers with the `Host` the
//! request named, so ACS and TCS go through it too.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// A running proxy; it stops accepting when dropped (open connections end with their peers).
#[derive(Debug)]
pub struct WireProxy {
    /// `127.0.0.1:PORT`, the address to give the agent as its endpoint.
    pub addr: String,
    // Lines recorded so far; a lock because every connection's thread appends to it (each
    // append is one short push).
    lines: Arc<Mutex<Vec<Value>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl WireProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`
    /// (`127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the wire proxy")?;
        let addr = listener.local_addr()?.to_string();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (l, s, up) = (lines.clone(), stop.clone(), upstream.to_string());
        thread::spawn(move || {
            for (conn, agent) in listener.incoming().enumerate() {
                if s.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(agent) = agent else { continue };
                let (l, up) = (l.clone(), up.clone());
                thread::spawn(move || {
                    if let Err(e) = relay(conn + 1, agent, &up, &l) {
                        eprintln!("wire proxy connection {}: {e:#}", conn + 1);
                    }
                });
            }
        });
        Ok(WireProxy { addr, lines, stop })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The recording so far, one JSON object a line.
    pub fn recording(&self) -> String {
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        lines.iter().map(|v| format!("{v}\n")).collect()
    }

    /// How many agent frames of TCS or ACS message `type_name` were recorded.
    pub fn count_frames(&self, type_name: &str) -> usize {
        let needle = format!("\"type\":\"{type_name}\"");
        self.lines
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|v| v["kind"] == "ws_frame")
                    .filter(|v| v["data"].as_str().is_some_and(|d| d.contains(&needle)))
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for WireProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

fn record(lines: &Mutex<Vec<Value>>, line: Value) {
    if let Ok(mut l) = lines.lock() {
        l.push(line);
    }
}

/// One agent connection: the control plane's bytes copied back on a thread of their own, the
/// agent's parsed and recorded on this one as they are forwarded.
fn relay(conn: usize, agent: TcpStream, upstream: &str, lines: &Mutex<Vec<Value>>) -> Result<()> {
    let mut cp = TcpStream::connect(upstream).context("cannot reach the control plane")?;
    let (mut cp_read, mut agent_write) = (cp.try_clone()?, agent.try_clone()?);
    let back = thread::spawn(move || {
        let _ = std::io::copy(&mut cp_read, &mut agent_write);
        let _ = agent_write.shutdown(Shutdown::Write);
    });
    let mut reader = Buffered::new(agent.try_clone()?);
    let mut ws: Option<&'static str> = None;
    loop {
        let ended = match ws {
            None => match http_request(&mut reader, &mut cp)? {
                None => true,
                Some(mut request) => {
                    ws = request["ws"]
                        .as_str()
                        .map(|w| if w == "acs" { "acs" } else { "tcs" });
                    request["conn"] = json!(conn);
                    record(lines, request);
                    false
                }
            },
            Some(kind) => match ws_frame(&mut reader, &mut cp)? {
                None => true,
                Some((opcode, data)) => {
                    let mut line = json!({"conn": conn, "dir": "agent->cp", "kind": "ws_frame",
                                          "ws": kind, "opcode": opcode});
                    if opcode == 1 {
                        line["data"] = json!(String::from_utf8_lossy(&data));
                    }
                    record(lines, line);
                    false
                }
            },
        };
        if ended {
            break;
        }
    }
    let _ = cp.shutdown(Shutdown::Write);
    let _ = back.join();
    let _ = agent.shutdown(Shutdown::Both);
    Ok(())
}

/// Reads from the agent, keeping what it has read until it is forwarded.
struct Buffered {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Buffered {
    fn new(stream: TcpStream) -> Self {
        Buffered {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more; false at the end of the stream.
    fn fill(&mut self) -> Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The first `n` bytes, once there are that many (None if the stream ends first).
    fn take(&mut self, n: usize) -> Result<Option<Vec<u8>>> {
        while self.buf.len() < n {
            if !self.fill()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf.drain(..n).collect()))
    }
}

/// The next HTTP request from the agent, forwarded to `cp` and returned as a recording line.
fn http_request(reader: &mut Buffered, cp: &mut TcpStream) -> Result<Option<Value>> {
    let head_len = loop {
        if let Some(i) = reader.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !reader.fill()? {
            return Ok(None);
        }
    };
    let Some(head) = reader.take(head_len)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or_default();
    let mut parts = start.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        bail!(
            "a chunked request from the agent ({start}); the proxy reads Content-Length bodies only"
        );
    }
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let Some(body) = reader.take(length)? else {
        return Ok(None);
    };
    cp.write_all(&head)?;
    cp.write_all(&body)?;
    let mut line = json!({
        "dir": "agent->cp", "kind": "http_request", "method": method, "target": target,
        "headers": headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": String::from_utf8_lossy(&body),
    });
    if let Some(t) = header("x-amz-target") {
        line["x_amz_target"] = json!(t);
    }
    if header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        // ACS's upgrade names `sendCredentials`; TCS's does not.
        line["ws"] = json!(if target.contains("sendCredentials=") {
            "acs"
        } else {
            "tcs"
        });
    }
    Ok(Some(line))
}

/// The next websocket frame from the agent, forwarded to `cp`: its opcode and unmasked payload.
fn ws_frame(reader: &mut Buffered, cp: &mut TcpStream) -> Result<Option<(u8, Vec<u8>)>> {
    let Some(start) = reader.take(2)? else {
        return Ok(None);
    };
    let mut raw = start.clone();
    let opcode = start[0] & 0x0f;
    let masked = start[1] & 0x80 != 0;
    let len = match start[1] & 0x7f {
        126 => {
            let Some(b) = reader.take(2)? else {
                return Ok(None);
            };
            raw.extend_from_slice(&b);
            u64::from(u16::from_be_bytes([b[0], b[1]]))
        }
        127 => {
            let Some(b) = reader.take(8)? else {
                return Ok(None);
            };
            raw.extend_from_slice(&b);
            let mut a = [0u8; 8];
            a.copy_from_slice(&b);
            u64::from_be_bytes(a)
        }
        n => u64::from(n),
    };
    let mask = if masked {
        let Some(m) = reader.take(4)? else {
            return Ok(None);
        };
        raw.extend_from_slice(&m);
        Some(m)
    } else {
        None
    };
    let Some(payload) = reader.take(usize::try_from(len)?)? else {
        return Ok(None);
    };
    raw.extend_from_slice(&payload);
    cp.write_all(&raw)?;
    let data = match mask {
        Some(m) => payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ m[i % 4])
            .collect(),
        None => payload,
    };
    Ok(Some((opcode, data)))
}
