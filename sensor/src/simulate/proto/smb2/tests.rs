use super::*;

const NOW: u64 = 1_596_695_228_000_000_000;

/// The fields of a parsed SMB2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    command: u16,
    status: u32,
    charge: u16,
    credits: u16,
    flags: u32,
    message_id: u64,
    tree_id: u32,
    session_id: u64,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Splits a stream into its NetBIOS-framed messages, checking each header's length.
fn messages(stream: &[u8]) -> Vec<&[u8]> {
    let mut at = 0;
    let mut found = Vec::new();
    while at < stream.len() {
        assert_eq!(stream[at], 0, "session message type");
        let len = u32::from_be_bytes([0, stream[at + 1], stream[at + 2], stream[at + 3]]) as usize;
        let msg = &stream[at + 4..at + 4 + len];
        found.push(msg);
        at += 4 + len;
    }
    assert_eq!(at, stream.len(), "NetBIOS lengths tile the stream");
    found
}

fn header(msg: &[u8]) -> Header {
    assert_eq!(&msg[..4], b"\xfeSMB");
    assert_eq!(le16(msg, 4), 64);
    Header {
        command: le16(msg, 12),
        status: le32(msg, 8),
        charge: le16(msg, 6),
        credits: le16(msg, 14),
        flags: le32(msg, 16),
        message_id: le64(msg, 24),
        tree_id: le32(msg, 36),
        session_id: le64(msg, 40),
    }
}

/// The body StructureSize MS-SMB2 gives each command, request and response.
fn structure_size(command: u16, response: bool, status: u32) -> u16 {
    if response
        && status != STATUS_SUCCESS
        && status != STATUS_MORE_PROCESSING_REQUIRED
        && status != STATUS_BUFFER_OVERFLOW
    {
        return 9;
    }
    match (command, response) {
        (NEGOTIATE, false) => 36,
        (NEGOTIATE, true) => 65,
        (SESSION_SETUP, false) => 25,
        (SESSION_SETUP, true) => 9,
        (LOGOFF | TREE_DISCONNECT, _) => 4,
        (TREE_CONNECT, false) => 9,
        (TREE_CONNECT, true) => 16,
        (CREATE, false) => 57,
        (CREATE, true) => 89,
        (CLOSE, false) => 24,
        (CLOSE, true) => 60,
        (READ | WRITE, false) => 49,
        (READ | WRITE, true) => 17,
        (IOCTL, false) => 57,
        (IOCTL, true) => 49,
        (QUERY_DIRECTORY, false) => 33,
        (QUERY_INFO, false) => 41,
        (QUERY_DIRECTORY | QUERY_INFO, true) => 9,
        other => panic!("unexpected command {other:?}"),
    }
}

/// A whole conversation: every exchange's request and response streams.
struct Conversation {
    client: Smb2Client,
    rng: Rng,
    requests: Vec<u8>,
    responses: Vec<u8>,
}

impl Conversation {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let client = Smb2Client::new(&mut rng, "WORKSTATION6");
        Conversation { client, rng, requests: Vec::new(), responses: Vec::new() }
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut Smb2Client, &mut Rng, &mut Vec<u8>, &mut Vec<u8>) -> T) -> T {
        f(&mut self.client, &mut self.rng, &mut self.requests, &mut self.responses)
    }
}

