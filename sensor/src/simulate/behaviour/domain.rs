//! Windows-domain behaviours: what domain members do with their domain controllers and file servers
//! every day, and the lateral movement and credential attacks that use the same protocols.
//!
//! Benign (constructors take a host and return its first action time with the actor):
//! - [`domain_logon`] (each Windows workstation): at the user's first activity of the day the logon
//!   (AS exchange, sometimes after a mistyped password; TGS-REQs for the host, LDAP and CIFS; an LDAP
//!   session; a GPO refresh; often an LSA lookup through the endpoint mapper), then a computer GPO
//!   refresh every 90–120 minutes, day and night, and service tickets now and then.
//! - [`file_server_use`] (each Windows workstation): about three SMB sessions an hour of working time
//!   on a file server (documents of 20 KB–20 MB read or written).
//! - [`nightly_backup`] (each file server): between 01:00 and 04:00 UTC a 200 MB–2 GB upload to the
//!   backup server's share; a scenario that never reaches a night never sees it.
//! - [`dc_replication`] (the first two DCs): DRSUAPI pulls through the endpoint mapper every 5–15
//!   minutes.
//!
//! Attacks (all from a random Windows workstation; variants training | evaluation):
//! - `psexec` (T1569.002): a service binary of 100–400 KB copied over SMB with Kerberos and a
//!   service created and started on one workstation; PsExec itself (PSEXESVC, its stdin/stdout
//!   pipes, the service removed) on 1–3 workstations minutes apart | NTLM with a 1–5 MB binary and a
//!   4-letter service name (Impacket), interactive, one target; NTLM, 1–5 MB, 16–24 character names,
//!   1–3 targets among workstations and file servers.
//! - `wmi_exec` (T1047): Win32_Process.Create through DCOM on one workstation; a chain A→B→C (the
//!   second hop from the first victim, minutes later) | 3–8 ExecMethod calls with 10–40 KB stubs on
//!   1–2 workstations.
//! - `schtask_remote` (T1053.005): Impacket atexec over `\pipe\atsvc` with Kerberos (register, run,
//!   delete, output read from ADMIN$); schtasks.exe /S over the endpoint mapper and a dynamic port
//!   (registered only) | schtasks.exe with SchRpcRun and a SchRpcDelete association minutes later on
//!   2–4 workstations; atexec with NTLM on 1–3 workstations.
//! - `cred_spray` (T1110.003): NTLM SMB logons refused on 20–60 hosts within minutes (1–3 accounts
//!   each); kerbrute-style pre-authenticated AS-REQs at a DC for 20–80 names, one every 0.2–3 s (one
//!   exchange per name), half of the time after a kerbrute `userenum` pass over a wordlist of 60–200
//!   names (an AS-REQ without pre-authentication each, 30–400 ms apart: C_PRINCIPAL_UNKNOWN for most,
//!   PREAUTH_REQUIRED for the 10–40 % that exist, which are then the names sprayed) | Windows-style
//!   Kerberos logons failing at a DC for 30–100 account names, one every 5–40 s (two exchanges per
//!   name; a tenth of the names unknown to the KDC).

use super::windows::{
    self, Account, AsOutcome, AuthKind, Delegation, Document, PsexecPlan, Server, ServiceCleanup, TaskPlan, TaskStart,
    ToolPipes, Transfer, WmiPlan,
};
use super::{Actor, Ctx, Target, VariantSet, activity, benign, meaning, next_active, tcp_session};
use crate::simulate::proto::dcerpc;
use crate::simulate::rng::Rng;
use crate::simulate::scheduler::Spawned;
use crate::simulate::session::{Label, Meaning, Script};
use crate::simulate::site::{Host, Os, Site};
use crate::simulate::tcp::TcpParams;

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

const FIRST_NAMES: [&str; 16] = [
    "anna", "ben", "carla", "david", "elena", "farid", "grace", "hugo", "irene", "jonas", "kim", "lucas", "maria",
    "nadia", "omar", "paula",
];
const LAST_NAMES: [&str; 16] = [
    "berg", "costa", "dubois", "evans", "fischer", "garcia", "hansen", "ito", "jensen", "kowalski", "lopez", "moreau",
    "novak", "olsen", "petrov", "quinn",
];
/// Names sprayers try that no account has.
const UNKNOWN_NAMES: [&str; 8] = ["admin", "test", "backup", "guest1", "svc_sql", "scanner", "helpdesk", "temp"];

/// The account name of user number `n` (first.last, numbered after the first 256).
fn user_name(n: u64) -> String {
    let base = format!("{}.{}", FIRST_NAMES[(n % 16) as usize], LAST_NAMES[(n / 16 % 16) as usize]);
    if n < 256 { base } else { format!("{base}{}", n / 256) }
}

/// The user of a workstation (a stable function of its address).
fn user_of(host: &Host) -> String {
    user_name(u64::from(u32::from(host.ip)).wrapping_mul(2_654_435_761) % 4096)
}

fn account(site: &Site, user: &str, host: &Host) -> Account {
    Account::new(&site.domain, user, &host.name)
}

fn server(host: &Host) -> Server {
    Server { name: host.name.clone(), ip: host.ip, delegation: Delegation::None }
}

/// A domain controller as a server: trusted for unconstrained delegation, as Windows sets it up.
fn dc_server(host: &Host) -> Server {
    Server { delegation: Delegation::ForwardedTgt, ..server(host) }
}

/// The port a host's system service listens on (the first dynamic ports, fixed per host and service).
fn service_port(host: &Host, service: u32) -> u16 {
    49_664 + (u32::from(host.ip).wrapping_mul(2_246_822_519).wrapping_add(service.wrapping_mul(40_503)) % 48) as u16
}

/// The Windows workstations other than `not`.
fn other_workstations(site: &Site, not: &Host) -> Vec<Host> {
    site.workstations.iter().filter(|h| h.os == Os::Windows && h.ip != not.ip).cloned().collect()
}

