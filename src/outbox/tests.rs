use super::*;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

#[test]
fn gauge_bounds_count_and_bytes() {
    let g = Gauge::new(2, 10);
    g.reserve(4).unwrap();
    g.reserve(4).unwrap();
    assert!(matches!(
        g.reserve(1),
        Err(Refused::Full {
            queued_messages: 2,
            ..
        })
    ));
    g.release(4);
    assert!(
        matches!(g.reserve(7), Err(Refused::Full { .. })),
        "bytes bound"
    );
    g.reserve(6).unwrap();
    assert_eq!(g.messages(), 2);
}

#[test]
fn empty_outbox_takes_one_big_message() {
    let g = Gauge::new(1, 10);
    g.reserve(100).unwrap();
    assert!(g.reserve(1).is_err());
}

/// Run `reserve_until(len, deadline, closed)` on another thread; its result arrives on the
/// returned channel.
fn waiter(
    g: &Arc<Gauge>,
    len: usize,
    timeout: Duration,
    closed: &Arc<AtomicBool>,
) -> mpsc::Receiver<Result<(), Refused>> {
    let (tx, rx) = mpsc::channel();
    let (g, closed) = (g.clone(), closed.clone());
    std::thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        let r = g.reserve_until(len, Some(deadline), || closed.load(Ordering::SeqCst));
        let _ = tx.send(r);
    });
    rx
}

/// Until `n` senders sleep (bounded): the point where a waiter is known to be blocked.
fn until_sleepers(g: &Gauge, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while g.sleepers() != n {
        assert!(
            Instant::now() < deadline,
            "{} sleepers, not {n}",
            g.sleepers()
        );
        std::thread::yield_now();
    }
}

#[test]
fn a_waiting_sender_is_woken_at_the_low_water_mark_and_takes_the_room() {
    let g = Arc::new(Gauge::new(4, 1000));
    let closed = Arc::new(AtomicBool::new(false));
    for _ in 0..4 {
        g.reserve(1).unwrap();
    }
    let rx = waiter(&g, 1, Duration::from_secs(30), &closed);
    until_sleepers(&g, 1);
    g.release(1); // 3 of 4: room, but above the low-water mark (2): nobody is woken
    assert_eq!(g.sleepers(), 1, "woken above the low-water mark");
    assert!(rx.try_recv().is_err());
    g.release(1); // 2 of 4: half, woken (and unregistered by the waker, synchronously)
    assert_eq!(g.sleepers(), 0, "not woken at the low-water mark");
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the waiter returns");
    assert_eq!(r, Ok(()));
    assert_eq!(g.messages(), 3);
}

#[test]
fn a_refused_reservation_wakes_the_sleepers_to_look_again() {
    let g = Arc::new(Gauge::new(2, 1000));
    let closed = Arc::new(AtomicBool::new(false));
    g.reserve(1).unwrap();
    g.reserve(1).unwrap();
    let rx = waiter(&g, 1, Duration::from_secs(30), &closed);
    until_sleepers(&g, 1);
    let before = g.generation();
    assert!(g.reserve(1).is_err(), "full");
    assert_ne!(
        g.generation(),
        before,
        "the refusal's undo did not wake the sleeper"
    );
    // It saw no room and registered again.
    until_sleepers(&g, 1);
    assert!(rx.try_recv().is_err());
    g.release(1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(()));
}

#[test]
fn a_waiting_sender_gives_up_at_its_deadline_and_reserves_nothing() {
    let g = Arc::new(Gauge::new(1, 1000));
    let closed = Arc::new(AtomicBool::new(false));
    g.reserve(10).unwrap();
    let t0 = Instant::now();
    let rx = waiter(&g, 1, Duration::from_millis(200), &closed);
    let r = rx.recv_timeout(Duration::from_secs(10)).expect("returns");
    let took = t0.elapsed();
    assert!(
        matches!(
            r,
            Err(Refused::Full {
                queued_messages: 1,
                queued_bytes: 10
            })
        ),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_millis(200),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "gave up late: {took:?}");
    assert_eq!(g.messages(), 1, "nothing reserved");
    assert_eq!(g.sleepers(), 0, "unregistered");
    // Zero timeout: a plain refusal.
    assert!(matches!(
        g.reserve_until(1, Some(Instant::now()), || false),
        Err(Refused::Full { .. })
    ));
}

