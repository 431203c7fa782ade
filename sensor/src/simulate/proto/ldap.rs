//! LDAPv3 messages (RFC 4511) between a Windows client and a domain controller on TCP 389.
//!
//! [`LdapClient`] numbers messages and builds each operation with the DC's answer: a SASL
//! GSS-SPNEGO bind carrying a Kerberos AP-REQ for `ldap/<dc>` (what ADSI, PowerView and SharpHound
//! send), a simple bind (what password sprayers send, answered success or invalidCredentials with
//! AD's diagnostic text), searches answered by entries and searchResDone (optionally with the paged
//! results control, 1.2.840.113556.1.4.319, that AD enumeration tools use), and unbind.
//!
//! After a GSS-SPNEGO bind Windows normally negotiates sealing: every later message is a SASL buffer
//! (4-byte length) holding a Kerberos wrap token. [`Protection::Sealed`] produces that (the LDAP
//! operation is then invisible on the wire); [`Protection::Clear`] keeps messages readable, as with
//! signing disabled or a simple bind.
//!
//! The OTRF lateral-movement captures contain no LDAP, so sizes come from the protocol plus the
//! Kerberos sizes measured there: the bind request carries a 1165-byte service ticket and a 407-byte
//! authenticator (≈ 1.8 KB), the response a 110-byte AP-REP (≈ 180 bytes).

use super::der;
use super::kerberos::{self, Principal};
use super::opaque;
use super::spnego::{self, Mech, NegState};
use crate::simulate::rng::Rng;

/// protocolOp tags: `[APPLICATION n]`.
pub const BIND_REQUEST: u8 = 0;
pub const BIND_RESPONSE: u8 = 1;
pub const UNBIND_REQUEST: u8 = 2;
pub const SEARCH_REQUEST: u8 = 3;
pub const SEARCH_RES_ENTRY: u8 = 4;
pub const SEARCH_RES_DONE: u8 = 5;

pub const SUCCESS: i64 = 0;
pub const INVALID_CREDENTIALS: i64 = 49;

const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";
/// AD's diagnostic for a wrong password (Win32 error 0x52e).
const BAD_PASSWORD_DIAGNOSTIC: &str =
    "80090308: LdapErr: DSID-0C090446, comment: AcceptSecurityContext error, data 52e, v4563\0";

/// Whether messages after a SASL bind are sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    Clear,
    Sealed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    BaseObject = 0,
    SingleLevel = 1,
    WholeSubtree = 2,
}

/// A search filter (RFC 4511 §4.5.1.7), the forms enumeration uses.
#[derive(Debug, Clone, Copy)]
pub enum Filter<'a> {
    /// `(attr=*)`.
    Present(&'a str),
    /// `(attr=value)`.
    Equal(&'a str, &'a str),
    And(&'a [Filter<'a>]),
    Or(&'a [Filter<'a>]),
}

/// A searchRequest.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    /// Base DN, "" for the rootDSE.
    pub base: &'a str,
    pub scope: Scope,
    pub filter: Filter<'a>,
    /// Attributes to return; empty for all.
    pub attributes: &'a [&'a str],
    /// Page size of the paged results control, if sent.
    pub page_size: Option<u32>,
}

/// One searchResEntry: DN and attributes with their values.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub dn: &'a str,
    pub attributes: &'a [(&'a str, &'a [&'a [u8]])],
}

/// How a simple bind ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindOutcome {
    Success,
    InvalidCredentials,
}

/// One LDAP connection (see the module doc).
#[derive(Debug, Clone)]
pub struct LdapClient {
    message_id: i64,
    protection: Protection,
    /// Set once a SASL bind succeeded with sealing negotiated.
    sealing: bool,
    client_seq: u64,
    server_seq: u64,
}

fn filter(out: &mut Vec<u8>, f: &Filter) {
    match f {
        Filter::Present(attr) => der::primitive(out, der::context_primitive(7), attr.as_bytes()),
        Filter::Equal(attr, value) => der::tlv(out, der::context(3), |out| {
            der::octet_string(out, attr.as_bytes());
            der::octet_string(out, value.as_bytes());
        }),
        Filter::And(parts) | Filter::Or(parts) => {
            let tag = if matches!(f, Filter::And(_)) { der::context(0) } else { der::context(1) };
            der::tlv(out, tag, |out| {
                for p in *parts {
                    filter(out, p);
                }
            })
        }
    }
}

