//! `kubectl port-forward`: SPDY/3.1 over an HTTP upgrade, as kubectl 1.27–1.33 speak it (newer clients try
//! WebSockets first and fall back on a 400). For each local connection kubectl opens an `error` and a
//! `data` stream sharing a `requestid`; we connect the data stream to wherever the pod's port really
//! listens (the world says where) and end the error stream when the connection is done.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::apiserver::ApiState;
use crate::http::{Reply, Request, Response};
use crate::store::ApiError;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 0x01;

pub fn upgrade(state: &Arc<ApiState>, namespace: &str, pod: &str, request: &Request) -> Reply {
    let upgrade = request.header("upgrade").unwrap_or_default().to_ascii_lowercase();
    if !upgrade.starts_with("spdy/3.1") {
        // kubectl 1.31+ try WebSockets first; a 400 makes them fall back to SPDY.
        return Reply::Full(Response::bytes(400, "text/plain", b"only SPDY/3.1 port-forward is served".to_vec()));
    }
    let running = state.store.get("/pods", namespace, pod).is_some_and(|p| p["status"]["phase"] == "Running");
    if !running {
        let error = ApiError::not_found("/pods", pod);
        return Reply::Full(Response::json(404, &error.status()));
    }
    let (state, namespace, pod) = (state.clone(), namespace.to_string(), pod.to_string());
    let headers = vec![
        ("Connection".to_string(), "Upgrade".to_string()),
        ("Upgrade".to_string(), "SPDY/3.1".to_string()),
        ("X-Stream-Protocol-Version".to_string(), "portforward.k8s.io".to_string()),
    ];
    Reply::Upgrade(headers, Box::new(move |stream, buffered| serve(&state, &namespace, &pod, stream, buffered)))
}

/// The SPDY/3 header compression dictionary: length-prefixed header names and values, then common text.
pub fn dictionary() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ];
    const TAIL: &str = concat!(
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized",
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable",
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT",
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,",
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    );
    let mut dict = Vec::with_capacity(1423);
    for word in WORDS {
        dict.extend_from_slice(&(word.len() as u32).to_be_bytes());
        dict.extend_from_slice(word.as_bytes());
    }
    dict.extend_from_slice(TAIL.as_bytes());
    dict
}

/// Frames go out through one lock; header blocks share one compression context for the connection.
struct Writer {
    stream: Mutex<TcpStream>,
    compressor: Mutex<Compress>,
}

impl Writer {
    fn control(&self, kind: u16, flags: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(8 + payload.len());
        frame.extend_from_slice(&(0x8003u16).to_be_bytes());
        frame.extend_from_slice(&kind.to_be_bytes());
        frame.push(flags);
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(payload);
        self.stream.lock().expect("writer").write_all(&frame)
    }

    fn data(&self, stream_id: u32, flags: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(8 + payload.len());
        frame.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
        frame.push(flags);
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        frame.extend_from_slice(payload);
        self.stream.lock().expect("writer").write_all(&frame)
    }

    fn syn_reply(&self, stream_id: u32) -> std::io::Result<()> {
        let block = self.compress(&0u32.to_be_bytes());
        let mut payload = stream_id.to_be_bytes().to_vec();
        payload.extend_from_slice(&block);
        self.control(SYN_REPLY, 0, &payload)
    }

    fn compress(&self, input: &[u8]) -> Vec<u8> {
        let mut compressor = self.compressor.lock().expect("compressor");
        let mut out = Vec::with_capacity(input.len() + 64);
        let _ = compressor.compress_vec(input, &mut out, FlushCompress::Sync);
        out
    }
}

#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
}

fn serve(state: &Arc<ApiState>, namespace: &str, pod: &str, stream: TcpStream, buffered: Vec<u8>) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut compressor = Compress::new(Compression::default(), true);
    let _ = compressor.set_dictionary(&dictionary());
    let writer = Arc::new(Writer { stream: Mutex::new(stream), compressor: Mutex::new(compressor) });
    let mut reader = Cursor::new(buffered).chain(read_half);
    let mut inflater = HeaderInflater::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut targets: HashMap<u32, TcpStream> = HashMap::new();
    loop {
        let mut head = [0u8; 8];
        if reader.read_exact(&mut head).is_err() {
            break;
        }
        let flags = head[4];
        let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
        let mut payload = vec![0; length];
        if reader.read_exact(&mut payload).is_err() {
            break;
        }
        if head[0] & 0x80 == 0 {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
            if let Some(target) = targets.get_mut(&stream_id) {
                if !payload.is_empty() && target.write_all(&payload).is_err() {
                    targets.remove(&stream_id);
                } else if flags & FLAG_FIN != 0 {
                    let _ = target.shutdown(Shutdown::Write);
                }
            }
            continue;
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        match kind {
            SYN_STREAM if payload.len() >= 10 => {
                let stream_id = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
                let headers = inflater.headers(&payload[10..]).unwrap_or_default();
                let _ = writer.syn_reply(stream_id);
                let get =
                    |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
                let pair = pairs.entry(get("requestid")).or_default();
                pair.port = get("port").parse().unwrap_or(0);
                match get("streamtype").as_str() {
                    "error" => pair.error = Some(stream_id),
                    "data" => pair.data = Some(stream_id),
                    _ => {}
                }
                if let (Some(error), Some(data)) = (pair.error, pair.data) {
                    let port = pair.port;
                    connect(state, namespace, pod, port, error, data, &writer, &mut targets);
                }
            }
            RST_STREAM if payload.len() >= 4 => {
                let stream_id = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
                if let Some(target) = targets.remove(&stream_id) {
                    let _ = target.shutdown(Shutdown::Both);
                }
            }
            PING => {
                let _ = writer.control(PING, 0, &payload);
            }
            GOAWAY => break,
            _ => {}
        }
    }
    for target in targets.values() {
        let _ = target.shutdown(Shutdown::Both);
    }
}

