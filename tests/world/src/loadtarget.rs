//! A local HTTP server for load tests that counts the requests it receives and answers each by its number:
//! 200, 500, a reset (closes the connection without answering), a stall (never answers), or one of the ways a
//! broken server misbehaves: a body without end, headers without end, a huge Content-Length it never
//! fulfils, endless chunks, or a response trickled a byte at a time (slowloris). Those stream until the
//! client hangs up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Error500,
    Reset,
    Stall,
    /// `200 OK` with no length, then body bytes as fast as they go.
    EndlessBody,
    /// `Content-Length: 99999999999`, then body bytes as fast as they go.
    HugeLength,
    /// Header lines as fast as they go, never the blank line that ends them.
    EndlessHeaders,
    /// `Transfer-Encoding: chunked`, then chunks, never the last one.
    EndlessChunks,
    /// A 100-byte response, one byte every 100 ms.
    Slowloris,
}

pub struct LoadTarget {
    pub addr: SocketAddr,
    received: Arc<AtomicU64>,
}

impl LoadTarget {
    /// `answer(n)` decides the reply to the n-th request (0-based, in arrival order).
    pub fn start(answer: fn(u64) -> Answer) -> LoadTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                thread::spawn(move || serve(stream, &counter, answer));
            }
        });
        LoadTarget { addr, received }
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}/in-box", self.addr)
    }
}

fn serve(stream: TcpStream, counter: &AtomicU64, answer: fn(u64) -> Answer) {
    let Ok(write_half) = stream.try_clone() else { return };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim_end().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = counter.fetch_add(1, Ordering::SeqCst);
        match answer(n) {
            Answer::Ok => {
                let _ = writer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
            }
            Answer::Error500 => {
                let _ = writer.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror");
            }
            Answer::Reset => return, // drops the connection without a word
            Answer::EndlessBody => return stream_forever(&mut writer, b"HTTP/1.1 200 OK\r\n\r\n", &[b'x'; 16384]),
            Answer::HugeLength => {
                let head = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
                return stream_forever(&mut writer, head, &[b'x'; 16384]);
            }
            Answer::EndlessHeaders => {
                let line =
                    b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
                return stream_forever(&mut writer, b"HTTP/1.1 200 OK\r\n", &line.repeat(128));
            }
            Answer::EndlessChunks => {
                let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                let chunk = [&b"4000\r\n"[..], &[b'x'; 0x4000], b"\r\n"].concat();
                return stream_forever(&mut writer, head, &chunk);
            }
            Answer::Slowloris => {
                let response = [&b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"[..], &[b'x'; 100]].concat();
                for byte in response.chunks(1) {
                    if writer.write_all(byte).is_err() {
                        return;
                    }
                    // the server's pace, not a test's wait
                    thread::sleep(std::time::Duration::from_millis(100));
                }
            }
            Answer::Stall => {
                // never answers; waits for the client to give up and close
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
                return;
            }
        }
    }
}

/// Writes `head`, then `piece` again and again until the client hangs up.
fn stream_forever(writer: &mut TcpStream, head: &[u8], piece: &[u8]) {
    if writer.write_all(head).is_err() {
        return;
    }
    while writer.write_all(piece).is_ok() {}
}
