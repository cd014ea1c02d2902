//! Errors in a scenario file, located by file, line, column and key: the registry's
//! `FileError`, so a mistake in a scenario and one in a configuration file read the
//! same way.

/// A scenario that cannot be read, parsed or used, located in its file.
///
/// Shown as `file:line:column: key: message`, e.g.
/// `outage.toml:12:8: traffic.rate: must be a positive number of requests per second`.
pub type ScenarioError = rampart::registry::FileError;
