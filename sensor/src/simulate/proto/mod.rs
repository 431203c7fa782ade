//! Wire-format builders for the simulator's application messages: each builder appends one complete
//! message, exactly as it appears in the TCP or UDP payload stream (all framing included), to a
//! caller's buffer. Sizes follow real traffic of a Windows domain (each module says what it models);
//! randomness comes only from the caller's [`super::rng::Rng`], so the same seed gives the same bytes.

pub mod dcerpc;
pub mod der;
pub mod dns;
pub mod http;
pub mod icmp;
pub mod kerberos;
pub mod ldap;
pub mod msrpc;
pub mod netbios;
pub mod ntlmssp;
pub mod ntp;
pub mod opaque;
pub mod rdp;
pub mod smb2;
pub mod spnego;
pub mod ssh;
pub mod tls;
