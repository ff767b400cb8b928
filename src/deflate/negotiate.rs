//! The permessage-deflate offer and the validation of the server's answer (RFC 7692 §5, §7.1).

use std::fmt;

use super::Compression;

/// The extension's registered name.
pub(crate) const NAME: &str = "permessage-deflate";

/// What both sides agreed on, from the client's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Params {
    /// The server resets its compressor after each message: reset our inflater too.
    pub(crate) server_no_context_takeover: bool,
    /// We reset our compressor after each message.
    pub(crate) client_no_context_takeover: bool,
    /// The server's LZ77 window (8..=15): our inflater's window.
    pub(crate) server_max_window_bits: u8,
    /// Our LZ77 window (8..=15). 8 cannot be produced by zlib: we then send uncompressed.
    pub(crate) client_max_window_bits: u8,
}

/// A server answer that cannot be accepted: the connection attempt fails with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NegotiationError {
    /// The server accepted an extension the client did not offer.
    Unsolicited(String),
    /// The same extension or parameter appears twice.
    Duplicate(String),
    /// A parameter RFC 7692 does not define.
    UnknownParameter(String),
    /// A parameter that takes no value was given one, or one that needs a value had none.
    BadValue {
        /// The parameter.
        param: String,
        /// Its value as received (empty: none).
        value: String,
    },
    /// The header is not a valid extension list.
    Syntax(String),
    /// We asked for something the answer does not grant (RFC 7692 §7.1.1.1, §7.1.2.1).
    NotGranted(&'static str),
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sec-WebSocket-Extensions: ")?;
        match self {
            NegotiationError::Unsolicited(e) => write!(f, "the server accepted `{e}`, not offered"),
            NegotiationError::Duplicate(p) => write!(f, "`{p}` appears twice"),
            NegotiationError::UnknownParameter(p) => {
                write!(f, "unknown permessage-deflate parameter `{p}`")
            }
            NegotiationError::BadValue { param, value } if value.is_empty() => {
                write!(f, "`{param}` needs a value")
            }
            NegotiationError::BadValue { param, value } => {
                write!(f, "invalid value `{value}` for `{param}`")
            }
            NegotiationError::Syntax(s) => write!(f, "malformed header: {s}"),
            NegotiationError::NotGranted(p) => {
                write!(f, "the server's answer does not grant the requested `{p}`")
            }
        }
    }
}

impl std::error::Error for NegotiationError {}

/// The `Sec-WebSocket-Extensions` value offered for `c`, or `None` when compression is off.
pub(crate) fn offer(c: &Compression) -> Option<String> {
    if !c.is_enabled() {
        return None;
    }
    let mut s = String::from(NAME);
    if c.get_no_context_takeover() {
        s.push_str("; client_no_context_takeover; server_no_context_takeover");
    }
    if c.get_window_bits() < 15 {
        let b = c.get_window_bits();
        s.push_str(&format!(
            "; client_max_window_bits={b}; server_max_window_bits={b}"
        ));
    } else {
        s.push_str("; client_max_window_bits");
    }
    Some(s)
}

