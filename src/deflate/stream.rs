//! The `Read + Write` adapter between the transport (TCP or TLS) and tungstenite.
//!
//! During the HTTP handshake it passes bytes through, but hands tungstenite nothing past the
//! end of the response headers: frames the server sends right after its 101 may already be
//! compressed, and tungstenite must not see them before the extension is switched on. Once the
//! answer is validated, [`DeflateStream::start`] turns the codec on (or leaves the stream
//! plain) and replays those bytes through it.

use std::io::{self, Read, Write};

use super::Compression;
use super::codec::{Inbound, InboundError, Outbound};
use super::negotiate::Params;

/// Bytes read from the transport at once once the extension is on.
const READ_CHUNK: usize = 16 << 10;

#[derive(Debug)]
enum Mode {
    /// HTTP handshake: `matched` counts the bytes of `\r\n\r\n` seen at the end so far.
    Handshake { matched: u8 },
    /// The response headers were read; the connection waits for [`DeflateStream::start`].
    Held,
    /// No extension: bytes pass through.
    Plain,
    /// permessage-deflate is on.
    Deflate(Box<Codec>),
}

#[derive(Debug)]
struct Codec {
    inbound: Inbound,
    outbound: Outbound,
    read_buf: Box<[u8]>,
}

/// A stream that speaks permessage-deflate below tungstenite once started.
#[derive(Debug)]
pub(crate) struct DeflateStream<S> {
    inner: S,
    mode: Mode,
    /// Bytes for tungstenite to read (after the handshake: already converted).
    to_app: Vec<u8>,
    to_app_pos: usize,
    /// Bytes for the transport not yet accepted by it.
    to_wire: Vec<u8>,
    to_wire_pos: usize,
}

impl<S> DeflateStream<S> {
    /// Wrap a transport before the WebSocket handshake.
    pub(crate) fn new(inner: S) -> Self {
        DeflateStream {
            inner,
            mode: Mode::Handshake { matched: 0 },
            to_app: Vec::new(),
            to_app_pos: 0,
            to_wire: Vec::new(),
            to_wire_pos: 0,
        }
    }

    /// The transport.
    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The transport.
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// After the handshake: switch the extension on with the negotiated `params` (or not, with
    /// `None`). `limit` is the maximum message size, as given to tungstenite.
    pub(crate) fn start(&mut self, params: Option<&Params>, c: &Compression, limit: usize) {
        let Some(p) = params else {
            self.mode = Mode::Plain;
            return;
        };
        let mut codec = Codec {
            inbound: Inbound::new(p, limit),
            outbound: Outbound::new(p, c.get_level(), c.get_min_size()),
            read_buf: vec![0; READ_CHUNK].into_boxed_slice(),
        };
        // What arrived after the response headers is frames: convert them.
        let early = std::mem::take(&mut self.to_app).split_off(self.to_app_pos);
        self.to_app_pos = 0;
        codec.inbound.push(&early, &mut self.to_app);
        self.mode = Mode::Deflate(Box::new(codec));
    }

    /// Whether the extension is on.
    pub(crate) fn compressing(&self) -> bool {
        matches!(self.mode, Mode::Deflate(_))
    }

    /// Why an inbound message was refused, if one was.
    pub(crate) fn inbound_error(&self) -> Option<&InboundError> {
        match &self.mode {
            Mode::Deflate(c) => c.inbound.error(),
            _ => None,
        }
    }

    fn take_app(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.to_app.len() - self.to_app_pos);
        buf[..n].copy_from_slice(&self.to_app[self.to_app_pos..self.to_app_pos + n]);
        self.to_app_pos += n;
        if self.to_app_pos == self.to_app.len() {
            self.to_app.clear();
            self.to_app_pos = 0;
        }
        n
    }
}

impl<S: Write> DeflateStream<S> {
    /// Write out what the transport takes; `Ok(true)` when nothing is left.
    fn drain(&mut self) -> io::Result<bool> {
        while self.to_wire_pos < self.to_wire.len() {
            match self.inner.write(&self.to_wire[self.to_wire_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.to_wire_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.to_wire.clear();
        self.to_wire_pos = 0;
        Ok(true)
    }
}

impl<S: Read> Read for DeflateStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.to_app_pos < self.to_app.len() {
                return Ok(self.take_app(buf));
            }
            match &mut self.mode {
                Mode::Handshake { matched } => {
                    let n = self.inner.read(buf)?;
                    for (i, &b) in buf[..n].iter().enumerate() {
                        *matched = match (*matched, b) {
                            (0 | 2, b'\r') => *matched + 1,
                            (1 | 3, b'\n') => *matched + 1,
                            (_, b'\r') => 1,
                            _ => 0,
                        };
                        if *matched == 4 {
                            // Keep what follows the headers for `start`.
                            self.to_app.extend_from_slice(&buf[i + 1..n]);
                            self.mode = Mode::Held;
                            return Ok(i + 1);
                        }
                    }
                    return Ok(n);
                }
                Mode::Held | Mode::Plain => return self.inner.read(buf),
                Mode::Deflate(c) => {
                    if c.inbound.error().is_some() {
                        return Ok(0); // tungstenite already has the frame it fails on
                    }
                    let n = self.inner.read(&mut c.read_buf)?;
                    if n == 0 {
                        return Ok(0);
                    }
                    c.inbound.push(&c.read_buf[..n], &mut self.to_app);
                }
            }
        }
    }
}

