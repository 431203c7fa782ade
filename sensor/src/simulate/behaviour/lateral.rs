//! Lateral movement: an attacker on one host reaching others.
//!
//! Variants (training | evaluation):
//! - `internal_scan`: SMB/RPC ports of 50–120 hosts, fast | admin ports (SSH, RDP, WinRM) of 30–80
//!   hosts, slow and randomised.
//! - `ssh_pivot`: a chain workstation → Linux server → another Linux server, minutes apart, with a
//!   tool upload at each hop | the same with three hops and interactive use only.
//! - `rdp_lateral`: RDP from one workstation to another for 2–10 minutes | 10–30 minutes, to a server.
//! - `winrm_lateral`: PowerShell remoting (WinRM over HTTP, Kerberos) to another workstation, 5–40
//!   commands | to 2–4 hosts in turn, 40–150 commands each.

use super::conversations::{SshPlan, rdp_session, ssh_session, winrm_session};
use super::{Actor, Ctx, Target, VariantSet, meaning, tcp_session};
use crate::simulate::rng::Rng;
use crate::simulate::scheduler::Spawned;
use crate::simulate::session::Label;
use crate::simulate::site::{Host, Os, Site};
use crate::simulate::tcp::TcpParams;

/// Connection sweep from a compromised workstation over other workstations and servers.
pub struct InternalScan {
    instance: String,
    host: Host,
    variant: u8,
    rng: Rng,
}

impl InternalScan {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> InternalScan {
        let host = rng.pick(&site.workstations).clone();
        let variant = variants.pick(rng, 1, 1);
        InternalScan { instance: format!("internal_scan#{instance}"), host, variant, rng: rng.derive(97) }
    }
}

impl Actor for InternalScan {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let (count, ports, spacing): (u64, &[u16], u64) = match self.variant {
            0 => (rng.range(50, 120), &[445, 135, 139], 5_000_000),
            _ => (rng.range(30, 80), &[22, 3389, 5985, 5986], 400_000_000),
        };
        let mut targets: Vec<Host> =
            ctx.site.workstations.iter().chain(ctx.site.servers()).filter(|h| h.ip != self.host.ip).cloned().collect();
        // A partial shuffle picks `count` distinct targets.
        let count = (count as usize).min(targets.len());
        for i in 0..count {
            let j = rng.range(i as u64, targets.len() as u64) as usize;
            targets.swap(i, j);
        }
        targets.truncate(count);
        let instance = self.instance.clone();
        let mut m = |_h: &Host| meaning(Label::LateralMovement, instance.clone(), "internal_scan", "T1046");
        super::scan::sweep(ctx, now, &self.host, &targets, ports, spacing, rng, &mut m, out);
        None
    }
}

/// An SSH pivot chain: A→B, then from B to C a few minutes later (and C→D for the longer variant).
pub struct SshPivot {
    instance: String,
    chain: Vec<Host>,
    hop: usize,
    variant: u8,
    rng: Rng,
}

impl SshPivot {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> SshPivot {
        let variant = variants.pick(rng, 1, 1);
        let linux: Vec<Host> = site.servers().filter(|h| h.os == Os::Linux).cloned().collect();
        let hops = if variant == 0 { 2 } else { 3 };
        let mut chain = vec![rng.pick(&site.workstations).clone()];
        for _ in 0..hops {
            let options: Vec<&Host> = linux.iter().filter(|h| !chain.contains(h)).collect();
            if let Some(h) = options.get(rng.range(0, options.len() as u64) as usize) {
                chain.push((*h).clone());
            }
        }
        SshPivot { instance: format!("ssh_pivot#{instance}"), chain, hop: 0, variant, rng: rng.derive(95) }
    }
}

impl Actor for SshPivot {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let (Some(from), Some(to)) = (self.chain.get(self.hop), self.chain.get(self.hop + 1)) else { return None };
        let rng = &mut self.rng;
        let plan = SshPlan {
            keystrokes: rng.range(30, 200) as u32,
            upload: if self.variant == 0 { rng.range(200_000, 3_000_000) } else { 0 },
            download: rng.range(5_000, 50_000),
            windows_client: from.os == Os::Windows,
        };
        let target = Target::host(to, 22, rng);
        let m = meaning(Label::LateralMovement, self.instance.clone(), "ssh_pivot", "T1021.004");
        let from = from.clone();
        out.push(tcp_session(ctx, now, &from, target, TcpParams::default(), rng, ssh_session(plan), m));
        self.hop += 1;
        Some(now + rng.range(120, 600) * 1_000_000_000)
    }
}

fn other_workstation(site: &Site, not: &Host, rng: &mut Rng) -> Host {
    loop {
        let h = rng.pick(&site.workstations);
        if h.ip != not.ip || site.workstations.len() == 1 {
            return h.clone();
        }
    }
}

/// RDP between workstations (or to a server).
pub struct RdpLateral {
    instance: String,
    from: Host,
    to: Host,
    variant: u8,
    rng: Rng,
}

impl RdpLateral {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> RdpLateral {
        let from = rng.pick(&site.workstations).clone();
        let variant = variants.pick(rng, 1, 1);
        let to = if variant == 0 {
            other_workstation(site, &from, rng)
        } else {
            let windows: Vec<Host> = site.servers().filter(|h| h.os == Os::Windows).cloned().collect();
            rng.pick(&windows).clone()
        };
        RdpLateral { instance: format!("rdp_lateral#{instance}"), from, to, variant, rng: rng.derive(91) }
    }
}

impl Actor for RdpLateral {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let seconds = ctx.scaled(if self.variant == 0 { rng.range(120, 600) } else { rng.range(600, 1_800) });
        let target = Target::host(&self.to, 3389, rng);
        let m = meaning(Label::LateralMovement, self.instance.clone(), "rdp_lateral", "T1021.001");
        out.push(tcp_session(
            ctx,
            now,
            &self.from,
            target,
            TcpParams::default(),
            rng,
            rdp_session("admin".into(), seconds),
            m,
        ));
        None
    }
}

/// PowerShell remoting to other hosts.
pub struct WinrmLateral {
    instance: String,
    from: Host,
    targets: Vec<Host>,
    variant: u8,
    rng: Rng,
}

impl WinrmLateral {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> WinrmLateral {
        let from = rng.pick(&site.workstations).clone();
        let variant = variants.pick(rng, 1, 1);
        let count = if variant == 0 { 1 } else { rng.range(2, 5) };
        let targets = (0..count).map(|_| other_workstation(site, &from, rng)).collect();
        WinrmLateral { instance: format!("winrm_lateral#{instance}"), from, targets, variant, rng: rng.derive(90) }
    }
}

impl Actor for WinrmLateral {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let to = self.targets.pop()?;
        let rng = &mut self.rng;
        let commands = if self.variant == 0 { rng.range(5, 41) } else { rng.range(40, 151) } as u32;
        let script = winrm_session(to.name.clone(), ctx.site.domain.to_uppercase(), commands, now / 1_000_000_000);
        let target = Target::host(&to, 5985, rng);
        let m = meaning(Label::LateralMovement, self.instance.clone(), "winrm_lateral", "T1021.006");
        out.push(tcp_session(ctx, now, &self.from, target, TcpParams::default(), rng, script, m));
        (!self.targets.is_empty()).then(|| now + rng.range(60, 400) * 1_000_000_000)
    }
}
