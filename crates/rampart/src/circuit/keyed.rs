//! Keyed circuit breakers: one [`CircuitBreaker`] per key (downstream host, tenant,
//! endpoint), created on demand from one [`BreakerConfig`] and kept within bounded
//! memory by a [`Keyed`] map.
//!
//! # Why
//!
//! One breaker for a whole fleet of hosts opens for all of them when one host dies;
//! one breaker per host isolates the failure. But the set of keys is often open-ended
//! (hosts come and go, tenants churn, URLs carry ids), and none of the peers bound
//! their keyed breakers: every key ever seen keeps its breaker forever. [`KeyedBreakers`]
//! caps the number of live keys and forgets keys nobody has used for a while.
//!
//! # Eviction rule and its consequence
//!
//! The rules are those of [`Keyed`](crate::keyed): a key not used (by
//! [`get`](KeyedBreakers::get) or [`try_acquire`](KeyedBreakers::try_acquire)) for
//! longer than `idle_timeout` is gone, and when `max_keys` keys are live, a new key
//! evicts the least recently used key of its shard. **An evicted key comes back
//! closed**: its next use makes a fresh breaker, forgetting that it was open. So set
//! `max_keys` well above the number of keys that can be in trouble at once (a flood
//! of new keys must not push out the breakers that are open), and `idle_timeout` well
//! above the breaker's open period. Go through the map on every call rather than
//! keeping a breaker for long: a clone held outside the map keeps working, but its use
//! does not count as use of the key, which may expire meanwhile.
//!
//! # Configuration is checked once
//!
//! [`KeyedBreakers::new`] validates both configurations and builds one breaker with
//! them, so making a breaker for a new key cannot fail: it uses the same, already
//! validated configuration (construction depends on nothing else).
//!
//! # Examples
//!
//! ```
//! use rampart::circuit::keyed::KeyedBreakers;
//! use rampart::circuit::{BreakerConfig, BreakerState};
//! use rampart::classify::OutcomeClass;
//! use rampart::clock::ManualClock;
//! use rampart::keyed::KeyedConfig;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let breakers: KeyedBreakers<String> = KeyedBreakers::with_clock(
//!     "upstream",
//!     BreakerConfig::consecutive(5).with_open_for(Duration::from_secs(30)),
//!     KeyedConfig::new()
//!         .with_max_keys(5_000)
//!         .with_idle_timeout(Duration::from_secs(15 * 60)),
//!     Arc::new(clock.clone()),
//! )?;
//!
//! let down = "payments.internal".to_owned();
//! for _ in 0..5 {
//!     let (breaker, permit) = breakers.try_acquire(&down).expect("closed");
//!     breaker.record(permit, OutcomeClass::Failure);
//! }
//! let rejection = breakers.try_acquire(&down).unwrap_err();
//! assert!(rejection.is_circuit_open());
//!
//! // Other hosts are unaffected.
//! let up = "email.internal".to_owned();
//! assert_eq!(breakers.get(&up).state(), BreakerState::Closed);
//! assert_eq!(breakers.get(&down).name(), "upstream/payments.internal");
//! assert_eq!(breakers.len(), 2);
//!
//! let open: Vec<String> = breakers
//!     .snapshot()
//!     .into_iter()
//!     .filter(|(_, s)| s.state == BreakerState::Open)
//!     .map(|(host, _)| host)
//!     .collect();
//! assert_eq!(open, vec![down]);
//! # Ok::<(), rampart::ConfigError>(())
//! ```

use std::fmt::{self, Display};
use std::hash::Hash;
use std::sync::{Arc, OnceLock};

use super::{BreakerConfig, BreakerPermit, BreakerSnapshot, CircuitBreaker};
use crate::clock::{default_clock, Clock};
use crate::config::ConfigError;
use crate::error::Rejection;
use crate::event::Listener;
use crate::keyed::{Keyed, KeyedConfig};

/// One circuit breaker per key, made on demand from one configuration, with a cap on
/// live keys and idle eviction.
///
/// Cheap to clone; clones share the breakers. See the [module docs](self) for the
/// eviction rule and an example.
pub struct KeyedBreakers<K> {
    name: Arc<str>,
    map: Keyed<K, CircuitBreaker>,
    /// Given to every breaker the map makes, once set.
    listener: Arc<OnceLock<Arc<dyn Listener>>>,
}

