//! permessage-deflate (RFC 7692) below tungstenite.
//!
//! tungstenite 0.30 has no compression and rejects any frame with RSV1 set, so the extension
//! lives in the byte stream between the TLS (or plain TCP) stream and tungstenite:
//!
//! - [`negotiate`]: the offer sent in the handshake and the validation of the server's answer.
//! - [`codec`]: sans-IO frame rewriting. Inbound, compressed server messages are inflated
//!   (bounded by the maximum message size while inflating) and handed to tungstenite as plain
//!   frames; outbound, the masked client frames tungstenite wrote are unmasked, deflated,
//!   re-masked and marked with RSV1.
//! - [`stream`]: the `Read + Write` adapter that runs the codec over a stream, passing the HTTP
//!   handshake through untouched.
//!
//! The deflate backend is flate2 over `zlib-rs` (pure Rust): unlike flate2's default
//! `miniz_oxide` backend it supports window sizes other than 15 bits, which RFC 7692's
//! `server_max_window_bits` / `client_max_window_bits` need, and it needs no C toolchain.

pub(crate) mod codec;
pub(crate) mod negotiate;
pub(crate) mod stream;

/// permessage-deflate (RFC 7692) settings: [`Compression::off`] or [`Compression::deflate`]
/// with its knobs. Set with `ClientBuilder::compression`.
///
/// The client always offers `client_max_window_bits` (the server may make our window
/// smaller); a server asking for an 8-bit client window (which zlib cannot produce) gets
/// uncompressed messages from us, which RFC 7692 allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compression {
    enabled: bool,
    window_bits: u8,
    no_context_takeover: bool,
    min_size: usize,
    level: u32,
}

/// Messages shorter than this are sent uncompressed by default: deflate's block overhead makes
/// a few bytes of text longer, not shorter.
pub(crate) const DEFAULT_MIN_SIZE: usize = 64;

impl Compression {
    /// No compression: the extension is not offered (the default).
    pub fn off() -> Self {
        Compression {
            enabled: false,
            ..Compression::deflate()
        }
    }

    /// Offer permessage-deflate with a 15-bit window both ways, context takeover, level 6,
    /// and messages below 64 bytes sent uncompressed. Used only if the server accepts.
    pub fn deflate() -> Self {
        Compression {
            enabled: true,
            window_bits: 15,
            no_context_takeover: false,
            min_size: DEFAULT_MIN_SIZE,
            level: 6,
        }
    }

    /// The LZ77 window, as a base-2 logarithm (9..=15), for both directions: our compressor
    /// uses at most this, and below 15 the offer asks the server for `server_max_window_bits`
    /// of this value (smaller windows: less memory per connection, less compression).
    /// Defaults to 15.
    pub fn window_bits(mut self, bits: u8) -> Self {
        self.window_bits = bits;
        self
    }

    /// Ask for no context takeover both ways: each message is compressed on its own
    /// (`client_no_context_takeover` and `server_no_context_takeover`). Costs ratio on
    /// repetitive streams; the zlib state is still kept allocated. Defaults to false.
    pub fn no_context_takeover(mut self, yes: bool) -> Self {
        self.no_context_takeover = yes;
        self
    }

    /// Messages with fewer payload bytes than this are sent uncompressed. Defaults to 64.
    pub fn min_size(mut self, bytes: usize) -> Self {
        self.min_size = bytes;
        self
    }

    /// The deflate level for what we send, 0..=9 (1 fastest, 9 smallest). Defaults to 6.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level;
        self
    }

    /// Whether the extension is offered.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// See [`Compression::window_bits`].
    pub fn get_window_bits(&self) -> u8 {
        self.window_bits
    }

    /// See [`Compression::no_context_takeover`].
    pub fn get_no_context_takeover(&self) -> bool {
        self.no_context_takeover
    }

    /// See [`Compression::min_size`].
    pub fn get_min_size(&self) -> usize {
        self.min_size
    }

    /// See [`Compression::level`].
    pub fn get_level(&self) -> u32 {
        self.level
    }

    /// Check the knobs; the message names the bad one.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(9..=15).contains(&self.window_bits) {
            return Err(format!(
                "compression window_bits must be 9..=15, got {}",
                self.window_bits
            ));
        }
        if self.level > 9 {
            return Err(format!(
                "compression level must be 0..=9, got {}",
                self.level
            ));
        }
        Ok(())
    }
}

impl Default for Compression {
    fn default() -> Self {
        Compression::off()
    }
}
