//! The network service (`serve` bootarg) under QEMU user networking, checked with real
//! clients from the host: `curl` for the endpoints, raw TCP for bad input and the echo port,
//! and a load of [`LOAD_CONNS`] concurrent keep-alive connections for [`LOAD_REQUESTS`]
//! requests whose every body is compared. GICv2 and v3, smp 1 and 4; a negative control with
//! the `virtio_no_wake` mutant (the device interrupt's wake dropped) must fail.
//!
//! The load generator is in the harness (threads over `std::net`), not `ab`: QEMU's slirp
//! listens on the forwarded port with a backlog of 1 (`ss -ltn` shows Send-Q 1), so `ab`'s 64
//! simultaneous connects overflow the host's accept queue and some wait in SYN retransmission
//! (1, 3, 7, 15, 31 s; slirp then accepts them late) past any sane timeout (2 of 4 runs
//! here); here each thread connects and gets one warm-up answer with a 60 s limit, and then
//! all 64 send their share of the measured requests together.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::boot::build::{KernelBuild, Output};
use crate::boot::qemu::BootConfig;
use crate::firmware::console::{Console, Event};
use crate::suite::options::Options;
use crate::suite::report::Tally;
use crate::util;

/// Concurrent connections of the load.
pub const LOAD_CONNS: usize = 64;
/// Requests of the load, in all.
pub const LOAD_REQUESTS: usize = 2048;

/// The QEMU virtio-net device of each transport.
pub const NET_MMIO: &str = "virtio-net-device";
pub const NET_PCI: &str = "virtio-net-pci";

/// One boot of the service.
pub struct NetCase {
    pub name: &'static str,
    /// Boot options in `run` syntax.
    pub options: &'static str,
    /// Extra bootargs after `serve`.
    pub bootargs: &'static str,
    /// A negative control: the kernel built with this mutant must fail the checks.
    pub mutant: Option<&'static str>,
    /// The QEMU device: [`NET_MMIO`] or [`NET_PCI`] (behind QEMU's PCIe host bridge).
    pub device: &'static str,
}

impl NetCase {
    pub const DEFAULT: NetCase = NetCase {
        name: "",
        options: "--gic 3 --smp 4",
        bootargs: "",
        mutant: None,
        device: NET_MMIO,
    };
}

pub const NET_CASES: &[NetCase] = &[
    NetCase {
        name: "net-serve-gic3-smp4",
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-gic2-smp1",
        options: "--gic 2 --smp 1",
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-gic3-smp1-static-ip",
        options: "--gic 3 --smp 1",
        bootargs: "ip=10.0.2.15/24,gw=10.0.2.2",
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-gic2-smp4",
        options: "--gic 2 --smp 4",
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-mutant-virtio_no_wake",
        mutant: Some("virtio_no_wake"),
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-pci-gic2-smp1",
        options: "--gic 2 --smp 1",
        device: NET_PCI,
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-pci-gic3-smp1",
        options: "--gic 3 --smp 1",
        device: NET_PCI,
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-pci-gic2-smp4",
        options: "--gic 2 --smp 4",
        device: NET_PCI,
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-pci-gic3-smp4",
        device: NET_PCI,
        ..NetCase::DEFAULT
    },
    NetCase {
        name: "net-serve-pci-mutant-virtio_no_wake",
        mutant: Some("virtio_no_wake"),
        device: NET_PCI,
        ..NetCase::DEFAULT
    },
];

/// The selected names, in run order.
pub fn names() -> impl Iterator<Item = &'static str> {
    NET_CASES.iter().map(|c| c.name)
}

/// Runs the selected cases one after another (each holds two host ports and a QEMU).
pub fn run(o: &Options, tally: &mut Tally) {
    let cases: Vec<&NetCase> = NET_CASES.iter().filter(|c| o.selected(c.name)).collect();
    if cases.is_empty() {
        return;
    }
    if util::which("curl").is_none() {
        for c in &cases {
            println!("    {} ... skipped: curl is not installed", c.name);
            tally.skipped += 1;
        }
        return;
    }
    for c in cases {
        let build = match (c.mutant, &o.kernel) {
            (Some(m), _) => KernelBuild::mutant(m),
            (None, Some(k)) => {
                let r = check(c, k);
                report(c, r, tally);
                continue;
            }
            (None, None) => KernelBuild::release(),
        };
        let r = build
            .build(Output::Captured, |cmd| println!("==> {}: {cmd}", c.name))
            .and_then(|(elf, _)| check(c, &elf));
        report(c, r, tally);
    }
}

