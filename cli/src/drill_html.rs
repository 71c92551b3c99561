//! The page a reviewer opens after a drill (`drill --report drill.html`): one
//! self-contained HTML document — no script, no network, styles and the chart inline —
//! rendered from the drill's own JSON document (`s3rewind.drill/v1`), so the figures on
//! the page are the JSON's figures. Elements that carry a figure have an `id` (and the
//! page's `data-*` attributes repeat them) so a browser test can read them back.

use serde_json::Value;
use std::fmt::Write;

/// One bin of the source's activity around TIME, for the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    /// The bin's start (Unix seconds).
    pub start: i64,
    /// Versions written in it.
    pub versions: u64,
    /// Delete markers written in it.
    pub markers: u64,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        v => v.to_string(),
    }
}

/// The bar chart of `bins` (versions above the axis, delete markers below), with a line
/// at `at` (Unix seconds).
fn chart(bins: &[Bin], at: i64) -> String {
    let (w, h) = (720.0_f64, 180.0_f64);
    let mut svg = format!(
        r#"<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="versions and delete markers written around TIME">"#
    );
    if bins.is_empty() {
        svg.push_str(r#"<text x="10" y="90">no activity recorded</text></svg>"#);
        return svg;
    }
    let first = bins[0].start;
    let step = if bins.len() > 1 {
        (bins[1].start - bins[0].start).max(1)
    } else {
        1
    };
    let last = bins[bins.len() - 1].start + step;
    let max = bins
        .iter()
        .map(|b| b.versions.max(b.markers))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |t: i64| 10.0 + (w - 20.0) * (t - first) as f64 / (last - first).max(1) as f64;
    let mid = h / 2.0;
    let bw = ((w - 20.0) / bins.len() as f64 - 1.0).max(1.0);
    let _ = write!(
        svg,
        r##"<line x1="10" y1="{mid}" x2="{}" y2="{mid}" stroke="#888"/>"##,
        w - 10.0
    );
    for b in bins {
        let up = (mid - 10.0) * b.versions as f64 / max;
        let down = (mid - 10.0) * b.markers as f64 / max;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="{up:.1}" fill="#3a7bd5"/><rect x="{:.1}" y="{mid}" width="{bw:.1}" height="{down:.1}" fill="#d5573a"/>"##,
            x(b.start),
            mid - up,
            x(b.start),
        );
    }
    let _ = write!(
        svg,
        r##"<line id="chart-at" x1="{0:.1}" y1="4" x2="{0:.1}" y2="{1}" stroke="#111" stroke-dasharray="4 3"/><text x="{2:.1}" y="14" font-size="11">TIME</text></svg>"##,
        x(at.clamp(first, last)),
        h - 4.0,
        x(at.clamp(first, last)) + 4.0
    );
    svg
}

