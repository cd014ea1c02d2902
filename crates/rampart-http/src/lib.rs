//! HTTP semantics for rampart.

pub mod rate_limit_headers;
pub mod retry_after;
mod sf;
