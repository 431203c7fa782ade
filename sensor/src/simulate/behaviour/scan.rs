//! TCP connection sweeps over hosts and ports, shared by the authorised scanner and attackers.
//!
//! Windows workstations answer on 135, 139 and 445 (domain firewall profile), some on 3389 and 5985,
//! Linux hosts on 22; other ports are mostly dropped (unanswered, the SYN retried) and sometimes
//! refused. An open port is connected and reset at once, as connect scanners do.

use super::{Ctx, Target, tcp_session};
use crate::simulate::rng::Rng;
use crate::simulate::scheduler::Spawned;
use crate::simulate::session::{Meaning, Side, Step, script_of};
use crate::simulate::site::{Host, Os};
use crate::simulate::tcp::{Connect, TcpParams};

/// How `host` answers a connection to `port`.
pub fn answer(host: &Host, port: u16, rng: &mut Rng) -> Connect {
    let open = match (host.os, port) {
        (Os::Windows, 135 | 139 | 445) => true,
        (Os::Windows, 3389) => rng.chance(0.3),
        (Os::Windows, 5985) => rng.chance(0.2),
        (Os::Linux, 22) => true,
        _ => false,
    };
    if open {
        Connect::Accepted
    } else if rng.chance(0.3) {
        Connect::Refused
    } else {
        Connect::Unanswered
    }
}

/// One connection attempt per (host, port), `spacing_ns` apart, starting at `now`.
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    ctx: &mut Ctx<'_>,
    now: u64,
    from: &Host,
    targets: &[Host],
    ports: &[u16],
    spacing_ns: u64,
    rng: &mut Rng,
    meaning: &mut dyn FnMut(&Host) -> Meaning,
    out: &mut Vec<Spawned>,
) {
    let mut t = now;
    for host in targets {
        for &port in ports {
            let connect = answer(host, port, rng);
            let params = TcpParams { connect, ..TcpParams::default() };
            let target = Target::host(host, port, rng);
            let script = script_of(vec![Step::Reset(Side::Client)]);
            out.push(tcp_session(ctx, t, from, target, params, rng, script, meaning(host)));
            t += spacing_ns + rng.range(0, spacing_ns / 2 + 1);
        }
    }
}
