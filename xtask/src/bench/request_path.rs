//! `cargo xtask bench request-path`: how close does an authenticated GET come to the
//! database work it stands for?
//!
//! Issue 13 wants the full-stack `GET /api/v1/patients/{id}` with a bearer token to
//! reach at least half of what PostgreSQL does for the same tenant transaction alone.
//! This starts the release build of `paddock demo` (its own PostgreSQL), signs in as
//! the demo vet, exchanges the session for an access token and drives the GET at full
//! speed over keep-alive connections; then it counts, in the server's statement log,
//! what one such request runs; then it runs `pgbench` on the same PostgreSQL, as the
//! application role, with the tenant transaction a request opens for that GET
//! (BEGIN, the one `set_config` statement of `TenantTx`, the store's patient SELECT,
//! COMMIT), at the same concurrency for the same time. Each run is recorded as a row
//! of its own (keyed by its label), so figures before and after a change sit side by
//! side in BENCHMARKS.md.

use super::demo::Demo;
use super::http::{self, Connection, Response};
use super::options;
use super::report::{self, CpuTimes, Machine, Summary};
use futures_util::future::join_all;
use paddock_store::APP_ROLE;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::timeout;

/// The BENCHMARKS.md section this benchmark owns.
const HEADING: &str = "## Request path (issue 13)";
/// The first line of the table of runs, by which an earlier run's row is found again.
const TABLE_HEADER: &str = "| Run | Code | Date | Concurrency | GET req/s | GET p50 / p95 / p99 ms | pgbench tps | pgbench p50 / p95 / p99 ms | GET ÷ pgbench | Statements per GET | Transactions per GET |";
/// A request still unanswered after this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Untimed full-speed load before the measurement (connections, caches, the pool).
const WARM_UP: Duration = Duration::from_secs(2);
/// Requests whose statements are counted, one after another on one connection.
const COUNTED_REQUESTS: usize = 100;
/// Rounds of concurrent requests after switching statement logging on, so every
/// pooled backend has finished a command and read the new settings (a backend
/// reloads its configuration between commands only).
const LOG_WARM_UP_ROUNDS: usize = 20;
/// The user agent of counted request `n` is this followed by `n`: the server binds
/// it into its `set_config` statement, so the log shows which requests it saw.
const COUNTED_AGENT: &str = "paddock-bench-count-";
/// `log_line_prefix` while counting: user and virtual transaction id, easy to split.
const LOG_PREFIX: &str = "@@%u|%v|";
/// The demo's database inside its private cluster.
const DEMO_DATABASE: &str = "paddock_demo";
/// Marks the start and end of the counted requests in the statement log.
const MARK_START: &str = "paddock-bench: counting starts";
const MARK_END: &str = "paddock-bench: counting ends";
/// How long the machine is watched, with this benchmark idle, before the load.
const IDLE_WATCH: Duration = Duration::from_secs(2);
/// Whole-machine CPU busy share, with this benchmark idle, above which other
/// processes were clearly running.
const NOISY: f64 = 0.25;

/// The statement `paddock_store::clinical::patients::get` runs for one patient (a copy: the
/// store keeps its SQL private). The count phase reports whether the server ran
/// exactly this text, so a drift shows in the report.
const PATIENT_SELECT: &str = "select p.id, p.name, p.species, p.breed, p.sex, p.date_of_birth, \
    p.dob_estimated, p.colour, p.microchip, p.insurer, p.insurance_policy, p.status, \
    p.deceased_on, p.created_at, p.updated_at, p.deleted_at, \
    o.client_id as primary_owner_id, o.owner_name as primary_owner_name \
    from patients p left join lateral ( \
    select po.client_id, c.given_name || ' ' || c.family_name as owner_name \
    from patient_owners po join clients c \
    on c.practice_id = po.practice_id and c.id = po.client_id \
    where po.practice_id = p.practice_id and po.patient_id = p.id and po.is_primary) o on true \
    where p.id = $1 and p.deleted_at is null";

/// The one statement `TenantTx` scopes a transaction with, in pgbench's variables.
const SET_CONFIG: &str = "select set_config('app.practice_id', :practice, true), \
    set_config('app.actor_id', :actor, true), set_config('app.request_id', :request, true), \
    set_config('app.ip', :ip, true), set_config('app.user_agent', :agent, true), \
    set_config('app.actor_role', :role, true);";

/// Command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Length of each measurement (the HTTP load, then pgbench).
    pub seconds: u64,
    /// Concurrent keep-alive connections, and pgbench clients.
    pub concurrency: usize,
    /// The run's name in the table; the commit when not given.
    pub label: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seconds: 20,
            // The demo serves with 10 database connections.
            concurrency: 10,
            label: None,
        }
    }
}

