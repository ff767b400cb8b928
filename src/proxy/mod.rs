//! Proxies: which one a connection uses ([`Proxy`], the environment), and the two tunnel
//! handshakes, written sans-IO (bytes in, bytes out) so the I/O thread drives them over its
//! non-blocking socket under the connect deadline:
//! - [`http`]: HTTP `CONNECT` with Basic proxy authentication (for an `https://` proxy inside
//!   a TLS session to the proxy, which `io_loop/connect.rs` sets up first);
//! - [`socks5`]: SOCKS5 (RFC 1928) with username/password (RFC 1929).

pub(crate) mod drive;
pub(crate) mod env;
pub(crate) mod http;
pub(crate) mod socks5;

use std::fmt;

use url::Url;

use crate::error::{Error, ErrorKind};
use crate::redact::redact_parsed;

/// Which proxy a client connects through. Defaults to [`Proxy::from_env`].
///
/// ```
/// use wsbeat::Proxy;
/// let p = Proxy::url("http://alice:s3cret@proxy.example:3128")?;
/// assert!(!format!("{p:?}").contains("s3cret")); // credentials are never shown
/// let _direct = Proxy::none();
/// # Ok::<(), wsbeat::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy(Choice);

#[derive(Clone, PartialEq, Eq)]
enum Choice {
    FromEnv,
    None,
    Url(ProxyUrl),
}

impl Proxy {
    /// Read the proxy from the environment at each connection attempt, as Python's
    /// `websockets` does:
    /// 1. `no_proxy` (a comma-separated list: `*`, a host name, which also matches its
    ///    subdomains, `.suffix`, `host:port`, an IP address, a CIDR block such as
    ///    `10.0.0.0/8`): a match connects directly;
    /// 2. `wss_proxy` for `wss://`, `ws_proxy` for `ws://`;
    /// 3. `https_proxy` (both schemes);
    /// 4. `http_proxy` (`ws://` only);
    /// 5. `all_proxy`.
    ///
    /// Each name is read in lower case first, then in upper case; an empty value counts as
    /// unset; a value without a scheme (`proxy:3128`) is an `http://` proxy. A value that is
    /// not a valid proxy URL fails the attempt with [`ErrorKind::Proxy`] (not retried).
    /// This is the default.
    pub fn from_env() -> Proxy {
        Proxy(Choice::FromEnv)
    }

    /// Connect directly, whatever the environment says.
    pub fn none() -> Proxy {
        Proxy(Choice::None)
    }

    /// Connect through this proxy, whatever the environment says:
    /// - `http://[user:password@]host[:port]` (port 80 by default): HTTP `CONNECT`, with
    ///   Basic proxy authentication when the URL has user info (percent-decoded);
    /// - `https://[user:password@]host[:port]` (port 443 by default): the same, inside a TLS
    ///   session to the proxy (verified with the client's [`crate::TlsOptions`] against the
    ///   proxy's host name; for `wss://`, the server's TLS then runs inside the tunnel, TLS in
    ///   TLS). A proxy certificate that fails verification is [`ErrorKind::Certificate`]
    ///   naming the proxy;
    /// - `socks5://[user:password@]host[:port]` (port 1080 by default): SOCKS5, the target's
    ///   name resolved locally (the proxy gets an IP address);
    /// - `socks5h://...`: SOCKS5, the proxy resolves the target's name (curl's convention).
    ///
    /// Other schemes, a path, a query, and SOCKS credentials over 255 bytes are refused here
    /// ([`Error::InvalidUrl`]).
    pub fn url(url: &str) -> Result<Proxy, Error> {
        ProxyUrl::parse(url).map(|p| Proxy(Choice::Url(p)))
    }

    /// The proxy for a connection to `target`, reading the environment through `var` when
    /// this is [`Proxy::from_env`]. `Ok(None)`: connect directly.
    pub(crate) fn for_target(
        &self,
        target: &Url,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<ProxyUrl>, Error> {
        match &self.0 {
            Choice::FromEnv => env::select(target, var),
            Choice::None => Ok(None),
            Choice::Url(p) => Ok(Some(p.clone())),
        }
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy::from_env()
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Choice::FromEnv => f.write_str("Proxy::from_env()"),
            Choice::None => f.write_str("Proxy::none()"),
            Choice::Url(p) => write!(f, "Proxy::url({:?})", p.redacted()),
        }
    }
}

/// The kind of tunnel a proxy URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyScheme {
    /// HTTP `CONNECT`.
    Http,
    /// HTTP `CONNECT` inside TLS to the proxy.
    Https,
    /// SOCKS5, target name resolved locally.
    Socks5,
    /// SOCKS5, target name resolved by the proxy.
    Socks5h,
}

