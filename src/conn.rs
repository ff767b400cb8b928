//! An open connection: the WebSocket, its heartbeat state and its unconfirmed window. It
//! lives in the shared connection slot ([`crate::shared::Shared::lock_conn`]) so that the
//! I/O thread and, between its turns, senders (`io_loop::send_direct`) write to it through
//! the one write path here, [`Conn::write_message`].

use std::io;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tungstenite::{Message as WsMessage, WebSocket};

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
    pub(crate) fn new(ws: Ws, hb: HeartbeatState, inflight: Unconfirmed) -> Self {
        Conn {
            ws,
            hb,
            inflight,
            closing: None,
            direct_streak: 0,
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
        match self.ws.write(m.clone()) {
            Ok(()) => {}
            Err(e) if would_block(&e) => {} // buffered: never resend
            Err(tungstenite::Error::WriteBufferFull(_)) => return Wrote::Full(m),
            Err(e) => return Wrote::Failed(m, e),
        }
        k.messages_out.fetch_add(1, Ordering::Relaxed);
        k.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
        log::trace!("sent {len} bytes");
        // With a heartbeat the window keeps a copy and the sender's buffer is freed here
        // (see `Unconfirmed`).
        self.inflight.written(self.hb.seq(), now, m);
        Wrote::Yes
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
