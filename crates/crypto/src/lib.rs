//! Paddock's application-layer encryption: attachments, imaging and sensitive columns
//! (DEA numbers, SMS phone numbers, TOTP secrets) are envelope-encrypted before they
//! reach storage. Each value gets a fresh random 256-bit data key that encrypts it with
//! AES-256-GCM; the data key is itself wrapped (AES-256-GCM) by a key-encryption key
//! (KEK) named by a key id, so KEKs rotate without re-encrypting the data.
//!
//! [`KeyRing`] keeps the KEKs in a directory (one 32-byte `<kid>.kek` file per key,
//! owner-only permissions, written atomically); the newest KEK wraps and every KEK
//! unwraps. After [`KeyRing::rotate`], stored values are moved to the new KEK with
//! [`KeyRing::rewrap`] (cheap: the ciphertext is untouched); once nothing references an
//! old kid ([`sealed_kid`]) its file can be deleted.
//!
//! # Sealed format (version 1)
//!
//! ```text
//! offset  size   field
//! 0       1      version = 0x01
//! 1       1      n = kid length (1..=255)
//! 2       n      kid (ASCII, `k<YYYYMMDDHHMMSS>-<6 hex>`)
//! 2+n     48     wrapped data key: AES-256-GCM(KEK, wrap nonce, data key) ‖ 16-byte tag,
//!                aad = bytes 0 .. 2+n (version, kid length, kid)
//! 50+n    12     wrap nonce (random)
//! 62+n    12     data nonce (random)
//! 74+n    ≥16    AES-256-GCM(data key, data nonce, plaintext) ‖ 16-byte tag,
//!                aad = version byte ‖ caller aad
//! ```
//!
//! The overhead is 112 bytes with the standard 22-byte kids. The caller's `aad` is not
//! stored: it binds a value to its context (e.g. practice id, table, column, row id), so
//! a ciphertext copied to another row or tenant does not open.
//!
//! Key material (KEKs, data keys, AES round keys, GHASH keys, the keyed-hash key and
//! opened plaintext returned as [`Zeroizing`]) is wiped from memory on drop. Errors
//! never contain plaintext or key bytes.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use hmac::{Hmac, Mac};
use paddock_keyfiles::{KeyFile, KeyFileError, kid_time, new_kid};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroize;

pub use zeroize::Zeroizing;

#[cfg(test)]
mod tests;

/// The version byte of the sealed format this crate writes (and the only one it reads).
pub const FORMAT_VERSION: u8 = 1;

/// Length of KEKs and data keys, in bytes (AES-256).
const KEY_LEN: usize = 32;
/// Length of AES-GCM nonces, in bytes (96 bits).
const NONCE_LEN: usize = 12;
/// Length of AES-GCM tags, in bytes.
const TAG_LEN: usize = 16;
/// Length of a wrapped data key: ciphertext and tag.
const WRAPPED_KEY_LEN: usize = KEY_LEN + TAG_LEN;
/// Largest plaintext AES-GCM accepts (2^36 - 32 bytes, NIST SP 800-38D).
const MAX_PLAINTEXT_LEN: u64 = (1 << 36) - 32;

/// Suffix of key file names: `<kid>.kek`.
const KEY_FILE_SUFFIX: &str = ".kek";
/// HMAC message that derives the keyed-hash key from the oldest KEK.
const KEYED_HASH_DERIVATION_LABEL: &[u8] = b"paddock-crypto/keyed-hash/v1";