/// Validate the server's answer: every `Sec-WebSocket-Extensions` header value of the 101
/// response, in order. `Ok(None)`: not negotiated (no extension accepted).
pub(crate) fn accept<'a>(
    c: &Compression,
    headers: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Params>, NegotiationError> {
    let mut found: Option<Params> = None;
    for value in headers {
        for ext in split_unquoted(value, ',') {
            let ext = ext.trim();
            if ext.is_empty() {
                continue; // `#rule` lists allow empty elements
            }
            let mut parts = split_unquoted(ext, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim();
            if !is_token(name) {
                return Err(NegotiationError::Syntax(format!(
                    "bad extension name `{name}`"
                )));
            }
            if !name.eq_ignore_ascii_case(NAME) || !c.is_enabled() {
                return Err(NegotiationError::Unsolicited(name.to_owned()));
            }
            if found.is_some() {
                return Err(NegotiationError::Duplicate(NAME.into()));
            }
            found = Some(params(c, parts)?);
        }
    }
    Ok(found)
}

fn params<'a>(
    c: &Compression,
    parts: impl Iterator<Item = &'a str>,
) -> Result<Params, NegotiationError> {
    let mut server_nct = false;
    let mut client_nct = false;
    let mut server_bits: Option<u8> = None;
    let mut client_bits: Option<u8> = None;
    for p in parts {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
            None => (p.trim(), None),
        };
        let k_lower = k.to_ascii_lowercase();
        let dup = || NegotiationError::Duplicate(k.to_owned());
        let no_value = |v: &Option<String>| match v {
            None => Ok(()),
            Some(v) => Err(NegotiationError::BadValue {
                param: k.to_owned(),
                value: v.clone(),
            }),
        };
        match k_lower.as_str() {
            "server_no_context_takeover" => {
                no_value(&v)?;
                if std::mem::replace(&mut server_nct, true) {
                    return Err(dup());
                }
            }
            "client_no_context_takeover" => {
                no_value(&v)?;
                if std::mem::replace(&mut client_nct, true) {
                    return Err(dup());
                }
            }
            "server_max_window_bits" | "client_max_window_bits" => {
                let bits = window_bits(k, v)?;
                let slot = if k_lower.starts_with("server") {
                    &mut server_bits
                } else {
                    &mut client_bits
                };
                if slot.replace(bits).is_some() {
                    return Err(dup());
                }
            }
            _ => return Err(NegotiationError::UnknownParameter(k.to_owned())),
        }
    }
    let asked_bits = c.get_window_bits();
    if c.get_no_context_takeover() && !server_nct {
        return Err(NegotiationError::NotGranted("server_no_context_takeover"));
    }
    if asked_bits < 15 && server_bits.is_none_or(|b| b > asked_bits) {
        return Err(NegotiationError::NotGranted("server_max_window_bits"));
    }
    Ok(Params {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct || c.get_no_context_takeover(),
        server_max_window_bits: server_bits.unwrap_or(15),
        client_max_window_bits: client_bits.unwrap_or(15).min(asked_bits),
    })
}

/// `1*DIGIT` without a leading zero, 8..=15 (RFC 7692 §7.1.2).
fn window_bits(param: &str, v: Option<String>) -> Result<u8, NegotiationError> {
    let bad = |value: String| NegotiationError::BadValue {
        param: param.to_owned(),
        value,
    };
    let Some(v) = v else {
        // Valueless client_max_window_bits is an offer-only form (§7.1.2.2).
        return Err(bad(String::new()));
    };
    let ok = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && !v.starts_with('0');
    match v.parse::<u8>() {
        Ok(b) if ok && (8..=15).contains(&b) => Ok(b),
        _ => Err(bad(v)),
    }
}

