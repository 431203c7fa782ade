//! The baseline on disk: a versioned binary file, written atomically, checked on load.
//!
//! Layout (little-endian):
//! ```text
//! "SENSORCTX\n"                     magic, 10 bytes
//! u32 version                        FORMAT_VERSION
//! u64 covered_ns                     packet time the baseline has seen
//! pairs:                             u64 count, then count × (u64 key, u32 last seen, u16 port-class mask)
//! proc_ports, proc_dsts:             u64 count, then count × (u64 key, u32 last seen)
//! reach:                             u64 count, then count × (u64 key, u32 seen, u8 n, n × u32 source)
//! hosts:                             u64 count, then count × (u64 key, u32 seen, host volume, 524 bytes)
//! [u8; 32] SHA-256 of everything above
//! ```
//! A file that is truncated, fails its checksum, or has another version is refused with the reason;
//! [`load_or_set_aside`] then moves it to `FILE.corrupt-<seconds>` and starts from an empty baseline
//! (the sensor keeps running; it only has to learn again). Saving writes `FILE.tmp` and renames it over
//! `FILE`, so a crash mid-save leaves the previous file.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::baseline::{Baseline, BaselineLimits, HostVolume, REACH_CAP, Running};
use super::bounded::BoundedMap;

const MAGIC: &[u8; 10] = b"SENSORCTX\n";
/// 2: the reach map also counts the clients of internal services (a version-1 file would read as
/// "no internal service has clients" until relearned, so it is set aside).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{0} is not a sensor baseline file (bad magic)")]
    Magic(PathBuf),
    #[error("{path} has baseline format version {found}; this build reads version {FORMAT_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("{0} is damaged: its checksum does not match its contents")]
    Checksum(PathBuf),
    #[error("{path} is damaged: {what}")]
    Damaged { path: PathBuf, what: &'static str },
}

