//! One HTTP socket's task: accept a connection, answer its requests (keep-alive), close,
//! accept the next one.
//!
//! Timeouts (deadlines the network stack keeps, see `kernel/src/net/deadline.rs`): a
//! connection idle between requests for [`IDLE_MS`] is closed quietly; a request head that
//! is not complete [`HEAD_MS`] after its first byte gets 408 and the connection is closed (a
//! client that sends slowly or stalls cannot hold a socket); an answer that does not fit
//! into the send buffer within [`WRITE_MS`] (a client that does not read) ends the
//! connection. A client that leaves mid-answer only ends its own connection (`write_all`
//! fails, the socket is closed).

use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::api::net::TcpSocket;
use kernel::api::*;

use super::http::{self, Parsed, SliceWriter, Status};
use super::{pages, HTTP_PORT, HTTP_SLOTS};

/// Receive buffer of a socket, and the most a request head may take (more: 431).
pub const RX_BUF: usize = 2048;
/// Transmit buffer of a socket.
pub const TX_BUF: usize = 8192;
/// Room for one answer (head and body).
const OUT: usize = 4096;
/// Room reserved before the body for the head.
const HEAD_ROOM: usize = 256;
/// Keep-alive idle limit (long enough for a client that opens many connections at once
/// through QEMU's slirp, whose accept queue holds one: see tests-qemu/src/cases/net.rs).
const IDLE_MS: u64 = 60_000;
const HEAD_MS: u64 = 3_000;
/// How long an answer may take to fit into the send buffer (a peer that does not read).
const WRITE_MS: u64 = 10_000;
/// How long `close` waits for the peer to acknowledge our FIN.
const CLOSE_MS: u64 = 2_000;

/// Connections being served (the last free socket answers 503 instead).
static BUSY: AtomicUsize = AtomicUsize::new(0);

pub async fn slot(sock: TcpSocket) {
    let mut buf = [0u8; RX_BUF];
    let mut out = [0u8; OUT];
    loop {
        if sock.accept(HTTP_PORT).await.is_err() {
            // Cannot listen (should not happen on a fixed port): retry later, never spin.
            sleep(ms(1_000)).await;
            continue;
        }
        // Relaxed: a count of connections, no data is published through it.
        let busy = BUSY.fetch_add(1, Ordering::Relaxed) + 1;
        if busy >= HTTP_SLOTS {
            let _ = send_error(&sock, &mut out, Status::Unavailable).await;
        } else {
            serve(&sock, &mut buf, &mut out).await;
        }
        sock.close(now() + ms(CLOSE_MS)).await;
        // Relaxed: as above.
        BUSY.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answer requests on one connection until it should be closed.
async fn serve(sock: &TcpSocket, buf: &mut [u8; RX_BUF], out: &mut [u8; OUT]) {
    let mut have = 0;
    loop {
        let req = match read_head(sock, buf, &mut have).await {
            Head::Gone => return,
            Head::Reject(status) => {
                let _ = send_error(sock, out, status).await;
                return;
            }
            Head::Request(r) => r,
        };
        let n = match pages::answer(&req, out, HEAD_ROOM).await {
            Some(range) => range,
            None => {
                let _ = send_error(sock, out, Status::InternalError).await;
                return;
            }
        };
        if sock
            .write_all(&out[n], Some(now() + ms(WRITE_MS)))
            .await
            .is_err()
        {
            return;
        }
        // Drop the head, then any body it announced (read and discarded).
        buf.copy_within(req.head_len..have, 0);
        have -= req.head_len;
        let mut body = req.body_len;
        let drop_now = body.min(have);
        buf.copy_within(drop_now..have, 0);
        have -= drop_now;
        body -= drop_now;
        let deadline = now() + ms(HEAD_MS);
        while body > 0 {
            match sock
                .read(&mut buf[..RX_BUF.min(body)], Some(deadline))
                .await
            {
                Ok(n @ 1..) => body -= n,
                _ => return,
            }
        }
        if !req.keep_alive {
            return;
        }
    }
}

enum Head {
    Request(http::Request),
    Reject(Status),
    /// Closed by the peer, or idle too long: close without an answer.
    Gone,
}

/// Read until `buf[..have]` holds a complete request head (or a reason to refuse it).
async fn read_head(sock: &TcpSocket, buf: &mut [u8; RX_BUF], have: &mut usize) -> Head {
    // Until the first byte: the idle limit; from it on: the head's.
    let mut deadline = now() + ms(if *have == 0 { IDLE_MS } else { HEAD_MS });
    loop {
        match http::parse(&buf[..*have], *have == RX_BUF) {
            Parsed::Partial => {}
            Parsed::Request(r) => return Head::Request(r),
            Parsed::Reject(s) => return Head::Reject(s),
        }
        let first = *have == 0;
        match sock.read(&mut buf[*have..], Some(deadline)).await {
            Ok(n @ 1..) => {
                if first {
                    deadline = now() + ms(HEAD_MS);
                }
                *have += n;
            }
            Ok(_) | Err(net::TcpError::Closed | net::TcpError::Listen) => return Head::Gone,
            Err(net::TcpError::TimedOut) if *have == 0 => return Head::Gone,
            Err(net::TcpError::TimedOut) => return Head::Reject(Status::RequestTimeout),
        }
    }
}

/// Send an error page and ask to close.
async fn send_error(
    sock: &TcpSocket,
    out: &mut [u8; OUT],
    status: Status,
) -> Result<(), net::TcpError> {
    let mut w = SliceWriter::new(out);
    // An error page is a few dozen bytes: it always fits.
    let _ = http::write_error(&mut w, status, false);
    let n = w.written_len();
    sock.write_all(&out[..n], Some(now() + ms(WRITE_MS))).await
}