impl<K> KeyedBreakers<K>
where
    K: Hash + Eq + Clone + Display + Send + Sync + 'static,
{
    /// Breakers named `"{name}/{key}"`, each with `config`, at most `keyed.max_keys` of
    /// them live, on the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`BreakerConfig::validate`] or [`KeyedConfig::validate`].
    pub fn new(name: &str, config: BreakerConfig, keyed: KeyedConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, keyed, default_clock())
    }

    /// Breakers that, like the map holding them, take their time from `clock` (a
    /// [`ManualClock`](crate::clock::ManualClock) in tests).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`BreakerConfig::validate`] or [`KeyedConfig::validate`].
    pub fn with_clock(
        name: &str,
        config: BreakerConfig,
        keyed: KeyedConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        keyed.validate()?;
        // Validates `config` by building a breaker with it. Construction is a function
        // of the configuration alone, so the factory below, which uses the same
        // configuration, cannot fail; should it ever, this breaker stands in (shared
        // by the keys affected) rather than panicking under the map's lock.
        let spare =
            CircuitBreaker::with_clock(&format!("{name}/*"), config.clone(), clock.clone())?;
        let name: Arc<str> = name.into();
        let listener: Arc<OnceLock<Arc<dyn Listener>>> = Arc::default();
        let factory = {
            let (name, clock) = (Arc::clone(&name), Arc::clone(&clock));
            let listener = Arc::clone(&listener);
            move |key: &K| {
                let breaker = CircuitBreaker::with_clock(
                    &format!("{name}/{key}"),
                    config.clone(),
                    Arc::clone(&clock),
                )
                .unwrap_or_else(|_| spare.clone());
                match listener.get() {
                    Some(l) => breaker.with_listener(Arc::clone(l)),
                    None => breaker,
                }
            }
        };
        let map = Keyed::with_clock(keyed, factory, clock)?;
        Ok(KeyedBreakers {
            name,
            map,
            listener,
        })
    }

    /// Reports every key's state changes and rejections to `listener`; each event's
    /// `pipeline` is the key's breaker name, `"{name}/{key}"`.
    ///
    /// Call it right after construction: it reaches the breakers made from then on and
    /// those already live, but only the first listener set counts.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        if self.listener.set(Arc::clone(&listener)).is_ok() {
            self.map.for_each(|_, b| {
                let _ = b.clone().with_listener(Arc::clone(&listener));
            });
        }
        self
    }

    /// The breaker for `key`, marking the key used now; a fresh, closed one if the key
    /// is new, was evicted or has been idle longer than `idle_timeout`.
    ///
    /// Clones of the returned breaker share its state with every later `get` of the
    /// key while it stays live.
    pub fn get(&self, key: &K) -> CircuitBreaker {
        self.map.get(key)
    }

    /// Asks `key`'s breaker for a permit; on success returns the breaker too, to
    /// [`record`](CircuitBreaker::record) the outcome on.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] of [`CircuitBreaker::try_acquire`].
    pub fn try_acquire(&self, key: &K) -> Result<(CircuitBreaker, BreakerPermit), Rejection> {
        let breaker = self.map.get(key);
        let permit = breaker.try_acquire()?;
        Ok((breaker, permit))
    }

    /// Every live key with its breaker's figures, for health checks and dashboards.
    ///
    /// One pass over the map; changes nothing and does not mark keys used. Shards are
    /// read in turn, so this is not one instant's view.
    pub fn snapshot(&self) -> Vec<(K, BreakerSnapshot)> {
        let mut out = Vec::with_capacity(self.map.len());
        self.map
            .for_each(|k, b| out.push((k.clone(), b.snapshot())));
        out
    }

    /// Keys stored now (at most `max_keys`), including idle ones not yet swept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How many keys were evicted (for the cap, or idle too long) since creation.
    pub fn evicted(&self) -> u64 {
        self.map.evicted()
    }

    /// Removes every key idle longer than `idle_timeout`; returns how many. For a
    /// periodic task, so that memory also falls when no new keys arrive.
    pub fn evict_idle(&self) -> usize {
        self.map.evict_idle()
    }

    /// The name the breakers' names start with.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<K> Clone for KeyedBreakers<K> {
    fn clone(&self) -> Self {
        KeyedBreakers {
            name: Arc::clone(&self.name),
            map: self.map.clone(),
            listener: Arc::clone(&self.listener),
        }
    }
}

impl<K> fmt::Debug for KeyedBreakers<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreakers")
            .field("name", &self.name)
            .field("map", &self.map)
            .finish()
    }
}