impl Options {
    /// Parses `--seconds N --concurrency C --label TEXT` (or `--name=value`).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = Self::default();
        for (name, value) in options::pairs(args)? {
            match name.as_str() {
                "--seconds" => parsed.seconds = options::number(&name, &value, 1, 600)?,
                "--concurrency" => parsed.concurrency = options::number(&name, &value, 1, 256)?,
                "--label" => {
                    let label = value.trim();
                    if label.is_empty() || label.contains(['|', '\n']) || label.len() > 100 {
                        return Err(
                            "--label must be 1 to 100 characters, without | or a line break".into(),
                        );
                    }
                    parsed.label = Some(label.to_owned());
                }
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(parsed)
    }
}

/// Entry point: parse, measure, report.
pub fn main(args: &[String]) -> ExitCode {
    super::entry("request-path", args, Options::parse, run)
}

fn run(options: Options) -> Result<(), String> {
    let root = super::workspace_root();
    eprintln!("xtask: building the release binary (cargo build --release -p paddock)");
    let binary = super::build_release_binary(&root, "paddock")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let started = chrono::Utc::now();
    let machine = Machine::detect();
    let revision = report::git_revision(&root);
    eprintln!(
        "xtask: starting {} demo --bind 127.0.0.1:0",
        binary.display()
    );
    let demo = Demo::start(&binary)?;
    eprintln!("xtask: demo is listening on {}", demo.addr);
    let measured = runtime.block_on(async {
        tokio::select! {
            measured = measure(&demo, &options) => measured,
            signal = super::stop_signal() => Err(signal),
        }
    });
    drop(runtime);
    eprintln!("xtask: stopping the demo (SIGTERM)");
    let stopped = demo.stop();
    let measurement = measured?;
    if let Err(e) = stopped {
        eprintln!("xtask: warning: {e}");
    }
    let context = Context {
        label: options.label.clone().unwrap_or_else(|| revision.clone()),
        machine,
        revision,
        date: started.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    let path = root.join("BENCHMARKS.md");
    let existing = fs::read_to_string(&path)
        .ok()
        .and_then(|text| report::section(&text, HEADING));
    let section = render(&measurement, &options, &context, existing.as_deref());
    report::record(&root, &section)
}

/// CPU time, so far, of the three parties to a phase: the server, the whole PostgreSQL
/// cluster, and the load generator (this process, with a finished pgbench).
#[derive(Debug, Clone, Copy, Default)]
struct CpuSample {
    server: Option<Duration>,
    database: Option<Duration>,
    client: Option<Duration>,
}

impl CpuSample {
    fn now(demo: &Demo) -> Self {
        Self {
            server: demo
                .pid()
                .and_then(|pid| super::process::cpu_time(&pid.to_string())),
            database: demo
                .postmaster_pid()
                .and_then(super::process::cluster_cpu_time),
            client: super::process::own_cpu_time_with_children(),
        }
    }

    /// CPU used from `self` to `end`, in microseconds per unit of work (`count`).
    fn per(self, end: Self, count: f64) -> CpuSplit {
        let micros = |start: Option<Duration>, end: Option<Duration>| {
            super::process::used(start, end)
                .filter(|_| count > 0.0)
                .map(|used| used.as_secs_f64() * 1e6 / count)
        };
        CpuSplit {
            server: micros(self.server, end.server),
            database: micros(self.database, end.database),
            client: micros(self.client, end.client),
        }
    }
}

/// CPU microseconds per request (or pgbench transaction), by party.
#[derive(Debug, Clone, Copy, Default)]
struct CpuSplit {
    server: Option<f64>,
    database: Option<f64>,
    client: Option<f64>,
}

impl CpuSplit {
    fn cell(value: Option<f64>) -> String {
        value.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"))
    }

    fn total(&self) -> Option<f64> {
        Some(self.server.unwrap_or(0.0) + self.database? + self.client?)
    }
}

/// Everything measured.
#[derive(Debug, Clone)]
struct Measurement {
    /// The patient asked for, and who asked.
    subject: Subject,
    /// Whole-machine CPU busy share just before the load, with this benchmark idle.
    idle_cpu: Option<f64>,
    /// The full-stack GET.
    http: LoadResult,
    /// Whole-machine CPU busy share during the GET load.
    http_cpu: Option<f64>,
    /// What one GET runs in the database.
    statements: StatementCount,
    /// The same tenant transaction in pgbench.
    pgbench: PgbenchResult,
    /// Whole-machine CPU busy share during pgbench.
    pgbench_cpu: Option<f64>,
    /// CPU per GET, by party.
    http_split: CpuSplit,
    /// CPU per pgbench transaction, by party (no server).
    pgbench_split: CpuSplit,
}

/// The signed-in vet and the patient.
#[derive(Debug, Clone)]
struct Subject {
    email: String,
    user_id: String,
    practice_id: String,
    role: String,
    patient_id: String,
}

async fn measure(demo: &Demo, options: &Options) -> Result<Measurement, String> {
    let addr = demo.addr;
    let (email, password) = demo
        .accounts
        .iter()
        .find(|(email, _)| email.starts_with("vet@"))
        .cloned()
        .ok_or("the demo listed no vet (vet@...)")?;
    eprintln!("xtask: signing in as {email} and taking an access token");
    let token = access_token(addr, &email, &password).await?;
    let bearer = format!("Bearer {token}");
    let me = get_json(addr, "/api/v1/me", &bearer).await?;
    let patients = get_json(addr, "/api/v1/patients?limit=1", &bearer).await?;
    let text = |value: &serde_json::Value, pointer: &str, what: &str| {
        value
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the answer had no {what}: {value}"))
    };
    let subject = Subject {
        email,
        user_id: text(&me, "/user/id", "user id")?,
        practice_id: text(&me, "/practice/id", "practice id")?,
        role: text(&me, "/role/name", "role name")?,
        patient_id: text(&patients, "/items/0/id", "patient")?,
    };
    let path = format!("/api/v1/patients/{}", subject.patient_id);
    let request = http::request(
        "GET",
        &addr.to_string(),
        &path,
        &[("Authorization", &bearer)],
        None,
    );

    let idle_cpu = super::process::others_busy(IDLE_WATCH).await;
    eprintln!("xtask: warm-up: {}s of GET {path}", WARM_UP.as_secs());
    let warm = load(addr, &request, options.concurrency, WARM_UP).await;
    if warm.ok == 0 {
        return Err(format!(
            "the warm-up got no 200 answer ({:?})",
            warm.statuses
        ));
    }
    eprintln!(
        "xtask: GET {path} at full speed, {} connections, {}s",
        options.concurrency, options.seconds
    );
    let cpu_start = CpuTimes::now();
    let split_start = CpuSample::now(demo);
    let http = load(
        addr,
        &request,
        options.concurrency,
        Duration::from_secs(options.seconds),
    )
    .await;
    let http_split = split_start.per(CpuSample::now(demo), http.ok as f64);
    let cpu_end = CpuTimes::now();

    eprintln!("xtask: counting the statements of {COUNTED_REQUESTS} requests");
    let statements = count_statements(demo, &path, &bearer, options.concurrency).await?;

    eprintln!(
        "xtask: pgbench: the same tenant transaction, {} clients, {}s",
        options.concurrency, options.seconds
    );
    let pg_start = CpuTimes::now();
    let split_start = CpuSample::now(demo);
    let pgbench = run_pgbench(demo, &subject, options).await?;
    let mut pgbench_split = split_start.per(CpuSample::now(demo), pgbench.transactions as f64);
    // The server idles (its sealer aside) while pgbench runs: not a party to it.
    pgbench_split.server = None;
    let pg_end = CpuTimes::now();
    let share = |start: Option<CpuTimes>, end: Option<CpuTimes>| start?.busy_share(end?);
    Ok(Measurement {
        subject,
        idle_cpu,
        http,
        http_cpu: share(cpu_start, cpu_end),
        statements,
        pgbench,
        pgbench_cpu: share(pg_start, pg_end),
        http_split,
        pgbench_split,
    })
}

/// One request on a fresh connection, with a deadline.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Result<Response, String> {
    timeout(REQUEST_TIMEOUT, async {
        Connection::open(addr).await?.send(request).await
    })
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| e.to_string())
}

