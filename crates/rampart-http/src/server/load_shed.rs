//! Server-side load shedding: when the service nears its capacity, answer the least
//! important requests `503 Service Unavailable` with `Retry-After`, and keep serving
//! the ones that matter.
//!
//! [`LoadShedLayer`] is a tower layer over `http::Request<B>` ->
//! `http::Response<ResBody>` around a core [`LoadShedder`]: each admitted request
//! counts in flight from `call` until its response future resolves or is dropped (a
//! client that disconnects gives its slot back), and the shedder's level table decides
//! by [`Priority`]. A request's priority is, first found:
//!
//! 1. a [`Priority`] in the request's extensions (set by an earlier middleware, after
//!    authentication for instance);
//! 2. the configured priority header (`critical`, `high`, `normal`, `low`), if any:
//!    only behind a gateway that sets it, since a client could claim `critical`;
//! 3. the route table, [`PriorityRoutes`]: the longest matching path prefix, else its
//!    default.
//!
//! The priority is then put in the request's extensions for the handler to read, and
//! is the task's [shed priority](rampart::shed::current_priority) while the service
//! runs, so the pipelines it calls shed by it too.
//! Exempt paths (the health probes and `/metrics` by default) are neither counted nor
//! shed. A shed request gets `503` with an empty body (`ResBody::default()`) and
//! `Retry-After` from the shedder's hint (5 s by default), rounded up to whole seconds.
//! The in-flight count covers the service's work up to its response head, not the
//! streaming of the body.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | routes | none: every request `Normal` ([`PriorityRoutes::seeds`] has the seeds' table) |
//! | priority header | none |
//! | exempt paths | `/health/*`, `/metrics` |
//!
//! # Examples
//!
//! ```
//! use axum::{routing::get, Router};
//! use rampart::shed::{LoadShedder, ShedConfig};
//! use rampart_http::server::load_shed::{LoadShedLayer, PriorityRoutes};
//!
//! # fn main() -> Result<(), rampart::ConfigError> {
//! let shedder = LoadShedder::new("api", ShedConfig::new(1000))?;
//! // /auth CRITICAL, /checkout HIGH, /analytics LOW, everything else NORMAL.
//! let shedding = LoadShedLayer::builder(shedder).with_routes(PriorityRoutes::seeds()).build()?;
//! let app: Router = Router::new().route("/checkout/pay", get(|| async { "paid" })).layer(shedding);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderMap, HeaderName};
use http::{Extensions, Request, Response, StatusCode};
use rampart::shed::{LoadShedder, Priority, ShedPermit};
use rampart::{ConfigError, Rejection};
use tower::{Layer, Service};

use super::early_response::{take_inner, ResponseFuture};
use super::rate_limit::{ExemptPaths, DEFAULT_EXEMPT_PATHS};
use crate::retry_after::write_retry_after;

/// Priorities by path prefix, the longest matching prefix winning.
///
/// A prefix matches itself and the paths under it: `/auth` matches `/auth` and
/// `/auth/login`, not `/authors`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriorityRoutes {
    routes: Vec<(String, Priority)>,
    default: Priority,
}

impl PriorityRoutes {
    /// No route: every request has the default, `Normal`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seeds' table: `/auth` `Critical`, `/checkout` `High`, `/analytics` `Low`,
    /// anything else `Normal`.
    pub fn seeds() -> Self {
        Self::new()
            .with_route("/auth", Priority::Critical)
            .with_route("/checkout", Priority::High)
            .with_route("/analytics", Priority::Low)
    }

    /// Gives the paths under `prefix` the priority `priority` (checked when the layer
    /// is built).
    pub fn with_route(mut self, prefix: impl Into<String>, priority: Priority) -> Self {
        let mut prefix = prefix.into();
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        self.routes.push((prefix, priority));
        self
    }

    /// Sets the priority of paths no route matches.
    pub fn with_default(mut self, priority: Priority) -> Self {
        self.default = priority;
        self
    }

    /// The priority of `path`.
    pub fn priority_of(&self, path: &str) -> Priority {
        self.routes
            .iter()
            .filter(|(prefix, _)| {
                prefix == "/"
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.default, |(_, p)| *p)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self.routes.iter().find(|(p, _)| !p.starts_with('/')) {
            Some((p, _)) => Err(ConfigError::new(
                "server.load_shed.routes",
                format!("{p:?}: a path prefix must start with '/'"),
            )),
            None => Ok(()),
        }
    }
}

/// Builds a [`LoadShedLayer`]; see the [module docs](self) for the defaults.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct LoadShedBuilder {
    shedder: LoadShedder,
    routes: PriorityRoutes,
    header: Option<String>,
    exempt_paths: Vec<String>,
}

impl LoadShedBuilder {
    /// Sets the route table.
    pub fn with_routes(mut self, routes: PriorityRoutes) -> Self {
        self.routes = routes;
        self
    }

