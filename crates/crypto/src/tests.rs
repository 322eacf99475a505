use std::fs::{self, OpenOptions};
use std::io::Write;

use super::*;

const AAD: &[u8] = b"practice:7f3c/patients/dea_number/42";

/// A temporary directory with a random name, removed on drop. Not created: the code
/// under test creates it (and must give it mode 0700).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let name: [u8; 16] = rand::random();
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        Self(std::env::temp_dir().join(format!("paddock-crypto-{name}")))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(0o700));
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The key files in `dir`, oldest first.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let files = paddock_keyfiles::list_key_files(dir, KEY_FILE_SUFFIX).unwrap();
    files.into_iter().map(|f| f.path).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Offset of the data nonce in a sealed value (see the format in the crate docs).
fn body_offset(sealed: &[u8]) -> usize {
    2 + usize::from(sealed[1]) + WRAPPED_KEY_LEN + NONCE_LEN
}

#[test]
fn seal_open_round_trip() {
    let ring = KeyRing::ephemeral();
    for plaintext in [&b""[..], b"x", b"AB1234563", &[0xa5; 100_000][..]] {
        let sealed = ring.seal(plaintext, AAD).unwrap();
        assert_eq!(
            sealed.len(),
            2 + ring.current_kid().len() + 48 + 12 + 12 + plaintext.len() + 16
        );
        assert_eq!(sealed[0], FORMAT_VERSION);
        assert_eq!(sealed_kid(&sealed).unwrap(), ring.current_kid());
        assert_eq!(ring.open(&sealed, AAD).unwrap().as_slice(), plaintext);
    }
    // Empty aad is allowed too.
    let sealed = ring.seal(b"secret", b"").unwrap();
    assert_eq!(ring.open(&sealed, b"").unwrap().as_slice(), b"secret");
}

#[test]
fn sealed_bytes_do_not_contain_the_plaintext() {
    let ring = KeyRing::ephemeral();
    let plaintext = b"DEA number AB1234563 for Dr. Jane Doe, Paddock Vet Clinic, Springfield";
    let sealed = ring.seal(plaintext, AAD).unwrap();
    // No 8-byte run of the plaintext appears anywhere in the output.
    for run in plaintext.windows(8) {
        assert!(
            !sealed.windows(8).any(|w| w == run),
            "plaintext fragment {:?} leaked",
            String::from_utf8_lossy(run)
        );
    }
}

#[test]
fn two_seals_of_the_same_plaintext_differ() {
    let ring = KeyRing::ephemeral();
    let a = ring.seal(b"same value", AAD).unwrap();
    let b = ring.seal(b"same value", AAD).unwrap();
    assert_ne!(a, b);
    let h = 2 + usize::from(a[1]);
    // Fresh data key (different wrapped key) and fresh nonces.
    assert_ne!(a[h..h + 48], b[h..h + 48], "wrapped data key repeated");
    assert_ne!(a[h + 48..h + 60], b[h + 48..h + 60], "wrap nonce repeated");
    assert_ne!(a[h + 60..h + 72], b[h + 60..h + 72], "data nonce repeated");
    assert_ne!(a[h + 72..], b[h + 72..], "ciphertext repeated");
    assert_eq!(ring.open(&a, AAD).unwrap(), ring.open(&b, AAD).unwrap());
}

#[test]
fn wrong_aad_is_refused() {
    let ring = KeyRing::ephemeral();
    let sealed = ring.seal(b"secret", AAD).unwrap();
    for aad in [
        &b""[..],
        b"practice:7f3c/patients/dea_number/43",
        &AAD[..AAD.len() - 1],
    ] {
        let err = ring.open(&sealed, aad).unwrap_err();
        assert!(matches!(err, CryptoError::Decrypt), "{err:?}");
        assert!(err.is_rejection());
    }
}

#[test]
fn every_single_byte_flip_is_refused() {
    let ring = KeyRing::ephemeral();
    let sealed = ring.seal(b"TOTP secret JBSWY3DPEHPK3PXP", AAD).unwrap();
    assert!(ring.open(&sealed, AAD).is_ok());
    for pos in 0..sealed.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut tampered = sealed.clone();
            tampered[pos] ^= mask;
            let err = ring
                .open(&tampered, AAD)
                .expect_err(&format!("flip {mask:#04x} at byte {pos} was accepted"));
            assert!(err.is_rejection(), "byte {pos}: {err:?}");
        }
    }
}

