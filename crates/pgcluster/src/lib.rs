//! Starts a private PostgreSQL cluster from the installed server binaries.
//!
//! `paddock demo` and the test harness use this to get a server of their own
//! without touching any system-wide cluster. The server listens only on a Unix
//! socket in a fresh directory under the temp dir (socket paths are limited to
//! about 107 bytes, so the socket cannot live inside a deep data directory),
//! trusts local connections, and is stopped when the [`Cluster`] is dropped or,
//! through a small guardian process, when the owning process dies. As root the
//! tools run as the `postgres` system user, because initdb and postgres refuse
//! to run as root.

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(test)]
mod tests;

/// Errors starting or stopping a private cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No directory containing `initdb` was found.
    #[error(
        "PostgreSQL server binaries not found (looked for initdb via pg_config --bindir and /usr/lib/postgresql/*/bin). Install them, e.g. on Debian: apt-get install postgresql"
    )]
    BinariesNotFound,
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error(
        "running as root, but /etc/passwd has no `postgres` system user to run the server as (initdb and postgres refuse to run as root)"
    )]
    NoPostgresUser,
    /// The `postgres` system user cannot enter or write the data directory.
    #[error(
        "the `postgres` system user cannot access {0} (probably a parent directory is private to root); use a data directory it can reach, e.g. set PADDOCK_DATA_DIR to a directory under /tmp or /var/lib"
    )]
    DataDirUnreachable(PathBuf),
    /// Another server is already running in the data directory.
    #[error("a server is already running in {0}; stop it or use another data directory")]
    AlreadyRunning(PathBuf),
    /// A PostgreSQL tool exited unsuccessfully.
    #[error("{command} failed ({status}):\n{output}")]
    CommandFailed {
        /// What was run, e.g. `pg_ctl start`.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// Its output, plus the tail of the server log where relevant.
        output: String,
    },
    /// An I/O error, with what we were doing at the time.
    #[error("{context}: {source}")]
    Io {
        /// What failed, e.g. `creating /tmp/x`.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// A running private cluster; stopped when dropped (and when this process dies, see guardian).
#[derive(Debug)]
pub struct Cluster {
    tools: Tools,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    /// Watchdog that stops the server once the pipe closes, i.e. when we exit or die.
    guardian: Option<(Child, ChildStdin)>,
    stopped: bool,
}

impl Cluster {
    /// Initialise `data_dir` if it holds no cluster yet, start the server, and wait until it accepts connections.
    pub fn start(data_dir: &Path) -> Result<Cluster, ClusterError> {
        Self::start_with(data_dir, &[])
    }

    /// Like [`Cluster::start`], with server settings on top of (and overriding) the
    /// private defaults: e.g. `listen_addresses` and `ssl` for a test of TLS to the
    /// database. Opening TCP with trust authentication is for tests on loopback only.
    pub fn start_with(data_dir: &Path, settings: &[(&str, &str)]) -> Result<Cluster, ClusterError> {
        let tools = Tools::detect()?;
        fs::create_dir_all(data_dir).map_err(io_err(format!("creating {}", data_dir.display())))?;
        // Children run from "/", so they need an absolute path.
        let data_dir = fs::canonicalize(data_dir)
            .map_err(io_err(format!("resolving {}", data_dir.display())))?;
        let initialised = data_dir.join("PG_VERSION").exists();
        if !initialised {
            tools.chown(&data_dir)?;
        }
        tools.check_reachable(&data_dir)?;
        if initialised && data_dir.join("postmaster.pid").exists() && tools.is_running(&data_dir) {
            return Err(ClusterError::AlreadyRunning(data_dir));
        }
        if !initialised {
            let mut initdb = tools.command(tools.bindir.join("initdb"));
            initdb.arg("-D").arg(&data_dir).args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]);
            run(&mut initdb, "initdb")?;
        }

        let socket_dir = std::env::temp_dir().join(format!("paddock-pg-{}", random_hex()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&socket_dir)
            .map_err(io_err(format!("creating {}", socket_dir.display())))?;
        // From here on, dropping `cluster` on error stops whatever started and removes the socket dir.
        let mut cluster = Cluster {
            tools,
            data_dir,
            socket_dir,
            guardian: None,
            stopped: false,
        };
        cluster.tools.chown(&cluster.socket_dir)?;
        // Guard before starting: the server is up well before `pg_ctl -w` returns, and
        // dying in between must not leave it running. If we die before the server has
        // its socket, removing the socket dir makes its startup fail.
        cluster.guardian = Some(cluster.spawn_guardian()?);

        // No TCP at all: only the private socket, which is what makes trust auth acceptable.
        let mut options = format!(
            "-c listen_addresses='' -c port=5432 -c unix_socket_directories={} \
             -c unix_socket_permissions=0700 -c max_connections=200 -c shared_buffers=128MB",
            shell_quote(&cluster.socket_dir.to_string_lossy())
        );
        // A later -c wins over an earlier one.
        for (name, value) in settings {
            options.push_str(&format!(" -c {name}={}", shell_quote(value)));
        }
        let log = cluster.data_dir.join("server.log");
        let mut pg_ctl = cluster.tools.pg_ctl(&cluster.data_dir);
        pg_ctl
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        match run(&mut pg_ctl, "pg_ctl start") {
            Ok(_) => {}
            Err(ClusterError::CommandFailed {
                command,
                status,
                mut output,
            }) => {
                output.push_str(&format!(
                    "\nlast lines of {}:\n{}",
                    log.display(),
                    log_tail(&log, 20)
                ));
                return Err(ClusterError::CommandFailed {
                    command,
                    status,
                    output,
                });
            }
            Err(e) => return Err(e),
        }
        Ok(cluster)
    }

    /// Superuser connection URL for `database`, over the Unix socket.
    pub fn admin_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost/{database}?host={}", // superuser: admin use only
            self.socket_dir.display()
        )
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Stop the server cleanly (pg_ctl stop -m fast) and remove the socket directory.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ClusterError> {
        self.stopped = true;
        let mut pg_ctl = self.tools.pg_ctl(&self.data_dir);
        pg_ctl.args(["stop", "-m", "fast", "-w"]);
        let stopped = run(&mut pg_ctl, "pg_ctl stop");
        if let Some((mut child, pipe)) = self.guardian.take() {
            // Closing the pipe lets the guardian finish; its own stop is then a no-op.
            drop(pipe);
            let _ = child.wait();
        }
        let removed = match fs::remove_dir_all(&self.socket_dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err(format!("removing {}", self.socket_dir.display()))(e))
            }
            _ => Ok(()),
        };
        stopped.and(removed)
    }

    /// `sh` waits for EOF on its stdin, which happens when every copy of the
    /// write end is closed: on `stop`, or when this process exits or is killed.
    /// The write end is close-on-exec, so other children don't keep it open.
    fn spawn_guardian(&self) -> Result<(Child, ChildStdin), ClusterError> {
        let mut cmd = self.tools.command("sh");
        cmd.args([
            "-c",
            r#"cat >/dev/null; "$0" -D "$1" stop -m fast; rm -rf "$2""#,
        ])
        .arg(self.tools.bindir.join("pg_ctl"))
        .arg(&self.data_dir)
        .arg(&self.socket_dir)
        .stdin(Stdio::piped())
        // Null, so the guardian never holds a test runner's output pipe open.
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so Ctrl-C on the terminal doesn't kill it along with us.
        .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(io_err("spawning the cluster guardian"))?;
        match child.stdin.take() {
            Some(pipe) => Ok((child, pipe)),
            None => Err(io_err("spawning the cluster guardian")(io::Error::other(
                "no stdin pipe",
            ))),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.shutdown();
        }
    }
}