/// `count` distinct hosts of `pool` (fewer if it is smaller), in random order.
fn choose(pool: &mut Vec<Host>, count: usize, rng: &mut Rng) -> Vec<Host> {
    let count = count.min(pool.len());
    for i in 0..count {
        let j = rng.range(i as u64, pool.len() as u64) as usize;
        pool.swap(i, j);
    }
    pool.truncate(count);
    std::mem::take(pool)
}

fn attacker(site: &Site, rng: &mut Rng) -> Host {
    let windows: Vec<&Host> = site.workstations.iter().filter(|h| h.os == Os::Windows).collect();
    if windows.is_empty() { rng.pick(&site.workstations).clone() } else { (*rng.pick(&windows)).clone() }
}

/// Every benign domain actor of the site with its first action time.
pub fn benign_actors(site: &Site, start: u64, rng: &Rng) -> Vec<(u64, Box<dyn Actor>)> {
    let mut out = Vec::new();
    for (i, ws) in site.workstations.iter().enumerate().filter(|(_, h)| h.os == Os::Windows) {
        let r = rng.derive(i as u64);
        out.push(domain_logon(ws, start, &r.derive(1)));
        out.push(file_server_use(ws, start, &r.derive(2)));
    }
    for (i, fs) in site.file_servers.iter().enumerate() {
        out.push(nightly_backup(fs, start, &rng.derive((1 << 40) + i as u64)));
    }
    if let [a, b, ..] = site.domain_controllers.as_slice() {
        out.push(dc_replication(a, b, start, &rng.derive(1 << 41)));
    }
    out
}

/// Logon, Group Policy and Kerberos traffic of one workstation (see the module doc).
pub fn domain_logon(host: &Host, start: u64, rng: &Rng) -> (u64, Box<dyn Actor>) {
    let mut rng = rng.clone();
    // A run that starts in the working day finds most users logged on already.
    let logged_on = activity(start) >= 1.0 && start % DAY >= 9 * HOUR && rng.chance(0.85);
    let next_logon = if logged_on { next_morning(start, &mut rng) } else { next_active(start, 1.5, &mut rng) };
    let next_gpo = start + rng.range(0, 120 * MINUTE);
    let next_ticket = next_active(start, 0.5, &mut rng);
    let actor = DomainLogon { host: host.clone(), user: user_of(host), next_logon, next_gpo, next_ticket, rng };
    (next_logon.min(next_gpo).min(next_ticket), Box::new(actor))
}

/// The user's first activity of the next day after `now`.
fn next_morning(now: u64, rng: &mut Rng) -> u64 {
    next_active((now / DAY + 1) * DAY + 7 * HOUR, 1.5, rng)
}

/// A computer policy refresh interval: 90 minutes plus a random offset of up to 30.
fn gpo_interval(rng: &mut Rng) -> u64 {
    90 * MINUTE + rng.range(0, 30 * MINUTE)
}

struct DomainLogon {
    host: Host,
    user: String,
    /// When the next interactive logon, policy refresh and service-ticket request are due (each
    /// always after the last action).
    next_logon: u64,
    next_gpo: u64,
    next_ticket: u64,
    rng: Rng,
}

/// The activity sessions of one step of a benign or malicious sequence, started a few ms apart.
struct Burst<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    out: &'a mut Vec<Spawned>,
    from: Host,
    at: u64,
    meaning: Meaning,
}

impl Burst<'_, '_> {
    /// A session to `to:port` running the script `build` makes.
    fn session(&mut self, to: &Host, port: u16, rng: &mut Rng, build: impl FnOnce(&mut Rng) -> Script) {
        let script = build(rng);
        let target = Target::host(to, port, rng);
        let m = self.meaning.clone();
        self.out.push(tcp_session(self.ctx, self.at, &self.from, target, TcpParams::default(), rng, script, m));
        self.at += rng.range(2, 15) * MS;
    }

    fn wait(&mut self, ns: u64) {
        self.at += ns;
    }
}

impl Actor for DomainLogon {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let site = ctx.site;
        let rng = &mut self.rng;
        let dc = rng.pick(&site.domain_controllers).clone();
        let acct = account(site, &self.user, &self.host);
        let fqdn = format!("{}.{}", dc.name, site.domain);
        let dc_as_server = dc_server(&dc);
        let mut b = Burst { ctx, out, from: self.host.clone(), at: now, meaning: benign("domain_logon", &self.host) };
        if now >= self.next_logon {
            if rng.chance(0.04) {
                for s in windows::kerberos_as(&acct, AsOutcome::WrongPassword, now, rng) {
                    b.session(&dc, 88, rng, |_| s);
                }
                b.wait(rng.range(3, 15) * SECOND);
            }
            let at = b.at;
            for s in windows::kerberos_as(&acct, AsOutcome::Ticket, at, rng) {
                b.session(&dc, 88, rng, |_| s);
            }
            for (service, name) in
                [("host", self.host.name.as_str()), ("ldap", fqdn.as_str()), ("cifs", dc.name.as_str())]
            {
                let s = windows::kerberos_tgs(&acct, service, name, rng);
                b.session(&dc, 88, rng, |_| s);
            }
            b.session(&dc, 389, rng, |rng| windows::ldap_query(&acct, &dc_as_server, 3, rng));
            let changed = rng.range(0, 3) as usize;
            let s = windows::gpo_refresh(&acct, &dc_as_server, rng.range(2, 7) as usize, changed, b.at, rng);
            b.session(&dc, 445, rng, |_| s);
            if rng.chance(0.5) {
                let port = service_port(&dc, 1);
                b.session(&dc, 135, rng, |_| windows::epm_map(&acct, &dc_as_server, windows::LSARPC, port));
                let s = windows::lsa_lookup(&acct, &dc_as_server, port, rng.range(1, 4) as u32, rng);
                b.session(&dc, port, rng, |_| s);
            }
            self.next_logon = next_morning(now, rng);
            self.next_gpo = now + gpo_interval(rng);
        } else if now >= self.next_gpo {
            // The computer's policy refresh: its machine account asks LDAP, then reads SYSVOL.
            let machine = account(site, &format!("{}$", self.host.name), &self.host);
            if rng.chance(0.2) {
                b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&machine, "ldap", &fqdn, rng));
            }
            b.session(&dc, 389, rng, |rng| {
                let n = rng.range(1, 4) as u32;
                windows::ldap_query(&machine, &dc_as_server, n, rng)
            });
            let changed = usize::from(rng.chance(0.1));
            let s = windows::gpo_refresh(&machine, &dc_as_server, rng.range(2, 7) as usize, changed, b.at, rng);
            b.session(&dc, 445, rng, |_| s);
            self.next_gpo = now + gpo_interval(rng);
        } else {
            let fs = rng.pick(&site.file_servers).clone();
            let (service, name) =
                if rng.chance(0.7) { ("cifs", fs.name) } else { ("http", format!("intranet.{}", site.domain)) };
            b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&acct, service, &name, rng));
            self.next_ticket = next_active(now, 0.5, rng);
        }
        Some(self.next_logon.min(self.next_gpo).min(self.next_ticket))
    }
}

