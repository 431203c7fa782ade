//! Kerberos V5 messages (RFC 4120) as a Windows 10 client and a Windows Server 2019 KDC exchange
//! them, and the Kerberos GSS-API tokens (RFC 4121) other protocols carry.
//!
//! KDC messages ([`as_req`], [`as_rep`], [`tgs_req`], [`tgs_rep`], [`krb_error`]) are appended with
//! the 4-byte record mark of Kerberos over TCP 88 (RFC 4120 §7.2.2). [`ap_req`] and [`ap_rep`] are
//! bare (DCE/RPC carries them so inside SPNEGO); [`gss_token`] adds the GSS framing SMB2 and LDAP
//! use. Everything encrypted is opaque bytes of realistic length (AES256-CTS-HMAC-SHA1-96, etype 18);
//! the structure around it is real DER that Wireshark dissects field by field.
//!
//! Sizes measured in the OTRF captures (`tshark -Y kerberos -e kerberos.cipher`):
//! - TGT (krbtgt) ticket enc-part: 1019 bytes (kvno 2), in every TGS-REQ.
//! - TGS-REQ (`covenant_copy_smb_*`, `empire_*`): record 1635–1651 bytes; authenticator 140,
//!   enc-authorization-data 136; kdc-options 0x40810000, five etypes, PA-PAC-OPTIONS branch-aware.
//! - TGS-REP: record 1637–1653; service ticket enc-part 1165 (cifs/HOST/RPCSS; 1178 for a longer
//!   host name in `schtask_create_*`), enc-part 298–314.
//! - AP-REQ in SMB2 session setup / DCE/RPC bind: ticket 1165, authenticator 407–439 (mutual
//!   required); to a DC with a forwarded TGT: ticket 1106, authenticator 1841.
//! - AP-REP: enc-part 110; the DCE-style third leg's AP-REP: 66.
//!
//! The captures hold no AS exchange (the users were logged on before capture) and no KRB-ERROR, so
//! those follow RFC 4120 and Windows' field choices: AS-REQ with PA-PAC-REQUEST (plus PA-ENC-TIMESTAMP
//! of 56 bytes when pre-authenticating), kdc-options 0x40810010, six etypes, a NetBIOS address;
//! KRB-ERROR PREAUTH_REQUIRED with METHOD-DATA (ETYPE-INFO2 with the salt, ENC-TIMESTAMP, PK-AS-REQ,
//! PK-AS-REP_OLD); AS-REP with the TGT (1019) and an enc-part of 330 bytes.

use super::der;
use super::opaque;
use crate::simulate::rng::Rng;

pub const AS_REQ: i64 = 10;
pub const AS_REP: i64 = 11;
pub const TGS_REQ: i64 = 12;
pub const TGS_REP: i64 = 13;
pub const AP_REQ: i64 = 14;
pub const AP_REP: i64 = 15;
pub const KRB_ERROR: i64 = 30;

/// AES256-CTS-HMAC-SHA1-96, what every ticket and enc-part of the captures uses.
pub const ETYPE_AES256: i64 = 18;
/// Etypes of a Windows 10 AS-REQ, in its order.
const AS_ETYPES: &[i64] = &[18, 17, 23, 24, -135, 3];
/// Etypes of a Windows 10 TGS-REQ, in its order.
const TGS_ETYPES: &[i64] = &[18, 17, 23, 24, -135];

/// Windows' "no end time" (2037-09-13T02:48:05Z) for till and rtime.
const FAR_FUTURE_SECS: u64 = 2_136_422_885;

pub const NT_PRINCIPAL: i64 = 1;
pub const NT_SRV_INST: i64 = 2;

/// Measured and estimated lengths (see the module doc).
pub const TGT_CIPHER_LEN: usize = 1019;
pub const SERVICE_TICKET_CIPHER_LEN: usize = 1165;
pub const TGS_AUTHENTICATOR_LEN: usize = 140;
pub const TGS_AUTHZ_DATA_LEN: usize = 136;
pub const TGS_REP_ENC_PART_LEN: usize = 306;
pub const AS_REP_ENC_PART_LEN: usize = 330;
pub const AP_AUTHENTICATOR_LEN: usize = 407;
/// A DC's `cifs` service ticket, and the authenticator that carries the client's forwarded TGT.
pub const DC_SERVICE_TICKET_CIPHER_LEN: usize = 1106;
pub const FORWARDED_TGT_AUTHENTICATOR_LEN: usize = 1841;
pub const AP_REP_ENC_PART_LEN: usize = 110;
/// The AP-REP a DCE-style client sends back in the third leg.
pub const DCE_AP_REP_ENC_PART_LEN: usize = 66;
const ENC_TIMESTAMP_LEN: usize = 56;