/// Signs in (session cookie and CSRF token) and exchanges the session for a JWT.
async fn access_token(addr: SocketAddr, email: &str, password: &str) -> Result<String, String> {
    let host = addr.to_string();
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    let login = http::request("POST", &host, "/api/v1/auth/login", &[], Some(&body));
    let answer = exchange(addr, &login)
        .await
        .map_err(|e| format!("signing in: {e}"))?;
    let json = ok_json(&answer, "signing in")?;
    let csrf = json
        .get("csrf_token")
        .and_then(serde_json::Value::as_str)
        .ok_or("the sign-in answer had no csrf_token")?
        .to_owned();
    let cookie = answer
        .header_values("set-cookie")
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("__Host-paddock_session="))
        .ok_or("signing in set no __Host-paddock_session cookie")?
        .to_owned();
    let request = http::request(
        "POST",
        &host,
        "/api/v1/auth/token",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        None,
    );
    let answer = exchange(addr, &request)
        .await
        .map_err(|e| format!("asking for a token: {e}"))?;
    ok_json(&answer, "POST /api/v1/auth/token")?
        .get("access_token")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "the token answer had no access_token".to_owned())
}

async fn get_json(addr: SocketAddr, path: &str, bearer: &str) -> Result<serde_json::Value, String> {
    let request = http::request(
        "GET",
        &addr.to_string(),
        path,
        &[("Authorization", bearer)],
        None,
    );
    let answer = exchange(addr, &request)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    ok_json(&answer, &format!("GET {path}"))
}

/// The JSON body of a 200 answer.
fn ok_json(answer: &Response, what: &str) -> Result<serde_json::Value, String> {
    if answer.status != 200 {
        return Err(format!(
            "{what} answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    serde_json::from_slice(&answer.body).map_err(|e| format!("{what}: not JSON: {e}"))
}

/// What a closed-loop load achieved.
#[derive(Debug, Clone, Default)]
struct LoadResult {
    /// 200 answers.
    ok: u64,
    /// Answers by status.
    statuses: BTreeMap<u16, u64>,
    /// Requests without an answer (I/O error or timeout).
    failures: u64,
    /// Latencies of the 200 answers.
    latencies: Vec<Duration>,
    /// From the start to the last answer.
    elapsed: Duration,
}

impl LoadResult {
    fn merge(&mut self, other: LoadResult) {
        self.ok += other.ok;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.failures += other.failures;
        self.latencies.extend(other.latencies);
    }

    /// 200 answers per second.
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Answers other than 200, and requests without one.
    fn errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| **status != 200)
            .map(|(_, count)| count)
            .sum::<u64>()
            + self.failures
    }
}

/// `concurrency` connections, each sending `request` again as soon as the answer
/// is read, until `phase` is over.
async fn load(addr: SocketAddr, request: &[u8], concurrency: usize, phase: Duration) -> LoadResult {
    let started = Instant::now();
    let deadline = started + phase;
    let request = std::sync::Arc::new(request.to_vec());
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let request = std::sync::Arc::clone(&request);
        workers.spawn(async move { load_worker(addr, &request, deadline).await });
    }
    let mut total = LoadResult::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(result) => total.merge(result),
            Err(_) => total.failures += 1,
        }
    }
    total.elapsed = started.elapsed();
    total
}

