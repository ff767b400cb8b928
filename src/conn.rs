//! An open connection: the WebSocket, its heartbeat state and its unconfirmed window. It
//! lives in the shared connection slot ([`crate::shared::Shared::lock_conn`]) so that the
//! I/O thread and, between its turns, senders (`io_loop::send_direct`) write to it through
//! the one write path here, [`Conn::write_message`].

use std::io;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tungstenite::protocol::frame::coding::{Data as OpData, OpCode};
use tungstenite::{Message as WsMessage, Utf8Bytes, WebSocket};

use crate::deflate::stream::DeflateStream;
use crate::heartbeat::HeartbeatState;
use crate::outbox::Unconfirmed;
use crate::stats::Counters;
use crate::tls::Stream;

/// The WebSocket over the transport, with permessage-deflate (or a pass-through) between.
pub(crate) type Ws = WebSocket<DeflateStream<Stream>>;

/// An open connection (see the module doc).
pub(crate) struct Conn {
    pub(crate) ws: Ws,
    pub(crate) hb: HeartbeatState,
    /// Data messages written whose receipt the peer has not confirmed.
    pub(crate) inflight: Unconfirmed,
    /// Set once our close frame is queued: when to give up waiting for the server's.
    pub(crate) closing: Option<Instant>,
    /// Direct writes since the I/O loop's last turn (see `io_loop::direct::DIRECT_STREAK`).
    pub(crate) direct_streak: u32,
    /// The socket is lent to a consumer reading it directly (`io_loop::direct_read`): out
    /// of the loop's poller until the consumer or the loop's next turn takes it back.
    pub(crate) lent: bool,
    /// What a direct read took from the socket and left to the loop (a close frame, an
    /// error, a message read after the one it returned): the loop's next read starts here.
    pub(crate) stash: Option<Result<WsMessage, tungstenite::Error>>,
    /// Which connection of the client this is (1 for the first): a consumer's poller
    /// tells a new socket from an old one with the same descriptor by it.
    pub(crate) serial: u64,
}

/// What became of one message handed to the WebSocket.
#[derive(Debug)]
pub(crate) enum Wrote {
    /// Written (or buffered by tungstenite): now tracked as unconfirmed.
    Yes,
    /// tungstenite's write buffer or the unconfirmed window is full: not written.
    Full(WsMessage),
    /// The connection failed: not written.
    Failed(WsMessage, tungstenite::Error),
}

impl Conn {
    pub(crate) fn new(ws: Ws, hb: HeartbeatState, inflight: Unconfirmed, serial: u64) -> Self {
        Conn {
            ws,
            hb,
            inflight,
            closing: None,
            direct_streak: 0,
            lent: false,
            stash: None,
            serial,
        }
    }

    /// Hand `m` to the WebSocket, count it and track it until a heartbeat confirms it. A full
    /// unconfirmed window refuses it: past it, a write into a dead connection could not be
    /// handed back (writing resumes once a heartbeat answer confirms some of the window).
    pub(crate) fn write_message(&mut self, k: &Counters, m: WsMessage, now: Instant) -> Wrote {
        if self.inflight.is_full() {
            return Wrote::Full(m);
        }
        let len = m.len();
        // With a heartbeat the window copies the payload first (see `Unconfirmed`), so the
        // message goes to tungstenite without a clone (cloning a `Bytes` built from a `Vec`
        // allocates, and freeing both costs more atomics: 12% of a 64 B flood's profile).
        // A refused write takes the copy back out.
        let copied = self.inflight.copy(self.hb.seq(), now, &m);
        let kept = if copied { None } else { Some(m.clone()) };
        match self.ws.write(m) {
            Ok(()) => {}
            Err(e) if would_block(&e) => {} // buffered: never resend
            Err(tungstenite::Error::WriteBufferFull(back)) => {
                return Wrote::Full(self.take_back(kept, *back));
            }
            Err(e) => {
                let m = match kept {
                    Some(m) => m,
                    None => self.inflight.pop_copy(),
                };
                return Wrote::Failed(m, e);
            }
        }
        k.messages_out.fetch_add(1, Ordering::Relaxed);
        k.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
        log::trace!("sent {len} bytes");
        if let Some(m) = kept {
            // Without a heartbeat the message itself is kept until the next flush.
            self.inflight.keep_unflushed(m);
        }
        Wrote::Yes
    }

    /// A write tungstenite refused for a full buffer: the message back (the frame it hands
    /// back holds the unmasked payload), and its copy out of the window.
    fn take_back(&mut self, kept: Option<WsMessage>, back: WsMessage) -> WsMessage {
        if let Some(m) = kept {
            return m;
        }
        match back {
            WsMessage::Frame(f) => {
                let text = matches!(f.header().opcode, OpCode::Data(OpData::Text));
                let payload = f.into_payload();
                let m = if text {
                    match Utf8Bytes::try_from(payload) {
                        Ok(t) => Some(WsMessage::Text(t)),
                        Err(_) => None, // never: it was a `Utf8Bytes`
                    }
                } else {
                    Some(WsMessage::Binary(payload))
                };
                match m {
                    Some(m) => {
                        self.inflight.drop_copy();
                        m
                    }
                    None => self.inflight.pop_copy(),
                }
            }
            // tungstenite hands a data message back as a frame; anything else: the copy.
            _ => self.inflight.pop_copy(),
        }
    }
}

/// tungstenite's "would block": for a write, the message is buffered (never resend it).
pub(crate) fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// The connection is closed (after a close handshake, or used after that).
pub(crate) fn closed(e: &tungstenite::Error) -> bool {
    matches!(
        e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed
    )
}