/// Errors of key loading, sealing and opening. Messages never contain plaintext, aad
/// or key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key directory or a key file is unusable: an I/O failure, permissions
    /// that let group or others in, or a file not named as a key file (the
    /// messages are `paddock_keyfiles`', shared with the other key store).
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A key file does not hold exactly 32 bytes.
    #[error("key file {} does not hold a 32-byte key", path.display())]
    InvalidKey {
        /// The key file.
        path: PathBuf,
    },
    /// The operating system's random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// The plaintext is longer than AES-GCM allows (about 64 GiB).
    #[error("plaintext is too large to encrypt")]
    TooLarge,
    /// Encryption failed.
    #[error("encryption failed")]
    Encrypt,
    /// The sealed value is truncated or its header cannot be parsed.
    #[error("sealed value is malformed or truncated")]
    Malformed,
    /// The sealed value has a format version this build does not read.
    #[error("sealed value has unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The sealed value is wrapped by a key id that is not in the ring (its key file was
    /// removed, or the value comes from another deployment).
    #[error("sealed value is wrapped by unknown key {kid}")]
    UnknownKey {
        /// The key id named in the sealed value's header.
        kid: String,
    },
    /// Authentication failed: wrong aad, or the value was tampered with.
    #[error("sealed value failed authentication (wrong aad or tampered)")]
    Decrypt,
}

impl CryptoError {
    /// True when the sealed input itself was refused (malformed, tampered, wrong aad,
    /// unknown key); false for key-store and system faults.
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            Self::Malformed | Self::UnsupportedVersion(_) | Self::UnknownKey { .. } | Self::Decrypt
        )
    }
}

/// One key-encryption key. Its bytes are wiped on drop.
struct Kek {
    kid: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

struct Inner {
    /// Every KEK but the newest, sorted by kid, i.e. oldest first.
    older: Vec<Kek>,
    /// The newest KEK, the one that wraps.
    current: Kek,
    /// HMAC key of [`KeyRing::keyed_hash`], derived from the oldest KEK.
    hash_key: Zeroizing<[u8; KEY_LEN]>,
}

/// Key-encryption keys (256-bit) kept in a directory as `<kid>.kek` files (mode 0600,
/// directory 0700); the newest wraps, all unwrap. Cheap to clone (shared).
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Loads every KEK in `dir` (files `<kid>.kek`, 32 raw bytes, mode 0600); if there
    /// is none, generates one and returns `generated = true` so the caller can warn that
    /// the directory must be backed up. Creates `dir` (0700) if missing.
    pub fn load_or_generate(dir: &Path) -> Result<(KeyRing, bool), CryptoError> {
        if let Some(ring) = Self::from_keks(load_dir(dir)?) {
            return Ok((ring, false));
        }
        let kid = write_new_key(dir, None)?;
        tracing::warn!(
            %kid,
            dir = %dir.display(),
            "generated a key-encryption key; back up this directory: data sealed under it cannot be recovered without it"
        );
        // Reload rather than keep the key in hand: files are the single source of truth.
        Ok((Self::reloaded(dir)?, true))
    }

    /// Adds a new newest KEK to `dir` and returns the reloaded ring (old KEKs still
    /// unwrap). Re-wrap stored values with [`KeyRing::rewrap`] before deleting an old
    /// key file.
    pub fn rotate(dir: &Path) -> Result<KeyRing, CryptoError> {
        let keks = load_dir(dir)?;
        let kid = write_new_key(dir, keks.last().map(|k| k.kid.as_str()))?;
        tracing::info!(%kid, dir = %dir.display(), "rotated the key-encryption key");
        Self::reloaded(dir)
    }

