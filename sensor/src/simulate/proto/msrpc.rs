//! NDR stub data (C706 ch. 14; NDR64 of MS-RPCE §2.2.5) of the RPC operations lateral movement uses,
//! byte-exact where Wireshark dissects them, to go inside [`super::dcerpc`] REQUEST/RESPONSE PDUs:
//!
//! - EPM `ept_map` (opnum 3), NDR64 as Windows sends it: a query tower for an interface over TCP and
//!   the answer tower naming the dynamic port and address (measured in every OTRF capture with EPM:
//!   stubs of 144 and 148 bytes, towers of 75).
//! - SVCCTL (MS-SCMR, NDR32): ROpenSCManagerW (15), RCreateServiceW (12), RStartServiceW (19),
//!   RCloseServiceHandle (0); handles are 20-byte context handles.
//! - ITaskSchedulerService (MS-TSCH): SchRpcHighestVersion (0), SchRpcRegisterTask (1) with a task
//!   XML of the size Windows tools register (the `schtask_create_*` request was 3184 stub bytes).
//!
//! Pointer referent ids follow Windows: 0x00020000 upwards in steps of 4 in NDR32, 1, 2, 3… in NDR64.

use super::dcerpc::{Interface, NDR32, Syntax, Uuid};
use crate::simulate::rng::Rng;
use std::net::Ipv4Addr;

/// Operation numbers.
pub const EPT_MAP: u16 = 3;
pub const R_CLOSE_SERVICE_HANDLE: u16 = 0;
pub const R_CREATE_SERVICE_W: u16 = 12;
pub const R_OPEN_SC_MANAGER_W: u16 = 15;
pub const R_START_SERVICE_W: u16 = 19;
pub const SCH_RPC_HIGHEST_VERSION: u16 = 0;
pub const SCH_RPC_REGISTER_TASK: u16 = 1;

/// SC_MANAGER_ALL_ACCESS.
pub const SC_MANAGER_ALL_ACCESS: u32 = 0x000f_003f;
/// SERVICE_ALL_ACCESS.
pub const SERVICE_ALL_ACCESS: u32 = 0x000f_01ff;

/// A writer of NDR-encoded data in one transfer syntax; alignment counts from the stub's start.
pub struct Ndr<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    syntax: Syntax,
    referents: u32,
}

impl<'a> Ndr<'a> {
    pub fn new(out: &'a mut Vec<u8>, syntax: Syntax) -> Self {
        let start = out.len();
        Ndr { out, start, syntax, referents: 0 }
    }

    pub fn align(&mut self, n: usize) {
        while !(self.out.len() - self.start).is_multiple_of(n) {
            self.out.push(0);
        }
    }

    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// A conformance, variance or offset count: 4 bytes in NDR32, 8 (aligned) in NDR64.
    pub fn count(&mut self, n: usize) {
        match self.syntax {
            Syntax::Ndr32 => self.u32(n as u32),
            Syntax::Ndr64 => {
                self.align(8);
                self.out.extend_from_slice(&(n as u64).to_le_bytes());
            }
        }
    }

    /// A unique or full pointer: a fresh referent id, or 0 for NULL.
    pub fn pointer(&mut self, present: bool) {
        let referent = if present {
            self.referents += 1;
            match self.syntax {
                Syntax::Ndr32 => 0x0002_0000 + 4 * (self.referents - 1),
                Syntax::Ndr64 => self.referents,
            }
        } else {
            0
        };
        match self.syntax {
            Syntax::Ndr32 => self.u32(referent),
            Syntax::Ndr64 => {
                self.align(8);
                self.out.extend_from_slice(&u64::from(referent).to_le_bytes());
            }
        }
    }

    /// A conformant varying UTF-16 string with its terminating NUL (`[string] wchar_t*`).
    pub fn wstr(&mut self, s: &str) {
        let units = s.encode_utf16().count() + 1;
        self.count(units);
        self.count(0);
        self.count(units);
        for u in s.encode_utf16().chain([0]) {
            self.out.extend_from_slice(&u.to_le_bytes());
        }
    }

    /// A `[unique, string] wchar_t*`: referent then string, or NULL.
    pub fn unique_wstr(&mut self, s: Option<&str>) {
        self.pointer(s.is_some());
        if let Some(s) = s {
            self.wstr(s);
        }
    }
}

/// A context handle: 4 bytes of attributes (0) and a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(pub [u8; 20]);

impl Handle {
    pub const NULL: Handle = Handle([0; 20]);

