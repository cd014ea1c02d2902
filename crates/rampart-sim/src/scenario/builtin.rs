//! The scenarios that ship with the simulator, embedded in the binary.

use super::{file, Scenario, ScenarioError};

/// The scenario `rampart simulate` runs without an argument.
pub const DEFAULT_SCENARIO: &str = "checkout-outage";

/// Name and text of each built-in scenario.
const BUILTINS: [(&str, &str); 3] = [
    (
        "checkout-outage",
        include_str!("../../scenarios/checkout-outage.toml"),
    ),
    (
        "retry-storm",
        include_str!("../../scenarios/retry-storm.toml"),
    ),
    (
        "slow-not-down",
        include_str!("../../scenarios/slow-not-down.toml"),
    ),
];

/// The names of the built-in scenarios.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(name, _)| *name)
}

/// The built-in scenario `name`.
///
/// # Errors
///
/// A [`ScenarioError`] when there is no built-in scenario by that name (the built-ins
/// themselves are checked by the crate's tests).
pub fn builtin(name: &str) -> Result<Scenario, ScenarioError> {
    let (n, text) = BUILTINS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        let names: Vec<&str> = builtin_names().collect();
        ScenarioError::new(
            name,
            format!(
                "no built-in scenario by that name (there are: {})",
                names.join(", ")
            ),
        )
    })?;
    file::parse(text, &format!("{n}.toml"), None)
}
