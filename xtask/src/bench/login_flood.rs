//! `cargo xtask bench login-flood`: do other requests stay fast while logins flood in?
//!
//! Issue 5 promises that argon2id runs on a bounded blocking pool (a semaphore sized
//! to the cores), so a flood of logins cannot starve other requests. This measures
//! it against the release build of `paddock demo`: a probe sends `GET /healthz` and
//! `GET /api/v1/me` (session cookie) at a steady rate, first alone (baseline), then
//! while many connections post wrong passwords for distinct unknown emails (each one
//! a full argon2id verification of the dummy hash; distinct emails so the lockout
//! never answers early). Every loop is bounded by a deadline and a count.

use super::demo::Demo;
use super::http::{self, Connection};
use super::report::{self, CpuTimes, Machine, Row, Summary};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio::time::{MissedTickBehavior, timeout};

/// The BENCHMARKS.md section this benchmark owns.
const HEADING: &str = "## Login flood (issue 5)";
/// A probe request still unanswered after this counts as an error.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// A flood login still unanswered after this counts as an error (the server answers
/// 408 after 30 s itself).
const FLOOD_TIMEOUT: Duration = Duration::from_secs(35);
/// Probe requests outstanding at once per endpoint; a tick beyond that is an error.
const PROBE_MAX_IN_FLIGHT: usize = 64;
/// Upper bound on flood attempts per second of flood (far above what argon2 allows).
const FLOOD_MAX_ATTEMPTS_PER_SECOND: u64 = 10_000;
/// Requests per endpoint before the baseline, to warm connections and caches.
const WARM_UP_REQUESTS: usize = 10;
/// Whole-machine CPU busy share during the baseline above which other processes
/// were clearly running (the benchmark itself uses a few percent then).
const NOISY_BASELINE: f64 = 0.25;
/// The wrong password every flood attempt sends.
const FLOOD_PASSWORD: &str = "not the password, just a login flood";

/// Command-line options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Length of each phase (baseline, flood).
    pub seconds: u64,
    /// Concurrent flood connections.
    pub flood_concurrency: usize,
    /// Probe requests per second, per endpoint.
    pub probe_rate: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seconds: 20,
            flood_concurrency: 64,
            probe_rate: 20,
        }
    }
}

impl Options {
    /// Parses `--seconds N --flood-concurrency C --probe-rate R` (or `--name=value`).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match name {
                "--seconds" => options.seconds = number(name, &value()?, 1, 3600)?,
                "--flood-concurrency" => {
                    options.flood_concurrency = number(name, &value()?, 1, 1024)?;
                }
                "--probe-rate" => options.probe_rate = number(name, &value()?, 1, 1000)?,
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(options)
    }
}

fn number<T>(name: &str, raw: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    raw.parse::<T>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name} must be a whole number from {min} to {max}, not {raw:?}"))
}