/// A workstation's SMB sessions with the file servers (see the module doc).
pub fn file_server_use(host: &Host, start: u64, rng: &Rng) -> (u64, Box<dyn Actor>) {
    let mut rng = rng.clone();
    let first = next_active(start, 3.0, &mut rng);
    (first, Box::new(FileServerUse { host: host.clone(), user: user_of(host), rng }))
}

struct FileServerUse {
    host: Host,
    user: String,
    rng: Rng,
}

const SHARES: [&str; 4] = ["Shares", "Departments", "Projects", "Users"];
const EXTENSIONS: [&str; 6] = ["docx", "xlsx", "pdf", "pptx", "txt", "zip"];
const DOCUMENTS: [&str; 8] = ["Budget", "Report", "Minutes", "Proposal", "Invoice", "Roadmap", "Contract", "Review"];

impl Actor for FileServerUse {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let site = ctx.site;
        let fs = rng.pick(&site.file_servers).clone();
        let acct = account(site, &self.user, &self.host);
        let documents: Vec<Document> = (0..rng.range(1, 5))
            .map(|_| {
                let bytes = rng.lognormal(300_000.0, 1.4).clamp(20_000.0, 20_000_000.0) as u64;
                let ext = rng.pick(&EXTENSIONS);
                Document {
                    name: format!(
                        "{}_{}_{:03}.{ext}",
                        rng.pick(&DOCUMENTS),
                        2018 + rng.range(0, 7),
                        rng.range(1, 1_000)
                    ),
                    bytes: ctx.scaled(bytes),
                    transfer: if rng.chance(0.75) { Transfer::Read } else { Transfer::Write },
                }
            })
            .collect();
        let share = *rng.pick(&SHARES);
        let mut b = Burst { ctx, out, from: self.host.clone(), at: now, meaning: benign("file_server", &self.host) };
        if rng.chance(0.2) {
            let dc = rng.pick(&site.domain_controllers).clone();
            b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&acct, "cifs", &fs.name, rng));
        }
        let s = windows::file_server_session(&acct, &server(&fs), share, &documents, b.at, rng);
        b.session(&fs, 445, rng, |_| s);
        Some(next_active(now, 3.0, &mut self.rng))
    }
}

/// The first 01:00–04:00 UTC time at or after `after` (a new random minute each night).
fn next_night(after: u64, rng: &mut Rng) -> u64 {
    let at = after / DAY * DAY + HOUR + rng.range(0, 3 * HOUR);
    if at >= after { at } else { at + DAY }
}

/// A file server's nightly backup to the backup server (see the module doc).
pub fn nightly_backup(host: &Host, start: u64, rng: &Rng) -> (u64, Box<dyn Actor>) {
    let mut rng = rng.clone();
    (next_night(start, &mut rng), Box::new(NightlyBackup { host: host.clone(), rng }))
}

struct NightlyBackup {
    host: Host,
    rng: Rng,
}

impl Actor for NightlyBackup {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let total = ctx.scaled(rng.range(200_000_000, 2_000_000_000));
        let count = rng.range(1, 5);
        let files: Vec<u64> = (0..count).map(|_| (total / count).max(1)).collect();
        let backup = ctx.site.backup.clone();
        let acct = account(ctx.site, "svc_backup", &self.host);
        let script = windows::backup_upload(&acct, &server(&backup), "Backups", &files, now, rng);
        let params = TcpParams { max_cwnd: 512, ..TcpParams::default() };
        let target = Target::host(&backup, 445, rng);
        out.push(tcp_session(ctx, now, &self.host, target, params, rng, script, benign("nightly_backup", &self.host)));
        Some(next_night(now + 12 * HOUR, rng))
    }
}

/// Replication between two domain controllers (see the module doc).
pub fn dc_replication(a: &Host, b: &Host, start: u64, rng: &Rng) -> (u64, Box<dyn Actor>) {
    let mut rng = rng.clone();
    let first = start + rng.range(0, 15 * MINUTE);
    (first, Box::new(DcReplication { pair: [a.clone(), b.clone()], turn: 0, rng }))
}

struct DcReplication {
    pair: [Host; 2],
    turn: usize,
    rng: Rng,
}

impl Actor for DcReplication {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let (from, source) = (self.pair[self.turn].clone(), self.pair[1 - self.turn].clone());
        self.turn = 1 - self.turn;
        let acct = account(ctx.site, &format!("{}$", from.name), &from);
        let port = service_port(&source, 1);
        let changes = rng.lognormal(8_000.0, 1.0).clamp(1_000.0, 400_000.0) as u64;
        let m = benign("dc_replication", &from);
        let mut b = Burst { ctx, out, from, at: now, meaning: m };
        b.session(&source, 135, rng, |_| windows::epm_map(&acct, &server(&source), windows::DRSUAPI, port));
        let s = windows::drs_replication(&acct, &server(&source), port, changes, rng);
        b.session(&source, port, rng, |_| s);
        Some(now + rng.range(5 * MINUTE, 15 * MINUTE))
    }
}