#[test]
fn a_waiting_sender_returns_closed_when_woken_for_a_stop() {
    let g = Arc::new(Gauge::new(1, 1000));
    let closed = Arc::new(AtomicBool::new(false));
    g.reserve(1).unwrap();
    let rx = waiter(&g, 1, Duration::from_secs(30), &closed);
    until_sleepers(&g, 1);
    closed.store(true, Ordering::SeqCst);
    g.wake_waiters();
    let r = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("woken at once");
    assert_eq!(r, Err(Refused::Closed));
    assert_eq!(g.messages(), 1);
}

#[test]
fn a_message_above_the_byte_bound_waits_for_an_empty_outbox() {
    let g = Arc::new(Gauge::new(4, 10));
    let closed = Arc::new(AtomicBool::new(false));
    g.reserve(3).unwrap();
    g.reserve(2).unwrap();
    let rx = waiter(&g, 50, Duration::from_secs(30), &closed);
    until_sleepers(&g, 1);
    let before = g.generation();
    g.release(3); // 1 message, 2 bytes: low water, woken, but 50 bytes do not fit
    assert_ne!(g.generation(), before);
    until_sleepers(&g, 1);
    assert!(rx.try_recv().is_err());
    g.release(2); // empty: an empty outbox takes one message of any size
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(()));
    assert_eq!(g.messages(), 1);
    // Without a deadline it waits as long as needed.
    let g2 = g.clone();
    let t = std::thread::spawn(move || g2.reserve_until(1, None, || false));
    until_sleepers(&g, 1);
    g.release(50);
    assert_eq!(t.join().unwrap(), Ok(()));
}

#[test]
fn unconfirmed_messages_leave_when_a_later_heartbeat_is_answered() {
    let t0 = Instant::now();
    let mut u = Unconfirmed::new(true, 8, 1 << 20);
    u.written(0, t0, WsMessage::text("a"));
    u.written(0, t0, WsMessage::text("b"));
    u.written(1, t0, WsMessage::text("c")); // after heartbeat 1 was sent
    u.flushed();
    assert_eq!(
        u.ack_wanted_at(Duration::from_secs(1)),
        Some(t0 + Duration::from_secs(1))
    );
    u.confirmed(1);
    let left: Vec<_> = u
        .take()
        .into_iter()
        .map(|m| m.into_text().unwrap().to_string())
        .collect();
    assert_eq!(left, ["c"]);
    let mut bounded = Unconfirmed::new(true, 2, 1 << 20);
    bounded.written(0, t0, WsMessage::text("a"));
    assert!(!bounded.is_full());
    assert_eq!(
        bounded.ack_wanted_at(Duration::from_secs(1)),
        Some(t0),
        "half full: wanted at once"
    );
    bounded.written(0, t0, WsMessage::text("b"));
    assert!(bounded.is_full(), "full: no more writes until confirmed");
    bounded.confirmed(1);
    assert!(!bounded.is_full());
    let mut big = Unconfirmed::new(true, 8, 10);
    assert!(
        !big.is_full(),
        "an empty window takes a message of any size"
    );
    big.written(0, t0, WsMessage::text("larger than ten bytes"));
    assert!(big.is_full());
    let mut off = Unconfirmed::new(false, 8, 1 << 20);
    off.written(0, t0, WsMessage::text("x"));
    assert_eq!(off.ack_wanted_at(Duration::from_secs(1)), None);
    off.flushed();
    assert!(
        off.take().is_empty(),
        "without heartbeats a flush is all we can know"
    );
}

#[test]
fn unconfirmed_copies_come_back_intact_across_the_ring_and_its_memory_is_given_back() {
    let t0 = Instant::now();
    let mut u = Unconfirmed::new(true, 1000, 1 << 30);
    let blob = |i: u8| vec![i; 1000 + usize::from(i)];
    // Confirm the front while writing on, so the ring wraps around.
    for round in 0..5u8 {
        for i in 0..10u8 {
            let m = if i % 2 == 0 {
                WsMessage::binary(blob(round * 10 + i))
            } else {
                WsMessage::text(format!("r{round} m{i} ü"))
            };
            u.written(u64::from(round), t0, m);
        }
        u.confirmed(u64::from(round)); // everything before this round's writes
    }
    let back = u.take();
    let want: Vec<WsMessage> = (0..10u8)
        .map(|i| {
            if i % 2 == 0 {
                WsMessage::binary(blob(40 + i))
            } else {
                WsMessage::text(format!("r4 m{i} ü"))
            }
        })
        .collect();
    assert_eq!(back, want);
    assert!(u.take().is_empty());
    // A heartbeat with nothing unconfirmed frees the ring; with something, it keeps it.
    u.written(9, t0, WsMessage::binary(vec![1u8; 1 << 20]));
    u.trim();
    assert!(u.ring.capacity() >= 1 << 20, "kept while unconfirmed");
    u.confirmed(10);
    u.trim();
    assert_eq!(u.ring.capacity(), 0);
    // Without heartbeats the messages themselves are kept, until a flush.
    let mut off = Unconfirmed::new(false, 8, 1 << 30);
    off.written(0, t0, WsMessage::binary(vec![1u8; 1 << 20]));
    off.written(0, t0, WsMessage::text("small"));
    assert_eq!(off.ring.capacity(), 0);
    assert_eq!(
        off.take(),
        [
            WsMessage::binary(vec![1u8; 1 << 20]),
            WsMessage::text("small")
        ]
    );
    off.written(0, t0, WsMessage::text("flushed"));
    off.flushed();
    assert!(off.take().is_empty());
}

