use super::*;

#[test]
fn urls_are_checked() {
    assert!(parse_url("ws://127.0.0.1:8002/").is_ok());
    assert!(parse_url("wss://example.com/x?y=1").is_ok());
    assert!(matches!(parse_url("http://x/"), Err(Error::InvalidUrl(m)) if m.contains("scheme")));
    assert!(matches!(parse_url("not a url"), Err(Error::InvalidUrl(_))));
    assert!(matches!(parse_url("ws://"), Err(Error::InvalidUrl(_))));
}

#[test]
fn heartbeat_timeout_must_be_shorter() {
    let hb = Heartbeat::ping(Duration::from_millis(100), Duration::from_millis(100));
    assert!(matches!(hb.validate(), Err(Error::InvalidConfig(m)) if m.contains("shorter")));
    assert!(
        Heartbeat::ping(Duration::ZERO, Duration::ZERO)
            .validate()
            .is_err()
    );
    assert!(Heartbeat::off().validate().is_ok());
    assert!(
        Heartbeat::seed_json(Duration::from_secs(4), Duration::from_secs(2))
            .validate()
            .is_ok()
    );
}

#[test]
fn reconnect_values_are_checked() {
    assert!(Reconnect::exponential().validate().is_ok());
    assert!(Reconnect::exponential().factor(0.5).validate().is_err());
    assert!(
        Reconnect::exponential()
            .factor(f64::NAN)
            .validate()
            .is_err()
    );
    assert!(Reconnect::exponential().jitter(1.5).validate().is_err());
    assert!(
        Reconnect::exponential()
            .initial(Duration::ZERO)
            .validate()
            .is_err()
    );
    assert!(
        Reconnect::exponential()
            .max(Duration::from_millis(1))
            .validate()
            .is_err()
    );
    assert!(
        Reconnect::exponential()
            .max_attempts(Some(0))
            .validate()
            .is_err()
    );
    assert!(
        Reconnect::disabled()
            .initial(Duration::ZERO)
            .validate()
            .is_ok()
    );
}

#[test]
fn default_close_policy() {
    for code in [1000, 1001, 1006, 1011, 1012, 1013, 4000] {
        assert!(default_reconnect_on_close(code), "{code}");
    }
    for code in [1002, 1003, 1007, 1008, 1010] {
        assert!(!default_reconnect_on_close(code), "{code}");
    }
    let r = Reconnect::exponential().reconnect_on_close(|c| c < 4000);
    assert!(r.retries_close_code(1008));
    assert!(!r.retries_close_code(4001));
}

#[test]
fn headers_are_checked() {
    assert!(check_header("Authorization", "Bearer x").is_ok());
    assert!(check_header("bad name", "x").is_err());
    assert!(check_header("X-A", "line\nbreak").is_err());
}

/// `ConnectRequest`'s `Debug` (the type `before_connect` hooks see and may log) shows neither
/// the URL's password nor header values (the derived one printed both).
#[test]
fn connect_request_debug_hides_secrets() {
    let req = ConnectRequest {
        url: parse_url("ws://alice:hunter2@example.com/path?q=1").unwrap(),
        headers: vec![("Authorization".into(), "Bearer s3cr3t-token".into())],
        attempt: 2,
        endpoint: 1,
    };
    let shown = format!("{req:?} {req:#?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(!shown.contains("alice"), "{shown}");
    assert!(shown.contains("example.com/path?q=1"), "{shown}");
    assert!(shown.contains("Authorization"), "{shown}");
    assert!(shown.contains("attempt: 2"), "{shown}");
    assert!(shown.contains("endpoint: 1"), "{shown}");
}

#[test]
fn connect_request_url_is_read_and_set_as_text() {
    let mut req = ConnectRequest {
        url: parse_url("ws://a.example/").unwrap(),
        headers: Vec::new(),
        attempt: 0,
        endpoint: 0,
    };
    assert_eq!(req.url(), "ws://a.example/");
    req.set_url("wss://b.example:8443/x").unwrap();
    assert_eq!(req.url(), "wss://b.example:8443/x");
    assert!(matches!(
        req.set_url("http://c.example/"),
        Err(Error::InvalidUrl(_))
    ));
    assert_eq!(
        req.url(),
        "wss://b.example:8443/x",
        "a refused URL changes nothing"
    );
}
