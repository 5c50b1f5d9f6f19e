//! HTTP/1.1 for the `serve` demo: what a request head asks for, and the head of the answer.
//!
//! Pure `core` + `httparse` (no kernel, no allocator), so the host runs its tests: the
//! harness includes this file (`tests-qemu/src/main.rs`, `serve_http`) and `cargo test -p
//! tests-qemu` runs the `tests` module below. The connection loop (`serve/http_conn.rs`)
//! feeds it the bytes received so far and writes what it returns.
//!
//! What a request gets:
//!
//! | request | answer |
//! | --- | --- |
//! | `GET`/`HEAD` `/`, `/stats`, `/blk/N` | 200 (the body from the route; `HEAD` without it) |
//! | another path | 404 |
//! | `/blk/` with no decimal sector | 400 |
//! | malformed request line or header | 400, connection closed |
//! | request line longer than the buffer | 414, closed |
//! | headers longer than the buffer, or more than [`MAX_HEADERS`] | 431, closed |
//! | `POST`, `PUT`, `DELETE`, `PATCH`, `OPTIONS`, `TRACE`, `CONNECT` | 405 with `Allow`, closed |
//! | any other method token | 501, closed |
//! | `Transfer-Encoding` (a body we would have to decode) | 501, closed |
//! | `Content-Length: n` | n body bytes skipped, then served |
//!
//! Keep-alive: HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 closes it
//! unless `Connection: keep-alive` (what `ab -k` sends), and then the answer says
//! `Connection: keep-alive`. Every answer carries `Content-Length`.

use core::fmt::{self, Write};

/// Most header lines a request may carry (`httparse` needs the array up front).
pub const MAX_HEADERS: usize = 32;

/// What the server answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    UriTooLong,
    HeadersTooLarge,
    InternalError,
    NotImplemented,
    Unavailable,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::UriTooLong => 414,
            Status::HeadersTooLarge => 431,
            Status::InternalError => 500,
            Status::NotImplemented => 501,
            Status::Unavailable => 503,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::UriTooLong => "URI Too Long",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::InternalError => "Internal Server Error",
            Status::NotImplemented => "Not Implemented",
            Status::Unavailable => "Service Unavailable",
        }
    }
}

/// The resource a request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/`: the small HTML page.
    Index,
    /// `/stats`: the per-core executor statistics as JSON.
    Stats,
    /// `/blk/N`: sector N of the disk.
    Blk(u64),
}

/// A request the server serves (the head parsed completely).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// `Err(status)`: a well-formed request for something we answer with an error page
    /// (404, 400 for a bad sector number) and keep the connection.
    pub route: Result<Route, Status>,
    /// `HEAD`: the same head, no body.
    pub head_only: bool,
    pub keep_alive: bool,
    /// Bytes of the buffer the head took.
    pub head_len: usize,
    /// Body bytes (`Content-Length`) that follow the head, to be read and dropped.
    pub body_len: usize,
}

/// What the bytes received so far amount to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet: read more (if the buffer has room).
    Partial,
    Request(Request),
    /// Answer with this status and close the connection.
    Reject(Status),
}

/// Methods HTTP defines that we do not serve (answered 405 with `Allow: GET, HEAD`).
const KNOWN_METHODS: &[&str] = &[
    "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// Parses the request head at the start of `buf`. `full`: the buffer holding `buf` has no
/// room left, so a head still incomplete will never fit (414 or 431).
pub fn parse(buf: &[u8], full: bool) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if !full => return Parsed::Partial,
        Ok(httparse::Status::Partial) => {
            // No end of the request line at all: the target is what overflowed.
            return Parsed::Reject(if buf.windows(2).any(|w| w == b"\r\n") {
                Status::HeadersTooLarge
            } else {
                Status::UriTooLong
            });
        }
        Err(httparse::Error::TooManyHeaders) => return Parsed::Reject(Status::HeadersTooLarge),
        Err(_) => return Parsed::Reject(Status::BadRequest),
    };
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Reject(Status::BadRequest);
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        m if KNOWN_METHODS.contains(&m) => return Parsed::Reject(Status::MethodNotAllowed),
        _ => return Parsed::Reject(Status::NotImplemented),
    };
    let mut keep_alive = version == 1;
    let mut body_len = 0usize;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            match parse_decimal(h.value.trim_ascii()) {
                Some(n) if n <= usize::MAX as u64 => body_len = n as usize,
                _ => return Parsed::Reject(Status::BadRequest),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Reject(Status::NotImplemented);
        }
    }
    Parsed::Request(Request {
        route: route(path),
        head_only,
        keep_alive,
        head_len,
        body_len,
    })
}

