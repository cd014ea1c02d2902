//! The model's arithmetic on small scenarios whose every timing can be worked out by
//! hand: uniform arrivals, fixed latencies, a pool of one worker.

use rampart_sim::{simulate, Report, Scenario};

fn run(duration: &str, body: &str) -> Report {
    let text = format!(
        "[scenario]\nname = \"small\"\nduration = \"{duration}\"\n\n{body}\n\n[[runs]]\nname = \"plain\"\n"
    );
    let scenario = Scenario::parse(&text, "small.toml").unwrap_or_else(|e| panic!("{e}"));
    simulate(&scenario).expect("runs")
}

#[test]
fn requests_take_the_work_and_the_dependency_latency_in_virtual_time() {
    let report = run(
        "1s",
        "[service]\nworkers = 10\naccept_timeout = \"1s\"\n\n\
         [traffic]\nrate = 10\narrivals = \"uniform\"\n\n\
         [kinds.page]\nshare = 1.0\nwork = \"5ms\"\ncalls = [\"db\"]\npatience = \"5s\"\n\n\
         [dependencies.db]\nlatency = \"100ms\"",
    );
    let run = &report.runs[0];
    let page = &run.kinds[0];
    // Arrivals every 100 ms from 100 ms, the last before 1 s: 9 of them.
    assert_eq!((page.counts.arrived, page.counts.served), (9, 9));
    assert_eq!((page.p50_us, page.p99_us), (105_000, 105_000));
    assert_eq!(run.dependencies[0].calls, 9);
    // Each holds a worker 105 ms, one arrives every 100 ms: two overlap at most.
    assert_eq!(run.pool.peak_busy, 2);
}

#[test]
fn a_request_waits_for_a_worker_only_as_long_as_the_accept_timeout() {
    // One worker held 230 ms per request, arrivals every 100 ms, 55 ms of waiting
    // allowed: served at 100 ms (230 ms), 300 ms (waits until 330: 260 ms), 600 and 800
    // ms the same way; the arrivals at 200, 400, 500, 700 and 900 ms fail.
    let report = run(
        "1s",
        "[service]\nworkers = 1\naccept_timeout = \"55ms\"\n\n\
         [traffic]\nrate = 10\narrivals = \"uniform\"\n\n\
         [kinds.page]\nshare = 1.0\ncalls = [\"db\"]\npatience = \"5s\"\n\n\
         [dependencies.db]\nlatency = \"230ms\"",
    );
    let page = &report.runs[0].kinds[0];
    assert_eq!((page.counts.served, page.counts.failed), (4, 5), "{page:?}");
    assert_eq!(page.reasons, [("no worker free".to_owned(), 5)]);
    assert_eq!((page.p50_us, page.p99_us), (230_000, 260_000));
}

#[test]
fn users_give_up_after_their_patience_and_try_again_after_thinking() {
    // Arrivals at 1 s and 2 s; the dependency takes 2 s; users wait 1 s, think 0.5 s and
    // try once more, which fails the same way: 4 requests, 4 calls, none answered.
    let report = run(
        "3s",
        "[service]\nworkers = 10\naccept_timeout = \"1s\"\n\n\
         [traffic]\nrate = 1\narrivals = \"uniform\"\n\n\
         [kinds.page]\nshare = 1.0\ncalls = [\"db\"]\npatience = \"1s\"\nuser_retries = 1\nthink = \"500ms\"\n\n\
         [dependencies.db]\nlatency = \"2s\"",
    );
    let run = &report.runs[0];
    let page = &run.kinds[0];
    assert_eq!(
        (page.counts.arrived, page.counts.user_retries),
        (4, 2),
        "{page:?}"
    );
    assert_eq!(page.counts.failed, 4);
    assert_eq!(page.reasons, [("user gave up".to_owned(), 4)]);
    assert_eq!(run.dependencies[0].calls, 4);
    // The server does not know the users left: the last try starts at 3.5 s and its
    // call holds a worker until 5.5 s, which the run waits for.
    assert!(run.ended_ms >= 5_500, "{}", run.ended_ms);
}