fn report(c: &NetCase, r: Result<String, String>, tally: &mut Tally) {
    let ok = match (&r, c.mutant) {
        (Ok(detail), None) => {
            println!("    {} ... ok ({detail})", c.name);
            true
        }
        (Err(e), None) => {
            println!("    {} ... FAILED: {}", c.name, e.trim_end());
            false
        }
        (Err(e), Some(_)) => {
            println!("    {} ... ok (caught: {})", c.name, first_line(e));
            true
        }
        (Ok(detail), Some(m)) => {
            println!("    {} ... FAILED: mutant {m} passed ({detail})", c.name);
            false
        }
    };
    tally.record(c.name, ok);
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// A free port on the loopback interface (bound and released; QEMU binds it next).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Boots `elf` serving on two free ports and runs every check; `Ok` names the figures.
fn check(c: &NetCase, elf: &Path) -> Result<String, String> {
    let (http, echo) = (free_port()?, free_port()?);
    let opts: Vec<String> = c.options.split_whitespace().map(String::from).collect();
    let mut cfg = BootConfig::parse(&opts)?;
    cfg.append.push("serve".into());
    if !c.bootargs.is_empty() {
        cfg.append.push(c.bootargs.into());
    }
    cfg.qemu_extra.extend(net_args_on(http, echo, c.device));
    // Nothing is typed: stdin from /dev/null (a pipe slows QEMU's main loop, where slirp runs).
    let mut con = Console::spawn_silent(&mut cfg.command(elf, true))?;
    let r = checks(&mut con, http, echo);
    con.stop();
    // The banner names the transport the device was found on.
    let want = if c.device == NET_PCI {
        "virtio: Network on pci"
    } else {
        "virtio: Network on mmio"
    };
    let r = r.and_then(|d| {
        if con.transcript().contains(want) {
            Ok(d)
        } else {
            Err(format!("no `{want}` in the banner"))
        }
    });
    r.map_err(|e| {
        format!(
            "{e}\n{}\n--- last console lines ---\n{}",
            con.shown,
            util::tail(&con.transcript(), 20)
        )
    })
}

/// The QEMU arguments of a virtio-net device on user networking with the two ports
/// forwarded from the host's loopback (also used by `cargo run -- --append serve`).
pub fn net_args(http: u16, echo: u16) -> Vec<String> {
    net_args_on(http, echo, NET_MMIO)
}

/// [`net_args`] with the QEMU device `device` ([`NET_MMIO`] or [`NET_PCI`]).
pub fn net_args_on(http: u16, echo: u16, device: &str) -> Vec<String> {
    vec![
        "-netdev".into(),
        format!("user,id=n0,hostfwd=tcp:127.0.0.1:{http}-:80,hostfwd=tcp:127.0.0.1:{echo}-:7"),
        "-device".into(),
        format!("{device},netdev=n0"),
    ]
}

fn checks(con: &mut Console, http: u16, echo: u16) -> Result<String, String> {
    match con.wait(&["serve: listening on"], 0, Duration::from_secs(30)) {
        Event::Saw { .. } => {}
        Event::Exited(code) => return Err(format!("QEMU exited ({code}) before serving")),
        Event::TimedOut => return Err("no `serve: listening on` within 30 s".into()),
    }
    let base = format!("http://127.0.0.1:{http}");
    let (code, index) = curl(&[&format!("{base}/")])?;
    expect(
        code == 200 && index.contains("<h1>aiolos</h1>"),
        "GET /",
        code,
        &index,
    )?;
    let (code, stats) = curl(&[&format!("{base}/stats")])?;
    expect(
        code == 200 && stats.starts_with("{\"ticks_per_us\":") && stats.contains("\"kicks\":"),
        "GET /stats",
        code,
        &stats,
    )?;
    let (code, body) = curl(&["-I", &format!("{base}/")])?;
    expect(code == 200, "HEAD /", code, &body)?;
    let (code, body) = curl(&[&format!("{base}/no-such-page")])?;
    expect(code == 404, "GET /no-such-page", code, &body)?;
    let (code, body) = curl(&["-X", "POST", "-d", "x", &format!("{base}/")])?;
    expect(code == 405, "POST /", code, &body)?;
    // No disk in these boots: /blk/N answers 503.
    let (code, body) = curl(&[&format!("{base}/blk/0")])?;
    expect(code == 503, "GET /blk/0 without a disk", code, &body)?;
    for (raw, want) in [
        (&b"GARBAGE\r\n\r\n"[..], "HTTP/1.1 400 "),
        (b"BREW / HTTP/1.1\r\n\r\n", "HTTP/1.1 501 "),
        (b"GET / HTTP/1.1\r\nX-Big: ", "HTTP/1.1 431 "),
    ] {
        let mut req = raw.to_vec();
        if want.contains("431") {
            req.extend(std::iter::repeat_n(b'a', 3000));
            req.extend(b"\r\n\r\n");
        }
        let got = raw_exchange(http, &req, Duration::from_secs(10), false)?;
        if !got.starts_with(want) {
            return Err(format!(
                "{:?}...: want {want:?}, got {got:?}",
                &raw[..raw.len().min(12)]
            ));
        }
    }
    // A client that stalls mid-head gets 408 (after the server's 3 s) and is closed.
    let t = Instant::now();
    let got = raw_exchange(http, b"GET / HTTP/1.1\r\n", Duration::from_secs(10), false)?;
    if !got.starts_with("HTTP/1.1 408 ") {
        return Err(format!("stalled head: want 408, got {got:?}"));
    }
    let stall = t.elapsed();
    // Echo round trip.
    let msg = b"aiolos echo round trip";
    let got = raw_exchange(echo, msg, Duration::from_secs(10), true)?;
    if got.as_bytes() != msg {
        return Err(format!("echo: sent {msg:?}, got {got:?}"));
    }
    let l = load(
        http,
        LOAD_CONNS,
        LOAD_REQUESTS,
        index.as_bytes(),
        ConnMode::KeepAlive,
    )?;
    let (rate, p50, p99) = (l.rate, l.p50_ms, l.p99_ms);
    // The server still serves after all of it.
    let (code, again) = curl(&[&format!("{base}/")])?;
    expect(
        code == 200 && again == index,
        "GET / after the load",
        code,
        &again,
    )?;
    Ok(format!(
        "endpoints, bad input, 408 after {:.1}s, echo; {LOAD_REQUESTS} requests on {LOAD_CONNS} connections: {rate:.0}/s, p50 {p50:.1} ms, p99 {p99:.1} ms",
        stall.as_secs_f64()
    ))
}

fn expect(ok: bool, what: &str, code: u16, body: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: status {code}, body {:?}",
            &body[..body.len().min(200)]
        ))
    }
}

