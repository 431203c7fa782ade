//! Output of the commands: files written under a temporary name and renamed when complete, and text
//! for a standard output that may be a pipe closed early (`sensor extract --schema | head`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;

/// An output written under a temporary name beside its final path; removed unless committed.
pub(super) struct PartialOutput {
    pub(super) path: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PartialOutput {
    pub(super) fn new(target: &std::path::Path) -> anyhow::Result<PartialOutput> {
        let name = target.file_name().with_context(|| format!("{}: not a file name", target.display()))?;
        let mut partial = std::ffi::OsString::from(".");
        partial.push(name);
        partial.push(format!(".partial-{}", std::process::id()));
        Ok(PartialOutput { path: target.with_file_name(partial), target: target.to_path_buf(), committed: false })
    }

    pub(super) fn commit(mut self) -> anyhow::Result<()> {
        std::fs::rename(&self.path, &self.target)
            .with_context(|| format!("moving {} to {}", self.path.display(), self.target.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PartialOutput {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A temporary file path removed on drop.
pub(super) struct TempFile(pub(super) PathBuf);

impl TempFile {
    pub(super) fn new(prefix: &str, ext: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("{prefix}-{}.{ext}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `text` to standard output. A reader that stopped reading (a broken pipe) ends the output
/// quietly, as it does for other command-line tools; any other write error is returned.
pub(super) fn print_text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::new(e).context("writing to stdout")),
        _ => Ok(()),
    }
}
