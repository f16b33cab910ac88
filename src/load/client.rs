//! The load client: a few threads, each driving many keep-alive HTTP/1.1 connections through one
//! non-blocking event loop (mio), the way wrk does. Every request holds a ticket from a shared counter, so the
//! count is exact; a ticket may wait for its slot under `--rate`. Every request has a hard deadline that
//! covers its whole body: `--timeout` after it started, or the end of a `--duration` run if that comes first.
//! Responses are parsed as they arrive, each byte looked at once: the head is kept (up to 64 KiB), the body
//! only counted, so no server — endless, huge or slow — can make the client hold more or run longer.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::summary::{ErrorKind, Summary};

#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    pub(crate) path: String,
    pub(crate) method: String,
    pub(crate) body: Vec<u8>,
}

impl Target {
    /// Parses `http://host[:port]/path`.
    pub(crate) fn parse(url: &str, method: &str, body: Vec<u8>) -> Result<Target, String> {
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

    pub(crate) fn request_bytes(&self) -> Vec<u8> {
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
pub(crate) struct Shared<'a> {
    pub(crate) target: &'a Target,
    pub(crate) request: &'a [u8],
    pub(crate) timeout: Duration,
    pub(crate) tickets: &'a AtomicU64,
    pub(crate) limit: Option<u64>,
    /// The end of a `--duration` run.
    pub(crate) deadline: Option<Instant>,
    pub(crate) rate: Option<f64>,
    pub(crate) started: Instant,
    pub(crate) stop: &'a AtomicBool,
    pub(crate) done: &'a AtomicU64,
    /// Why the run could not go on (out of file descriptors), when it could not.
    pub(crate) aborted: &'a OnceLock<String>,
}

/// The longest response head read; a longer one is a protocol error (a server sending headers without end).
const MAX_HEAD: usize = 64 << 10;
/// The longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;
/// Bytes read from one connection before the others get their turn.
const READ_TURN: usize = 256 << 10;
/// The longest the event loop sleeps without looking at Ctrl-C and the clock.
const TICK: Duration = Duration::from_millis(100);

impl Shared<'_> {
    fn finished(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.run_over(Instant::now()) || self.aborted.get().is_some()
    }

    fn run_over(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// The deadline of a request starting now: its timeout, or the end of the run if sooner (None: never).
    fn due(&self, now: Instant) -> Option<Instant> {
        match (now.checked_add(self.timeout), self.deadline) {
            (Some(own), Some(end)) => Some(own.min(end)),
            (own, end) => own.or(end),
        }
    }

    /// Takes the next ticket, if the plan has one left; returns its slot in time under a rate cap. A slot
    /// after the end of the run, or past any time this machine can represent, is never reached.
    fn ticket(&self) -> Option<Option<Instant>> {
        if self.finished() {
            return None;
        }
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        if self.limit.is_some_and(|n| ticket >= n) {
            return None;
        }
        let Some(rate) = self.rate else { return Some(None) };
        let offset = Duration::try_from_secs_f64(ticket as f64 / rate).ok()?;
        let slot = self.started.checked_add(offset)?;
        self.deadline.is_none_or(|end| slot < end).then_some(Some(slot))
    }
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

/// Where a request got to after a turn of the loop.
enum Step {
    /// Waiting for the socket.
    Pending,
    /// More bytes wait on the socket: read again after the other connections had their turn.
    Again,
    Done(Result<u16, ErrorKind>),
    /// Its deadline passed.
    Due,
    /// No file descriptor left for a new connection.
    NoDescriptors,
}

struct Connection {
    stream: Option<TcpStream>,
    phase: Phase,
    response: Response,
    /// The server asked to close after this response (or it ended with the connection).
    close_after: bool,
    began: Instant,
    due: Option<Instant>,
    /// The ticket's slot under a rate cap.
    slot: Option<Instant>,
}

/// One thread's connections and what they did.
struct Driver<'s, 'a> {
    shared: &'s Shared<'a>,
    poll: Poll,
    conns: Vec<Option<Connection>>,
    /// Connections waiting for their next ticket.
    ready: VecDeque<usize>,
    /// Connections with bytes still to read.
    again: Vec<usize>,
    summary: Summary,
    progress: &'s (dyn Fn(u64) + Sync),
}

/// Drives `connections` connections until the tickets run out; returns this thread's summary.
pub(crate) fn drive(shared: &Shared, connections: usize, progress: &(dyn Fn(u64) + Sync)) -> Summary {
    let poll = match Poll::new() {
        Ok(poll) => poll,
        Err(e) => {
            let _ = shared.aborted.set(if out_of_descriptors(&e) {
                super::out_of_descriptors_message()
            } else {
                format!("load could not start its event loop: {e}")
            });
            return Summary::new();
        }
    };
    let mut driver = Driver {
        shared,
        poll,
        conns: (0..connections).map(|_| None).collect(),
        ready: (0..connections).collect(),
        again: Vec::new(),
        summary: Summary::new(),
        progress,
    };
    driver.run();
    driver.summary
}

impl Driver<'_, '_> {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            self.hand_out_tickets();
            if self.conns.iter().all(Option::is_none) {
                return;
            }
            let now = Instant::now();
            let next = self.conns.iter().flatten().filter_map(|c| c.slot.filter(|s| *s > now).or(c.due)).min();
            // wakes at least every tick to notice Ctrl-C, and at once when a connection has bytes waiting
            let wait = if self.again.is_empty() {
                next.map_or(TICK, |t| t.saturating_duration_since(now).min(TICK))
            } else {
                Duration::ZERO
            };
            if self.poll.poll(&mut events, Some(wait)).is_err() {
                continue; // interrupted (Ctrl-C): the stop flag ends the run on the next ticket
            }
            for i in std::mem::take(&mut self.again).into_iter().chain(events.iter().map(|e| e.token().0)) {
                if let Some(conn) = self.conns[i].as_mut() {
                    let step = advance(self.shared, conn);
                    self.settle(i, step);
                }
            }
            self.check_clock();
        }
    }

    /// Gives every idle connection its next request, or closes it when there is none.
    fn hand_out_tickets(&mut self) {
        while let Some(i) = self.ready.pop_front() {
            let reuse = self.conns[i].take().filter(|c| c.stream.is_some());
            let Some(slot) = self.shared.ticket() else {
                if let Some(mut conn) = reuse {
                    close(&mut self.poll, &mut conn);
                }
                continue;
            };
            let now = Instant::now();
            let mut conn = reuse.unwrap_or(Connection {
                stream: None,
                phase: Phase::Idle,
                response: Response::default(),
                close_after: false,
                began: now,
                due: None,
                slot: None,
            });
            conn.slot = slot.filter(|s| *s > now);
            let waits = conn.slot.is_some();
            self.conns[i] = Some(conn);
            if !waits {
                self.begin(i, now);
            }
        }
    }

    /// Starts the request of connection `i` now.
    fn begin(&mut self, i: usize, now: Instant) {
        let Some(conn) = self.conns[i].as_mut() else { return };
        conn.slot = None;
        conn.began = now;
        conn.due = self.shared.due(now);
        conn.response.reset();
        conn.close_after = false;
        let step = begin(&mut self.poll, self.shared, i, conn);
        self.settle(i, step);
    }

    /// Starts the requests whose slot has come; ends those whose deadline has passed.
    fn check_clock(&mut self) {
        let now = Instant::now();
        for i in 0..self.conns.len() {
            let Some(conn) = self.conns[i].as_mut() else { continue };
            match (&conn.phase, conn.slot) {
                (Phase::Idle, Some(_)) if self.shared.finished() => {
                    // its slot had not come when the run ended: never sent, not counted
                    close(&mut self.poll, conn);
                    self.conns[i] = None;
                }
                (Phase::Idle, Some(at)) if at <= now => self.begin(i, now),
                (Phase::Idle, _) => {}
                _ if conn.due.is_some_and(|d| d <= now) => self.settle(i, Step::Due),
                _ => {}
            }
        }
    }

    fn settle(&mut self, i: usize, step: Step) {
        let Some(conn) = self.conns[i].as_mut() else { return };
        let result = match step {
            Step::Pending => return,
            Step::Again => return self.again.push(i),
            Step::Done(result) => result,
            Step::Due if self.shared.run_over(Instant::now()) => {
                // in flight when the run ended: sent, but neither answered nor failed
                if matches!(conn.phase, Phase::Writing { .. } | Phase::Reading) {
                    self.summary.unfinished += 1;
                }
                close(&mut self.poll, conn);
                return self.ready.push_back(i);
            }
            Step::Due => Err(ErrorKind::Timeout),
            Step::NoDescriptors => {
                // never sent: the run stops and says why
                let _ = self.shared.aborted.set(super::out_of_descriptors_message());
                close(&mut self.poll, conn);
                self.conns[i] = None;
                return;
            }
        };
        self.summary.record(result, conn.began.elapsed());
        self.summary.body_bytes += conn.response.body_bytes;
        (self.progress)(self.shared.done.fetch_add(1, Ordering::Relaxed) + 1);
        conn.phase = Phase::Idle;
        if result.is_err() || conn.close_after {
            close(&mut self.poll, conn);
        }
        self.ready.push_back(i);
    }
}

/// Sends the request (connecting first when needed).
fn begin(poll: &mut Poll, shared: &Shared, i: usize, conn: &mut Connection) -> Step {
    if conn.stream.is_none() {
        let mut stream = match TcpStream::connect(shared.target.addr) {
            Ok(s) => s,
            Err(e) if out_of_descriptors(&e) => return Step::NoDescriptors,
            Err(_) => return Step::Done(Err(ErrorKind::Connect)),
        };
        if let Err(e) = poll.registry().register(&mut stream, Token(i), Interest::WRITABLE | Interest::READABLE) {
            return if out_of_descriptors(&e) { Step::NoDescriptors } else { Step::Done(Err(ErrorKind::Other)) };
        }
        let _ = stream.set_nodelay(true);
        conn.stream = Some(stream);
        conn.phase = Phase::Connecting;
        return Step::Pending;
    }
    conn.phase = Phase::Writing { written: 0 };
    write(shared, conn)
}

/// Handles readiness.
fn advance(shared: &Shared, conn: &mut Connection) -> Step {
    match conn.phase {
        Phase::Idle => Step::Pending,
        Phase::Connecting => {
            let Some(stream) = conn.stream.as_ref() else { return Step::Done(Err(ErrorKind::Other)) };
            match stream.take_error() {
                Ok(Some(_)) | Err(_) => return Step::Done(Err(ErrorKind::Connect)),
                Ok(None) => {}
            }
            match stream.peer_addr() {
                Ok(_) => {
                    conn.phase = Phase::Writing { written: 0 };
                    write(shared, conn)
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Step::Pending,
                Err(_) => Step::Done(Err(ErrorKind::Connect)),
            }
        }
        Phase::Writing { .. } => write(shared, conn),
        Phase::Reading => read(conn),
    }
}

fn write(shared: &Shared, conn: &mut Connection) -> Step {
    let Phase::Writing { mut written } = conn.phase else { return Step::Pending };
    let Some(stream) = conn.stream.as_mut() else { return Step::Done(Err(ErrorKind::Other)) };
    while written < shared.request.len() {
        match stream.write(&shared.request[written..]) {
            Ok(0) => return Step::Done(Err(ErrorKind::Reset)),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.phase = Phase::Writing { written };
                return Step::Pending;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Step::Done(Err(classify(&e))),
        }
    }
    conn.phase = Phase::Reading;
    read(conn)
}

/// Reads what has arrived, up to a turn's worth, feeding the parser.
fn read(conn: &mut Connection) -> Step {
    let Some(stream) = conn.stream.as_mut() else { return Step::Done(Err(ErrorKind::Other)) };
    let mut chunk = [0u8; 16 * 1024];
    let mut turn = 0;
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => {
                // the server closed: a response that ends with the connection is complete; anything else is a reset
                conn.close_after = true;
                return Step::Done(conn.response.at_eof().map(|(status, _)| status));
            }
            Ok(n) => {
                if let Some(done) = conn.response.feed(&chunk[..n]) {
                    let done = done.map(|(status, keep)| {
                        conn.close_after = !keep;
                        status
                    });
                    return Step::Done(done);
                }
                turn += n;
                if conn.due.is_some_and(|d| Instant::now() >= d) {
                    return Step::Due;
                }
                if turn >= READ_TURN {
                    return Step::Again;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Step::Done(Err(classify(&e))),
        }
    }
}

/// One HTTP/1.1 response, read incrementally: fed the bytes as they arrive, in pieces of any size, it looks
/// at each byte once, keeps the head (at most `MAX_HEAD`) and only counts the body.
#[derive(Debug, Default)]
pub(crate) struct Response {
    head: Vec<u8>,
    status: u16,
    keep_alive: bool,
    body: Body,
    /// A chunk-size or trailer line being read.
    line: Vec<u8>,
    /// Body bytes received (chunked framing excluded).
    pub(crate) body_bytes: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Body {
    #[default]
    Head,
    /// This many bytes still to come.
    Length(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data; how many of its bytes were seen.
    ChunkEnd(u8),
    Trailer,
    Done,
}

impl Response {
    /// Feeds the next bytes: Some((status, keep_alive)) once the response is complete (bytes after it are
    /// ignored: requests are not pipelined), Some(error) when it cannot be one, None while more is needed.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Option<Result<(u16, bool), ErrorKind>> {
        loop {
            match self.body {
                Body::Done => return Some(Ok((self.status, self.keep_alive))),
                _ if bytes.is_empty() => return None,
                Body::Head => {
                    let old = self.head.len();
                    let take = bytes.len().min(MAX_HEAD - old);
                    self.head.extend_from_slice(&bytes[..take]);
                    let from = old.saturating_sub(3);
                    match self.head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
                        Some(at) => {
                            let end = from + at + 4;
                            bytes = &bytes[end - old..];
                            self.head.truncate(end);
                            if let Err(kind) = self.read_head() {
                                return Some(Err(kind));
                            }
                        }
                        None if self.head.len() >= MAX_HEAD => return Some(Err(ErrorKind::Protocol)),
                        None => return None,
                    }
                }
                Body::Length(left) => {
                    let take = left.min(bytes.len() as u64);
                    self.body_bytes += take;
                    bytes = &bytes[take as usize..];
                    self.body = if take == left { Body::Done } else { Body::Length(left - take) };
                }
                Body::UntilClose => {
                    self.body_bytes += bytes.len() as u64;
                    return None;
                }
                Body::ChunkSize | Body::Trailer => {
                    if !self.take_line(&mut bytes) {
                        if self.line.len() > MAX_LINE {
                            return Some(Err(ErrorKind::Protocol));
                        }
                        continue;
                    }
                    let line = self.line.trim_ascii();
                    let next = if self.body == Body::Trailer {
                        if line.is_empty() {
                            Body::Done
                        } else {
                            Body::Trailer
                        }
                    } else {
                        let size = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
                        match std::str::from_utf8(size).ok().and_then(|s| u64::from_str_radix(s, 16).ok()) {
                            Some(0) => Body::Trailer,
                            Some(size) => Body::ChunkData(size),
                            None => return Some(Err(ErrorKind::Protocol)),
                        }
                    };
                    self.line.clear();
                    self.body = next;
                }
                Body::ChunkData(left) => {
                    let take = left.min(bytes.len() as u64);
                    self.body_bytes += take;
                    bytes = &bytes[take as usize..];
                    self.body = if take == left { Body::ChunkEnd(0) } else { Body::ChunkData(left - take) };
                }
                Body::ChunkEnd(seen) => {
                    if bytes[0] != b"\r\n"[usize::from(seen)] {
                        return Some(Err(ErrorKind::Protocol));
                    }
                    bytes = &bytes[1..];
                    self.body = if seen == 1 { Body::ChunkSize } else { Body::ChunkEnd(1) };
                }
            }
        }
    }

    /// Ready for the next response on the same connection, keeping a small head's buffer.
    pub(crate) fn reset(&mut self) {
        if self.head.capacity() > 4096 {
            self.head = Vec::new(); // a huge head is not kept for the next response
        }
        let head = std::mem::take(&mut self.head);
        *self = Response { head, ..Response::default() };
        self.head.clear();
    }

    /// The connection closed: complete if the response ends with it, else a reset.
    fn at_eof(&self) -> Result<(u16, bool), ErrorKind> {
        match self.body {
            Body::UntilClose | Body::Done => Ok((self.status, false)),
            _ => Err(ErrorKind::Reset),
        }
    }

    /// Collects bytes up to a newline into `self.line` (kept only up to `MAX_LINE` + 1); true once the line
    /// is complete.
    fn take_line(&mut self, bytes: &mut &[u8]) -> bool {
        let end = bytes.iter().position(|&b| b == b'\n');
        let piece = &bytes[..end.unwrap_or(bytes.len())];
        let room = (MAX_LINE + 1).saturating_sub(self.line.len());
        self.line.extend_from_slice(&piece[..piece.len().min(room)]);
        *bytes = &bytes[end.map_or(bytes.len(), |e| e + 1)..];
        end.is_some()
    }

    /// Reads the status line and the headers that frame the body.
    fn read_head(&mut self) -> Result<(), ErrorKind> {
        let text = std::str::from_utf8(&self.head[..self.head.len() - 4]).map_err(|_| ErrorKind::Protocol)?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut words = status_line.split_whitespace();
        let version = words.next().unwrap_or_default();
        let status = words.next().and_then(|s| s.parse::<u16>().ok()).filter(|s| (100..1000).contains(s));
        let (true, Some(status)) = (version.starts_with("HTTP/"), status) else { return Err(ErrorKind::Protocol) };
        let (mut length, mut chunked, mut keep) = (None, false, version != "HTTP/1.0");
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                let n = value.parse::<u64>().map_err(|_| ErrorKind::Protocol)?;
                if length.is_some_and(|m| m != n) {
                    return Err(ErrorKind::Protocol);
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                keep = !value.eq_ignore_ascii_case("close");
            }
        }
        if (100..200).contains(&status) && status != 101 {
            // an interim response: the real one follows
            self.head.clear();
            return Ok(());
        }
        self.status = status;
        self.body = match (status, chunked, length) {
            (204 | 304, _, _) | (_, false, Some(0)) => Body::Done,
            (_, true, _) => Body::ChunkSize,
            (_, false, Some(n)) => Body::Length(n),
            (_, false, None) => Body::UntilClose,
        };
        self.keep_alive = keep && self.body != Body::UntilClose;
        Ok(())
    }
}

/// A complete response in `buffer`: Some((status, keep_alive)); None while more bytes are needed.
pub fn parse(buffer: &[u8], at_eof: bool) -> Option<Result<(u16, bool), ErrorKind>> {
    let mut response = Response::default();
    match response.feed(buffer) {
        None if at_eof => Some(response.at_eof()),
        other => other,
    }
}

fn close(poll: &mut Poll, conn: &mut Connection) {
    if let Some(mut stream) = conn.stream.take() {
        let _ = poll.registry().deregister(&mut stream);
    }
    conn.phase = Phase::Idle;
}

/// EMFILE or ENFILE (WSAEMFILE or WSAENOBUFS on Windows): the process or the system has no descriptor left.
fn out_of_descriptors(error: &io::Error) -> bool {
    #[cfg(unix)]
    let codes = [nix::errno::Errno::EMFILE as i32, nix::errno::Errno::ENFILE as i32];
    #[cfg(not(unix))]
    let codes = [10024, 10055];
    error.raw_os_error().is_some_and(|code| codes.contains(&code))
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
        assert_eq!(parse(b"HTTP/1.0 200 OK\r\n\r\nuntil close", true), Some(Ok((200, false))));
        assert_eq!(parse(b"HTTP/1.1 204 No Content\r\n\r\n", false), Some(Ok((204, true))));
        assert_eq!(
            parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false),
            Some(Ok((201, true)))
        );
    }

    #[test]
    fn what_no_server_may_send_is_refused_not_kept() {
        let huge = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", false);
        assert_eq!(huge, Some(Err(ErrorKind::Protocol)), "a length past u64");
        let two = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", false);
        assert_eq!(two, Some(Err(ErrorKind::Protocol)), "two lengths");
        let chunk = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOKxx", false);
        assert_eq!(chunk, Some(Err(ErrorKind::Protocol)), "a chunk not ended by CRLF");
        // headers without end: refused at 64 KiB, never kept beyond
        let mut response = Response::default();
        response.feed(b"HTTP/1.1 200 OK\r\n");
        let filler = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(100);
        let mut outcome = None;
        for _ in 0..100 {
            outcome = response.feed(&filler);
            if outcome.is_some() {
                break;
            }
        }
        assert_eq!(outcome, Some(Err(ErrorKind::Protocol)));
        assert!(response.head.capacity() <= 2 * MAX_HEAD);
        // a chunk-size line without end
        let mut response = Response::default();
        response.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let outcome = (0..100).find_map(|_| response.feed(&[b'f'; 1000]));
        assert_eq!(outcome, Some(Err(ErrorKind::Protocol)));
    }

    #[test]
    fn a_huge_body_is_counted_not_kept() {
        let mut response = Response::default();
        assert_eq!(response.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n"), None);
        let piece = [b'x'; 1 << 16];
        for _ in 0..1024 {
            assert_eq!(response.feed(&piece), None);
        }
        assert_eq!(response.body_bytes, 1 << 26);
        assert!(response.head.capacity() < 4096, "only the head is kept");
    }

    proptest::proptest! {
        /// However the bytes are cut into pieces, the response reads the same as when it arrives whole.
        #[test]
        fn pieces_read_as_the_whole(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..400, 0..8),
            chunked in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = if chunked {
                let mut b = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                for piece in body.chunks(7) {
                    b.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    b.extend_from_slice(piece);
                    b.extend_from_slice(b"\r\n");
                }
                b.extend_from_slice(b"0\r\n\r\n");
                b
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes()
            };
            if !chunked {
                bytes.extend_from_slice(&body);
            }
            let whole = parse(&bytes, false);
            proptest::prop_assert_eq!(whole, Some(Ok((200, true))));
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort();
            let mut response = Response::default();
            let mut outcome = None;
            let mut from = 0;
            for to in cuts.into_iter().chain([bytes.len()]) {
                if outcome.is_none() {
                    outcome = response.feed(&bytes[from..to]);
                }
                from = to;
            }
            proptest::prop_assert_eq!(outcome, whole);
            proptest::prop_assert_eq!(response.body_bytes, body.len() as u64);
        }
    }
}