/// KRB-ERROR codes the simulator produces (RFC 4120 §7.5.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// KDC_ERR_C_PRINCIPAL_UNKNOWN: user enumeration against a name that does not exist.
    ClientUnknown = 6,
    /// KDC_ERR_CLIENT_REVOKED: disabled or locked-out account.
    ClientRevoked = 18,
    /// KDC_ERR_PREAUTH_FAILED: wrong password (credential spraying).
    PreauthFailed = 24,
    /// KDC_ERR_PREAUTH_REQUIRED: the normal first answer to an AS-REQ without pre-authentication.
    PreauthRequired = 25,
}

/// A principal: name type and components, e.g. `(NT_SRV_INST, ["cifs", "WORKSTATION6"])`.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    pub name_type: i64,
    pub parts: &'a [&'a str],
}

impl<'a> Principal<'a> {
    pub const fn user(parts: &'a [&'a str]) -> Self {
        Principal { name_type: NT_PRINCIPAL, parts }
    }

    pub const fn service(parts: &'a [&'a str]) -> Self {
        Principal { name_type: NT_SRV_INST, parts }
    }
}

fn principal(out: &mut Vec<u8>, p: &Principal) {
    der::sequence(out, |out| {
        der::explicit(out, 0, |out| der::integer(out, p.name_type));
        der::explicit(out, 1, |out| {
            der::sequence(out, |out| {
                for part in p.parts {
                    der::general_string(out, part);
                }
            })
        });
    });
}

fn int_field(out: &mut Vec<u8>, n: u8, v: i64) {
    der::explicit(out, n, |out| der::integer(out, v));
}

/// EncryptedData { etype 18, kvno, cipher of `len` opaque bytes }.
fn encrypted_data(out: &mut Vec<u8>, rng: &mut Rng, kvno: Option<i64>, len: usize) {
    der::sequence(out, |out| {
        int_field(out, 0, ETYPE_AES256);
        if let Some(k) = kvno {
            int_field(out, 1, k);
        }
        der::explicit(out, 2, |out| der::octet_string(out, opaque::slice(rng, len)));
    });
}

/// Ticket [APPLICATION 1] for `service` in `realm`.
fn ticket(out: &mut Vec<u8>, rng: &mut Rng, realm: &str, service: &Principal, kvno: i64, cipher_len: usize) {
    der::tlv(out, der::application(1), |out| {
        der::sequence(out, |out| {
            int_field(out, 0, 5);
            der::explicit(out, 1, |out| der::general_string(out, realm));
            der::explicit(out, 2, |out| principal(out, service));
            der::explicit(out, 3, |out| encrypted_data(out, rng, Some(kvno), cipher_len));
        })
    });
}