/// Render the drill report. `targets` are the RTO and RPO the drill was held to
/// (seconds), when given; `bins`, the source's activity around TIME.
pub fn render(doc: &Value, bins: &[Bin], at_unix: i64) -> String {
    let ok = doc["ok"].as_bool().unwrap_or(false);
    let verdict = if ok { "PASSED" } else { "FAILED" };
    let rto = doc["recovery_seconds"].as_f64().unwrap_or(0.0);
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>s3rewind drill {verdict}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#111}}
h1{{font-size:1.6em}} .passed{{color:#176f2c}} .failed{{color:#b3261e}}
table{{border-collapse:collapse;margin:1em 0}} td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}
.note{{color:#555;font-size:.9em}}
</style></head><body data-ok="{ok}" data-rto-seconds="{rto}" data-objects="{}" data-bytes="{}">"#,
        doc["objects_restored"].as_u64().unwrap_or(0),
        doc["bytes_restored"].as_u64().unwrap_or(0),
    );
    let _ = write!(
        page,
        r#"<h1>Drill <span id="verdict" class="{}">{verdict}</span></h1><p>Source <code>{}</code> as of <code id="at">{}</code>, restored to <code>{}</code>.</p>"#,
        verdict.to_lowercase(),
        esc(&format!(
            "s3://{}/{}",
            text(&doc["source"]["bucket"]),
            text(&doc["source"]["prefix"])
        )),
        esc(&text(&doc["at"])),
        esc(&format!(
            "s3://{}/{}",
            text(&doc["scratch"]["bucket"]),
            text(&doc["scratch"]["prefix"])
        )),
    );
    page.push_str("<table><tr><th>figure</th><th>value</th><th>target</th></tr>");
    let rto_target = doc["targets"]["max_rto_seconds"].as_f64();
    let _ = write!(
        page,
        r#"<tr><td>recovery time (RTO)</td><td id="rto">{}</td><td id="rto-target">{}</td></tr>"#,
        if ok {
            format!("{rto:.1} s")
        } else {
            "not achieved".to_owned()
        },
        rto_target.map_or("—".to_owned(), |t| format!("{t:.0} s")),
    );
    let _ = write!(
        page,
        r#"<tr><td>recovery point (RPO)</td><td id="rpo">{}</td><td></td></tr>"#,
        esc(&text(&doc["rpo"]["statement"]))
    );
    for (id, label, key) in [
        ("objects", "objects restored", "objects_restored"),
        ("bytes", "bytes restored", "bytes_restored"),
        ("keys", "keys at TIME", "keys_at_target"),
    ] {
        let _ = write!(
            page,
            r#"<tr><td>{label}</td><td id="{id}">{}</td><td></td></tr>"#,
            doc[key].as_u64().unwrap_or(0)
        );
    }
    if let Some(sample) = doc.get("sample").filter(|s| !s.is_null()) {
        let _ = write!(
            page,
            r#"<tr><td>sample</td><td id="sample">{} of {} keys</td><td>seed {}</td></tr><tr><td>projected RTO, whole range</td><td id="projected-rto">{}</td><td id="projected-range">{}</td></tr>"#,
            sample["keys"].as_u64().unwrap_or(0),
            sample["population_keys"].as_u64().unwrap_or(0),
            sample["seed"].as_u64().unwrap_or(0),
            sample["projection"]["rto_seconds"]
                .as_f64()
                .map_or("—".to_owned(), |s| format!("{s:.1} s")),
            match (
                sample["projection"]["low_seconds"].as_f64(),
                sample["projection"]["high_seconds"].as_f64()
            ) {
                (Some(lo), Some(hi)) => format!("95% range {lo:.1}–{hi:.1} s"),
                _ => String::new(),
            }
        );
    }
    page.push_str("</table>");
    page.push_str(r#"<h2>Activity around TIME</h2>"#);
    page.push_str(&chart(bins, at_unix));
    page.push_str(
        r#"<p class="note">Blue: versions written per bin; red: delete markers; dashed: TIME.</p>"#,
    );
    page.push_str(
        r#"<h2>Failures by cause</h2><table id="failures"><tr><th>cause</th><th>keys</th></tr>"#,
    );
    let f = &doc["failures"];
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    let mut rows = vec![
        ("copy failed", count(&f["copy_failed"])),
        ("drifted", count(&f["drifted"])),
        ("waiting for an archive restore", count(&f["waiting"])),
    ];
    if let Some(by) = f["verification"].as_object() {
        for (k, v) in by {
            rows.push((k.as_str(), count(v)));
        }
    }
    for (cause, n) in rows {
        let _ = write!(
            page,
            r#"<tr><td>{}</td><td class="count">{n}</td></tr>"#,
            esc(cause)
        );
    }
    page.push_str("</table>");
    if let Some(why) = f["rto"].as_str() {
        let _ = write!(
            page,
            r#"<p id="rto-missed" class="failed">Recovery time objective missed: {}</p>"#,
            esc(why)
        );
    }
    let _ = write!(
        page,
        r#"<p class="note">Reach back: <span id="reach-back">{}</span> — {}. Journal: <code>{}</code>.</p></body></html>"#,
        esc(&text(&doc["reach_back"]["oldest_restorable"])),
        esc(&text(&doc["reach_back"]["why"])),
        esc(&text(&doc["journal"])),
    );
    page
}

/// The Prometheus textfile of a drill (`--metrics FILE`, for node_exporter's textfile
/// collector): whether it passed, its recovery time, objects and bytes, and when.
pub fn metrics(doc: &Value, now_unix: i64) -> String {
    let labels = format!(
        "bucket=\"{}\",prefix=\"{}\"",
        text(&doc["source"]["bucket"]).replace('"', "\\\""),
        text(&doc["source"]["prefix"]).replace('"', "\\\"")
    );
    let ok = u8::from(doc["ok"].as_bool().unwrap_or(false));
    let mut out = String::new();
    for (name, help, value) in [
        (
            "s3rewind_drill_ok",
            "1 when the last drill passed",
            ok.to_string(),
        ),
        (
            "s3rewind_drill_rto_seconds",
            "recovery time of the last drill",
            format!("{}", doc["recovery_seconds"].as_f64().unwrap_or(0.0)),
        ),
        (
            "s3rewind_drill_objects",
            "objects the last drill restored",
            doc["objects_restored"].as_u64().unwrap_or(0).to_string(),
        ),
        (
            "s3rewind_drill_bytes",
            "bytes the last drill restored",
            doc["bytes_restored"].as_u64().unwrap_or(0).to_string(),
        ),
        (
            "s3rewind_drill_timestamp_seconds",
            "when the last drill ended",
            now_unix.to_string(),
        ),
    ]
    .into_iter()
    .chain(
        doc["sample"]["projection"]["rto_seconds"]
            .as_f64()
            .map(|s| {
                (
                    "s3rewind_drill_projected_rto_seconds",
                    "recovery time of the whole range, projected from the last drill's sample",
                    format!("{s}"),
                )
            }),
    ) {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {value}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(ok: bool) -> Value {
        json!({
            "schema": "s3rewind.drill/v1",
            "source": {"bucket": "b", "prefix": "p/"},
            "scratch": {"bucket": "s", "prefix": "drill/"},
            "at": "2026-11-21T09:41:00Z",
            "ok": ok,
            "objects_restored": 151,
            "bytes_restored": 47000,
            "keys_at_target": 151,
            "recovery_seconds": 12.5,
            "reach_back": {"oldest_restorable": "2026-10-01T00:00:00Z", "why": "no <rule>"},
            "failures": {"copy_failed": [], "drifted": [{"key": "x"}], "waiting": [], "verification": {}},
            "journal": "/tmp/j",
            "rpo": {"statement": "versioning keeps every write: the RPO is the last write"},
        })
    }

    #[test]
    fn a_sampled_drill_shows_its_sample_and_projection() {
        let mut d = doc(true);
        d["sample"] = json!({
            "seed": 42, "keys": 15, "population_keys": 151,
            "projection": {"rto_seconds": 80.5, "low_seconds": 60.0, "high_seconds": 99.5},
        });
        let page = render(&d, &[], 0);
        assert!(page.contains(r#"<td id="sample">15 of 151 keys</td><td>seed 42</td>"#));
        assert!(page.contains(r#"<td id="projected-rto">80.5 s</td>"#));
        assert!(page.contains("95% range 60.0–99.5 s"));
        let m = metrics(&d, 0);
        assert!(
            m.contains("s3rewind_drill_projected_rto_seconds{bucket=\"b\",prefix=\"p/\"} 80.5")
        );
        assert!(!metrics(&doc(true), 0).contains("projected"));
    }

    #[test]
    fn the_page_carries_the_json_figures_and_escapes_text() {
        let page = render(
            &doc(true),
            &[Bin {
                start: 0,
                versions: 3,
                markers: 1,
            }],
            0,
        );
        assert!(page.contains(r#"<span id="verdict" class="passed">PASSED</span>"#));
        assert!(page.contains(r#"<td id="objects">151</td>"#));
        assert!(page.contains(r#"<td id="rto">12.5 s</td>"#));
        assert!(page.contains("no &lt;rule&gt;"));
        // Self-contained: no script, nothing fetched (the SVG namespace is a name, not a
        // request).
        assert!(!page.contains("<script"));
        assert_eq!(page.matches("http").count(), 1, "only the SVG namespace");
        let failed = render(&doc(false), &[], 0);
        assert!(
            failed.contains("not achieved"),
            "a failed drill states no recovery time"
        );
        assert!(!failed.contains("12.5 s"));
    }

    #[test]
    fn metrics_are_a_prometheus_textfile() {
        let m = metrics(&doc(true), 1_800_000_000);
        assert!(
            m.contains("s3rewind_drill_ok{bucket=\"b\",prefix=\"p/\"} 1"),
            "{m}"
        );
        assert!(m.contains("s3rewind_drill_rto_seconds{bucket=\"b\",prefix=\"p/\"} 12.5"));
        assert!(
            m.contains("s3rewind_drill_timestamp_seconds{bucket=\"b\",prefix=\"p/\"} 1800000000")
        );
        assert_eq!(m.matches("# TYPE").count(), 5);
    }

    /// Chromium headless (Debian's `chromium`) with the flags this machine needs (no
    /// sandbox as root, no background networking: the network is closed).
    fn chromium(args: &[&str]) -> Option<std::process::Output> {
        let profile = tempfile::tempdir().unwrap();
        let dir = format!("--user-data-dir={}", profile.path().display());
        let mut cmd = std::process::Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &dir,
        ])
        .args(args);
        match cmd.output() {
            Ok(o) => Some(o),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(
                    std::env::var("S3REWIND_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
                    "S3REWIND_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install chromium)"
                );
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("SKIPPED the_page_renders_in_headless_chromium: no chromium");
                }
                None
            }
            Err(e) => panic!("chromium: {e}"),
        }
    }

    /// The page renders in a real browser, and what the browser shows is the JSON's:
    /// the verdict, the figures, the failure counts; a screenshot is kept in
    /// `target/test-artefacts/drill-report.png`.
    #[test]
    fn the_page_renders_in_headless_chromium() {
        let d = doc(true);
        let bins: Vec<Bin> = (0..40)
            .map(|i| Bin {
                start: 1_800_000_000 + i * 60,
                versions: (i as u64 * 7) % 13,
                markers: u64::from(i > 30) * 5,
            })
            .collect();
        let page = render(&d, &bins, 1_800_000_000 + 30 * 60);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drill.html");
        std::fs::write(&path, &page).unwrap();
        let url = format!("file://{}", path.display());
        let Some(out) = chromium(&["--dump-dom", &url]) else {
            return;
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dom = String::from_utf8_lossy(&out.stdout);
        let by_id = |id: &str| -> String {
            let at = dom
                .find(&format!("id=\"{id}\""))
                .unwrap_or_else(|| panic!("no #{id} in the rendered page"));
            let rest = &dom[at..];
            let start = rest.find('>').unwrap() + 1;
            let end = rest[start..].find('<').unwrap() + start;
            rest[start..end].to_owned()
        };
        assert_eq!(by_id("verdict"), "PASSED");
        assert_eq!(by_id("objects"), d["objects_restored"].to_string());
        assert_eq!(by_id("bytes"), d["bytes_restored"].to_string());
        assert_eq!(
            by_id("rto"),
            format!("{:.1} s", d["recovery_seconds"].as_f64().unwrap())
        );
        assert!(
            dom.contains("<svg id=\"chart\""),
            "the chart is in the page"
        );
        assert_eq!(dom.matches("<rect").count(), 2 * bins.len());
        let shots =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts");
        std::fs::create_dir_all(&shots).unwrap();
        let shot = shots.join("drill-report.png");
        let _ = std::fs::remove_file(&shot);
        let out = chromium(&[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,1300",
            &url,
        ])
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(
            png.len() > 5_000 && png.starts_with(b"\x89PNG"),
            "a screenshot of the page"
        );
    }
}
