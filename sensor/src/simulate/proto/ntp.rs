//! NTPv4 client requests and server responses (RFC 5905), 48 bytes each, as UDP payloads to and
//! from port 123.
//!
//! Modelled on ntpd-style unicast polling: the client fills only its transmit timestamp (poll 2^10 s,
//! Windows' domain-member interval; precision 2^-23 s); the server (stratum 2–4, as a domain
//! controller syncing from an upstream source) copies it into the originate timestamp and adds its
//! receive and transmit times. As ntpd does, the bits of each fraction below the precision are
//! random. Windows domain members talking to a DC add MS-SNTP's 20-byte authenticator (68-byte
//! messages); that variant is not built here.

use crate::simulate::rng::Rng;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch.
const UNIX_TO_NTP_SECS: u64 = 2_208_988_800;
const MODE_CLIENT: u8 = 3;
const MODE_SERVER: u8 = 4;
const VERSION: u8 = 4;
/// log2 of the poll interval (1,024 s).
const POLL: i8 = 10;
/// log2 of the clock precision (about 119 ns).
const PRECISION: i8 = -23;
/// Fraction bits below [`PRECISION`]: 32 - 23.
const FUZZ_BITS: u32 = 9;

/// An NTP timestamp: seconds since 1900 in the high 32 bits (era 0, wrapping in 2036), fraction in
/// the low 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The timestamp of `unix_ns` nanoseconds since the Unix epoch (fraction rounded down).
    pub fn from_unix_ns(unix_ns: u64) -> NtpTimestamp {
        let secs = (unix_ns / 1_000_000_000 + UNIX_TO_NTP_SECS) & 0xffff_ffff;
        let frac = ((unix_ns % 1_000_000_000) << 32) / 1_000_000_000;
        NtpTimestamp((secs << 32) | frac)
    }

    /// Nanoseconds since the Unix epoch, for timestamps of era 0 from 1970 on (fraction rounded down).
    pub fn to_unix_ns(self) -> u64 {
        let secs = (self.0 >> 32).saturating_sub(UNIX_TO_NTP_SECS);
        secs * 1_000_000_000 + (((self.0 & 0xffff_ffff) * 1_000_000_000) >> 32)
    }

    /// The timestamp with its bits below the clock precision random.
    fn fuzzed(self, rng: &mut Rng) -> NtpTimestamp {
        let mask = (1u64 << FUZZ_BITS) - 1;
        NtpTimestamp((self.0 & !mask) | (rng.next_u64() & mask))
    }
}

/// Appends a client request sent at `tx_ns`; returns the transmit timestamp written, which the
/// server echoes as its originate timestamp.
pub fn client_request(out: &mut Vec<u8>, rng: &mut Rng, tx_ns: u64) -> NtpTimestamp {
    let tx = NtpTimestamp::from_unix_ns(tx_ns).fuzzed(rng);
    out.extend_from_slice(&[(VERSION << 3) | MODE_CLIENT, 0, POLL as u8, PRECISION as u8]);
    // Root delay, root dispersion, reference id, reference/originate/receive timestamps: unknown.
    out.extend_from_slice(&[0; 36]);
    out.extend_from_slice(&tx.0.to_be_bytes());
    tx
}

/// Appends the server's answer to a request whose transmit timestamp was `origin`, received at
/// `rx_ns` and answered at `tx_ns`.
pub fn server_response(out: &mut Vec<u8>, rng: &mut Rng, origin: NtpTimestamp, rx_ns: u64, tx_ns: u64) {
    let stratum = rng.range(2, 5) as u8;
    out.extend_from_slice(&[(VERSION << 3) | MODE_SERVER, stratum, POLL as u8, PRECISION as u8]);
    // Root delay and dispersion in 16.16 seconds: a few to a few tens of milliseconds.
    out.extend_from_slice(&(rng.range(0x100, 0x800) as u32).to_be_bytes());
    out.extend_from_slice(&(rng.range(0x400, 0x4000) as u32).to_be_bytes());
    // Reference id of a stratum ≥ 2 server: its upstream server's IPv4 address.
    out.extend_from_slice(&[10, rng.range(0, 256) as u8, rng.range(0, 256) as u8, rng.range(1, 255) as u8]);
    // Last synchronised between a few seconds and a poll interval ago.
    let reference_ns = tx_ns.saturating_sub(rng.range(4_000_000_000, 1_024_000_000_000));
    for ts in [NtpTimestamp::from_unix_ns(reference_ns).fuzzed(rng), origin] {
        out.extend_from_slice(&ts.0.to_be_bytes());
    }
    for ns in [rx_ns, tx_ns] {
        out.extend_from_slice(&NtpTimestamp::from_unix_ns(ns).fuzzed(rng).0.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-04T09:00:00.25Z.
    const T: u64 = 1_709_542_800_250_000_000;

    #[test]
    fn timestamps_encode_ntp_seconds_and_fractions() {
        let ts = NtpTimestamp::from_unix_ns(T);
        assert_eq!(ts.0 >> 32, 1_709_542_800 + 2_208_988_800);
        assert_eq!(ts.0 & 0xffff_ffff, 0x4000_0000);
        assert_eq!(ts.to_unix_ns(), T);
        assert_eq!(NtpTimestamp::from_unix_ns(0).0, 2_208_988_800 << 32);
        let odd = T + 123_456_789;
        assert!(odd - NtpTimestamp::from_unix_ns(odd).to_unix_ns() <= 1);
    }

    #[test]
    fn client_request_fields_are_exact() {
        let mut out = Vec::new();
        let tx = client_request(&mut out, &mut Rng::new(1), T);
        assert_eq!(out.len(), 48);
        assert_eq!(&out[..4], &[0x23, 0, 10, 0xe9], "LI 0, version 4, mode 3, stratum 0, poll 10, precision -23");
        assert!(out[4..40].iter().all(|&b| b == 0));
        assert_eq!(&out[40..], &tx.0.to_be_bytes());
        // Only the bits below the precision differ from the exact time.
        assert_eq!(tx.0 >> FUZZ_BITS, NtpTimestamp::from_unix_ns(T).0 >> FUZZ_BITS);
    }

    #[test]
    fn server_response_echoes_the_origin_and_orders_its_times() {
        let mut rng = Rng::new(2);
        let mut request = Vec::new();
        let origin = client_request(&mut request, &mut rng, T);
        let mut out = Vec::new();
        server_response(&mut out, &mut rng, origin, T + 400_000, T + 450_000);
        assert_eq!(out.len(), 48);
        assert_eq!(out[0], 0x24, "version 4, mode 4");
        assert!((2..=4).contains(&out[1]));
        let ts = |at: usize| NtpTimestamp(u64::from_be_bytes(out[at..at + 8].try_into().unwrap()));
        assert_eq!(ts(24), origin);
        assert!(ts(16).to_unix_ns() < T);
        assert!(ts(32).to_unix_ns().abs_diff(T + 400_000) < 200);
        assert!(ts(40).to_unix_ns().abs_diff(T + 450_000) < 200);
    }

    #[test]
    fn same_seed_same_bytes() {
        let build = |seed| {
            let mut out = Vec::new();
            let mut rng = Rng::new(seed);
            let origin = client_request(&mut out, &mut rng, T);
            server_response(&mut out, &mut rng, origin, T + 1, T + 2);
            out
        };
        assert_eq!(build(5), build(5));
        assert_ne!(build(5), build(6));
    }
}
