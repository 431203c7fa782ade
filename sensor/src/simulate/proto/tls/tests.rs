use super::*;

/// (content type, fragment) of every record filling `bytes` exactly.
fn records(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = u16::from_be_bytes([bytes[at + 3], bytes[at + 4]]) as usize;
        assert!(len <= MAX_FRAGMENT_LEN + 256, "record of {len} bytes");
        assert_eq!(bytes[at + 1], 3);
        found.push((bytes[at], &bytes[at + 5..at + 5 + len]));
        at += 5 + len;
    }
    assert_eq!(at, bytes.len(), "records fill the message");
    found
}

/// (type, body) of every handshake message filling `bytes` exactly.
fn handshakes(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = u24(&bytes[at + 1..]);
        found.push((bytes[at], &bytes[at + 4..at + 4 + len]));
        at += 4 + len;
    }
    assert_eq!(at, bytes.len());
    found
}

fn u24(b: &[u8]) -> usize {
    (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize
}

fn u16_at(b: &[u8], at: usize) -> usize {
    u16::from_be_bytes([b[at], b[at + 1]]) as usize
}

/// (type, data) of the ClientHello's extensions.
fn client_hello_extensions(body: &[u8]) -> Vec<(u16, &[u8])> {
    let mut at = 2 + 32;
    at += 1 + body[at] as usize;
    at += 2 + u16_at(body, at);
    at += 1 + body[at] as usize;
    let end = at + 2 + u16_at(body, at);
    assert_eq!(end, body.len());
    at += 2;
    let mut found = Vec::new();
    while at < end {
        let len = u16_at(body, at + 2);
        found.push((u16_at(body, at) as u16, &body[at + 4..at + 4 + len]));
        at += 4 + len;
    }
    assert_eq!(at, end);
    found
}

/// Checks that `der` is one TLV whose constructed values nest exactly; returns its length.
fn check_der(der: &[u8]) -> usize {
    let (header, len) = match der[1] {
        n if n < 0x80 => (2, n as usize),
        0x81 => (3, der[2] as usize),
        0x82 => (4, u16_at(der, 2)),
        other => panic!("length form {other:#x}"),
    };
    assert!(header + len <= der.len());
    if der[0] & 0x20 != 0 {
        let mut at = header;
        while at < header + len {
            at += check_der(&der[at..header + len]);
        }
        assert_eq!(at, header + len);
    }
    header + len
}

#[test]
fn client_hello_is_517_bytes_with_the_sni_and_padding() {
    let mut out = Vec::new();
    client_hello(&mut out, &mut Rng::new(1), "www.example.com");
    assert_eq!(out.len(), 517);
    assert_eq!(&out[..5], &[22, 3, 1, 2, 0]);
    let recs = records(&out);
    let hs = handshakes(recs[0].1);
    assert_eq!(hs.len(), 1);
    assert_eq!(hs[0].0, CLIENT_HELLO);
    let body = hs[0].1;
    assert_eq!(&body[..2], &[3, 3]);
    assert_eq!(body[34], 32, "session id length");
    let exts = client_hello_extensions(body);
    let types: Vec<u16> = exts.iter().map(|e| e.0).collect();
    assert_eq!(types, [0, 23, 0xff01, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 21]);
    assert_eq!(exts[0].1, b"\x00\x12\x00\x00\x0fwww.example.com");
    assert_eq!(exts[10].1.len(), 2 + 2 + 2 + 32, "one x25519 share");
    assert!(exts[14].1.iter().all(|&b| b == 0));
}

#[test]
fn client_hello_without_sni_or_with_a_long_one() {
    let mut out = Vec::new();
    client_hello(&mut out, &mut Rng::new(2), "");
    assert_eq!(out.len(), 517);
    let exts = client_hello_extensions(handshakes(records(&out)[0].1)[0].1);
    assert_ne!(exts[0].0, EXT_SERVER_NAME);
    // 246 characters: the unpadded hello passes 508 bytes.
    let long = format!("{}.com", ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(50)].join("."));
    out.clear();
    client_hello(&mut out, &mut Rng::new(2), &long);
    let exts = client_hello_extensions(handshakes(records(&out)[0].1)[0].1);
    assert_eq!(exts.last().unwrap().0, 27, "no padding past 508 bytes");
    assert_eq!(&exts[0].1[5..], long.as_bytes());
}

