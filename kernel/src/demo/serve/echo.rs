//! One echo socket's task (port 7): send back what arrives until the peer closes or is
//! idle for [`IDLE_MS`].

use kernel::api::net::TcpSocket;
use kernel::api::*;

use super::ECHO_PORT;

/// Receive and transmit buffer of an echo socket.
pub const BUF: usize = 4096;
const IDLE_MS: u64 = 10_000;
const CLOSE_MS: u64 = 2_000;

pub async fn slot(sock: TcpSocket) {
    let mut buf = [0u8; 1024];
    loop {
        if sock.accept(ECHO_PORT).await.is_err() {
            sleep(ms(1_000)).await;
            continue;
        }
        loop {
            let n = match sock.read(&mut buf, Some(now() + ms(IDLE_MS))).await {
                Ok(n @ 1..) => n,
                _ => break,
            };
            if sock
                .write_all(&buf[..n], Some(now() + ms(IDLE_MS)))
                .await
                .is_err()
            {
                break;
            }
        }
        sock.close(now() + ms(CLOSE_MS)).await;
    }
}