    pub fn random(rng: &mut Rng) -> Handle {
        let mut h = [0; 20];
        h[4..].copy_from_slice(&Uuid::random(rng).0);
        Handle(h)
    }
}

/// The floors of a TCP/IP endpoint tower for `iface` (C706 appendix L): interface, NDR32,
/// connection-oriented RPC, TCP port, IP address. 75 bytes.
fn tower(out: &mut Vec<u8>, iface: Interface, port: u16, ip: Ipv4Addr) {
    fn floor(out: &mut Vec<u8>, lhs: &[u8], rhs: &[u8]) {
        out.extend_from_slice(&(lhs.len() as u16).to_le_bytes());
        out.extend_from_slice(lhs);
        out.extend_from_slice(&(rhs.len() as u16).to_le_bytes());
        out.extend_from_slice(rhs);
    }
    fn uuid_floor(out: &mut Vec<u8>, i: Interface) {
        let mut lhs = [0u8; 19];
        lhs[0] = 0x0d;
        lhs[1..17].copy_from_slice(&i.uuid.0);
        lhs[17..].copy_from_slice(&i.major.to_le_bytes());
        floor(out, &lhs, &i.minor.to_le_bytes());
    }
    out.extend_from_slice(&5u16.to_le_bytes());
    uuid_floor(out, iface);
    uuid_floor(out, NDR32);
    floor(out, &[0x0b], &[0, 0]);
    floor(out, &[0x07], &port.to_be_bytes());
    floor(out, &[0x09], &ip.octets());
}

/// The twr_t of a tower: conformance, length, octets.
fn twr(ndr: &mut Ndr, iface: Interface, port: u16, ip: Ipv4Addr) {
    let mut octets = Vec::with_capacity(75);
    tower(&mut octets, iface, port, ip);
    ndr.count(octets.len());
    ndr.u32(octets.len() as u32);
    ndr.bytes(&octets);
}

/// Stub of an `ept_map` request (NDR64) asking where `iface` listens over TCP.
pub fn ept_map_request(out: &mut Vec<u8>, iface: Interface) {
    let mut ndr = Ndr::new(out, Syntax::Ndr64);
    ndr.pointer(true);
    ndr.bytes(&[0; 16]);
    ndr.pointer(true);
    twr(&mut ndr, iface, 135, Ipv4Addr::UNSPECIFIED);
    ndr.align(4);
    ndr.bytes(&Handle::NULL.0);
    ndr.u32(4);
}

/// Stub of the `ept_map` answer (NDR64): one tower naming `port` on `ip`, status 0.
pub fn ept_map_response(out: &mut Vec<u8>, iface: Interface, port: u16, ip: Ipv4Addr) {
    let mut ndr = Ndr::new(out, Syntax::Ndr64);
    ndr.bytes(&Handle::NULL.0);
    ndr.u32(1);
    ndr.count(4);
    ndr.count(0);
    ndr.count(1);
    // The pointer array's one element gets the referent after the two of the request (3).
    ndr.referents = 2;
    ndr.pointer(true);
    twr(&mut ndr, iface, port, ip);
    ndr.align(4);
    ndr.u32(0);
}

/// ROpenSCManagerW request: `\\machine`, database "ServicesActive", SC_MANAGER_ALL_ACCESS.
pub fn open_sc_manager_w_request(out: &mut Vec<u8>, machine: &str) {
    let mut ndr = Ndr::new(out, Syntax::Ndr32);
    ndr.unique_wstr(Some(&format!("\\\\{machine}")));
    ndr.unique_wstr(Some("ServicesActive"));
    ndr.u32(SC_MANAGER_ALL_ACCESS);
}

/// A response of a handle and a return code 0 (ROpenSCManagerW, ROpenServiceW).
pub fn handle_response(out: &mut Vec<u8>, handle: Handle) {
    out.extend_from_slice(&handle.0);
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// A service to create.
#[derive(Debug, Clone, Copy)]
pub struct NewService<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    /// The command line, e.g. `%SystemRoot%\PSEXESVC.exe` or `cmd.exe /c ...`.
    pub binary_path: &'a str,
    /// SERVICE_DEMAND_START (3) for PsExec-style, SERVICE_AUTO_START (2) for persistence.
    pub start_type: u32,
}