#[allow(clippy::too_many_arguments)]
fn connect(
    state: &Arc<ApiState>,
    namespace: &str,
    pod: &str,
    port: u16,
    error_stream: u32,
    data_stream: u32,
    writer: &Arc<Writer>,
    targets: &mut HashMap<u32, TcpStream>,
) {
    let ext = state.ext.read().expect("ext").clone();
    let address = ext.and_then(|e| e.port_target(state, namespace, pod, port));
    let connection = address.and_then(|a| TcpStream::connect(a).ok());
    let Some(connection) = connection else {
        let message = format!(
            "error forwarding port {port} to pod {pod}, uid : failed to execute portforward in network namespace: failed to connect to localhost:{port} inside namespace: connection refused"
        );
        let _ = writer.data(error_stream, 0, message.as_bytes());
        let _ = writer.data(error_stream, FLAG_FIN, &[]);
        return;
    };
    let Ok(mut from_target) = connection.try_clone() else {
        return;
    };
    targets.insert(data_stream, connection);
    let writer = writer.clone();
    thread::spawn(move || {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            match from_target.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if writer.data(data_stream, 0, &buffer[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = writer.data(data_stream, FLAG_FIN, &[]);
        // kubectl closes its local socket only once the error stream ends.
        let _ = writer.data(error_stream, FLAG_FIN, &[]);
    });
}

/// One decompression context for every header block the client sends on this connection.
struct HeaderInflater {
    inflater: Decompress,
}

impl HeaderInflater {
    fn new() -> Self {
        HeaderInflater { inflater: Decompress::new(true) }
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(4096);
        while !input.is_empty() {
            if out.capacity() - out.len() < 1024 {
                out.reserve(4096);
            }
            let before = self.inflater.total_in();
            match self.inflater.decompress_vec(input, &mut out, FlushDecompress::Sync) {
                Ok(Status::Ok) | Ok(Status::BufError) | Ok(Status::StreamEnd) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflater.set_dictionary(&dictionary()).map_err(|e| e.to_string())?;
                }
                Err(e) => return Err(e.to_string()),
            }
            let used = (self.inflater.total_in() - before) as usize;
            input = &input[used..];
            if used == 0 && out.capacity() > out.len() {
                // Nothing consumed although there is room: only the dictionary step consumes nothing twice.
                match self.inflater.decompress_vec(input, &mut out, FlushDecompress::Sync) {
                    Ok(_) => {
                        let used = (self.inflater.total_in() - before) as usize;
                        if used == 0 {
                            return Err("header block did not decompress".into());
                        }
                        input = &input[used..];
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(out)
    }

    fn headers(&mut self, block: &[u8]) -> Result<Vec<(String, String)>, String> {
        let raw = self.inflate(block)?;
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], String> {
            let slice = raw.get(at..at + n).ok_or("truncated header block")?;
            at += n;
            Ok(slice)
        };
        let word = |bytes: &[u8]| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let count = word(take(4)?);
        let mut headers = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let name_len = word(take(4)?);
            let name = String::from_utf8_lossy(take(name_len)?).into_owned();
            let value_len = word(take(4)?);
            let value = String::from_utf8_lossy(take(value_len)?).into_owned();
            headers.push((name, value));
        }
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_spdy3_one() {
        let dict = dictionary();
        assert_eq!(dict.len(), 1423);
        // Adler-32, as carried in the zlib header of kubectl's first header block.
        let (mut a, mut b) = (1u32, 0u32);
        for byte in &dict {
            a = (a + u32::from(*byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xe3c6_a7c2);
    }

    #[test]
    fn header_blocks_round_trip_through_the_shared_contexts() {
        let mut compressor = Compress::new(Compression::default(), true);
        compressor.set_dictionary(&dictionary()).unwrap();
        let mut inflater = HeaderInflater::new();
        for (kind, port) in [("error", "8080"), ("data", "8080")] {
            let mut block = 3u32.to_be_bytes().to_vec();
            for (k, v) in [("streamtype", kind), ("port", port), ("requestid", "0")] {
                block.extend_from_slice(&(k.len() as u32).to_be_bytes());
                block.extend_from_slice(k.as_bytes());
                block.extend_from_slice(&(v.len() as u32).to_be_bytes());
                block.extend_from_slice(v.as_bytes());
            }
            let mut compressed = Vec::with_capacity(1024);
            compressor.compress_vec(&block, &mut compressed, FlushCompress::Sync).unwrap();
            let headers = inflater.headers(&compressed).unwrap();
            assert_eq!(headers[0], ("streamtype".to_string(), kind.to_string()));
            assert_eq!(headers[1].1, port);
        }
    }
}
