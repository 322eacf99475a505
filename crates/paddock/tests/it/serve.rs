//! `paddock serve` and `paddock demo` as an operator runs them: the real binary on a
//! real port, plain HTTP/1.1 requests, real signals, and the private cluster's guardian.

use crate::process::{DEADLINE, KillOnDrop, POLL, TempDir, paddock, run, superuser};
use paddock_test_db::TestDb;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The demo runs initdb and migrations before it serves: give it longer.
const DEMO_START_DEADLINE: Duration = Duration::from_secs(120);

/// The lines of a child's pipe, as they arrive, read on a thread of its own.
struct Lines {
    receiver: Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(pipe: impl Read + Send + 'static) -> Lines {
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            receiver,
            seen: Vec::new(),
        }
    }

    /// The first line (from now on) for which `pick` returns something.
    fn find<T>(
        &mut self,
        what: &str,
        deadline: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(line) => {
                    let found = pick(&line);
                    self.seen.push(line);
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} within {deadline:?}; got:\n{}",
                        self.seen.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the process closed its output before {what}; got:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// A `paddock` process whose stdout and stderr are read line by line.
struct Running {
    child: KillOnDrop,
    stdout: Lines,
    stderr: Lines,
}

impl Running {
    fn spawn(cmd: &mut Command) -> Running {
        let mut child = KillOnDrop(
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn paddock"),
        );
        let stdout = Lines::of(child.0.stdout.take().expect("stdout is piped"));
        let stderr = Lines::of(child.0.stderr.take().expect("stderr is piped"));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// The address from the JSON log line that announces the listener.
    fn listening_address(&mut self) -> SocketAddr {
        self.stderr
            .find("JSON log line with an `address`", DEADLINE, |line| {
                let json: Value = serde_json::from_str(line).ok()?;
                json.get("address")?.as_str()?.parse().ok()
            })
    }

    /// Everything read so far, for failure messages.
    fn transcript(&mut self) -> String {
        for lines in [&mut self.stdout, &mut self.stderr] {
            while let Ok(line) = lines.receiver.try_recv() {
                lines.seen.push(line);
            }
        }
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.seen.join("\n"),
            self.stderr.seen.join("\n")
        )
    }
}

/// An HTTP answer.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }
}