fn ldap_result(out: &mut Vec<u8>, code: i64, diagnostic: &str) {
    der::enumerated(out, code);
    der::octet_string(out, b"");
    der::octet_string(out, diagnostic.as_bytes());
}

/// The paged results control with `size` and `cookie`.
fn paged_control(out: &mut Vec<u8>, size: u32, cookie: &[u8]) {
    der::explicit(out, 0, |out| {
        der::sequence(out, |out| {
            der::octet_string(out, PAGED_RESULTS_OID.as_bytes());
            der::tlv(out, der::OCTET_STRING, |out| {
                der::sequence(out, |out| {
                    der::integer(out, i64::from(size));
                    der::octet_string(out, cookie);
                })
            });
        })
    });
}

impl Default for LdapClient {
    fn default() -> Self {
        LdapClient::new(Protection::Clear)
    }
}

impl LdapClient {
    pub fn new(protection: Protection) -> Self {
        LdapClient { message_id: 1, protection, sealing: false, client_seq: 0, server_seq: 0 }
    }

    /// The message id of the next request.
    pub fn message_id(&self) -> i64 {
        self.message_id
    }

    /// Appends one LDAPMessage with `id`, wrapped in a SASL buffer once sealing is on.
    fn message(
        &mut self,
        out: &mut Vec<u8>,
        rng: &mut Rng,
        id: i64,
        from_server: bool,
        body: impl FnOnce(&mut Vec<u8>),
    ) {
        let mut msg = Vec::with_capacity(256);
        der::sequence(&mut msg, |out| {
            der::integer(out, id);
            body(out);
        });
        if !self.sealing {
            out.extend_from_slice(&msg);
            return;
        }
        let seq = if from_server { &mut self.server_seq } else { &mut self.client_seq };
        let flags = kerberos::CFX_SEALED
            | kerberos::CFX_ACCEPTOR_SUBKEY
            | if from_server { kerberos::CFX_SENT_BY_ACCEPTOR } else { 0 };
        // Wrap token: 16-byte header, then the sealed message with its confounder, encrypted header
        // copy and checksum (60 bytes more), as in the DCE/RPC verifiers of the captures.
        let token_len = 16 + msg.len() + 60;
        out.extend_from_slice(&(token_len as u32).to_be_bytes());
        kerberos::cfx_wrap_header(out, flags, 16, 28, *seq);
        *seq += 1;
        opaque::extend(out, rng, msg.len() + 60);
    }

    fn next_id(&mut self) -> i64 {
        let id = self.message_id;
        self.message_id += 1;
        id
    }

    /// A SASL GSS-SPNEGO bind with a Kerberos ticket for `ldap/<dc_fqdn>`, accepted.
    pub fn bind_kerberos(&mut self, rng: &mut Rng, realm: &str, dc_fqdn: &str, req: &mut Vec<u8>, resp: &mut Vec<u8>) {
        let id = self.next_id();
        let mut ap = Vec::with_capacity(1800);
        let parts = ["ldap", dc_fqdn];
        kerberos::ap_req(
            &mut ap,
            rng,
            realm,
            &Principal::service(&parts),
            kerberos::SERVICE_TICKET_CIPHER_LEN,
            kerberos::AP_AUTHENTICATOR_LEN,
        );
        let mut gss = Vec::with_capacity(1800);
        kerberos::gss_token(&mut gss, kerberos::TOK_AP_REQ, &ap);
        let mut creds = Vec::with_capacity(1900);
        spnego::neg_token_init(&mut creds, spnego::CLIENT_KERBEROS_MECHS, Some(&gss));
        self.message(req, rng, id, false, |out| {
            der::tlv(out, der::application(BIND_REQUEST), |out| {
                der::integer(out, 3);
                der::octet_string(out, b"");
                der::tlv(out, der::context(3), |out| {
                    der::octet_string(out, b"GSS-SPNEGO");
                    der::octet_string(out, &creds);
                });
            })
        });
        ap.clear();
        kerberos::ap_rep(&mut ap, rng, kerberos::AP_REP_ENC_PART_LEN);
        gss.clear();
        kerberos::gss_token(&mut gss, kerberos::TOK_AP_REP, &ap);
        let mut answer = Vec::with_capacity(200);
        spnego::neg_token_resp(&mut answer, Some(NegState::AcceptCompleted), Some(Mech::MsKrb5), Some(&gss), None);
        self.message(resp, rng, id, true, |out| {
            der::tlv(out, der::application(BIND_RESPONSE), |out| {
                ldap_result(out, SUCCESS, "");
                der::primitive(out, der::context_primitive(7), &answer);
            })
        });
        if self.protection == Protection::Sealed {
            self.sealing = true;
            self.client_seq = u64::from(rng.next_u32());
            self.server_seq = u64::from(rng.next_u32());
        }
    }

