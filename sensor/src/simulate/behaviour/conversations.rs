//! Application conversations as session scripts, shared by benign behaviours and attacks: the same
//! SSH session model serves an administrator and an attacker, so a model must tell them apart by
//! behaviour, not by packet format.

use crate::simulate::proto::{http, rdp, ssh, tls};
use crate::simulate::rng::Rng;
use crate::simulate::session::{Script, Side, Step};

const MS: u64 = 1_000_000;

/// What an SSH session carries after authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct SshPlan {
    /// Bytes the client sends (an `scp` upload), in 32 KiB channel packets.
    pub upload: u64,
    /// Bytes the server sends.
    pub download: u64,
    /// Interactive keystrokes, each echoed, 80–400 ms apart.
    pub keystrokes: u32,
    /// The client is OpenSSH for Windows (banner) rather than Ubuntu's.
    pub windows_client: bool,
}

fn packets(rng: &mut Rng, payload_lens: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for &len in payload_lens {
        ssh::encrypted_packet(&mut out, rng, len);
    }
    out
}

/// Where an SSH session script is after its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Before a keystroke: the pause.
    KeyPause,
    /// The keystroke (10-byte channel data) from the client.
    Key,
    /// Its echo (sometimes a screenful) from the server.
    Echo,
    Transfer,
    Close,
    Done,
}

/// An OpenSSH session: banners, key exchange, public-key authentication, a session channel, the plan's
/// traffic, and the disconnect.
pub fn ssh_session(plan: SshPlan) -> Script {
    let mut stage = 0u32;
    let mut up = plan.upload;
    let mut down = plan.download;
    let mut keys = plan.keystrokes;
    let mut after = if keys > 0 { After::KeyPause } else { After::Transfer };
    Box::new(move |rng: &mut Rng| {
        let mut buf = Vec::new();
        stage = stage.saturating_add(1);
        let handshake = match stage {
            1 => {
                ssh::banner(&mut buf, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6");
                Some(Step::Send { from: Side::Server, bytes: buf })
            }
            2 => {
                let software = if plan.windows_client {
                    "SSH-2.0-OpenSSH_for_Windows_8.1"
                } else {
                    "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"
                };
                ssh::banner(&mut buf, software);
                ssh::kexinit(&mut buf, rng, ssh::Endpoint::Client);
                Some(Step::Send { from: Side::Client, bytes: buf })
            }
            3 => {
                ssh::kexinit(&mut buf, rng, ssh::Endpoint::Server);
                Some(Step::Send { from: Side::Server, bytes: buf })
            }
            4 => {
                ssh::kex_ecdh_init(&mut buf, rng);
                Some(Step::Send { from: Side::Client, bytes: buf })
            }
            5 => {
                ssh::kex_ecdh_reply(&mut buf, rng);
                ssh::newkeys(&mut buf);
                Some(Step::Send { from: Side::Server, bytes: buf })
            }
            6 => {
                ssh::newkeys(&mut buf);
                ssh::encrypted_packet(&mut buf, rng, 17); // SERVICE_REQUEST ssh-userauth
                Some(Step::Send { from: Side::Client, bytes: buf })
            }
            7 => Some(Step::Send { from: Side::Server, bytes: packets(rng, &[17, 40]) }), // SERVICE_ACCEPT, EXT_INFO
            8 => {
                let len = rng.range(380, 460) as usize; // publickey query
                Some(Step::Send { from: Side::Client, bytes: packets(rng, &[len]) })
            }
            9 => {
                let len = rng.range(300, 380) as usize; // PK_OK
                Some(Step::Send { from: Side::Server, bytes: packets(rng, &[len]) })
            }
            10 => {
                let len = rng.range(480, 560) as usize; // the signed request
                Some(Step::Send { from: Side::Client, bytes: packets(rng, &[len]) })
            }
            11 => Some(Step::Send { from: Side::Server, bytes: packets(rng, &[1]) }), // USERAUTH_SUCCESS
            12 => Some(Step::Send { from: Side::Client, bytes: packets(rng, &[24, 80, 30]) }), // open, pty, shell/exec
            13 => Some(Step::Send { from: Side::Server, bytes: packets(rng, &[17, 5, 600]) }), // confirm, ok, motd
            _ => None,
        };
        if handshake.is_some() {
            return handshake;
        }
        match after {
            After::KeyPause => {
                after = After::Key;
                Some(Step::Pause(rng.range(80, 400) * MS))
            }
            After::Key => {
                after = After::Echo;
                Some(Step::Send { from: Side::Client, bytes: packets(rng, &[10]) })
            }
            After::Echo => {
                keys -= 1;
                after = if keys > 0 { After::KeyPause } else { After::Transfer };
                let len = if rng.chance(0.1) { rng.range(40, 1400) } else { rng.range(10, 40) } as usize;
                Some(Step::Send { from: Side::Server, bytes: packets(rng, &[len]) })
            }
            After::Transfer if up > 0 => {
                let n = up.min(32_768);
                up -= n;
                Some(Step::Send { from: Side::Client, bytes: packets(rng, &[n as usize + 9]) })
            }
            After::Transfer if down > 0 => {
                let n = down.min(32_768);
                down -= n;
                Some(Step::Send { from: Side::Server, bytes: packets(rng, &[n as usize + 9]) })
            }
            After::Transfer => {
                after = After::Close;
                Some(Step::Send { from: Side::Client, bytes: packets(rng, &[5, 30]) }) // EOF, DISCONNECT
            }
            After::Close => {
                after = After::Done;
                Some(Step::Close(Side::Client))
            }
            After::Done => None,
        }
    })
}

/// Largest application message a script hands to TCP at once (bigger transfers are split).
const CHUNK: u64 = 64 * 1024;

/// One request and its response inside a session, and the think time after it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub request: u64,
    pub response: u64,
    pub think_ns: u64,
}

