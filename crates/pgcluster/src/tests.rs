use super::*;

/// A fresh directory under the temp dir, removed on drop (declare it before the cluster).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("pgcluster-test-{}", random_hex()));
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn running(data_dir: &Path) -> bool {
    Tools::detect().unwrap().is_running(data_dir)
}

#[test]
fn start_query_stop_and_restart() {
    let tmp = TempDir::new();
    let data = tmp.0.join("data");
    let cluster = Cluster::start(&data).unwrap();
    let socket_dir = cluster.socket_dir().to_owned();
    assert!(socket_dir.join(".s.PGSQL.5432").exists());

    let out = Command::new("/usr/bin/psql")
        .arg(cluster.admin_url("postgres"))
        .args(["-XAtc", "select 1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");

    let err = Cluster::start(&data).unwrap_err();
    assert!(matches!(err, ClusterError::AlreadyRunning(_)), "{err}");

    cluster.stop().unwrap();
    assert!(!running(&data));
    assert!(!socket_dir.exists());

    // The data dir now holds a cluster, so this start skips initdb.
    let again = Cluster::start(&data).unwrap();
    assert!(running(&data));
    again.stop().unwrap();
    assert!(!running(&data));
}

#[test]
fn drop_stops_server() {
    let tmp = TempDir::new();
    let data = tmp.0.join("data");
    let cluster = Cluster::start(&data).unwrap();
    let socket_dir = cluster.socket_dir().to_owned();
    assert!(running(&data));
    drop(cluster);
    assert!(!running(&data));
    assert!(!socket_dir.exists());
}

// The guardian (the server stops when its owner is killed) is tested end to end in
// the paddock integration tests, by killing a running `paddock demo`.