#[test]
fn priority_goes_before_backlog_in_order() {
    let mut o = Outbox::default();
    o.push_back(WsMessage::text("old1"));
    o.push_back(WsMessage::text("old2"));
    o.push_priority(WsMessage::text("p1"));
    o.push_priority(WsMessage::text("p2"));
    let first = o.pop_front().unwrap();
    o.push_front(first);
    let all: Vec<_> = o
        .drain_all()
        .into_iter()
        .map(|m| to_public(m).unwrap().as_text().unwrap().to_owned())
        .collect();
    assert_eq!(all, ["p1", "p2", "old1", "old2"]);
}

#[test]
fn a_refused_copy_comes_back_out() {
    let t0 = Instant::now();
    let mut u = Unconfirmed::new(true, 8, 1 << 20);
    assert!(u.copy(0, t0, &WsMessage::text("kept")));
    assert!(u.copy(0, t0, &WsMessage::binary(vec![7u8; 5])));
    u.drop_copy();
    assert!(u.copy(0, t0, &WsMessage::text("refused")));
    assert_eq!(u.pop_copy(), WsMessage::text("refused"));
    assert_eq!(u.take(), vec![WsMessage::text("kept")]);
    let mut off = Unconfirmed::new(false, 8, 1 << 20);
    assert!(!off.copy(0, t0, &WsMessage::text("x")));
    assert!(off.is_empty());
}

#[test]
fn the_ring_keeps_bytes_in_order_across_its_chunks_and_reuses_them() {
    // A model to compare with: a plain VecDeque<u8>.
    let mut r = Ring::default();
    let mut model: VecDeque<u8> = VecDeque::new();
    let mut next = 0u8;
    let mut peak = 0;
    let mut fill = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                next = next.wrapping_add(1);
                next
            })
            .collect()
    };
    let sizes = [1, RING_CHUNK - 1, 2, RING_CHUNK, 3 * RING_CHUNK + 7, 100];
    for (i, &n) in sizes.iter().cycle().take(40).enumerate() {
        let data = fill(n);
        r.extend(&data);
        model.extend(&data);
        match i % 4 {
            // Consume from the front (a confirmation), sometimes all of it.
            0 => {
                let k = if i % 8 == 0 {
                    model.len()
                } else {
                    model.len() / 3
                };
                r.drain_front(k);
                model.drain(..k);
            }
            // Take the last write back out (a refused write).
            1 => {
                let back = model.len() - n;
                assert_eq!(r.copy_out(back, n), data);
                r.truncate(back);
                model.truncate(back);
            }
            _ => {}
        }
        assert_eq!(r.len(), model.len());
        let all: Vec<u8> = model.iter().copied().collect();
        assert_eq!(r.copy_out(0, r.len()), all, "step {i}");
        if model.len() > 5 {
            assert_eq!(r.copy_out(3, 2), all[3..5]);
        }
        // Never more memory than the most ever held, plus the two partial chunks.
        peak = peak.max(model.len() + n);
        assert!(
            r.capacity() <= (peak / RING_CHUNK + 2) * RING_CHUNK,
            "step {i}"
        );
    }
    // Emptied chunks are reused, not allocated anew.
    let cap = r.capacity();
    r.clear();
    assert_eq!((r.len(), r.capacity()), (0, cap));
    r.extend(&fill(cap));
    assert_eq!(r.capacity(), cap);
    r.drain_front(cap);
    assert_eq!((r.len(), r.capacity()), (0, cap));
}
