//! Private outbox files: directory 0700, files 0600, written atomically.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::NotifyError;

/// `<UTC timestamp>-<uuid v7>.<ext>`: fixed-width timestamp, so names sort by time.
pub(crate) fn time_sorted_name(ext: &str) -> String {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    format!("{now}-{}.{ext}", uuid::Uuid::now_v7())
}

/// Creates `dir` (and parents) with mode 0700 when missing.
async fn ensure_dir(dir: &Path) -> Result<(), NotifyError> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder
        .create(dir)
        .await
        .map_err(|e| NotifyError::io(dir, e))
}

/// Writes `bytes` to a new 0600 file `dir/<time-sorted name>.<ext>`; the file
/// appears under its final name only once complete.
pub(crate) async fn write_private(
    dir: &Path,
    ext: &str,
    bytes: &[u8],
) -> Result<PathBuf, NotifyError> {
    ensure_dir(dir).await?;
    let name = time_sorted_name(ext);
    let final_path = dir.join(&name);
    let tmp_path = dir.join(format!(".{name}.tmp"));
    let result = async {
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options
            .open(&tmp_path)
            .await
            .map_err(|e| NotifyError::io(&tmp_path, e))?;
        file.write_all(bytes)
            .await
            .map_err(|e| NotifyError::io(&tmp_path, e))?;
        file.sync_all()
            .await
            .map_err(|e| NotifyError::io(&tmp_path, e))?;
        drop(file);
        tokio::fs::rename(&tmp_path, &final_path)
            .await
            .map_err(|e| NotifyError::io(&final_path, e))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&tmp_path).await;
    }
    result.map(|()| final_path)
}

/// The files in `dir` whose names end in `.<ext>` (not hidden), sorted by name
/// (= oldest first). A missing directory is an empty outbox.
pub(crate) fn list_sorted(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, NotifyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NotifyError::io(dir, e)),
    };
    let suffix = format!(".{ext}");
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| NotifyError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') || !name.ends_with(&suffix) {
            continue;
        }
        let file_type = entry
            .file_type()
            .map_err(|e| NotifyError::io(entry.path(), e))?;
        if file_type.is_file() {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}