    /// Reads a request's priority from the header `name` when it holds one
    /// (`critical`, `high`, `normal` or `low`, any case). Only for headers a trusted
    /// gateway sets.
    pub fn with_priority_header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into());
        self
    }

    /// Replaces the exempt paths (see [`ExemptPaths`] for the patterns).
    pub fn with_exempt_paths<I, T>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.exempt_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Checks the settings and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `server.load_shed.routes` (a prefix not starting with
    /// `/`), `server.load_shed.priority_header` (not a header name) or
    /// `server.load_shed.exempt_paths`.
    pub fn build(self) -> Result<LoadShedLayer, ConfigError> {
        self.routes.validate()?;
        let header = match &self.header {
            Some(name) => Some(HeaderName::from_str(name).map_err(|_| {
                ConfigError::new(
                    "server.load_shed.priority_header",
                    format!("{name:?} is not a valid header name"),
                )
            })?),
            None => None,
        };
        let exempt = ExemptPaths::parse("server.load_shed.exempt_paths", &self.exempt_paths)?;
        Ok(LoadShedLayer {
            shared: Arc::new(Shared {
                shedder: self.shedder,
                routes: self.routes,
                header,
                exempt,
            }),
        })
    }
}

#[derive(Debug)]
struct Shared {
    shedder: LoadShedder,
    routes: PriorityRoutes,
    header: Option<HeaderName>,
    exempt: ExemptPaths,
}

impl Shared {
    fn priority(&self, path: &str, headers: &HeaderMap, ext: &Extensions) -> Priority {
        if let Some(p) = ext.get::<Priority>() {
            return *p;
        }
        let from_header = self.header.as_ref().and_then(|name| {
            let value = headers.get(name)?.to_str().ok()?.trim();
            Priority::ALL
                .into_iter()
                .find(|p| p.as_str().eq_ignore_ascii_case(value))
        });
        from_header.unwrap_or_else(|| self.routes.priority_of(path))
    }
}

/// Sheds requests by priority; see the [module docs](self).
///
/// Cheap to clone; clones (and the services they make) share the shedder.
#[derive(Debug, Clone)]
pub struct LoadShedLayer {
    shared: Arc<Shared>,
}

impl LoadShedLayer {
    /// Starts building a layer around `shedder`.
    pub fn builder(shedder: LoadShedder) -> LoadShedBuilder {
        LoadShedBuilder {
            shedder,
            routes: PriorityRoutes::new(),
            header: None,
            exempt_paths: DEFAULT_EXEMPT_PATHS.map(str::to_owned).to_vec(),
        }
    }

    /// The shedder, for its snapshot.
    pub fn shedder(&self) -> &LoadShedder {
        &self.shared.shedder
    }
}

impl<S> Layer<S> for LoadShedLayer {
    type Service = LoadShedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LoadShedService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`LoadShedLayer`]: answers 503 itself, or calls the inner service
/// while counting the request in flight.
#[derive(Debug, Clone)]
pub struct LoadShedService<S> {
    inner: S,
    layer: LoadShedLayer,
}

impl<S> LoadShedService<S> {
    /// The shedder.
    pub fn shedder(&self) -> &LoadShedder {
        self.layer.shedder()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// The 503 for a shed request.
fn shed_response<B: Default>(rejection: &Rejection) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    if let Some(after) = rejection.retry_after() {
        write_retry_after(response.headers_mut(), after);
    }
    response
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for LoadShedService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = &self.layer.shared;
        let path = req.uri().path();
        if shared.exempt.matches(path) {
            return ResponseFuture::call(take_inner(&mut self.inner), req, None);
        }
        let priority = shared.priority(path, req.headers(), req.extensions());
        let permit: ShedPermit<'static> = match shared.shedder.try_acquire_owned(priority) {
            Ok(permit) => permit,
            Err(rejection) => return ResponseFuture::answered(shed_response(&rejection)),
        };
        req.extensions_mut().insert(priority);
        ResponseFuture::call_admitted(take_inner(&mut self.inner), req, permit, priority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let routes = PriorityRoutes::seeds().with_route("/auth/admin/", Priority::High);
        assert_eq!(routes.priority_of("/auth"), Priority::Critical);
        assert_eq!(routes.priority_of("/auth/login"), Priority::Critical);
        assert_eq!(routes.priority_of("/auth/admin/x"), Priority::High);
        assert_eq!(routes.priority_of("/authors"), Priority::Normal);
        assert_eq!(routes.priority_of("/analytics/events"), Priority::Low);
        assert_eq!(routes.priority_of("/checkout"), Priority::High);
        let all_low = PriorityRoutes::new().with_route("/", Priority::Low);
        assert_eq!(all_low.priority_of("/x"), Priority::Low);
        let bad = PriorityRoutes::new().with_route("auth", Priority::Low);
        assert_eq!(
            bad.validate().unwrap_err().field(),
            "server.load_shed.routes"
        );
    }
}
