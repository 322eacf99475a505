//! `cargo xtask bench audit-write`: what the audit trail costs a typical write.
//!
//! Every row change of a tenant table is recorded by an AFTER ROW trigger in the
//! changing transaction, and a sealer chains the committed events shortly after
//! (DESIGN.md, "Audit"). This measures the write throughput of a realistic
//! single-row tenant update (a practice admin changing a practice setting) through
//! the store's own [`TenantTx`](paddock_store::TenantTx), opened by
//! [`Db::begin`](paddock_store::Db::begin) for a resolved principal on an app-role
//! pool exactly as a request handler does: `BEGIN`, the `set_config` of the practice,
//! actor, role, request id, IP and user agent, the `UPDATE`, `COMMIT`. Each
//! connection works in a practice of its own, so the connections never wait for each
//! other's row locks and the figure is the cost of the work itself.
//!
//! Three variants, in the same run, on the same database: the table's audit trigger
//! disabled (`alter table ... disable trigger`, as the admin, between rounds), enabled,
//! and enabled with the sealer running every half second as the server runs it.
//! Rounds of the variants are interleaved in mirrored order (U A S, S A U, ...), so
//! drift over the run (caches, table growth, other load) falls on all of them alike.
//! Between rounds, untimed, what is still unsealed is sealed, so every round starts
//! from the same state.

use super::options;
use super::process;
use super::report::{self, CpuTimes, Machine, Summary};
use super::scratch::{ScratchDb, ServerInfo, measure_in_scratch};
use paddock_domain::{DisplayName, Email, PracticeName};
use paddock_passwords::{HashParams, PasswordHasher, check_new_password};
use paddock_store::audit::chain::run_sealer;
use paddock_store::staff::practices::{self, NewPractice};
use paddock_store::{AdminDb, Db, Principal, RequestMeta, identity::principal};
use sqlx::PgConnection;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How long the machine's background load is sampled before the timed part.
const OTHERS_SAMPLE: Duration = Duration::from_secs(3);
/// The BENCHMARKS.md section this benchmark owns.
const HEADING: &str = "## Audit write overhead";
/// Audited throughput should be at least this share of unaudited throughput.
const TARGET_RATIO: f64 = 0.70;
/// Upper bound on transactions per connection and second (far above what is possible).
const MAX_TRANSACTIONS_PER_SECOND: u64 = 100_000;
/// Length of the untimed warm-up round of each variant.
const WARM_UP: Duration = Duration::from_secs(2);
/// The audited table, its trigger and the statement.
const TABLE: &str = "practice_settings";
const TRIGGER: &str = "practice_settings_audit";
/// Toggles a setting, so that every update changes the row (an update that changes
/// nothing recorded writes no audit event). Row-level security confines it to the
/// transaction's practice too; the `where` is what the application would write.
const UPDATE: &str = "update practice_settings
                         set lockout_threshold = case lockout_threshold when 10 then 11 else 10 end
                       where practice_id = $1";
/// A browser's user agent, so that audit rows have the size of real ones.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// The password of the benchmark practices' admins (never used to sign in).
const PASSWORD: &str = "harrier-42-sweeps-the-long-paddock";

/// Command-line options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Length of each round.
    pub seconds: u64,
    /// Rounds of each variant.
    pub rounds: u32,
    /// Concurrent app-role connections, each in a practice of its own.
    pub connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            seconds: 10,
            rounds: 3,
            connections: 4,
        }
    }
}

impl Options {
    /// Parses `--seconds N --rounds R --connections C` (or `--name=value`).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = Self::default();
        for (name, value) in options::pairs(args)? {
            match name.as_str() {
                "--seconds" => parsed.seconds = options::number(&name, &value, 1, 600)?,
                "--rounds" => parsed.rounds = options::number(&name, &value, 1, 50)?,
                "--connections" => parsed.connections = options::number(&name, &value, 1, 64)?,
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(parsed)
    }
}

/// What a round runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The audit trigger disabled.
    Unaudited,
    /// The audit trigger enabled; sealing only between rounds.
    Audited,
    /// The audit trigger enabled and the sealer running, as in the server.
    AuditedSealing,
}

impl Variant {
    const ALL: [Variant; 3] = [Self::Unaudited, Self::Audited, Self::AuditedSealing];

