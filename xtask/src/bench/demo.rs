//! A `paddock demo` server for a benchmark: its own private PostgreSQL and data
//! directory, stopped with SIGTERM at the end, killed if anything goes wrong.

use std::env;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the demo may take to start its cluster, migrate, seed and listen.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long it may take to drain and stop its cluster after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running demo; killed and its data directory removed when dropped.
#[derive(Debug)]
pub struct Demo {
    child: Option<Child>,
    data_dir: PathBuf,
    log: PathBuf,
    /// Where it listens (always on 127.0.0.1).
    pub addr: SocketAddr,
    /// The first seeded practice admin's email.
    pub email: String,
    /// Their password.
    pub password: String,
    /// Every account of the first practice (the admin first, then its staff), as
    /// `(email, password)`.
    pub accounts: Vec<(String, String)>,
}

/// What the demo's welcome text tells us.
#[derive(Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The listening address.
    pub addr: SocketAddr,
    /// The first admin's email.
    pub email: String,
    /// Their password.
    pub password: String,
}

impl Demo {
    /// Starts `binary demo --bind 127.0.0.1:0` in a fresh data directory (its own
    /// PostgreSQL cluster, never an external database) and waits for its welcome text.
    pub fn start(binary: &Path) -> Result<Self, String> {
        let data_dir = env::temp_dir().join(format!(
            "paddock-bench-{}-{}",
            std::process::id(),
            pgcluster::random_hex()
        ));
        fs::create_dir(&data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
        let log = data_dir.join("demo.log");
        let mut demo = Self {
            child: None,
            data_dir,
            log,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            email: String::new(),
            password: String::new(),
            accounts: Vec::new(),
        };
        // From here on, dropping `demo` kills the server and removes the directory.
        let log_file =
            File::create(&demo.log).map_err(|e| format!("creating {}: {e}", demo.log.display()))?;
        let mut command = Command::new(binary);
        // Plain HTTP: the load generator does not speak TLS.
        command.args(["demo", "--bind", "127.0.0.1:0", "--insecure-http"]);
        // The load comes from one address: the limits would answer it, not the server.
        command.args(["--rate-limit-address", "off", "--rate-limit-secrets", "off"]);
        command.args(["--rate-limit-credential", "off"]);
        // No external database, and the server's defaults for everything else (the
        // argon2 cost above all, which the report states): drop every PADDOCK_ setting.
        command.env_remove("DATABASE_URL");
        for (name, _) in env::vars_os() {
            if name.to_string_lossy().starts_with("PADDOCK_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .env("PADDOCK_DATA_DIR", &demo.data_dir)
            // The server's own default, whatever the caller's environment says.
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stdout = child.stdout.take();
        demo.child = Some(child);
        let stdout = stdout.ok_or("the demo's stdout was not captured")?;

        // Read stdout on a thread until it closes (the demo exits), so the demo never
        // blocks writing to it; the lines reach us through a channel.
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Keep draining after nobody listens any more.
                let _ = lines.send(line);
            }
        });

        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line);
                    // The first practice's block ends with its line of counts, right
                    // after its accounts.
                    let block_done = seen.last().is_some_and(|l| l.contains(" patients, "));
                    if let Some(welcome) = parse_welcome(&seen).filter(|_| block_done) {
                        demo.addr = welcome.addr;
                        demo.email = welcome.email;
                        demo.password = welcome.password;
                        demo.accounts = first_practice_accounts(&seen);
                        return Ok(demo);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the demo did not announce itself within {}s{}",
                        START_TIMEOUT.as_secs(),
                        demo.log_tail()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "the demo exited before it was ready{}",
                        demo.log_tail()
                    ));
                }
            }
        }
    }

    /// Stops the demo with SIGTERM and waits for it (it stops its cluster itself);
    /// kills it if it does not stop in time. The data directory goes on drop.
    pub fn stop(mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = terminate(&mut child)?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the demo exited with {status}{}", self.log_tail()))
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The process id of the demo's PostgreSQL postmaster (first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.data_dir.join("pg").join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// The directory of the Unix socket of the demo's private PostgreSQL, from the
    /// fifth line of its `postmaster.pid` (the cluster lives in `<data dir>/pg`).
    pub fn postgres_socket_dir(&self) -> Result<PathBuf, String> {
        let pid_file = self.data_dir.join("pg").join("postmaster.pid");
        let text = fs::read_to_string(&pid_file)
            .map_err(|e| format!("reading {}: {e}", pid_file.display()))?;
        text.lines()
            .nth(4)
            .map(str::trim)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| format!("{} names no socket directory", pid_file.display()))
    }

    /// The server log of the demo's private PostgreSQL (every backend writes to it).
    pub fn postgres_log(&self) -> PathBuf {
        self.data_dir.join("pg").join("server.log")
    }

    /// The last lines of the demo's log, for error messages.
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines
            .get(lines.len().saturating_sub(30)..)
            .unwrap_or_default()
            .join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n--- last lines of {} ---\n{tail}", self.log.display())
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(Err(e)) = self.child.take().map(|mut child| terminate(&mut child)) {
            eprintln!("xtask: {e}");
        }
        // A killed demo's cluster is stopped by its guardian moments later; retry a
        // little while files disappear under us.
        let mut last_error = None;
        for _ in 0..10 {
            match fs::remove_dir_all(&self.data_dir) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) => last_error = Some(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if let Some(e) = last_error {
            eprintln!("xtask: removing {}: {e}", self.data_dir.display());
        }
    }
}