/// Appends `message` behind a record mark (RFC 4120 §7.2.2: 4-byte big-endian length, top bit 0).
fn with_record_mark(out: &mut Vec<u8>, message: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    message(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn pa_data(out: &mut Vec<u8>, kind: i64, value: impl FnOnce(&mut Vec<u8>)) {
    der::sequence(out, |out| {
        int_field(out, 1, kind);
        der::explicit(out, 2, |out| der::tlv(out, der::OCTET_STRING, value));
    });
}

const PA_TGS_REQ: i64 = 1;
const PA_ENC_TIMESTAMP: i64 = 2;
const PA_PK_AS_REP_OLD: i64 = 15;
const PA_PK_AS_REQ: i64 = 16;
const PA_ETYPE_INFO2: i64 = 19;
const PA_PAC_REQUEST: i64 = 128;
const PA_PAC_OPTIONS: i64 = 167;

fn etype_info2(out: &mut Vec<u8>, salt: &str) {
    der::sequence(out, |out| {
        for (etype, salted) in [(18, true), (17, true), (23, false)] {
            der::sequence(out, |out| {
                int_field(out, 0, etype);
                if salted {
                    der::explicit(out, 1, |out| der::general_string(out, salt));
                }
            });
        }
    });
}

/// The salt a Windows KDC gives a user: upper-case realm, then the user name as typed.
fn user_salt(realm: &str, user: &str) -> String {
    format!("{}{user}", realm.to_ascii_uppercase())
}

/// An AS-REQ for `user@realm`'s TGT.
#[derive(Debug, Clone, Copy)]
pub struct AsReq<'a> {
    pub realm: &'a str,
    pub user: &'a str,
    /// NetBIOS name of the client machine, sent as its address (type 20, padded to 16).
    pub client_netbios: &'a str,
    /// With PA-ENC-TIMESTAMP (the second attempt, after PREAUTH_REQUIRED).
    pub preauth: bool,
}

/// Appends an AS-REQ (record-marked).
pub fn as_req(out: &mut Vec<u8>, rng: &mut Rng, req: &AsReq) {
    let nonce = i64::from(rng.next_u32() & 0x7fff_ffff);
    with_record_mark(out, |out| {
        der::tlv(out, der::application(10), |out| {
            der::sequence(out, |out| {
                int_field(out, 1, 5);
                int_field(out, 2, AS_REQ);
                der::explicit(out, 3, |out| {
                    der::sequence(out, |out| {
                        if req.preauth {
                            pa_data(out, PA_ENC_TIMESTAMP, |out| encrypted_data(out, rng, None, ENC_TIMESTAMP_LEN));
                        }
                        pa_data(out, PA_PAC_REQUEST, |out| {
                            der::sequence(out, |out| der::explicit(out, 0, |out| der::boolean(out, true)))
                        });
                    })
                });
                der::explicit(out, 4, |out| {
                    der::sequence(out, |out| {
                        der::explicit(out, 0, |out| der::bit_string(out, &[0x40, 0x81, 0x00, 0x10]));
                        der::explicit(out, 1, |out| principal(out, &Principal::user(&[req.user])));
                        der::explicit(out, 2, |out| der::general_string(out, req.realm));
                        der::explicit(out, 3, |out| principal(out, &Principal::service(&["krbtgt", req.realm])));
                        der::explicit(out, 5, |out| der::generalized_time(out, FAR_FUTURE_SECS));
                        der::explicit(out, 6, |out| der::generalized_time(out, FAR_FUTURE_SECS));
                        int_field(out, 7, nonce);
                        der::explicit(out, 8, |out| etypes(out, AS_ETYPES));
                        der::explicit(out, 9, |out| {
                            der::sequence(out, |out| {
                                der::sequence(out, |out| {
                                    int_field(out, 0, 20);
                                    let name = format!("{:<16}", req.client_netbios);
                                    der::explicit(out, 1, |out| der::octet_string(out, name.as_bytes()));
                                })
                            })
                        });
                    })
                });
            })
        })
    });
}

fn etypes(out: &mut Vec<u8>, list: &[i64]) {
    der::sequence(out, |out| {
        for e in list {
            der::integer(out, *e);
        }
    });
}

/// Appends an AS-REP giving `user@realm` a TGT (record-marked).
pub fn as_rep(out: &mut Vec<u8>, rng: &mut Rng, realm: &str, user: &str) {
    kdc_rep(
        out,
        rng,
        AS_REP,
        realm,
        user,
        &Principal::service(&["krbtgt", realm]),
        2,
        TGT_CIPHER_LEN,
        AS_REP_ENC_PART_LEN,
    )
}

/// Appends a TGS-REP giving `user@realm` a ticket for `service` (record-marked).
pub fn tgs_rep(out: &mut Vec<u8>, rng: &mut Rng, realm: &str, user: &str, service: &Principal) {
    kdc_rep(out, rng, TGS_REP, realm, user, service, 1, SERVICE_TICKET_CIPHER_LEN, TGS_REP_ENC_PART_LEN)
}

#[allow(clippy::too_many_arguments)]
fn kdc_rep(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    msg_type: i64,
    realm: &str,
    user: &str,
    service: &Principal,
    ticket_kvno: i64,
    ticket_len: usize,
    enc_len: usize,
) {
    with_record_mark(out, |out| {
        der::tlv(out, der::application(msg_type as u8), |out| {
            der::sequence(out, |out| {
                int_field(out, 0, 5);
                int_field(out, 1, msg_type);
                if msg_type == AS_REP {
                    der::explicit(out, 2, |out| {
                        der::sequence(out, |out| {
                            pa_data(out, PA_ETYPE_INFO2, |out| {
                                der::sequence(out, |out| {
                                    der::sequence(out, |out| {
                                        int_field(out, 0, ETYPE_AES256);
                                        der::explicit(out, 1, |out| der::general_string(out, &user_salt(realm, user)));
                                    })
                                })
                            })
                        })
                    });
                }
                der::explicit(out, 3, |out| der::general_string(out, realm));
                der::explicit(out, 4, |out| principal(out, &Principal::user(&[user])));
                der::explicit(out, 5, |out| ticket(out, rng, realm, service, ticket_kvno, ticket_len));
                let kvno = (msg_type == AS_REP).then_some(3);
                der::explicit(out, 6, |out| encrypted_data(out, rng, kvno, enc_len));
            })
        })
    });
}

/// A KRB-ERROR from the KDC of `realm` about `user`'s AS-REQ.
#[derive(Debug, Clone, Copy)]
pub struct KrbError<'a> {
    pub code: ErrorCode,
    pub realm: &'a str,
    pub user: &'a str,
}

