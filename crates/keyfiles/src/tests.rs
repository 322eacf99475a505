use std::io::Read;

use super::*;

const SUFFIX: &str = ".test.key";

/// A temporary directory with a random name, removed on drop. Not created: the code
/// under test creates it (and must give it mode 0700).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("paddock-keyfiles-{}", random_hex(16))))
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

/// Names of every entry in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn kid_time_accepts_only_paddock_key_ids() {
    let time = kid_time("k20260102030405-0a1b2c").unwrap();
    assert_eq!(
        time.format("%Y-%m-%d %H:%M:%S").to_string(),
        "2026-01-02 03:04:05"
    );
    for bad in [
        "",
        "k",
        "20260102030405-0a1b2c",
        "x20260102030405-0a1b2c",
        "k20260102030405",
        "k20260102030405-0A1B2C",
        "k20260102030405-0a1b2",
        "k20260102030405-0a1b2c3",
        "k20260102030405-0a1b2g",
        "k2026010203040-0a1b2c",
        "k202601020304056-0a1b2c",
        "k2026010203040a-0a1b2c",
        "k20261302030405-0a1b2c",
        "k20260102030405-0a1b2c.kek",
    ] {
        assert!(kid_time(bad).is_none(), "{bad}");
    }
}

#[test]
fn new_kids_are_valid_and_sort_after_the_newest_even_within_one_second() {
    let kid = new_kid(None);
    assert_eq!(kid.len(), 22, "{kid}");
    assert!(kid_time(&kid).is_some(), "{kid}");

    // A future-dated newest key (clock set back) is followed by its second plus one.
    let future = "k20990101000000-ffffff";
    let next = new_kid(Some(future));
    assert!(next.starts_with("k20990101000001-"), "{next}");
    assert!(kid_time(&next).is_some());
    assert!(next.as_str() > future);

    // Many kids in the same second still sort by age.
    let mut last = new_kid(None);
    for _ in 0..20 {
        let next = new_kid(Some(&last));
        assert!(next > last, "{next} <= {last}");
        last = next;
    }

    // A newest name that is not a kid is ignored: now is used.
    let now = new_kid(Some("not-a-kid"));
    assert!(kid_time(&now).is_some(), "{now}");
}

#[test]
fn list_key_files_creates_the_dir_sorts_oldest_first_and_ignores_other_files() {
    let dir = TempDir::new();
    let keys = dir.0.join("nested").join("keys");
    assert_eq!(list_key_files(&keys, SUFFIX).unwrap(), []);
    assert!(keys.is_dir());

    ensure_dir(&keys).unwrap();
    let newer = new_kid(Some("k20990101000000-ffffff"));
    for kid in [
        newer.as_str(),
        "k20990101000000-ffffff",
        "k20260101000000-000000",
    ] {
        write_key_file(&keys, kid, SUFFIX, b"secret").unwrap();
    }
    // Interrupted temporary files and other suffixes are ignored.
    fs::write(keys.join(".k20990101000000-abcdef.tmp-0011"), b"x").unwrap();
    fs::write(keys.join("k20990101000000-abcdef.other"), b"x").unwrap();

    let files = list_key_files(&keys, SUFFIX).unwrap();
    let kids: Vec<_> = files.iter().map(|f| f.kid.as_str()).collect();
    assert_eq!(
        kids,
        ["k20260101000000-000000", "k20990101000000-ffffff", &newer]
    );
    for file in &files {
        assert_eq!(file.path, keys.join(format!("{}{SUFFIX}", file.kid)));
    }

    // A name with the suffix that is not a key id is refused.
    let bad = keys.join(format!("newest{SUFFIX}"));
    fs::write(&bad, b"x").unwrap();
    match list_key_files(&keys, SUFFIX) {
        Err(KeyFileError::BadKeyFile { path }) => assert_eq!(path, bad),
        other => panic!("expected BadKeyFile, got {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn new_key_files_are_written_atomically_owner_only_and_never_replace_a_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let kid = write_new_key_file(&dir.0, SUFFIX, None, b"first secret").unwrap();
    assert!(kid_time(&kid).is_some(), "{kid}");
    assert_eq!(
        fs::metadata(&dir.0).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let path = dir.0.join(format!("{kid}{SUFFIX}"));
    // No temporary file left behind.
    assert_eq!(entries(&dir.0), [format!("{kid}{SUFFIX}")]);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::read(&path).unwrap(), b"first secret");

    // The next key sorts after it, even within the same second.
    let next = write_new_key_file(&dir.0, SUFFIX, Some(&kid), b"next secret").unwrap();
    assert!(next > kid, "{next} <= {kid}");
    let files = list_key_files(&dir.0, SUFFIX).unwrap();
    let kids: Vec<_> = files.iter().map(|f| f.kid.as_str()).collect();
    assert_eq!(kids, [&kid, &next]);
    fs::remove_file(dir.0.join(format!("{next}{SUFFIX}"))).unwrap();

    // An existing key file is kept, and the temporary file is removed.
    match write_key_file(&dir.0, &kid, SUFFIX, b"second secret") {
        Err(KeyFileError::Io {
            action,
            path: p,
            source,
        }) => {
            assert_eq!(action, "create key file");
            assert_eq!(p, path);
            assert_eq!(source.kind(), io::ErrorKind::AlreadyExists);
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), b"first secret");
    assert_eq!(entries(&dir.0), [format!("{kid}{SUFFIX}")]);

    // The written file passes the permission check and reads back.
    let mut contents = Vec::new();
    open_key_file(&path)
        .unwrap()
        .read_to_end(&mut contents)
        .unwrap();
    assert_eq!(contents, b"first secret");

    // Nothing is written to a directory others can write to.
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        write_new_key_file(&dir.0, SUFFIX, Some(&kid), b"planted"),
        Err(KeyFileError::InsecureKeyDir { mode: 0o777, .. })
    ));
    assert_eq!(entries(&dir.0), [format!("{kid}{SUFFIX}")]);
}

