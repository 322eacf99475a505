//! Running the real `paddock` binary from tests: a clean environment, deadlines,
//! children that never outlive their test, and temporary directories.

use paddock_test_db::TestDb;
use sqlx::{Connection, PgConnection};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long any single command may take before the test gives up on it.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);
/// How often the tests look again while waiting.
pub(crate) const POLL: Duration = Duration::from_millis(25);

/// The `paddock` binary with none of the variables it reads inherited from the test's
/// environment; each test sets exactly what it needs.
pub(crate) fn paddock() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paddock"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("PADDOCK_ADMIN_DATABASE_URL")
        .env_remove("PADDOCK_ADMIN_PASSWORD")
        .env_remove("PADDOCK_BIND")
        .env_remove("PADDOCK_DATA_DIR")
        .env_remove("PADDOCK_LOG_FORMAT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// A finished command.
#[derive(Debug)]
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code; fails the test if the process was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("paddock was killed by a signal: {self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// A child process that is killed (and reaped) if the test ends while it still runs.
#[derive(Debug)]
pub(crate) struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Waits up to `deadline` for the process to exit; `None` if it is still running.
    pub fn wait_until(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().expect("poll the paddock process") {
                return Some(status);
            }
            if start.elapsed() > deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends SIGTERM (no unsafe code: through kill(1)).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the process `SIG<name>` (`HUP`, `TERM`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed: {status}");
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Reads a pipe to its end on a thread of its own, so a chatty child never blocks.
pub(crate) fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `cmd` to completion, failing the test if it takes longer than [`DEADLINE`].
pub(crate) fn run(cmd: &mut Command) -> Output {
    let mut child = KillOnDrop(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn paddock"),
    );
    let stdout = drain(child.0.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.0.stderr.take().expect("stderr is piped"));
    let Some(status) = child.wait_until(DEADLINE) else {
        drop(child);
        panic!(
            "paddock did not exit within {DEADLINE:?}; stderr so far:\n{}",
            stderr.join().unwrap_or_default()
        );
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// A directory under the system temp dir, removed with everything in it when dropped.
#[derive(Debug)]
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("paddock-{label}-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A superuser connection, for the test's own observations only (it bypasses RLS).
pub(crate) async fn superuser(db: &TestDb) -> PgConnection {
    PgConnection::connect(&db.admin_url())
        .await
        .expect("superuser connection")
}
