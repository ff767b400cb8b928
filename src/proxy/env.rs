//! The proxy from the environment (see [`crate::Proxy::from_env`] for the rules).

use std::net::IpAddr;

use url::Url;

use super::ProxyUrl;
use crate::error::Error;

/// A variable in lower case first, then in upper case; empty counts as unset.
fn lookup(var: &dyn Fn(&str) -> Option<String>, lower: &str) -> Option<String> {
    let upper = lower.to_ascii_uppercase();
    [lower, upper.as_str()]
        .into_iter()
        .filter_map(var)
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// The proxy for `target` from the variables `var` reads (`std::env::var` in production).
pub(crate) fn select(
    target: &Url,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ProxyUrl>, Error> {
    let host = target.host_str().unwrap_or_default();
    let port = target.port_or_known_default().unwrap_or(80);
    if let Some(list) = lookup(var, "no_proxy")
        && bypass(&list, host, port)
    {
        return Ok(None);
    }
    let secure = target.scheme() == "wss";
    let names: &[&str] = if secure {
        &["wss_proxy", "https_proxy", "all_proxy"]
    } else {
        &["ws_proxy", "https_proxy", "http_proxy", "all_proxy"]
    };
    let Some((name, value)) = names.iter().find_map(|n| lookup(var, n).map(|v| (*n, v))) else {
        return Ok(None);
    };
    // A bare `host:port` is an HTTP proxy (curl and urllib read it so).
    let value = if value.contains("://") {
        value
    } else {
        format!("http://{value}")
    };
    ProxyUrl::parse(&value)
        .map(Some)
        .map_err(|e| Error::InvalidUrl(format!("{name}: {e}")))
}

/// Whether `no_proxy` (`list`) exempts `host:port`.
pub(crate) fn bypass(list: &str, host: &str, port: u16) -> bool {
    let host = host
        .trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split([',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| entry_matches(&entry.to_ascii_lowercase(), &host, host_ip, port))
}

fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    // CIDR block: only IP literals match (names are not resolved for this).
    if let Some((net, bits)) = entry.split_once('/') {
        let (Ok(net), Ok(bits), Some(ip)) = (
            net.trim_matches(['[', ']']).parse::<IpAddr>(),
            bits.parse::<u8>(),
            host_ip,
        ) else {
            return false;
        };
        return in_cidr(ip, net, bits);
    }
    // An IP address, bracketed or not, optionally with a port.
    if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
        return host_ip == Some(ip);
    }
    let (name, entry_port) = match entry.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(':') => match p.parse::<u16>() {
            Ok(p) => (n, Some(p)),
            Err(_) => return false,
        },
        _ => (entry, None),
    };
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_matches(['[', ']']);
    if let Ok(ip) = name.parse::<IpAddr>() {
        return host_ip == Some(ip);
    }
    // `example.com`, `.example.com` and `*.example.com` all match example.com and its
    // subdomains (urllib's rule, which websockets uses); nothing else.
    let name = name
        .trim_start_matches('*')
        .trim_start_matches('.')
        .trim_end_matches('.');
    !name.is_empty()
        && (host == name
            || (host.len() > name.len()
                && host.ends_with(name)
                && host.as_bytes()[host.len() - name.len() - 1] == b'.'))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn host_of(target: &str, pairs: &[(&str, &str)]) -> Option<String> {
        let t = Url::parse(target).unwrap();
        select(&t, &env(pairs)).unwrap().map(|p| p.host)
    }

    #[test]
    fn websocket_specific_variables_come_first() {
        let all = [
            ("wss_proxy", "http://wss:1"),
            ("ws_proxy", "http://ws:1"),
            ("https_proxy", "http://https:1"),
            ("http_proxy", "http://http:1"),
            ("all_proxy", "http://all:1"),
        ];
        assert_eq!(host_of("wss://t/", &all).as_deref(), Some("wss"));
        assert_eq!(host_of("ws://t/", &all).as_deref(), Some("ws"));
        // Without the WebSocket ones: https_proxy for both schemes.
        assert_eq!(host_of("wss://t/", &all[2..]).as_deref(), Some("https"));
        assert_eq!(host_of("ws://t/", &all[2..]).as_deref(), Some("https"));
        // http_proxy for ws:// only.
        assert_eq!(host_of("ws://t/", &all[3..]).as_deref(), Some("http"));
        assert_eq!(host_of("wss://t/", &all[3..]).as_deref(), Some("all"));
        assert_eq!(host_of("ws://t/", &all[4..]).as_deref(), Some("all"));
        // wss_proxy is not used for ws:// and ws_proxy not for wss://.
        assert_eq!(host_of("ws://t/", &all[..1]), None);
        assert_eq!(host_of("wss://t/", &all[1..2]), None);
        assert_eq!(host_of("wss://t/", &[]), None);
    }

    #[test]
    fn both_cases_are_read_lower_case_first_and_empty_is_unset() {
        assert_eq!(
            host_of("ws://t/", &[("WS_PROXY", "http://upper:1")]).as_deref(),
            Some("upper")
        );
        assert_eq!(
            host_of(
                "ws://t/",
                &[("HTTPS_PROXY", "http://a:1"), ("ALL_PROXY", "http://b:1")]
            )
            .as_deref(),
            Some("a")
        );
        let both = [
            ("ws_proxy", "http://lower:1"),
            ("WS_PROXY", "http://upper:1"),
        ];
        assert_eq!(host_of("ws://t/", &both).as_deref(), Some("lower"));
        let empty = [("ws_proxy", ""), ("all_proxy", "http://all:1")];
        assert_eq!(host_of("ws://t/", &empty).as_deref(), Some("all"));
        let t = Url::parse("ws://t/").unwrap();
        assert_eq!(
            select(&t, &env(&[("NO_PROXY", "t"), ("all_proxy", "http://a:1")])).unwrap(),
            None
        );
    }

    #[test]
    fn any_variable_may_name_a_socks_proxy_and_bare_values_are_http() {
        let t = Url::parse("wss://t/").unwrap();
        let p = select(&t, &env(&[("https_proxy", "socks5h://s:1080")]))
            .unwrap()
            .unwrap();
        assert_eq!(p.scheme, super::super::ProxyScheme::Socks5h);
        let p = select(&t, &env(&[("https_proxy", "proxy:3128")]))
            .unwrap()
            .unwrap();
        assert_eq!((p.scheme, p.port), (super::super::ProxyScheme::Http, 3128));
        let e = select(&t, &env(&[("https_proxy", "gopher://x:1")])).unwrap_err();
        assert!(e.to_string().contains("https_proxy"), "{e}");
    }

    #[test]
    fn no_proxy_comes_first() {
        let pairs = [
            ("no_proxy", "internal.example"),
            ("wss_proxy", "http://p:1"),
        ];
        assert_eq!(host_of("wss://internal.example/", &pairs), None);
        assert_eq!(
            host_of("wss://other.example/", &pairs).as_deref(),
            Some("p")
        );
    }

    #[test]
    fn no_proxy_entries() {
        let list = "*.corp.example, .lan,exact.example ,api.example:8443, 10.0.0.0/8, \
                    fd00::/8, 192.0.2.7, [2001:db8::1], localhost:9000";
        let yes = [
            ("a.corp.example", 80),
            ("corp.example", 80),
            ("printer.lan", 80),
            ("lan", 80),
            ("exact.example", 80),
            ("sub.exact.example", 80),
            ("EXACT.example.", 80),
            ("api.example", 8443),
            ("10.1.2.3", 80),
            ("[fd12::1]", 443),
            ("192.0.2.7", 1),
            ("[2001:db8::1]", 443),
            ("localhost", 9000),
        ];
        for (h, p) in yes {
            assert!(bypass(list, h, p), "{h}:{p} should bypass");
        }
        let no = [
            ("notexact.example", 80),
            ("corp.example.com", 80),
            ("api.example", 443),
            ("11.1.2.3", 80),
            ("[fe80::1]", 80),
            ("192.0.2.8", 80),
            ("localhost", 9001),
            ("10.example", 80), // names are not matched against CIDR blocks
        ];
        for (h, p) in no {
            assert!(!bypass(list, h, p), "{h}:{p} should use the proxy");
        }
        assert!(bypass("*", "anything", 1));
        assert!(!bypass("", "anything", 1));
        assert!(!bypass(" , ", "anything", 1));
        assert!(bypass("0.0.0.0/0", "203.0.113.9", 1));
        assert!(
            !bypass("10.0.0.0/33", "10.0.0.1", 1),
            "an invalid prefix matches nothing"
        );
    }
}