/// Where the PostgreSQL tools are, and which user (uid, gid) runs them if not us.
#[derive(Debug, Clone)]
struct Tools {
    bindir: PathBuf,
    user: Option<(u32, u32)>,
}

impl Tools {
    fn detect() -> Result<Tools, ClusterError> {
        let bindir = find_bindir()?;
        let user = if effective_uid()? == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        Ok(Tools { bindir, user })
    }

    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        // Our cwd may be private to root (e.g. /root), which the postgres user can't enter.
        cmd.current_dir("/").stdin(Stdio::null());
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn pg_ctl(&self, data_dir: &Path) -> Command {
        let mut cmd = self.command(self.bindir.join("pg_ctl"));
        cmd.arg("-D").arg(data_dir);
        cmd
    }

    fn is_running(&self, data_dir: &Path) -> bool {
        let mut cmd = self.pg_ctl(data_dir);
        cmd.arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.status().is_ok_and(|s| s.success())
    }

    fn chown(&self, path: &Path) -> Result<(), ClusterError> {
        match self.user {
            Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(
                io_err(format!("changing owner of {} to postgres", path.display())),
            ),
            None => Ok(()),
        }
    }

    /// As root we can reach anything, so ask the postgres user itself.
    fn check_reachable(&self, dir: &Path) -> Result<(), ClusterError> {
        if self.user.is_none() {
            return Ok(());
        }
        let mut cmd = self.command("sh");
        cmd.args(["-c", r#"cd -- "$0" && [ -w . ]"#]).arg(dir);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        match cmd.status() {
            Ok(status) if status.success() => Ok(()),
            Ok(_) => Err(ClusterError::DataDirUnreachable(dir.to_owned())),
            Err(e) => Err(io_err("running sh as the postgres user")(e)),
        }
    }
}

/// Runs `cmd`, returning its combined output, or `CommandFailed` if it exits unsuccessfully.
fn run(cmd: &mut Command, what: &str) -> Result<String, ClusterError> {
    let out = cmd.output().map_err(io_err(format!("running {what}")))?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(output)
    } else {
        Err(ClusterError::CommandFailed {
            command: what.to_owned(),
            status: out.status,
            output,
        })
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}

/// pg_ctl passes `-o` through `/bin/sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Directory of the installed PostgreSQL server binaries: `pg_config --bindir` if it contains initdb, else the highest-numbered /usr/lib/postgresql/*/bin containing initdb.
pub fn find_bindir() -> Result<PathBuf, ClusterError> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file();
    // pg_config may come from libpq-dev without a server, hence the initdb check.
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|dir| has_initdb(dir)) {
        return Ok(dir);
    }
    let mut best: Option<(u32, PathBuf)> = None;
    for entry in fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Some(version) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let bin = entry.path().join("bin");
        if has_initdb(&bin) && best.as_ref().is_none_or(|(v, _)| version > *v) {
            best = Some((version, bin));
        }
    }
    best.map(|(_, bin)| bin)
        .ok_or(ClusterError::BinariesNotFound)
}

/// Sixteen random hex digits, for unique temporary directory names.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    let n = match fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => {
            // RandomState is seeded from the OS; time and pid make repeats even less likely.
            let mut h = RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_u128(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.finish()
        }
    };
    format!("{n:016x}")
}

/// Read from /proc because libc (and thus geteuid) would need unsafe.
fn effective_uid() -> Result<u32, ClusterError> {
    let status =
        fs::read_to_string("/proc/self/status").map_err(io_err("reading /proc/self/status"))?;
    // "Uid:  real  effective  saved  fs"
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| {
            io_err("reading /proc/self/status")(io::Error::other("no effective uid in it"))
        })
}

/// (uid, gid) of the `postgres` system user.
fn postgres_user() -> Result<(u32, u32), ClusterError> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_err("reading /etc/passwd"))?;
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            if fields.next() != Some("postgres") {
                return None;
            }
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some((uid, gid))
        })
        .ok_or(ClusterError::NoPostgresUser)
}