    /// A simple bind of `dn` (e.g. "pgustavo@theshire.local") with a password of `password_len`
    /// characters, and its result.
    pub fn bind_simple(
        &mut self,
        rng: &mut Rng,
        dn: &str,
        password_len: usize,
        outcome: BindOutcome,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) {
        let id = self.next_id();
        // Printable, password-like bytes drawn from the opaque block.
        let password: Vec<u8> = opaque::slice(rng, password_len).iter().map(|b| b'!' + b % 94).collect();
        self.message(req, rng, id, false, |out| {
            der::tlv(out, der::application(BIND_REQUEST), |out| {
                der::integer(out, 3);
                der::octet_string(out, dn.as_bytes());
                der::primitive(out, der::context_primitive(0), &password);
            })
        });
        let (code, diagnostic) = match outcome {
            BindOutcome::Success => (SUCCESS, ""),
            BindOutcome::InvalidCredentials => (INVALID_CREDENTIALS, BAD_PASSWORD_DIAGNOSTIC),
        };
        self.message(resp, rng, id, true, |out| {
            der::tlv(out, der::application(BIND_RESPONSE), |out| ldap_result(out, code, diagnostic))
        });
    }

    /// A searchRequest answered by one searchResEntry per entry and a searchResDone (success).
    pub fn search(&mut self, rng: &mut Rng, search: &Search, entries: &[Entry], req: &mut Vec<u8>, resp: &mut Vec<u8>) {
        let id = self.next_id();
        self.message(req, rng, id, false, |out| {
            der::tlv(out, der::application(SEARCH_REQUEST), |out| {
                der::octet_string(out, search.base.as_bytes());
                der::enumerated(out, search.scope as i64);
                // derefAliases: derefAlways, as ADSI sends.
                der::enumerated(out, 3);
                // No size or time limit, attribute values wanted.
                der::integer(out, 0);
                der::integer(out, 0);
                der::boolean(out, false);
                filter(out, &search.filter);
                der::sequence(out, |out| {
                    for a in search.attributes {
                        der::octet_string(out, a.as_bytes());
                    }
                });
            });
            if let Some(size) = search.page_size {
                paged_control(out, size, b"");
            }
        });
        for e in entries {
            self.message(resp, rng, id, true, |out| {
                der::tlv(out, der::application(SEARCH_RES_ENTRY), |out| {
                    der::octet_string(out, e.dn.as_bytes());
                    der::sequence(out, |out| {
                        for (name, values) in e.attributes {
                            der::sequence(out, |out| {
                                der::octet_string(out, name.as_bytes());
                                der::tlv(out, der::SET, |out| {
                                    for v in *values {
                                        der::octet_string(out, v);
                                    }
                                });
                            });
                        }
                    });
                })
            });
        }
        self.message(resp, rng, id, true, |out| {
            der::tlv(out, der::application(SEARCH_RES_DONE), |out| ldap_result(out, SUCCESS, ""));
            if search.page_size.is_some() {
                paged_control(out, 0, b"");
            }
        });
    }

