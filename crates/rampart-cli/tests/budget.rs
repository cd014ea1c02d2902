//! Runs the built `rampart` binary and checks what `rampart budget` prints and returns.

mod support;

use std::process::Output;
use support::rampart;

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .expect("stdout is UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

const SEED: [&str; 9] = [
    "budget",
    "--sla",
    "5s",
    "--overhead",
    "500ms",
    "--timeout",
    "2s",
    "--backoff",
    "1s",
];

#[test]
fn seed_example_step_by_step() {
    let out = rampart(&SEED);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout_lines(&out),
        [
            "available = SLA - overhead = 5s - 500ms = 4.5s",
            "per-attempt cost = timeout = 2s",
            "attempts that fit = floor(4.5s / 2s) = 2",
            "answer: 2 attempts (1 original + 1 retry)",
            "worst case with backoff = 2 x 2s + 1 x 1s = 5s (+ overhead 500ms = 5.5s)",
            "warning: worst case 5.5s is over the SLA by 500ms",
            "attempts within the SLA = largest n with n x 2s + (n - 1) x 1s <= 4.5s = 1 (1 original + 0 retries)",
        ]
    );
    assert!(out.stderr.is_empty(), "stderr: {}", stderr(&out));
}

#[test]
fn backoff_is_optional() {
    let out = rampart(&[
        "budget",
        "--sla",
        "5s",
        "--overhead",
        "500ms",
        "--timeout",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let lines = stdout_lines(&out);
    assert!(
        lines.contains(
            &"worst case with backoff = 2 x 2s + 1 x 0s = 4s (+ overhead 500ms = 4.5s)".to_owned()
        ),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"ok: worst case 4.5s is within the SLA (500ms to spare)".to_owned()),
        "{lines:?}"
    );
}

#[test]
fn json_output() {
    let mut args = SEED.to_vec();
    args.push("--json");
    let out = rampart(&args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let trimmed = text.trim();
    assert!(trimmed.starts_with('{') && trimmed.ends_with('}'), "{text}");
    for field in [
        "\"sla_ns\": 5000000000",
        "\"available_ns\": 4500000000",
        "\"attempts\": 2",
        "\"retries\": 1",
        "\"worst_case_total_ns\": 5500000000",
        "\"within_sla\": false",
        "\"over_sla_by_ns\": 500000000",
        "\"attempts_within_sla\": 1",
    ] {
        assert!(text.contains(field), "missing {field} in {text}");
    }
}

/// Bad input exits 2 with an `error:` line on stderr and nothing on stdout.
fn assert_bad_input(args: &[&str], expected: &str) {
    let out = rampart(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}, stderr: {err}");
    assert!(out.stdout.is_empty(), "args {args:?} printed to stdout");
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "args {args:?}: {err}");
    assert!(
        err.contains(expected),
        "args {args:?}: expected {expected:?} in {err}"
    );
}

#[test]
fn zero_timeout_is_bad_input() {
    assert_bad_input(
        &[
            "budget",
            "--sla",
            "5s",
            "--overhead",
            "500ms",
            "--timeout",
            "0s",
        ],
        "--timeout must be greater than zero",
    );
}

#[test]
fn overhead_not_below_sla_is_bad_input() {
    let expected = "error: --overhead (5s) must be shorter than --sla (5s)\n";
    let out = rampart(&[
        "budget",
        "--sla",
        "5s",
        "--overhead",
        "5s",
        "--timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), expected);
    assert_bad_input(
        &[
            "budget",
            "--sla",
            "5s",
            "--overhead",
            "6s",
            "--timeout",
            "1s",
        ],
        "must be shorter than --sla",
    );
}

#[test]
fn unparsable_duration_is_bad_input() {
    assert_bad_input(
        &[
            "budget",
            "--sla",
            "5 parsecs",
            "--overhead",
            "500ms",
            "--timeout",
            "2s",
        ],
        "--sla",
    );
    assert_bad_input(
        &[
            "budget",
            "--sla",
            "5s",
            "--overhead",
            "-1s",
            "--timeout",
            "2s",
        ],
        "--overhead",
    );
}

#[test]
fn missing_flag_is_bad_input() {
    assert_bad_input(&["budget", "--sla", "5s", "--timeout", "2s"], "--overhead");
    let out = rampart::<&str>(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Usage: rampart <COMMAND>"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn nothing_fits_still_answers() {
    let out = rampart(&[
        "budget",
        "--sla",
        "1s",
        "--overhead",
        "0",
        "--timeout",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let lines = stdout_lines(&out);
    assert!(
        lines.contains(
            &"answer: no attempt fits: the timeout 2s is longer than the 1s available".to_owned()
        ),
        "{lines:?}"
    );
}