/// `GET path` over a fresh connection, HTTP/1.1 with `Connection: close`.
fn get(address: SocketAddr, path: &str) -> Response {
    let mut stream = TcpStream::connect_timeout(&address, DEADLINE).expect("connect to the server");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(DEADLINE))
        .expect("write timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("hex chunk size");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

/// `serve` with `DATABASE_URL` and a data directory of its own, on a free port.
fn serve(database_url: &str, data_dir: &Path) -> Command {
    let mut cmd = paddock();
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--insecure-http"])
        .args(["--log-format", "json"])
        .env("DATABASE_URL", database_url)
        .env("PADDOCK_DATA_DIR", data_dir);
    cmd
}

#[tokio::test]
async fn serve_refuses_to_start_as_a_superuser() {
    let db = TestDb::new().await;
    let data = TempDir::new("serve");
    let output = run(&mut serve(&db.admin_url(), data.path()));
    assert_eq!(output.code(), 1, "{output}");
    assert!(output.stderr.contains("refusing to start"), "{output}");
    assert!(output.stderr.contains("superuser"), "{output}");
}

#[test]
fn serve_refuses_plain_http_unless_told_it_is_behind_a_tls_gateway() {
    // No database at all: the refusal comes first.
    let output = run(paddock().args(["serve", "--bind", "127.0.0.1:0"]));
    assert_eq!(output.code(), 2, "{output}");
    assert!(output.stderr.contains("TLS gateway"), "{output}");
    assert!(output.stderr.contains("--insecure-http"), "{output}");
}

#[tokio::test]
async fn serve_over_tls_reloads_its_certificate_on_sighup_without_a_restart() {
    use crate::tls::{certificate, client, connect, get};
    let db = TestDb::new().await;
    let data = TempDir::new("serve");
    let (first, cert, key) = certificate(data.path(), "site");
    let (second, renewed_cert, renewed_key) = certificate(data.path(), "renewed");
    let mut cmd = paddock();
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("DATABASE_URL", db.app_url())
        .env("PADDOCK_DATA_DIR", data.path());
    let mut server = Running::spawn(&mut cmd);
    let address = server.listening_address();
    let trusting_both = || {
        client(
            &[&first, &second],
            &[&rustls::version::TLS13],
            &[b"http/1.1"],
        )
    };
    let served = |stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>| {
        stream.get_ref().1.peer_certificates().unwrap()[0].clone()
    };
    let mut open = connect(&trusting_both(), address).await.unwrap();
    assert_eq!(served(&open), first);
    let head = get(&mut open, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("strict-transport-security"),
        "{head}"
    );

    std::fs::copy(&renewed_cert, &cert).unwrap();
    std::fs::copy(&renewed_key, &key).unwrap();
    server.child.signal("HUP");
    let started = Instant::now();
    loop {
        let fresh = connect(&trusting_both(), address).await.unwrap();
        if served(&fresh) == second {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "still the old certificate after SIGHUP\n{}",
            server.transcript()
        );
        tokio::time::sleep(POLL).await;
    }
    // The process went on (SIGHUP is not its end) and the open connection with it.
    assert!(get(&mut open, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(server.child.0.try_wait().unwrap().is_none());
    server.child.terminate();
    let status = server.child.wait_until(DEADLINE);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        server.transcript()
    );
}

#[test]
fn serve_without_database_url_fails_naming_it() {
    let data = TempDir::new("serve");
    let output = run(paddock()
        .args(["serve", "--bind", "127.0.0.1:0", "--insecure-http"])
        .env("PADDOCK_DATA_DIR", data.path()));
    assert_ne!(output.code(), 0, "{output}");
    assert!(output.stderr.contains("DATABASE_URL"), "{output}");
}

#[tokio::test]
async fn serve_as_the_app_role_answers_health_checks_and_stops_gracefully_on_sigterm() {
    let db = TestDb::new().await;
    let data = TempDir::new("serve");
    let mut server = Running::spawn(&mut serve(&db.app_url(), data.path()));
    let address = server.listening_address();

    let ready = get(address, "/readyz");
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.json(), serde_json::json!({ "status": "ready" }));

    let health = get(address, "/healthz");
    assert_eq!(health.status, 200, "{health:?}");

    let missing = get(address, "/no-such-page");
    assert_eq!(missing.status, 404, "{missing:?}");

    for response in [&ready, &health, &missing] {
        let id = response.header("x-request-id");
        assert!(
            id.is_some_and(|id| !id.is_empty()),
            "every response carries a request id: {response:?}"
        );
    }

    server.child.terminate();
    let Some(status) = server.child.wait_until(DEADLINE) else {
        panic!(
            "serve did not stop within {DEADLINE:?} of SIGTERM\n{}",
            server.transcript()
        );
    };
    assert!(
        status.success(),
        "SIGTERM is a graceful stop, exit 0; got {status}\n{}",
        server.transcript()
    );
}

#[tokio::test]
async fn serve_reports_metrics_on_its_own_listener_never_on_the_public_port() {
    let db = TestDb::new().await;
    let data = TempDir::new("serve-metrics");
    let mut server =
        Running::spawn(serve(&db.app_url(), data.path()).args(["--metrics-bind", "127.0.0.1:0"]));
    let public = server.listening_address();
    let metrics = server
        .stderr
        .find("the metrics listener's address", DEADLINE, |line| {
            let json: Value = serde_json::from_str(line).ok()?;
            json.get("metrics_address")?
                .as_str()?
                .parse::<SocketAddr>()
                .ok()
        });
    assert_ne!(public, metrics);
    assert_eq!(get(public, "/healthz").status, 200);
    assert_eq!(get(public, "/api/v1/patients").status, 401);

    let on_public = get(public, "/metrics");
    assert_eq!(on_public.status, 404, "{on_public:?}");
    assert!(
        !on_public.body.contains("paddock_http_requests"),
        "{on_public:?}"
    );

    let scraped = get(metrics, "/metrics");
    assert_eq!(scraped.status, 200, "{scraped:?}");
    let text = &scraped.body;
    for expected in [
        r#"paddock_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"paddock_http_requests_total{method="GET",route="/api/v1/patients",status="401"} 1"#,
        r#"paddock_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        "paddock_http_request_duration_seconds_bucket",
        "paddock_db_pool_connections_max 20",
        "paddock_audit_unsealed_events",
        "paddock_audit_sealer_lag_seconds",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("/metrics"),
        "the public 404 is counted without its path:\n{text}"
    );
    assert_eq!(
        get(metrics, "/healthz").status,
        404,
        "the metrics listener serves metrics only"
    );
}

#[tokio::test]
async fn serve_seals_the_audit_trail_in_the_background() {
    let db = TestDb::new().await;
    let practice = crate::world::create_practice(
        &db.admin().await,
        &db.app().await,
        "Riverside Animal Hospital",
        "admin@riverside.example",
    )
    .await;
    let mut observer = superuser(&db).await;
    let unsealed = "select count(*) from audit_events where seq is null";
    let waiting: i64 = sqlx::query_scalar(unsealed)
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert!(waiting > 0, "creating a practice recorded events");

    let data = TempDir::new("serve-sealer");
    let mut server = Running::spawn(&mut serve(&db.app_url(), data.path()));
    server.listening_address();
    // The sealer runs every half second; the deadline only turns a hang into a failure.
    let end = Instant::now() + DEADLINE;
    loop {
        let left: i64 = sqlx::query_scalar(unsealed)
            .fetch_one(&mut observer)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "{left} events still unsealed\n{}",
            server.transcript()
        );
        tokio::time::sleep(POLL).await;
    }
    let admin = db.admin().await;
    let verification = admin.verify_audit(practice.id, None).await.unwrap();
    assert!(verification.is_ok(), "{verification:?}");
    assert_eq!(verification.events, u64::try_from(waiting).unwrap());
    server.child.terminate();
    assert!(server.child.wait_until(DEADLINE).is_some());
}

