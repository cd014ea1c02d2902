//! How the shop calls its dependencies: one reqwest client, one pipeline per dependency.
//!
//! Payment, inventory and notification get the pipelines of the configuration file
//! (the seeds' settings, `config/shop.toml`); the product page's catalog, pricing,
//! reviews and recommendations get small pipelines built in code (a breaker, one
//! retry, a tight timeout). Each request names its dependency with a
//! [`Dependency`] extension and the middleware runs it through that pipeline.

use rampart::circuit::BreakerConfig;
use rampart::event::Listener;
use rampart::registry::Registry;
use rampart::retry::RetryConfig;
use rampart::{ConfigError, Error, Pipeline, Rejection};
use rampart_http::client::{rejection, ClientTimeouts, Dependency, RampartMiddleware};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The product page's dependencies and each one's per-attempt timeout.
const PAGE_PARTS: [(&str, Duration); 4] = [
    ("catalog", Duration::from_millis(800)),
    ("pricing", Duration::from_millis(800)),
    ("reviews", Duration::from_millis(300)),
    ("recommendations", Duration::from_millis(300)),
];

/// Why a dependency did not answer with data (a rampart rejection comes as
/// [`Error::Rejected`] beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// It answered with this non-success status.
    Status(u16),
    /// The request did not get an answer (connection refused, reset, unreadable body).
    Transport(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Status(status) => write!(f, "answered {status}"),
            CallError::Transport(reason) => write!(f, "no answer: {reason}"),
        }
    }
}

impl std::error::Error for CallError {}

/// What a call to a dependency returns.
pub type CallResult = Result<Value, Error<CallError>>;

/// The shop's dependencies, reached at `base` (`http://host:port`).
#[derive(Clone)]
pub struct Dependencies {
    client: ClientWithMiddleware,
    base: Arc<str>,
    pipelines: Arc<HashMap<String, Pipeline>>,
}

impl Dependencies {
    /// The registry's pipelines plus the product page's, in front of `base`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] if a product-page pipeline does not build (it always does).
    /// The product page's pipelines report to `listener`.
    pub fn new(
        registry: &Registry,
        base: &str,
        listener: impl Listener + Clone,
    ) -> Result<Self, ConfigError> {
        let mut pipelines: HashMap<String, Pipeline> = registry
            .pipelines()
            .map(|(name, pipeline)| (name.to_owned(), pipeline.clone()))
            .collect();
        for (name, timeout) in PAGE_PARTS {
            let pipeline = Pipeline::builder(name)
                .listener(listener.clone())
                .circuit_breaker(
                    BreakerConfig::consecutive(5).with_open_for(Duration::from_secs(30)),
                )
                .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(2))
                .timeout(timeout)
                .build()?;
            pipelines.insert(name.to_owned(), pipeline);
        }
        let pipelines = Arc::new(pipelines);
        let route = Arc::clone(&pipelines);
        let middleware = RampartMiddleware::routed(move |_, extensions| {
            let dependency = extensions.get::<Dependency>()?;
            route.get(dependency.name()).cloned()
        });
        // Inside the pipelines, each attempt gets its dependency's limits from the file's
        // `client` table (payment: at most 20 requests in flight, 500 ms to get one of
        // those slots). Connect and read timeouts are settings of a reqwest client, so
        // they apply with one client per dependency (`clients_from_registry`); this one
        // client serves seven dependencies.
        let client = ClientBuilder::new(reqwest::Client::new())
            .with(middleware)
            .with(ClientTimeouts::from_registry(registry))
            .build();
        Ok(Dependencies {
            client,
            base: base.into(),
            pipelines,
        })
    }

    /// The pipeline of `dependency`, for health reports.
    pub fn pipelines(&self) -> impl Iterator<Item = (&str, &Pipeline)> {
        self.pipelines.iter().map(|(name, p)| (name.as_str(), p))
    }

    /// `GET {base}/{dependency}/{path}` through the dependency's pipeline.
    pub async fn get(&self, dependency: &str, path: &str) -> CallResult {
        let url = format!("{}/{dependency}/{path}", self.base);
        let request = self
            .client
            .get(url)
            .with_extension(Dependency::new(dependency));
        answer(request.send().await).await
    }

    /// `POST {base}/{dependency}/{path}` with a JSON body and an `Idempotency-Key`,
    /// through the dependency's pipeline (which retries it because it has a key).
    pub async fn post(&self, dependency: &str, path: &str, key: &str, body: &Value) -> CallResult {
        let url = format!("{}/{dependency}/{path}", self.base);
        let request = self
            .client
            .post(url)
            .header("idempotency-key", key)
            .json(body)
            .with_extension(Dependency::new(dependency));
        answer(request.send().await).await
    }
}

/// Turns what the client returned into data or the reason there is none.
async fn answer(sent: Result<reqwest::Response, reqwest_middleware::Error>) -> CallResult {
    let response = match sent {
        Ok(response) => response,
        Err(err) => return Err(failure(&err)),
    };
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Operation(CallError::Status(status.as_u16())));
    }
    response
        .json()
        .await
        .map_err(|e| Error::Operation(CallError::Transport(e.to_string())))
}

fn failure(err: &reqwest_middleware::Error) -> Error<CallError> {
    match rejection(err) {
        Some(rejected) => Error::Rejected(Rejection::clone(rejected)),
        None => Error::Operation(CallError::Transport(err.to_string())),
    }
}