/// `curl -s ARGS`: the status code and the body (the head for `-I`).
fn curl(args: &[&str]) -> Result<(u16, String), String> {
    let out = Command::new("curl")
        .args(["-s", "-m", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code.trim().parse().unwrap_or(0);
    if code == 0 {
        return Err(format!(
            "curl {}: no answer (exit {:?}): {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((code, body.to_string()))
}

/// Sends `req` and reads until the server closes, the timeout, or (`echo`) as many bytes as
/// were sent.
fn raw_exchange(port: u16, req: &[u8], timeout: Duration, echo: bool) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(req).map_err(|e| format!("send: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if echo && got.len() >= req.len() {
                    break;
                }
            }
            Err(e) if got.is_empty() => return Err(format!("no answer: {e}")),
            Err(_) => break,
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// One `GET /` on a keep-alive connection: the status and the body.
pub fn get(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    s.write_all(b"GET / HTTP/1.1\r\nHost: aiolos\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut tmp).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before the head".into());
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(format!("bad status line in {head:?}"))?;
    let len: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .ok_or(format!("no Content-Length in {head:?}"))?;
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed mid-body".into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Ok((code, body))
}

/// How the load's clients use connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnMode {
    /// Each client opens one connection (warmed up with one request) and sends all its
    /// requests on it.
    KeepAlive,
    /// Each request on a connection of its own (opened, one `GET /`, closed), as a server
    /// without keep-alive (busybox httpd) needs; a request that fails (no answer in 10 s, a
    /// reset, a status other than 200) is sent again on a new connection, at most 3 times. The connects are taken one at a time (a
    /// lock around `connect`) and one that slirp's full accept queue dropped is tried again
    /// after 20 ms rather than the kernel's 1 s.
    PerRequest,
}

/// What a load measured.
#[derive(Clone, Copy, Debug)]
pub struct LoadStats {
    /// Requests per second, from the first request to the last answer.
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: usize,
    /// Requests sent again after a failed attempt ([`ConnMode::PerRequest`] only).
    pub retried: usize,
}

/// Connects with a short timeout, tried again on a timeout (at most 2 s in all). slirp
/// listens with a backlog of 1: a SYN that finds its accept queue full is dropped, and the
/// kernel would send it again only after 1 s; on loopback a connect that gets through takes
/// microseconds, so one that takes 20 ms was dropped, and a new SYN costs nothing.
fn connect_retrying(port: u16, what: &str) -> Result<TcpStream, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let t = Instant::now();
    let s = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(20)) {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut && t.elapsed().as_secs() < 2 => {}
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    // A server whose own accept queue overflows (busybox httpd listens with a backlog of 9)
    // leaves the connection to slirp's and the guest's retransmissions for tens of seconds:
    // such a request is given up after 10 s and sent again (counted in `LoadStats::retried`).
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}

fn open(port: u16, what: &str) -> Result<TcpStream, String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("{what}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}

/// `conns` clients, each a thread sending its share of `requests` `GET /` one after another;
/// every answer must be 200 with the body `want`. With [`ConnMode::KeepAlive`] the
/// connections are opened and warmed up (one request each) one after another first — slirp's
/// accept queue holds one connection (backlog 1), so opening 64 at once leaves some in the
/// host's SYN retries for seconds — then all answer together. Latency is per request (with
/// [`ConnMode::PerRequest`], connect included).
pub fn load(
    port: u16,
    conns: usize,
    requests: usize,
    want: &[u8],
    mode: ConnMode,
) -> Result<LoadStats, String> {
    let per_conn = (requests / conns).max(1);
    let first = std::sync::Mutex::new(None::<Instant>);
    let connect_lock = std::sync::Mutex::new(());
    let mut warmed = Vec::with_capacity(conns);
    for i in 0..conns {
        if mode == ConnMode::PerRequest {
            warmed.push(None);
            continue;
        }
        let mut s = open(port, &format!("load connection {i}"))?;
        let mut buf = Vec::new();
        get(&mut s, &mut buf).map_err(|e| format!("load connection {i} (warm-up): {e}"))?;
        warmed.push(Some(s));
    }
    let retried = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<f64>, String>> = std::thread::scope(|sc| {
        let handles: Vec<_> = warmed
            .into_iter()
            .enumerate()
            .map(|(i, mut conn)| {
                let (first, connect_lock, retried) = (&first, &connect_lock, &retried);
                sc.spawn(move || {
                    first
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert_with(Instant::now);
                    let mut lat = Vec::with_capacity(per_conn);
                    let mut buf = Vec::new();
                    for _ in 0..per_conn {
                        let t = Instant::now();
                        let what = format!("load connection {i}");
                        let mut tries = 0;
                        loop {
                            let mut s = match conn.take() {
                                Some(s) => s,
                                None => {
                                    let _one =
                                        connect_lock.lock().unwrap_or_else(|e| e.into_inner());
                                    buf.clear();
                                    connect_retrying(port, &what)?
                                }
                            };
                            let r = get(&mut s, &mut buf)
                                .map_err(|e| format!("{what}: {e}"))
                                .and_then(|(code, body)| {
                                    if code != 200 || body != want {
                                        return Err(format!(
                                            "{what}: status {code}, body of {} bytes differs",
                                            body.len()
                                        ));
                                    }
                                    Ok(())
                                });
                            match r {
                                Ok(()) => {
                                    if mode == ConnMode::KeepAlive {
                                        conn = Some(s);
                                    }
                                    break;
                                }
                                Err(e) if mode == ConnMode::KeepAlive || tries == 3 => {
                                    return Err(e)
                                }
                                Err(_) => {
                                    tries += 1;
                                    // Relaxed: a counter read after the threads are joined.
                                    retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            }
                        }
                        lat.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(lat)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("load thread panicked".into()))
            })
            .collect()
    });
    let start = first
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(Instant::now);
    let secs = start.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().cloned())
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} of {conns} connections failed: {}",
            failed.len(),
            failed.join("; ")
        ));
    }
    for r in results.into_iter().flatten() {
        lat.extend(r);
    }
    let total = per_conn * conns;
    if lat.len() != total {
        return Err(format!("load: {} of {total} answered", lat.len()));
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    Ok(LoadStats {
        rate: total as f64 / secs,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        requests: total,
        retried: retried.into_inner(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_unique_and_parses() {
        let mut names: Vec<_> = names().collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NET_CASES.len());
        for c in NET_CASES {
            let opts: Vec<String> = c.options.split_whitespace().map(String::from).collect();
            assert!(BootConfig::parse(&opts).is_ok(), "{}", c.name);
        }
        assert!(NET_CASES.iter().any(|c| c.mutant.is_some()));
    }

    #[test]
    fn net_args_forward_both_ports() {
        let a = net_args(1234, 5678).join(" ");
        assert!(a.contains("hostfwd=tcp:127.0.0.1:1234-:80"), "{a}");
        assert!(a.contains("hostfwd=tcp:127.0.0.1:5678-:7"), "{a}");
        assert!(a.contains("virtio-net-device,netdev=n0"), "{a}");
        let a = net_args_on(1234, 5678, NET_PCI).join(" ");
        assert!(a.contains("virtio-net-pci,netdev=n0"), "{a}");
    }
}
