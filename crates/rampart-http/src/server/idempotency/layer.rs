//! [`IdempotencyLayer`]: the settings of the middleware and which requests need a key.

use std::fmt;
use std::sync::Arc;

use http::{request, Method, StatusCode};
use rampart::ConfigError;
use tower::Layer;

use super::config::IdempotencyConfig;
use super::key::default_scope;
use super::service::IdempotencyService;
use super::store::IdempotencyStore;

type Predicate = Arc<dyn Fn(&request::Parts) -> bool + Send + Sync>;
type ScopeFn = Arc<dyn Fn(&request::Parts) -> Vec<u8> + Send + Sync>;

/// Which requests must carry an `Idempotency-Key`.
#[derive(Clone)]
enum Requirement {
    /// These methods, under these path prefixes (all paths when there are none).
    Routes {
        methods: Vec<Method>,
        prefixes: Vec<String>,
    },
    /// Whatever the predicate says.
    When(Predicate),
}

/// Whether `path` is `prefix` or below it, segment by segment: `/pay` covers `/pay`
/// and `/pay/7`, not `/payments`.
fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// What every service of one layer shares.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) config: IdempotencyConfig,
    pub(crate) store: Arc<dyn IdempotencyStore>,
    requirement: Requirement,
    scope: ScopeFn,
    keep: fn(StatusCode) -> bool,
}

impl Settings {
    pub(crate) fn requires_key(&self, parts: &request::Parts) -> bool {
        match &self.requirement {
            Requirement::Routes { methods, prefixes } => {
                methods.contains(&parts.method)
                    && (prefixes.is_empty() || prefixes.iter().any(|p| under(parts.uri.path(), p)))
            }
            Requirement::When(predicate) => predicate(parts),
        }
    }

    pub(crate) fn scope(&self, parts: &request::Parts) -> Vec<u8> {
        (self.scope)(parts)
    }

    pub(crate) fn keeps(&self, status: StatusCode) -> bool {
        (self.keep)(status)
    }
}

/// The statuses stored by default: everything but 5xx (a server error releases the key
/// so that the client may try again).
pub fn not_server_error(status: StatusCode) -> bool {
    !status.is_server_error()
}

/// Makes requests with an `Idempotency-Key` run once and replay after; see the
/// [module docs](super).
///
/// Clones share the store.
#[derive(Clone)]
pub struct IdempotencyLayer {
    settings: Settings,
}

impl IdempotencyLayer {
    /// A layer keeping keys in `store`, with `config`; by default POST and PATCH on
    /// every path need a key, the caller is told by [`default_scope`], and every
    /// response but 5xx is stored.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `config` does not validate.
    pub fn new(
        config: IdempotencyConfig,
        store: Arc<dyn IdempotencyStore>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(IdempotencyLayer {
            settings: Settings {
                config,
                store,
                requirement: Requirement::Routes {
                    methods: vec![Method::POST, Method::PATCH],
                    prefixes: Vec::new(),
                },
                scope: Arc::new(default_scope),
                keep: not_server_error,
            },
        })
    }

    /// The same, requiring a key on requests with one of `methods` (instead of POST and
    /// PATCH), under the path prefixes given so far.
    pub fn require_key_for(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        let prefixes = self.prefixes();
        self.settings.requirement = Requirement::Routes {
            methods: methods.into_iter().collect(),
            prefixes,
        };
        self
    }

    /// The same, requiring a key only under these path prefixes (segment-wise: `/pay`
    /// covers `/pay/7`, not `/payments`), for the methods given so far.
    pub fn only_under<P: Into<String>>(mut self, prefixes: impl IntoIterator<Item = P>) -> Self {
        let methods = match &self.settings.requirement {
            Requirement::Routes { methods, .. } => methods.clone(),
            Requirement::When(_) => vec![Method::POST, Method::PATCH],
        };
        self.settings.requirement = Requirement::Routes {
            methods,
            prefixes: prefixes.into_iter().map(Into::into).collect(),
        };
        self
    }

    /// The same, requiring a key on exactly the requests for which `predicate` is true
    /// (replaces the methods and prefixes).
    pub fn require_key_when(
        mut self,
        predicate: impl Fn(&request::Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.settings.requirement = Requirement::When(Arc::new(predicate));
        self
    }

    /// The same, telling callers apart by `scope` (any bytes, e.g. a tenant id set by an
    /// authentication layer in the request's extensions) instead of [`default_scope`].
    pub fn scope_with(
        mut self,
        scope: impl Fn(&request::Parts) -> Vec<u8> + Send + Sync + 'static,
    ) -> Self {
        self.settings.scope = Arc::new(scope);
        self
    }

    /// The same, storing the responses whose status passes `keep` (instead of
    /// [`not_server_error`]); the key of any other response is released.
    pub fn store_when(mut self, keep: fn(StatusCode) -> bool) -> Self {
        self.settings.keep = keep;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &IdempotencyConfig {
        &self.settings.config
    }

    fn prefixes(&self) -> Vec<String> {
        match &self.settings.requirement {
            Requirement::Routes { prefixes, .. } => prefixes.clone(),
            Requirement::When(_) => Vec::new(),
        }
    }
}

impl fmt::Debug for IdempotencyLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyLayer")
            .field("config", &self.settings.config)
            .field("store", &self.settings.store)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for IdempotencyLayer {
    type Service = IdempotencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdempotencyService::new(inner, Arc::new(self.settings.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::idempotency::MemoryStore;

    fn parts(method: Method, path: &str) -> request::Parts {
        http::Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    fn layer() -> IdempotencyLayer {
        IdempotencyLayer::new(IdempotencyConfig::new(), Arc::new(MemoryStore::new())).unwrap()
    }

    #[test]
    fn post_and_patch_need_a_key_by_default() {
        let settings = layer().settings;
        for (method, needs) in [
            (Method::POST, true),
            (Method::PATCH, true),
            (Method::GET, false),
            (Method::PUT, false),
            (Method::DELETE, false),
        ] {
            assert_eq!(
                settings.requires_key(&parts(method.clone(), "/x")),
                needs,
                "{method}"
            );
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let settings = layer()
            .only_under(["/pay/"])
            .require_key_for([Method::POST, Method::PUT])
            .settings;
        assert!(settings.requires_key(&parts(Method::POST, "/pay")));
        assert!(settings.requires_key(&parts(Method::PUT, "/pay/7?x=1")));
        assert!(!settings.requires_key(&parts(Method::POST, "/payments")));
        assert!(!settings.requires_key(&parts(Method::GET, "/pay")));
    }

    #[test]
    fn a_predicate_replaces_the_routes() {
        let settings = layer()
            .require_key_when(|p| p.headers.contains_key("x-needs-key"))
            .settings;
        assert!(!settings.requires_key(&parts(Method::POST, "/")));
    }

    #[test]
    fn a_zero_ttl_is_refused() {
        let config = IdempotencyConfig::new().with_ttl(std::time::Duration::ZERO);
        let error = IdempotencyLayer::new(config, Arc::new(MemoryStore::new())).unwrap_err();
        assert_eq!(error.field(), "ttl");
    }
}
