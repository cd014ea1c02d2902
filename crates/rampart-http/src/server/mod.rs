//! Tower middleware for servers (feature `server`), shown with axum.
//!
//! | module | what |
//! |---|---|
//! | [`idempotency`] | [`IdempotencyLayer`](idempotency::IdempotencyLayer): an `Idempotency-Key` runs a request once and replays its response; 400, 409, 422 and 503 as the issue says |

pub mod idempotency;
