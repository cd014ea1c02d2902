//! Paths a middleware leaves alone: health probes and the metrics scrape.

use rampart::ConfigError;

/// The paths exempt by default: the health probes and the Prometheus scrape.
pub const DEFAULT_EXEMPT_PATHS: [&str; 2] = ["/health/*", "/metrics"];

/// A set of paths a middleware lets through untouched.
///
/// A pattern is an exact path (`/metrics`) or a prefix ending in `/*` (`/health/*`),
/// which matches the prefix itself (`/health`) and every path under it
/// (`/health/live`). A request path with a percent escape or a `.` or `..` segment is
/// never exempt, so that `/health/../orders` cannot slip past a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExemptPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl Default for ExemptPaths {
    /// [`DEFAULT_EXEMPT_PATHS`].
    fn default() -> Self {
        Self::parse("exempt_paths", DEFAULT_EXEMPT_PATHS).unwrap_or_else(|_| Self::none())
    }
}

impl ExemptPaths {
    /// No exempt path.
    pub fn none() -> Self {
        ExemptPaths {
            exact: Vec::new(),
            prefixes: Vec::new(),
        }
    }

    /// Parses `patterns`; `field` names the setting in errors.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `field` when a pattern does not start with `/`, or has a
    /// `*` anywhere but in a final `/*`.
    pub fn parse<I, T>(field: &str, patterns: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut out = Self::none();
        for p in patterns {
            let p = p.as_ref();
            let bad = |why: &str| ConfigError::new(field, format!("{p:?}: {why}"));
            if !p.starts_with('/') {
                return Err(bad("a path must start with '/'"));
            }
            match p.strip_suffix("/*") {
                Some(prefix) if !prefix.contains('*') => out.prefixes.push(prefix.to_owned()),
                _ if p.contains('*') => return Err(bad("'*' is only allowed as a final \"/*\"")),
                _ => out.exact.push(p.to_owned()),
            }
        }
        Ok(out)
    }

    /// Whether `path` is exempt.
    pub fn matches(&self, path: &str) -> bool {
        if self.exact.is_empty() && self.prefixes.is_empty() {
            return false;
        }
        if path.contains('%') || path.split('/').any(|s| s == "." || s == "..") {
            return false;
        }
        self.exact.iter().any(|e| e == path)
            || self.prefixes.iter().any(|p| {
                path.strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_exact_paths_and_tricks() {
        let e = ExemptPaths::default();
        for yes in ["/health", "/health/live", "/health/ready/x", "/metrics"] {
            assert!(e.matches(yes), "{yes}");
        }
        for no in [
            "/healthz",
            "/metrics/x",
            "/",
            "/health/../orders",
            "/health/%2e%2e/x",
            "//health",
        ] {
            assert!(!e.matches(no), "{no}");
        }
        for bad in ["health", "/a*", "/*/x", "/a/**"] {
            assert_eq!(
                ExemptPaths::parse("f", [bad]).unwrap_err().field(),
                "f",
                "{bad}"
            );
        }
        assert!(ExemptPaths::parse("f", ["/*"])
            .unwrap()
            .matches("/anything"));
        assert!(!ExemptPaths::none().matches("/metrics"));
    }
}
