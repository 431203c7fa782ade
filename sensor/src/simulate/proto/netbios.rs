//! NetBIOS session service framing as SMB over TCP 445 uses it: every SMB message is preceded by a
//! 4-byte header, type 0x00 (session message, RFC 1002 §4.3.1), then the message length, big-endian.
//!
//! RFC 1002 (NetBIOS over TCP, port 139) gives the length 17 bits (7 flag bits, the low one extending
//! a 16-bit length). Direct-hosted SMB on 445 reuses the header with a 24-bit length (MS-SMB2 §2.1
//! "Stream Protocol Length (3 bytes)"), and Windows relies on it: with large MTU a 1 MiB WRITE is one
//! message. Wireshark reads 24 bits on 445 too. The builders accept up to [`MAX_MESSAGE_LEN`].
//!
//! Builders reserve the header with [`begin`], append the message, then patch the length with
//! [`finish`], so the message is written once, in place.

/// Type of a session message, the only type direct-hosted SMB sends.
pub const SESSION_MESSAGE: u8 = 0x00;

/// The largest message a direct-hosting header can announce (24-bit length).
pub const MAX_MESSAGE_LEN: usize = 0xff_ffff;

/// Appends a session message header for a message of `len` bytes (up to [`MAX_MESSAGE_LEN`]: a
/// longer one is a builder bug and panics).
pub fn session_header(out: &mut Vec<u8>, len: usize) {
    assert!(len <= MAX_MESSAGE_LEN, "a NetBIOS session message holds at most {MAX_MESSAGE_LEN} bytes, not {len}");
    out.push(SESSION_MESSAGE);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
}

/// Reserves a header at the end of `out`; returns its position for [`finish`].
pub fn begin(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[SESSION_MESSAGE, 0, 0, 0]);
    at
}

/// Writes the length of everything appended after the header reserved at `at`.
pub fn finish(out: &mut [u8], at: usize) {
    let len = out.len() - at - 4;
    assert!(len <= MAX_MESSAGE_LEN, "a NetBIOS session message holds at most {MAX_MESSAGE_LEN} bytes, not {len}");
    out[at + 1..at + 4].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_are_exact() {
        let mut out = Vec::new();
        session_header(&mut out, 69);
        session_header(&mut out, 0x1_2345);
        session_header(&mut out, 1 << 20);
        assert_eq!(out, [0x00, 0x00, 0x00, 0x45, 0x00, 0x01, 0x23, 0x45, 0x00, 0x10, 0x00, 0x00]);
    }

    #[test]
    fn begin_finish_patch_the_length_in_place() {
        let mut out = vec![0xee];
        let at = begin(&mut out);
        out.extend_from_slice(&[1; 526]);
        finish(&mut out, at);
        assert_eq!(&out[..5], [0xee, 0x00, 0x00, 0x02, 0x0e]);
        assert_eq!(out.len(), 1 + 4 + 526);
    }

    #[test]
    #[should_panic(expected = "at most")]
    fn lengths_beyond_24_bits_are_refused() {
        session_header(&mut Vec::new(), MAX_MESSAGE_LEN + 1);
    }
}