    fn label(self) -> &'static str {
        match self {
            Self::Unaudited => "unaudited (trigger disabled)",
            Self::Audited => "audited (trigger only)",
            Self::AuditedSealing => "audited + the server's sealer",
        }
    }

    fn trigger_enabled(self) -> bool {
        self != Self::Unaudited
    }
}

/// The order of the rounds: every variant once per round, in mirrored order every
/// other round (U A S, S A U, U A S, ...), so a linear drift cancels out.
pub fn schedule(rounds: u32) -> Vec<Variant> {
    (0..rounds)
        .flat_map(|round| {
            let mut order = Variant::ALL;
            if round % 2 == 1 {
                order.reverse();
            }
            order
        })
        .collect()
}

/// One round's figures.
#[derive(Debug, Clone)]
struct Round {
    variant: Variant,
    /// Transactions committed.
    transactions: u64,
    /// From the start until the last connection finished its last transaction.
    elapsed: Duration,
    /// Each committed transaction's latency, begin to commit.
    latencies: Vec<Duration>,
    /// Audit events the round wrote (counted after sealing).
    events: u64,
    /// Events the server's sealer sealed during the round.
    sealed: u64,
    /// Whole-machine CPU busy share.
    cpu: Option<f64>,
    /// WAL the server wrote during the round (sealer included, settling excluded).
    wal_bytes: u64,
}