    /// An in-memory ring with one fresh KEK (tests). Panics only if the operating
    /// system's random generator fails.
    pub fn ephemeral() -> KeyRing {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut_slice());
        let kek = Kek {
            kid: new_kid(None),
            key,
        };
        let hash_key = derive_hash_key(&kek.key);
        KeyRing {
            inner: Arc::new(Inner {
                older: Vec::new(),
                current: kek,
                hash_key,
            }),
        }
    }

    /// A ring of `keks`, which must be sorted oldest first (as `load_dir` returns
    /// them); `None` when there is no key.
    fn from_keks(mut keks: Vec<Kek>) -> Option<Self> {
        let current = keks.pop()?;
        let oldest = keks.first().unwrap_or(&current);
        let hash_key = derive_hash_key(&oldest.key);
        Some(Self {
            inner: Arc::new(Inner {
                older: keks,
                current,
                hash_key,
            }),
        })
    }

    /// A ring from the keys just reloaded after writing one; empty only if someone
    /// removed the new file in between.
    fn reloaded(dir: &Path) -> Result<Self, CryptoError> {
        Self::from_keks(load_dir(dir)?).ok_or_else(|| {
            CryptoError::KeyFile(paddock_keyfiles::io_err("find the new key in", dir)(
                io::ErrorKind::NotFound.into(),
            ))
        })
    }

    /// The newest KEK, the one that wraps.
    fn current(&self) -> &Kek {
        &self.inner.current
    }

    /// Every KEK, oldest first.
    fn keks(&self) -> impl Iterator<Item = &Kek> {
        self.inner
            .older
            .iter()
            .chain(std::iter::once(&self.inner.current))
    }

    /// The id of the newest KEK, which wraps new values.
    pub fn current_kid(&self) -> &str {
        &self.current().kid
    }

    /// The ids of every KEK in the ring, oldest first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keks().map(|k| k.kid.as_str())
    }

    fn kek(&self, kid: &str) -> Result<&Kek, CryptoError> {
        self.keks()
            .find(|k| k.kid == kid)
            .ok_or_else(|| CryptoError::UnknownKey {
                kid: kid.to_owned(),
            })
    }

    /// Envelope-encrypts `plaintext`: a fresh random 256-bit data key encrypts it with
    /// AES-256-GCM (random 96-bit nonce, `aad` bound), and the data key is wrapped by the
    /// newest KEK (AES-256-GCM, its own random nonce, the header as aad). Returns the
    /// self-describing sealed bytes (see the crate docs for the format). `aad` is not
    /// stored: pass the same bytes to [`KeyRing::open`].
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if plaintext.len() as u64 > MAX_PLAINTEXT_LEN {
            return Err(CryptoError::TooLarge);
        }
        let kek = self.current();
        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(data_key.as_mut_slice())?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;

        let mut out = header(&kek.kid)?;
        out.reserve_exact(WRAPPED_KEY_LEN + 2 * NONCE_LEN + plaintext.len() + TAG_LEN);
        append_wrapped_key(&mut out, kek, &data_key)?;
        out.extend_from_slice(&nonce);

        let body_start = out.len();
        out.extend_from_slice(plaintext);
        let data_aad = data_aad(aad);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(data_key.as_slice()));
        let sealed = match out.get_mut(body_start..) {
            Some(body) => {
                cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), &data_aad, body)
            }
            None => Err(aes_gcm::Error),
        };
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(out)
            }
            Err(_) => {
                // The buffer may still hold plaintext.
                out.zeroize();
                Err(CryptoError::Encrypt)
            }
        }
    }

    /// Reverses [`KeyRing::seal`]. Fails (never panics) on a wrong `aad`, an unknown
    /// kid, truncation or any tampering. The plaintext is wiped when dropped.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let env = Envelope::parse(sealed)?;
        let data_key = self.unwrap_key(&env)?;
        let (ciphertext, tag) = env
            .body
            .split_at_checked(env.body.len().saturating_sub(TAG_LEN))
            .ok_or(CryptoError::Malformed)?;
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(data_key.as_slice()));
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(env.nonce),
                &data_aad(aad),
                plaintext.as_mut_slice(),
                Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(plaintext)
    }

    /// Re-wraps the data key of `sealed` under the newest KEK without touching the
    /// ciphertext (key rotation). Returns `None` when it is already under the newest
    /// KEK. Only the wrapped key is authenticated here (the data ciphertext needs the
    /// caller's aad): tampering with the body is still caught by [`KeyRing::open`].
    pub fn rewrap(&self, sealed: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        let env = Envelope::parse(sealed)?;
        let current = self.current();
        if env.kid == current.kid {
            return Ok(None);
        }
        let data_key = self.unwrap_key(&env)?;
        let mut out = header(&current.kid)?;
        out.reserve_exact(WRAPPED_KEY_LEN + 2 * NONCE_LEN + env.body.len());
        append_wrapped_key(&mut out, current, &data_key)?;
        out.extend_from_slice(env.nonce);
        out.extend_from_slice(env.body);
        Ok(Some(out))
    }

    /// A keyed hash (HMAC-SHA256) of `value` under `label`, for values that must be
    /// looked up but not stored in plaintext (one-time verification codes, phone
    /// numbers to match on). Different labels give unrelated hashes (the label is
    /// length-prefixed, so `("ab", "c")` and `("a", "bc")` differ).
    ///
    /// The HMAC key is derived from the *oldest* KEK (HMAC-SHA256 of a fixed label), so
    /// it does not change when a key is rotated in; deleting the oldest key file does
    /// change it, and every stored keyed hash must then be recomputed or discarded.
    pub fn keyed_hash(&self, label: &str, value: &[u8]) -> [u8; 32] {
        let mut mac = hmac_sha256(&self.inner.hash_key);
        mac.update(&(label.len() as u64).to_be_bytes());
        mac.update(label.as_bytes());
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// Unwraps the data key of a parsed envelope with the KEK its header names.
    fn unwrap_key(&self, env: &Envelope<'_>) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        let kek = self.kek(env.kid)?;
        let (wrapped, tag) = env
            .wrapped_key
            .split_at_checked(KEY_LEN)
            .ok_or(CryptoError::Malformed)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(wrapped);
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(kek.key.as_slice()))
            .decrypt_in_place_detached(
                Nonce::from_slice(env.wrap_nonce),
                env.header,
                key.as_mut_slice(),
                Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(key)
    }
}

