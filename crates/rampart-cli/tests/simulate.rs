//! Runs the built `rampart` binary: `rampart simulate` prints the timeline and the
//! summary (or JSON), writes the chart, and exits 2 naming the file, line and key of a
//! mistake in a scenario.

mod support;

use std::path::PathBuf;
use support::{rampart, text, Scratch};

#[test]
fn a_built_in_prints_its_timeline_and_summary() {
    let out = rampart(&["simulate", "retry-storm", "--no-chart"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("retry-storm: "), "{stdout}");
    assert!(
        stdout.contains("== retries without jitter: timeline =="),
        "{stdout}"
    );
    assert!(stdout.contains(" 0:00:00  sms_api  GOES DOWN"), "{stdout}");
    assert!(stdout.contains("RETRY #1 (after 1 s backoff)"), "{stdout}");
    assert!(stdout.contains("== summary =="), "{stdout}");
    assert!(
        stdout.contains("sms_api: peak calls per 100 ms"),
        "{stdout}"
    );
    assert!(!stdout.contains("chart:"), "{stdout}");
}

#[test]
fn json_with_overrides_is_one_document() {
    let out = rampart(&[
        "simulate",
        "retry-storm",
        "--json",
        "--no-chart",
        "--seed",
        "3",
        "--duration",
        "20s",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["seed"], 3);
    assert_eq!(json["duration_s"], 20);
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(2));
}

#[test]
fn the_chart_is_written_as_svg_and_png() {
    let dir = Scratch::new("simulate-chart");
    let folder = dir.path().to_str().expect("a UTF-8 path");
    let out = rampart(&[
        "simulate",
        "retry-storm",
        "--duration",
        "10s",
        "--chart-dir",
        folder,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let svg = std::fs::read_to_string(dir.path().join("rampart-simulate-retry-storm.svg"))
        .expect("the SVG");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    let png = std::fs::read(dir.path().join("rampart-simulate-retry-storm.png")).expect("the PNG");
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        text(&out.stdout).contains("chart: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_mistake_in_a_scenario_exits_2_naming_file_line_and_key() {
    let dir = Scratch::new("simulate-mistake");
    let path = dir.path().join("outage.toml");
    std::fs::write(
        &path,
        "[scenario]\nname = \"x\"\nduration = \"10s\"\n\n[service]\nworkers = 10\naccept_timeout = \"1s\"\n\n\
         [traffic]\nrate = -3\n\n[kinds.page]\nshare = 1.0\npatience = \"1s\"\n\n\
         [dependencies.db]\nlatency = \"5ms\"\n\n[[runs]]\nname = \"plain\"\n",
    )
    .expect("written");
    let out = rampart(&["simulate", path.to_str().expect("UTF-8"), "--no-chart"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("outage.toml:10:8: traffic.rate: must be a positive number"),
        "{stderr}"
    );
}

#[test]
fn a_configuration_file_is_tried_as_one_more_run() {
    let shop = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/shop.toml");
    let shop = shop.to_str().expect("UTF-8");
    let out = rampart(&[
        "simulate",
        "--config",
        shop,
        "--duration",
        "90s",
        "--json",
        "--no-chart",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let runs = json["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 3);
    assert!(
        runs[2]["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("shop.toml")),
        "{}",
        runs[2]["name"]
    );
    // The scenario's "order pending" fallback comes with it, and its queue.
    assert!(
        runs[2]["totals"]["degraded"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{}",
        runs[2]["totals"]
    );
    assert_eq!(runs[2]["backlogs"][0]["dependency"], "payment");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("left out: inventory, notification"),
        "{stderr}"
    );
}

#[test]
fn a_configuration_file_with_a_mistake_exits_2_naming_its_line() {
    let dir = Scratch::new("simulate-config");
    let path = dir.path().join("candidate.toml");
    std::fs::write(&path, "[dependencies.payment]\nsla = \"-1s\"\n").expect("written");
    let out = rampart(&[
        "simulate",
        "--config",
        path.to_str().expect("UTF-8"),
        "--no-chart",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("candidate.toml:2:") && stderr.contains("dependencies.payment.sla"),
        "{stderr}"
    );
}

#[test]
fn a_duration_of_zero_exits_2() {
    let out = rampart(&["simulate", "retry-storm", "--duration", "0s", "--no-chart"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--duration must be longer than 0s"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unknown_built_in_exits_2_listing_the_built_ins() {
    let out = rampart(&["simulate", "checkout"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("checkout-outage, retry-storm, slow-not-down"),
        "{stderr}"
    );
}