async fn load_worker(addr: SocketAddr, request: &[u8], deadline: Instant) -> LoadResult {
    let mut result = LoadResult::default();
    let mut connection: Option<Connection> = None;
    while Instant::now() < deadline {
        let reused = connection.take();
        let started = Instant::now();
        let exchange = async {
            let mut connection = match reused {
                Some(connection) => connection,
                None => Connection::open(addr).await?,
            };
            let response = connection.send(request).await?;
            Ok::<_, std::io::Error>((connection, response))
        };
        match timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok((open, response))) => {
                if response.status == 200 {
                    result.ok += 1;
                    result.latencies.push(started.elapsed());
                }
                *result.statuses.entry(response.status).or_default() += 1;
                connection = Some(open).filter(Connection::is_reusable);
            }
            Ok(Err(_)) | Err(_) => {
                result.failures += 1;
                // Do not spin against a server that refuses connections.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    result
}

/// What one GET runs in the database, from the server's statement log.
#[derive(Debug, Clone, Default, PartialEq)]
struct StatementCount {
    /// Requests counted.
    requests: usize,
    /// Statements the application role ran for them (the sealer's left out).
    statements: usize,
    /// Distinct transactions those statements ran in.
    transactions: usize,
    /// The sealer's statements in the same window, not counted above.
    sealer: usize,
    /// Each distinct statement (whitespace collapsed, shortened) and how often it ran.
    by_text: Vec<(String, usize)>,
    /// Counted requests whose user agent the log shows (each request binds its own
    /// into `app.user_agent`): all of them, unless a backend missed the new settings.
    requests_seen: usize,
    /// Whether the server ran exactly [`PATIENT_SELECT`], the statement pgbench runs.
    same_select: bool,
}

impl StatementCount {
    fn per_request(&self, n: usize) -> f64 {
        n as f64 / self.requests.max(1) as f64
    }
}

/// Switches statement logging on in the demo's cluster (superuser, over its socket),
/// sends [`COUNTED_REQUESTS`] GETs one after another between two marker statements,
/// switches it off again and reads the log between the markers.
async fn count_statements(
    demo: &Demo,
    path: &str,
    bearer: &str,
    concurrency: usize,
) -> Result<StatementCount, String> {
    let socket = demo.postgres_socket_dir()?;
    let options = PgConnectOptions::new()
        .socket(&socket)
        .username("postgres")
        .database(DEMO_DATABASE)
        .application_name("paddock-bench");
    let mut admin = PgConnection::connect_with(&options)
        .await
        .map_err(|e| format!("connecting to the demo's PostgreSQL as superuser: {e}"))?;
    let log_path = demo.postgres_log();
    let counted = async {
        set_statement_log(&mut admin, true).await?;
        // This connection, too, reloads its settings only between commands.
        simple(&mut admin, "select 1").await?;
        let addr = demo.addr;
        let host = addr.to_string();
        let plain = http::request("GET", &host, path, &[("Authorization", bearer)], None);
        let mut connections = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            connections.push(
                Connection::open(addr)
                    .await
                    .map_err(|e| format!("connecting to {addr}: {e}"))?,
            );
        }
        for _ in 0..LOG_WARM_UP_ROUNDS {
            join_all(connections.iter_mut().map(|c| c.send(&plain))).await;
            connections.retain(Connection::is_reusable);
        }
        let offset = fs::metadata(&log_path).map_or(0, |m| m.len());
        simple(&mut admin, &format!("select '{MARK_START}'")).await?;
        let mut connection = Connection::open(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        for n in 0..COUNTED_REQUESTS {
            let agent = format!("{COUNTED_AGENT}{n}");
            let request = http::request(
                "GET",
                &host,
                path,
                &[("Authorization", bearer), ("User-Agent", &agent)],
                None,
            );
            let answer = timeout(REQUEST_TIMEOUT, connection.send(&request))
                .await
                .map_err(|_| "a counted request timed out".to_owned())?
                .map_err(|e| format!("a counted request: {e}"))?;
            if answer.status != 200 {
                return Err(format!("a counted request answered {}", answer.status));
            }
        }
        simple(&mut admin, &format!("select '{MARK_END}'")).await?;
        Ok(offset)
    }
    .await;
    // Whatever happened, statement logging goes off again.
    let reset = set_statement_log(&mut admin, false).await;
    let _ = admin.close().await;
    let offset = counted?;
    reset?;
    let log = read_from(&log_path, offset)?;
    let count = parse_statement_log(&log, COUNTED_REQUESTS)?;
    if count.requests_seen != COUNTED_REQUESTS {
        eprintln!(
            "xtask: warning: the statement log shows {} of the {COUNTED_REQUESTS} counted requests",
            count.requests_seen
        );
    }
    Ok(count)
}

async fn simple(conn: &mut PgConnection, sql: &str) -> Result<(), String> {
    sqlx::raw_sql(sql)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("{sql}: {e}"))
}

/// `log_statement = all` with a prefix naming user and transaction, or both reset.
async fn set_statement_log(conn: &mut PgConnection, on: bool) -> Result<(), String> {
    // One statement each: ALTER SYSTEM refuses to run inside a transaction block.
    if on {
        simple(conn, "alter system set log_statement = 'all'").await?;
        simple(
            conn,
            &format!("alter system set log_line_prefix = '{LOG_PREFIX}'"),
        )
        .await?;
    } else {
        simple(conn, "alter system reset log_statement").await?;
        simple(conn, "alter system reset log_line_prefix").await?;
    }
    simple(conn, "select pg_reload_conf()").await?;
    // The postmaster signals every backend; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

fn read_from(path: &Path, offset: u64) -> Result<String, String> {
    let mut file = fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// One message of the server log, in the [`LOG_PREFIX`] format.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogMessage {
    user: String,
    vxid: String,
    /// `LOG:  statement: ...`, `DETAIL:  parameters: ...`, with continuation lines.
    text: String,
}

impl LogMessage {
    /// The SQL of a `statement:` or `execute <name>:` message.
    fn statement(&self) -> Option<&str> {
        if let Some(sql) = self.text.strip_prefix("LOG:  statement: ") {
            return Some(sql);
        }
        let named = self.text.strip_prefix("LOG:  execute ")?;
        named.split_once(": ").map(|(_, sql)| sql)
    }
}

fn parse_log(log: &str) -> Vec<LogMessage> {
    let mut messages: Vec<LogMessage> = Vec::new();
    for line in log.lines() {
        let parsed = line.strip_prefix("@@").and_then(|rest| {
            let (user, rest) = rest.split_once('|')?;
            let (vxid, text) = rest.split_once('|')?;
            Some(LogMessage {
                user: user.to_owned(),
                vxid: vxid.to_owned(),
                text: text.to_owned(),
            })
        });
        match (parsed, messages.last_mut()) {
            (Some(message), _) => messages.push(message),
            // A statement's own line breaks.
            (None, Some(last)) => {
                last.text.push('\n');
                last.text.push_str(line);
            }
            (None, None) => {}
        }
    }
    messages
}

/// Whitespace collapsed, so the same SQL compares equal however it was indented.
fn collapse(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Counts the application role's statements between the two markers.
fn parse_statement_log(log: &str, requests: usize) -> Result<StatementCount, String> {
    let messages = parse_log(log);
    let marker = |mark: &str| {
        messages.iter().position(|m| {
            m.user == "postgres" && m.statement().is_some_and(|sql| sql.contains(mark))
        })
    };
    let (Some(start), Some(end)) = (marker(MARK_START), marker(MARK_END)) else {
        return Err(
            "the statement log has no start and end markers (was log_statement applied?)".into(),
        );
    };
    let window = messages.get(start + 1..end).unwrap_or_default();
    let ours = window.iter().filter(|m| m.user == APP_ROLE);
    let mut count = StatementCount {
        requests,
        ..StatementCount::default()
    };
    let mut transactions = BTreeSet::new();
    let mut agents = BTreeSet::new();
    let patient_select = collapse(PATIENT_SELECT);
    for message in ours {
        if message.text.starts_with("DETAIL:  parameters: ") {
            for piece in message.text.split(COUNTED_AGENT).skip(1) {
                let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
                agents.insert(digits);
            }
            continue;
        }
        let Some(sql) = message.statement() else {
            continue;
        };
        if sql.contains("audit_unsealed_practices") || sql.contains("audit_seal_practice") {
            count.sealer += 1;
            continue;
        }
        count.statements += 1;
        transactions.insert(message.vxid.clone());
        let text = collapse(sql);
        count.same_select |= text == patient_select;
        let short = shorten(&text, 90);
        match count.by_text.iter_mut().find(|(t, _)| *t == short) {
            Some((_, n)) => *n += 1,
            None => count.by_text.push((short, 1)),
        }
    }
    count.transactions = transactions.len();
    count.requests_seen = agents.len();
    Ok(count)
}

fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(chars).collect::<String>())
    }
}