/// RCreateServiceW request: a win32 own-process service, error control normal, LocalSystem.
pub fn create_service_w_request(out: &mut Vec<u8>, scm: Handle, service: &NewService) {
    let mut ndr = Ndr::new(out, Syntax::Ndr32);
    ndr.bytes(&scm.0);
    ndr.wstr(service.name);
    ndr.unique_wstr(Some(service.display_name));
    ndr.u32(SERVICE_ALL_ACCESS);
    ndr.u32(0x10);
    ndr.u32(service.start_type);
    ndr.u32(1);
    ndr.wstr(service.binary_path);
    // Load order group, tag id, dependencies (and their size), start name, password (and size).
    ndr.unique_wstr(None);
    ndr.pointer(false);
    ndr.pointer(false);
    ndr.u32(0);
    ndr.unique_wstr(None);
    ndr.pointer(false);
    ndr.u32(0);
}

/// RCreateServiceW response: no tag id, the service handle, return code 0.
pub fn create_service_w_response(out: &mut Vec<u8>, service: Handle) {
    out.extend_from_slice(&0u32.to_le_bytes());
    handle_response(out, service);
}

/// RStartServiceW request without arguments.
pub fn start_service_w_request(out: &mut Vec<u8>, service: Handle) {
    let mut ndr = Ndr::new(out, Syntax::Ndr32);
    ndr.bytes(&service.0);
    ndr.u32(0);
    ndr.pointer(false);
}

