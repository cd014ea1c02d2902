//! The benchmark cases, one file per peer family, and the ratios that rampart targets.
//!
//! Every case measures the success path of one call: the operation is a future that is
//! ready at once, so the figure is the policy's own overhead per call.

use crate::harness::Case;

pub mod backon;
pub mod baseline;
pub mod breaker;
pub mod bulkhead;
pub mod chaos;
pub mod failsafe;
pub mod flags;
pub mod rampart;
pub mod ratelimit;
pub mod shed;
pub mod telemetry;
pub mod tokio;
pub mod towerlayers;
pub mod towerres;

/// Every case, in the order they run and print.
pub fn all() -> Vec<Case> {
    [
        baseline::CASES,
        tokio::CASES,
        backon::CASES,
        rampart::CASES,
        failsafe::CASES,
        towerres::CASES,
        breaker::CASES,
        bulkhead::CASES,
        ratelimit::CASES,
        shed::CASES,
        chaos::CASES,
        flags::CASES,
        telemetry::CASES,
        towerlayers::CASES,
    ]
    .concat()
}

/// A target on the ratio of two cases' medians: `numerator / denominator <= max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// The case whose cost is compared (a rampart case).
    pub numerator: &'static str,
    /// The case it is compared against (a peer).
    pub denominator: &'static str,
    /// The largest ratio that meets the target.
    pub max: f64,
}

impl Ratio {
    /// Whether the two cases are timed (not the memory cases, `*_bytes_per_key`, whose
    /// figure is bytes), so that measuring them side by side means something.
    pub fn is_timed(&self) -> bool {
        !self.numerator.ends_with("_bytes_per_key")
    }
}

/// The ratios rampart targets; the binary prints each one whose two cases ran.
pub const RATIOS: &[Ratio] = &[
    Ratio {
        numerator: "rampart_timeout_ready_1s",
        denominator: "tokio_time_timeout_ready_1s",
        max: 0.25,
    },
    Ratio {
        numerator: "rampart_retry_ok",
        denominator: "backon_retry_ok",
        max: 1.0,
    },
    Ratio {
        numerator: "rampart_pipeline_retry_timeout_ok",
        denominator: "tokio_time_timeout_ready_1s",
        max: 0.5,
    },
    Ratio {
        numerator: "rampart_breaker_consecutive_call_ok",
        denominator: "failsafe_call_ok",
        max: 0.1,
    },
    Ratio {
        numerator: "rampart_breaker_count_window_call_ok",
        denominator: "failsafe_call_ok",
        max: 0.2,
    },
    Ratio {
        numerator: "rampart_breaker_time_window_call_ok",
        denominator: "failsafe_call_ok",
        max: 0.3,
    },
    Ratio {
        numerator: "rampart_breaker_time_window_coarse_clock_call_ok",
        denominator: "failsafe_call_ok",
        max: 0.3,
    },
    Ratio {
        numerator: "contended_rampart_breaker_count_window_call_ok_2t",
        denominator: "contended_failsafe_call_ok_2t",
        max: 0.3,
    },
    Ratio {
        numerator: "rampart_breaker_count_window_call_ok",
        denominator: "towerres_circuitbreaker_call_ok",
        max: 0.2,
    },
    Ratio {
        numerator: "rampart_bulkhead_call",
        denominator: "tower_concurrency_limit",
        max: 0.5,
    },
    Ratio {
        numerator: "rampart_rate_limit_check",
        denominator: "governor_direct_check",
        max: 1.0,
    },
    Ratio {
        numerator: "rampart_rate_limit_keyed_check_1024keys",
        denominator: "governor_keyed_check_1024keys",
        max: 0.7,
    },
    Ratio {
        numerator: "contended_rampart_rate_limit_check_2t",
        denominator: "contended_governor_direct_check_2t",
        max: 1.0,
    },
    Ratio {
        numerator: "rampart_rate_limit_keyed_bytes_per_key",
        denominator: "governor_keyed_bytes_per_key",
        max: 0.5,
    },
    Ratio {
        numerator: "rampart_pipeline_full_ok",
        denominator: "towerres_stack_call_ok",
        max: 0.05,
    },
    Ratio {
        numerator: "rampart_pipeline_full_ok",
        denominator: "failsafe_call_ok",
        max: 0.5,
    },
    Ratio {
        numerator: "rampart_pipeline_full_from_config_ok",
        denominator: "rampart_pipeline_full_ok",
        max: 1.1,
    },
    Ratio {
        numerator: "rampart_chaos_off_call_ok",
        denominator: "rampart_pipeline_retry_timeout_ok",
        max: 1.05,
    },
    Ratio {
        numerator: "rampart_chaos_decide_off",
        denominator: "baseline_atomic_fetch_add",
        max: 1.0,
    },
    Ratio {
        numerator: "rampart_flag_is_enabled",
        denominator: "baseline_atomic_fetch_add",
        max: 1.0,
    },
    Ratio {
        numerator: "rampart_tower_bulkhead_call",
        denominator: "tower_concurrency_limit",
        max: 1.5,
    },
    Ratio {
        numerator: "rampart_tower_breaker_call_ok",
        denominator: "towerres_circuitbreaker_call_ok",
        max: 0.2,
    },
    Ratio {
        numerator: "rampart_tower_pipeline_full_ok",
        denominator: "towerres_stack_call_ok",
        max: 0.2,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_ratios_name_real_cases() {
        let cases = all();
        let names: HashSet<&str> = cases.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), cases.len(), "duplicate case names");
        for ratio in RATIOS {
            assert!(names.contains(ratio.numerator), "{}", ratio.numerator);
            assert!(names.contains(ratio.denominator), "{}", ratio.denominator);
        }
    }

    #[test]
    fn only_the_memory_ratio_is_untimed() {
        let untimed: Vec<&str> = RATIOS
            .iter()
            .filter(|r| !r.is_timed())
            .map(|r| r.denominator)
            .collect();
        assert_eq!(untimed, ["governor_keyed_bytes_per_key"]);
    }

    #[test]
    fn every_case_runs() {
        for case in all() {
            (case.run)(3);
        }
    }
}