fn random_name(rng: &mut Rng, len: u64, alphabet: &[u8]) -> String {
    (0..len).map(|_| char::from(*rng.pick(alphabet))).collect()
}

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// PsExec-style service execution (see the module doc for the variants).
pub struct Psexec {
    instance: String,
    from: Host,
    user: String,
    targets: Vec<Host>,
    variant: u8,
    rng: Rng,
}

impl Psexec {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> Psexec {
        let from = attacker(site, rng);
        let variant = variants.pick(rng, 2, 2);
        let mut pool = other_workstations(site, &from);
        if variant == 3 {
            pool.extend(site.file_servers.iter().cloned());
        }
        let count = match variant {
            0 | 2 => 1,
            _ => rng.range(1, 4) as usize,
        };
        let targets = choose(&mut pool, count, rng);
        let user = user_of(&from);
        Psexec { instance: format!("psexec#{instance}"), from, user, targets, variant, rng: rng.derive(89) }
    }
}

impl Actor for Psexec {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let to = self.targets.pop()?;
        let rng = &mut self.rng;
        let plan = match self.variant {
            0 => PsexecPlan {
                auth: AuthKind::Kerberos,
                service: {
                    let len = rng.range(6, 11);
                    random_name(rng, len, ALNUM)
                },
                binary_bytes: rng.range(100_000, 400_000),
                pipes: ToolPipes::None,
                io_exchanges: 0,
                cleanup: ServiceCleanup::Keep,
            },
            1 => PsexecPlan {
                auth: AuthKind::Kerberos,
                service: "PSEXESVC".into(),
                binary_bytes: rng.range(180_000, 400_000),
                pipes: ToolPipes::Psexesvc,
                io_exchanges: rng.range(3, 16) as u32,
                cleanup: ServiceCleanup::Delete,
            },
            2 => PsexecPlan {
                auth: AuthKind::Ntlm,
                service: random_name(rng, 4, UPPER),
                binary_bytes: rng.range(1_000_000, 5_000_000),
                pipes: ToolPipes::RemCom,
                io_exchanges: rng.range(2, 11) as u32,
                cleanup: ServiceCleanup::Delete,
            },
            _ => PsexecPlan {
                auth: AuthKind::Ntlm,
                service: {
                    let len = rng.range(16, 25);
                    random_name(rng, len, ALNUM)
                },
                binary_bytes: rng.range(1_000_000, 5_000_000),
                pipes: ToolPipes::None,
                io_exchanges: 0,
                cleanup: ServiceCleanup::Delete,
            },
        };
        let site = ctx.site;
        let acct = account(site, &self.user, &self.from);
        let m = meaning(Label::LateralMovement, self.instance.clone(), "psexec", "T1569.002");
        let mut b = Burst { ctx, out, from: self.from.clone(), at: now, meaning: m };
        if plan.auth == AuthKind::Kerberos {
            let dc = rng.pick(&site.domain_controllers).clone();
            b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&acct, "cifs", &to.name, rng));
        }
        let s = windows::psexec(&acct, &server(&to), &plan, b.at, rng);
        b.session(&to, 445, rng, |_| s);
        (!self.targets.is_empty()).then(|| now + rng.range(2 * MINUTE, 10 * MINUTE))
    }
}

/// Remote execution through WMI (see the module doc for the variants).
pub struct WmiExec {
    instance: String,
    /// The account the attacker uses on every hop.
    user: String,
    /// (from, to) of each execution, in order.
    hops: Vec<(Host, Host)>,
    variant: u8,
    rng: Rng,
}

impl WmiExec {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> WmiExec {
        let from = attacker(site, rng);
        let user = user_of(&from);
        let variant = variants.pick(rng, 2, 1);
        let mut pool = other_workstations(site, &from);
        let mut hops: Vec<(Host, Host)> = match variant {
            0 => choose(&mut pool, 1, rng).into_iter().map(|t| (from.clone(), t)).collect(),
            1 => {
                let chain = choose(&mut pool, 2, rng);
                let mut prev = from;
                chain.into_iter().map(|t| (std::mem::replace(&mut prev, t.clone()), t)).collect()
            }
            _ => {
                let count = rng.range(1, 3) as usize;
                choose(&mut pool, count, rng).into_iter().map(|t| (from.clone(), t)).collect()
            }
        };
        hops.reverse();
        WmiExec { instance: format!("wmi_exec#{instance}"), user, hops, variant, rng: rng.derive(88) }
    }
}

impl Actor for WmiExec {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let (from, to) = self.hops.pop()?;
        let rng = &mut self.rng;
        let plan = WmiPlan {
            port: rng.range(49_700, 65_536) as u16,
            exec_methods: if self.variant == 2 { rng.range(3, 9) as u32 } else { 1 },
            exec_stub_bytes: if self.variant == 2 { rng.range(10_000, 40_000) } else { rng.range(6_000, 8_000) }
                as usize,
        };
        let site = ctx.site;
        let acct = account(site, &self.user, &from);
        let fqdn = format!("{}.{}", to.name, site.domain);
        let dc = rng.pick(&site.domain_controllers).clone();
        let m = meaning(Label::LateralMovement, self.instance.clone(), "wmi_exec", "T1047");
        let wmi = windows::wmi_exec(&acct, &server(&to), &plan, rng);
        let mut b = Burst { ctx, out, from, at: now, meaning: m };
        b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&acct, "RPCSS", &fqdn, rng));
        b.session(&to, 135, rng, |_| wmi.activation);
        b.session(&to, 135, rng, |_| wmi.resolver);
        b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&acct, "host", &fqdn, rng));
        b.session(&to, plan.port, rng, |_| wmi.dcom);
        (!self.hops.is_empty()).then(|| now + rng.range(3 * MINUTE, 10 * MINUTE))
    }
}