#[tokio::test]
async fn serve_stops_gracefully_on_sigterm_sent_as_soon_as_it_announces_its_address() {
    // A supervisor may stop the server at any moment once it is up; announcing the
    // address must not come before the server can shut down cleanly. To leave it no
    // slack, a shell waits with the signal ready and fires it when the reader of the
    // announcement pokes it (the shell's built-in kill needs no fork or exec).
    let db = TestDb::new().await;
    let data = TempDir::new("serve");
    let mut server = KillOnDrop(
        serve(&db.app_url(), data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn paddock"),
    );
    let mut trigger = KillOnDrop(
        Command::new("sh")
            .args(["-c", r#"read -r _ && kill -TERM "$0""#])
            .arg(server.0.id().to_string())
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn the signal trigger"),
    );
    let mut poke = trigger.0.stdin.take().expect("trigger stdin is piped");
    let stderr = server.0.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut poked = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !poked && line.contains("\"address\"") {
                poked = poke.write_all(b"\n").and_then(|()| poke.flush()).is_ok();
            }
            seen.push(line);
        }
        (poked, seen.join("\n"))
    });

    let status = server.wait_until(DEADLINE);
    drop(server);
    let (poked, transcript) = reader.join().expect("stderr reader");
    assert!(poked, "serve never announced its address:\n{transcript}");
    let trigger_status = trigger.wait_until(DEADLINE);
    assert!(
        trigger_status.is_some_and(|s| s.success()),
        "the SIGTERM was not delivered ({trigger_status:?}):\n{transcript}"
    );
    let status = status.unwrap_or_else(|| {
        panic!("serve did not stop within {DEADLINE:?} of SIGTERM:\n{transcript}")
    });
    assert!(
        status.success(),
        "SIGTERM right after the listening announcement must still be a graceful stop \
         (exit 0); got {status}\n{transcript}"
    );
}

#[tokio::test]
async fn serve_starts_on_an_unmigrated_schema_but_readyz_answers_503_problem_json() {
    let db = TestDb::new().await;
    sqlx::raw_sql("delete from _sqlx_migrations")
        .execute(&mut superuser(&db).await)
        .await
        .expect("forget the applied migrations");

    let data = TempDir::new("serve");
    let mut server = Running::spawn(&mut serve(&db.app_url(), data.path()));
    let address = server.listening_address();

    let ready = get(address, "/readyz");
    assert_eq!(ready.status, 503, "{ready:?}");
    assert!(
        ready
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/problem+json")),
        "{ready:?}"
    );
    let problem = ready.json();
    assert_eq!(problem["code"], "unavailable", "{ready:?}");
    assert_eq!(
        problem["request_id"].as_str(),
        ready.header("x-request-id"),
        "the problem quotes the request id of its response: {ready:?}"
    );

    // Still alive: liveness does not depend on the schema.
    assert_eq!(get(address, "/healthz").status, 200);
}

/// Stops a private cluster left running by a failed test (the guardian under test
/// normally does it), so that no postgres outlives the test.
struct ClusterGuard {
    data_dir: PathBuf,
}

impl ClusterGuard {
    fn pid_file(&self) -> PathBuf {
        self.data_dir.join("postmaster.pid")
    }