#[cfg(unix)]
#[test]
fn group_or_world_accessible_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let kid = write_new_key_file(&dir.0, SUFFIX, None, b"secret").unwrap();
    let file = dir.0.join(format!("{kid}{SUFFIX}"));

    for mode in [0o644, 0o640, 0o604, 0o660, 0o606, 0o610, 0o601] {
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        match open_key_file(&file) {
            Err(err @ KeyFileError::InsecureKeyFile { .. }) => {
                assert!(err.to_string().contains("group or others"), "{err}");
                assert!(err.to_string().contains(&format!("{mode:03o}")), "{err}");
                let KeyFileError::InsecureKeyFile { path, mode: m } = err else {
                    unreachable!()
                };
                assert_eq!(path, file);
                assert_eq!(m, mode);
            }
            other => panic!("mode {mode:o}: expected InsecureKeyFile, got {other:?}"),
        }
    }
    for mode in [0o600, 0o400] {
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
        assert!(open_key_file(&file).is_ok(), "mode {mode:o}");
    }

    // Something that is not a regular file is refused.
    let not_a_file = dir.0.join(format!("{}{SUFFIX}", new_kid(Some(&kid))));
    fs::create_dir(&not_a_file).unwrap();
    assert!(matches!(
        open_key_file(&not_a_file),
        Err(KeyFileError::BadKeyFile { path }) if path == not_a_file
    ));
    // A missing file is an I/O error naming the file.
    let missing = dir.0.join(format!("k20990101000000-abcdef{SUFFIX}"));
    assert!(matches!(
        open_key_file(&missing),
        Err(KeyFileError::Io { action: "open key file", path, .. }) if path == missing
    ));
}

#[cfg(unix)]
#[test]
fn group_or_world_writable_key_dir_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    ensure_dir(&dir.0).unwrap();

    for mode in [0o777, 0o720, 0o702, 0o770, 0o707] {
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(mode)).unwrap();
        for result in [ensure_dir(&dir.0), list_key_files(&dir.0, SUFFIX).map(drop)] {
            match result {
                Err(err @ KeyFileError::InsecureKeyDir { .. }) => {
                    assert!(err.to_string().contains("group or others"), "{err}");
                    let KeyFileError::InsecureKeyDir { path, mode: m } = err else {
                        unreachable!()
                    };
                    assert_eq!(path, dir.0);
                    assert_eq!(m, mode);
                }
                other => panic!("dir mode {mode:o}: expected InsecureKeyDir, got {other:?}"),
            }
        }
    }
    // Readable but not writable by others is accepted (only writes could plant a key).
    for mode in [0o755, 0o750, 0o700] {
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(mode)).unwrap();
        assert!(ensure_dir(&dir.0).is_ok(), "dir mode {mode:o}");
    }
}
