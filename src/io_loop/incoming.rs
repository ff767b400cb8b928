//! What a message read from the socket means: a heartbeat answer (it confirms the unconfirmed
//! window and gives an RTT), a server ping (tungstenite queues the pong), the server's close
//! frame, or data for the user. One place for the loop's reads (`open.rs`) and a consumer's
//! direct reads (`direct_read.rs`), so both count, confirm and deliver alike.

use std::sync::atomic::Ordering;
use std::time::Instant;

use tungstenite::Message as WsMessage;
use tungstenite::protocol::frame::CloseFrame;

use crate::conn::Conn;
use crate::event::Event;
use crate::heartbeat::{Answer, Reply};
use crate::message::Message;
use crate::shared::Shared;

/// What a message read asks for.
pub(crate) enum Incoming {
    /// Deliver this event.
    Event(Event),
    /// Nothing for the user (a ping, a heartbeat answer without `Pong` events).
    Nothing,
    /// The server's close frame: the loop decides what follows.
    Close(Option<CloseFrame>),
}

impl Conn {
    /// Account for `msg`, read at `now` (any message proves the peer alive). `pongs`: whether
    /// an answered heartbeat becomes an [`Event::Pong`].
    pub(crate) fn on_incoming(
        &mut self,
        shared: &Shared,
        msg: WsMessage,
        now: Instant,
        pongs: bool,
    ) -> Incoming {
        self.hb.heard(now);
        match msg {
            WsMessage::Text(t) => {
                self.on_data(shared, Message::Text(t.as_str().to_owned()), now, pongs)
            }
            WsMessage::Binary(b) => self.on_data(shared, Message::Binary(Vec::from(b)), now, pongs),
            WsMessage::Ping(_) => {
                log::trace!("ping received");
                Incoming::Nothing
            }
            WsMessage::Pong(p) => match self.hb.on_pong(&p, now) {
                Some(answer) => self.on_answer(shared, answer, pongs),
                None => Incoming::Nothing,
            },
            WsMessage::Close(frame) => Incoming::Close(frame),
            WsMessage::Frame(_) => Incoming::Nothing,
        }
    }

    /// A data message: the answer to a JSON heartbeat, or the user's.
    fn on_data(&mut self, shared: &Shared, msg: Message, now: Instant, pongs: bool) -> Incoming {
        match self.hb.on_message(&msg, now) {
            Reply::Reply(Some(answer)) => self.on_answer(shared, answer, pongs),
            Reply::Reply(None) => Incoming::Nothing,
            Reply::NotReply => {
                let k = &shared.counters;
                k.messages_in.fetch_add(1, Ordering::Relaxed);
                k.bytes_in.fetch_add(msg.len() as u64, Ordering::Relaxed);
                log::trace!("received {} bytes", msg.len());
                Incoming::Event(match msg {
                    Message::Text(t) => Event::Text(t),
                    Message::Binary(b) => Event::Binary(b),
                })
            }
        }
    }

    /// A heartbeat was answered: what was written before it has arrived.
    fn on_answer(&mut self, shared: &Shared, answer: Answer, pongs: bool) -> Incoming {
        self.inflight.confirmed(answer.seq);
        let rtt = answer.rtt;
        {
            let mut slow = shared.lock_slow();
            slow.last_rtt = Some(rtt);
            slow.smoothed_rtt = Some(match slow.smoothed_rtt {
                None => rtt,
                Some(s) => (s * 7 + rtt) / 8,
            });
        }
        log::debug!("heartbeat answered in {rtt:?}");
        match pongs {
            true => Incoming::Event(Event::Pong { rtt }),
            false => Incoming::Nothing,
        }
    }
}
