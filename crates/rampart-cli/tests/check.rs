//! Runs the built `rampart` binary: `rampart check` exits 0 when clean, 1 with
//! findings, 2 when the file cannot be read or parsed, and prints each finding with its
//! arithmetic.

use std::path::PathBuf;
use std::process::{Command, Output};

fn rampart_check(path: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("check")
        .arg(path)
        .output()
        .expect("the rampart binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// A scratch file holding `content`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, content: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("rampart-cli-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
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
    let file = Scratch::new(
        "trap.toml",
        "[dependencies.payment]\nsla = \"5s\"\n\n[[dependencies.payment.policies]]\n\
         policy = \"retry\"\nmax_attempts = 3\n\
         backoff = { kind = \"exponential\", initial = \"1s\", factor = 2.0, max = \"2s\" }\n\
         jitter = \"full\"\n\n[[dependencies.payment.policies]]\npolicy = \"timeout\"\n\
         duration = \"2s\"\n",
    );
    let out = rampart_check(&file.0);
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
    let file = Scratch::new("broken.toml", "[dependencies.payment]\nsla = 5s\n");
    let out = rampart_check(&file.0);
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