/// A PsExec-like conversation over every operation.
fn full_conversation(seed: u64, auth: &Auth) -> Conversation {
    let mut c = Conversation::new(seed);
    c.run(|s, r, q, p| s.multi_protocol_negotiate(r, NOW, q, p));
    c.run(|s, r, q, p| s.negotiate(r, NOW, q, p));
    while c.run(|s, r, q, p| s.session_setup(r, NOW, auth, q, p)) == SetupState::Continue {}
    let ipc = c.run(|s, r, q, p| s.tree_connect(r, "IPC$", q, p));
    c.run(|s, r, q, p| s.query_network_interfaces(r, ipc, Ipv4Addr::new(172, 18, 39, 6), q, p));
    let admin = c.run(|s, r, q, p| s.tree_connect(r, "ADMIN$", q, p));
    let exe =
        c.run(|s, r, q, p| s.create(r, NOW, admin, "Temp\\x.exe", Open::CreateFile { alloc_size: 300_000 }, q, p));
    for (i, chunk) in [131_072usize, 131_072, 37_856].iter().enumerate() {
        c.run(|s, r, q, p| s.write(r, admin, exe, i as u64 * 131_072, Payload::Opaque(*chunk), q, p));
    }
    c.run(|s, r, q, p| s.close(r, NOW, admin, exe, Some(300_000), q, p));
    let pipe = c.run(|s, r, q, p| s.create(r, NOW, ipc, "svcctl", Open::Pipe, q, p));
    c.run(|s, r, q, p| s.query_info(r, NOW, ipc, pipe, InfoClass::Standard, 0, q, p));
    c.run(|s, r, q, p| s.write(r, ipc, pipe, 0, Payload::Bytes(&[5; 116]), q, p));
    c.run(|s, r, q, p| s.read(r, ipc, pipe, 0, 1024, Payload::Bytes(&[5; 92]), q, p));
    c.run(|s, r, q, p| s.pipe_transceive(r, ipc, pipe, &[5; 100], &[6; 48], 1024, q, p));
    c.run(|s, r, q, p| s.close(r, NOW, ipc, pipe, None, q, p));
    let dir = c.run(|s, r, q, p| s.create(r, NOW, admin, "Temp", Open::Directory, q, p));
    let entries = [
        DirEntry { name: ".", is_dir: true, size: 0 },
        DirEntry { name: "..", is_dir: true, size: 0 },
        DirEntry { name: "x.exe", is_dir: false, size: 300_000 },
    ];
    c.run(|s, r, q, p| s.query_directory(r, NOW, admin, dir, "*", &entries, q, p));
    c.run(|s, r, q, p| s.query_directory(r, NOW, admin, dir, "*", &[], q, p));
    c.run(|s, r, q, p| s.close(r, NOW, admin, dir, None, q, p));
    let file = c.run(|s, r, q, p| s.create(r, NOW, admin, "Temp\\x.exe", Open::ReadFile { size: 300_000 }, q, p));
    c.run(|s, r, q, p| s.query_info(r, NOW, admin, file, InfoClass::NetworkOpen, 300_000, q, p));
    c.run(|s, r, q, p| s.read(r, admin, file, 0, 300_000, Payload::Opaque(300_000), q, p));
    c.run(|s, r, q, p| s.close(r, NOW, admin, file, Some(300_000), q, p));
    for t in [admin, ipc] {
        c.run(|s, r, q, p| s.tree_disconnect(r, t, q, p));
    }
    c.run(|s, r, q, p| s.logoff(r, q, p));
    c
}

fn kerberos() -> Auth<'static> {
    Auth::Kerberos { realm: "THESHIRE.LOCAL", delegation: Delegation::None }
}

fn ntlm() -> Auth<'static> {
    Auth::Ntlm {
        client: ClientNames { domain: "THESHIRE", user: "pgustavo", workstation: "WORKSTATION5" },
        server: ServerNames { nb_domain: "THESHIRE", nb_computer: "WORKSTATION6", dns_domain: "theshire.local" },
    }
}

