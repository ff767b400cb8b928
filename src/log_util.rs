//! Helpers that keep secrets out of logs and events.

use url::Url;

/// The URL without user name and password (they never appear in logs).
pub(crate) fn redact_url(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed() {
        let u = Url::parse("ws://alice:secret@host:1/p").unwrap();
        let r = redact_url(&u);
        assert!(!r.contains("secret") && !r.contains("alice"), "{r}");
        assert_eq!(redact_url(&Url::parse("ws://h/").unwrap()), "ws://h/");
    }
}