/// What pgbench reported.
#[derive(Debug, Clone, PartialEq)]
struct PgbenchResult {
    /// Its `tps = ...` (without initial connection time).
    tps: f64,
    /// Transactions processed.
    transactions: u64,
    /// Failed transactions.
    failed: u64,
    /// Per-transaction latencies from its `--log` files.
    latencies: Vec<Duration>,
    /// `pgbench --version`.
    version: String,
}

/// The pgbench script: the transaction a request opens for the GET.
fn pgbench_script() -> String {
    format!(
        "BEGIN;\n{SET_CONFIG}\n{};\nCOMMIT;\n",
        collapse(PATIENT_SELECT).replace("$1", ":patient")
    )
}

async fn run_pgbench(
    demo: &Demo,
    subject: &Subject,
    options: &Options,
) -> Result<PgbenchResult, String> {
    let socket = demo.postgres_socket_dir()?;
    let dir = std::env::temp_dir().join(format!(
        "paddock-bench-pgbench-{}-{}",
        std::process::id(),
        pgcluster::random_hex()
    ));
    fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let result = pgbench_in(&dir, &socket, subject, options).await;
    if let Err(e) = fs::remove_dir_all(&dir) {
        eprintln!("xtask: removing {}: {e}", dir.display());
    }
    result
}

