//! Client timeouts and pool size per dependency, from the registry's `client` table.
//!
//! The seeds list five client timeouts per dependency; [`ClientConfig`] holds them with
//! the pool size, in the same TOML file as the pipeline (`rampart check` compares the
//! pool size with the bulkhead). Reqwest implements three of them itself; the other two
//! are not reqwest settings, so [`ClientTimeouts`], a middleware, implements them per
//! dependency:
//!
//! | key | where | what it bounds |
//! |---|---|---|
//! | `connect` | [`client_builder`]: `connect_timeout` | opening a TCP connection (and TLS, when enabled); a pooled connection needs none |
//! | `read` | [`client_builder`]: `read_timeout` | reqwest starts it when the request is sent and restarts it at each read of the response body: so it bounds the wait for the response headers (connect, write and the server's time included), then every gap between body chunks |
//! | `total` | [`client_builder`]: `timeout`, and [`ClientTimeouts`] per request | one attempt, from connecting until the response body is read |
//! | `pool_size` | [`client_builder`]: `pool_max_idle_per_host`; [`ClientTimeouts`]: slots | idle connections kept per host; and requests in flight to the dependency |
//! | `pool` | [`ClientTimeouts`] | waiting for one of the `pool_size` slots |
//! | `write` | [`ClientTimeouts`] | a streamed request body, from the connection's first read of it until it has taken the last chunk |
//!
//! **Pool.** Reqwest's pool has no upper bound (it opens a new connection whenever no
//! idle one is free), so nothing waits for a pooled connection. [`ClientTimeouts`] adds
//! the bound: at most `pool_size` requests in flight to the dependency, each holding a
//! slot until its response body is read to the end or dropped (that is when the
//! connection goes back to the pool: a response kept unread keeps its slot). A request
//! waits at most `pool` for a slot (without limit when `pool` is unset), then fails
//! with a rampart [`Rejection`] of kind
//! [`BulkheadFull`](rampart::RejectionKind::BulkheadFull) from the policy
//! [`CLIENT_POOL`] inside `reqwest_middleware::Error::Middleware`: the same shape as a
//! full bulkhead, found with [`rejection`](super::rejection). It is not sent, and
//! [`RampartMiddleware`] neither retries it nor counts it
//! against the dependency. `pool` without `pool_size` bounds nothing, and neither does
//! `pool_size = 0` (reqwest then keeps no idle connection; requests are not limited).
//!
//! **Write.** Hyper reads a body as it writes it, so the time until the connection
//! has taken a streamed body's last chunk is the time to send it, but for what sits in
//! hyper's and the kernel's buffers (a few hundred KiB): `write` bounds that. A
//! buffered body (a `String`, `Vec<u8>`, JSON...) is taken in one piece as soon as the
//! headers are written, so `write` bounds nothing for it: the `read` timeout, which
//! runs from the moment the request is sent, covers its writing. A request cut by
//! `write` fails with a [`WriteTimeout`] (see [`write_timeout`]).
//!
//! **Order.** Add [`ClientTimeouts`] after [`RampartMiddleware`]
//! (inner to it): then slots and timeouts apply to each attempt, a retry's backoff holds
//! no slot, and a pool wait counts in the pipeline's timeout.
//! [`clients_from_registry`] builds that for every dependency.
//!
//! # Defaults
//!
//! Every key unset: reqwest's defaults (no timeout, no bound on the pool), no slots.
//!
//! # Examples
//!
//! ```
//! use rampart::registry::Registry;
//! use rampart_http::client::clients_from_registry;
//!
//! let registry = Registry::from_toml(
//!     r#"
//!     [dependencies.payments]
//!     client = { pool_size = 20, connect = "1s", read = "5s", pool = "500ms", total = "10s" }
//!     policies = [{ policy = "bulkhead", max_concurrent = 20 }]
//!     "#,
//!     "shop.toml",
//! )?;
//! let clients = clients_from_registry(&registry)?;
//! let payments = &clients["payments"];
//! # drop(payments);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::pool::{hold_until_read, PoolSlots};
use super::write::watch_body;
use super::{Dependency, RampartMiddleware};
use http::Extensions;
use rampart::registry::{ClientConfig, Registry};
use rampart::Rejection;
use reqwest::{Request, Response};
use reqwest_middleware::{ClientWithMiddleware, Error, Middleware, Next};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use super::pool::CLIENT_POOL;
pub use super::write::{write_timeout, WriteTimeout};

/// A reqwest client builder with `config`'s connect, read and total timeouts and its
/// pool size as the idle connections kept per host; unset keys keep reqwest's
/// defaults. See the [module docs](self) for what each bounds.
pub fn client_builder(config: &ClientConfig) -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder();
    if let Some(connect) = config.connect {
        builder = builder.connect_timeout(connect);
    }
    if let Some(read) = config.read {
        builder = builder.read_timeout(read);
    }
    if let Some(total) = config.total {
        builder = builder.timeout(total);
    }
    if let Some(size) = config.pool_size {
        builder = builder.pool_max_idle_per_host(size as usize);
    }
    builder
}

