//! Hot reload: a watcher thread notices a changed model file (or SIGHUP), loads and validates the new
//! set of models off the scoring path, and hands it over; the scoring loop swaps it in between two
//! batches, so every flow record is scored exactly once, by the old set or by the new one.
//!
//! A set that fails to load changes nothing: the old models keep serving, the failure is logged with
//! its reason and counted. A file is only read once its size and modification time have held still
//! for one poll, so a model being copied in is not read half-written (an atomic rename is better
//! still).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{ModelSet, ModelSource, ModelSpec, TrustPolicy, load_set, signature::signature_path};

static SIGHUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sighup(_: libc::c_int) {
    SIGHUP.store(true, Ordering::Relaxed);
}

/// Makes SIGHUP request a reload (instead of ending the process).
pub fn install_sighup_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGHUP, on_sighup as *const () as libc::sighandler_t);
    }
}

/// Counters of the reload machinery, shared with the watcher thread.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub reloads: AtomicU64,
    pub failures: AtomicU64,
}

/// The scoring side's handle: check for a new set between batches.
pub struct Reloader {
    pending: Arc<Mutex<Option<ModelSet>>>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pub stats: Arc<ReloadStats>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reloader {
    /// Starts watching the files of `specs` every `poll` (None: not at all) and SIGHUP, if its handler
    /// is installed.
    pub fn start(specs: Vec<ModelSpec>, trust: TrustPolicy, poll: Option<Duration>) -> Reloader {
        let pending = Arc::new(Mutex::new(None));
        let ready = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ReloadStats::default());
        let thread = {
            let (pending, ready, stop, stats) = (pending.clone(), ready.clone(), stop.clone(), stats.clone());
            std::thread::Builder::new()
                .name("model-reload".into())
                .spawn(move || watch(specs, trust, poll, &pending, &ready, &stop, &stats))
                .expect("spawning the model reload thread")
        };
        Reloader { pending, ready, stop, stats, thread: Some(thread) }
    }

    /// A newly loaded set, if one is waiting. Cheap when none is (one atomic load).
    pub fn take(&self) -> Option<ModelSet> {
        if !self.ready.swap(false, Ordering::Acquire) {
            return None;
        }
        self.pending.lock().expect("reload lock").take()
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What identifies a file's version cheaply.
type Stamp = Option<(u64, SystemTime, u64)>;

fn stamp(path: &PathBuf) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?, m.ino()))
}

fn stamps(specs: &[ModelSpec]) -> Vec<Stamp> {
    specs
        .iter()
        .filter_map(|s| match &s.source {
            ModelSource::File(p) => Some([stamp(p), stamp(&signature_path(p))]),
            ModelSource::Embedded(_) => None,
        })
        .flatten()
        .collect()
}

fn watch(
    specs: Vec<ModelSpec>,
    trust: TrustPolicy,
    poll: Option<Duration>,
    pending: &Mutex<Option<ModelSet>>,
    ready: &AtomicBool,
    stop: &AtomicBool,
    stats: &ReloadStats,
) {
    let tick = poll.unwrap_or(Duration::MAX).min(Duration::from_millis(50));
    let mut loaded = stamps(&specs);
    let mut seen = loaded.clone();
    let mut since_poll = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(tick);
        since_poll += tick;
        let hup = SIGHUP.swap(false, Ordering::Relaxed);
        if !hup && poll.is_none_or(|p| since_poll < p) {
            continue;
        }
        since_poll = Duration::ZERO;
        let now = stamps(&specs);
        // A change must hold still for one poll before it is read (a file being copied in grows).
        let settled = now == seen && now != loaded;
        seen = now.clone();
        if !hup && !settled {
            continue;
        }
        loaded = now;
        let why = if hup { "SIGHUP" } else { "a model file changed" };
        match load_set(&specs, &trust) {
            Ok(set) => {
                let names: Vec<String> = set
                    .models
                    .iter()
                    .map(|m| format!("{} {}", m.model.manifest.name, m.model.manifest.version))
                    .collect();
                tracing::info!(reason = why, models = ?names, "models reloaded");
                *pending.lock().expect("reload lock") = Some(set);
                ready.store(true, Ordering::Release);
                stats.reloads.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(reason = why, error = %e, "model reload failed; the previous models keep serving");
                stats.failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