#[test]
fn negotiate_request_bytes_are_exact() {
    let mut c = Conversation::new(1);
    c.run(|s, r, q, p| s.negotiate(r, NOW, q, p));
    let req = &c.requests;
    #[rustfmt::skip]
    let head: [u8; 68] = [
        0x00, 0x00, 0x00, 0xe8,
        0xfe, b'S', b'M', b'B', 64, 0, 0, 0, 0, 0, 0, 0, // protocol, size, charge, channel sequence
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             // command, credits, flags, next command
        0, 0, 0, 0, 0, 0, 0, 0,                          // message id 0
        0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // process id, tree id, session id
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // signature
    ];
    assert_eq!(&req[..68], head);
    let body = &req[68..];
    assert_eq!(&body[..8], [36, 0, 5, 0, 1, 0, 0, 0]);
    assert_eq!(le32(body, 8), 0x7f);
    assert_eq!((le32(body, 28), le16(body, 32)), (0x70, 4));
    assert_eq!(&body[36..46], [0x02, 0x02, 0x10, 0x02, 0x00, 0x03, 0x02, 0x03, 0x11, 0x03]);
    // Measured: 232 bytes, contexts at 0x70 (preauth 38, encryption 6, compression 14, netname 24).
    assert_eq!(req.len(), 4 + 232);
    assert_eq!(&req[4 + 0x70..4 + 0x78], [1, 0, 38, 0, 0, 0, 0, 0]);
    assert!(req.ends_with(&"WORKSTATION6".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<_>>()));
}

#[test]
fn multi_protocol_negotiate_is_exact() {
    let mut c = Conversation::new(1);
    c.run(|s, r, q, p| s.multi_protocol_negotiate(r, NOW, q, p));
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0, 0, 0, 69, 0xff, b'S', b'M', b'B', 0x72, 0, 0, 0, 0, 0x18, 0x53, 0xc8,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 34, 0,
    ];
    assert_eq!(&c.requests[..expected.len()], expected);
    assert!(c.requests.ends_with(b"\x02SMB 2.???\0"));
    let resp = header(&c.responses[4..]);
    assert_eq!((resp.command, resp.message_id, resp.credits, resp.flags), (NEGOTIATE, 0, 1, FLAG_RESPONSE));
    assert_eq!(le16(&c.responses[4..], 68), DIALECT_WILDCARD);
    assert_eq!(c.responses.len(), 4 + 526);
    assert_eq!(c.client.message_id(), 1);
}

#[test]
fn every_length_and_structure_size_is_right() {
    for auth in [kerberos(), ntlm()] {
        let c = full_conversation(3, &auth);
        for (stream, response) in [(&c.requests, false), (&c.responses, true)] {
            for msg in messages(stream) {
                if msg.starts_with(b"\xffSMB") {
                    continue;
                }
                let h = header(msg);
                assert_eq!(le16(msg, 64), structure_size(h.command, response, h.status), "{h:?}");
                assert_eq!(h.flags & FLAG_RESPONSE != 0, response);
                // Offset/length pairs point inside the message.
                let (offset, len) = match (h.command, response) {
                    (SESSION_SETUP, false) => (le16(msg, 76) as usize, le16(msg, 78) as usize),
                    (SESSION_SETUP, true) => (le16(msg, 68) as usize, le16(msg, 70) as usize),
                    (TREE_CONNECT, false) => (le16(msg, 68) as usize, le16(msg, 70) as usize),
                    (CREATE, false) if le32(msg, 116) == 0 => (le16(msg, 108) as usize, le16(msg, 110) as usize),
                    (CREATE, true) if le32(msg, 148) == 0 => continue,
                    (CREATE, _) => {
                        let at = if response { 144 } else { 112 };
                        (le32(msg, at) as usize, le32(msg, at + 4) as usize)
                    }
                    (WRITE, false) => (le16(msg, 66) as usize, le32(msg, 68) as usize),
                    (READ, true) => (msg[66] as usize, le32(msg, 68) as usize),
                    (IOCTL, false) => (le32(msg, 88) as usize, le32(msg, 92) as usize),
                    (IOCTL, true) => (le32(msg, 96) as usize, le32(msg, 100) as usize),
                    (QUERY_DIRECTORY | QUERY_INFO, true) if h.status == STATUS_SUCCESS => {
                        (le16(msg, 66) as usize, le32(msg, 68) as usize)
                    }
                    _ => continue,
                };
                assert_eq!(offset + len, msg.len(), "buffer ends the message: {h:?}");
            }
        }
    }
}

