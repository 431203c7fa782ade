//! SPNEGO tokens (RFC 4178, with Microsoft's negTokenInit2 hints, MS-SPNG) as Windows puts them in
//! SMB2 security buffers, DCE/RPC auth verifiers (auth type 9) and LDAP GSS-SPNEGO binds.
//!
//! - [`neg_token_init`]: the client's first token, a GSS-API InitialContextToken (`0x60`, SPNEGO OID)
//!   around negTokenInit: the mechanisms offered and the first mechanism token.
//! - [`neg_token_resp`]: every later token in either direction (negTokenResp, `[1]`, no GSS framing).
//! - [`server_init_token`]: the SMB2 NEGOTIATE response's unsolicited negTokenInit2: five mechanisms,
//!   a NEGOEX token (MS-NEGOEX: an ACCEPTOR_NEGO then an ACCEPTOR_META_DATA message naming one auth
//!   scheme) and the `not_defined_in_RFC4178@please_ignore` hint. Measured in
//!   `covenant_sharpsc_create_dcerpc_smb_svcctl_*.cap` frame 105 (Windows 10 server): 398 bytes,
//!   of which the NEGOEX token is 264 (0x70 + 0x98); this builder gives the same 398.

use super::der;
use super::opaque;
use crate::simulate::rng::Rng;

/// A security mechanism named in mechTypes / supportedMech.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    /// Microsoft's Kerberos OID 1.2.840.48018.1.2.2, what Windows lists first.
    MsKrb5,
    /// Kerberos 5, 1.2.840.113554.1.2.2.
    Krb5,
    /// Kerberos user-to-user, 1.2.840.113554.1.2.2.3.
    Krb5User2User,
    /// NEGOEX, 1.3.6.1.4.1.311.2.2.30.
    Negoex,
    /// NTLMSSP, 1.3.6.1.4.1.311.2.2.10.
    Ntlmssp,
}

impl Mech {
    fn arcs(self) -> &'static [u32] {
        match self {
            Mech::MsKrb5 => &[1, 2, 840, 48_018, 1, 2, 2],
            Mech::Krb5 => &[1, 2, 840, 113_554, 1, 2, 2],
            Mech::Krb5User2User => &[1, 2, 840, 113_554, 1, 2, 2, 3],
            Mech::Negoex => &[1, 3, 6, 1, 4, 1, 311, 2, 2, 30],
            Mech::Ntlmssp => &[1, 3, 6, 1, 4, 1, 311, 2, 2, 10],
        }
    }
}

/// What a Windows 10 client offers when it has a Kerberos ticket (seen in every session setup and
/// authenticated bind of the OTRF captures).
pub const CLIENT_KERBEROS_MECHS: &[Mech] = &[Mech::MsKrb5, Mech::Krb5, Mech::Negoex, Mech::Ntlmssp];

/// What a client without a usable ticket offers (NTLM fallback, e.g. a server named by address);
/// the optimistic mechToken is then an NTLMSSP NEGOTIATE.
pub const CLIENT_NTLM_MECHS: &[Mech] = &[Mech::Ntlmssp];

/// What a Windows server lists in its SMB2 NEGOTIATE response.
pub const SERVER_MECHS: &[Mech] = &[Mech::Negoex, Mech::MsKrb5, Mech::Krb5, Mech::Krb5User2User, Mech::Ntlmssp];

/// negState of a negTokenResp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegState {
    AcceptCompleted = 0,
    AcceptIncomplete = 1,
    Reject = 2,
    RequestMic = 3,
}

const SPNEGO_OID: &[u32] = &[1, 3, 6, 1, 5, 5, 2];

fn mech_types(out: &mut Vec<u8>, mechs: &[Mech]) {
    der::explicit(out, 0, |out| {
        der::sequence(out, |out| {
            for m in mechs {
                der::oid(out, m.arcs());
            }
        })
    });
}

/// Appends a GSS InitialContextToken carrying negTokenInit (`mechs`, then `mech_token` if any).
pub fn neg_token_init(out: &mut Vec<u8>, mechs: &[Mech], mech_token: Option<&[u8]>) {
    der::tlv(out, der::application(0), |out| {
        der::oid(out, SPNEGO_OID);
        der::explicit(out, 0, |out| {
            der::sequence(out, |out| {
                mech_types(out, mechs);
                if let Some(token) = mech_token {
                    der::explicit(out, 2, |out| der::octet_string(out, token));
                }
            })
        })
    });
}

/// Appends a negTokenResp; each part is optional as in RFC 4178 §4.2.2.
pub fn neg_token_resp(
    out: &mut Vec<u8>,
    state: Option<NegState>,
    supported: Option<Mech>,
    response_token: Option<&[u8]>,
    mech_list_mic: Option<&[u8]>,
) {
    der::explicit(out, 1, |out| {
        der::sequence(out, |out| {
            if let Some(s) = state {
                der::explicit(out, 0, |out| der::enumerated(out, s as i64));
            }
            if let Some(m) = supported {
                der::explicit(out, 1, |out| der::oid(out, m.arcs()));
            }
            if let Some(t) = response_token {
                der::explicit(out, 2, |out| der::octet_string(out, t));
            }
            if let Some(mic) = mech_list_mic {
                der::explicit(out, 3, |out| der::octet_string(out, mic));
            }
        })
    });
}

/// The auth scheme a Windows 10 server advertises through NEGOEX (its wire-order GUID bytes).
const NEGOEX_AUTH_SCHEME: [u8; 16] =
    [0x5c, 0x33, 0x53, 0x0d, 0xea, 0xf9, 0x0d, 0x4d, 0xb2, 0xec, 0x4a, 0xe3, 0x78, 0x6e, 0xc3, 0x08];

