//! Runs the built `rampart` binary: `rampart check` exits 0 when clean, 1 with
//! findings, 2 when the file cannot be read or parsed, and prints each finding with its
//! arithmetic.

mod support;

use std::path::PathBuf;
use std::process::Output;
use support::{rampart, text, Scratch};

fn rampart_check(path: &std::path::Path) -> Output {
    rampart(&[std::ffi::OsStr::new("check"), path.as_os_str()])
}

#[test]
fn the_shipped_example_is_clean() {
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/shop.toml");
    let out = rampart_check(&example);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("no findings\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn findings_exit_1_with_the_arithmetic() {
    let dir = Scratch::new("check-trap");
    let file = dir.file(
        "trap.toml",
        "[dependencies.payment]\nsla = \"5s\"\n\n[[dependencies.payment.policies]]\n\
         policy = \"retry\"\nmax_attempts = 3\n\
         backoff = { kind = \"exponential\", initial = \"1s\", factor = 2.0, max = \"2s\" }\n\
         jitter = \"full\"\n\n[[dependencies.payment.policies]]\npolicy = \"timeout\"\n\
         duration = \"2s\"\n",
    );
    let out = rampart_check(&file);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("payment (line 4): retry-budget: retries can outlast the SLA"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3 attempts x 2s + backoff 1s + 2s = 9s > SLA 5s"),
        "{stdout}"
    );
    assert!(stdout.ends_with(": 1 finding\n"), "{stdout}");
}

#[test]
fn a_file_that_cannot_be_parsed_exits_2_naming_the_line() {
    let dir = Scratch::new("check-broken");
    let file = dir.file("broken.toml", "[dependencies.payment]\nsla = 5s\n");
    let out = rampart_check(&file);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("broken.toml:2:"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_file_exits_2() {
    let out = rampart_check(std::path::Path::new("/nonexistent/rampart.toml"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the file"));
}
