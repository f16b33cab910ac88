//! The load client: a few threads, each driving many keep-alive HTTP/1.1 connections through one
//! non-blocking event loop (mio), the way wrk does. Every request holds a ticket from a shared counter, so the
//! count is exact; a ticket may wait for its slot under `--rate`; every request has a deadline.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::summary::{ErrorKind, Summary};

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

    pub fn request_bytes(&self) -> Vec<u8> {
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

/// What the connections of one thread share with the run.
pub struct Shared<'a> {
    pub target: &'a Target,
    pub request: &'a [u8],
    pub timeout: Duration,
    pub tickets: &'a AtomicU64,
    pub limit: Option<u64>,
    pub deadline: Option<Instant>,
    pub rate: Option<f64>,
    pub started: Instant,
    pub stop: &'a AtomicBool,
    pub done: &'a AtomicU64,
}

enum Phase {
    /// Waiting to send: no request in flight (and maybe no socket).
    Idle,
    Connecting,
    Writing {
        written: usize,
    },
    Reading,
}

struct Connection {
    stream: Option<TcpStream>,
    phase: Phase,
    buffer: Vec<u8>,
    began: Instant,
    due: Instant,
    /// The ticket's slot under a rate cap.
    slot: Option<Instant>,
}

impl Shared<'_> {
    fn finished(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Takes the next ticket, if the plan has one left; returns its slot in time under a rate cap.
    fn ticket(&self) -> Option<Option<Instant>> {
        if self.finished() {
            return None;
        }
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        if self.limit.is_some_and(|n| ticket >= n) {
            return None;
        }
        Some(self.rate.map(|rate| self.started + Duration::from_secs_f64(ticket as f64 / rate)))
    }
}