    fn stop(&self) {
        if !self.pid_file().exists() {
            return;
        }
        let Ok(bindir) = pgcluster::find_bindir() else {
            eprintln!("cannot find pg_ctl to stop {}", self.data_dir.display());
            return;
        };
        let pg_ctl = bindir.join("pg_ctl");
        let mut cmd = if running_as_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(pg_ctl);
            cmd
        } else {
            Command::new(pg_ctl)
        };
        let stopped = cmd
            .arg("-D")
            .arg(&self.data_dir)
            .args(["stop", "-m", "immediate"])
            .current_dir("/")
            .stdin(Stdio::null())
            .output();
        eprintln!(
            "stopping the leftover cluster in {}: {stopped:?}",
            self.data_dir.display()
        );
    }
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// A running `paddock demo` on its own private cluster, up and announced.
struct Demo {
    // Dropped in this order: the process, then any cluster it left, then the directory.
    running: Running,
    cluster: ClusterGuard,
    _data: TempDir,
}

/// Starts `paddock demo` with no database configured, waits for its welcome with
/// both practices' credentials, and checks that it is ready.
fn start_demo() -> Demo {
    let data = TempDir::new("demo");
    let cluster = ClusterGuard {
        data_dir: data.path().join("pg"),
    };
    let mut running = Running::spawn(
        paddock()
            .args(["demo", "--bind", "127.0.0.1:0", "--log-format", "json"])
            .env("PADDOCK_DATA_DIR", data.path()),
    );
    let address: SocketAddr =
        running
            .stdout
            .find("demo welcome line", DEMO_START_DEADLINE, |line| {
                line.strip_prefix("Paddock demo is running at https://")?
                    .strip_suffix('/')?
                    .parse()
                    .ok()
            });
    let fingerprint = running
        .stdout
        .find("the certificate's fingerprint", DEADLINE, |line| {
            let rest = line.strip_prefix("TLS certificate SHA-256 ")?;
            Some(rest.trim_end_matches(')').to_owned())
        });
    // The credentials follow the welcome line: each practice's name, then its users.
    let practices = [
        "Riverside Animal Hospital",
        "Northside Veterinary Specialists",
    ];
    let mut current: Option<&str> = None;
    let mut credentials: Vec<&str> = Vec::new();
    running
        .stdout
        .find("both practices' credentials", DEADLINE, |line| {
            if let Some(name) = practices.iter().find(|name| line.trim() == **name) {
                current = Some(name);
            } else if line.contains("password:") && line.contains("Practice admin") {
                let practice = current.expect("credentials come under a practice name");
                let password = line.rsplit("password:").next().unwrap_or("").trim();
                assert!(password.chars().count() >= 12, "weak demo password: {line}");
                credentials.push(practice);
            }
            practices
                .iter()
                .all(|name| credentials.contains(name))
                .then_some(())
        });
    assert!(
        cluster.pid_file().exists(),
        "the demo runs its private PostgreSQL under $PADDOCK_DATA_DIR/pg"
    );
    // HTTPS with the certificate it made, the one whose fingerprint it printed.
    let cert_pem = std::fs::read(data.path().join("tls").join("localhost.crt")).unwrap();
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(&cert_pem).unwrap();
    assert_eq!(paddock_web::tls::fingerprint(&cert), fingerprint);
    let head = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use crate::tls::{client, connect, get};
        let trusting = client(&[&cert], &[&rustls::version::TLS13], &[b"http/1.1"]);
        let mut stream = connect(&trusting, address).await.unwrap();
        get(&mut stream, "/readyz").await
    });
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{head}\n{}",
        running.transcript()
    );
    Demo {
        running,
        cluster,
        _data: data,
    }
}

#[test]
fn demo_cluster_is_stopped_by_its_guardian_when_the_demo_is_killed() {
    let mut demo = start_demo();

    demo.running.child.0.kill().expect("SIGKILL the demo");
    demo.running.child.0.wait().expect("reap the demo");

    let pid_file = demo.cluster.pid_file();
    let start = Instant::now();
    while pid_file.exists() {
        if start.elapsed() > DEADLINE {
            demo.cluster.stop();
            panic!(
                "the private PostgreSQL outlived its killed owner by {DEADLINE:?} \
                 ({} still exists)\n{}",
                pid_file.display(),
                demo.running.transcript()
            );
        }
        std::thread::sleep(POLL);
    }
}

#[test]
fn demo_stops_its_cluster_and_exits_0_on_sigterm() {
    let mut demo = start_demo();

    demo.running.child.terminate();
    let Some(status) = demo.running.child.wait_until(DEADLINE) else {
        panic!(
            "the demo did not stop within {DEADLINE:?} of SIGTERM\n{}",
            demo.running.transcript()
        );
    };
    assert!(
        status.success(),
        "SIGTERM is a graceful stop, exit 0; got {status}\n{}",
        demo.running.transcript()
    );
    assert!(
        !demo.cluster.pid_file().exists(),
        "the demo stops its PostgreSQL before it exits\n{}",
        demo.running.transcript()
    );
}