/// A parameter value: a token, or a quoted-string whose content must be a token (RFC 6455
/// §9.1).
fn unquote(v: &str) -> Result<String, NegotiationError> {
    let out = if let Some(inner) = v.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Err(NegotiationError::Syntax(format!(
                "unterminated quote in `{v}`"
            )));
        };
        let mut s = String::new();
        let mut esc = false;
        for ch in inner.chars() {
            if esc {
                s.push(ch);
                esc = false;
            } else if ch == '\\' {
                esc = true;
            } else {
                s.push(ch);
            }
        }
        s
    } else {
        v.to_owned()
    };
    if !is_token(&out) {
        return Err(NegotiationError::Syntax(format!("bad value `{v}`")));
    }
    Ok(out)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Split on `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut esc) = (0, false, false);
    for (i, ch) in s.char_indices() {
        if esc {
            esc = false;
        } else if quoted && ch == '\\' {
            esc = true;
        } else if ch == '"' {
            quoted = !quoted;
        } else if ch == sep && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> Compression {
        Compression::deflate()
    }

    fn ok(c: &Compression, h: &str) -> Params {
        accept(c, [h]).unwrap().unwrap()
    }

    #[test]
    fn the_offer() {
        assert_eq!(offer(&Compression::off()), None);
        assert_eq!(
            offer(&on()).unwrap(),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(
            offer(&on().window_bits(10).no_context_takeover(true)).unwrap(),
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover; \
             client_max_window_bits=10; server_max_window_bits=10"
        );
    }

    #[test]
    fn plain_answer_means_defaults() {
        let p = ok(&on(), "permessage-deflate");
        assert_eq!(
            p,
            Params {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            }
        );
    }

    #[test]
    fn every_parameter_is_read() {
        let p = ok(
            &on(),
            "Permessage-Deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=\"12\"",
        );
        assert_eq!(
            p,
            Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 10,
                client_max_window_bits: 12,
            }
        );
    }

    #[test]
    fn no_answer_is_not_negotiated() {
        assert_eq!(accept(&on(), []).unwrap(), None);
        assert_eq!(accept(&on(), [""]).unwrap(), None);
        assert_eq!(accept(&Compression::off(), []).unwrap(), None);
    }

    #[test]
    fn unsolicited_answers_are_refused() {
        assert_eq!(
            accept(&Compression::off(), ["permessage-deflate"]),
            Err(NegotiationError::Unsolicited("permessage-deflate".into()))
        );
        assert_eq!(
            accept(&on(), ["x-webkit-deflate-frame"]),
            Err(NegotiationError::Unsolicited(
                "x-webkit-deflate-frame".into()
            ))
        );
        assert_eq!(
            accept(&on(), ["permessage-deflate, permessage-deflate"]),
            Err(NegotiationError::Duplicate("permessage-deflate".into()))
        );
        assert_eq!(
            accept(&on(), ["permessage-deflate", "permessage-deflate"]),
            Err(NegotiationError::Duplicate("permessage-deflate".into()))
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        let bad = |h: &str| accept(&on(), [h]).unwrap_err();
        assert!(matches!(
            bad("permessage-deflate; foo"),
            NegotiationError::UnknownParameter(_)
        ));
        assert!(matches!(
            bad("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
            NegotiationError::Duplicate(_)
        ));
        assert!(matches!(
            bad("permessage-deflate; server_no_context_takeover=1"),
            NegotiationError::BadValue { .. }
        ));
        // The valueless form is offer-only.
        assert!(matches!(
            bad("permessage-deflate; client_max_window_bits"),
            NegotiationError::BadValue { .. }
        ));
        for v in ["7", "16", "010", "", "abc", "-9", "1e1"] {
            let h = format!("permessage-deflate; server_max_window_bits={v}");
            assert!(accept(&on(), [h.as_str()]).is_err(), "{h}");
        }
        assert!(matches!(
            bad("permessage-deflate; server_max_window_bits=\"10"),
            NegotiationError::Syntax(_)
        ));
        assert!(matches!(bad("perm essage"), NegotiationError::Syntax(_)));
    }

    #[test]
    fn requested_parameters_must_be_granted() {
        let c = on().no_context_takeover(true);
        assert_eq!(
            accept(&c, ["permessage-deflate"]),
            Err(NegotiationError::NotGranted("server_no_context_takeover"))
        );
        let p = ok(&c, "permessage-deflate; server_no_context_takeover");
        assert!(
            p.client_no_context_takeover,
            "we reset ours as we said we would"
        );
        let c = on().window_bits(10);
        assert_eq!(
            accept(&c, ["permessage-deflate"]),
            Err(NegotiationError::NotGranted("server_max_window_bits"))
        );
        assert_eq!(
            accept(&c, ["permessage-deflate; server_max_window_bits=11"]),
            Err(NegotiationError::NotGranted("server_max_window_bits"))
        );
        let p = ok(&c, "permessage-deflate; server_max_window_bits=9");
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (9, 10)
        );
    }
}