#[test]
fn truncated_or_extended_input_is_refused() {
    let ring = KeyRing::ephemeral();
    let sealed = ring.seal(b"+15555550123", AAD).unwrap();
    for len in 0..sealed.len() {
        let err = ring
            .open(&sealed[..len], AAD)
            .expect_err(&format!("truncation to {len} bytes was accepted"));
        assert!(err.is_rejection(), "{len}: {err:?}");
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(ring.open(&longer, AAD).is_err());
    assert!(matches!(ring.open(b"", AAD), Err(CryptoError::Malformed)));
    let mut v2 = sealed;
    v2[0] = 2;
    assert!(matches!(
        ring.open(&v2, AAD),
        Err(CryptoError::UnsupportedVersion(2))
    ));
}

#[test]
fn rotation_keeps_old_values_readable_and_rewrap_moves_them() {
    let dir = TempDir::new();
    let (ring, generated) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert!(generated);
    let old_kid = ring.current_kid().to_owned();
    let sealed = ring.seal(b"phone +15555550123", AAD).unwrap();
    assert_eq!(ring.rewrap(&sealed).unwrap(), None, "already current");

    let rotated = KeyRing::rotate(&dir.0).unwrap();
    let new_kid = rotated.current_kid().to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(new_kid > old_kid, "newest kid must sort last");
    assert_eq!(rotated.kids().collect::<Vec<_>>(), [&old_kid, &new_kid]);
    assert_eq!(key_files(&dir.0).len(), 2);

    // Still opens, and is still under the old kid.
    assert_eq!(
        rotated.open(&sealed, AAD).unwrap().as_slice(),
        b"phone +15555550123"
    );
    assert_eq!(sealed_kid(&sealed).unwrap(), old_kid);
    // New values use the new key.
    assert_eq!(
        sealed_kid(&rotated.seal(b"x", AAD).unwrap()).unwrap(),
        new_kid
    );

    let rewrapped = rotated
        .rewrap(&sealed)
        .unwrap()
        .expect("old value is rewrapped");
    assert_eq!(sealed_kid(&rewrapped).unwrap(), new_kid);
    // The data nonce and ciphertext are untouched.
    assert_eq!(
        rewrapped[body_offset(&rewrapped)..],
        sealed[body_offset(&sealed)..]
    );
    assert_eq!(
        rotated.open(&rewrapped, AAD).unwrap().as_slice(),
        b"phone +15555550123"
    );
    assert!(rotated.open(&rewrapped, b"other").is_err());
    assert_eq!(rotated.rewrap(&rewrapped).unwrap(), None);

    // A reloaded ring agrees.
    let (reloaded, generated) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert!(!generated);
    assert_eq!(reloaded.current_kid(), new_kid);
    assert!(reloaded.open(&sealed, AAD).is_ok());
    assert!(reloaded.open(&rewrapped, AAD).is_ok());
}

#[test]
fn a_ring_without_the_old_kek_cannot_open() {
    let dir = TempDir::new();
    let (ring, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    let old_kid = ring.current_kid().to_owned();
    let sealed = ring.seal(b"secret", AAD).unwrap();
    let rotated = KeyRing::rotate(&dir.0).unwrap();
    let rewrapped = rotated.rewrap(&sealed).unwrap().unwrap();

    fs::remove_file(dir.0.join(format!("{old_kid}{KEY_FILE_SUFFIX}"))).unwrap();
    let (pruned, generated) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert!(!generated);
    assert_eq!(pruned.kids().count(), 1);
    match pruned.open(&sealed, AAD) {
        Err(CryptoError::UnknownKey { kid }) => assert_eq!(kid, old_kid),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    assert!(matches!(
        pruned.rewrap(&sealed),
        Err(CryptoError::UnknownKey { .. })
    ));
    assert_eq!(pruned.open(&rewrapped, AAD).unwrap().as_slice(), b"secret");

    // An unrelated ring does not know the key either.
    assert!(matches!(
        KeyRing::ephemeral().open(&rewrapped, AAD),
        Err(CryptoError::UnknownKey { .. })
    ));
}

#[test]
fn a_same_named_but_different_kek_cannot_open() {
    // The kid is only a name: the wrap tag is what proves the key.
    let dir = TempDir::new();
    let (ring, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    let sealed = ring.seal(b"secret", AAD).unwrap();
    let file = key_files(&dir.0).remove(0);
    let mut other = [0u8; KEY_LEN];
    OsRng.fill_bytes(&mut other);
    fs::remove_file(&file).unwrap();
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(&file).unwrap().write_all(&other).unwrap();
    let (swapped, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert_eq!(swapped.current_kid(), ring.current_kid());
    assert!(matches!(
        swapped.open(&sealed, AAD),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn keyed_hash_is_stable_across_rotation_and_separates_labels_and_values() {
    let dir = TempDir::new();
    let (ring, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    let h = ring.keyed_hash("sms-code", b"123456");
    assert_eq!(h, ring.keyed_hash("sms-code", b"123456"));

    let rotated = KeyRing::rotate(&dir.0).unwrap();
    let rotated_twice = KeyRing::rotate(&dir.0).unwrap();
    assert_ne!(rotated_twice.current_kid(), ring.current_kid());
    assert_eq!(rotated.keyed_hash("sms-code", b"123456"), h);
    assert_eq!(rotated_twice.keyed_hash("sms-code", b"123456"), h);
    let (reloaded, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert_eq!(reloaded.keyed_hash("sms-code", b"123456"), h);

    assert_ne!(ring.keyed_hash("email-code", b"123456"), h);
    assert_ne!(ring.keyed_hash("sms-code", b"123457"), h);
    assert_ne!(ring.keyed_hash("sms-code", b""), h);
    // The label is length-prefixed: moving bytes between label and value changes it.
    assert_ne!(ring.keyed_hash("ab", b"c"), ring.keyed_hash("a", b"bc"));
    // It is keyed: another ring gives another hash.
    assert_ne!(KeyRing::ephemeral().keyed_hash("sms-code", b"123456"), h);

    // Removing the oldest KEK changes it (as documented).
    let oldest = key_files(&dir.0).remove(0);
    fs::remove_file(oldest).unwrap();
    let (pruned, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert_ne!(pruned.keyed_hash("sms-code", b"123456"), h);
}

#[test]
fn keyed_hash_is_hmac_sha256_under_the_derived_key() {
    let ring = KeyRing::ephemeral();
    let key = &ring.inner.current.key;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice()).unwrap();
    mac.update(KEYED_HASH_DERIVATION_LABEL);
    let derived = mac.finalize().into_bytes();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&derived).unwrap();
    mac.update(&8u64.to_be_bytes());
    mac.update(b"sms-code");
    mac.update(b"123456");
    let expected: [u8; 32] = mac.finalize().into_bytes().into();
    assert_eq!(ring.keyed_hash("sms-code", b"123456"), expected);
}

#[cfg(unix)]
#[test]
fn load_or_generate_creates_one_private_key_then_reuses_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let (ring, generated) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert!(generated);
    let dir_mode = fs::metadata(&dir.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    let files = key_files(&dir.0);
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].file_name().unwrap().to_str().unwrap(),
        format!("{}.kek", ring.current_kid())
    );
    let meta = fs::metadata(&files[0]).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    // No temporary file left behind.
    assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
    assert!(kid_time(ring.current_kid()).is_some());

    let sealed = ring.seal(b"secret", AAD).unwrap();
    let (again, generated) = KeyRing::load_or_generate(&dir.0).unwrap();
    assert!(!generated);
    assert_eq!(again.current_kid(), ring.current_kid());
    assert_eq!(key_files(&dir.0).len(), 1);
    assert_eq!(again.open(&sealed, AAD).unwrap().as_slice(), b"secret");
}

#[cfg(unix)]
#[test]
fn insecure_key_file_and_directory_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    KeyRing::load_or_generate(&dir.0).unwrap();
    let file = key_files(&dir.0).remove(0);

    for mode in [0o644, 0o640, 0o604] {
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        match KeyRing::load_or_generate(&dir.0) {
            Err(CryptoError::KeyFile(KeyFileError::InsecureKeyFile { path, mode: m })) => {
                assert_eq!(path, file);
                assert_eq!(m, mode);
            }
            other => panic!("mode {mode:o}: expected InsecureKeyFile, got {other:?}"),
        }
        assert!(matches!(
            KeyRing::rotate(&dir.0),
            Err(CryptoError::KeyFile(KeyFileError::InsecureKeyFile { .. }))
        ));
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(KeyRing::load_or_generate(&dir.0).is_ok());

    for mode in [0o777, 0o720, 0o702] {
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(mode)).unwrap();
        match KeyRing::load_or_generate(&dir.0) {
            Err(CryptoError::KeyFile(KeyFileError::InsecureKeyDir { path, mode: m })) => {
                assert_eq!(path, dir.0);
                assert_eq!(m, mode);
            }
            other => panic!("dir mode {mode:o}: expected InsecureKeyDir, got {other:?}"),
        }
        assert!(matches!(
            KeyRing::rotate(&dir.0),
            Err(CryptoError::KeyFile(KeyFileError::InsecureKeyDir { .. }))
        ));
    }
    // Readable but not writable by others is accepted (only writes could plant a key).
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(KeyRing::load_or_generate(&dir.0).is_ok());
}

#[cfg(unix)]
#[test]
fn malformed_key_files_are_refused() {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = TempDir::new();
    KeyRing::load_or_generate(&dir.0).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.0.join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        path
    };

    let short = write("k20990101000000-abcdef.kek", &[7; 31]);
    assert!(matches!(
        KeyRing::load_or_generate(&dir.0),
        Err(CryptoError::InvalidKey { .. })
    ));
    fs::remove_file(&short).unwrap();
    let long = write("k20990101000000-abcdef.kek", &[7; 33]);
    assert!(matches!(
        KeyRing::load_or_generate(&dir.0),
        Err(CryptoError::InvalidKey { .. })
    ));
    fs::remove_file(&long).unwrap();
    let bad_name = write("newest.kek", &[7; 32]);
    assert!(matches!(
        KeyRing::load_or_generate(&dir.0),
        Err(CryptoError::KeyFile(KeyFileError::BadKeyFile { .. }))
    ));
    fs::remove_file(&bad_name).unwrap();
    // Leftover temporary files are ignored.
    write(".k20990101000000-abcdef.tmp-0011", &[7; 5]);
    assert!(KeyRing::load_or_generate(&dir.0).is_ok());
}

#[test]
fn kids_sort_by_age_even_within_one_second() {
    let dir = TempDir::new();
    let (first, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    let mut last = first.current_kid().to_owned();
    for _ in 0..5 {
        let ring = KeyRing::rotate(&dir.0).unwrap();
        assert!(
            ring.current_kid() > last.as_str(),
            "{} <= {last}",
            ring.current_kid()
        );
        last = ring.current_kid().to_owned();
        let kids: Vec<_> = ring.kids().collect();
        assert!(kids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*kids.last().unwrap(), ring.current_kid());
    }
    // A future-dated key (clock set back) still sorts before the next one.
    let next = new_kid(Some("k20990101000000-abcdef"));
    assert!(next.starts_with("k20990101000001-"), "{next}");
}

#[test]
fn debug_and_errors_show_no_key_material() {
    let dir = TempDir::new();
    let (ring, _) = KeyRing::load_or_generate(&dir.0).unwrap();
    let key = fs::read(key_files(&dir.0).remove(0)).unwrap();
    assert_eq!(key.len(), 32);
    let debug = format!("{ring:?}");
    assert!(debug.contains(ring.current_kid()), "{debug}");
    assert!(!debug.to_lowercase().contains(&hex(&key)), "{debug}");
    assert!(!debug.contains(&format!("{:?}", key)), "{debug}");
    assert!(!debug.contains(format!("{:?}", &key[..4]).trim_end_matches(']')));
    // Neither the KEK nor the derived keyed-hash key appears.
    assert!(!debug.contains(&hex(ring.inner.hash_key.as_slice())));

    let sealed = ring.seal(b"TOP-SECRET-PLAINTEXT", AAD).unwrap();
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    for err in [
        ring.open(&tampered, AAD).unwrap_err(),
        ring.open(&sealed, b"WRONG-AAD").unwrap_err(),
    ] {
        let text = format!("{err} {err:?}");
        assert!(!text.contains("TOP-SECRET"), "{text}");
        assert!(!text.contains("WRONG-AAD"), "{text}");
        assert!(!text.contains(&hex(&key)), "{text}");
    }
}
