//! The WebSocket handshake request of one attempt: the URL (credentials moved into a Basic
//! `Authorization` header), the user's headers and the offered subprotocols.

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::{HeaderName, HeaderValue};

use crate::config::ConnectRequest;

/// Build the request for `req` offering `subprotocols`. URL credentials become Basic auth
/// (unless the user set an `Authorization` header) and never reach the logs.
pub(super) fn build_request(
    req: &ConnectRequest,
    subprotocols: &[String],
    extensions: Option<&str>,
) -> Result<Request, String> {
    let mut url = req.url.clone();
    let credentials = (!url.username().is_empty()).then(|| {
        let user_pass = format!(
            "{}:{}",
            percent_decode(url.username()),
            percent_decode(url.password().unwrap_or(""))
        );
        let _ = url.set_username("");
        let _ = url.set_password(None);
        format!("Basic {}", crate::redact::base64(user_pass.as_bytes()))
    });
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    let has_auth = req
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    if let (Some(basic), false) = (credentials, has_auth) {
        let value = HeaderValue::from_str(&basic).map_err(|e| e.to_string())?;
        headers.insert("authorization", value);
    }
    for (k, v) in &req.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(v).map_err(|e| e.to_string())?;
        headers.append(name, value);
    }
    if !subprotocols.is_empty() {
        let v = HeaderValue::from_str(&subprotocols.join(", ")).map_err(|e| e.to_string())?;
        headers.insert("sec-websocket-protocol", v);
    }
    if let Some(offer) = extensions {
        // Ours replaces any the user set: the answer is validated against what we offered.
        let v = HeaderValue::from_str(offer).map_err(|e| e.to_string())?;
        headers.insert("sec-websocket-extensions", v);
    }
    Ok(request)
}

/// A URL's user or password component, percent-decoded.
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
