//! The report as a person reads it: the timeline of each run, and a summary table with
//! one column per run.

use super::time::{short_us, thousands};
use super::{Report, RunReport};

/// The timeline of `run`, one line per entry: `2:48:02  payment  RETRY #1 (after 1 s backoff)`.
pub fn timeline_text(run: &RunReport) -> String {
    let width = run
        .timeline
        .iter()
        .map(|l| l.source.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for line in &run.timeline {
        out.push_str(&format!(
            "{:>8}  {:<width$}  {}\n",
            line.clock, line.source, line.text
        ));
    }
    out
}

/// The summary: one row per figure, one column per run.
pub fn summary_table(report: &Report) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let runs = &report.runs;
    let mut row = |label: &str, cell: &dyn Fn(&RunReport) -> String| {
        rows.push((label.to_owned(), runs.iter().map(cell).collect()));
    };
    row("requests (users' new tries)", &|r| {
        format!(
            "{} ({})",
            thousands(r.totals.arrived),
            thousands(r.totals.user_retries)
        )
    });
    row("served", &|r| share(r.totals.served, r.totals.arrived));
    row("degraded (fallback)", &|r| {
        share(r.totals.degraded, r.totals.arrived)
    });
    row("shed (refused at once)", &|r| {
        share(r.totals.shed, r.totals.arrived)
    });
    row("failed", &|r| share(r.totals.failed, r.totals.arrived));
    if let Some(first) = runs.first() {
        for (i, kind) in first.kinds.iter().enumerate() {
            let name = &kind.name;
            row(&format!("{name}: answered"), &|r| {
                let c = &r.kinds[i].counts;
                share(c.served + c.degraded, c.arrived)
            });
            if report.incident_ms.is_some() {
                row(&format!("{name}: answered during the incident"), &|r| {
                    let c = &r.kinds[i].incident;
                    share(c.served + c.degraded, c.arrived)
                });
            }
            row(&format!("{name}: p50 / p99"), &|r| {
                let k = &r.kinds[i];
                format!("{} / {}", short_us(k.p50_us), short_us(k.p99_us))
            });
        }
        for (i, dep) in first.dependencies.iter().enumerate() {
            row(&format!("{}: calls (retries)", dep.name), &|r| {
                let d = &r.dependencies[i];
                format!("{} ({})", thousands(d.calls), thousands(d.retries))
            });
            row(&format!("{}: peak calls per 100 ms", dep.name), &|r| {
                let d = &r.dependencies[i];
                format!(
                    "{} ({} retries)",
                    d.peak_per_100ms, d.peak_retries_per_100ms
                )
            });
        }
    }
    row("worker pool: peak busy", &|r| {
        format!("{} / {}", r.pool.peak_busy, r.pool.workers)
    });
    row("worker pool: mean use", &|r| {
        format!(
            "{:.1} %",
            f64::from(r.pool.mean_utilisation_permille) / 10.0
        )
    });
    row("worker pool: saturated for", &|r| {
        seconds(r.pool.saturated_ms)
    });
    row("worker pool: peak waiting", &|r| {
        thousands(u64::from(r.pool.peak_waiting))
    });
    let breakers: Vec<String> = names(runs, |r| {
        r.breakers.iter().map(|b| b.pipeline.clone()).collect()
    });
    for name in &breakers {
        row(&format!("{name} breaker: open for"), &|r| {
            r.breakers
                .iter()
                .find(|b| &b.pipeline == name)
                .map_or("-".to_owned(), |b| {
                    format!(
                        "{} ({} opening{})",
                        seconds(b.open_ms),
                        b.opened,
                        if b.opened == 1 { "" } else { "s" }
                    )
                })
        });
    }
    let backlogs: Vec<String> = names(runs, |r| {
        r.backlogs.iter().map(|b| b.dependency.clone()).collect()
    });
    for name in &backlogs {
        row(&format!("{name} queue: queued / processed"), &|r| {
            r.backlogs
                .iter()
                .find(|b| &b.dependency == name)
                .map_or("-".to_owned(), |b| {
                    format!("{} / {}", thousands(b.queued), thousands(b.processed))
                })
        });
        row(&format!("{name} queue: lost (still waiting)"), &|r| {
            r.backlogs
                .iter()
                .find(|b| &b.dependency == name)
                .map_or("-".to_owned(), |b| thousands(b.pending))
        });
    }
    render(
        &runs.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        &rows,
    )
}

/// Every name `of` gives for any run, in first-seen order.
fn names(runs: &[RunReport], of: impl Fn(&RunReport) -> Vec<String>) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for name in runs.iter().flat_map(of) {
        if !all.contains(&name) {
            all.push(name);
        }
    }
    all
}

fn render(headers: &[String], rows: &[(String, Vec<String>)]) -> String {
    let label_width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|(_, c)| c[i].len())
                .max()
                .unwrap_or(0)
                .max(h.len())
        })
        .collect();
    let mut out = format!("{:label_width$}", "");
    for (h, w) in headers.iter().zip(&widths) {
        out.push_str(&format!("  {h:>w$}"));
    }
    out.push('\n');
    for (label, cells) in rows {
        out.push_str(&format!("{label:label_width$}"));
        for (c, w) in cells.iter().zip(&widths) {
            out.push_str(&format!("  {c:>w$}"));
        }
        out.push('\n');
    }
    out
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0".to_owned();
    }
    format!(
        "{} ({:.1} %)",
        thousands(part),
        part as f64 * 100.0 / whole as f64
    )
}

fn seconds(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_easily() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(share(1, 4), "1 (25.0 %)");
        assert_eq!(seconds(1500), "1.5 s");
    }
}
