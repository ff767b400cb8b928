use super::*;

fn params(server_nct: bool, client_nct: bool) -> Params {
    Params {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    }
}

/// Split tungstenite-bound bytes into (b0, payload) frames; payloads unmasked.
fn frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut v = Vec::new();
    while let Some(h) = parse_header(b) {
        let end = h.len + h.payload as usize;
        assert!(b.len() >= end, "partial frame left");
        let mut p = b[h.len..end].to_vec();
        if let Some(k) = h.mask {
            apply_mask(&mut p, k);
        }
        v.push((h.b0, p));
        b = &b[end..];
    }
    assert!(b.is_empty(), "trailing bytes");
    v
}

fn inbound(p: &Params, limit: usize, input: &[&[u8]]) -> (Vec<u8>, Inbound) {
    let mut i = Inbound::new(p, limit);
    let mut out = Vec::new();
    for chunk in input {
        i.push(chunk, &mut out);
    }
    (out, i)
}

const HELLO: [u8; 9] = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

#[test]
fn rfc7692_hello() {
    let (out, i) = inbound(&params(false, false), 1 << 20, &[&HELLO]);
    assert_eq!(out, b"\x81\x05Hello");
    assert_eq!(i.buffered(), 0);
}

#[test]
fn rfc7692_hello_byte_by_byte() {
    let chunks: Vec<&[u8]> = HELLO.chunks(1).collect();
    let (out, _) = inbound(&params(false, false), 1 << 20, &chunks);
    assert_eq!(out, b"\x81\x05Hello");
}

#[test]
fn rfc7692_fragmented_hello_with_a_ping_between() {
    let input: [&[u8]; 3] = [
        &[0x41, 0x03, 0xf2, 0x48, 0xcd],
        &[0x89, 0x02, b'h', b'i'],
        &[0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00],
    ];
    let (out, _) = inbound(&params(false, false), 1 << 20, &input);
    let f = frames(&out);
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].0, 0x01, "text, not final, RSV1 cleared");
    assert_eq!(f[1], (0x89, b"hi".to_vec()), "the ping untouched");
    assert_eq!(f[2].0, 0x80);
    assert_eq!([&f[0].1[..], &f[2].1[..]].concat(), b"Hello");
}

#[test]
fn rfc7692_context_takeover() {
    // The second "Hello" refers back to the first (§7.2.3.2).
    let second: [u8; 7] = [0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00];
    let (out, _) = inbound(&params(false, false), 1 << 20, &[&HELLO, &second]);
    assert_eq!(out, b"\x81\x05Hello\x81\x05Hello");
    // Without takeover the inflater forgets: the back-reference is invalid, and the frame
    // goes to tungstenite with its RSV1 bit, which it refuses.
    let (out, i) = inbound(&params(true, false), 1 << 20, &[&HELLO, &second]);
    assert_eq!(&out[..7], b"\x81\x05Hello");
    assert_eq!(&out[7..], &second[..2]);
    assert!(matches!(i.error(), Some(InboundError::Corrupt(_))));
    // With no takeover, each message stands alone.
    let (out, _) = inbound(&params(true, false), 1 << 20, &[&HELLO, &HELLO]);
    assert_eq!(out, b"\x81\x05Hello\x81\x05Hello");
}

#[test]
fn rfc7692_stored_block_and_bfinal() {
    // §7.2.3.3: "Hello" in a stored block.
    let stored = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let (out, _) = inbound(&params(false, false), 1 << 20, &[&stored]);
    assert_eq!(out, b"\x81\x05Hello");
    // §7.2.3.4: a block with BFINAL set, then another message.
    let bfinal = [0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let (out, _) = inbound(&params(false, false), 1 << 20, &[&bfinal, &HELLO]);
    assert_eq!(out, b"\x81\x05Hello\x81\x05Hello");
}

#[test]
fn plain_frames_pass_through_unbuffered() {
    let mut i = Inbound::new(&params(false, false), 1 << 20);
    let mut out = Vec::new();
    // A 300-byte binary frame, header and first 10 bytes only.
    let mut f = vec![0x82, 126, 0x01, 0x2c];
    f.extend(std::iter::repeat_n(7u8, 300));
    i.push(&f[..14], &mut out);
    assert_eq!(out, &f[..14]);
    assert_eq!(i.buffered(), 0);
    i.push(&f[14..], &mut out);
    assert_eq!(out, f);
}

#[test]
fn rsv1_where_forbidden_reaches_tungstenite() {
    for bad in [&[0xc9u8, 0x00][..], &[0xc0, 0x00]] {
        let (out, _) = inbound(&params(false, false), 1 << 20, &[bad]);
        assert_eq!(
            out, bad,
            "control or continuation with RSV1 goes through as is"
        );
    }
}

fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(flate2::Compression::new(9), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    z.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    write_header(&mut f, b0, payload.len() as u64, None);
    f.extend_from_slice(payload);
    f
}

#[test]
fn a_decompression_bomb_is_refused_while_inflating() {
    let limit = 1 << 20;
    let zeros = vec![0u8; 16 << 20];
    let bomb = deflate_raw(&zeros);
    assert!(
        bomb.len() < 100 << 10,
        "16 MiB of zeros packs small: {}",
        bomb.len()
    );
    let mut i = Inbound::new(&params(false, false), limit);
    let mut out = Vec::new();
    i.push(&frame(0xc2, &bomb), &mut out);
    assert_eq!(i.error(), Some(&InboundError::TooLarge { limit }));
    // tungstenite gets only a header announcing limit+1 bytes: "message too long", 1009.
    let h = parse_header(&out).unwrap();
    assert_eq!((h.len, h.payload), (out.len(), limit as u64 + 1));
    assert!(out.capacity() < 64, "nothing inflated was kept");
    // Anything after it is ignored.
    i.push(&HELLO, &mut out);
    assert_eq!(out.len(), h.len);
}

#[test]
fn the_limit_counts_the_whole_fragmented_message() {
    let limit = 1000;
    // A non-final fragment keeps its sync-flush tail: only the message's end drops it.
    let part = [&deflate_raw(&[b'a'; 600])[..], &TAIL].concat();
    let mut i = Inbound::new(&params(false, false), limit);
    let mut out = Vec::new();
    i.push(&frame(0x42, &part), &mut out);
    assert!(i.error().is_none());
    let first = out.len();
    i.push(&frame(0x00, &part), &mut out);
    assert_eq!(i.error(), Some(&InboundError::TooLarge { limit }));
    let h = parse_header(&out[first..]).unwrap();
    assert_eq!(h.payload, limit as u64 + 1);
    // At the limit exactly is fine.
    let mut i = Inbound::new(&params(false, false), 600);
    let mut out = Vec::new();
    i.push(&frame(0x42, &part), &mut out);
    i.push(&frame(0x80, &[0x00]), &mut out); // an empty final fragment (§7.2.3.6)
    assert!(i.error().is_none());
}

/// A masked client frame as tungstenite writes it.
fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    write_header(&mut f, b0, payload.len() as u64, Some(key));
    let mut p = payload.to_vec();
    apply_mask(&mut p, key);
    f.extend_from_slice(&p);
    f
}