/// A user name and password; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) user: String,
    pub(crate) password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// A parsed, validated proxy URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl {
    pub(crate) scheme: ProxyScheme,
    /// Host name or IP address (without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) credentials: Option<Credentials>,
    url: Url,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.redacted())
    }
}

impl ProxyUrl {
    pub(crate) fn parse(text: &str) -> Result<ProxyUrl, Error> {
        let shown = crate::redact::redact_url(text);
        let bad = |why: &str| Error::InvalidUrl(format!("proxy {shown}: {why}"));
        let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let (scheme, default_port) = match url.scheme() {
            "http" => (ProxyScheme::Http, 80),
            "socks5" => (ProxyScheme::Socks5, 1080),
            "socks5h" => (ProxyScheme::Socks5h, 1080),
            "https" => (ProxyScheme::Https, 443),
            other => {
                return Err(bad(&format!(
                    "unsupported scheme {other:?} (expected http, https, socks5 or socks5h)"
                )));
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(bad("no host")),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a proxy URL has no path, query or fragment"));
        }
        // `url` knows no default port for socks5; it gives 80 for http, 443 for https.
        let port = url.port().unwrap_or(default_port);
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |s: &str| {
                percent_decode(s).ok_or_else(|| bad("user info is not valid percent-encoded UTF-8"))
            };
            Some(Credentials {
                user: decode(url.username())?,
                password: decode(url.password().unwrap_or(""))?,
            })
        };
        if let (Some(c), ProxyScheme::Socks5 | ProxyScheme::Socks5h) = (&credentials, scheme)
            && (c.user.is_empty()
                || c.user.len() > 255
                || c.password.is_empty()
                || c.password.len() > 255)
        {
            return Err(bad(
                "SOCKS5 user name and password must each be 1 to 255 bytes (RFC 1929)",
            ));
        }
        Ok(ProxyUrl {
            scheme,
            host,
            port,
            credentials,
            url,
        })
    }

    /// The URL as it may be logged: without user name and password.
    pub(crate) fn redacted(&self) -> String {
        redact_parsed(&self.url)
    }
}

/// `%XX` decoding (user info as the URL parser leaves it).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a tunnel handshake failed: the kind reported in the event, the text (never with
/// credentials), and whether the reconnect policy may retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TunnelError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) retry: bool,
}

impl TunnelError {
    pub(crate) fn proxy(message: impl Into<String>) -> Self {
        TunnelError {
            kind: ErrorKind::Proxy,
            message: message.into(),
            retry: true,
        }
    }

    /// The proxy refused our credentials (or wants some): not retried, the same credentials
    /// would be refused again.
    pub(crate) fn auth(message: impl Into<String>) -> Self {
        TunnelError {
            kind: ErrorKind::ProxyAuth,
            message: message.into(),
            retry: false,
        }
    }
}

/// Where the tunnel should lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetAddr {
    /// A name the proxy resolves (HTTP CONNECT, `socks5h://`).
    Name(String, u16),
    /// An address (an IP in the URL, or resolved locally for `socks5://`).
    Ip(std::net::SocketAddr),
}

impl TargetAddr {
    /// `host:port` as in an HTTP authority (IPv6 in brackets).
    pub(crate) fn authority(&self) -> String {
        match self {
            TargetAddr::Name(h, p) => format!("{h}:{p}"),
            TargetAddr::Ip(a) => a.to_string(),
        }
    }
}

/// One step of a tunnel handshake.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send these bytes (possibly none), then read and feed what arrives.
    Send(Vec<u8>),
    /// The tunnel is open; the handshake consumed exactly its reply.
    Done,
}

/// A tunnel handshake in progress, HTTP CONNECT or SOCKS5.
#[derive(Debug)]
pub(crate) enum Tunnel {
    /// HTTP `CONNECT`.
    Http(http::Connect),
    /// SOCKS5.
    Socks5(socks5::Socks5),
}

impl Tunnel {
    /// Start the handshake to `target` through `proxy`; the first step's bytes go out first.
    pub(crate) fn start(
        proxy: &ProxyUrl,
        target: TargetAddr,
    ) -> Result<(Tunnel, Vec<u8>), TunnelError> {
        match proxy.scheme {
            ProxyScheme::Http | ProxyScheme::Https => {
                let (c, out) = http::Connect::start(&target, proxy.credentials.as_ref());
                Ok((Tunnel::Http(c), out))
            }
            ProxyScheme::Socks5 | ProxyScheme::Socks5h => {
                let (s, out) = socks5::Socks5::start(target, proxy.credentials.clone())?;
                Ok((Tunnel::Socks5(s), out))
            }
        }
    }