impl<S: Write> Write for DeflateStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !matches!(self.mode, Mode::Deflate(_)) {
            return self.inner.write(buf);
        }
        if !self.drain()? {
            // The transport is full: tungstenite keeps the bytes and retries when writable.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let Mode::Deflate(c) = &mut self.mode else {
            unreachable!()
        };
        c.outbound.push(buf, &mut self.to_wire);
        self.drain()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.drain()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::negotiate;
    use std::collections::VecDeque;
    use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
    use tungstenite::{Message, error::CapacityError};

    /// An in-memory transport: reads what `incoming` holds (then would-block), writes at most
    /// `write_room` bytes before it would block.
    #[derive(Debug, Default)]
    struct Pipe {
        incoming: VecDeque<u8>,
        written: Vec<u8>,
        write_room: usize,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.incoming.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.incoming.len());
            for (i, b) in self.incoming.drain(..n).enumerate() {
                buf[i] = b;
            }
            Ok(n)
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.write_room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.write_room);
            self.write_room -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const HELLO: [u8; 9] = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

    fn started(limit: usize, incoming: &[u8]) -> DeflateStream<Pipe> {
        let mut s = DeflateStream::new(Pipe {
            incoming: incoming.iter().copied().collect(),
            write_room: usize::MAX,
            ..Pipe::default()
        });
        let c = Compression::deflate();
        let p = negotiate::accept(&c, ["permessage-deflate"])
            .unwrap()
            .unwrap();
        s.mode = Mode::Held;
        s.start(Some(&p), &c, limit);
        s
    }

    #[test]
    fn the_handshake_stops_at_the_headers_and_early_frames_are_inflated() {
        let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        let mut s = DeflateStream::new(Pipe {
            incoming: [&response[..], &HELLO].concat().into_iter().collect(),
            write_room: usize::MAX,
            ..Pipe::default()
        });
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        loop {
            let n = s.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            if matches!(s.mode, Mode::Held) {
                break;
            }
        }
        assert_eq!(got, response);
        let c = Compression::deflate();
        let p = negotiate::accept(&c, ["permessage-deflate"]).unwrap();
        s.start(p.as_ref(), &c, 1 << 20);
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x81\x05Hello");
    }

    #[test]
    fn tungstenite_reads_and_writes_through_it() {
        let mut ws = WebSocket::from_raw_socket(
            started(1 << 20, &HELLO),
            Role::Client,
            Some(WebSocketConfig::default()),
        );
        assert_eq!(ws.read().unwrap(), Message::text("Hello"));
        let text = "{\"ModeCode\":\"message\",\"msg\":\"hello world\"} ".repeat(100);
        ws.send(Message::text(text.clone())).unwrap();
        let wire = std::mem::take(&mut ws.get_mut().get_mut().written);
        assert_eq!(wire[0], 0xc1, "compressed text, RSV1");
        assert!(wire.len() < text.len() / 10, "{} bytes", wire.len());
        // Loop it back as if the server echoed it (unmasked) and read it.
        let mut o = Inbound::new(
            &negotiate::accept(&Compression::deflate(), ["permessage-deflate"])
                .unwrap()
                .unwrap(),
            1 << 20,
        );
        let mut plain = Vec::new();
        o.push(&unmask(&wire), &mut plain);
        assert_eq!(&plain[4..], text.as_bytes());
    }

    fn unmask(frame: &[u8]) -> Vec<u8> {
        let len = match frame[1] & 0x7f {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        let key = &frame[len..len + 4];
        let mut out = frame[..len].to_vec();
        out[1] &= 0x7f;
        out.extend(
            frame[len + 4..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4]),
        );
        out
    }

    #[test]
    fn a_bomb_is_a_capacity_error_in_tungstenite() {
        let limit = 64 << 10;
        let mut z = flate2::Compress::new(flate2::Compression::new(9), false);
        let mut bomb = Vec::with_capacity(1 << 20);
        z.compress_vec(
            &vec![b'x'; 16 << 20],
            &mut bomb,
            flate2::FlushCompress::Sync,
        )
        .unwrap();
        bomb.truncate(bomb.len() - 4);
        let mut frame = vec![0xc2, 126];
        frame.extend_from_slice(&(bomb.len() as u16).to_be_bytes());
        frame.extend_from_slice(&bomb);
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(limit))
            .max_frame_size(Some(limit));
        let mut ws = WebSocket::from_raw_socket(started(limit, &frame), Role::Client, Some(cfg));
        match ws.read() {
            Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size })) => {
                assert_eq!((size, max_size), (limit + 1, limit));
            }
            other => panic!("expected a capacity error, got {other:?}"),
        }
        assert!(matches!(
            ws.get_ref().inbound_error(),
            Some(InboundError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_full_transport_pushes_back() {
        let mut s = started(1 << 20, &[]);
        s.inner.write_room = 10;
        let frame = [0x82u8, 0x80 | 20, 1, 2, 3, 4]
            .into_iter()
            .chain([0u8; 20])
            .collect::<Vec<_>>();
        assert_eq!(
            s.write(&frame).unwrap(),
            frame.len(),
            "taken, partly pending"
        );
        assert_eq!(s.inner.written.len(), 10);
        let e = s.write(&frame).unwrap_err();
        assert_eq!(
            e.kind(),
            io::ErrorKind::WouldBlock,
            "nothing more taken meanwhile"
        );
        assert_eq!(s.flush().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        s.inner.write_room = usize::MAX;
        s.flush().unwrap();
        assert_eq!(
            s.inner.written, frame,
            "small frame: uncompressed, unchanged"
        );
    }
}