/// The key id in the header of a sealed value (e.g. to find values still wrapped by an
/// old KEK). Does not authenticate anything.
pub fn sealed_kid(sealed: &[u8]) -> Result<&str, CryptoError> {
    Envelope::parse(sealed).map(|env| env.kid)
}

/// The fields of a sealed value, borrowed from it.
struct Envelope<'a> {
    /// Version, kid length and kid: the aad of the key wrap.
    header: &'a [u8],
    kid: &'a str,
    /// Wrapped data key and its tag.
    wrapped_key: &'a [u8],
    wrap_nonce: &'a [u8],
    nonce: &'a [u8],
    /// Ciphertext and tag.
    body: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn parse(sealed: &'a [u8]) -> Result<Self, CryptoError> {
        let (&version, rest) = sealed.split_first().ok_or(CryptoError::Malformed)?;
        if version != FORMAT_VERSION {
            return Err(CryptoError::UnsupportedVersion(version));
        }
        let (&kid_len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
        let (kid, rest) = rest
            .split_at_checked(usize::from(kid_len))
            .ok_or(CryptoError::Malformed)?;
        let header = sealed
            .get(..2 + usize::from(kid_len))
            .ok_or(CryptoError::Malformed)?;
        let kid = std::str::from_utf8(kid)
            .ok()
            .filter(|k| kid_time(k).is_some())
            .ok_or(CryptoError::Malformed)?;
        let (wrapped_key, rest) = rest
            .split_at_checked(WRAPPED_KEY_LEN)
            .ok_or(CryptoError::Malformed)?;
        let (wrap_nonce, rest) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Malformed)?;
        let (nonce, body) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Malformed)?;
        if body.len() < TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        Ok(Self {
            header,
            kid,
            wrapped_key,
            wrap_nonce,
            nonce,
            body,
        })
    }
}

/// The header of a sealed value: version, kid length, kid.
fn header(kid: &str) -> Result<Vec<u8>, CryptoError> {
    let kid_len = u8::try_from(kid.len()).map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(2 + kid.len());
    out.push(FORMAT_VERSION);
    out.push(kid_len);
    out.extend_from_slice(kid.as_bytes());
    Ok(out)
}

