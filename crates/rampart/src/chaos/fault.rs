//! What the injector decided for one call.

use std::time::Duration;

/// What happens to a call after its [`latency`](Fault::latency), if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultAction {
    /// The operation runs as usual.
    #[default]
    Run,
    /// The call fails with an injected [`Rejection`](crate::Rejection) and the operation
    /// does not run.
    Fail,
    /// The caller's substitute outcome is returned and the operation does not run.
    /// Callers that have no substitute run the operation instead.
    Substitute,
}

impl FaultAction {
    /// A short lowercase name, stable for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            FaultAction::Run => "run",
            FaultAction::Fail => "fail",
            FaultAction::Substitute => "substitute",
        }
    }
}

/// The faults injected into one call: a latency to wait first, whether the behavior
/// ran, and what happens then. [`Fault::NONE`] for a call left alone.
///
/// A call can be both delayed and failed (Polly's latency strategy before its fault
/// strategy); failing wins over substituting when both are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Fault {
    /// How long to wait before the attempt runs (or fails, or is substituted).
    pub latency: Option<Duration>,
    /// What happens after the wait.
    pub action: FaultAction,
    /// True when the injector's behavior ran for this call.
    pub behavior: bool,
}

impl Fault {
    /// No fault: the call runs at once.
    pub const NONE: Fault = Fault {
        latency: None,
        action: FaultAction::Run,
        behavior: false,
    };

    /// True when nothing was injected.
    #[inline]
    pub fn is_none(&self) -> bool {
        *self == Fault::NONE
    }

    /// True when the call must fail with an injected rejection.
    #[inline]
    pub fn is_fail(&self) -> bool {
        self.action == FaultAction::Fail
    }

    /// True when the caller's substitute outcome replaces the operation's.
    #[inline]
    pub fn is_substitute(&self) -> bool {
        self.action == FaultAction::Substitute
    }
}