    /// An unbindRequest (no answer; the client closes the connection).
    pub fn unbind(&mut self, rng: &mut Rng, req: &mut Vec<u8>) {
        let id = self.next_id();
        self.message(req, rng, id, false, |out| {
            out.extend_from_slice(&[der::application_primitive(UNBIND_REQUEST), 0])
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The top-level values of a stream of LDAPMessages: (message id, protocolOp tag).
    fn ops(stream: &[u8]) -> Vec<(u8, u8)> {
        assert!(der::check_lengths(stream).is_ok(), "{:?}", der::check_lengths(stream));
        let mut found = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            assert_eq!(stream[at], der::SEQUENCE);
            let (len, head) = match stream[at + 1] {
                n if n < 0x80 => (n as usize, 2),
                0x81 => (stream[at + 2] as usize, 3),
                0x82 => (u16::from_be_bytes([stream[at + 2], stream[at + 3]]) as usize, 4),
                other => panic!("length form {other:#x}"),
            };
            let body = &stream[at + head..];
            assert_eq!(body[0], der::INTEGER);
            let id_len = body[1] as usize;
            found.push((body[2 + id_len - 1], body[2 + id_len]));
            at += head + len;
        }
        found
    }

    #[test]
    fn unbind_bytes_are_exact() {
        let mut out = Vec::new();
        LdapClient::default().unbind(&mut Rng::new(1), &mut out);
        assert_eq!(out, [0x30, 0x05, 0x02, 0x01, 0x01, 0x42, 0x00]);
    }

    #[test]
    fn present_and_equality_filters() {
        let mut out = Vec::new();
        filter(&mut out, &Filter::Present("objectClass"));
        assert_eq!(out, b"\x87\x0bobjectClass");
        out.clear();
        filter(&mut out, &Filter::And(&[Filter::Equal("sAMAccountName", "pgustavo"), Filter::Present("cn")]));
        assert_eq!(&out[..4], [0xa0, 0x20, 0xa3, 0x1a]);
        assert_eq!(der::check_lengths(&out), Ok(5));
    }

    #[test]
    fn a_session_numbers_its_messages_and_echoes_ids() {
        let mut rng = Rng::new(2);
        let mut c = LdapClient::new(Protection::Clear);
        let (mut req, mut resp) = (Vec::new(), Vec::new());
        c.bind_kerberos(&mut rng, "THESHIRE.LOCAL", "MORDORDC.theshire.local", &mut req, &mut resp);
        assert!((1750..1950).contains(&req.len()), "{}", req.len());
        assert!((150..250).contains(&resp.len()), "{}", resp.len());
        let attrs: &[(&str, &[&[u8]])] = &[("cn", &[b"Domain Admins"]), ("member", &[b"CN=a", b"CN=b"])];
        let search = Search {
            base: "DC=theshire,DC=local",
            scope: Scope::WholeSubtree,
            filter: Filter::Equal("objectCategory", "group"),
            attributes: &["cn", "member"],
            page_size: Some(500),
        };
        let entries = [Entry { dn: "CN=Domain Admins,CN=Users,DC=theshire,DC=local", attributes: attrs }; 2];
        c.search(&mut rng, &search, &entries, &mut req, &mut resp);
        c.unbind(&mut rng, &mut req);
        assert_eq!(ops(&req), [(1, 0x60), (2, 0x63), (3, 0x42)]);
        assert_eq!(ops(&resp), [(1, 0x61), (2, 0x64), (2, 0x64), (2, 0x65)]);
    }

    #[test]
    fn sealed_messages_are_sasl_buffers() {
        let mut rng = Rng::new(3);
        let mut c = LdapClient::new(Protection::Sealed);
        let (mut req, mut resp) = (Vec::new(), Vec::new());
        c.bind_kerberos(&mut rng, "THESHIRE.LOCAL", "MORDORDC.theshire.local", &mut req, &mut resp);
        req.clear();
        c.unbind(&mut rng, &mut req);
        // SASL length, then a wrap token (05 04, sealed | acceptor subkey) over 7 + 60 bytes.
        assert_eq!(u32::from_be_bytes(req[..4].try_into().unwrap()) as usize, req.len() - 4);
        assert_eq!(req.len(), 4 + 16 + 7 + 60);
        assert_eq!(&req[4..8], [0x05, 0x04, 0x06, 0xff]);
    }

    #[test]
    fn failed_simple_bind_carries_ads_diagnostic() {
        let mut rng = Rng::new(4);
        let (mut req, mut resp) = (Vec::new(), Vec::new());
        LdapClient::default().bind_simple(
            &mut rng,
            "pgustavo@theshire.local",
            12,
            BindOutcome::InvalidCredentials,
            &mut req,
            &mut resp,
        );
        assert_eq!(ops(&resp), [(1, 0x61)]);
        assert!(resp.windows(3).any(|w| w == [0x0a, 0x01, 49]));
        assert!(resp.windows(9).any(|w| w == b"data 52e,"));
    }
}