/// The route a request target names (the query string ignored).
pub fn route(target: &str) -> Result<Route, Status> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    match path {
        "/" | "/index.html" => Ok(Route::Index),
        "/stats" => Ok(Route::Stats),
        _ => match path.strip_prefix("/blk/") {
            Some(n) => parse_decimal(n.as_bytes())
                .map(Route::Blk)
                .ok_or(Status::BadRequest),
            None => Err(Status::NotFound),
        },
    }
}

/// A non-empty run of ASCII digits that fits a u64.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let d = (b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Writes the status line and headers of an answer (ending with the blank line).
/// A 405 also gets `Allow: GET, HEAD`.
pub fn write_head(
    out: &mut impl Write,
    status: Status,
    content_type: &str,
    content_len: usize,
    keep_alive: bool,
) -> fmt::Result {
    write!(
        out,
        "HTTP/1.1 {} {}\r\nServer: aiolos\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        status.code(),
        status.reason(),
        content_type,
        content_len
    )?;
    if status == Status::MethodNotAllowed {
        out.write_str("Allow: GET, HEAD\r\n")?;
    }
    out.write_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    })
}

/// Writes a plain-text error page for `status` (head and body) into `out`.
pub fn write_error(out: &mut impl Write, status: Status, keep_alive: bool) -> fmt::Result {
    let mut len = Counter(0);
    write_error_body(&mut len, status)?;
    write_head(out, status, "text/plain", len.0, keep_alive)?;
    write_error_body(out, status)
}

pub fn write_error_body(out: &mut impl Write, status: Status) -> fmt::Result {
    writeln!(out, "{} {}", status.code(), status.reason())
}

