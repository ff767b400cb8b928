//! Sans-IO frame rewriting for permessage-deflate.
//!
//! [`Inbound`] takes the server's bytes and yields the bytes tungstenite reads: plain frames
//! pass through as they arrive (without buffering their payload), a compressed frame is
//! buffered whole, inflated and re-framed with RSV1 cleared. [`Outbound`] takes the client
//! frames tungstenite wrote and yields what goes on the wire.
//!
//! Errors are reported to tungstenite as frames it fails on, so the connection ends through
//! wsbeat's usual path with the right close code: a message inflating past the size limit
//! becomes a frame header announcing `max_message_size + 1` bytes (tungstenite: "message too
//! long", close 1009); a compressed message that cannot be inflated (or RSV1 where RFC 7692
//! forbids it) is passed on with its RSV1 bit, which tungstenite refuses (close 1002).
//! [`Inbound::error`] keeps the precise reason for the log.

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

use super::negotiate::Params;

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const MASK: u8 = 0x80;
/// What RFC 7692 §7.2.1 strips from the end of each compressed message.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Inflate in steps of this many bytes, so the size limit is checked while inflating.
const STEP: usize = 32 << 10;

/// Why an inbound message was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum InboundError {
    /// The message inflated past the maximum message size (a decompression bomb).
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The compressed data is not valid deflate.
    Corrupt(String),
}

impl std::fmt::Display for InboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InboundError::TooLarge { limit } => write!(
                f,
                "permessage-deflate: a compressed message inflates past the {limit}-byte limit"
            ),
            InboundError::Corrupt(m) => {
                write!(f, "permessage-deflate: invalid compressed data: {m}")
            }
        }
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug)]
struct Header {
    b0: u8,
    /// Header length in bytes (including the masking key).
    len: usize,
    payload: u64,
    mask: Option<[u8; 4]>,
}

impl Header {
    fn opcode(&self) -> u8 {
        self.b0 & 0x0f
    }
    fn fin(&self) -> bool {
        self.b0 & FIN != 0
    }
    fn rsv1(&self) -> bool {
        self.b0 & RSV1 != 0
    }
    fn control(&self) -> bool {
        self.opcode() & 0x08 != 0
    }
}

/// Parse a frame header at the start of `b`; `None` if incomplete.
fn parse_header(b: &[u8]) -> Option<Header> {
    if b.len() < 2 {
        return None;
    }
    let masked = b[1] & MASK != 0;
    let (payload, mut len) = match b[1] & 0x7f {
        126 => (u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as u64, 4),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        n => (n as u64, 2),
    };
    let mask = if masked {
        let k: [u8; 4] = b.get(len..len + 4)?.try_into().ok()?;
        len += 4;
        Some(k)
    } else {
        None
    };
    Some(Header {
        b0: b[0],
        len,
        payload,
        mask,
    })
}