/// DER lengths of the certificates in a server flight, each checked for exact nesting.
fn chain_der_lens(flight: &[u8]) -> Vec<usize> {
    let joined: Vec<u8> = records(flight).iter().flat_map(|r| r.1.iter().copied()).collect();
    let hs = handshakes(&joined);
    assert_eq!(hs[1].0, CERTIFICATE);
    let list = hs[1].1;
    assert_eq!(u24(list), list.len() - 3);
    let mut at = 3;
    let mut der_lens = Vec::new();
    while at < list.len() {
        let n = u24(&list[at..]);
        assert_eq!(check_der(&list[at + 3..at + 3 + n]), n);
        der_lens.push(n);
        at += 3 + n;
    }
    der_lens
}

#[test]
fn server_flight_has_the_four_messages_and_the_exact_chain_size() {
    for (seed, chain_len) in (0..40).map(|i| (i, 2500 + 97 * i as usize)).chain([(50, 9000), (51, 4321)]) {
        let mut out = Vec::new();
        server_hello_flight(&mut out, &mut Rng::new(seed), chain_len);
        let recs = records(&out);
        assert_eq!(recs.len(), 1, "one record below 16 KB");
        let hs = handshakes(recs[0].1);
        let types: Vec<u8> = hs.iter().map(|h| h.0).collect();
        assert_eq!(types, [SERVER_HELLO, CERTIFICATE, SERVER_KEY_EXCHANGE, SERVER_HELLO_DONE]);
        assert_eq!(hs[0].1.len(), 87);
        assert_eq!(&hs[0].1[67..69], &[0xc0, 0x30]);
        assert_eq!(hs[2].1.len(), 296);
        assert!(hs[3].1.is_empty());
        let der_lens = chain_der_lens(&out);
        assert!((2..=3).contains(&der_lens.len()), "{der_lens:?}");
        assert_eq!(der_lens.iter().sum::<usize>(), chain_len, "seed {seed}: {der_lens:?}");
        assert!(der_lens[1..].iter().all(|n| (800..1400).contains(n)), "CA sizes {der_lens:?}");
    }
}

#[test]
fn small_chains_come_out_at_the_minimum_and_large_ones_span_records() {
    let mut out = Vec::new();
    server_hello_flight(&mut out, &mut Rng::new(7), 100);
    let der_lens = chain_der_lens(&out);
    assert_eq!(der_lens.len(), 2);
    assert!((2200..2500).contains(&der_lens.iter().sum::<usize>()), "{der_lens:?}");
    out.clear();
    server_hello_flight(&mut out, &mut Rng::new(8), 20_000);
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].1.len(), MAX_FRAGMENT_LEN);
    assert_eq!(chain_der_lens(&out).iter().sum::<usize>(), 20_000);
}

#[test]
fn finish_flights_alert_and_application_data_have_real_sizes() {
    let mut rng = Rng::new(9);
    let mut out = Vec::new();
    client_finish_flight(&mut out, &mut rng);
    assert_eq!(out.len(), 93);
    let recs = records(&out);
    assert_eq!(recs.iter().map(|r| (r.0, r.1.len())).collect::<Vec<_>>(), [(22, 37), (20, 1), (22, 40)]);
    assert_eq!(&recs[0].1[..5], &[16, 0, 0, 33, 32]);
    out.clear();
    server_finish_flight(&mut out, &mut rng);
    assert_eq!(out.len(), 51);
    out.clear();
    alert_close_notify(&mut out, &mut rng);
    assert_eq!(&out[..5], &[21, 3, 3, 0, 26]);
    assert_eq!(out.len(), 31);
    for (len, wire) in [(0, 0), (1, 30), (16_384, 16_413), (16_385, 16_443), (50_000, 50_000 + 4 * 29)] {
        out.clear();
        application_data(&mut out, &mut rng, len);
        assert_eq!(out.len(), wire, "{len}");
        assert_eq!(application_data_len(len), wire);
        let recs = records(&out);
        assert!(recs.iter().all(|r| r.0 == APPLICATION_DATA && r.1.len() <= MAX_FRAGMENT_LEN + AEAD_OVERHEAD));
    }
}

#[test]
fn same_seed_same_bytes() {
    let build = |seed| {
        let mut rng = Rng::new(seed);
        let mut out = Vec::new();
        client_hello(&mut out, &mut rng, "intranet.corp.example.com");
        server_hello_flight(&mut out, &mut rng, 3500);
        client_finish_flight(&mut out, &mut rng);
        application_data(&mut out, &mut rng, 1000);
        out
    };
    assert_eq!(build(1), build(1));
    assert_ne!(build(1), build(2));
}