/// Appends a KRB-ERROR (record-marked) stamped `now_ns`.
pub fn krb_error(out: &mut Vec<u8>, rng: &mut Rng, now_ns: u64, err: &KrbError) {
    let usec = i64::from(rng.next_u32() % 1_000_000);
    with_record_mark(out, |out| {
        der::tlv(out, der::application(30), |out| {
            der::sequence(out, |out| {
                int_field(out, 0, 5);
                int_field(out, 1, KRB_ERROR);
                der::explicit(out, 4, |out| der::generalized_time(out, now_ns / 1_000_000_000));
                int_field(out, 5, usec);
                int_field(out, 6, err.code as i64);
                der::explicit(out, 9, |out| der::general_string(out, err.realm));
                der::explicit(out, 10, |out| principal(out, &Principal::service(&["krbtgt", err.realm])));
                let salt = user_salt(err.realm, err.user);
                match err.code {
                    ErrorCode::PreauthRequired => der::explicit(out, 12, |out| {
                        der::tlv(out, der::OCTET_STRING, |out| {
                            der::sequence(out, |out| {
                                pa_data(out, PA_ETYPE_INFO2, |out| etype_info2(out, &salt));
                                pa_data(out, PA_ENC_TIMESTAMP, |_| {});
                                pa_data(out, PA_PK_AS_REQ, |_| {});
                                pa_data(out, PA_PK_AS_REP_OLD, |_| {});
                            })
                        })
                    }),
                    ErrorCode::PreauthFailed => der::explicit(out, 12, |out| {
                        der::tlv(out, der::OCTET_STRING, |out| {
                            der::sequence(out, |out| pa_data(out, PA_ETYPE_INFO2, |out| etype_info2(out, &salt)))
                        })
                    }),
                    ErrorCode::ClientUnknown | ErrorCode::ClientRevoked => {}
                }
            })
        })
    });
}

/// Appends a TGS-REQ (record-marked) in which `user`'s TGT asks for a ticket to `service`.
pub fn tgs_req(out: &mut Vec<u8>, rng: &mut Rng, realm: &str, service: &Principal) {
    let nonce = i64::from(rng.next_u32() & 0x7fff_ffff);
    with_record_mark(out, |out| {
        der::tlv(out, der::application(12), |out| {
            der::sequence(out, |out| {
                int_field(out, 1, 5);
                int_field(out, 2, TGS_REQ);
                der::explicit(out, 3, |out| {
                    der::sequence(out, |out| {
                        pa_data(out, PA_TGS_REQ, |out| {
                            ap_req_with(
                                out,
                                rng,
                                realm,
                                &Principal::service(&["krbtgt", realm]),
                                2,
                                TGT_CIPHER_LEN,
                                TGS_AUTHENTICATOR_LEN,
                                false,
                            )
                        });
                        pa_data(out, PA_PAC_OPTIONS, |out| {
                            der::sequence(out, |out| {
                                der::explicit(out, 0, |out| der::bit_string(out, &[0x40, 0, 0, 0]))
                            })
                        });
                    })
                });
                der::explicit(out, 4, |out| {
                    der::sequence(out, |out| {
                        der::explicit(out, 0, |out| der::bit_string(out, &[0x40, 0x81, 0x00, 0x00]));
                        der::explicit(out, 2, |out| der::general_string(out, realm));
                        der::explicit(out, 3, |out| principal(out, service));
                        der::explicit(out, 5, |out| der::generalized_time(out, FAR_FUTURE_SECS));
                        int_field(out, 7, nonce);
                        der::explicit(out, 8, |out| etypes(out, TGS_ETYPES));
                        der::explicit(out, 10, |out| encrypted_data(out, rng, None, TGS_AUTHZ_DATA_LEN));
                    })
                });
            })
        })
    });
}

