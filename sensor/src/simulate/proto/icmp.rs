//! ICMP echo payloads (the data after the 8-byte echo header) of the two common `ping`s; the echo
//! reply carries the request's payload back unchanged.
//!
//! - Windows `ping.exe`: 32 bytes, the alphabet `abcdefghijklmnopqrstuvw` repeated.
//! - Linux iputils `ping`: 56 bytes, a 16-byte `struct timeval` of the send time (64-bit seconds and
//!   microseconds, little-endian as on x86-64 and arm64) followed by the bytes 0x10..=0x37, so byte
//!   `i` of the payload is `i` after the timestamp. Wireshark reads the timestamp as "Timestamp from
//!   icmp data".

/// The payload of Windows `ping.exe`.
pub const WINDOWS_PING_PAYLOAD: &[u8; 32] = b"abcdefghijklmnopqrstuvwabcdefghi";

/// Length of the payload of Linux `ping`.
pub const LINUX_PING_PAYLOAD_LEN: usize = 56;

/// Appends the 32-byte payload of Windows `ping.exe`.
pub fn windows_ping_payload(out: &mut Vec<u8>) {
    out.extend_from_slice(WINDOWS_PING_PAYLOAD);
}

/// Appends the 56-byte payload of Linux `ping` sent at `tv_sec` seconds and `tv_usec` microseconds.
pub fn linux_ping_payload(out: &mut Vec<u8>, tv_sec: u64, tv_usec: u32) {
    out.extend_from_slice(&tv_sec.to_le_bytes());
    out.extend_from_slice(&u64::from(tv_usec).to_le_bytes());
    out.extend(16..LINUX_PING_PAYLOAD_LEN as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_payload_is_the_alphabet() {
        let mut out = vec![0xee];
        windows_ping_payload(&mut out);
        assert_eq!(&out[1..], b"abcdefghijklmnopqrstuvwabcdefghi");
    }

    #[test]
    fn linux_payload_is_timeval_then_counting_bytes() {
        let mut out = Vec::new();
        linux_ping_payload(&mut out, 1_709_542_800, 123_456);
        #[rustfmt::skip]
        let expected: [u8; 56] = [
            0x90, 0x8d, 0xe5, 0x65, 0, 0, 0, 0, 0x40, 0xe2, 0x01, 0, 0, 0, 0, 0,
            0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
            0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
            0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
        ];
        assert_eq!(out, expected);
    }
}
