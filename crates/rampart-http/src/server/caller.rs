//! Who is calling: the key a server's rate limit counts a request under.
//!
//! A [`CallerKey`] says where the key comes from: an API key header (`X-Api-Key`),
//! any other header (a tenant id), or the client's IP address. [`CallerExtractor`] is
//! its validated form, and [`CallerExtractor::identify`] reads a request's
//! [`CallerId`].
//!
//! # The client's address
//!
//! The peer address comes from the connection, read from the request's extensions:
//! axum's `ConnectInfo<SocketAddr>` (feature `axum`; serve the app with
//! `into_make_service_with_connect_info::<SocketAddr>()`) or a plain [`SocketAddr`]
//! that any other server can insert. Behind a load balancer every peer is the
//! balancer, so `X-Forwarded-For` is read, but only when the peer is in
//! [`TrustedProxies`]: then the list is walked from the right (the hop nearest to us)
//! and the first address that is not a trusted proxy is the client. A client can write
//! anything in that header, so a peer that is not trusted is itself the client and its
//! header is ignored. A malformed entry (`unknown`, garbage) stops the walk: the last
//! address known good, a proxy of ours, is then the client. IPv4-mapped IPv6 addresses
//! count as IPv4.
//!
//! An IPv6 host usually has a whole /64 network to pick addresses from, so by default
//! an IPv6 client is keyed by its /64 ([`DEFAULT_IPV6_PREFIX`];
//! [`CallerExtractor::with_ipv6_prefix`] changes it): rotating addresses within it
//! does not buy a fresh bucket.
//!
//! # Examples
//!
//! ```
//! use http::Request;
//! use rampart_http::server::caller::{CallerExtractor, CallerId, CallerKey, TrustedProxies};
//! use std::net::SocketAddr;
//!
//! let proxies = TrustedProxies::parse(["10.0.0.0/8"])?;
//! let by_ip = CallerExtractor::new(&CallerKey::ClientIp, proxies)?;
//!
//! let mut req = Request::get("/").header("x-forwarded-for", "203.0.113.9, 10.0.0.7").body(())?;
//! req.extensions_mut().insert("10.0.0.2:443".parse::<SocketAddr>()?);
//! assert_eq!(by_ip.identify(&req), Some(CallerId::Ip("203.0.113.9".parse()?)));
//!
//! // The same header from a peer that is not a proxy of ours is ignored.
//! req.extensions_mut().insert("198.51.100.4:5000".parse::<SocketAddr>()?);
//! assert_eq!(by_ip.identify(&req), Some(CallerId::Ip("198.51.100.4".parse()?)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName};
use http::{Extensions, Request};
use rampart::ConfigError;

/// `X-Api-Key`, the default API key header.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The longest header key kept, in bytes: a longer value counts as no key, so that a
/// caller cannot fill memory with huge keys.
pub const MAX_KEY_LEN: usize = 256;

/// The prefix length IPv6 clients are keyed by: a /64, one host's network.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// Where a caller's key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CallerKey {
    /// The API key header, `X-Api-Key`.
    #[default]
    ApiKey,
    /// The value of the named header (validated when the extractor is built).
    Header(String),
    /// The client's IP address (see the [module docs](self)).
    ClientIp,
}

/// The key one caller's requests are counted under.
///
/// `Debug` does not print header keys, which are often secrets.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CallerId {
    /// A header's value (an API key, a tenant id), as sent.
    Key(Arc<[u8]>),
    /// A client IP address (an IPv6 one with the bits past the keyed prefix cleared).
    Ip(IpAddr),
    /// Callers without a key, all together.
    Anonymous,
}

impl fmt::Debug for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallerId::Key(k) => write!(f, "Key({} bytes)", k.len()),
            CallerId::Ip(ip) => f.debug_tuple("Ip").field(ip).finish(),
            CallerId::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// One network, `address/prefix-length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Cidr> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr = IpAddr::from_str(addr.trim()).ok()?.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => l.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (len <= max).then_some(Cidr { addr, len })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        fn prefix(bits: u128, len: u8, width: u8) -> u128 {
            match len {
                0 => 0,
                l => bits >> (width - l),
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let (a, b) = (u32::from(net).into(), u32::from(ip).into());
                prefix(a, self.len, 32) == prefix(b, self.len, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix(net.into(), self.len, 128) == prefix(ip.into(), self.len, 128)
            }
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed: addresses and networks in CIDR
/// form. Empty by default: the header is never read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<Cidr>,
}

