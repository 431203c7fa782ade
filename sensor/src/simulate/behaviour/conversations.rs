//! Application conversations as session scripts, shared by benign behaviours and attacks: the same
//! SSH session model serves an administrator and an attacker, so a model must tell them apart by
//! behaviour, not by packet format.

use crate::simulate::proto::ssh;
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
        stage += 1;
        let handshake = match stage {
            1 => {
                ssh::banner(&mut buf, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6");
                Some(Step::Send { from: Side::Server, bytes: buf })
            }
            2 => {
                let software =
                    if plan.windows_client { "SSH-2.0-OpenSSH_for_Windows_8.1" } else { "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6" };
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