/// Drives `connections` connections until the tickets run out; returns this thread's summary.
pub fn drive(shared: &Shared, connections: usize, progress: &(dyn Fn(u64) + Sync)) -> Summary {
    let mut summary = Summary::new();
    let Ok(mut poll) = Poll::new() else { return summary };
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Option<Connection>> = (0..connections).map(|_| None).collect();
    let mut ready: VecDeque<usize> = (0..connections).collect();
    loop {
        // give every idle connection its next request
        while let Some(i) = ready.pop_front() {
            let reuse = conns[i].take().filter(|c| c.stream.is_some());
            match shared.ticket() {
                None => {
                    if let Some(mut c) = reuse {
                        close(&mut poll, &mut c);
                    }
                }
                Some(slot) => {
                    conns[i] = Some(start(&mut poll, shared, i, reuse, slot, &mut summary, progress, &mut ready))
                }
            }
        }
        if conns.iter().all(Option::is_none) {
            return summary;
        }
        let now = Instant::now();
        let next = conns.iter().flatten().map(|c| c.slot.filter(|s| *s > now).unwrap_or(c.due)).min();
        let wait = next.map(|t| t.saturating_duration_since(now));
        if poll.poll(&mut events, wait).is_err() {
            continue; // interrupted (Ctrl-C): the stop flag ends the run on the next ticket
        }
        for event in events.iter() {
            let i = event.token().0;
            if let Some(conn) = conns[i].as_mut() {
                if let Some(result) = advance(&mut poll, shared, i, conn) {
                    finish(&mut poll, conn, result, &mut summary, shared, progress);
                    ready.push_back(i);
                }
            }
        }
        let now = Instant::now();
        for (i, slot) in conns.iter_mut().enumerate() {
            let Some(conn) = slot.as_mut() else { continue };
            match conn.slot {
                Some(at) if matches!(conn.phase, Phase::Idle) && at <= now => {
                    conn.slot = None;
                    conn.began = now;
                    conn.due = now + shared.timeout;
                    if let Some(result) = begin(&mut poll, shared, i, conn) {
                        finish(&mut poll, conn, result, &mut summary, shared, progress);
                        ready.push_back(i);
                    }
                }
                _ if !matches!(conn.phase, Phase::Idle) && conn.due <= now => {
                    finish(&mut poll, conn, Err(ErrorKind::Timeout), &mut summary, shared, progress);
                    close(&mut poll, conn);
                    ready.push_back(i);
                }
                _ => {}
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn start(
    poll: &mut Poll,
    shared: &Shared,
    i: usize,
    reuse: Option<Connection>,
    slot: Option<Instant>,
    summary: &mut Summary,
    progress: &(dyn Fn(u64) + Sync),
    ready: &mut VecDeque<usize>,
) -> Connection {
    let now = Instant::now();
    let mut conn = reuse.unwrap_or(Connection {
        stream: None,
        phase: Phase::Idle,
        buffer: Vec::with_capacity(4096),
        began: now,
        due: now,
        slot: None,
    });
    conn.phase = Phase::Idle;
    conn.buffer.clear();
    conn.began = now;
    conn.due = now + shared.timeout;
    conn.slot = slot.filter(|s| *s > now);
    if conn.slot.is_none() {
        if let Some(result) = begin(poll, shared, i, &mut conn) {
            finish(poll, &mut conn, result, summary, shared, progress);
            ready.push_back(i);
        }
    }
    conn
}

/// Sends the request (connecting first when needed); Some(result) when it ended at once.
fn begin(poll: &mut Poll, shared: &Shared, i: usize, conn: &mut Connection) -> Option<Result<u16, ErrorKind>> {
    if conn.stream.is_none() {
        let mut stream = match TcpStream::connect(shared.target.addr) {
            Ok(s) => s,
            Err(_) => return Some(Err(ErrorKind::Connect)),
        };
        if poll.registry().register(&mut stream, Token(i), Interest::WRITABLE | Interest::READABLE).is_err() {
            return Some(Err(ErrorKind::Other));
        }
        let _ = stream.set_nodelay(true);
        conn.stream = Some(stream);
        conn.phase = Phase::Connecting;
        return None;
    }
    conn.phase = Phase::Writing { written: 0 };
    write(shared, conn)
}

/// Handles readiness; Some(result) when the request is done.
fn advance(poll: &mut Poll, shared: &Shared, i: usize, conn: &mut Connection) -> Option<Result<u16, ErrorKind>> {
    let _ = (poll, i);
    match conn.phase {
        Phase::Idle => None,
        Phase::Connecting => {
            let stream = conn.stream.as_ref()?;
            match stream.take_error() {
                Ok(Some(_)) | Err(_) => return Some(Err(ErrorKind::Connect)),
                Ok(None) => {}
            }
            match stream.peer_addr() {
                Ok(_) => {
                    conn.phase = Phase::Writing { written: 0 };
                    write(shared, conn)
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
                Err(_) => Some(Err(ErrorKind::Connect)),
            }
        }
        Phase::Writing { .. } => write(shared, conn),
        Phase::Reading => read(conn),
    }
}

fn write(shared: &Shared, conn: &mut Connection) -> Option<Result<u16, ErrorKind>> {
    let Phase::Writing { mut written } = conn.phase else { return None };
    let stream = conn.stream.as_mut()?;
    while written < shared.request.len() {
        match stream.write(&shared.request[written..]) {
            Ok(0) => return Some(Err(ErrorKind::Reset)),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.phase = Phase::Writing { written };
                return None;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Some(Err(classify(&e))),
        }
    }
    conn.phase = Phase::Reading;
    read(conn)
}

fn read(conn: &mut Connection) -> Option<Result<u16, ErrorKind>> {
    let stream = conn.stream.as_mut()?;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => {
                // the server closed: a response that ends with the connection is complete; anything else is a reset
                let done = parse(&conn.buffer, true).unwrap_or(Err(ErrorKind::Reset));
                conn.buffer.push(0);
                return Some(done.map(|(status, _)| status));
            }
            Ok(n) => {
                conn.buffer.extend_from_slice(&chunk[..n]);
                if let Some(done) = parse(&conn.buffer, false) {
                    return Some(done.map(|(status, keep)| {
                        if !keep {
                            conn.buffer.push(0); // marks "close after this response"
                        }
                        status
                    }));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Some(Err(classify(&e))),
        }
    }
}

/// A complete response in `buffer`: Some((status, keep_alive)); None while more bytes are needed.
pub fn parse(buffer: &[u8], at_eof: bool) -> Option<Result<(u16, bool), ErrorKind>> {
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buffer[..end]).ok();
    let Some(head) = head else { return Some(Err(ErrorKind::Protocol)) };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let Some(status) = status_line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()) else {
        return Some(Err(ErrorKind::Protocol));
    };
    let (mut length, mut chunked, mut keep) = (None, false, !status_line.starts_with("HTTP/1.0"));
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep = !value.eq_ignore_ascii_case("close");
        }
    }
    let body = &buffer[end + 4..];
    let complete = if chunked {
        chunked_complete(body)
    } else {
        match length {
            Some(n) => body.len() >= n,
            None => at_eof,
        }
    };
    if complete {
        Some(Ok((status, keep && (length.is_some() || chunked))))
    } else if at_eof {
        Some(Err(ErrorKind::Reset))
    } else {
        None
    }
}

fn chunked_complete(mut body: &[u8]) -> bool {
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else { return false };
        let size = std::str::from_utf8(&body[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { return false };
        let next = line_end + 2 + size + 2;
        if body.len() < next {
            return false;
        }
        if size == 0 {
            return true;
        }
        body = &body[next..];
    }
}

fn finish(
    poll: &mut Poll,
    conn: &mut Connection,
    result: Result<u16, ErrorKind>,
    summary: &mut Summary,
    shared: &Shared,
    progress: &(dyn Fn(u64) + Sync),
) {
    summary.record(result, conn.began.elapsed());
    progress(shared.done.fetch_add(1, Ordering::Relaxed) + 1);
    let close_after = result.is_err() || conn.buffer.last() == Some(&0);
    conn.buffer.clear();
    conn.phase = Phase::Idle;
    if close_after {
        close(poll, conn);
    }
}

fn close(poll: &mut Poll, conn: &mut Connection) {
    if let Some(mut stream) = conn.stream.take() {
        let _ = poll.registry().deregister(&mut stream);
    }
    conn.phase = Phase::Idle;
}

fn classify(error: &io::Error) -> ErrorKind {
    match error.kind() {
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        io::ErrorKind::ConnectionRefused => ErrorKind::Connect,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => ErrorKind::Reset,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_by_length_chunks_or_close() {
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", false), Some(Ok((200, true))));
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nO", false), None);
        assert_eq!(
            parse(b"HTTP/1.1 500 X\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false),
            Some(Ok((500, false)))
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n", false),
            Some(Ok((200, true)))
        );
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n", false), None);
        assert_eq!(parse(b"garbage\r\n\r\n", false), Some(Err(ErrorKind::Protocol)));
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true), Some(Err(ErrorKind::Reset)));
    }
}
