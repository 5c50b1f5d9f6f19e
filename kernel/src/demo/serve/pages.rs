//! The bodies of the answers: the index page, `/stats` as JSON, a disk sector, and the
//! error pages of requests that were well-formed (404, 400) — all built into the caller's
//! buffer, behind room for the head.

use core::fmt::Write;
use core::ops::Range;

use kernel::api::*;

use super::http::{self, Request, Route, SliceWriter, Status};
use super::stats_json;

/// Builds the answer to `req` in `out`: the body from `head_room` on, the head just before
/// it. Returns the bytes to send (`None`: the answer did not fit).
pub async fn answer(req: &Request, out: &mut [u8], head_room: usize) -> Option<Range<usize>> {
    let (status, content_type, body_len) = {
        let mut body = SliceWriter::new(out.get_mut(head_room..)?);
        let (status, ct) = match req.route {
            Ok(Route::Index) => (index(&mut body).ok().map(|()| Status::Ok)?, "text/html"),
            Ok(Route::Stats) => (
                stats(&mut body).ok().map(|()| Status::Ok)?,
                "application/json",
            ),
            Ok(Route::Blk(sector)) => match super::blk::read(sector, &mut body).await {
                Ok(()) => (Status::Ok, "application/octet-stream"),
                Err(s) => {
                    body = SliceWriter::new(out.get_mut(head_room..)?);
                    http::write_error_body(&mut body, s).ok()?;
                    (s, "text/plain")
                }
            },
            Err(s) => {
                http::write_error_body(&mut body, s).ok()?;
                (s, "text/plain")
            }
        };
        (status, ct, body.written_len())
    };
    let mut head_buf = [0u8; 256];
    let mut head = SliceWriter::new(&mut head_buf);
    http::write_head(&mut head, status, content_type, body_len, req.keep_alive).ok()?;
    let start = head_room.checked_sub(head.written_len())?;
    out[start..head_room].copy_from_slice(head.written());
    let end = if req.head_only {
        head_room
    } else {
        head_room + body_len
    };
    Some(start..end)
}

fn index(w: &mut impl Write) -> core::fmt::Result {
    write!(
        w,
        "<!doctype html>\n<html><head><title>aiolos</title></head><body>\n\
         <h1>aiolos</h1>\n<p>A bare-metal async executor serving this page over virtio-net \
         and smoltcp, {} core(s) online.</p>\n<ul>\n\
         <li><a href=\"/stats\">/stats</a>: per-core executor statistics (JSON)</li>\n\
         <li><a href=\"/blk/0\">/blk/0</a>: sector 0 of the disk</li>\n</ul>\n</body></html>\n",
        cores_online()
    )
}

/// Fields of one core: the work counters always, the wake path's with feature `stats`.
const FIELDS: usize = 14;

fn stats(w: &mut impl Write) -> core::fmt::Result {
    let rows = (0..possible_cores()).filter_map(core_stats).map(|s| {
        let mut f = [("", 0u64); FIELDS];
        f[..4].copy_from_slice(&[
            ("polls", s.polls),
            ("tasks_polled", s.tasks_polled),
            ("bhs_run", s.bhs_run),
            ("timers_fired", s.timers_fired),
        ]);
        let n = match s.wake {
            Some(k) => {
                f[4..].copy_from_slice(&[
                    ("notifies", k.notifies),
                    ("kicks", k.kicks),
                    ("skipped_notifies", k.notifies_skipped),
                    ("accepts_notified", k.accepts_notified),
                    ("sgis", k.sgis_sent),
                    ("wfe_waits", k.wfe_waits),
                    ("wfi_sleeps", k.wfi_sleeps),
                    ("latency_p50", k.latency_p50),
                    ("latency_p99", k.latency_p99),
                    ("latency_max", k.latency_max),
                ]);
                FIELDS
            }
            None => 4,
        };
        (s.core, Fields(f, n))
    });
    stats_json::write(w, (ticks_per_second() / 1_000_000).max(1), rows)
}

/// The first `.1` of the fields.
struct Fields([(&'static str, u64); FIELDS], usize);

impl AsRef<[(&'static str, u64)]> for Fields {
    fn as_ref(&self) -> &[(&'static str, u64)] {
        &self.0[..self.1]
    }
}