async fn pgbench_in(
    dir: &Path,
    socket: &Path,
    subject: &Subject,
    options: &Options,
) -> Result<PgbenchResult, String> {
    let script = dir.join("tenant_get.sql");
    fs::write(&script, pgbench_script())
        .map_err(|e| format!("writing {}: {e}", script.display()))?;
    let threads = options
        .concurrency
        .min(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    let variables = [
        ("practice", subject.practice_id.as_str()),
        ("actor", subject.user_id.as_str()),
        ("request", "pgbench"),
        ("ip", "127.0.0.1"),
        ("agent", "pgbench"),
        ("role", subject.role.as_str()),
        ("patient", subject.patient_id.as_str()),
    ];
    let mut command = Command::new("pgbench");
    command
        .arg("--host")
        .arg(socket)
        .args(["--port", "5432", "--username", APP_ROLE])
        // No vacuum of pgbench's own tables (there are none), prepared statements as
        // sqlx uses them.
        .args(["--no-vacuum", "--protocol=prepared"])
        .arg(format!("--client={}", options.concurrency))
        .arg(format!("--jobs={threads}"))
        .arg(format!("--time={}", options.seconds))
        .arg("--file")
        .arg(&script)
        .arg("--log")
        .arg(format!("--log-prefix={}", dir.join("tx").display()));
    for (name, value) in variables {
        command.arg("--define").arg(format!("{name}={value}"));
    }
    let output = tokio::task::spawn_blocking(move || {
        command
            .arg(DEMO_DATABASE)
            .env_remove("PGPASSWORD")
            .stdin(Stdio::null())
            .output()
    })
    .await
    .map_err(|e| format!("waiting for pgbench: {e}"))?
    .map_err(|e| format!("running pgbench: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let (tps, transactions, failed) = parse_pgbench_output(&stdout)
        .ok_or_else(|| format!("pgbench's output had no tps line:\n{stdout}"))?;
    let mut latencies = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("listing {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let is_log = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("tx."));
        if is_log {
            let text = fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            latencies.extend(parse_pgbench_log(&text));
        }
    }
    let version = Command::new("pgbench")
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "pgbench".into());
    Ok(PgbenchResult {
        tps,
        transactions,
        failed,
        latencies,
        version,
    })
}

/// `tps`, transactions processed and failed, from pgbench's summary.
fn parse_pgbench_output(stdout: &str) -> Option<(f64, u64, u64)> {
    let number_after = |prefix: &str| {
        stdout.lines().find_map(|line| {
            line.trim()
                .strip_prefix(prefix)?
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
    };
    let tps = number_after("tps = ")?;
    let processed = number_after("number of transactions actually processed: ").unwrap_or(0.0);
    let failed = number_after("number of failed transactions: ").unwrap_or(0.0);
    Some((tps, processed as u64, failed as u64))
}

/// Latencies from a pgbench `--log` file: `client transaction latency_us script
/// epoch_s epoch_us`, one line per transaction (a failed one has no number there).
fn parse_pgbench_log(text: &str) -> Vec<Duration> {
    text.lines()
        .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok())
        .map(Duration::from_micros)
        .collect()
}

/// Where and when the measurement ran.
#[derive(Debug, Clone)]
struct Context {
    /// The run's name in the table.
    label: String,
    machine: Machine,
    /// The commit measured.
    revision: String,
    date: String,
}

fn percentiles(summary: Option<Summary>) -> String {
    summary.map_or_else(
        || "-".to_owned(),
        |s| {
            format!(
                "{} / {} / {}",
                report::ms(s.p50),
                report::ms(s.p95),
                report::ms(s.p99)
            )
        },
    )
}

/// The BENCHMARKS.md section: the table of runs (earlier rows of `existing` kept,
/// this run's label replaced) and one subsection of details per run.
fn render(
    measurement: &Measurement,
    options: &Options,
    context: &Context,
    existing: Option<&str>,
) -> String {
    let Measurement {
        subject,
        idle_cpu,
        http,
        http_cpu,
        statements,
        pgbench,
        pgbench_cpu,
        http_split,
        pgbench_split,
    } = measurement;
    let share = |busy: &Option<f64>| {
        busy.map_or_else(|| "unknown".to_owned(), |b| format!("{:.0}%", b * 100.0))
    };
    let ratio = http.rate() / pgbench.tps.max(f64::EPSILON);
    let verdict = if ratio >= 0.5 { "PASS" } else { "FAIL" };
    let per_statement = statements.per_request(statements.statements);
    let per_transaction = statements.per_request(statements.transactions);
    let label = &context.label;
    let row = format!(
        "| {label} | {revision} | {date} | {concurrency} | {rate:.0} | {http_p} | {tps:.0} | {pg_p} | {percent:.0}% | {per_statement:.1} | {per_transaction:.1} |",
        revision = context.revision,
        date = context.date,
        concurrency = options.concurrency,
        rate = http.rate(),
        http_p = percentiles(Summary::of(&http.latencies)),
        tps = pgbench.tps,
        pg_p = percentiles(Summary::of(&pgbench.latencies)),
        percent = ratio * 100.0,
    );
    let statuses = http
        .statuses
        .iter()
        .map(|(status, count)| format!("{status} × {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut breakdown =
        String::from("| Statement (whitespace collapsed) | Per GET |\n|---|---:|\n");
    for (text, n) in &statements.by_text {
        let _ = writeln!(
            breakdown,
            "| `{}` | {:.2} |",
            text.replace('|', "\\|").replace('`', "'"),
            statements.per_request(*n)
        );
    }
    let seen = if statements.requests_seen == statements.requests {
        format!(
            "the log shows all {} counted requests (each binds its own user agent)",
            statements.requests
        )
    } else {
        format!(
            "**incomplete?** the log shows the user agents of {} of the {} counted \
             requests: a pooled backend missed the new settings (run again), or the server \
             no longer binds the user agent as a parameter",
            statements.requests_seen, statements.requests
        )
    };
    // The pool no longer pings a connection on checkout, so each statement is one
    // round trip.
    let round_trips = per_statement;
    let details = format!(
        "### {label}

- Date: {date}
- Machine: {machine}
- Code: {revision}
- Whole-machine CPU busy just before the run, with this benchmark idle (other \
processes, the server's background work): {idle_cpu}{noisy}
- Run: {seconds} s of each, {concurrency} concurrent connections (HTTP keep-alive; \
pgbench clients), after {warm} s of untimed warm-up; signed in as {email} ({role}), \
patient {patient}
- Full-stack `GET /api/v1/patients/{{id}}`: {ok} answers of 200 in {elapsed:.1} s = \
**{rate:.0} req/s** (answers: {statuses}; errors: {errors}); whole machine busy {http_cpu}
- pgbench ({version}, `--protocol=prepared`): **{tps:.0} tps** ({transactions} \
transactions, {failed} failed); whole machine busy {pgbench_cpu}
- Full-stack ÷ pgbench: **{percent:.0}%**; goal ≥ 50%: **{verdict}**
- Per GET, measured in the statement log over {requests} requests: **{per_statement:.1} \
statements in {per_transaction:.1} transactions**, \
**{round_trips:.1} round trips** (the pool does not ping a connection on checkout); {seen}; the sealer's \
{sealer} statements in the same window are not counted
- pgbench's SELECT is the text the server ran for the GET: {same}

Where the CPU goes, in microseconds of CPU time per answer (from /proc: the server \
process; the whole PostgreSQL cluster, reaped backends included; the load generator, \
pgbench included). On {cores} cores, {cores} s of CPU per second is the most there is, so \
the total bounds the rate: at most {cores}e6 ÷ total per second.

| | Server µs | PostgreSQL µs | Load generator µs | Total µs | Bound req/s |
|---|---:|---:|---:|---:|---:|
| full-stack GET | {hs} | {hd} | {hc} | {ht} | {hb} |
| pgbench transaction | – | {pd} | {pc} | {pt} | {pb} |

{breakdown}
| | Requests | p50 ms | p95 ms | p99 ms | max ms |
|---|---:|---:|---:|---:|---:|
{http_line}
{pg_line}",
        date = context.date,
        machine = context.machine,
        revision = context.revision,
        seconds = options.seconds,
        concurrency = options.concurrency,
        warm = WARM_UP.as_secs(),
        email = subject.email,
        role = subject.role,
        patient = subject.patient_id,
        ok = http.ok,
        elapsed = http.elapsed.as_secs_f64(),
        rate = http.rate(),
        errors = http.errors(),
        http_cpu = share(http_cpu),
        idle_cpu = share(idle_cpu),
        noisy = if idle_cpu.is_some_and(|busy| busy > NOISY) {
            " (other processes were running: expect noise, compare the ratio rather than \
             the rates)"
        } else {
            ""
        },
        cores = context.machine.cores,
        hs = CpuSplit::cell(http_split.server),
        hd = CpuSplit::cell(http_split.database),
        hc = CpuSplit::cell(http_split.client),
        ht = CpuSplit::cell(http_split.total()),
        hb = CpuSplit::cell(
            http_split
                .total()
                .map(|t| context.machine.cores as f64 * 1e6 / t)
        ),
        pd = CpuSplit::cell(pgbench_split.database),
        pc = CpuSplit::cell(pgbench_split.client),
        pt = CpuSplit::cell(pgbench_split.total()),
        pb = CpuSplit::cell(
            pgbench_split
                .total()
                .map(|t| context.machine.cores as f64 * 1e6 / t)
        ),
        version = pgbench.version,
        tps = pgbench.tps,
        transactions = pgbench.transactions,
        failed = pgbench.failed,
        pgbench_cpu = share(pgbench_cpu),
        percent = ratio * 100.0,
        requests = statements.requests,
        sealer = statements.sealer,
        same = if statements.same_select {
            "yes"
        } else {
            "**no** (update PATIENT_SELECT in xtask/src/bench/request_path.rs)"
        },
        http_line = latency_line("full-stack GET", http.ok, &http.latencies),
        pg_line = latency_line(
            "pgbench transaction",
            pgbench.transactions,
            &pgbench.latencies
        ),
    );
    let (mut rows, mut runs) = earlier_runs(existing);
    match rows.iter_mut().find(|(key, _)| key == label) {
        Some(existing) => existing.1 = row,
        None => rows.push((label.clone(), row)),
    }
    match runs.iter_mut().find(|(key, _)| key == label) {
        Some(existing) => existing.1 = details,
        None => runs.push((label.clone(), details)),
    }
    let table = rows
        .iter()
        .map(|(_, row)| row.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let runs = runs
        .iter()
        .map(|(_, text)| text.trim_end())
        .collect::<Vec<_>>()
        .join("\n\n");
    format!(
        "{HEADING}

What it measures: how close an authenticated API read comes to the database work it \
stands for. The server is the release build of `paddock demo` (its own PostgreSQL, 10 \
database connections); the demo vet signs in, exchanges the session for an access \
token (`POST /api/v1/auth/token`), and C keep-alive connections send `GET \
/api/v1/patients/{{id}}` with `Authorization: Bearer ...` for one patient, each the \
next as soon as the answer is read, for N seconds (after an untimed warm-up). Then \
`pgbench` runs on the same PostgreSQL, as the application role over the demo's \
socket, with the same concurrency for the same time, the tenant transaction alone: \
`BEGIN`, the one `set_config` statement `TenantTx` opens a transaction with \
(practice, actor, request id, IP, user agent, role), the store's patient SELECT, \
`COMMIT`, as prepared statements (what sqlx sends). Latency is from sending the \
request to reading the whole answer (pgbench: per transaction, from its `--log`); \
percentiles are nearest-rank. What one GET runs is counted in the server's \
statement log: `log_statement = all` is switched on (`ALTER SYSTEM`, reload) only \
for {COUNTED_REQUESTS} requests sent one after another between two marker \
statements, and the application role's statements between the markers are counted \
(the audit sealer's, which run on a timer, left out), with the transactions they ran \
in (distinct virtual transaction ids). Load generator, server and PostgreSQL share \
the machine's cores.

Reproduce with `cargo xtask bench request-path [--seconds N] [--concurrency C] \
[--label TEXT]`, which rewrites this section, keeping the rows of runs with other \
labels (the label defaults to the commit).

{TABLE_HEADER}
|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
{table}

{runs}"
    )
}

fn latency_line(name: &str, count: u64, latencies: &[Duration]) -> String {
    let cells = Summary::of(latencies).map_or_else(
        || ["-"; 4].map(str::to_owned),
        |s| [s.p50, s.p95, s.p99, s.max].map(report::ms),
    );
    format!("| {name} | {count} | {} |", cells.join(" | "))
}

/// The table rows and the run subsections of an earlier version of the section, each
/// with its label.
type Keyed = Vec<(String, String)>;

fn earlier_runs(existing: Option<&str>) -> (Keyed, Keyed) {
    let Some(existing) = existing else {
        return (Vec::new(), Vec::new());
    };
    let lines: Vec<&str> = existing.lines().collect();
    let rows = lines
        .iter()
        .skip_while(|line| line.trim_end() != TABLE_HEADER)
        .skip(2)
        .take_while(|line| line.starts_with("| "))
        .filter_map(|line| {
            let label = line.trim_start_matches("| ").split(" | ").next()?;
            Some((label.trim().to_owned(), (*line).to_owned()))
        })
        .collect();
    let mut runs: Keyed = Vec::new();
    for line in lines {
        if let Some(label) = line.strip_prefix("### ") {
            runs.push((label.trim().to_owned(), format!("{line}\n")));
        } else if let Some((_, text)) = runs.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    (rows, runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_options() {
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        assert_eq!(
            Options::parse(&args(&[
                "--seconds",
                "5",
                "--concurrency=4",
                "--label",
                "before"
            ]))
            .unwrap(),
            Options {
                seconds: 5,
                concurrency: 4,
                label: Some("before".into()),
            }
        );
        for bad in [
            &["--seconds"][..],
            &["--seconds", "0"],
            &["--concurrency", "x"],
            &["--label", "a | b"],
            &["--label", " "],
            &["--verbose", "1"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    const LOG: &str = "\
@@postgres|4/2|LOG:  statement: select 'paddock-bench: counting starts'
@@paddock_app|3/10|LOG:  statement: BEGIN
@@paddock_app|3/10|LOG:  execute sqlx_s_1: select set_config('app.practice_id', $1, true)
@@paddock_app|3/10|DETAIL:  parameters: $1 = 'x', $5 = 'paddock-bench-count-0'
@@paddock_app|3/10|LOG:  execute sqlx_s_2: select p.id
\t   from patients p where p.id = $1
@@paddock_app|3/10|LOG:  statement: COMMIT
@@paddock_app|5/1|LOG:  execute sqlx_s_9: select audit_unsealed_practices()
@@paddock_app|3/11|LOG:  statement: BEGIN
@@paddock_app|3/11|LOG:  execute sqlx_s_1: select set_config('app.practice_id', $1, true)
@@paddock_app|3/11|DETAIL:  parameters: $1 = 'x', $5 = 'paddock-bench-count-1'
@@paddock_app|3/11|LOG:  execute sqlx_s_2: select p.id from patients p where p.id = $1
@@paddock_app|3/11|LOG:  statement: COMMIT
@@||LOG:  checkpoint starting: time
@@postgres|4/3|LOG:  statement: select 'paddock-bench: counting ends'
@@paddock_app|3/12|LOG:  statement: BEGIN
";

    #[test]
    fn counts_the_statements_between_the_markers() {
        let count = parse_statement_log(LOG, 2).unwrap();
        assert_eq!(count.statements, 8);
        assert_eq!(count.transactions, 2);
        assert_eq!(count.sealer, 1);
        assert_eq!(count.requests_seen, 2);
        assert!(!count.same_select);
        assert_eq!(
            count.by_text,
            [
                ("BEGIN".to_owned(), 2),
                (
                    "select set_config('app.practice_id', $1, true)".to_owned(),
                    2
                ),
                ("select p.id from patients p where p.id = $1".to_owned(), 2),
                ("COMMIT".to_owned(), 2),
            ]
        );
        assert!((count.per_request(count.statements) - 4.0).abs() < 1e-9);
        assert!(parse_statement_log("@@postgres|1/1|LOG:  statement: select 1\n", 1).is_err());
    }

    #[test]
    fn recognises_the_stores_select() {
        let log = format!(
            "@@postgres|4/2|LOG:  statement: select '{MARK_START}'\n\
             @@paddock_app|3/1|LOG:  execute sqlx_s_2: {}\n\
             @@postgres|4/3|LOG:  statement: select '{MARK_END}'\n",
            PATIENT_SELECT.replace(", ", ",\n    ")
        );
        assert!(parse_statement_log(&log, 1).unwrap().same_select);
    }

    #[test]
    fn writes_a_pgbench_script_with_variables() {
        let script = pgbench_script();
        assert!(
            script.starts_with("BEGIN;\nselect set_config('app.practice_id', :practice, true)")
        );
        assert!(script.contains("where p.id = :patient and p.deleted_at is null;\nCOMMIT;\n"));
        assert!(!script.contains('$'), "{script}");
    }

    #[test]
    fn reads_pgbench_figures() {
        let out = "transaction type: tenant_get.sql\nnumber of transactions actually processed: 76420\n\
                   number of failed transactions: 0 (0.000%)\nlatency average = 2.6 ms\n\
                   tps = 3821.004215 (without initial connection time)\n";
        assert_eq!(parse_pgbench_output(out), Some((3821.004215, 76420, 0)));
        assert_eq!(parse_pgbench_output("nothing"), None);
        let log = "0 1 2566 0 1700000000 123456\n1 1 3001 0 1700000000 223456\n0 2 failed 0 1 2\n";
        assert_eq!(
            parse_pgbench_log(log),
            [Duration::from_micros(2566), Duration::from_micros(3001)]
        );
    }

    fn measurement(rate_ok: u64, tps: f64) -> Measurement {
        Measurement {
            subject: Subject {
                email: "vet@riverside.example".into(),
                user_id: "u".into(),
                practice_id: "p".into(),
                role: "Veterinarian".into(),
                patient_id: "0190-patient".into(),
            },
            idle_cpu: Some(0.6),
            http: LoadResult {
                ok: rate_ok,
                statuses: BTreeMap::from([(200, rate_ok), (500, 1)]),
                failures: 0,
                latencies: vec![Duration::from_millis(2); 10],
                elapsed: Duration::from_secs(10),
            },
            http_cpu: Some(0.97),
            statements: StatementCount {
                requests: 2,
                statements: 18,
                transactions: 4,
                sealer: 1,
                by_text: vec![("BEGIN".into(), 4)],
                requests_seen: 2,
                same_select: true,
            },
            pgbench: PgbenchResult {
                tps,
                transactions: 1000,
                failed: 0,
                latencies: vec![Duration::from_micros(500); 10],
                version: "pgbench (PostgreSQL) 15.20".into(),
            },
            pgbench_cpu: Some(0.9),
            http_split: CpuSplit {
                server: Some(400.0),
                database: Some(300.0),
                client: Some(100.0),
            },
            pgbench_split: CpuSplit {
                server: None,
                database: Some(200.0),
                client: Some(50.0),
            },
        }
    }

    fn context(label: &str, revision: &str) -> Context {
        Context {
            label: label.into(),
            machine: Machine {
                cores: 2,
                model: "Test CPU".into(),
                memory_mib: None,
            },
            revision: revision.into(),
            date: "2026-12-03 09:00 UTC".into(),
        }
    }

    #[test]
    fn renders_a_run_and_keeps_the_earlier_ones() {
        let before = render(
            &measurement(9150, 3800.0),
            &Options::default(),
            &context("before", "abc1234"),
            None,
        );
        assert!(
            before.starts_with("## Request path (issue 13)\n"),
            "{before}"
        );
        assert!(
            before.contains("| before | abc1234 | 2026-12-03 09:00 UTC | 10 | 915 | 2.00 / 2.00 / 2.00 | 3800 | 0.50 / 0.50 / 0.50 | 24% | 9.0 | 2.0 |"),
            "{before}"
        );
        assert!(
            before.contains("**915 req/s** (answers: 200 × 9150, 500 × 1; errors: 1)"),
            "{before}"
        );
        assert!(
            before.contains("| full-stack GET | 400 | 300 | 100 | 800 |"),
            "{before}"
        );
        assert!(
            before.contains("| pgbench transaction | – | 200 | 50 | 250 |"),
            "{before}"
        );
        assert!(before.contains("goal ≥ 50%: **FAIL**"), "{before}");
        assert!(
            before.contains("**9.0 statements in 2.0 transactions**"),
            "{before}"
        );
        assert!(before.contains("**9.0 round trips**"), "{before}");
        assert!(before.contains("| `BEGIN` | 2.00 |"), "{before}");
        assert!(
            before.contains("benchmark idle (other processes, the server's background work): 60% (other processes were running"),
            "{before}"
        );

        let after = render(
            &measurement(20000, 3800.0),
            &Options::default(),
            &context("after", "def5678"),
            report::section(&format!("# B\n\n{before}\n## Next\n"), HEADING).as_deref(),
        );
        let before_row = after
            .find("| before | abc1234 |")
            .expect("the earlier row is kept");
        let after_row = after
            .find("| after | def5678 |")
            .expect("the new row is added");
        assert!(before_row < after_row, "{after}");
        assert!(after.contains("### before\n"), "{after}");
        assert!(after.contains("### after\n"), "{after}");
        assert!(after.contains("goal ≥ 50%: **PASS**"), "{after}");

        // Running a label again replaces its row and its details.
        let again = render(
            &measurement(10000, 3800.0),
            &Options::default(),
            &context("before", "abc1234"),
            Some(after.as_str()),
        );
        assert_eq!(again.matches("| before | abc1234 |").count(), 1, "{again}");
        assert_eq!(again.matches("### before\n").count(), 1, "{again}");
        assert!(again.contains("| 1000 |"), "{again}");
        assert!(again.contains("| after | def5678 |"), "{again}");
    }
}