    /// Feed bytes read from the proxy. An empty slice means the proxy closed the connection.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Step, TunnelError> {
        match self {
            Tunnel::Http(c) => c.feed(bytes),
            Tunnel::Socks5(s) => s.feed(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_defaults() {
        let p = ProxyUrl::parse("http://proxy.example").unwrap();
        assert_eq!(
            (p.scheme, p.host.as_str(), p.port),
            (ProxyScheme::Http, "proxy.example", 80)
        );
        assert!(p.credentials.is_none());
        let p = ProxyUrl::parse("socks5://[::1]").unwrap();
        assert_eq!(
            (p.scheme, p.host.as_str(), p.port),
            (ProxyScheme::Socks5, "::1", 1080)
        );
        let p = ProxyUrl::parse("socks5h://u%40x:p%3Aw@127.0.0.1:9050/").unwrap();
        assert_eq!(p.scheme, ProxyScheme::Socks5h);
        let c = p.credentials.as_ref().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u@x", "p:w"));
        assert_eq!(p.redacted(), "socks5h://127.0.0.1:9050/");
        let p = ProxyUrl::parse("https://bob:pw@proxy.example").unwrap();
        assert_eq!(
            (p.scheme, p.host.as_str(), p.port),
            (ProxyScheme::Https, "proxy.example", 443)
        );
        assert_eq!(p.credentials.as_ref().unwrap().user, "bob");
        assert_eq!(p.redacted(), "https://proxy.example/");
        let p = ProxyUrl::parse("https://[::1]:8443").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8443));
    }

    #[test]
    fn an_https_proxy_speaks_http_connect_inside_its_tls() {
        let p = ProxyUrl::parse("https://u:p@proxy:3129").unwrap();
        let (t, out) = Tunnel::start(&p, TargetAddr::Name("h".into(), 443)).unwrap();
        assert!(matches!(t, Tunnel::Http(_)));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("CONNECT h:443 HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("Proxy-Authorization: Basic "), "{text}");
    }

    #[test]
    fn bad_proxy_urls_are_refused_with_a_reason_and_no_secret() {
        for (url, why) in [
            ("ftp://p:1", "unsupported scheme"),
            ("socks4://p:1", "unsupported scheme"),
            ("http://p:1/path", "no path"),
            ("http://p:1/?q", "no path"),
            ("not a url", "relative URL"),
            ("socks5://user@p:1", "1 to 255 bytes"),
        ] {
            let e = ProxyUrl::parse(url).unwrap_err();
            assert!(matches!(e, Error::InvalidUrl(_)), "{url}: {e:?}");
            assert!(e.to_string().contains(why), "{url}: {e}");
        }
        let long = "x".repeat(256);
        let e = ProxyUrl::parse(&format!("socks5://{long}:pw@p:1")).unwrap_err();
        assert!(e.to_string().contains("255"), "{e}");
        let e = Proxy::url("gopher://alice:hunter2@p:1").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn debug_never_shows_credentials() {
        let p = Proxy::url("http://alice:hunter2@proxy:3128").unwrap();
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("alice"),
            "{shown}"
        );
        assert!(shown.contains("proxy:3128"), "{shown}");
        let Choice::Url(u) = &p.0 else { unreachable!() };
        assert!(!format!("{u:?} {:?}", u.credentials).contains("hunter2"));
    }

    #[test]
    fn explicit_choices_override_the_environment() {
        let target = Url::parse("ws://example.com/").unwrap();
        let env = |k: &str| (k == "all_proxy").then(|| "http://envproxy:1".to_owned());
        assert!(Proxy::none().for_target(&target, &env).unwrap().is_none());
        let p = Proxy::url("socks5h://mine:2").unwrap();
        let chosen = p.for_target(&target, &env).unwrap().unwrap();
        assert_eq!(chosen.host, "mine");
        let chosen = Proxy::from_env()
            .for_target(&target, &env)
            .unwrap()
            .unwrap();
        assert_eq!(chosen.host, "envproxy");
        assert_eq!(Proxy::default(), Proxy::from_env());
    }

    #[test]
    fn target_authority_brackets_ipv6() {
        let t = TargetAddr::Ip("[::1]:8080".parse().unwrap());
        assert_eq!(t.authority(), "[::1]:8080");
        assert_eq!(TargetAddr::Name("h".into(), 1).authority(), "h:1");
    }
}