/// Writes the baseline to `path` atomically.
pub fn save(baseline: &Baseline, path: &Path) -> Result<(), StateError> {
    let mut b = Vec::with_capacity(64 + baseline.entries() * 16);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    b.extend_from_slice(&baseline.covered_ns.to_le_bytes());
    b.extend_from_slice(&(baseline.pairs.len() as u64).to_le_bytes());
    for (k, seen, mask) in baseline.pairs.iter() {
        b.extend_from_slice(&k.to_le_bytes());
        b.extend_from_slice(&seen.to_le_bytes());
        b.extend_from_slice(&mask.to_le_bytes());
    }
    for set in [&baseline.proc_ports, &baseline.proc_dsts] {
        b.extend_from_slice(&(set.len() as u64).to_le_bytes());
        for (k, seen, ()) in set.iter() {
            b.extend_from_slice(&k.to_le_bytes());
            b.extend_from_slice(&seen.to_le_bytes());
        }
    }
    b.extend_from_slice(&(baseline.reach.len() as u64).to_le_bytes());
    for (k, seen, sources) in baseline.reach.iter() {
        b.extend_from_slice(&k.to_le_bytes());
        b.extend_from_slice(&seen.to_le_bytes());
        b.push(sources.len() as u8);
        for s in sources {
            b.extend_from_slice(&s.to_le_bytes());
        }
    }
    b.extend_from_slice(&(baseline.hosts.len() as u64).to_le_bytes());
    for (k, seen, h) in baseline.hosts.iter() {
        b.extend_from_slice(&k.to_le_bytes());
        b.extend_from_slice(&seen.to_le_bytes());
        put_host(&mut b, h);
    }
    let sum = Sha256::digest(&b);
    b.extend_from_slice(&sum);

    let tmp = path.with_extension("tmp");
    let write = |p: &Path| -> std::io::Result<()> {
        let mut f = std::fs::File::create(p)?;
        f.write_all(&b)?;
        f.sync_all()
    };
    write(&tmp).map_err(|source| StateError::Write { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| StateError::Write { path: path.into(), source })
}

fn put_running(b: &mut Vec<u8>, r: &Running) {
    b.extend_from_slice(&r.n.to_le_bytes());
    b.extend_from_slice(&r.mean.to_le_bytes());
    b.extend_from_slice(&r.m2.to_le_bytes());
}

fn put_host(b: &mut Vec<u8>, h: &HostVolume) {
    b.extend_from_slice(&h.bin.to_le_bytes());
    b.extend_from_slice(&h.bin_bytes.to_le_bytes());
    put_running(b, &h.bins);
    b.extend_from_slice(&h.hour.to_le_bytes());
    b.extend_from_slice(&h.hour_bytes.to_le_bytes());
    for hour in 0..24 {
        put_running(b, &h.by_hour(hour));
    }
}

/// Reads a baseline saved by [`save`], within `limits` (entries beyond a cap are dropped, stalest first).
pub fn load(path: &Path, limits: BaselineLimits) -> Result<Baseline, StateError> {
    let bytes = std::fs::read(path).map_err(|source| StateError::Read { path: path.into(), source })?;
    let damaged = |what| StateError::Damaged { path: path.into(), what };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(StateError::Magic(path.into()));
    }
    if bytes.len() < MAGIC.len() + 4 + 32 {
        return Err(damaged("truncated"));
    }
    let version = u32::from_le_bytes(bytes[10..14].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(StateError::Version { path: path.into(), found: version });
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err(StateError::Checksum(path.into()));
    }
    let mut r = Reader { b: body, at: 14 };
    let mut baseline = Baseline::new(limits);
    baseline.covered_ns = r.u64().ok_or_else(|| damaged("truncated header"))?;
    let n = r.u64().ok_or_else(|| damaged("truncated pair section"))?;
    for _ in 0..n {
        let (k, seen) = r.key_seen().ok_or_else(|| damaged("truncated pair entry"))?;
        let mask = r.u16().ok_or_else(|| damaged("truncated pair entry"))?;
        baseline.pairs.restore(k, seen, mask);
    }
    let sets: [&mut BoundedMap<()>; 2] = [&mut baseline.proc_ports, &mut baseline.proc_dsts];
    for set in sets {
        let n = r.u64().ok_or_else(|| damaged("truncated pair section"))?;
        for _ in 0..n {
            let (k, seen) = r.key_seen().ok_or_else(|| damaged("truncated pair entry"))?;
            set.restore(k, seen, ());
        }
    }
    let n = r.u64().ok_or_else(|| damaged("truncated reach section"))?;
    for _ in 0..n {
        let (k, seen) = r.key_seen().ok_or_else(|| damaged("truncated reach entry"))?;
        let count = r.u8().ok_or_else(|| damaged("truncated reach entry"))? as usize;
        if count > REACH_CAP {
            return Err(damaged("reach entry longer than its cap"));
        }
        let sources = (0..count)
            .map(|_| r.u32())
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| damaged("truncated reach entry"))?;
        baseline.reach.restore(k, seen, sources);
    }
    let n = r.u64().ok_or_else(|| damaged("truncated host section"))?;
    for _ in 0..n {
        let (k, seen) = r.key_seen().ok_or_else(|| damaged("truncated host entry"))?;
        let h = r.host().ok_or_else(|| damaged("truncated host entry"))?;
        baseline.hosts.restore(k, seen, h);
    }
    if r.at != body.len() {
        return Err(damaged("trailing bytes after the last section"));
    }
    Ok(baseline)
}

/// What happened when the baseline was opened.
#[derive(Debug)]
pub enum Loaded {
    /// Read from the file.
    Read,
    /// No file yet: an empty baseline.
    Fresh,
    /// The file was unusable (the error says why) and was moved aside to the given path.
    SetAside(StateError, PathBuf),
}