#[test]
fn message_ids_follow_credit_charges_and_responses_echo_ids() {
    let c = full_conversation(4, &kerberos());
    let requests: Vec<Header> = messages(&c.requests).into_iter().skip(1).map(header).collect();
    let responses: Vec<Header> = messages(&c.responses).into_iter().skip(1).map(header).collect();
    assert_eq!(requests.len(), responses.len());
    let mut next = 1;
    let mut credits: i64 = 1;
    for (q, r) in requests.iter().zip(&responses) {
        assert_eq!(q.message_id, next, "{q:?}");
        next += u64::from(q.charge.max(1));
        credits -= i64::from(q.charge.max(1));
        assert!(credits >= 0, "spent credits it did not have: {q:?}");
        assert_eq!((r.command, r.message_id, r.charge), (q.command, q.message_id, q.charge));
        if q.command != TREE_CONNECT {
            assert_eq!(r.tree_id, q.tree_id, "{q:?}");
        }
        assert_eq!(r.credits, q.credits.max(1), "the server grants what was asked");
        credits += i64::from(r.credits);
    }
    // 128 KiB writes cost 2 credits, the 300 000-byte read 5.
    let charges: Vec<u16> =
        requests.iter().filter(|h| h.command == WRITE || h.command == READ).map(|h| h.charge).collect();
    assert_eq!(charges, [2, 2, 1, 1, 1, 5]);
    assert_eq!(c.client.message_id(), next);
    assert_eq!(i64::from(c.client.credits()), credits);
}

#[test]
fn session_tree_and_file_ids_are_echoed() {
    let mut c = Conversation::new(5);
    let auth = ntlm();
    c.run(|s, r, q, p| s.negotiate(r, NOW, q, p));
    assert_eq!(c.run(|s, r, q, p| s.session_setup(r, NOW, &auth, q, p)), SetupState::Continue);
    assert_eq!(c.run(|s, r, q, p| s.session_setup(r, NOW, &auth, q, p)), SetupState::Done);
    let ipc = c.run(|s, r, q, p| s.tree_connect(r, "IPC$", q, p));
    let pipe = c.run(|s, r, q, p| s.create(r, NOW, ipc, "atsvc", Open::Pipe, q, p));
    c.run(|s, r, q, p| s.write(r, ipc, pipe, 0, Payload::Bytes(&[1; 72]), q, p));
    let sid = c.client.session_id();
    let q: Vec<Header> = messages(&c.requests).into_iter().map(header).collect();
    let r: Vec<Header> = messages(&c.responses).into_iter().map(header).collect();
    // The first setup goes out without a session; the server assigns it with MORE_PROCESSING.
    assert_eq!((q[1].session_id, r[1].session_id, r[1].status), (0, sid, STATUS_MORE_PROCESSING_REQUIRED));
    assert!(q[2..].iter().chain(&r[1..]).all(|h| h.session_id == sid));
    assert_eq!(r[3].tree_id, ipc.id);
    assert_eq!((q[4].tree_id, q[5].tree_id), (ipc.id, ipc.id));
    assert_eq!(ipc.share_type, ShareType::Pipe);
    let create_resp = messages(&c.responses)[4];
    assert_eq!((le64(create_resp, 128), le64(create_resp, 136)), (pipe.persistent, pipe.volatile));
    let write_req = messages(&c.requests)[5];
    assert_eq!((le64(write_req, 80), le64(write_req, 88)), (pipe.persistent, pipe.volatile));
    // The final session setup response is signed, as Windows signs it.
    assert_ne!(r[2].flags & FLAG_SIGNED, 0);
}