/// Remote scheduled tasks (see the module doc for the variants).
pub struct SchtaskRemote {
    instance: String,
    from: Host,
    targets: Vec<Host>,
    variant: u8,
    /// Tasks registered by the variant that deletes them later: (target, path).
    cleanup: Vec<(Host, String)>,
    rng: Rng,
}

impl SchtaskRemote {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> SchtaskRemote {
        let from = attacker(site, rng);
        let variant = variants.pick(rng, 2, 2);
        let count = match variant {
            0 | 1 => 1,
            2 => rng.range(2, 5),
            _ => rng.range(1, 4),
        };
        let targets = choose(&mut other_workstations(site, &from), count as usize, rng);
        SchtaskRemote {
            instance: format!("schtask_remote#{instance}"),
            from,
            targets,
            variant,
            cleanup: Vec::new(),
            rng: rng.derive(87),
        }
    }
}

const TASK_FOLDERS: [&str; 4] = [
    "\\Microsoft\\Windows\\SoftwareProtectionPlatform",
    "\\Microsoft\\Windows\\UpdateOrchestrator",
    "",
    "\\Microsoft\\Windows\\WDI",
];

impl Actor for SchtaskRemote {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let site = ctx.site;
        let acct = account(site, &user_of(&self.from), &self.from);
        let m = meaning(Label::LateralMovement, self.instance.clone(), "schtask_remote", "T1053.005");
        let dc = rng.pick(&site.domain_controllers).clone();
        let Some(to) = self.targets.pop() else {
            // Clean-up round of the variant that deletes its tasks.
            let (to, path) = self.cleanup.pop()?;
            let port = service_port(&to, 2);
            let mut b = Burst { ctx, out, from: self.from.clone(), at: now, meaning: m };
            b.session(&to, 135, rng, |_| windows::epm_map(&acct, &server(&to), dcerpc::ITASK_SCHEDULER, port));
            b.session(&to, port, rng, |_| windows::schtask_delete_tcp(&acct, &server(&to), port, &path));
            return (!self.cleanup.is_empty()).then(|| now + rng.range(10 * SECOND, 60 * SECOND));
        };
        let name = match self.variant {
            0 | 3 => random_name(rng, 8, ALNUM),
            _ => ["EventCacheManager", "SvcRestartTask", "UpdateCheck", "TelemetryUpload"][rng.range(0, 4) as usize]
                .into(),
        };
        let plan = TaskPlan {
            path: format!("{}\\{name}", rng.pick(&TASK_FOLDERS)),
            command: "C:\\Windows\\System32\\cmd.exe".into(),
            arguments: match self.variant {
                0 | 3 => format!("/C whoami /all > C:\\Windows\\Temp\\{:08x}.tmp 2>&1", rng.next_u32()),
                _ => format!("/C C:\\Windows\\Temp\\{}.exe", random_name(rng, 6, ALNUM)),
            },
            author: format!(
                "{}\\{}",
                site.domain.split('.').next().unwrap_or("CORP").to_uppercase(),
                user_of(&self.from)
            ),
            start: if self.variant == 1 { TaskStart::OnTrigger } else { TaskStart::Now },
            output_bytes: if matches!(self.variant, 0 | 3) { rng.range(200, 20_000) } else { 0 },
        };
        let mut b = Burst { ctx, out, from: self.from.clone(), at: now, meaning: m };
        let fqdn = format!("{}.{}", to.name, site.domain);
        match self.variant {
            0 | 3 => {
                let auth = if self.variant == 0 { AuthKind::Kerberos } else { AuthKind::Ntlm };
                if auth == AuthKind::Kerberos {
                    b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&acct, "cifs", &to.name, rng));
                }
                let s = windows::schtask_create(&acct, &server(&to), auth, &plan, b.at, rng);
                b.session(&to, 445, rng, |_| s);
            }
            _ => {
                let port = service_port(&to, 2);
                b.session(&dc, 88, rng, |rng| windows::kerberos_tgs(&acct, "HOST", &fqdn, rng));
                b.session(&to, 135, rng, |_| windows::epm_map(&acct, &server(&to), dcerpc::ITASK_SCHEDULER, port));
                b.session(&to, port, rng, |rng| windows::schtask_create_tcp(&acct, &server(&to), port, &plan, rng));
                if self.variant == 2 {
                    self.cleanup.push((to, plan.path));
                }
            }
        }
        if !self.targets.is_empty() {
            return Some(now + rng.range(30 * SECOND, 5 * MINUTE));
        }
        (!self.cleanup.is_empty()).then(|| now + rng.range(MINUTE, 5 * MINUTE))
    }
}

/// Password spraying (see the module doc for the variants).
pub struct CredSpray {
    instance: String,
    from: Host,
    variant: u8,
    /// SMB variant: the hosts; Kerberos variants: unused.
    targets: Vec<Host>,
    /// Account names still to try.
    users: Vec<String>,
    /// Kerbrute variant: the user enumeration's wordlist still to probe before the spray, with
    /// whether the KDC knows the name (empty when the spray starts without one).
    probes: Vec<(String, bool)>,
    rng: Rng,
}