/// Wraps `data_key` under `kek` with a fresh nonce (aad = the header already in `out`)
/// and appends the wrapped key, its tag and the nonce.
fn append_wrapped_key(
    out: &mut Vec<u8>,
    kek: &Kek,
    data_key: &[u8; KEY_LEN],
) -> Result<(), CryptoError> {
    let mut wrap_nonce = [0u8; NONCE_LEN];
    fill_random(&mut wrap_nonce)?;
    let mut wrapped = Zeroizing::new(*data_key);
    let tag = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(kek.key.as_slice()))
        .encrypt_in_place_detached(
            Nonce::from_slice(&wrap_nonce),
            out.as_slice(),
            wrapped.as_mut_slice(),
        )
        .map_err(|_| CryptoError::Encrypt)?;
    out.extend_from_slice(wrapped.as_slice());
    out.extend_from_slice(&tag);
    out.extend_from_slice(&wrap_nonce);
    Ok(())
}

/// The aad of the data encryption: the format version, then the caller's aad.
fn data_aad(aad: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + aad.len());
    v.push(FORMAT_VERSION);
    v.extend_from_slice(aad);
    v
}

fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    OsRng.try_fill_bytes(buf).map_err(|_| CryptoError::Random)
}

/// HMAC-SHA256 keyed by a 32-byte key. HMAC pads keys shorter than the 64-byte block
/// with zeros, so this equals `Hmac::new_from_slice(key)` without its `Result`.
fn hmac_sha256(key: &[u8; KEY_LEN]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    for (d, s) in block.iter_mut().zip(key) {
        *d = *s;
    }
    <Hmac<Sha256> as KeyInit>::new(GenericArray::from_slice(block.as_slice()))
}

/// The keyed-hash key: HMAC-SHA256(oldest KEK, fixed label).
fn derive_hash_key(oldest: &[u8; KEY_LEN]) -> Zeroizing<[u8; KEY_LEN]> {
    let mut mac = hmac_sha256(oldest);
    mac.update(KEYED_HASH_DERIVATION_LABEL);
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    let mut digest = mac.finalize().into_bytes();
    out.copy_from_slice(digest.as_slice());
    digest.zeroize();
    out
}

/// Loads every `<kid>.kek` in `dir` (creating `dir` if missing), oldest first; other
/// files, such as interrupted temporary files, are ignored.
fn load_dir(dir: &Path) -> Result<Vec<Kek>, CryptoError> {
    let files =
        paddock_keyfiles::list_key_files(dir, KEY_FILE_SUFFIX).map_err(CryptoError::KeyFile)?;
    // Oldest first: `last()` is the newest key, the one that wraps.
    files.into_iter().map(read_key_file).collect()
}

/// Reads a 32-byte key file, refusing it when group or others have any access.
/// Permissions are checked on the opened handle, so the file checked is the file read;
/// the bytes go straight into a buffer that is wiped on drop.
fn read_key_file(key_file: KeyFile) -> Result<Kek, CryptoError> {
    let KeyFile { kid, path } = key_file;
    let path = path.as_path();
    let mut file = paddock_keyfiles::open_key_file(path).map_err(CryptoError::KeyFile)?;
    // One spare byte detects a file longer than a key.
    let mut buf = Zeroizing::new([0u8; KEY_LEN + 1]);
    let mut len = 0;
    while let Some(slot) = buf.get_mut(len..).filter(|s| !s.is_empty()) {
        match file.read(slot) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(CryptoError::KeyFile(paddock_keyfiles::io_err(
                    "read key file",
                    path,
                )(e)));
            }
        }
    }
    let invalid = || CryptoError::InvalidKey {
        path: path.to_path_buf(),
    };
    if len != KEY_LEN {
        return Err(invalid());
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(buf.get(..KEY_LEN).ok_or_else(invalid)?);
    Ok(Kek { kid, key })
}

/// Generates a KEK and writes it atomically (temporary file with mode 0600, fsync,
/// rename, fsync of the directory) under a kid newer than `newest`.
fn write_new_key(dir: &Path, newest: Option<&str>) -> Result<String, CryptoError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(key.as_mut_slice())?;
    paddock_keyfiles::write_new_key_file(dir, KEY_FILE_SUFFIX, newest, key.as_slice())
        .map_err(CryptoError::KeyFile)
}
