//! `serve` (bootarg): the demo as a network service, until QEMU is stopped.
//!
//! - port 80: HTTP/1.1 with keep-alive (`http_conn.rs`; what each request gets: `http.rs`;
//!   the bodies: `pages.rs`): `GET /` a small page, `GET /stats` the per-core executor
//!   statistics as JSON, `GET /blk/N` sector N of the disk;
//! - port 7: TCP echo (`echo.rs`).
//!
//! The network stack runs on core 0 (`kernel::api::net`); the [`HTTP_SLOTS`] HTTP and
//! [`ECHO_SLOTS`] echo sockets are served by one task each, spread over all cores, so
//! connections are parsed and answered on every core. A socket serves one connection at a
//! time and listens again when it is closed; the last free HTTP socket answers 503 and
//! closes, so a client beyond capacity gets an answer (and one beyond that a reset), and
//! the server goes on serving the others.

mod blk;
mod echo;
mod http;
mod http_conn;
mod pages;
mod stats_json;

use kernel::api::*;
use kernel::println;

/// HTTP sockets (concurrent connections; the last one only answers 503).
pub const HTTP_SLOTS: usize = 80;
/// Echo sockets.
pub const ECHO_SLOTS: usize = 4;
pub const HTTP_PORT: u16 = 80;
pub const ECHO_PORT: u16 = 7;

task_pool!(static HTTP: http_conn::slot, HTTP_SLOTS);
task_pool!(static ECHO: echo::slot, ECHO_SLOTS);

/// Start the stack on this core (0), the connection tasks on every core, and print the
/// address once the interface has one.
pub async fn run() {
    let stack = match net::start() {
        Ok(s) => s,
        Err(e) => exit_fail(format_args!("serve: {e}")),
    };
    match blk::open() {
        Some(sectors) => println!("serve: /blk/N reads a disk of {sectors} sectors"),
        None => println!("serve: no disk, /blk/N answers 503"),
    }
    let cores = cores_online();
    for i in 0..HTTP_SLOTS {
        let Some(sock) = net::tcp_socket(http_conn::RX_BUF, http_conn::TX_BUF) else {
            exit_fail(format_args!("serve: no room for HTTP socket {i}"));
        };
        let ctx = context(i % cores).unwrap_or_else(this_context);
        if HTTP.spawn(ctx, http_conn::slot(sock)).is_err() {
            exit_fail(format_args!("serve: cannot spawn HTTP task {i}"));
        }
    }
    for i in 0..ECHO_SLOTS {
        let Some(sock) = net::tcp_socket(echo::BUF, echo::BUF) else {
            exit_fail(format_args!("serve: no room for echo socket {i}"));
        };
        let ctx = context(i % cores).unwrap_or_else(this_context);
        if ECHO.spawn(ctx, echo::slot(sock)).is_err() {
            exit_fail(format_args!("serve: cannot spawn echo task {i}"));
        }
    }
    let (a, prefix) = stack.wait_configured().await;
    let how = if bootarg("ip").is_some() {
        "ip="
    } else {
        "dhcp"
    };
    println!(
        "serve: listening on http://{}.{}.{}.{}:{HTTP_PORT}/ (address /{prefix} by {how}; echo on port {ECHO_PORT}; {HTTP_SLOTS} HTTP sockets on {cores} core(s))",
        a[0], a[1], a[2], a[3]
    );
}