impl CredSpray {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> CredSpray {
        let from = attacker(site, rng);
        let variant = variants.pick(rng, 2, 1);
        let mut probes = Vec::new();
        let (targets, users) = if variant == 0 {
            let mut pool: Vec<Host> = other_workstations(site, &from);
            pool.extend(site.servers().filter(|h| h.os == Os::Windows).cloned());
            let hosts = choose(&mut pool, rng.range(20, 61) as usize, rng);
            let users = (0..rng.range(1, 4)).map(|_| user_name(rng.range(0, 4096))).collect();
            (hosts, users)
        } else if variant == 1 && rng.chance(0.5) {
            // A wordlist in another name format than the site's (initial and surname) with the
            // site's real names among it: the ones the KDC knows are sprayed afterwards.
            let known_share = rng.range(10, 41) as f64 / 100.0;
            probes = (0..rng.range(60, 201))
                .map(|_| {
                    if rng.chance(known_share) {
                        (user_name(rng.range(0, 4096)), true)
                    } else {
                        let first = rng.pick(&FIRST_NAMES);
                        (format!("{}{}", &first[..1], rng.pick(&LAST_NAMES)), false)
                    }
                })
                .collect();
            if !probes.iter().any(|(_, known)| *known) {
                probes.push((user_name(rng.range(0, 4096)), true));
            }
            let users = probes.iter().filter(|(_, known)| *known).map(|(name, _)| name.clone()).collect();
            probes.reverse();
            (Vec::new(), users)
        } else {
            let names = if variant == 1 { rng.range(20, 81) } else { rng.range(30, 101) };
            let users = (0..names)
                .map(|_| {
                    if rng.chance(0.1) {
                        (*rng.pick(&UNKNOWN_NAMES)).to_string()
                    } else {
                        user_name(rng.range(0, 4096))
                    }
                })
                .collect();
            (Vec::new(), users)
        };
        CredSpray {
            instance: format!("cred_spray#{instance}"),
            from,
            variant,
            targets,
            users,
            probes,
            rng: rng.derive(86),
        }
    }
}

impl Actor for CredSpray {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let site = ctx.site;
        let m = meaning(Label::LateralMovement, self.instance.clone(), "cred_spray", "T1110.003");
        let mut b = Burst { ctx, out, from: self.from.clone(), at: now, meaning: m };
        if self.variant == 0 {
            for host in std::mem::take(&mut self.targets) {
                for user in &self.users {
                    let acct = account(site, user, &self.from);
                    let s = windows::smb_logon_spray(&acct, &server(&host), b.at, rng);
                    b.session(&host, 445, rng, |_| s);
                    b.wait(rng.range(300, 5_000) * MS);
                }
            }
            return None;
        }
        if let Some((user, known)) = self.probes.pop() {
            let acct = account(site, &user, &self.from);
            let dc = rng.pick(&site.domain_controllers).clone();
            let s = windows::kerberos_as_probe(&acct, known, now, rng);
            b.session(&dc, 88, rng, |_| s);
            return Some(now + rng.range(30 * MS, 400 * MS));
        }
        let user = self.users.pop()?;
        let acct = account(site, &user, &self.from);
        let outcome =
            if UNKNOWN_NAMES.contains(&user.as_str()) { AsOutcome::UnknownUser } else { AsOutcome::WrongPassword };
        let next = if self.variant == 1 {
            let dc = rng.pick(&site.domain_controllers).clone();
            let s = windows::kerberos_as_preauth(&acct, outcome, now, rng);
            b.session(&dc, 88, rng, |_| s);
            rng.range(200 * MS, 3 * SECOND)
        } else {
            let dc = site.domain_controllers[0].clone();
            for s in windows::kerberos_as(&acct, outcome, now, rng) {
                b.session(&dc, 88, rng, |_| s);
            }
            rng.range(5 * SECOND, 40 * SECOND)
        };
        (!self.users.is_empty()).then(|| now + next)
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::{BTreeSet, BinaryHeap, HashMap};
    use std::net::Ipv4Addr;

    use super::*;
    use crate::capture::LinkType;
    use crate::capture::pcap_write::{PcapWriter, TsResolution};
    use crate::simulate::scheduler::{Scheduler, SessionSource, TruthRecord};

    /// 2024-03-04 (a Monday) 00:00 UTC.
    const MONDAY: u64 = 1_709_510_400_000_000_000;

    /// Runs `actor` from `first` until it stops or `until`; returns the sessions it started.
    fn run_actor(site: &Site, variants: VariantSet, first: u64, until: u64, mut actor: Box<dyn Actor>) -> Vec<Spawned> {
        let mut ports = HashMap::new();
        let mut out = Vec::new();
        let mut t = first;
        for _ in 0..10_000 {
            let mut ctx = Ctx::new(site, variants, 0.001, until, &mut ports);
            match actor.act(t, &mut ctx, &mut out) {
                Some(next) if next < until => t = next.max(t + 1),
                _ => break,
            }
        }
        out
    }

    fn server_ports(sessions: &[Spawned]) -> BTreeSet<u16> {
        sessions.iter().map(|s| s.session.key().server_port).collect()
    }

    type AttackNew = fn(u32, &Site, VariantSet, &mut Rng) -> Box<dyn Actor>;

    fn attacks() -> [(&'static str, &'static str, AttackNew); 4] {
        [
            ("psexec", "T1569.002", |i, s, v, r| Box::new(Psexec::new(i, s, v, r))),
            ("wmi_exec", "T1047", |i, s, v, r| Box::new(WmiExec::new(i, s, v, r))),
            ("schtask_remote", "T1053.005", |i, s, v, r| Box::new(SchtaskRemote::new(i, s, v, r))),
            ("cred_spray", "T1110.003", |i, s, v, r| Box::new(CredSpray::new(i, s, v, r))),
        ]
    }