/// Append a frame header: `b0`, the payload length and the mask if any.
fn write_header(out: &mut Vec<u8>, b0: u8, payload: u64, mask: Option<[u8; 4]>) {
    out.push(b0);
    let m = if mask.is_some() { MASK } else { 0 };
    if payload < 126 {
        out.push(m | payload as u8);
    } else if payload <= u16::MAX as u64 {
        out.push(m | 126);
        out.extend_from_slice(&(payload as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&payload.to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
}

fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// The inflating side: server bytes in, tungstenite's bytes out.
#[derive(Debug)]
pub(crate) struct Inbound {
    inflater: Decompress,
    reset_each_message: bool,
    limit: usize,
    /// Received bytes not yet turned into output.
    raw: Vec<u8>,
    /// Payload bytes of a plain frame still to pass through as they arrive.
    passing: u64,
    /// Inside a compressed fragmented message; bytes inflated so far.
    compressed_message: Option<usize>,
    scratch: Vec<u8>,
    error: Option<InboundError>,
}

impl Inbound {
    /// For the negotiated `p`; `limit` is the maximum message size (also tungstenite's).
    pub(crate) fn new(p: &Params, limit: usize) -> Self {
        // zlib inflates an 8-bit window's stream with a 9-bit window (it cannot open 8).
        let bits = p.server_max_window_bits.max(9);
        Inbound {
            inflater: Decompress::new_with_window_bits(false, bits),
            reset_each_message: p.server_no_context_takeover,
            limit,
            raw: Vec::new(),
            passing: 0,
            compressed_message: None,
            scratch: Vec::new(),
            error: None,
        }
    }

    /// The reason the stream was refused, once it was.
    pub(crate) fn error(&self) -> Option<&InboundError> {
        self.error.as_ref()
    }

    /// Bytes received and not yet processed (a partial frame).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.raw.len()
    }

    /// Take `input` (server bytes) and append what tungstenite should read to `out`.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            return; // tungstenite has its failing frame; it reads nothing more
        }
        if self.raw.is_empty() {
            let used = self.process(input, out);
            self.raw.extend_from_slice(&input[used..]);
        } else {
            self.raw.extend_from_slice(input);
            let raw = std::mem::take(&mut self.raw);
            let used = self.process(&raw, out);
            self.raw = raw;
            self.raw.drain(..used);
        }
        if self.error.is_some() {
            self.raw = Vec::new();
        }
    }

    /// Process what can be; returns how many bytes of `b` were used.
    fn process(&mut self, b: &[u8], out: &mut Vec<u8>) -> usize {
        let mut pos = 0;
        while pos < b.len() && self.error.is_none() {
            if self.passing > 0 {
                let n = (self.passing.min((b.len() - pos) as u64)) as usize;
                out.extend_from_slice(&b[pos..pos + n]);
                self.passing -= n as u64;
                pos += n;
                continue;
            }
            let Some(h) = parse_header(&b[pos..]) else {
                break;
            };
            let data = matches!(h.opcode(), 1 | 2);
            let compressed = h.mask.is_none()
                && h.b0 & 0x30 == 0
                && match self.compressed_message {
                    None => data && h.rsv1(),
                    Some(_) => h.opcode() == 0 && !h.rsv1(),
                };
            if !compressed {
                // Control frames, plain messages, and anything tungstenite must refuse (RSV1
                // on a continuation or control frame, masked server frames): as received.
                out.extend_from_slice(&b[pos..pos + h.len]);
                self.passing = h.payload;
                pos += h.len;
                continue;
            }
            let so_far = self.compressed_message.unwrap_or(0);
            if h.payload > self.limit as u64 {
                self.fail(InboundError::TooLarge { limit: self.limit }, out);
                break;
            }
            let end = pos + h.len + h.payload as usize;
            if b.len() < end {
                break; // wait for the whole frame
            }
            let payload = &b[pos + h.len..end];
            let mut inflated = Vec::new();
            let budget = self.limit - so_far;
            let r = self.inflate(payload, &mut inflated, budget).and_then(|()| {
                if h.fin() {
                    self.inflate(&TAIL, &mut inflated, budget)
                } else {
                    Ok(())
                }
            });
            match r {
                Ok(()) => {}
                Err(InboundError::Corrupt(m)) => {
                    self.error = Some(InboundError::Corrupt(m));
                    // The frame as received: tungstenite refuses its RSV1 bit (1002).
                    out.extend_from_slice(&b[pos..pos + h.len]);
                    break;
                }
                Err(e) => {
                    self.fail(e, out);
                    break;
                }
            }
            write_header(out, h.b0 & !RSV1, inflated.len() as u64, None);
            out.extend_from_slice(&inflated);
            pos = end;
            if h.fin() {
                self.compressed_message = None;
                if self.reset_each_message {
                    self.inflater.reset(false);
                }
            } else {
                self.compressed_message = Some(so_far + inflated.len());
            }
        }
        pos
    }

    /// Refuse the message as too large: a header tungstenite rejects with "message too long".
    fn fail(&mut self, e: InboundError, out: &mut Vec<u8>) {
        write_header(out, FIN | 0x02, self.limit as u64 + 1, None);
        self.error = Some(e);
    }

    /// Inflate `input` into `out`, never letting `out` grow past `budget` (+ one step).
    fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<u8>,
        budget: usize,
    ) -> Result<(), InboundError> {
        if self.scratch.len() != STEP {
            self.scratch = vec![0; STEP];
        }
        loop {
            // One byte past the budget is enough to know it is exceeded.
            let room = (budget + 1).saturating_sub(out.len()).min(STEP);
            let (in0, out0) = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress(input, &mut self.scratch[..room], FlushDecompress::None)
                .map_err(|e| InboundError::Corrupt(e.to_string()))?;
            let used = (self.inflater.total_in() - in0) as usize;
            let made = (self.inflater.total_out() - out0) as usize;
            input = &input[used..];
            out.extend_from_slice(&self.scratch[..made]);
            if out.len() > budget {
                return Err(InboundError::TooLarge { limit: self.limit });
            }
            match status {
                // A block with BFINAL set ends the deflate stream: later data starts a new one.
                Status::StreamEnd => {
                    self.inflater.reset(false);
                    if input.is_empty() {
                        return Ok(());
                    }
                }
                _ if input.is_empty() && made < room => return Ok(()),
                _ if used == 0 && made == 0 => {
                    return Err(InboundError::Corrupt("inflate made no progress".into()));
                }
                _ => {}
            }
        }
    }
}