impl Round {
    fn rate(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Everything measured.
#[derive(Debug, Clone)]
struct Measurement {
    rounds: Vec<Round>,
    server: ServerInfo,
    /// Our own process's CPU over the timed rounds, and their total length.
    client_cpu: Option<Duration>,
    timed: Duration,
    /// Whole-machine CPU busy share just before the rounds, with this benchmark idle.
    others_busy: Option<f64>,
}

/// A variant's rounds taken together.
#[derive(Debug, Clone)]
struct Totals {
    rounds: usize,
    transactions: u64,
    elapsed: Duration,
    events: u64,
    sealed: u64,
    wal_bytes: u64,
    rates: Vec<f64>,
    latencies: Vec<Duration>,
}

impl Totals {
    fn of(rounds: &[Round], variant: Variant) -> Self {
        let mine: Vec<&Round> = rounds.iter().filter(|r| r.variant == variant).collect();
        Self {
            rounds: mine.len(),
            transactions: mine.iter().map(|r| r.transactions).sum(),
            elapsed: mine.iter().map(|r| r.elapsed).sum(),
            events: mine.iter().map(|r| r.events).sum(),
            sealed: mine.iter().map(|r| r.sealed).sum(),
            wal_bytes: mine.iter().map(|r| r.wal_bytes).sum(),
            rates: mine.iter().map(|r| r.rate()).collect(),
            latencies: mine
                .iter()
                .flat_map(|r| r.latencies.iter().copied())
                .collect(),
        }
    }

    /// Transactions per second over all of the variant's rounds.
    fn rate(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn wal_per_transaction(&self) -> f64 {
        self.wal_bytes as f64 / (self.transactions as f64).max(1.0)
    }

    fn events_per_transaction(&self) -> f64 {
        self.events as f64 / (self.transactions as f64).max(1.0)
    }
}

/// Entry point: parse, measure, report.
pub fn main(args: &[String]) -> ExitCode {
    super::entry("audit-write", args, Options::parse, run)
}

fn run(options: Options) -> Result<(), String> {
    let root = super::workspace_root();
    let started = chrono::Utc::now();
    let machine = Machine::detect();
    let measurement = measure_in_scratch(async |scratch| measure(scratch, options).await)?;
    let context = Context {
        machine,
        revision: report::git_revision(&root),
        date: started.format("%Y-%m-%d %H:%M UTC").to_string(),
    };
    report::record(&root, &render(&measurement, &options, &context))
}

/// A practice of the benchmark, with its admin acting.
struct Actor {
    principal: Principal,
    index: usize,
}

async fn measure(scratch: &ScratchDb, options: Options) -> Result<Measurement, String> {
    let server = scratch.server_info().await?;
    let admin = scratch.admin().await?;
    let connections = u32::try_from(options.connections).unwrap_or(u32::MAX);
    let db = Db::connect_with(scratch.app_options(), connections)
        .await
        .map_err(|e| format!("connecting as the application role: {e}"))?;
    eprintln!(
        "xtask: creating {} practices, one per connection",
        options.connections
    );
    let actors = create_practices(&admin, &db, options.connections).await?;
    let mut admin_conn = scratch.admin_conn().await?;
    // The server's sealer has the server's pool; here it gets one connection of its own.
    let sealer_db = Db::connect_with(scratch.app_options(), 1)
        .await
        .map_err(|e| format!("connecting the sealer as the application role: {e}"))?;

    eprintln!("xtask: warming up ({}s per variant)", WARM_UP.as_secs());
    for variant in Variant::ALL {
        run_round(
            &admin,
            &mut admin_conn,
            &sealer_db,
            &db,
            &actors,
            variant,
            WARM_UP,
        )
        .await?;
    }

    let others_busy = process::others_busy(OTHERS_SAMPLE).await;
    let plan = schedule(options.rounds);
    let mut rounds = Vec::with_capacity(plan.len());
    let phase = Duration::from_secs(options.seconds);
    let client_start = process::own_cpu_time();
    for (n, variant) in plan.iter().enumerate() {
        let round = run_round(
            &admin,
            &mut admin_conn,
            &sealer_db,
            &db,
            &actors,
            *variant,
            phase,
        )
        .await?;
        eprintln!(
            "xtask: round {}/{}: {}: {} transactions in {:.1}s = {:.0}/s, {} audit events",
            n + 1,
            plan.len(),
            variant.label(),
            round.transactions,
            round.elapsed.as_secs_f64(),
            round.rate(),
            round.events
        );
        rounds.push(round);
    }
    let client_cpu = process::used(client_start, process::own_cpu_time());
    // Leave the database as migrated (it is dropped anyway, but say what we mean).
    set_trigger(&mut admin_conn, true).await?;
    db.close().await;
    sealer_db.close().await;
    admin.close().await;
    let timed = rounds.iter().map(|r| r.elapsed).sum();
    Ok(Measurement {
        rounds,
        server,
        client_cpu,
        timed,
        others_busy,
    })
}

/// Creates `count` practices through the store's public functions and resolves each
/// one's admin as a principal on the app-role pool.
async fn create_practices(admin: &AdminDb, db: &Db, count: usize) -> Result<Vec<Actor>, String> {
    // Cheap hashing: the benchmark never signs in.
    let hasher = PasswordHasher::new(
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        1,
    )
    .map_err(|e| format!("password hasher: {e}"))?;
    let mut actors = Vec::with_capacity(count);
    for index in 0..count {
        let field = |e: paddock_domain::FieldError| format!("benchmark practice {index}: {e}");
        let created = practices::create(
            admin,
            &hasher,
            NewPractice {
                name: PracticeName::parse("name", &format!("Bench Practice {index}"))
                    .map_err(field)?,
                admin_email: Email::parse("email", &format!("admin{index}@bench.example"))
                    .map_err(field)?,
                admin_name: DisplayName::parse("name", "Bench Admin").map_err(field)?,
                admin_password: check_new_password("password", PASSWORD, &[])
                    .map_err(|e| format!("benchmark password: {e}"))?,
                link_existing_user: false,
            },
        )
        .await
        .map_err(|e| format!("creating benchmark practice {index}: {e}"))?;
        let principal = principal::resolve(
            db,
            created.user_id,
            created.practice_id,
            &RequestMeta::system("bench"),
        )
        .await
        .map_err(|e| format!("resolving the admin of practice {index}: {e}"))?
        .ok_or_else(|| format!("the admin of practice {index} has no active membership"))?;
        actors.push(Actor { principal, index });
    }
    Ok(actors)
}

async fn set_trigger(admin_conn: &mut PgConnection, enabled: bool) -> Result<(), String> {
    let verb = if enabled { "enable" } else { "disable" };
    sqlx::raw_sql(&format!("alter table {TABLE} {verb} trigger {TRIGGER}"))
        .execute(admin_conn)
        .await
        .map_err(|e| format!("{verb} trigger {TRIGGER}: {e}"))?;
    Ok(())
}

/// Seals everything pending and returns how many events all practices have.
async fn settle(admin: &AdminDb) -> Result<u64, String> {
    admin
        .seal_audit()
        .await
        .map_err(|e| format!("sealing between rounds: {e}"))?;
    let heads = admin
        .audit_heads()
        .await
        .map_err(|e| format!("reading the chain heads: {e}"))?;
    Ok(heads
        .iter()
        .map(|h| u64::try_from(h.seq.unwrap_or(0) + h.pending).unwrap_or(0))
        .sum())
}

async fn run_round(
    admin: &AdminDb,
    admin_conn: &mut PgConnection,
    sealer_db: &Db,
    db: &Db,
    actors: &[Actor],
    variant: Variant,
    phase: Duration,
) -> Result<Round, String> {
    set_trigger(admin_conn, variant.trigger_enabled()).await?;
    let events_before = settle(admin).await?;
    let wal_start = wal_position(admin_conn).await?;
    let cpu_start = CpuTimes::now();
    let started = Instant::now();
    let deadline = started + phase;
    let max_transactions = phase.as_secs().max(1) * MAX_TRANSACTIONS_PER_SECOND;
    let mut workers = JoinSet::new();
    for actor in actors {
        let db = db.clone();
        let principal = actor.principal.clone();
        let index = actor.index;
        workers.spawn(async move { write(db, principal, index, deadline, max_transactions).await });
    }
    // The server's own sealer task, spawned as `paddock serve` spawns it.
    let sealer =
        (variant == Variant::AuditedSealing).then(|| tokio::spawn(run_sealer(sealer_db.clone())));
    let collect = async {
        let mut transactions = 0;
        let mut latencies = Vec::new();
        while let Some(joined) = workers.join_next().await {
            let written = joined.map_err(|e| format!("a writer failed: {e}"))??;
            transactions += written.len() as u64;
            latencies.extend(written);
        }
        Ok::<_, String>((transactions, latencies, started.elapsed()))
    };
    let collected = collect.await;
    if let Some(sealer) = sealer {
        sealer.abort();
        // Aborted is the only way it ends; the outcome says nothing more.
        let _ = sealer.await;
    }
    let (transactions, latencies, elapsed) = collected?;
    let sealed = chain_length(admin).await?.saturating_sub(events_before);
    let cpu = CpuTimes::now()
        .zip(cpu_start)
        .and_then(|(end, start)| start.busy_share(end));
    let wal_bytes = wal_position(admin_conn).await?.saturating_sub(wal_start);
    let events_after = settle(admin).await?;
    Ok(Round {
        variant,
        transactions,
        elapsed,
        latencies,
        events: events_after.saturating_sub(events_before),
        sealed,
        cpu,
        wal_bytes,
    })
}

/// How many events all practices' chains hold (sealed events only).
async fn chain_length(admin: &AdminDb) -> Result<u64, String> {
    let heads = admin
        .audit_heads()
        .await
        .map_err(|e| format!("reading the chain heads: {e}"))?;
    Ok(heads
        .iter()
        .map(|h| u64::try_from(h.seq.unwrap_or(0)).unwrap_or(0))
        .sum())
}

/// The server's current WAL insert position, in bytes.
async fn wal_position(admin_conn: &mut PgConnection) -> Result<u64, String> {
    let position: i64 =
        sqlx::query_scalar("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
            .fetch_one(admin_conn)
            .await
            .map_err(|e| format!("reading the WAL position: {e}"))?;
    Ok(u64::try_from(position).unwrap_or(0))
}

/// One connection's loop until `deadline`: a tenant transaction per setting change.
/// Returns each committed transaction's latency.
async fn write(
    db: Db,
    principal: Principal,
    index: usize,
    deadline: Instant,
    max_transactions: u64,
) -> Result<Vec<Duration>, String> {
    let ip = IpAddr::from([203, 0, 113, u8::try_from(index % 250 + 1).unwrap_or(1)]);
    let practice = principal.practice_id().as_uuid();
    let mut latencies = Vec::new();
    let mut n = 0u64;
    while n < max_transactions && Instant::now() < deadline {
        // What the web layer builds for each request.
        let meta = RequestMeta::http(format!("bench-{index}-{n}"), Some(ip), Some(USER_AGENT));
        let started = Instant::now();
        let mut tx = db
            .begin(&principal, &meta)
            .await
            .map_err(|e| format!("beginning a tenant transaction: {e}"))?;
        let updated = sqlx::query(UPDATE)
            .bind(practice)
            .execute(tx.conn())
            .await
            .map_err(|e| format!("updating {TABLE}: {e}"))?
            .rows_affected();
        if updated != 1 {
            return Err(format!("the update changed {updated} rows, not 1"));
        }
        tx.commit().await.map_err(|e| format!("committing: {e}"))?;
        latencies.push(started.elapsed());
        n += 1;
    }
    Ok(latencies)
}

/// Where and when the benchmark ran.
#[derive(Debug, Clone)]
struct Context {
    machine: Machine,
    revision: String,
    date: String,
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn verdict(ratio: f64) -> &'static str {
    if ratio >= TARGET_RATIO {
        "PASS"
    } else {
        "FAIL"
    }
}

fn render(measurement: &Measurement, options: &Options, context: &Context) -> String {
    let Context {
        machine,
        revision,
        date,
    } = context;
    let [unaudited, audited, sealing] =
        Variant::ALL.map(|variant| Totals::of(&measurement.rounds, variant));
    let base = unaudited.rate().max(f64::EPSILON);
    let ratio_sealing = sealing.rate() / base;
    let ratio_audited = audited.rate() / base;
    let cpu: Vec<f64> = measurement.rounds.iter().filter_map(|r| r.cpu).collect();
    let cpu = if cpu.is_empty() {
        "unknown".to_owned()
    } else {
        let mean = cpu.iter().sum::<f64>() / cpu.len() as f64;
        let max = cpu.iter().copied().fold(0.0, f64::max);
        format!(
            "{} on average, {} in the busiest round",
            percent(mean),
            percent(max)
        )
    };
    let client_cpu = measurement.client_cpu.map_or_else(
        || "unknown".to_owned(),
        |used| {
            format!(
                "{:.1} s in {:.0} s of rounds ({} of one core)",
                used.as_secs_f64(),
                measurement.timed.as_secs_f64(),
                percent(used.as_secs_f64() / measurement.timed.as_secs_f64().max(f64::EPSILON))
            )
        },
    );

    let mut table = String::from(
        "| Variant | Rounds | Transactions | Transactions/s | Each round (tx/s) | Audit events per tx | WAL bytes per tx | p50 ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for (variant, totals) in Variant::ALL.iter().zip([&unaudited, &audited, &sealing]) {
        let summary = Summary::of(&totals.latencies);
        let cell = |pick: fn(&Summary) -> Duration| {
            summary
                .as_ref()
                .map_or_else(|| "-".to_owned(), |s| report::ms(pick(s)))
        };
        table.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} | {:.2} | {:.0} | {} | {} | {} |\n",
            variant.label(),
            totals.rounds,
            totals.transactions,
            totals.rate(),
            totals
                .rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            totals.events_per_transaction(),
            totals.wal_per_transaction(),
            cell(|s| s.p50),
            cell(|s| s.p99),
            cell(|s| s.max),
        ));
    }

    format!(
        "{HEADING}

What it measures: the write throughput of a typical audited tenant update against the \
same update unaudited, in one run. {connections} concurrent connections as the \
application role each run, in a loop, one tenant transaction per change, through the \
store's real `TenantTx` (`Db::begin` for a principal resolved from the practice \
admin's membership, with a request id, IP and browser user agent, as a request \
handler opens it): `BEGIN`, one `set_config` statement for the practice, actor, \
role and request, `update practice_settings set lockout_threshold = ...` (one row, \
toggled so every update changes it and writes one audit event), `COMMIT`. Each \
connection changes the settings of a practice of its own, so no connection waits \
for another's row lock. Variants: the table's audit trigger disabled by the admin \
(`alter table practice_settings disable trigger practice_settings_audit`); enabled; \
and enabled with the server's sealer running (`paddock_store::audit::chain::run_sealer`, \
spawned as `paddock serve` spawns it, on an app-role connection of its own: every \
0.5 s, one pass over the practices with pending events, each practice's committed \
events chained in a transaction of its own with a SHA-256 per event and every event \
row written once more). Rounds of {seconds} s, \
{rounds} per variant, interleaved in mirrored order (U A S, S A U, ...) after a \
{warm_up} s warm-up round of each; between rounds, untimed, whatever is unsealed is \
sealed so every round starts alike. Throughput is committed transactions over the \
rounds' total time; latency is per transaction, `BEGIN` to `COMMIT` answered, \
measured by the client; audit events per transaction are counted in the chain after \
each round; WAL bytes per transaction are the server's WAL position moved during the \
round (the sealer's writes included) over the transactions. Client (this benchmark, release build) and server share the machine.

Reproduce with `cargo xtask bench audit-write [--seconds N] [--rounds R] \
[--connections C]` (it builds and runs xtask in release mode; with `DATABASE_URL` \
set to an admin URL it uses a scratch database on that server, else a private \
cluster), which rewrites this section.

- Date: {date}
- Machine: {machine}
- Database: {server}
- Code: {revision}
- Whole-machine CPU busy during the rounds (all processes, /proc/stat): {cpu}; \
just before them, with this benchmark idle (other processes, the server's background \
work): {others}
- This benchmark's own CPU (client side): {client_cpu}
- Unaudited: **{rate_u:.0} transactions/s**
- Audited, trigger only: **{rate_a:.0} transactions/s** = {pct_a} of unaudited
- Audited with the sealer running: **{rate_s:.0} transactions/s** = {pct_s} of \
unaudited; the sealer sealed {sealed} of the {events} events during the rounds (the \
rest right after them)
- Target: audited ≥ {target} of unaudited. With the sealer (what the server runs): \
**{verdict_s}** ({pct_s}); trigger only: **{verdict_a}** ({pct_a})

{table}",
        connections = options.connections,
        seconds = options.seconds,
        rounds = options.rounds,
        warm_up = WARM_UP.as_secs(),
        server = measurement.server,
        others = measurement
            .others_busy
            .map_or_else(|| "unknown".to_owned(), percent),
        rate_u = unaudited.rate(),
        rate_a = audited.rate(),
        rate_s = sealing.rate(),
        pct_a = percent(ratio_audited),
        pct_s = percent(ratio_sealing),
        sealed = sealing.sealed,
        events = sealing.events,
        target = percent(TARGET_RATIO),
        verdict_s = verdict(ratio_sealing),
        verdict_a = verdict(ratio_audited),
    )
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
                "--rounds=2",
                "--connections",
                "8"
            ]))
            .unwrap(),
            Options {
                seconds: 5,
                rounds: 2,
                connections: 8
            }
        );
        for bad in [
            &["--seconds"][..],
            &["--seconds", "0"],
            &["--rounds", "x"],
            &["--connections=0"],
            &["--connections=65"],
            &["--events", "5"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mirrors_every_other_round() {
        use Variant::*;
        assert_eq!(
            schedule(3),
            vec![
                Unaudited,
                Audited,
                AuditedSealing,
                AuditedSealing,
                Audited,
                Unaudited,
                Unaudited,
                Audited,
                AuditedSealing
            ]
        );
        assert!(schedule(0).is_empty());
    }

    fn round(variant: Variant, transactions: u64, events: u64) -> Round {
        Round {
            variant,
            transactions,
            elapsed: Duration::from_secs(10),
            latencies: vec![Duration::from_millis(2); 4],
            events,
            sealed: if variant == Variant::AuditedSealing {
                events
            } else {
                0
            },
            cpu: Some(0.9),
            wal_bytes: transactions * 500,
        }
    }

    #[test]
    fn renders_the_section() {
        let measurement = Measurement {
            rounds: vec![
                round(Variant::Unaudited, 10_000, 0),
                round(Variant::Audited, 8_000, 8_000),
                round(Variant::AuditedSealing, 6_000, 6_000),
                round(Variant::AuditedSealing, 7_000, 7_000),
                round(Variant::Audited, 9_000, 9_000),
                round(Variant::Unaudited, 12_000, 0),
            ],
            server: ServerInfo {
                kind: "a private cluster started for the run",
                version: "PostgreSQL 15.20".into(),
                settings: "fsync=on".into(),
            },
            client_cpu: Some(Duration::from_secs(30)),
            timed: Duration::from_secs(60),
            others_busy: Some(0.04),
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
        assert!(text.starts_with("## Audit write overhead\n"), "{text}");
        assert!(
            text.contains("Unaudited: **1100 transactions/s**"),
            "{text}"
        );
        assert!(
            text.contains("trigger only: **850 transactions/s** = 77% of unaudited"),
            "{text}"
        );
        assert!(
            text.contains("sealer running: **650 transactions/s** = 59% of unaudited"),
            "{text}"
        );
        assert!(
            text.contains("(what the server runs): **FAIL** (59%); trigger only: **PASS** (77%)"),
            "{text}"
        );
        assert!(
            text.contains("the sealer sealed 13000 of the 13000 events during the rounds"),
            "{text}"
        );
        assert!(
            text.contains("30.0 s in 60 s of rounds (50% of one core)"),
            "{text}"
        );
        assert!(
            text.contains(
                "| unaudited (trigger disabled) | 2 | 22000 | 1100 | 1000, 1200 | 0.00 | 500 | 2.00 | 2.00 | 2.00 |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| audited + the server's sealer | 2 | 13000 | 650 | 600, 700 | 1.00 | 500 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("Database: PostgreSQL 15.20 (a private"),
            "{text}"
        );
    }
}