/// Loads `path`; a missing file gives an empty baseline, an unusable one is moved aside and an empty
/// baseline is returned with the reason. Only failing to move a bad file aside is an error.
pub fn load_or_set_aside(
    path: &Path,
    limits: BaselineLimits,
    now_unix_s: u64,
) -> Result<(Baseline, Loaded), StateError> {
    match load(path, limits) {
        Ok(b) => Ok((b, Loaded::Read)),
        Err(StateError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok((Baseline::new(limits), Loaded::Fresh))
        }
        Err(e @ StateError::Read { .. }) => Err(e),
        Err(e) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".corrupt-{now_unix_s}"));
            let aside = PathBuf::from(aside);
            std::fs::rename(path, &aside).map_err(|source| StateError::Write { path: aside.clone(), source })?;
            Ok((Baseline::new(limits), Loaded::SetAside(e, aside)))
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.at..self.at + N)?;
        self.at += N;
        Some(s.try_into().expect("N bytes"))
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take().map(f64::from_le_bytes)
    }
    fn key_seen(&mut self) -> Option<(u64, u32)> {
        Some((self.u64()?, self.u32()?))
    }
    fn running(&mut self) -> Option<Running> {
        Some(Running { n: self.u32()?, mean: self.f64()?, m2: self.f64()? })
    }
    fn host(&mut self) -> Option<HostVolume> {
        let mut h = HostVolume::default();
        h.bin = self.u32()?;
        h.bin_bytes = self.u64()?;
        h.bins = self.running()?;
        h.hour = self.u32()?;
        h.hour_bytes = self.u64()?;
        let mut hours = [Running::default(); 24];
        for r in &mut hours {
            *r = self.running()?;
        }
        h.set_by_hour(hours);
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BaselineLimits = BaselineLimits { max_pairs: 1000, max_destinations: 1000, max_hosts: 1000 };

    fn sample() -> Baseline {
        let mut b = Baseline::new(LIMITS);
        b.covered_ns = 7_200_000_000_000;
        for k in 0..100u64 {
            b.pair_seen(k, Baseline::class_bit(Some((k % 7) as u8)), 1000 + k as u32);
        }
        Baseline::first_time(&mut b.proc_dsts, 42, 5);
        for s in 0..40 {
            b.reach(9, s, 2000);
        }
        b.reach(10, 1, 2000);
        let (h, _) = b.hosts.entry(77, 3000, HostVolume::default);
        for i in 0..20 {
            h.add_sent(1000 * i, 1_709_542_800 + i as u32 * 600, super::super::time::UtcOffset(0));
        }
        b
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.bin");
        let b = sample();
        save(&b, &path).unwrap();
        let back = load(&path, LIMITS).unwrap();
        assert_eq!(back.covered_ns, b.covered_ns);
        assert_eq!(back.pairs.len(), 100);
        assert_eq!(back.pairs.get(12), Some(&Baseline::class_bit(Some(5))));
        assert_eq!(back.proc_dsts.len(), 1);
        assert_eq!(back.reach.get(9).unwrap().len(), REACH_CAP);
        assert_eq!(back.hosts.get(77), b.hosts.get(77));
        let seen: Vec<_> = back.pairs.iter().map(|(k, s, _)| (k, s)).filter(|(k, _)| *k == 5).collect();
        assert_eq!(seen, vec![(5, 1005)]);
    }

    #[test]
    fn damage_is_named_and_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.bin");
        save(&sample(), &path).unwrap();
        let good = std::fs::read(&path).unwrap();

        let mut flipped = good.clone();
        flipped[40] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(matches!(load(&path, LIMITS), Err(StateError::Checksum(_))));

        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        assert!(matches!(load(&path, LIMITS), Err(StateError::Checksum(_))));

        let mut v1 = good.clone();
        v1[10] = 1;
        std::fs::write(&path, &v1).unwrap();
        let err = load(&path, LIMITS).unwrap_err();
        assert!(err.to_string().contains("version 1; this build reads version 2"), "{err}");

        std::fs::write(&path, b"hello").unwrap();
        assert!(matches!(load(&path, LIMITS), Err(StateError::Magic(_))));

        let (fresh, how) = load_or_set_aside(&path, LIMITS, 1234).unwrap();
        assert_eq!(fresh.entries(), 0);
        let Loaded::SetAside(_, aside) = how else { panic!("not set aside: {how:?}") };
        assert_eq!(aside, dir.path().join("baseline.bin.corrupt-1234"));
        assert!(aside.exists() && !path.exists());

        let (_, how) = load_or_set_aside(&path, LIMITS, 1235).unwrap();
        assert!(matches!(how, Loaded::Fresh));
    }

    #[test]
    fn loading_respects_smaller_caps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.bin");
        save(&sample(), &path).unwrap();
        let small = load(&path, BaselineLimits { max_pairs: 10, ..LIMITS }).unwrap();
        assert!(small.pairs.len() <= 10);
        // The most recently seen pairs survive.
        assert!(small.pairs.get(99).is_some());
    }
}
