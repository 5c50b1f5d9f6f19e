//! The run as a hand-written SVG: each core's wake-latency histogram (guest, log2 buckets)
//! and the host ratios aiolos / peer (log scale, the 1.0 line marked).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::figures::Row;

const W: f64 = 900.0;

fn text(s: &mut String, x: f64, y: f64, size: u32, anchor: &str, t: &str) {
    let t = t
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let _ = writeln!(
        s,
        r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}">{t}</text>"#
    );
}

/// One core's histogram in the box at (x, y), `w` × `h`.
fn histogram(s: &mut String, x: f64, y: f64, w: f64, h: f64, core: &str, counts: &[u64]) {
    text(
        s,
        x + w / 2.0,
        y - 8.0,
        13,
        "middle",
        &format!("core {core}: wake latency (instructions, log2 buckets)"),
    );
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bw = w / counts.len().max(1) as f64;
    for (i, &c) in counts.iter().enumerate() {
        let bh = h * c as f64 / max;
        let bx = x + i as f64 * bw;
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#4477aa"><title>[{}, {}): {c}</title></rect>"##,
            bx + 1.0,
            y + h - bh,
            bw - 2.0,
            1u64 << i,
            1u64 << (i + 1)
        );
        if c > 0 {
            text(
                s,
                bx + bw / 2.0,
                y + h - bh - 3.0,
                10,
                "middle",
                &c.to_string(),
            );
        }
        if i % 4 == 0 {
            text(s, bx, y + h + 14.0, 10, "start", &format!("2^{i}"));
        }
    }
    let _ = writeln!(
        s,
        r#"<line x1="{x}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"#,
        y + h,
        x + w,
        y + h
    );
}

pub fn render(kv: &BTreeMap<String, String>, rows: &[Row]) -> String {
    let hists: Vec<(String, Vec<u64>)> = kv
        .iter()
        .filter_map(|(k, v)| {
            let core = k.strip_prefix("guest.wake.c")?.strip_suffix(".hist")?;
            let counts = v.split(',').map(|c| c.parse().unwrap_or(0)).collect();
            Some((core.to_string(), counts))
        })
        .collect();
    let ratios: Vec<&Row> = rows
        .iter()
        .filter(|r| r.what.starts_with("host:") && r.ratio.is_some())
        .collect();
    let hist_h = 160.0;
    let top = 30.0;
    let ratios_top = top + hists.len() as f64 * (hist_h + 60.0) + 20.0;
    let bar = 18.0;
    let height = ratios_top + 40.0 + ratios.len() as f64 * (bar + 4.0) + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, (core, counts)) in hists.iter().enumerate() {
        let y = top + 20.0 + i as f64 * (hist_h + 60.0);
        histogram(&mut s, 60.0, y, W - 120.0, hist_h, core, counts);
    }
    // Ratios: log2 scale from 1/16 to 64, 1.0 marked.
    text(
        &mut s,
        W / 2.0,
        ratios_top,
        13,
        "middle",
        "host: time aiolos / peer (median; log scale; left of the red line = aiolos faster)",
    );
    let (x0, x1) = (380.0, W - 40.0);
    let (lo, hi) = (-4.0f64, 6.0f64);
    let pos = |r: f64| x0 + (r.log2().clamp(lo, hi) - lo) / (hi - lo) * (x1 - x0);
    for (i, r) in ratios.iter().enumerate() {
        let ratio = r.ratio.unwrap_or(1.0);
        let y = ratios_top + 20.0 + i as f64 * (bar + 4.0);
        let label = r
            .what
            .trim_start_matches("host: ")
            .replace(" (ns/op, min / median)", "");
        text(&mut s, x0 - 6.0, y + bar - 5.0, 11, "end", &label);
        let (a, b) = (pos(1.0).min(pos(ratio)), pos(1.0).max(pos(ratio)));
        let fill = if ratio <= 1.0 { "#228833" } else { "#cc6677" };
        let _ = writeln!(
            s,
            r#"<rect x="{a:.1}" y="{y:.1}" width="{:.1}" height="{bar}" fill="{fill}"><title>{ratio:.2}</title></rect>"#,
            (b - a).max(1.0)
        );
        text(
            &mut s,
            b + 4.0,
            y + bar - 5.0,
            10,
            "start",
            &format!("{ratio:.2}"),
        );
    }
    let y_end = ratios_top + 20.0 + ratios.len() as f64 * (bar + 4.0);
    let one = pos(1.0);
    let _ = writeln!(
        s,
        r#"<line x1="{one:.1}" y1="{:.1}" x2="{one:.1}" y2="{y_end:.1}" stroke="red"/>"#,
        ratios_top + 14.0
    );
    for e in [-4i32, -2, 0, 2, 4, 6] {
        let r = 2f64.powi(e);
        text(&mut s, pos(r), y_end + 14.0, 10, "middle", &format!("{r}"));
    }
    s += "</svg>\n";
    s
}