#[test]
fn outbound_hello_is_the_rfc_vector() {
    let key = [1, 2, 3, 4];
    let mut o = Outbound::new(&params(false, false), 6, 0);
    let mut out = Vec::new();
    o.push(&client_frame(0x81, b"Hello", key), &mut out);
    let h = parse_header(&out).unwrap();
    assert_eq!(h.b0, 0xc1, "RSV1 set");
    assert_eq!(
        h.mask,
        Some(key),
        "masked with tungstenite's key for this frame"
    );
    let f = frames(&out);
    assert_eq!(f[0].1, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    // With context takeover the second one refers back (the RFC's second vector).
    let mut out = Vec::new();
    o.push(&client_frame(0x81, b"Hello", key), &mut out);
    assert_eq!(frames(&out)[0].1, [0xf2, 0x00, 0x11, 0x00, 0x00]);
    // Without, it is the first vector again.
    let mut o = Outbound::new(&params(false, true), 6, 0);
    for _ in 0..2 {
        let mut out = Vec::new();
        o.push(&client_frame(0x81, b"Hello", key), &mut out);
        assert_eq!(
            frames(&out)[0].1,
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
    }
}

#[test]
fn outbound_small_and_control_frames_go_as_they_are() {
    let mut o = Outbound::new(&params(false, false), 6, 64);
    let key = [9, 8, 7, 6];
    let small = client_frame(0x81, b"tiny", key);
    let ping = client_frame(0x89, b"p", key);
    let close = client_frame(0x88, &[0x03, 0xe8], key);
    let mut out = Vec::new();
    o.push(&[&small[..], &ping, &close].concat(), &mut out);
    assert_eq!(out, [&small[..], &ping, &close].concat());
    assert!(
        o.compressor.is_none(),
        "no zlib state until a message is compressed"
    );
    // No compressor (an 8-bit client window): nothing is compressed.
    let mut p = params(false, false);
    p.client_max_window_bits = 8;
    let mut o = Outbound::new(&p, 6, 0);
    let big = client_frame(0x82, &[0u8; 1000], key);
    let mut out = Vec::new();
    o.push(&big, &mut out);
    assert_eq!(out, big);
}

/// Everything outbound compresses must come back through an inflater: fragmented,
/// partial writes, large, both context modes.
#[test]
fn outbound_round_trips_through_inbound() {
    let text: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{{\"ModeCode\":\"message\",\"n\":{i}}}").into_bytes())
        .take(1 << 20)
        .collect();
    for nct in [false, true] {
        let mut o = Outbound::new(&params(false, nct), 6, 64);
        let mut i = Inbound::new(&params(nct, false), 2 << 20);
        let key = [0xde, 0xad, 0xbe, 0xef];
        let mut wire = Vec::new();
        let msgs = [
            client_frame(0x81, &text, key),
            client_frame(0x02, &text[..1000], key),
            client_frame(0x89, b"ping", key),
            client_frame(0x80, &text[1000..5000], key),
            client_frame(0x82, &text[..100], key),
        ]
        .concat();
        for chunk in msgs.chunks(777) {
            o.push(chunk, &mut wire);
        }
        assert_eq!(o.buffered(), 0);
        assert!(
            wire.len() < msgs.len() / 3,
            "{} vs {}",
            wire.len(),
            msgs.len()
        );
        // The server would see them unmasked; strip masks to feed our own inbound side.
        let mut server_view = Vec::new();
        for (b0, p) in frames(&wire) {
            server_view.extend(frame(b0, &p));
        }
        let mut plain = Vec::new();
        i.push(&server_view, &mut plain);
        assert!(i.error().is_none(), "{:?}", i.error());
        let f = frames(&plain);
        let ops: Vec<u8> = f.iter().map(|x| x.0).collect();
        assert_eq!(ops, [0x81, 0x02, 0x89, 0x80, 0x82]);
        assert_eq!(f[0].1, text);
        assert_eq!([&f[1].1[..], &f[3].1[..]].concat(), &text[..5000]);
        assert_eq!(f[2].1, b"ping");
        assert_eq!(f[4].1, &text[..100]);
    }
}