#[test]
fn create_contexts_chain_and_fill_their_buffer() {
    let mut c = Conversation::new(6);
    let tree = Tree { id: 5, share_type: ShareType::Disk };
    c.run(|s, r, q, p| {
        s.create(r, NOW, tree, "ProgramData\\GruntHTTP.exe", Open::CreateFile { alloc_size: 11_776 }, q, p)
    });
    // Measured for this name: request 388 bytes (contexts at 0xb0, 212 long), response 352 (200).
    for (msg, at, expected) in
        [(messages(&c.requests)[0], 112, (0xb0, 212)), (messages(&c.responses)[0], 144, (0x98, 200))]
    {
        let (offset, len) = (le32(msg, at) as usize, le32(msg, at + 4) as usize);
        assert_eq!((offset, len), expected);
        assert_eq!(offset + len, msg.len());
        let mut ctx = offset;
        let mut names = Vec::new();
        loop {
            names.push(std::str::from_utf8(&msg[ctx + 16..ctx + 20]).unwrap().to_string());
            let data_len = le32(msg, ctx + 12) as usize;
            let next = le32(msg, ctx) as usize;
            assert!(ctx + 24 + data_len <= msg.len());
            if next == 0 {
                assert_eq!(ctx + 24 + data_len, msg.len());
                break;
            }
            assert_eq!(next % 8, 0);
            ctx += next;
        }
        assert!(names.contains(&"RqLs".to_string()) && names.contains(&"QFid".to_string()), "{names:?}");
    }
    assert_eq!(messages(&c.requests)[0].len(), 388);
    assert_eq!(messages(&c.responses)[0].len(), 352);
}

#[test]
fn transceive_overflow_leaves_the_rest_for_a_read() {
    let mut c = Conversation::new(7);
    let tree = Tree { id: 1, share_type: ShareType::Pipe };
    let pipe = FileId { persistent: 1, volatile: 2 };
    let left = c.run(|s, r, q, p| s.pipe_transceive(r, tree, pipe, &[1; 40], &[2; 1500], 1024, q, p));
    assert_eq!(left, 476);
    let resp = messages(&c.responses)[0];
    assert_eq!(header(resp).status, STATUS_BUFFER_OVERFLOW);
    assert_eq!(le32(resp, 100), 1024);
}

#[test]
fn directory_listing_chains_entries_and_ends_with_no_more_files() {
    let mut c = Conversation::new(8);
    let tree = Tree { id: 3, share_type: ShareType::Disk };
    let dir = FileId { persistent: 1, volatile: 2 };
    let entries = [
        DirEntry { name: "Policies", is_dir: true, size: 0 },
        DirEntry { name: "scripts", is_dir: true, size: 0 },
        DirEntry { name: "GPT.INI", is_dir: false, size: 22 },
    ];
    c.run(|s, r, q, p| s.query_directory(r, NOW, tree, dir, "*", &entries, q, p));
    c.run(|s, r, q, p| s.query_directory(r, NOW, tree, dir, "*", &[], q, p));
    let responses = messages(&c.responses);
    let listing = &responses[0][72..];
    let mut at = 0;
    let mut names = Vec::new();
    loop {
        let name_len = le32(listing, at + 60) as usize;
        let name: Vec<u16> = listing[at + 104..at + 104 + name_len].chunks(2).map(|c| le16(c, 0)).collect();
        names.push(String::from_utf16(&name).unwrap());
        match le32(listing, at) as usize {
            0 => break,
            next => at += next,
        }
    }
    assert_eq!(names, ["Policies", "scripts", "GPT.INI"]);
    assert_eq!(header(responses[1]).status, STATUS_NO_MORE_FILES);
    assert_eq!(responses[1].len(), 64 + 8);
}

#[test]
fn same_seed_same_bytes() {
    let a = full_conversation(9, &ntlm());
    let b = full_conversation(9, &ntlm());
    let c = full_conversation(10, &ntlm());
    assert!(a.requests == b.requests && a.responses == b.responses);
    assert!(a.requests != c.requests);
}
