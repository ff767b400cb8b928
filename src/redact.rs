//! Helpers that keep secrets out of logs and events.

use url::Url;

/// `url` as it may be shown (logs, status lines, errors): without user name and password.
/// Text that does not parse as a URL still loses anything before an `@` in its authority.
/// Every place wsbeat or its CLI shows a URL goes through this.
pub fn redact_url(url: &str) -> String {
    if let Ok(u) = Url::parse(url) {
        return redact_parsed(&u);
    }
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The URL without user name and password (they never appear in logs).
pub(crate) fn redact_parsed(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Whether a log record may carry secrets: tungstenite logs the raw handshake request, headers
/// included (`Authorization`, cookies), at trace level under this target. The C/Python log
/// bridge drops such records; Rust users routing every target at trace should filter it too.
pub fn may_carry_secrets(target: &str, level: log::Level) -> bool {
    level == log::Level::Trace && target.starts_with("tungstenite::handshake")
}

/// Standard base64 with padding (for Basic auth from URL credentials).
pub(crate) fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_dumps_are_flagged() {
        assert!(may_carry_secrets(
            "tungstenite::handshake::client",
            log::Level::Trace
        ));
        assert!(!may_carry_secrets(
            "tungstenite::handshake::client",
            log::Level::Debug
        ));
        assert!(!may_carry_secrets("wsbeat::io_loop", log::Level::Trace));
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (i, o) in cases {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"alice:s3cret"), "YWxpY2U6czNjcmV0");
    }

    #[test]
    fn unparsable_urls_lose_their_user_info_too() {
        assert_eq!(redact_url("ws://u:p@h:99999/x"), "ws://h:99999/x");
        assert_eq!(redact_url("ws://h/x@y"), "ws://h/x@y");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(
            redact_url("wss://user:hunter2@example.com/p?q=1"),
            "wss://example.com/p?q=1"
        );
    }

    #[test]
    fn credentials_are_removed() {
        let u = Url::parse("ws://alice:secret@host:1/p").unwrap();
        let r = redact_parsed(&u);
        assert!(!r.contains("secret") && !r.contains("alice"), "{r}");
        assert_eq!(redact_parsed(&Url::parse("ws://h/").unwrap()), "ws://h/");
    }
}
