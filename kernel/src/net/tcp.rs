//! [`TcpSocket`]: an async TCP socket that any task on any core can use.
//!
//! Each call takes the stack's lock for as long as it copies bytes into or out of the
//! smoltcp socket; when the socket cannot go on (no data, no buffer space, handshake not
//! finished) the task's waker is registered with smoltcp (feature `async`), which wakes it
//! from the stack task's poll, across cores if the task lives elsewhere. After a change the
//! stack must act on (data queued, window opened, a close) the call kicks the stack task.
//!
//! Deadlines are clock ticks (`api::now()` + a duration); a call past its deadline returns
//! [`TcpError::TimedOut`]. They are kept by the stack task (`net/deadline.rs`), so waiting
//! connections hold no executor timer.

use core::future::poll_fn;
use core::task::Poll;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};

use super::deadline::Deadlines;
use super::stack::Stack;

/// Why a socket call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpError {
    /// The connection is gone (reset by the peer, timed out, or closed).
    Closed,
    /// `listen` refused the port (0) or the socket was not closed.
    Listen,
    /// The call's deadline passed.
    TimedOut,
}

impl core::fmt::Display for TcpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TcpError::Closed => "connection closed",
            TcpError::Listen => "cannot listen",
            TcpError::TimedOut => "timed out",
        })
    }
}

/// One TCP socket of the stack (made by `net::tcp_socket`), reused connection after
/// connection: `accept`, serve, `close`, `accept` again.
pub struct TcpSocket {
    stack: &'static Stack,
    handle: SocketHandle,
    /// Its entry in the stack's deadline table.
    index: usize,
}

/// What a call does once it cannot go on: time out, or wait (with or without a deadline).
enum Wait {
    TimedOut,
    Pending { kick: bool },
}

impl TcpSocket {
    pub(super) fn new(stack: &'static Stack, handle: SocketHandle, index: usize) -> Self {
        TcpSocket {
            stack,
            handle,
            index,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut tcp::Socket<'static>) -> R) -> R {
        self.with_deadlines(|s, _| f(s))
    }

    fn with_deadlines<R>(
        &self,
        f: impl FnOnce(&mut tcp::Socket<'static>, &mut Deadlines) -> R,
    ) -> R {
        let mut g = self.stack.inner.lock();
        let inner = &mut *g;
        f(
            inner.sockets.get_mut::<tcp::Socket>(self.handle),
            &mut inner.deadlines,
        )
    }

    /// The call cannot go on: past `deadline` it times out, else it records the deadline
    /// (under the stack's lock, with the socket's waker registration) and waits.
    fn wait(&self, d: &mut Deadlines, deadline: Option<u64>, cx: &core::task::Context) -> Wait {
        let Some(deadline) = deadline else {
            return Wait::Pending { kick: false };
        };
        if hal::timer::counter() >= deadline {
            d.clear(self.index);
            return Wait::TimedOut;
        }
        Wait::Pending {
            kick: d.set(self.index, deadline, cx.waker()),
        }
    }

    /// Listen on `port` and wait for a peer; returns once the connection is established.
    pub async fn accept(&self, port: u16) -> Result<(), TcpError> {
        self.with(|s| {
            if s.state() != State::Listen {
                s.abort();
                s.listen(port).map_err(|_| TcpError::Listen)
            } else {
                Ok(())
            }
        })?;
        self.stack.kick();
        poll_fn(|cx| {
            self.with(|s| match s.state() {
                State::Listen | State::SynReceived => {
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                // Reset before we saw it: listen again.
                State::Closed => {
                    let r = s.listen(port).map_err(|_| TcpError::Listen);
                    if r.is_err() {
                        return Poll::Ready(r);
                    }
                    s.register_recv_waker(cx.waker());
                    Poll::Pending
                }
                _ => Poll::Ready(Ok(())),
            })
        })
        .await
    }

    /// Read what has arrived into `buf` (waiting for at least one byte, until `deadline`);
    /// `Ok(0)`: the peer closed its side (or the connection is gone).
    pub async fn read(&self, buf: &mut [u8], deadline: Option<u64>) -> Result<usize, TcpError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let r = poll_fn(|cx| {
            let (r, kick) = self.with_deadlines(|s, d| {
                if s.can_recv() {
                    d.clear(self.index);
                    return (
                        Poll::Ready(s.recv_slice(buf).map_err(|_| TcpError::Closed)),
                        false,
                    );
                }
                if !s.may_recv() {
                    d.clear(self.index);
                    return (Poll::Ready(Ok(0)), false);
                }
                match self.wait(d, deadline, cx) {
                    Wait::TimedOut => (Poll::Ready(Err(TcpError::TimedOut)), false),
                    Wait::Pending { kick } => {
                        s.register_recv_waker(cx.waker());
                        (Poll::Pending, kick)
                    }
                }
            });
            if kick {
                self.stack.kick();
            }
            r
        })
        .await;
        // Space freed in the receive window: the stack may owe the peer a window update.
        self.stack.kick();
        r
    }

    /// Queue all of `data` for sending (waiting for buffer space as needed, until
    /// `deadline`).
    pub async fn write_all(&self, mut data: &[u8], deadline: Option<u64>) -> Result<(), TcpError> {
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let (r, kick) = self.with_deadlines(|s, d| {
                    if !s.may_send() {
                        d.clear(self.index);
                        return (Poll::Ready(Err(TcpError::Closed)), false);
                    }
                    if s.can_send() {
                        d.clear(self.index);
                        let r = s.send_slice(data).map_err(|_| TcpError::Closed);
                        return (Poll::Ready(r), false);
                    }
                    match self.wait(d, deadline, cx) {
                        Wait::TimedOut => (Poll::Ready(Err(TcpError::TimedOut)), false),
                        Wait::Pending { kick } => {
                            s.register_send_waker(cx.waker());
                            (Poll::Pending, kick)
                        }
                    }
                });
                if kick {
                    self.stack.kick();
                }
                r
            })
            .await?;
            data = &data[n..];
            self.stack.kick();
        }
        Ok(())
    }

    /// Close our side (after the queued data) and wait until the peer has acknowledged it
    /// or `deadline` passed; then free the socket for the next `accept` (a connection left
    /// in TIME-WAIT or unacknowledged is aborted: its peer has had its answer).
    pub async fn close(&self, deadline: u64) {
        self.with(|s| s.close());
        self.stack.kick();
        poll_fn(|cx| {
            let (r, kick) = self.with_deadlines(|s, d| match s.state() {
                State::Closed | State::TimeWait | State::Listen => {
                    d.clear(self.index);
                    (Poll::Ready(()), false)
                }
                _ => match self.wait(d, Some(deadline), cx) {
                    Wait::TimedOut => (Poll::Ready(()), false),
                    Wait::Pending { kick } => {
                        s.register_send_waker(cx.waker());
                        (Poll::Pending, kick)
                    }
                },
            });
            if kick {
                self.stack.kick();
            }
            r
        })
        .await;
        self.abort();
    }

    /// Drop the connection at once (a reset if it was open).
    pub fn abort(&self) {
        self.with(|s| s.abort());
        self.stack.kick();
    }
}