const NEGOEX_SIGNATURE: &[u8; 8] = b"NEGOEXTS";
const NEGOEX_ACCEPTOR_NEGO: u32 = 1;
const NEGOEX_ACCEPTOR_META_DATA: u32 = 3;
const NEGOEX_HEADER_LEN: u32 = 40;

fn negoex_header(out: &mut Vec<u8>, kind: u32, seq: u32, header_len: u32, message_len: u32, conversation: &[u8]) {
    out.extend_from_slice(NEGOEX_SIGNATURE);
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&message_len.to_le_bytes());
    out.extend_from_slice(conversation);
}

/// The metadata a Windows server sends for its auth scheme: two certificate-issuer hints, each a
/// `Name` whose commonName is "Token Signing Public Key".
fn negoex_metadata(out: &mut Vec<u8>) {
    der::sequence(out, |out| {
        der::explicit(out, 0, |out| {
            der::sequence(out, |out| {
                for _ in 0..2 {
                    der::sequence(out, |out| {
                        der::tlv(out, der::context_primitive(0) | 0x20, |out| {
                            der::sequence(out, |out| {
                                der::tlv(out, der::SET, |out| {
                                    der::sequence(out, |out| {
                                        der::oid(out, &[2, 5, 4, 3]);
                                        der::primitive(out, 0x13, b"Token Signing Public Key");
                                    })
                                })
                            })
                        })
                    });
                }
            })
        })
    });
}

fn negoex_token(out: &mut Vec<u8>, rng: &mut Rng) {
    let conversation = opaque::slice(rng, 16);
    // ACCEPTOR_NEGO: header, Random[32], ProtocolVersion, AuthSchemes and Extensions vectors (96
    // bytes), then the one auth scheme GUID.
    let nego_len = 96 + 16;
    negoex_header(out, NEGOEX_ACCEPTOR_NEGO, 0, 96, nego_len, conversation);
    out.extend_from_slice(opaque::slice(rng, 32));
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&96u32.to_le_bytes());
    out.extend_from_slice(&[1, 0, 0, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&NEGOEX_AUTH_SCHEME);
    // ACCEPTOR_META_DATA: header, AuthScheme, Exchange vector (64 bytes), then the exchange bytes.
    let mut exchange = Vec::with_capacity(96);
    negoex_metadata(&mut exchange);
    let header_len = NEGOEX_HEADER_LEN + 24;
    negoex_header(out, NEGOEX_ACCEPTOR_META_DATA, 1, header_len, header_len + exchange.len() as u32, conversation);
    out.extend_from_slice(&NEGOEX_AUTH_SCHEME);
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&(exchange.len() as u32).to_le_bytes());
    out.extend_from_slice(&exchange);
}

/// Appends the security buffer of a Windows SMB2 NEGOTIATE response (see the module doc).
pub fn server_init_token(out: &mut Vec<u8>, rng: &mut Rng) {
    let mut negoex = Vec::with_capacity(264);
    negoex_token(&mut negoex, rng);
    der::tlv(out, der::application(0), |out| {
        der::oid(out, SPNEGO_OID);
        der::explicit(out, 0, |out| {
            der::sequence(out, |out| {
                mech_types(out, SERVER_MECHS);
                der::explicit(out, 2, |out| der::octet_string(out, &negoex));
                der::explicit(out, 3, |out| {
                    der::sequence(out, |out| {
                        der::explicit(out, 0, |out| der::general_string(out, "not_defined_in_RFC4178@please_ignore"))
                    })
                });
            })
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_token_has_the_measured_size_and_layout() {
        let mut out = Vec::new();
        server_init_token(&mut out, &mut Rng::new(1));
        assert_eq!(out.len(), 398);
        assert_eq!(&out[..4], [0x60, 0x82, 0x01, 0x8a]);
        assert_eq!(der::check_lengths(&out), Ok(17));
        let at = out.windows(8).position(|w| w == NEGOEX_SIGNATURE).unwrap();
        assert_eq!(&out[at + 16..at + 24], [0x60, 0, 0, 0, 0x70, 0, 0, 0]);
        let meta = at + 0x70;
        assert_eq!(&out[meta..meta + 8], NEGOEX_SIGNATURE);
        assert_eq!(&out[meta + 16..meta + 24], [0x40, 0, 0, 0, 0x98, 0, 0, 0]);
        // The hint ends the token.
        assert!(out.ends_with(b"not_defined_in_RFC4178@please_ignore"));
    }

    #[test]
    fn resp_token_bytes_for_a_completed_exchange() {
        let mut out = Vec::new();
        neg_token_resp(&mut out, Some(NegState::AcceptCompleted), None, None, Some(&[0xab; 16]));
        let mut expected = vec![0xa1, 0x1b, 0x30, 0x19, 0xa0, 0x03, 0x0a, 0x01, 0x00, 0xa3, 0x12, 0x04, 0x10];
        expected.extend_from_slice(&[0xab; 16]);
        assert_eq!(out, expected);
    }

    #[test]
    fn init_token_starts_like_windows() {
        let mut out = Vec::new();
        neg_token_init(&mut out, CLIENT_KERBEROS_MECHS, Some(&[1, 2, 3]));
        // 60 len 06 06 2b06 0105 0502 a0 len 30 len a0 30 30 2e 06 09 2a864882f712010202 ...
        assert_eq!(&out[2..10], [0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
        assert_eq!(&out[14..20], [0xa0, 0x30, 0x30, 0x2e, 0x06, 0x09]);
        assert!(out.ends_with(&[0xa2, 0x05, 0x04, 0x03, 1, 2, 3]));
        assert_eq!(der::check_lengths(&out).map(|_| ()), Ok(()));
    }
}