/// Entry point: parse, measure, report.
pub fn main(args: &[String]) -> ExitCode {
    super::entry("login-flood", args, Options::parse, run)
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
    eprintln!(
        "xtask: starting {} demo --bind 127.0.0.1:0",
        binary.display()
    );
    let demo = Demo::start(&binary)?;
    eprintln!(
        "xtask: demo is listening on {}; signing in as {}",
        demo.addr, demo.email
    );
    let measured = runtime.block_on(async {
        tokio::select! {
            measured = measure(&demo, options) => measured,
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
    if measurement
        .baseline_cpu
        .is_some_and(|busy| busy > NOISY_BASELINE)
    {
        eprintln!(
            "xtask: warning: the machine was busy during the baseline (other processes); \
             the figures are noisy"
        );
    }
    let context = Context {
        machine,
        revision: report::git_revision(&root),
        date: started.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    report::record(&root, &render(&measurement, &options, &context))
}

/// A request the probe sends over and over.
#[derive(Debug, Clone)]
struct Probe {
    name: &'static str,
    request: Arc<Vec<u8>>,
}

/// What one probe endpoint saw in one phase.
#[derive(Debug, Clone)]
struct ProbeResult {
    name: &'static str,
    /// Ticks of the schedule.
    scheduled: u64,
    /// Latencies of requests that got an answer (any status) or timed out.
    latencies: Vec<Duration>,
    /// Answers other than 200, timeouts, I/O errors, and ticks skipped because too
    /// many requests were outstanding.
    errors: u64,
}

/// What the flood achieved.
#[derive(Debug, Clone, Default)]
struct FloodResult {
    /// Answers by status.
    statuses: BTreeMap<u16, u64>,
    /// Attempts without an answer (I/O error or timeout).
    errors: u64,
    /// Latencies of answered attempts.
    latencies: Vec<Duration>,
    /// From the first attempt to the last answer.
    elapsed: Duration,
}

impl FloodResult {
    fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn merge(&mut self, other: FloodResult) {
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.errors += other.errors;
        self.latencies.extend(other.latencies);
    }
}

/// Everything measured.
#[derive(Debug, Clone)]
struct Measurement {
    baseline: Vec<ProbeResult>,
    during_flood: Vec<ProbeResult>,
    flood: FloodResult,
    /// Whole-machine CPU busy share during each phase.
    baseline_cpu: Option<f64>,
    flood_cpu: Option<f64>,
    /// The server's resident memory (KiB).
    memory: Memory,
}

/// The server process's resident memory through the run, in KiB (`None`: unreadable).
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    /// After signing in and warming up, before the baseline.
    start: Option<u64>,
    /// Highest sample (every 200 ms) during the baseline, and during the flood.
    baseline_max: Option<u64>,
    flood_max: Option<u64>,
    /// Right after the flood.
    end: Option<u64>,
    /// The kernel's high-water mark for the process (VmHWM), at the end.
    peak: Option<u64>,
}

/// One field (`VmRSS`, `VmHWM`) of /proc/<pid>/status, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// The highest resident memory of `pid` sampled every 200 ms for `phase`.
async fn highest_rss(pid: Option<u32>, phase: Duration) -> Option<u64> {
    let pid = pid?;
    let end = tokio::time::Instant::now() + phase;
    let mut highest = None;
    while tokio::time::Instant::now() < end {
        highest = highest.max(proc_status_kib(pid, "VmRSS"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    highest.max(proc_status_kib(pid, "VmRSS"))
}

async fn measure(demo: &Demo, options: Options) -> Result<Measurement, String> {
    let addr = demo.addr;
    let host = addr.to_string();
    let cookie = sign_in(addr, &demo.email, &demo.password).await?;
    let cookie_header = [("Cookie", cookie.as_str())];
    let probes = [
        Probe {
            name: "GET /healthz",
            request: Arc::new(http::request("GET", &host, "/healthz", &[], None)),
        },
        Probe {
            name: "GET /api/v1/me",
            request: Arc::new(http::request(
                "GET",
                &host,
                "/api/v1/me",
                &cookie_header,
                None,
            )),
        },
    ];
    for probe in &probes {
        warm_up(addr, probe).await?;
    }
    let phase = Duration::from_secs(options.seconds);

    eprintln!(
        "xtask: baseline: {} requests/s per endpoint for {}s",
        options.probe_rate, options.seconds
    );
    let pid = demo.pid();
    let rss_start = pid.and_then(|pid| proc_status_kib(pid, "VmRSS"));
    let cpu_start = CpuTimes::now();
    let (baseline, baseline_max) = tokio::join!(
        probe_all(addr, &probes, options.probe_rate, phase),
        highest_rss(pid, phase)
    );
    let cpu_baseline = CpuTimes::now();

    eprintln!(
        "xtask: flood: {} connections posting wrong passwords, same probe, for {}s",
        options.flood_concurrency, options.seconds
    );
    let (flood, during_flood, flood_max) = tokio::join!(
        flood(addr, options.flood_concurrency, phase),
        probe_all(addr, &probes, options.probe_rate, phase),
        highest_rss(pid, phase)
    );
    let cpu_flood = CpuTimes::now();
    let memory = Memory {
        start: rss_start,
        baseline_max,
        flood_max,
        end: pid.and_then(|pid| proc_status_kib(pid, "VmRSS")),
        peak: pid.and_then(|pid| proc_status_kib(pid, "VmHWM")),
    };
    let share = |start: Option<CpuTimes>, end: Option<CpuTimes>| start?.busy_share(end?);
    Ok(Measurement {
        baseline,
        during_flood,
        flood,
        baseline_cpu: share(cpu_start, cpu_baseline),
        flood_cpu: share(cpu_baseline, cpu_flood),
        memory,
    })
}

/// Signs in and returns the `name=value` of the session cookie.
async fn sign_in(addr: SocketAddr, email: &str, password: &str) -> Result<String, String> {
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    let request = http::request(
        "POST",
        &addr.to_string(),
        "/api/v1/auth/login",
        &[],
        Some(&body),
    );
    let response = timeout(FLOOD_TIMEOUT, async {
        Connection::open(addr).await?.send(&request).await
    })
    .await
    .map_err(|_| "signing in timed out".to_owned())?
    .map_err(|e| format!("signing in: {e}"))?;
    if response.status != 200 {
        return Err(format!(
            "signing in as {email} answered {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        ));
    }
    response
        .header_values("set-cookie")
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("__Host-paddock_session="))
        .map(str::to_owned)
        .ok_or_else(|| "signing in set no __Host-paddock_session cookie".to_owned())
}

/// A few sequential requests on one connection; each must answer 200.
async fn warm_up(addr: SocketAddr, probe: &Probe) -> Result<(), String> {
    let mut connection = Connection::open(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    for _ in 0..WARM_UP_REQUESTS {
        let response = timeout(PROBE_TIMEOUT, connection.send(&probe.request))
            .await
            .map_err(|_| format!("{} timed out", probe.name))?
            .map_err(|e| format!("{}: {e}", probe.name))?;
        if response.status != 200 {
            return Err(format!(
                "{} answered {}: {}",
                probe.name,
                response.status,
                String::from_utf8_lossy(&response.body)
            ));
        }
    }
    Ok(())
}

/// Runs every probe at once for `phase`.
async fn probe_all(
    addr: SocketAddr,
    probes: &[Probe],
    rate: u32,
    phase: Duration,
) -> Vec<ProbeResult> {
    let mut tasks = JoinSet::new();
    for (index, probe) in probes.iter().enumerate() {
        let probe = probe.clone();
        tasks.spawn(async move { (index, run_probe(addr, probe, rate, phase).await) });
    }
    let mut results: Vec<Option<ProbeResult>> = vec![None; probes.len()];
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, result)) = joined
            && let Some(slot) = results.get_mut(index)
        {
            *slot = Some(result);
        }
    }
    results
        .into_iter()
        .zip(probes)
        .map(|(result, probe)| {
            // A probe task cannot panic short of a bug; report it as all errors.
            result.unwrap_or_else(|| ProbeResult {
                name: probe.name,
                scheduled: phase.as_secs() * u64::from(rate),
                latencies: Vec::new(),
                errors: phase.as_secs() * u64::from(rate),
            })
        })
        .collect()
}

/// One endpoint at a steady `rate` for `phase`: an open-loop schedule, each request
/// on an idle keep-alive connection of this probe's own (a new one if none is idle),
/// so a slow answer delays no later request.
async fn run_probe(addr: SocketAddr, probe: Probe, rate: u32, phase: Duration) -> ProbeResult {
    let ticks = phase.as_secs() * u64::from(rate);
    let idle: Arc<Mutex<Vec<Connection>>> = Arc::default();
    if let Ok(connection) = Connection::open(addr).await {
        lock(&idle).push(connection);
    }
    let mut result = ProbeResult {
        name: probe.name,
        scheduled: ticks,
        latencies: Vec::with_capacity(usize::try_from(ticks).unwrap_or(0)),
        errors: 0,
    };
    let mut record = |outcome: Result<ProbeOutcome, tokio::task::JoinError>| match outcome {
        Ok(outcome) => {
            if let Some(latency) = outcome.latency {
                result.latencies.push(latency);
            }
            if outcome.status != Some(200) {
                result.errors += 1;
            }
        }
        Err(_) => result.errors += 1,
    };
    let mut in_flight = JoinSet::new();
    let mut schedule = tokio::time::interval(Duration::from_secs(1) / rate);
    // After a stall of the probe itself, catch up: the schedule is what was promised.
    schedule.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut skipped = 0;
    for _ in 0..ticks {
        schedule.tick().await;
        while let Some(done) = in_flight.try_join_next() {
            record(done);
        }
        if in_flight.len() >= PROBE_MAX_IN_FLIGHT {
            skipped += 1;
            continue;
        }
        in_flight.spawn(probe_once(
            addr,
            Arc::clone(&idle),
            Arc::clone(&probe.request),
        ));
    }
    while let Some(done) = in_flight.join_next().await {
        record(done);
    }
    result.errors += skipped;
    result
}

#[derive(Debug)]
struct ProbeOutcome {
    /// `None` for an I/O error (no meaningful latency).
    latency: Option<Duration>,
    /// `None` without an answer.
    status: Option<u16>,
}

async fn probe_once(
    addr: SocketAddr,
    idle: Arc<Mutex<Vec<Connection>>>,
    request: Arc<Vec<u8>>,
) -> ProbeOutcome {
    let started = Instant::now();
    let reused = lock(&idle).pop();
    let exchange = async {
        let mut connection = match reused {
            Some(connection) => connection,
            None => Connection::open(addr).await?,
        };
        let response = connection.send(&request).await?;
        Ok::<_, io::Error>((connection, response))
    };
    match timeout(PROBE_TIMEOUT, exchange).await {
        Ok(Ok((connection, response))) => {
            let latency = started.elapsed();
            if connection.is_reusable() {
                lock(&idle).push(connection);
            }
            ProbeOutcome {
                latency: Some(latency),
                status: Some(response.status),
            }
        }
        Ok(Err(_)) => ProbeOutcome {
            latency: None,
            status: None,
        },
        Err(_) => ProbeOutcome {
            latency: Some(started.elapsed()),
            status: None,
        },
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `concurrency` connections posting wrong passwords for `phase`.
async fn flood(addr: SocketAddr, concurrency: usize, phase: Duration) -> FloodResult {
    let started = Instant::now();
    let deadline = started + phase;
    let next = Arc::new(AtomicU64::new(0));
    let max_attempts = phase.as_secs().max(1) * FLOOD_MAX_ATTEMPTS_PER_SECOND;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        workers.spawn(flood_worker(
            addr,
            deadline,
            Arc::clone(&next),
            max_attempts,
        ));
    }
    let mut total = FloodResult::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(result) => total.merge(result),
            Err(_) => total.errors += 1,
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// One flood connection: wrong password after wrong password, each for a new unknown
/// email, until the deadline (or the shared attempt cap).
async fn flood_worker(
    addr: SocketAddr,
    deadline: Instant,
    next: Arc<AtomicU64>,
    max_attempts: u64,
) -> FloodResult {
    let host = addr.to_string();
    let mut result = FloodResult::default();
    let mut connection: Option<Connection> = None;
    while Instant::now() < deadline {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= max_attempts {
            break;
        }
        let body = serde_json::json!({
            "email": format!("flood-{n}@example.invalid"),
            "password": FLOOD_PASSWORD,
        })
        .to_string();
        let request = http::request("POST", &host, "/api/v1/auth/login", &[], Some(&body));
        let reused = connection.take();
        let started = Instant::now();
        let exchange = async {
            let mut connection = match reused {
                Some(connection) => connection,
                None => Connection::open(addr).await?,
            };
            let response = connection.send(&request).await?;
            Ok::<_, io::Error>((connection, response))
        };
        match timeout(FLOOD_TIMEOUT, exchange).await {
            Ok(Ok((open, response))) => {
                result.latencies.push(started.elapsed());
                *result.statuses.entry(response.status).or_default() += 1;
                connection = Some(open).filter(Connection::is_reusable);
            }
            Ok(Err(_)) | Err(_) => {
                result.errors += 1;
                // Do not spin against a server that refuses connections.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    result
}

/// Where and when the measurement ran.
#[derive(Debug, Clone)]
struct Context {
    machine: Machine,
    /// The commit measured.
    revision: String,
    date: String,
}

/// The BENCHMARKS.md section.
fn render(measurement: &Measurement, options: &Options, context: &Context) -> String {
    let Context {
        machine,
        revision,
        date,
    } = context;
    let share = |busy: Option<f64>| {
        busy.map_or_else(|| "unknown".to_owned(), |b| format!("{:.0}%", b * 100.0))
    };
    let noisy = if measurement
        .baseline_cpu
        .is_some_and(|busy| busy > NOISY_BASELINE)
    {
        " (other processes were running: expect noise)"
    } else {
        ""
    };
    let flood = &measurement.flood;
    let answered = flood.answered();
    let rate = answered as f64 / flood.elapsed.as_secs_f64().max(f64::EPSILON);
    let statuses = if flood.statuses.is_empty() {
        "none".to_owned()
    } else {
        flood
            .statuses
            .iter()
            .map(|(status, count)| format!("{status} × {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rows = Vec::new();
    for (baseline, during) in measurement.baseline.iter().zip(&measurement.during_flood) {
        for (phase, result) in [("baseline", baseline), ("flood", during)] {
            rows.push(Row {
                endpoint: result.name.to_owned(),
                phase,
                requests: result.scheduled,
                errors: result.errors,
                summary: Summary::of(&result.latencies),
            });
        }
    }
    rows.push(Row {
        endpoint: "POST /api/v1/auth/login (the flood)".to_owned(),
        phase: "flood",
        requests: answered + flood.errors,
        errors: flood.errors + answered - flood.statuses.get(&401).copied().unwrap_or(0),
        summary: Summary::of(&flood.latencies),
    });
    let p99s = measurement
        .baseline
        .iter()
        .zip(&measurement.during_flood)
        .map(|(baseline, during)| {
            let p99 = |r: &ProbeResult| {
                Summary::of(&r.latencies).map_or_else(|| "-".to_owned(), |s| report::ms(s.p99))
            };
            format!(
                "{} {} ms (baseline {} ms)",
                during.name,
                p99(during),
                p99(baseline)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");

    format!(
        "{HEADING}

What it measures: whether other requests stay fast while logins flood in. Each login \
costs one argon2id verification (unknown emails verify against a dummy hash, so they \
cost the same), run on the blocking pool behind a semaphore sized to the cores. A \
probe sends `GET /healthz` (no database) and `GET /api/v1/me` (session cookie, \
database lookups) at a steady rate, each request on the probe's own keep-alive \
connections, first alone (baseline), then while concurrent connections post wrong \
passwords to `POST /api/v1/auth/login`, each for a new unknown email so that the \
lockout never answers early. Latency is measured by the client on a monotonic clock, \
from sending the request to reading the whole answer; percentiles are nearest-rank \
over all samples; errors are answers other than 200 (401 for the flood), timeouts \
and connection failures. The server is the release build of `paddock demo` (its own \
PostgreSQL, 10 database connections), on the same machine as the load generator, so \
they share the CPU.

Reproduce with `cargo xtask bench login-flood [--seconds N] [--flood-concurrency C] \
[--probe-rate R]`, which rewrites this section.

- Date: {date}
- Machine: {machine}
- Whole-machine CPU busy (all processes, /proc/stat): {baseline_cpu} during the \
baseline{noisy}, {flood_cpu} during the flood
- Code: {revision}
- Password hashing: argon2id m=19456 KiB, t=2, p=1; verification permits = cores = {cores}
- Run: {seconds} s baseline, then {seconds} s flood with {concurrency} concurrent login \
connections; probe {probe_rate} requests/s per endpoint
- Flood achieved: {answered} logins answered in {elapsed:.1} s = **{rate:.1} logins/s** \
(answers: {statuses}; no answer: {errors})
- p99 during the flood: {p99s}
- Server memory (resident, /proc/<pid>/status): {memory}

{table}",
        cores = machine.cores,
        seconds = options.seconds,
        concurrency = options.flood_concurrency,
        probe_rate = options.probe_rate,
        elapsed = flood.elapsed.as_secs_f64(),
        errors = flood.errors,
        table = report::table(&rows),
        baseline_cpu = share(measurement.baseline_cpu),
        flood_cpu = share(measurement.flood_cpu),
        memory = memory_line(&measurement.memory),
    )
}

/// The memory figures in MB (10^6 bytes), with the 150 MB target.
fn memory_line(memory: &Memory) -> String {
    let mb = |kib: Option<u64>| {
        kib.map_or_else(
            || "unknown".to_owned(),
            |kib| format!("{:.0} MB", kib as f64 * 1024.0 / 1e6),
        )
    };
    let verdict = match memory.peak {
        Some(peak) if peak as f64 * 1024.0 / 1e6 < MEMORY_TARGET_MB => "**PASS**",
        Some(_) => "**FAIL**",
        None => "unknown",
    };
    format!(
        "{} before the baseline, at most {} during it, at most {} during the flood, {} \
         after it; peak (VmHWM) {}. Target: peak under {MEMORY_TARGET_MB:.0} MB: {verdict}",
        mb(memory.start),
        mb(memory.baseline_max),
        mb(memory.flood_max),
        mb(memory.end),
        mb(memory.peak),
    )
}

/// The resident memory the server may reach under the flood.
const MEMORY_TARGET_MB: f64 = 150.0;

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
                "--flood-concurrency=8",
                "--probe-rate",
                "50"
            ]))
            .unwrap(),
            Options {
                seconds: 5,
                flood_concurrency: 8,
                probe_rate: 50
            }
        );
        for bad in [
            &["--seconds"][..],
            &["--seconds", "0"],
            &["--seconds", "x"],
            &["--probe-rate=100000"],
            &["--flood-concurrency", "-1"],
            &["--verbose"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn renders_the_section() {
        let probe = |name, ms: &[u64]| ProbeResult {
            name,
            scheduled: ms.len() as u64,
            latencies: ms.iter().copied().map(Duration::from_millis).collect(),
            errors: 0,
        };
        let measurement = Measurement {
            baseline: vec![
                probe("GET /healthz", &[1, 2]),
                probe("GET /api/v1/me", &[3]),
            ],
            during_flood: vec![
                probe("GET /healthz", &[5, 50]),
                probe("GET /api/v1/me", &[7]),
            ],
            flood: FloodResult {
                statuses: BTreeMap::from([(401, 100), (500, 2)]),
                errors: 1,
                latencies: vec![Duration::from_millis(900); 102],
                elapsed: Duration::from_secs(2),
            },
            baseline_cpu: Some(0.05),
            flood_cpu: Some(1.0),
            memory: Memory {
                start: Some(40_000),
                baseline_max: Some(41_000),
                flood_max: Some(90_000),
                end: Some(88_000),
                peak: Some(92_000),
            },
        };
        let context = Context {
            machine: Machine {
                cores: 2,
                model: "Test CPU".into(),
                memory_mib: None,
            },
            revision: "abc1234".into(),
            date: "2025-01-01 00:00 UTC".into(),
        };
        let text = render(&measurement, &Options::default(), &context);
        assert!(text.starts_with("## Login flood (issue 5)\n"), "{text}");
        assert!(text.contains("**51.0 logins/s**"), "{text}");
        assert!(
            text.contains("answers: 401 × 100, 500 × 2; no answer: 1"),
            "{text}"
        );
        assert!(text.contains("permits = cores = 2"), "{text}");
        assert!(
            text.contains("at most 92 MB during the flood, 90 MB after it; peak (VmHWM) 94 MB"),
            "{text}"
        );
        assert!(text.contains("peak under 150 MB: **PASS**"), "{text}");
        assert!(
            text.contains(
                "(all processes, /proc/stat): 5% during the baseline, 100% during the flood"
            ),
            "{text}"
        );
        assert!(
            text.contains("GET /healthz 50.0 ms (baseline 2.00 ms)"),
            "{text}"
        );
        assert!(
            text.contains("| GET /api/v1/me | flood | 1 | 0 | 7.00 | 7.00 | 7.00 | 7.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| POST /api/v1/auth/login (the flood) | flood | 103 | 3 |"),
            "{text}"
        );
    }
}