/// A TLS 1.2 session (as browsers and Windows services run it): ClientHello with the SNI, the
/// server's flight with a certificate chain of `cert_chain` bytes, the finishing flights, the
/// exchanges as application data (large bodies in 64 KiB pieces), close_notify and FIN.
pub fn tls_session(sni: String, cert_chain: usize, exchanges: Vec<Exchange>) -> Script {
    let mut handshake = 0u32;
    let mut queue = exchanges.into_iter();
    let mut current: Option<(u64, u64, u64)> = None;
    let mut closed = false;
    Box::new(move |rng: &mut Rng| {
        let mut buf = Vec::new();
        if handshake < 4 {
            handshake += 1;
            let from = match handshake {
                1 => {
                    tls::client_hello(&mut buf, rng, &sni);
                    Side::Client
                }
                2 => {
                    tls::server_hello_flight(&mut buf, rng, cert_chain);
                    Side::Server
                }
                3 => {
                    tls::client_finish_flight(&mut buf, rng);
                    Side::Client
                }
                _ => {
                    tls::server_finish_flight(&mut buf, rng);
                    Side::Server
                }
            };
            return Some(Step::Send { from, bytes: buf });
        }
        loop {
            match current.as_mut() {
                None => match queue.next() {
                    Some(e) => current = Some((e.request, e.response, e.think_ns)),
                    None => break,
                },
                Some((req, _, _)) if *req > 0 => {
                    let n = (*req).min(CHUNK);
                    *req -= n;
                    tls::application_data(&mut buf, rng, n as usize);
                    return Some(Step::Send { from: Side::Client, bytes: buf });
                }
                Some((_, resp, _)) if *resp > 0 => {
                    let n = (*resp).min(CHUNK);
                    *resp -= n;
                    tls::application_data(&mut buf, rng, n as usize);
                    return Some(Step::Send { from: Side::Server, bytes: buf });
                }
                Some((_, _, think)) => {
                    let t = *think;
                    current = None;
                    if t > 0 {
                        return Some(Step::Pause(t));
                    }
                }
            }
        }
        if closed {
            return None;
        }
        closed = true;
        tls::alert_close_notify(&mut buf, rng);
        Some(Step::Send { from: Side::Client, bytes: buf })
    })
}

/// Web-like exchanges: `n` requests of a few hundred bytes, responses log-normal around
/// `response_median` bytes (capped at 4 MB), think times around a third of a second.
pub fn web_exchanges(rng: &mut Rng, n: u32, response_median: f64) -> Vec<Exchange> {
    (0..n)
        .map(|_| Exchange {
            request: rng.range(250, 900),
            response: (rng.lognormal(response_median, 1.2) as u64).clamp(200, 4_000_000),
            think_ns: (rng.lognormal(0.3, 1.0) * 1e9) as u64,
        })
        .collect()
}

/// An RDP session: X.224 negotiation, TLS (CredSSP inside it), then `seconds` of use — small input
/// messages from the client, screen updates from the server — and a close.
pub fn rdp_session(user: String, seconds: u64) -> Script {
    let mut stage = 0u32;
    let mut inner: Option<Script> = None;
    Box::new(move |rng: &mut Rng| {
        stage = stage.saturating_add(1);
        let mut buf = Vec::new();
        match stage {
            1 => {
                rdp::x224_connection_request(&mut buf, &user);
                Some(Step::Send { from: Side::Client, bytes: buf })
            }
            2 => {
                rdp::x224_connection_confirm(&mut buf);
                Some(Step::Send { from: Side::Server, bytes: buf })
            }
            _ => {
                let script = inner.get_or_insert_with(|| {
                    // CredSSP (NTLM/Kerberos in TSRequests), then the session: about 4 input events
                    // and 6 screen updates a second on average.
                    let mut exchanges = vec![
                        Exchange { request: rng.range(1_800, 2_600), response: rng.range(200, 400), think_ns: 0 },
                        Exchange { request: rng.range(300, 700), response: rng.range(80, 200), think_ns: 0 },
                    ];
                    let steps = seconds * 4;
                    for _ in 0..steps {
                        exchanges.push(Exchange {
                            request: rng.range(20, 120),
                            response: (rng.lognormal(900.0, 1.1) as u64).clamp(40, 64_000),
                            think_ns: rng.range(100, 400) * MS,
                        });
                    }
                    tls_session(String::new(), rng.range(900, 1_300) as usize, exchanges)
                });
                script(rng)
            }
        }
    })
}