    #[test]
    fn attacks_label_their_sessions_and_use_windows_ports() {
        let site = Site::new(80, &mut Rng::new(1));
        for (name, technique, new) in attacks() {
            for variants in [VariantSet::Train, VariantSet::Eval] {
                let mut all_ports = BTreeSet::new();
                for seed in 0..12 {
                    let actor = new(seed, &site, variants, &mut Rng::new(seed as u64));
                    let sessions = run_actor(&site, variants, MONDAY + 10 * HOUR, MONDAY + DAY, actor);
                    assert!(!sessions.is_empty(), "{name} {variants:?} #{seed} started nothing");
                    let from: BTreeSet<Ipv4Addr> = sessions.iter().map(|s| s.session.key().client).collect();
                    for s in &sessions {
                        let m = &s.meaning;
                        assert_eq!((m.label, m.behaviour, m.technique), (Label::LateralMovement, name, technique));
                        assert_eq!(m.scenario, format!("{name}#{seed}"));
                        let port = s.session.key().server_port;
                        assert!(matches!(port, 88 | 135 | 445 | 49_152..), "{name}: port {port}");
                    }
                    // Only the WMI chain pivots through its first victim.
                    assert!(from.len() == 1 || name == "wmi_exec", "{name}: sources {from:?}");
                    all_ports.extend(server_ports(&sessions));
                }
                let dynamic = all_ports.iter().any(|p| *p >= 49_152);
                match name {
                    "psexec" => assert!(all_ports.contains(&445) && !dynamic, "{all_ports:?}"),
                    "wmi_exec" => assert!(all_ports.is_superset(&[88, 135].into()) && dynamic, "{all_ports:?}"),
                    "schtask_remote" => assert!(all_ports.is_superset(&[88, 135, 445].into()) && dynamic),
                    _ => {
                        // Training sprays SMB logons or Kerberos at a DC; evaluation only Kerberos.
                        let expected = if variants == VariantSet::Train { [88, 445].into() } else { [88].into() };
                        assert_eq!(all_ports, expected, "{variants:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn smb_spray_touches_tens_of_hosts_within_minutes() {
        let site = Site::new(120, &mut Rng::new(2));
        let actor = Box::new(CredSpray::new(0, &site, VariantSet::Train, &mut Rng::new(5)));
        let sessions = run_actor(&site, VariantSet::Train, MONDAY + 10 * HOUR, MONDAY + DAY, actor);
        let hosts: BTreeSet<Ipv4Addr> = sessions.iter().map(|s| s.session.key().server).collect();
        assert!((20..=60).contains(&hosts.len()), "{} hosts", hosts.len());
        let last = sessions.iter().filter_map(|s| s.session.next_ts()).max().unwrap();
        assert!(last - (MONDAY + 10 * HOUR) < 20 * MINUTE);
    }

    #[test]
    fn both_kerberos_sprays_fail_at_a_dc_once_or_twice_per_name() {
        let site = Site::new(120, &mut Rng::new(2));
        let dcs: BTreeSet<Ipv4Addr> = site.domain_controllers.iter().map(|h| h.ip).collect();
        // Seeds whose training pick is the kerbrute variant (the other is the SMB spray), without
        // a user enumeration first.
        let kerbrute = (0..50u64)
            .map(|seed| CredSpray::new(0, &site, VariantSet::Train, &mut Rng::new(seed)))
            .find(|a| a.variant == 1 && a.probes.is_empty())
            .expect("a seed picks the kerbrute variant");
        let names = kerbrute.users.len();
        let eval = CredSpray::new(0, &site, VariantSet::Eval, &mut Rng::new(5));
        assert_eq!(eval.variant, 2);
        let eval_names = eval.users.len();
        let start = MONDAY + 10 * HOUR;
        for (actor, names, per_name, max_minutes) in [(kerbrute, names, 1..=1, 5), (eval, eval_names, 1..=2, 70)] {
            let sessions = run_actor(&site, VariantSet::Train, start, MONDAY + DAY, Box::new(actor));
            assert!(
                sessions.iter().all(|s| dcs.contains(&s.session.key().server) && s.session.key().server_port == 88)
            );
            assert!(
                sessions.len() >= names * per_name.start() && sessions.len() <= names * per_name.end(),
                "{} sessions for {names} names",
                sessions.len()
            );
            let last = sessions.iter().filter_map(|s| s.session.next_ts()).max().unwrap();
            assert!(last - start < max_minutes * MINUTE, "{} s", (last - start) / SECOND);
        }
    }

    #[test]
    fn kerbrute_enumerates_names_then_sprays_the_ones_that_exist() {
        let site = Site::new(120, &mut Rng::new(2));
        let actor = (0..50u64)
            .map(|seed| CredSpray::new(0, &site, VariantSet::Train, &mut Rng::new(seed)))
            .find(|a| !a.probes.is_empty())
            .expect("a seed picks the kerbrute variant with a user enumeration");
        let (probes, known) = (actor.probes.len(), actor.probes.iter().filter(|(_, known)| *known).count());
        assert!((60..=201).contains(&probes) && known >= 1 && known < probes, "{known} of {probes}");
        assert_eq!(actor.users.len(), known);
        let start = MONDAY + 10 * HOUR;
        let sessions = run_actor(&site, VariantSet::Train, start, MONDAY + DAY, Box::new(actor));
        assert_eq!(sessions.len(), probes + known);
        assert!(sessions.iter().all(|s| s.session.key().server_port == 88));
        let last = sessions.iter().filter_map(|s| s.session.next_ts()).max().unwrap();
        assert!(last - start < 15 * MINUTE, "{} s", (last - start) / SECOND);
    }

    #[test]
    fn workstation_logon_and_policy_refresh() {
        let site = Site::new(20, &mut Rng::new(3));
        let dcs: BTreeSet<Ipv4Addr> = site.domain_controllers.iter().map(|h| h.ip).collect();
        let mut ports = BTreeSet::new();
        for (i, ws) in site.workstations.iter().take(4).enumerate() {
            // From Monday 06:00: the morning logon, then refreshes every 90–120 minutes.
            let (first, actor) = domain_logon(ws, MONDAY + 6 * HOUR, &Rng::new(i as u64));
            let sessions = run_actor(&site, VariantSet::Train, first, MONDAY + 18 * HOUR, actor);
            assert!(sessions.iter().all(|s| s.meaning.label == Label::Benign && s.meaning.behaviour == "domain_logon"));
            assert!(sessions.iter().all(|s| dcs.contains(&s.session.key().server)));
            let smb = sessions.iter().filter(|s| s.session.key().server_port == 445).count();
            // 12 hours: the logon's refresh and one every 90–120 minutes.
            assert!((6..=10).contains(&smb), "{smb} GPO refreshes");
            ports.extend(server_ports(&sessions));
        }
        // Half the logons also look names up through the endpoint mapper and the LSA port.
        assert!(ports.is_superset(&[88, 135, 389, 445].into()) && ports.iter().any(|p| *p >= 49_664), "{ports:?}");
    }

    #[test]
    fn a_week_of_domain_traffic_stays_bounded() {
        let site = Site::new(20, &mut Rng::new(3));
        let (first, actor) = domain_logon(&site.workstations[1], MONDAY + 11 * HOUR, &Rng::new(12));
        let sessions = run_actor(&site, VariantSet::Train, first, MONDAY + 7 * DAY, actor);
        // Per day: 12–16 policy refreshes (2–3 sessions each), ~5 tickets, one logon of ~10
        // sessions on working days. A logon put off by a quiet weekend must not fire in a loop.
        assert!((150..700).contains(&sessions.len()), "{} sessions", sessions.len());
        let saturday = MONDAY + 5 * DAY..MONDAY + 6 * DAY;
        let smb = sessions
            .iter()
            .filter(|s| s.session.key().server_port == 445)
            .filter(|s| s.session.next_ts().is_some_and(|t| saturday.contains(&t)))
            .count();
        assert!((11..=17).contains(&smb), "{smb} refreshes on Saturday");
    }

    #[test]
    fn backups_run_at_night_to_the_backup_server() {
        let site = Site::new(400, &mut Rng::new(5));
        let fs = &site.file_servers[1];
        let (first, actor) = nightly_backup(fs, MONDAY + 10 * HOUR, &Rng::new(6));
        assert!((MONDAY + DAY + HOUR..MONDAY + DAY + 4 * HOUR).contains(&first));
        let sessions = run_actor(&site, VariantSet::Train, first, MONDAY + 4 * DAY, actor);
        assert_eq!(sessions.len(), 3);
        for s in &sessions {
            let key = s.session.key();
            assert_eq!((key.client, key.server, key.server_port), (fs.ip, site.backup.ip, 445));
            assert!((HOUR..4 * HOUR + MINUTE).contains(&(s.session.next_ts().unwrap() % DAY)));
        }
    }

    #[test]
    fn file_server_use_follows_the_working_day() {
        let site = Site::new(20, &mut Rng::new(7));
        let (first, actor) = file_server_use(&site.workstations[3], MONDAY, &Rng::new(8));
        let sessions = run_actor(&site, VariantSet::Train, first, MONDAY + DAY, actor);
        let smb: Vec<u64> = sessions
            .iter()
            .filter(|s| s.session.key().server_port == 445)
            .filter_map(|s| s.session.next_ts())
            .collect();
        let working = smb.iter().filter(|t| (8..18).contains(&(*t % DAY / HOUR))).count();
        assert!(smb.len() >= 15 && working * 10 >= smb.len() * 8, "{working} of {}", smb.len());
    }

    /// The domain actors and one instance of each attack, as a scheduler source.
    struct Source {
        site: Site,
        actors: Vec<Box<dyn Actor>>,
        queue: BinaryHeap<Reverse<(u64, usize)>>,
        ports: HashMap<Ipv4Addr, u16>,
        end: u64,
    }

    impl SessionSource for Source {
        fn next_start(&self) -> Option<u64> {
            self.queue.peek().map(|Reverse((t, _))| *t).filter(|t| *t < self.end)
        }

        fn spawn(&mut self, out: &mut Vec<Spawned>) {
            let Some(Reverse((t, i))) = self.queue.pop() else { return };
            let mut ctx = Ctx::new(&self.site, VariantSet::Eval, 0.002, self.end, &mut self.ports);
            if let Some(next) = self.actors[i].act(t, &mut ctx, out) {
                self.queue.push(Reverse((next.max(t + 1), i)));
            }
        }
    }

    /// A night and a morning of a small domain with every attack variant, written to a pcap that
    /// tshark must read without a malformed packet, an error or a TCP analysis problem.
    #[test]
    fn a_domain_capture_dissects_cleanly() {
        let site = Site::new(12, &mut Rng::new(9));
        let start = MONDAY + 30 * MINUTE;
        let mut timed = benign_actors(&site, start, &Rng::new(10));
        let mut rng = Rng::new(11);
        for (k, (_, _, new)) in attacks().into_iter().enumerate() {
            for (j, variants) in
                [VariantSet::Train, VariantSet::Train, VariantSet::Eval, VariantSet::Eval].into_iter().enumerate()
            {
                let at = start + (k * 4 + j) as u64 * 20 * MINUTE;
                timed.push((at, new((k * 4 + j) as u32, &site, variants, &mut rng)));
            }
        }
        let mut source =
            Source { site, actors: Vec::new(), queue: BinaryHeap::new(), ports: HashMap::new(), end: start + 8 * HOUR };
        for (i, (t, a)) in timed.into_iter().enumerate() {
            source.queue.push(Reverse((t, i)));
            source.actors.push(a);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("domain.pcap");
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut writer = PcapWriter::new(file, LinkType::Ethernet, 65_535, TsResolution::Nano).unwrap();
        let mut scheduler = Scheduler::new(source);
        let mut frame = Vec::new();
        let mut truth: Vec<TruthRecord> = Vec::new();
        while let Some(ts) = scheduler.next_frame(&mut frame, &mut |t| truth.push(t)) {
            writer.write_packet(ts, frame.len() as u32, &frame).unwrap();
        }
        drop(writer);
        let behaviours: BTreeSet<&str> = truth.iter().map(|t| t.meaning.behaviour).collect();
        for b in [
            "domain_logon",
            "file_server",
            "nightly_backup",
            "dc_replication",
            "psexec",
            "wmi_exec",
            "schtask_remote",
            "cred_spray",
        ] {
            assert!(behaviours.contains(b), "no {b} session in {behaviours:?}");
        }
        let Ok(out) = std::process::Command::new("tshark")
            .args(["-n", "-o", "tcp.check_checksum:TRUE", "-r"])
            .arg(&path)
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= error || tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment || tcp.analysis.out_of_order"])
            .output()
        else {
            eprintln!("tshark not found: the capture was not dissected");
            return;
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let flagged = String::from_utf8_lossy(&out.stdout);
        assert!(
            flagged.trim().is_empty(),
            "tshark flags:\n{}",
            flagged.lines().take(40).collect::<Vec<_>>().join("\n")
        );
    }
}
