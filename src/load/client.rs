//! A minimal HTTP/1.1 client for one keep-alive connection: enough for `/in-box` (GET or POST with a body),
//! with connect/read/write timeouts and error kinds taken from the I/O error.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::summary::ErrorKind;

#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub method: String,
    pub body: Vec<u8>,
}

impl Target {
    /// Parses `http://host[:port]/path`.
    pub fn parse(url: &str, method: &str, body: Vec<u8>) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?} is not an http:// URL (https is not supported by load)"))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let with_port = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority} has no address"))?;
        let path = if path.is_empty() { "/".to_string() } else { path.to_string() };
        Ok(Target { addr, host: authority.to_string(), path, method: method.to_ascii_uppercase(), body })
    }

    fn request_bytes(&self) -> Vec<u8> {
        let mut head =
            format!("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: interlok-k8s\r\n", self.method, self.path, self.host);
        if self.method != "GET" || !self.body.is_empty() {
            head.push_str(&format!("Content-Type: text/plain\r\nContent-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

pub struct Connection<'a> {
    target: &'a Target,
    timeout: Duration,
    request: Vec<u8>,
    stream: Option<BufReader<TcpStream>>,
}

impl<'a> Connection<'a> {
    pub fn new(target: &'a Target, timeout: Duration) -> Self {
        Connection { target, timeout, request: target.request_bytes(), stream: None }
    }

    /// One request on the kept-alive connection (connecting when needed): the status or the error kind.
    /// Never retried: every ticket is one request, so the count stays exact on both sides.
    pub fn request(&mut self) -> Result<u16, ErrorKind> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.target.addr, self.timeout).map_err(|e| classify(&e, true))?;
            let _ = stream.set_nodelay(true);
            stream.set_read_timeout(Some(self.timeout)).map_err(|e| classify(&e, false))?;
            stream.set_write_timeout(Some(self.timeout)).map_err(|e| classify(&e, false))?;
            self.stream = Some(BufReader::with_capacity(16 * 1024, stream));
        }
        let result = exchange(self.stream.as_mut().expect("connected"), &self.request);
        match result {
            Ok((status, keep_alive)) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok(status)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

fn exchange(reader: &mut BufReader<TcpStream>, request: &[u8]) -> Result<(u16, bool), ErrorKind> {
    reader.get_mut().write_all(request).map_err(|e| classify(&e, false))?;
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(|e| classify(&e, false))? == 0 {
        return Err(ErrorKind::Reset);
    }
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(ErrorKind::Protocol)?;
    let (mut length, mut chunked, mut close) = (0usize, false, line.starts_with("HTTP/1.0"));
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| classify(&e, false))? == 0 {
            return Err(ErrorKind::Reset);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().map_err(|_| ErrorKind::Protocol)?,
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if chunked {
        skip_chunked(reader)?;
    } else {
        io::copy(&mut reader.by_ref().take(length as u64), &mut io::sink()).map_err(|e| classify(&e, false))?;
    }
    Ok((status, !close))
}

fn skip_chunked(reader: &mut BufReader<TcpStream>) -> Result<(), ErrorKind> {
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| classify(&e, false))?;
        let size =
            usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16).map_err(|_| ErrorKind::Protocol)?;
        io::copy(&mut reader.by_ref().take(size as u64 + 2), &mut io::sink()).map_err(|e| classify(&e, false))?;
        if size == 0 {
            return Ok(());
        }
    }
}

fn classify(error: &io::Error, connecting: bool) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
        io::ErrorKind::ConnectionRefused => ErrorKind::Connect,
        _ if connecting => ErrorKind::Connect,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::Reset,
        _ => ErrorKind::Other,
    }
}