/// One reqwest client per dependency of `registry`, by name: built with
/// [`client_builder`] from its `client` table, with [`RampartMiddleware`] running its
/// pipeline and then [`ClientTimeouts`] for its pool and write timeout.
///
/// # Errors
///
/// The first client reqwest fails to build (a TLS backend that cannot start).
pub fn clients_from_registry(
    registry: &Registry,
) -> Result<HashMap<String, ClientWithMiddleware>, reqwest::Error> {
    let mut clients = HashMap::new();
    for (name, pipeline) in registry.pipelines() {
        let config = registry
            .config()
            .dependencies
            .get(name)
            .map(|d| d.client)
            .unwrap_or_default();
        let client = client_builder(&config).build()?;
        let client = reqwest_middleware::ClientBuilder::new(client)
            .with(RampartMiddleware::new(pipeline.clone()))
            .with(ClientTimeouts::new(name, &config))
            .build();
        clients.insert(name.to_owned(), client);
    }
    Ok(clients)
}

/// What one dependency's requests get.
#[derive(Debug, Clone)]
struct Limits {
    slots: Option<PoolSlots>,
    write: Option<Duration>,
    total: Option<Duration>,
}

impl Limits {
    fn new(name: &str, config: &ClientConfig) -> Self {
        Limits {
            // 0 keeps no idle connection in reqwest; it does not mean "no request".
            slots: config
                .pool_size
                .filter(|size| *size > 0)
                .map(|size| PoolSlots::new(name, size, config.pool)),
            write: config.write,
            total: config.total,
        }
    }
}

enum Route {
    One(Limits),
    ByDependency(HashMap<String, Limits>),
}

/// A reqwest-middleware middleware for one dependency's pool slots, `write` timeout
/// and `total` timeout; see the [module docs](self).
///
/// Cloning is cheap; clones share the slots.
#[derive(Clone)]
pub struct ClientTimeouts {
    route: Arc<Route>,
}

impl fmt::Debug for ClientTimeouts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let route = match &*self.route {
            Route::One(limits) => format!("{limits:?}"),
            Route::ByDependency(map) => format!("{} dependencies", map.len()),
        };
        f.debug_struct("ClientTimeouts")
            .field("route", &route)
            .finish()
    }
}

impl ClientTimeouts {
    /// Every request gets the slots and timeouts of `config`; `name` names the
    /// dependency in a pool rejection.
    pub fn new(name: &str, config: &ClientConfig) -> Self {
        ClientTimeouts {
            route: Arc::new(Route::One(Limits::new(name, config))),
        }
    }

    /// Each request gets those of the dependency named by its [`Dependency`] extension,
    /// or else the one named like its URL's host; other requests pass untouched. For a
    /// client shared by several dependencies: `connect` and `read` are client-wide in
    /// reqwest, so only one client per dependency ([`clients_from_registry`]) applies
    /// those per dependency.
    pub fn from_registry(registry: &Registry) -> Self {
        let map = registry
            .config()
            .dependencies
            .iter()
            .map(|(name, dep)| (name.clone(), Limits::new(name, &dep.client)))
            .collect();
        ClientTimeouts {
            route: Arc::new(Route::ByDependency(map)),
        }
    }

    fn limits_for(&self, req: &Request, ext: &Extensions) -> Option<&Limits> {
        match &*self.route {
            Route::One(limits) => Some(limits),
            Route::ByDependency(map) => match ext.get::<Dependency>() {
                Some(dep) => map.get(dep.name()),
                None => req.url().host_str().and_then(|host| map.get(host)),
            },
        }
    }
}

/// Runs `send`, failing with the write watch's error if it fires first.
async fn race<F: Future<Output = reqwest_middleware::Result<Response>>>(
    send: F,
    watch: Option<super::write::WriteWatch>,
) -> reqwest_middleware::Result<Response> {
    let Some(watch) = watch else {
        return send.await;
    };
    let send = std::pin::pin!(send);
    let expired = std::pin::pin!(watch.expired());
    let mut both = (send, expired);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = both.0.as_mut().poll(cx) {
            return std::task::Poll::Ready(out);
        }
        both.1.as_mut().poll(cx).map(|e| Err(Error::middleware(e)))
    })
    .await
}

#[async_trait::async_trait]
impl Middleware for ClientTimeouts {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let Some(limits) = self.limits_for(&req, extensions) else {
            return next.run(req, extensions).await;
        };
        if let (Some(total), None) = (limits.total, req.timeout()) {
            *req.timeout_mut() = Some(total);
        }
        let watch = match (limits.write, req.body_mut().take()) {
            // A buffered body is taken in one piece: nothing to watch.
            (_, Some(body)) if body.as_bytes().is_some() => {
                *req.body_mut() = Some(body);
                None
            }
            (Some(limit), Some(body)) => {
                let (body, watch) = watch_body(body, limit);
                *req.body_mut() = Some(body);
                Some(watch)
            }
            (_, body) => {
                *req.body_mut() = body;
                None
            }
        };
        let permit = match &limits.slots {
            Some(slots) => Some(slots.acquire().await.map_err(Error::middleware)?),
            None => None,
        };
        let response = race(next.run(req, extensions), watch).await?;
        Ok(match permit {
            Some(permit) => hold_until_read(response, permit),
            None => response,
        })
    }
}

/// Whether `err` is a refusal from rampart (a pool slot not found in time, or a policy
/// inside the middleware chain): said nothing about the dependency.
pub(super) fn is_local_refusal(err: &Error) -> bool {
    matches!(err, Error::Middleware(e) if e.downcast_ref::<Rejection>().is_some())
}