/// A response of just a return code 0 (RStartServiceW).
pub fn status_response(out: &mut Vec<u8>) {
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// RCloseServiceHandle request.
pub fn close_service_handle_request(out: &mut Vec<u8>, handle: Handle) {
    out.extend_from_slice(&handle.0);
}

/// RCloseServiceHandle response: the zeroed handle and return code 0.
pub fn close_service_handle_response(out: &mut Vec<u8>) {
    handle_response(out, Handle::NULL);
}

/// SchRpcHighestVersion response: version 1.6 (Windows 10), S_OK.
pub fn sch_highest_version_response(out: &mut Vec<u8>) {
    out.extend_from_slice(&0x0001_0006u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// A task to register: run `command arguments` as SYSTEM at a time trigger.
#[derive(Debug, Clone, Copy)]
pub struct Task<'a> {
    /// Path in the task folder tree, e.g. `\Microsoft\Windows\Update`.
    pub path: &'a str,
    pub command: &'a str,
    pub arguments: &'a str,
    pub author: &'a str,
}

/// The task definition XML Windows' Task Scheduler tools send (≈1500 characters).
fn task_xml(rng: &mut Rng, task: &Task) -> String {
    let day = rng.range(1, 29);
    let hour = rng.range(0, 24);
    let uri = task.path;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n\
<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\r\n\
  <RegistrationInfo>\r\n    <Date>2020-12-{day:02}T{hour:02}:00:00</Date>\r\n    <Author>{}</Author>\r\n\
    <URI>{uri}</URI>\r\n  </RegistrationInfo>\r\n\
  <Triggers>\r\n    <TimeTrigger>\r\n      <StartBoundary>2020-12-{day:02}T{hour:02}:05:00</StartBoundary>\r\n\
      <Enabled>true</Enabled>\r\n    </TimeTrigger>\r\n  </Triggers>\r\n\
  <Principals>\r\n    <Principal id=\"Author\">\r\n      <UserId>S-1-5-18</UserId>\r\n\
      <RunLevel>HighestAvailable</RunLevel>\r\n    </Principal>\r\n  </Principals>\r\n\
  <Settings>\r\n    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\r\n\
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\r\n\
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\r\n    <AllowHardTerminate>true</AllowHardTerminate>\r\n\
    <StartWhenAvailable>false</StartWhenAvailable>\r\n    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>\r\n\
    <IdleSettings>\r\n      <StopOnIdleEnd>true</StopOnIdleEnd>\r\n      <RestartOnIdle>false</RestartOnIdle>\r\n\
    </IdleSettings>\r\n    <AllowStartOnDemand>true</AllowStartOnDemand>\r\n    <Enabled>true</Enabled>\r\n\
    <Hidden>false</Hidden>\r\n    <RunOnlyIfIdle>false</RunOnlyIfIdle>\r\n    <WakeToRun>false</WakeToRun>\r\n\
    <ExecutionTimeLimit>P3D</ExecutionTimeLimit>\r\n    <Priority>7</Priority>\r\n  </Settings>\r\n\
  <Actions Context=\"Author\">\r\n    <Exec>\r\n      <Command>{}</Command>\r\n\
      <Arguments>{}</Arguments>\r\n    </Exec>\r\n  </Actions>\r\n</Task>\r\n",
        task.author, task.command, task.arguments
    )
}

/// SchRpcRegisterTask request in `syntax`: path, XML, TASK_CREATE, no SDDL, TASK_LOGON_NONE, no
/// credentials.
pub fn sch_register_task_request(out: &mut Vec<u8>, rng: &mut Rng, syntax: Syntax, task: &Task) {
    let xml = task_xml(rng, task);
    let mut ndr = Ndr::new(out, syntax);
    ndr.unique_wstr(Some(task.path));
    ndr.wstr(&xml);
    ndr.u32(2);
    ndr.unique_wstr(None);
    ndr.u32(0);
    ndr.u32(0);
    ndr.pointer(false);
}

/// SchRpcRegisterTask response in `syntax`: the actual path, no error info, S_OK.
pub fn sch_register_task_response(out: &mut Vec<u8>, syntax: Syntax, path: &str) {
    let mut ndr = Ndr::new(out, syntax);
    ndr.unique_wstr(Some(path));
    ndr.pointer(false);
    ndr.u32(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::proto::dcerpc::SVCCTL;

    #[test]
    fn ept_map_stubs_have_windows_layout_and_sizes() {
        let mut req = Vec::new();
        ept_map_request(&mut req, SVCCTL);
        assert_eq!(req.len(), 144);
        assert_eq!(&req[..8], [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&req[24..44], [2, 0, 0, 0, 0, 0, 0, 0, 75, 0, 0, 0, 0, 0, 0, 0, 75, 0, 0, 0]);
        assert_eq!(&req[44..50], [5, 0, 19, 0, 0x0d, 0x81]);
        assert_eq!(&req[140..], [4, 0, 0, 0]);
        let mut resp = Vec::new();
        ept_map_response(&mut resp, SVCCTL, 49726, Ipv4Addr::new(172, 18, 39, 6));
        assert_eq!(resp.len(), 148);
        assert_eq!(&resp[20..24], [1, 0, 0, 0]);
        assert_eq!(&resp[48..56], [3, 0, 0, 0, 0, 0, 0, 0]);
        // Floors 4 and 5 end the tower: port 49726 big-endian, then the address; a pad byte, status.
        assert_eq!(&resp[127..148], [1, 0, 0x07, 2, 0, 0xc2, 0x3e, 1, 0, 0x09, 4, 0, 172, 18, 39, 6, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn svcctl_stubs_follow_ndr32() {
        let mut out = Vec::new();
        open_sc_manager_w_request(&mut out, "WORKSTATION6");
        // Referent, max 15, offset 0, actual 15, "\\WORKSTATION6" + NUL = 30 bytes, then the next
        // referent aligned to 4.
        assert_eq!(&out[..16], [0, 0, 2, 0, 15, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0, 0]);
        assert_eq!(&out[46..52], [0, 0, 4, 0, 2, 0]);
        assert_eq!(out.len() % 4, 0);
        assert_eq!(&out[out.len() - 4..], SC_MANAGER_ALL_ACCESS.to_le_bytes());
        let mut out = Vec::new();
        let svc = NewService {
            name: "PSEXESVC",
            display_name: "PSEXESVC",
            binary_path: "%SystemRoot%\\PSEXESVC.exe",
            start_type: 3,
        };
        create_service_w_request(&mut out, Handle::NULL, &svc);
        // Handle 20 + name (12 + 18 + 2 pad) + display (4 + 12 + 18 + 2) + 4 u32 + path (12 + 52)
        // + 7 × 4 of NULL pointers and sizes.
        assert_eq!(out.len(), 20 + 32 + 36 + 16 + 64 + 28);
        let mut out = Vec::new();
        create_service_w_response(&mut out, Handle::NULL);
        assert_eq!(out.len(), 28);
    }

    #[test]
    fn register_task_stub_is_realistically_sized() {
        let task = Task {
            path: "\\Microsoft\\Windows\\UpdateCheck",
            command: "C:\\Windows\\System32\\cmd.exe",
            arguments: "/c C:\\Windows\\Temp\\payload.exe",
            author: "THESHIRE\\pgustavo",
        };
        for syntax in [Syntax::Ndr32, Syntax::Ndr64] {
            let mut out = Vec::new();
            sch_register_task_request(&mut out, &mut Rng::new(1), syntax, &task);
            // schtask_create_*: a 3184-byte stub.
            assert!((2800..3400).contains(&out.len()), "{syntax:?}: {}", out.len());
        }
    }
}
