//! Secret key files kept in one directory, one file per key, shared by Paddock's
//! signing-key store (`paddock-jwt`) and key-encryption keys (`paddock-crypto`).
//!
//! A key file is named `<kid><suffix>`, where the key id `k<YYYYMMDDHHMMSS>-<6 hex>`
//! carries its UTC creation time so that lexical order of kids is age order
//! ([`new_kid`] makes sure a new kid sorts after the newest one). Files are written
//! atomically with mode 0600 ([`write_new_key_file`]), the directory is created with mode
//! 0700 ([`ensure_dir`]), and a key file that group or others can access, or a
//! directory they can write to, is refused ([`open_key_file`], [`ensure_dir`]).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, TimeDelta, Utc};

#[cfg(test)]
mod tests;

/// Timestamp part of a key id; lexical order of kids is age order.
const KID_TIME_FORMAT: &str = "%Y%m%d%H%M%S";

/// Errors of the key directory and its files. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// A file-system operation on the key directory failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A key file can be accessed by group or others.
    #[error(
        "key file {} has mode {mode:03o}: group or others can access it; refusing to load it (chmod 600)",
        path.display()
    )]
    InsecureKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key directory can be written by group or others, who could plant a key.
    #[error(
        "key directory {} has mode {mode:03o}: group or others can write to it; refusing to use it (chmod 700)",
        path.display()
    )]
    InsecureKeyDir {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// An entry with the key-file suffix whose name is not a key id, or which is not a file.
    #[error(
        "{} is not a key file: a regular file named `k<YYYYMMDDHHMMSS>-<6 hex>` and the key suffix",
        path.display()
    )]
    BadKeyFile {
        /// The offending path.
        path: PathBuf,
    },
}

/// A key file found in the key directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// Its key id: the file name without the suffix.
    pub kid: String,
    /// Its path.
    pub path: PathBuf,
}

/// Parses the timestamp of a kid `k<YYYYMMDDHHMMSS>-<6 lowercase hex>`; `None` if the
/// string is not a Paddock key id.
pub fn kid_time(kid: &str) -> Option<NaiveDateTime> {
    let rest = kid.strip_prefix('k')?;
    let (stamp, suffix) = rest.split_once('-')?;
    let hex_ok = suffix.len() == 6
        && suffix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) || !hex_ok {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, KID_TIME_FORMAT).ok()
}

/// A new kid that sorts after `newest`: when the clock has not moved past the newest
/// key's second (several rotations in one second, or a clock set back), the newest
/// key's time plus one second is used instead of now.
pub fn new_kid(newest: Option<&str>) -> String {
    let mut time = Utc::now().naive_utc();
    if let Some(last) = newest.and_then(kid_time) {
        if time.and_utc().timestamp() <= last.and_utc().timestamp() {
            time = last + TimeDelta::seconds(1);
        }
    }
    format!("k{}-{}", time.format(KID_TIME_FORMAT), random_hex(3))
}

/// `len` random bytes as lowercase hex.
fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Turns an I/O error into [`KeyFileError::Io`] for `action` on `path`.
pub fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KeyFileError {
    let path = path.to_path_buf();
    move |source| KeyFileError::Io {
        action,
        path,
        source,
    }
}

/// Creates `dir` with mode 0700 if missing, and refuses a directory that group or
/// others can write to (they could plant a key).
pub fn ensure_dir(dir: &Path) -> Result<(), KeyFileError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io_err("create key directory", dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(dir).map_err(io_err("inspect key directory", dir))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(KeyFileError::InsecureKeyDir {
                path: dir.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// Lists every `<kid><suffix>` in `dir` (creating `dir` if missing, see
/// [`ensure_dir`]), oldest first; other files, such as interrupted temporary files, are
/// ignored, and a name with the suffix that is not a key id is refused.
pub fn list_key_files(dir: &Path, suffix: &str) -> Result<Vec<KeyFile>, KeyFileError> {
    ensure_dir(dir)?;
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list key directory", dir))? {
        let entry = entry.map_err(io_err("list key directory", dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(kid) = name.to_str().and_then(|n| n.strip_suffix(suffix)) else {
            continue;
        };
        if kid_time(kid).is_none() {
            return Err(KeyFileError::BadKeyFile { path });
        }
        files.push(KeyFile {
            kid: kid.to_owned(),
            path,
        });
    }
    // Oldest first: `last()` is the newest key.
    files.sort_by(|a, b| a.kid.cmp(&b.kid));
    Ok(files)
}

/// Opens a key file for reading, refusing it when it is not a regular file or when
/// group or others have any access. Permissions are checked on the opened handle, so
/// the file checked is the file read.
pub fn open_key_file(path: &Path) -> Result<File, KeyFileError> {
    let file = File::open(path).map_err(io_err("open key file", path))?;
    let meta = file.metadata().map_err(io_err("inspect key file", path))?;
    if !meta.is_file() {
        return Err(KeyFileError::BadKeyFile {
            path: path.to_path_buf(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::InsecureKeyFile {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(file)
}

/// Writes `contents` as a new key file `dir/<kid><suffix>` and returns its kid, which
/// sorts after `newest` (see [`new_kid`]). Checks `dir` first (see [`ensure_dir`]), then
/// writes atomically: temporary file with mode 0600, fsync, rename, fsync of the
/// directory; an existing key file is never replaced.
pub fn write_new_key_file(
    dir: &Path,
    suffix: &str,
    newest: Option<&str>,
    contents: &[u8],
) -> Result<String, KeyFileError> {
    ensure_dir(dir)?;
    let kid = new_kid(newest);
    write_key_file(dir, &kid, suffix, contents)?;
    Ok(kid)
}

/// Writes `contents` to `dir/<kid><suffix>` atomically (see [`write_new_key_file`]).
fn write_key_file(
    dir: &Path,
    kid: &str,
    suffix: &str,
    contents: &[u8],
) -> Result<(), KeyFileError> {
    let path = dir.join(format!("{kid}{suffix}"));
    let tmp = dir.join(format!(".{kid}.tmp-{}", random_hex(8)));

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("write key file", &tmp)(source));
    }
    if path.exists() {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("create key file", &path)(io::Error::from(
            io::ErrorKind::AlreadyExists,
        )));
    }
    if let Err(source) = fs::rename(&tmp, &path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("rename key file", &path)(source));
    }
    // Make the rename itself durable; not every platform can open a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