/// The deflating side: tungstenite's client frames in, wire bytes out.
#[derive(Debug)]
pub(crate) struct Outbound {
    /// Our window; `None`: the server asked for 8 bits, which zlib cannot produce: everything
    /// is sent uncompressed (RFC 7692 allows it).
    window_bits: Option<u8>,
    level: u32,
    /// Created for the first message compressed: ~310 KiB at 15 bits, not paid by a client
    /// that only sends small messages.
    compressor: Option<Compress>,
    reset_each_message: bool,
    min_size: usize,
    raw: Vec<u8>,
    /// Inside a fragmented message: whether it is being compressed.
    message: Option<bool>,
}

impl Outbound {
    /// For the negotiated `p`, compressing at `level` what is at least `min_size` bytes.
    pub(crate) fn new(p: &Params, level: u32, min_size: usize) -> Self {
        Outbound {
            window_bits: (p.client_max_window_bits >= 9).then_some(p.client_max_window_bits),
            level,
            compressor: None,
            reset_each_message: p.client_no_context_takeover,
            min_size,
            raw: Vec::new(),
            message: None,
        }
    }

    /// Bytes taken and not yet processed (a partial frame).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.raw.len()
    }

    /// Take `input` (frames from tungstenite) and append the wire bytes to `out`.
    pub(crate) fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.raw.extend_from_slice(input);
        let raw = std::mem::take(&mut self.raw);
        let mut pos = 0;
        while let Some(h) = parse_header(&raw[pos..]) {
            let end = pos + h.len + h.payload as usize;
            if raw.len() < end {
                break;
            }
            self.frame(h, &raw[pos + h.len..end], &raw[pos..end], out);
            pos = end;
        }
        self.raw = raw;
        self.raw.drain(..pos);
    }

    fn frame(&mut self, h: Header, payload: &[u8], whole: &[u8], out: &mut Vec<u8>) {
        let compress = match (h.opcode(), self.message) {
            (1 | 2, None) if h.b0 & 0x70 == 0 => {
                self.window_bits.is_some() && (payload.len() >= self.min_size || !h.fin())
            }
            (0, Some(c)) => c,
            _ => false,
        };
        if !h.control() {
            self.message = (!h.fin()).then_some(compress);
        }
        if !compress {
            out.extend_from_slice(whole);
            return;
        }
        let (bits, level) = (self.window_bits.unwrap_or(15), self.level);
        let z = self.compressor.get_or_insert_with(|| {
            Compress::new_with_window_bits(flate2::Compression::new(level), false, bits)
        });
        let mut data = payload.to_vec();
        if let Some(k) = h.mask {
            apply_mask(&mut data, k);
        }
        // Room for incompressible data (deflate's bound) so one call does it.
        let mut packed = Vec::with_capacity(data.len() + data.len() / 64 + 64);
        let mut input = &data[..];
        loop {
            if packed.capacity() - packed.len() < 64 {
                packed.reserve(packed.capacity().max(256));
            }
            let before = z.total_in();
            let _ = z
                .compress_vec(input, &mut packed, FlushCompress::Sync)
                .expect("deflate of in-memory data cannot fail");
            input = &input[(z.total_in() - before) as usize..];
            // zlib: the flush is complete when output space is left over.
            if input.is_empty() && packed.len() < packed.capacity() {
                break;
            }
        }
        if h.fin() && packed.ends_with(&TAIL) {
            packed.truncate(packed.len() - TAIL.len());
        }
        if let Some(k) = h.mask {
            // tungstenite's key for this frame, never sent: as fresh for the new payload.
            apply_mask(&mut packed, k);
        }
        let b0 = if h.opcode() == 0 { h.b0 } else { h.b0 | RSV1 };
        write_header(out, b0, packed.len() as u64, h.mask);
        out.extend_from_slice(&packed);
        if h.fin() && self.reset_each_message {
            z.reset();
        }
    }
}

#[cfg(test)]
mod tests;