impl TrustedProxies {
    /// No trusted proxy.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses addresses (`10.0.0.7`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `server.trusted_proxies` naming the entry that is not an
    /// address or a network.
    pub fn parse<I, T>(entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let nets = entries
            .into_iter()
            .map(|e| {
                Cidr::parse(e.as_ref()).ok_or_else(|| {
                    ConfigError::new(
                        "server.trusted_proxies",
                        format!("{:?} is not an IP address or network", e.as_ref()),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { nets })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The peer address of the connection a request came on, from its extensions: axum's
/// `ConnectInfo<SocketAddr>` (feature `axum`) or a plain [`SocketAddr`].
pub fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    extensions.get::<SocketAddr>().copied()
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`,
/// `[::1]:80`) or in brackets (`[::1]`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = IpAddr::from_str(entry)
        .ok()
        .or_else(|| SocketAddr::from_str(entry).ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            IpAddr::from_str(inner).ok()
        })?;
    Some(ip.to_canonical())
}

/// The client's IP address: the peer's, or, when the peer is a trusted proxy, the
/// right-most address of `X-Forwarded-For` that is not one (see the [module
/// docs](self)). `None` when the peer address is unknown.
pub fn client_ip(
    headers: &HeaderMap,
    extensions: &Extensions,
    proxies: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = peer_addr(extensions)?.ip().to_canonical();
    if !proxies.contains(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = value.to_str() else {
            return Some(client);
        };
        for entry in text.rsplit(',') {
            let Some(ip) = parse_hop(entry) else {
                return Some(client);
            };
            client = ip;
            if !proxies.contains(ip) {
                return Some(ip);
            }
        }
    }
    Some(client)
}

/// A validated [`CallerKey`] with its trusted proxies: reads a request's [`CallerId`].
#[derive(Debug, Clone)]
pub struct CallerExtractor {
    header: Option<HeaderName>,
    proxies: TrustedProxies,
    ipv6_prefix: u8,
}

impl CallerExtractor {
    /// Validates `key`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `server.caller.header` when a [`CallerKey::Header`] is not
    /// a valid header name.
    pub fn new(key: &CallerKey, proxies: TrustedProxies) -> Result<Self, ConfigError> {
        let header = match key {
            CallerKey::ApiKey => Some(X_API_KEY),
            CallerKey::Header(name) => Some(HeaderName::from_str(name).map_err(|_| {
                ConfigError::new(
                    "server.caller.header",
                    format!("{name:?} is not a valid header name"),
                )
            })?),
            CallerKey::ClientIp => None,
        };
        Ok(CallerExtractor {
            header,
            proxies,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        })
    }

    /// Keys IPv6 clients by their first `len` bits (128: each address on its own).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `server.caller.ipv6_prefix` when `len` is 0 or above 128.
    pub fn with_ipv6_prefix(mut self, len: u8) -> Result<Self, ConfigError> {
        if !(1..=128).contains(&len) {
            return Err(ConfigError::new(
                "server.caller.ipv6_prefix",
                "must be from 1 to 128",
            ));
        }
        self.ipv6_prefix = len;
        Ok(self)
    }

    /// The trusted proxies.
    pub fn proxies(&self) -> &TrustedProxies {
        &self.proxies
    }

    /// The caller of `req`; `None` when it has no key: the header is missing, empty,
    /// repeated or longer than [`MAX_KEY_LEN`], or the peer address is unknown.
    pub fn identify<B>(&self, req: &Request<B>) -> Option<CallerId> {
        self.identify_parts(req.headers(), req.extensions())
    }

    /// [`identify`](Self::identify) from a request's headers and extensions.
    pub fn identify_parts(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<CallerId> {
        match &self.header {
            Some(name) => header_key(headers, name),
            None => self.client_ip(headers, extensions),
        }
    }

    /// The client's IP address as a [`CallerId`] (IPv6 cut to the keyed prefix),
    /// whatever the key.
    pub fn client_ip(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<CallerId> {
        let ip = client_ip(headers, extensions, &self.proxies)?;
        Some(CallerId::Ip(match ip {
            IpAddr::V6(v6) => {
                let keep = u128::MAX << (128 - u32::from(self.ipv6_prefix));
                IpAddr::V6((u128::from(v6) & keep).into())
            }
            v4 => v4,
        }))
    }
}

fn header_key(headers: &HeaderMap, name: &HeaderName) -> Option<CallerId> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?.as_bytes();
    if values.next().is_some() || value.is_empty() || value.len() > MAX_KEY_LEN {
        return None;
    }
    Some(CallerId::Key(value.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn from(peer: &str, xff: &[&str], proxies: &[&str]) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        for v in xff {
            headers.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        let mut ext = Extensions::new();
        ext.insert(peer.parse::<SocketAddr>().unwrap());
        client_ip(&headers, &ext, &TrustedProxies::parse(proxies).unwrap())
    }

    #[test]
    fn networks_contain_their_addresses() {
        let p = TrustedProxies::parse(["10.0.0.0/8", "fd00::/8", "192.0.2.1", "0.0.0.0/0"]);
        let p = p.unwrap();
        assert!(p.contains(ip("10.255.0.1")) && p.contains(ip("fdab::1")));
        assert!(p.contains(ip("::ffff:10.1.2.3")));
        let p = TrustedProxies::parse(["10.0.0.0/8", "::1/128"]).unwrap();
        assert!(!p.contains(ip("11.0.0.1")) && !p.contains(ip("::2")));
        for bad in ["10.0.0.0/33", "::/129", "x", "10.0.0.0/", "1.2.3.4/-1", ""] {
            let e = TrustedProxies::parse([bad]).unwrap_err();
            assert_eq!(e.field(), "server.trusted_proxies");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_peers() {
        let trusted = ["127.0.0.1", "10.0.0.0/8"];
        assert_eq!(
            from("127.0.0.1:1", &["9.9.9.9"], &trusted),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            from("8.8.8.8:1", &["9.9.9.9"], &trusted),
            Some(ip("8.8.8.8"))
        );
        // Right-most untrusted, across several field lines.
        let hops = ["1.1.1.1, 2.2.2.2", "10.0.0.1"];
        assert_eq!(from("127.0.0.1:1", &hops, &trusted), Some(ip("2.2.2.2")));
        // Every hop trusted: the left-most.
        assert_eq!(
            from("10.0.0.9:1", &["10.0.0.2"], &trusted),
            Some(ip("10.0.0.2"))
        );
        // No header: the proxy itself.
        assert_eq!(from("10.0.0.9:1", &[], &trusted), Some(ip("10.0.0.9")));
        // Ports and brackets.
        assert_eq!(
            from("10.0.0.9:1", &["[2001:db8::1]:80"], &trusted),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            from("10.0.0.9:1", &["[2001:db8::2]"], &trusted),
            Some(ip("2001:db8::2"))
        );
        assert_eq!(
            from("10.0.0.9:1", &["3.3.3.3:443"], &trusted),
            Some(ip("3.3.3.3"))
        );
    }

    #[test]
    fn malformed_forwarded_for_stops_at_the_last_good_hop() {
        let trusted = ["127.0.0.1", "10.0.0.0/8"];
        for junk in [
            "unknown",
            "",
            ",,,",
            "1.2.3.4.5",
            "\u{7f}",
            "🦀",
            "1.1.1.1, garbage",
        ] {
            let Ok(_) = http::HeaderValue::from_str(junk) else {
                continue;
            };
            assert_eq!(
                from("127.0.0.1:1", &[junk], &trusted),
                Some(ip("127.0.0.1")),
                "{junk:?}"
            );
        }
        assert_eq!(
            from("127.0.0.1:1", &["junk, 10.0.0.3"], &trusted),
            Some(ip("10.0.0.3"))
        );
        assert_eq!(
            from("127.0.0.1:1", &["1.1.1.1, junk"], &trusted),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn header_keys() {
        let x = CallerExtractor::new(&CallerKey::ApiKey, TrustedProxies::none()).unwrap();
        let req = |vals: &[&str]| {
            let mut b = Request::get("/");
            for v in vals {
                b = b.header("x-api-key", *v);
            }
            x.identify(&b.body(()).unwrap())
        };
        assert_eq!(req(&["k1"]), Some(CallerId::Key(b"k1"[..].into())));
        assert_eq!(req(&[]), None);
        assert_eq!(req(&[""]), None);
        assert_eq!(req(&["a", "b"]), None);
        assert_eq!(req(&[&"k".repeat(MAX_KEY_LEN + 1)]), None);
        assert_eq!(format!("{:?}", req(&["secret"]).unwrap()), "Key(6 bytes)");
        let bad = CallerExtractor::new(
            &CallerKey::Header("bad name".into()),
            TrustedProxies::none(),
        );
        assert_eq!(bad.unwrap_err().field(), "server.caller.header");
        // Client IP without a known peer: no key.
        let by_ip = CallerExtractor::new(&CallerKey::ClientIp, TrustedProxies::none()).unwrap();
        assert_eq!(by_ip.identify(&Request::get("/").body(()).unwrap()), None);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_network() {
        let at = |x: &CallerExtractor, peer: &str| {
            let mut req = Request::get("/").body(()).unwrap();
            req.extensions_mut()
                .insert(peer.parse::<SocketAddr>().unwrap());
            x.identify(&req)
        };
        let by_ip = CallerExtractor::new(&CallerKey::ClientIp, TrustedProxies::none()).unwrap();
        let net = Some(CallerId::Ip(ip("2001:db8:1:2::")));
        assert_eq!(at(&by_ip, "[2001:db8:1:2:aaaa::1]:9"), net);
        assert_eq!(at(&by_ip, "[2001:db8:1:2:bbbb::7]:9"), net);
        assert_eq!(
            at(&by_ip, "[::ffff:192.0.2.1]:9"),
            Some(CallerId::Ip(ip("192.0.2.1")))
        );
        let exact = by_ip.clone().with_ipv6_prefix(128).unwrap();
        assert_eq!(
            at(&exact, "[2001:db8::1]:9"),
            Some(CallerId::Ip(ip("2001:db8::1")))
        );
        let one = by_ip.clone().with_ipv6_prefix(1).unwrap();
        assert_eq!(at(&one, "[ffff::1]:9"), Some(CallerId::Ip(ip("8000::"))));
        for bad in [0, 129] {
            let e = by_ip.clone().with_ipv6_prefix(bad).unwrap_err();
            assert_eq!(e.field(), "server.caller.ipv6_prefix");
        }
    }
}