/// A WinRM session over HTTP (5985) as PowerShell remoting runs it: Kerberos authentication, then
/// `commands` encrypted SOAP request/response pairs.
pub fn winrm_session(host: String, realm: String, commands: u32, unix_secs: u64) -> Script {
    let mut stage = 0u32;
    // Wrap-token sequence number: one per message, both directions.
    let mut seq = 0u64;
    let mut done = 0u32;
    let mut reply: Option<usize> = None;
    let mut body: Option<Vec<u8>> = None;
    let mut think = false;
    Box::new(move |rng: &mut Rng| {
        if let Some(bytes) = body.take() {
            return Some(Step::Send { from: Side::Client, bytes });
        }
        stage = stage.saturating_add(1);
        let mut buf = Vec::new();
        if stage == 1 {
            http::winrm_auth_request(&mut buf, rng, &host, &realm);
            return Some(Step::Send { from: Side::Client, bytes: buf });
        }
        if stage == 2 {
            http::winrm_auth_response(&mut buf, rng, unix_secs);
            return Some(Step::Send { from: Side::Server, bytes: buf });
        }
        if let Some(len) = reply.take() {
            http::winrm_response(&mut buf, rng, unix_secs, len, seq);
            seq += 1;
            done += 1;
            think = true;
            return Some(Step::Send { from: Side::Server, bytes: buf });
        }
        if done == commands {
            done += 1;
            return Some(Step::Close(Side::Client));
        }
        if done > commands {
            return None;
        }
        if think {
            think = false;
            return Some(Step::Pause(rng.range(50, 2_000) * MS));
        }
        // Sizes from empire_psremoting_stager_*.cap: requests of 2.3–2.6 KB on the wire (SOAP of
        // about 1.7–2.1 KB inside the encryption framing), now and then a command of 5–12 KB;
        // responses of 1.3–3.2 KB, rarely a large output.
        let request = if rng.chance(0.2) { rng.range(3_000, 12_000) } else { rng.range(1_650, 2_050) } as usize;
        reply = Some(if rng.chance(0.1) { rng.range(3_000, 60_000) } else { rng.range(700, 2_650) } as usize);
        http::winrm_request(&mut buf, rng, &host, request, seq);
        seq += 1;
        // The client (WinHTTP) writes a request's headers and its body with separate sends: on the
        // wire the 290-byte header is a pushed segment of its own, as in the captures.
        body = Some(buf.split_off(http::head_len(&buf)));
        Some(Step::Send { from: Side::Client, bytes: buf })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a script to its end (at most `limit` steps) and returns the bytes each side sent.
    fn drain(mut script: Script, limit: usize) -> (u64, u64, bool) {
        let mut rng = Rng::new(4);
        let (mut client, mut server) = (0u64, 0u64);
        for _ in 0..limit {
            match script(&mut rng) {
                None => return (client, server, true),
                Some(Step::Send { from: Side::Client, bytes }) => client += bytes.len() as u64,
                Some(Step::Send { from: Side::Server, bytes }) => server += bytes.len() as u64,
                Some(_) => {}
            }
        }
        (client, server, false)
    }

    #[test]
    fn every_conversation_ends() {
        let tls =
            tls_session("x.example".into(), 3_000, vec![Exchange { request: 200_000, response: 1_000, think_ns: 5 }]);
        let (c, s, ended) = drain(tls, 10_000);
        assert!(ended, "TLS session must end");
        assert!(c > 200_000 && s > 3_000, "{c} {s}");
        let ssh = ssh_session(SshPlan { upload: 100_000, download: 5_000, keystrokes: 3, windows_client: true });
        let (c, _, ended) = drain(ssh, 10_000);
        assert!(ended && c > 100_000);
        assert!(drain(rdp_session("u".into(), 5), 10_000).2);
        assert!(drain(winrm_session("H".into(), "R".into(), 4, 0), 10_000).2);
    }

    #[test]
    fn a_winrm_request_sends_its_head_and_its_body_apart() {
        let mut script = winrm_session("H".into(), "R".into(), 3, 0);
        let mut rng = Rng::new(5);
        let mut client = Vec::new();
        while let Some(step) = script(&mut rng) {
            if let Step::Send { from: Side::Client, bytes } = step {
                client.push(bytes);
            }
        }
        // The authentication request (no body), then a head and a body per command.
        assert_eq!(client.len(), 1 + 2 * 3);
        for pair in client[1..].chunks(2) {
            assert!(pair[0].starts_with(b"POST /wsman") && pair[0].ends_with(b"\r\n\r\n"));
            assert_eq!(http::head_len(&pair[0]), pair[0].len());
            assert!(pair[1].starts_with(b"--Encrypted Boundary\r\n"), "{:?}", &pair[1][..20]);
            assert!(pair[1].ends_with(b"--Encrypted Boundary--\r\n"));
        }
    }
}
