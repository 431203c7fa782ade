//! Detached ed25519 signatures of model files, and the key files that make them.
//!
//! A signature file sits beside the model (`model.onnx.sig`) and reads:
//!
//! ```text
//! sensor-model-signature v1
//! key ed25519:<base64 public key, 32 bytes>
//! sha256 <hex of the model file>
//! signature <base64, 64 bytes>
//! ```
//!
//! The signed message is the first line, a newline, and the 32 raw bytes of the file's SHA-256, so a
//! signature cannot be replayed for another purpose. The `sha256` line lets the sensor tell "the file
//! changed since it was signed" from "the signature is bad". Public keys are written
//! `ed25519:<base64>` in key files and in the config's trusted list; a secret key file holds
//! `ed25519-secret:<base64 of the 32-byte seed>` and is written with mode 0600.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

const HEADER: &str = "sensor-model-signature v1";
const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";

/// Why a model's signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("no signature file {0} (sign the model with `sensor model sign`, or pass --allow-unsigned)")]
    Missing(PathBuf),
    #[error("signature file {path}: {problem}")]
    Malformed { path: PathBuf, problem: String },
    #[error("the model was signed by {key}, which is not among the trusted keys")]
    UntrustedKey { key: String },
    #[error("the model file changed after it was signed (signed sha256 {signed}, file sha256 {actual})")]
    Tampered { signed: String, actual: String },
    #[error("the signature does not verify against key {key}")]
    BadSignature { key: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    BadKey { path: String, problem: String },
}

/// A public key the sensor trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses `ed25519:<base64>`; `origin` names where the text came from, for errors.
    pub fn parse(text: &str, origin: &str) -> Result<PublicKey, SignatureError> {
        let bad = |problem: &str| SignatureError::BadKey { path: origin.to_string(), problem: problem.to_string() };
        let b64 = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(|| bad("a public key starts with ed25519:"))?;
        let bytes = B64.decode(b64).map_err(|_| bad("the key is not base64"))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad("an ed25519 public key has 32 bytes"))?;
        VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| bad("not a valid ed25519 point"))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", B64.encode(self.0.as_bytes()))
    }
}

/// A signing key (the training team's side).
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn load(path: &Path) -> Result<SecretKey, SignatureError> {
        let text = std::fs::read_to_string(path).map_err(|source| SignatureError::Io { path: path.into(), source })?;
        let bad = |problem: &str| SignatureError::BadKey { path: path.display().to_string(), problem: problem.into() };
        let b64 = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| bad("a secret key file starts with ed25519-secret:"))?;
        let seed: [u8; 32] = B64
            .decode(b64)
            .map_err(|_| bad("the key is not base64"))?
            .try_into()
            .map_err(|_| bad("an ed25519 secret key has 32 bytes"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Writes the secret key (mode 0600, refusing to overwrite) and its public half beside it.
    pub fn write(&self, secret: &Path, public: &Path) -> Result<(), SignatureError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |path: &Path, source| SignatureError::Io { path: path.into(), source };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(secret)
            .map_err(|e| io(secret, e))?;
        writeln!(f, "{SECRET_PREFIX}{}", B64.encode(self.0.to_bytes())).map_err(|e| io(secret, e))?;
        std::fs::write(public, format!("{}\n", self.public())).map_err(|e| io(public, e))
    }

    /// The signature file's text for `model` (the file's bytes).
    pub fn sign(&self, model: &[u8]) -> String {
        let digest: [u8; 32] = Sha256::digest(model).into();
        let sig = self.0.sign(&message(&digest));
        format!("{HEADER}\nkey {}\nsha256 {}\nsignature {}\n", self.public(), hex(&digest), B64.encode(sig.to_bytes()))
    }
}

/// Where the signature of `model` lives.
pub fn signature_path(model: &Path) -> PathBuf {
    let mut s = model.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// Checks a model's bytes against its signature file's text. Returns the signer's key.
pub fn verify(
    model: &[u8],
    sig_text: &str,
    sig_path: &Path,
    trusted: &[PublicKey],
) -> Result<PublicKey, SignatureError> {
    let bad = |problem: String| SignatureError::Malformed { path: sig_path.into(), problem };
    let mut lines = sig_text.lines();
    if lines.next().map(str::trim) != Some(HEADER) {
        return Err(bad(format!("the first line must be {HEADER:?}")));
    }
    let mut field = |name: &str| -> Result<String, SignatureError> {
        let line = lines.next().ok_or_else(|| bad(format!("the {name} line is missing")))?;
        line.trim()
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .map(str::to_string)
            .ok_or_else(|| bad(format!("expected a {name} line, found {line:?}")))
    };
    let key = PublicKey::parse(&field("key")?, &sig_path.display().to_string())?;
    let signed_hash = field("sha256")?;
    let sig_b64 = field("signature")?;
    let sig_bytes: [u8; 64] = B64
        .decode(&sig_b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the signature is not 64 bytes of base64".into()))?;
    if !trusted.contains(&key) {
        return Err(SignatureError::UntrustedKey { key: key.to_string() });
    }
    let digest: [u8; 32] = Sha256::digest(model).into();
    if hex(&digest) != signed_hash {
        return Err(SignatureError::Tampered { signed: signed_hash, actual: hex(&digest) });
    }
    key.0
        .verify(&message(&digest), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| SignatureError::BadSignature { key: key.to_string() })?;
    Ok(key)
}

fn message(digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER.len() + 33);
    m.extend_from_slice(HEADER.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(digest);
    m
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&[seed; 32]))
    }

    #[test]
    fn a_signed_file_verifies_with_a_trusted_key() {
        let k = key(7);
        let sig = k.sign(b"model bytes");
        let who = verify(b"model bytes", &sig, Path::new("m.sig"), &[key(1).public(), k.public()]).unwrap();
        assert_eq!(who, k.public());
    }

    #[test]
    fn refusals_name_their_reason() {
        let k = key(7);
        let sig = k.sign(b"model bytes");
        let p = Path::new("m.sig");
        assert!(matches!(
            verify(b"model bytes", &sig, p, &[key(1).public()]),
            Err(SignatureError::UntrustedKey { .. })
        ));
        assert!(matches!(verify(b"model bytez", &sig, p, &[k.public()]), Err(SignatureError::Tampered { .. })));
        // Same hash line, forged signature bytes.
        let forged = sig.replace(sig.lines().nth(3).unwrap(), &format!("signature {}", B64.encode([0u8; 64])));
        assert!(matches!(verify(b"model bytes", &forged, p, &[k.public()]), Err(SignatureError::BadSignature { .. })));
        // A signature by another key, claiming to be ours.
        let other = key(9).sign(b"model bytes");
        let spliced = other.replace(other.lines().nth(1).unwrap(), &format!("key {}", k.public()));
        assert!(matches!(verify(b"model bytes", &spliced, p, &[k.public()]), Err(SignatureError::BadSignature { .. })));
        assert!(matches!(verify(b"model bytes", "garbage", p, &[k.public()]), Err(SignatureError::Malformed { .. })));
    }

    #[test]
    fn keys_round_trip_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let k = SecretKey::generate().unwrap();
        let (s, p) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        k.write(&s, &p).unwrap();
        let back = SecretKey::load(&s).unwrap();
        assert_eq!(back.public(), k.public());
        let public = PublicKey::parse(&std::fs::read_to_string(&p).unwrap(), "k.pub").unwrap();
        assert_eq!(public, k.public());
        assert!(k.write(&s, &p).is_err(), "an existing secret key is not overwritten");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&s).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