/// A `fmt::Write` that only counts bytes (to learn a body's length before writing it).
pub struct Counter(pub usize);

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// A `fmt::Write` into a byte slice; writing past its end is an error.
pub struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceWriter<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceWriter { buf, len: 0 }
    }

    /// The bytes written.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// How many bytes are written.
    pub fn written_len(&self) -> usize {
        self.len
    }

    /// Appends raw bytes (a body that is not text); an error if they do not fit.
    pub fn write_bytes(&mut self, b: &[u8]) -> fmt::Result {
        let end = self.len.checked_add(b.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Parsed {
        parse(s.as_bytes(), false)
    }

    fn ok(s: &str) -> Request {
        match req(s) {
            Parsed::Request(r) => r,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn routes_and_keep_alive() {
        let r = ok("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.route, Ok(Route::Index));
        assert!(r.keep_alive && !r.head_only);
        assert_eq!(r.head_len, 27);
        assert_eq!(
            ok("GET /stats?x=1 HTTP/1.1\r\n\r\n").route,
            Ok(Route::Stats)
        );
        assert_eq!(ok("GET /blk/7 HTTP/1.1\r\n\r\n").route, Ok(Route::Blk(7)));
        assert_eq!(
            ok("GET /blk/x HTTP/1.1\r\n\r\n").route,
            Err(Status::BadRequest)
        );
        assert_eq!(
            ok("GET /blk/99999999999999999999999 HTTP/1.1\r\n\r\n").route,
            Err(Status::BadRequest)
        );
        assert_eq!(
            ok("GET /nope HTTP/1.1\r\n\r\n").route,
            Err(Status::NotFound)
        );
        assert!(!ok("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(ok("HEAD / HTTP/1.1\r\n\r\n").head_only);
        assert_eq!(
            ok("GET / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").body_len,
            12
        );
    }

    #[test]
    fn partial_until_the_blank_line() {
        assert_eq!(req(""), Parsed::Partial);
        assert_eq!(req("GET / HT"), Parsed::Partial);
        assert_eq!(req("GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        // Pipelined: the first head is complete, its length says where the next starts.
        let two = "GET / HTTP/1.1\r\n\r\nGET /stats HTTP/1.1\r\n\r\n";
        let first = ok(two);
        assert_eq!(first.head_len, 18);
        assert_eq!(ok(&two[first.head_len..]).route, Ok(Route::Stats));
    }

    #[test]
    fn bad_input() {
        assert_eq!(req("GARBAGE\r\n\r\n"), Parsed::Reject(Status::BadRequest));
        assert_eq!(
            req("GET  / HTTP/1.1\r\n\r\n"),
            Parsed::Reject(Status::BadRequest)
        );
        assert_eq!(
            req("GET / HTTP/9.9\r\n\r\n"),
            Parsed::Reject(Status::BadRequest)
        );
        assert_eq!(
            req("GET / HTTP/1.1\r\nbad header\r\n\r\n"),
            Parsed::Reject(Status::BadRequest)
        );
        assert_eq!(
            req("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Parsed::Reject(Status::BadRequest)
        );
        assert_eq!(
            req("POST / HTTP/1.1\r\n\r\n"),
            Parsed::Reject(Status::MethodNotAllowed)
        );
        assert_eq!(
            req("BREW / HTTP/1.1\r\n\r\n"),
            Parsed::Reject(Status::NotImplemented)
        );
        assert_eq!(
            req("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Reject(Status::NotImplemented)
        );
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect();
        assert_eq!(
            req(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Parsed::Reject(Status::HeadersTooLarge)
        );
        // A full buffer without the blank line: 431 once the request line ended, else 414.
        let long = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(100));
        assert_eq!(
            parse(long.as_bytes(), true),
            Parsed::Reject(Status::HeadersTooLarge)
        );
        assert_eq!(parse(long.as_bytes(), false), Parsed::Partial);
        let uri = format!("GET /{}", "a".repeat(100));
        assert_eq!(
            parse(uri.as_bytes(), true),
            Parsed::Reject(Status::UriTooLong)
        );
    }

    #[test]
    fn heads_and_error_pages() {
        let mut buf = [0u8; 256];
        let mut w = SliceWriter::new(&mut buf);
        write_head(&mut w, Status::Ok, "text/html", 5, true).unwrap();
        assert_eq!(
            core::str::from_utf8(w.written()).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: aiolos\r\nContent-Type: text/html\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"
        );
        let mut w = SliceWriter::new(&mut buf);
        write_error(&mut w, Status::MethodNotAllowed, false).unwrap();
        let s = core::str::from_utf8(w.written()).unwrap();
        assert!(s.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{s}");
        assert!(s.contains("\r\nAllow: GET, HEAD\r\n"), "{s}");
        assert!(s.contains("\r\nConnection: close\r\n"), "{s}");
        let (head, body) = s.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "405 Method Not Allowed\n");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{s}"
        );
    }

    #[test]
    fn slice_writer_refuses_overflow() {
        let mut buf = [0u8; 4];
        let mut w = SliceWriter::new(&mut buf);
        assert!(w.write_str("abc").is_ok());
        assert!(w.write_str("de").is_err());
        assert_eq!(w.written(), b"abc");
        assert!(w.write_bytes(b"d").is_ok());
        assert_eq!(w.written_len(), 4);
    }
}