#[allow(clippy::too_many_arguments)]
fn ap_req_with(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    realm: &str,
    service: &Principal,
    kvno: i64,
    ticket_len: usize,
    authenticator_len: usize,
    mutual: bool,
) {
    der::tlv(out, der::application(14), |out| {
        der::sequence(out, |out| {
            int_field(out, 0, 5);
            int_field(out, 1, AP_REQ);
            let options = if mutual { 0x20 } else { 0 };
            der::explicit(out, 2, |out| der::bit_string(out, &[options, 0, 0, 0]));
            der::explicit(out, 3, |out| ticket(out, rng, realm, service, kvno, ticket_len));
            der::explicit(out, 4, |out| encrypted_data(out, rng, None, authenticator_len));
        })
    });
}

/// Appends a bare AP-REQ (mutual authentication required) presenting a `ticket_len`-byte service
/// ticket for `service` and an `authenticator_len`-byte authenticator.
pub fn ap_req(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    realm: &str,
    service: &Principal,
    ticket_len: usize,
    authenticator_len: usize,
) {
    ap_req_with(out, rng, realm, service, 1, ticket_len, authenticator_len, true);
}

/// Appends a bare AP-REP whose enc-part is `enc_len` bytes.
pub fn ap_rep(out: &mut Vec<u8>, rng: &mut Rng, enc_len: usize) {
    der::tlv(out, der::application(15), |out| {
        der::sequence(out, |out| {
            int_field(out, 0, 5);
            int_field(out, 1, AP_REP);
            der::explicit(out, 2, |out| encrypted_data(out, rng, None, enc_len));
        })
    });
}

/// GSS token identifiers of the Kerberos mechanism (RFC 4121 §4.1).
pub const TOK_AP_REQ: [u8; 2] = [0x01, 0x00];
pub const TOK_AP_REP: [u8; 2] = [0x02, 0x00];

/// Appends a GSS-API InitialContextToken of the Kerberos mechanism: `0x60`, the Kerberos OID, the
/// token id, then `inner` (an AP-REQ or AP-REP).
pub fn gss_token(out: &mut Vec<u8>, tok_id: [u8; 2], inner: &[u8]) {
    der::tlv(out, der::application(0), |out| {
        der::oid(out, &[1, 2, 840, 113_554, 1, 2, 2]);
        out.extend_from_slice(&tok_id);
        out.extend_from_slice(inner);
    });
}

/// Flags of RFC 4121 per-message tokens.
pub const CFX_SENT_BY_ACCEPTOR: u8 = 0x01;
pub const CFX_SEALED: u8 = 0x02;
pub const CFX_ACCEPTOR_SUBKEY: u8 = 0x04;

/// Appends a 28-byte MIC token (RFC 4121 §4.2.6.1; AES HMAC-SHA1-96 checksum), as SPNEGO's
/// mechListMIC after a Kerberos exchange.
pub fn cfx_mic(out: &mut Vec<u8>, rng: &mut Rng, flags: u8, seq: u64) {
    out.extend_from_slice(&[0x04, 0x04, flags, 0xff, 0xff, 0xff, 0xff, 0xff]);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(opaque::slice(rng, 12));
}