/// SIGTERM (through `kill`, as this crate forbids unsafe code), then waits up to
/// [`STOP_TIMEOUT`]; SIGKILL if it is still running then.
fn terminate(child: &mut Child) -> Result<std::process::ExitStatus, String> {
    if let Ok(Some(status)) = child.try_wait() {
        return Ok(status);
    }
    let pid = child.id().to_string();
    let signalled = Command::new("kill")
        .args(["-TERM", &pid])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if signalled {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(_) => break,
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "the demo (pid {pid}) did not stop after SIGTERM within {}s; killed it",
        STOP_TIMEOUT.as_secs()
    ))
}

/// The first line of the demo's welcome text, before its address.
const WELCOME_PREFIX: &str = "Paddock demo is running at http://";

/// Finds, in the demo's stdout so far, the address line and the first
/// `<role> <email>  password: <password>` line.
pub fn parse_welcome(lines: &[String]) -> Option<Welcome> {
    let mut addr = None;
    for line in lines {
        if let Some(rest) = line.trim().strip_prefix(WELCOME_PREFIX) {
            addr = rest.trim_end_matches('/').parse::<SocketAddr>().ok();
            continue;
        }
        let (Some(addr), Some((email, password))) = (addr, parse_account(line)) else {
            continue;
        };
        return Some(Welcome {
            addr,
            email,
            password,
        });
    }
    None
}

/// The `(email, password)` of a `<role> <email>  password: <password>` line.
fn parse_account(line: &str) -> Option<(String, String)> {
    let (before, password) = line.split_once("password:")?;
    let email = before.split_whitespace().last().unwrap_or_default();
    let password = password.trim();
    (email.contains('@') && !password.is_empty()).then(|| (email.to_owned(), password.to_owned()))
}

/// The accounts listed after the address and before the first line of counts.
fn first_practice_accounts(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .skip_while(|line| !line.trim().starts_with(WELCOME_PREFIX))
        .take_while(|line| !line.contains(" patients, "))
        .filter_map(|line| parse_account(line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn parses_the_address_and_the_first_admin() {
        let text = "Paddock demo is running at http://127.0.0.1:40123/\n\
                    (demo data is recreated on every run; press Ctrl-C to stop)\n\
                    \n  Riverside Animal Hospital\n\
                    \x20   Practice admin   admin@riverside.example  password: aB3dE6-fG9hJ2-kL5mN8-pQ1rS4\n\
                    \n  Northside Veterinary Specialists\n\
                    \x20   Practice admin   admin@northside.example  password: other\n";
        assert_eq!(
            parse_welcome(&lines(text)),
            Some(Welcome {
                addr: "127.0.0.1:40123".parse().unwrap(),
                email: "admin@riverside.example".into(),
                password: "aB3dE6-fG9hJ2-kL5mN8-pQ1rS4".into(),
            })
        );
    }

    #[test]
    fn lists_the_first_practices_accounts() {
        let text = "Paddock demo is running at http://127.0.0.1:40123/\n\
                    \n  Riverside Animal Hospital\n\
                    \x20   Practice admin   admin@riverside.example  password: a1\n\
                    \x20   Veterinarian     vet@riverside.example  password: v1\n\
                    \x20   40 clients, 60 patients, 90 encounters, 30 appointments this week\n\
                    \n  Northside Veterinary Specialists\n\
                    \x20   Practice admin   admin@northside.example  password: other\n";
        assert_eq!(
            first_practice_accounts(&lines(text)),
            [
                ("admin@riverside.example".to_owned(), "a1".to_owned()),
                ("vet@riverside.example".to_owned(), "v1".to_owned()),
            ]
        );
    }

    #[test]
    fn waits_for_both_the_address_and_a_credential() {
        assert_eq!(
            parse_welcome(&lines("Paddock demo is running at http://127.0.0.1:1/")),
            None
        );
        // A credential line before the address does not count.
        assert_eq!(
            parse_welcome(&lines("  Practice admin  a@b.example  password: x")),
            None
        );
    }
}