/// Appends the 16-byte header of a Wrap token (RFC 4121 §4.2.6.2) with extra count `ec` and
/// right rotation count `rrc`.
pub fn cfx_wrap_header(out: &mut Vec<u8>, flags: u8, ec: u16, rrc: u16, seq: u64) {
    out.extend_from_slice(&[0x05, 0x04, flags, 0xff]);
    out.extend_from_slice(&ec.to_be_bytes());
    out.extend_from_slice(&rrc.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const REALM: &str = "THESHIRE.LOCAL";

    fn record_len(msg: &[u8]) -> usize {
        u32::from_be_bytes(msg[..4].try_into().unwrap()) as usize
    }

    fn check(msg: &[u8], app_tag: u8) {
        assert_eq!(record_len(msg), msg.len() - 4, "record mark");
        assert_eq!(msg[4], der::application(app_tag));
        assert!(der::check_lengths(&msg[4..]).is_ok(), "{:?}", der::check_lengths(&msg[4..]));
    }

    #[test]
    fn tgs_exchange_matches_the_measured_sizes() {
        let mut rng = Rng::new(1);
        let (mut req, mut rep) = (Vec::new(), Vec::new());
        let service = Principal::service(&["cifs", "WORKSTATION6"]);
        tgs_req(&mut req, &mut rng, REALM, &service);
        tgs_rep(&mut rep, &mut rng, REALM, "pgustavo", &service);
        check(&req, 12);
        check(&rep, 13);
        // covenant_copy_smb_*: TGS-REQ record 1635 bytes, TGS-REP 1637 (enc-part 298 there, 306 here).
        assert!(record_len(&req).abs_diff(1635) <= 8, "{}", record_len(&req));
        assert!(record_len(&rep).abs_diff(1637 + 8) <= 8, "{}", record_len(&rep));
    }

    #[test]
    fn as_exchange_with_preauth_error_is_well_formed() {
        let mut rng = Rng::new(2);
        let now = 1_600_000_000_000_000_000;
        let mut msgs = Vec::new();
        for preauth in [false, true] {
            let mut m = Vec::new();
            as_req(
                &mut m,
                &mut rng,
                &AsReq { realm: REALM, user: "pgustavo", client_netbios: "WORKSTATION5", preauth },
            );
            check(&m, 10);
            msgs.push(m);
        }
        assert_eq!(msgs[1].len() - msgs[0].len(), 4 + 4 + 2 + 4 + 3 + 2 + 2 + 3 + ENC_TIMESTAMP_LEN);
        for code in [ErrorCode::PreauthRequired, ErrorCode::PreauthFailed, ErrorCode::ClientUnknown] {
            let mut e = Vec::new();
            krb_error(&mut e, &mut rng, now, &KrbError { code, realm: REALM, user: "pgustavo" });
            check(&e, 30);
            assert!(e.windows(17).any(|w| w == b"\x18\x0f20200913122640Z"));
        }
        let mut rep = Vec::new();
        as_rep(&mut rep, &mut rng, REALM, "pgustavo");
        check(&rep, 11);
        assert!((1500..1600).contains(&rep.len()), "{}", rep.len());
    }

    #[test]
    fn ap_tokens_and_gss_framing() {
        let mut rng = Rng::new(3);
        let mut ap = Vec::new();
        ap_req(&mut ap, &mut rng, REALM, &Principal::service(&["cifs", "WORKSTATION6"]), 1165, 407);
        assert!(der::check_lengths(&ap).is_ok());
        let mut gss = Vec::new();
        gss_token(&mut gss, TOK_AP_REQ, &ap);
        // Measured: the GSS AP-REQ in SMB2 session setup is 0x6c3 bytes (60 82 06 bf ...).
        assert_eq!(&gss[..4], [0x60, 0x82, 0x06, 0xbf]);
        assert_eq!(&gss[4..17], [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00]);
        let mut rep = Vec::new();
        ap_rep(&mut rep, &mut rng, AP_REP_ENC_PART_LEN);
        // Measured: 6f 81 88 (139 bytes).
        assert_eq!(&rep[..3], [0x6f, 0x81, 0x88]);
        assert_eq!(rep.len(), 139);
        let mut mic = Vec::new();
        cfx_mic(&mut mic, &mut rng, CFX_ACCEPTOR_SUBKEY, 7);
        cfx_wrap_header(&mut mic, CFX_SEALED | CFX_ACCEPTOR_SUBKEY, 16, 28, 7);
        assert_eq!(mic.len(), 28 + 16);
        assert_eq!(&mic[28..36], [0x05, 0x04, 0x06, 0xff, 0x00, 0x10, 0x00, 0x1c]);
    }

    #[test]
    fn same_seed_same_bytes() {
        let build = |seed| {
            let mut v = Vec::new();
            tgs_req(&mut v, &mut Rng::new(seed), REALM, &Principal::service(&["ldap", "MORDORDC"]));
            v
        };
        assert_eq!(build(9), build(9));
        assert_ne!(build(9), build(10));
    }
}
