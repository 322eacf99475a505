//! `cargo xtask bench audit-verify`: how fast `paddock audit verify` walks a chain.
//!
//! Verification recomputes every hash of a practice's chain in Rust from the stored
//! columns (`paddock_store::audit::chain`). This builds a chain of realistic events
//! for one practice in a scratch database (a practice created through the store,
//! then events bulk-inserted by the admin with `generate_series`, with the columns a
//! trigger would have filled and changes of a realistic size), seals them in batches
//! of 10,000 exactly as the server's sealer does, and times
//! [`AdminDb::verify_audit`] over the whole chain.
//!
//! Then it takes the verifier apart, to say where the time goes: the server executing
//! the verifier's query (`EXPLAIN ANALYZE`, which evaluates every column but sends
//! nothing; as planned, with parallel query off, and without the text conversions),
//! the rows streamed to the client without decoding them, the rows decoded into
//! [`SealedEvent`]s, the verifier's loop with and without parallel query, a prototype
//! that hashes from borrowed row data, and the hashing alone over events already in
//! memory; with the CPU time of the server backend and of this process for each.

use super::options;
use super::process;
use super::report::{self, CpuTimes, Machine};
use super::scratch::{ScratchDb, ServerInfo, measure_in_scratch};
use futures_util::TryStreamExt;
use paddock_domain::{DisplayName, Email, PracticeId, PracticeName};
use paddock_passwords::{HashParams, PasswordHasher, check_new_password};
use paddock_store::AdminDb;
use paddock_store::audit::chain::{ChainWalk, GENESIS, SealedEvent};
use paddock_store::staff::practices::{self, NewPractice};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::types::Uuid;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long the machine's background load is sampled before the timed part.
const OTHERS_SAMPLE: Duration = Duration::from_secs(3);
/// The BENCHMARKS.md section this benchmark owns.
const HEADING: &str = "## Audit verify throughput";
/// Verification should walk at least this many events per second.
const TARGET_EVENTS_PER_SECOND: f64 = 300_000.0;
/// Events inserted per statement.
const INSERT_BATCH: u64 = 100_000;
/// Events sealed per call: what the server's sealer asks for.
const SEAL_BATCH: i32 = 10_000;
/// Times each client-side step of the breakdown is repeated.
const WALK_REPEATS: usize = 3;
/// Events held in memory to time the hashing alone.
const HASH_SAMPLE: i64 = 200_000;
/// The verifier's query, as `paddock_store::audit::chain` writes it (`SEALED_COLUMNS`
/// is private there; keep the two equal).
const VERIFY_QUERY: &str =
    "select seq, practice_id, id, occurred_at, actor_kind, actor_user_id, actor_role, action,
       entity_type, entity_id, changes::text as changes, text(ip) as ip, user_agent, request_id,
       prev_hash, hash from audit_events
          where practice_id = $1 and seq is not null order by seq";
/// The password of the benchmark practice's admin (never used to sign in).
const PASSWORD: &str = "harrier-42-sweeps-the-long-paddock";

/// Half the events: a practice admin changes a member's role and deactivates them
/// (the trigger's `{column: [old, new]}` for three columns, about 230 bytes of JSON).
/// The other half: a session is created (eleven columns, two of them secrets recorded
/// as "changed", about 560 bytes). Request metadata as a browser request leaves it.
const BULK_INSERT: &str = "
insert into audit_events (practice_id, occurred_at, actor_kind, actor_user_id, actor_role,
                          action, entity_type, entity_id, changes, ip, user_agent, request_id)
select $1,
       now() - make_interval(secs => ($4 - g) * 0.01),
       'user', $2, 'Practice admin',
       case when g % 2 = 0 then 'update' else 'create' end,
       case when g % 2 = 0 then 'membership' else 'session' end,
       md5('entity' || g)::uuid,
       case when g % 2 = 0 then jsonb_build_object(
                'role_id', jsonb_build_array(md5('old' || g)::uuid, md5('new' || g)::uuid),
                'status', jsonb_build_array('active', 'deactivated'),
                'deactivated_at', jsonb_build_array(null, now() - make_interval(secs => g)))
            else jsonb_build_object(
                'id', jsonb_build_array(null, md5('entity' || g)::uuid),
                'user_id', jsonb_build_array(null, $2::uuid),
                'token_hash', 'changed', 'csrf_hash', 'changed',
                'temporary', jsonb_build_array(null, false),
                'idle_seconds', jsonb_build_array(null, 1800),
                'last_seen_at', jsonb_build_array(null, now() - make_interval(secs => g)),
                'expires_at', jsonb_build_array(null, now() - make_interval(secs => g) + interval '12 hours'),
                'ip', jsonb_build_array(null, '203.0.113.' || (g % 250 + 1)),
                'user_agent', jsonb_build_array(null, $5::text))
       end,
       ('203.0.113.' || (g % 250 + 1))::inet,
       $5,
       'req-' || md5('request' || g)
  from generate_series($3::bigint, $4::bigint) g";
/// A browser's user agent, as the server records it.
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Command-line options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Events to create (on top of the few the practice's creation records).
    pub events: u64,
    /// Timed verifications.
    pub runs: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            events: 1_000_000,
            runs: 3,
        }
    }
}

impl Options {
    /// Parses `--events E --runs R` (or `--name=value`).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = Self::default();
        for (name, value) in options::pairs(args)? {
            match name.as_str() {
                "--events" => parsed.events = options::number(&name, &value, 1_000, 50_000_000)?,
                "--runs" => parsed.runs = options::number(&name, &value, 1, 20)?,
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(parsed)
    }
}

/// A timed step, with the CPU it used where /proc can tell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    /// Wall-clock time.
    pub elapsed: Duration,
    /// This process's CPU time (all threads).
    pub client_cpu: Option<Duration>,
    /// The server backend's CPU time (only for steps on our own connection; parallel
    /// workers the backend starts are not counted).
    pub server_cpu: Option<Duration>,
    /// Whole-machine CPU busy share (all processes, /proc/stat).
    pub machine_busy: Option<f64>,
}

/// One verification.
#[derive(Debug, Clone)]
struct Run {
    timed: Timed,
    events: u64,
    ok: bool,
}

/// One piece of a verification, measured apart.
#[derive(Debug, Clone)]
struct Step {
    /// What was run.
    label: String,
    /// Events it covered.
    events: u64,
    /// Its time; only wall-clock time for an `EXPLAIN ANALYZE`.
    timed: Option<Timed>,
}

impl Step {
    fn wall(&self) -> Option<Duration> {
        self.timed.map(|t| t.elapsed)
    }

    fn micros_per_event(&self) -> Option<f64> {
        self.wall()
            .map(|w| w.as_secs_f64() * 1e6 / (self.events as f64).max(1.0))
    }
}

/// The breakdown's steps, by what the summary needs to find again.
#[derive(Debug, Clone, Default)]
struct Breakdown {
    steps: Vec<Step>,
    /// Indexes into `steps`.
    planned: Option<usize>,
    serial: Option<usize>,
    unconverted: Option<usize>,
    stream: Option<usize>,
    decode: Option<usize>,
    walk: Option<usize>,
    walk_serial: Option<usize>,
    walk_borrowed: Option<usize>,
    hash: Option<usize>,
}

impl Breakdown {
    fn push(&mut self, step: Step) -> Option<usize> {
        self.steps.push(step);
        Some(self.steps.len() - 1)
    }

    fn get(&self, index: Option<usize>) -> Option<&Step> {
        self.steps.get(index?)
    }

    fn micros(&self, index: Option<usize>) -> Option<f64> {
        self.get(index)?.micros_per_event()
    }
}

/// Everything measured.
#[derive(Debug, Clone)]
struct Measurement {
    server: ServerInfo,
    /// Events in the chain.
    events: u64,
    /// Bytes of `changes` text per event, on average.
    changes_bytes: f64,
    /// Size of the audit table (heap and indexes) after sealing and vacuum.
    table_size: String,
    insert: Duration,
    seal: Duration,
    seal_calls: u64,
    vacuum: Duration,
    runs: Vec<Run>,
    breakdown: Breakdown,
    /// Whole-machine CPU busy share just before the verifications, with this
    /// benchmark idle.
    others_busy: Option<f64>,
}

/// Entry point: parse, measure, report.
pub fn main(args: &[String]) -> ExitCode {
    super::entry("audit-verify", args, Options::parse, run)
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

async fn measure(scratch: &ScratchDb, options: Options) -> Result<Measurement, String> {
    let server = scratch.server_info().await?;
    let admin = scratch.admin().await?;
    let (practice, user) = create_practice(&admin).await?;

    eprintln!("xtask: inserting {} audit events", options.events);
    let started = Instant::now();
    let mut first = 1u64;
    while first <= options.events {
        let last = (first + INSERT_BATCH - 1).min(options.events);
        let mut tx = admin
            .begin_system(practice)
            .await
            .map_err(|e| format!("beginning the insert: {e}"))?;
        sqlx::query(BULK_INSERT)
            .bind(practice.as_uuid())
            .bind(user)
            .bind(i64::try_from(first).unwrap_or(i64::MAX))
            .bind(i64::try_from(last).unwrap_or(i64::MAX))
            .bind(USER_AGENT)
            .execute(tx.conn())
            .await
            .map_err(|e| format!("inserting audit events: {e}"))?;
        tx.commit()
            .await
            .map_err(|e| format!("committing the insert: {e}"))?;
        first = last + 1;
    }
    let insert = started.elapsed();
    eprintln!("xtask: inserted in {:.1}s; sealing", insert.as_secs_f64());

    let mut conn = scratch.admin_conn().await?;
    let started = Instant::now();
    let mut seal_calls = 0u64;
    let mut sealed_total = 0u64;
    loop {
        let sealed: i32 = sqlx::query_scalar("select audit_seal_practice($1, $2)")
            .bind(practice.as_uuid())
            .bind(SEAL_BATCH)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("sealing: {e}"))?;
        seal_calls += 1;
        sealed_total += u64::try_from(sealed).unwrap_or(0);
        if seal_calls.is_multiple_of(10) {
            eprintln!(
                "xtask: sealed {sealed_total} events in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        if sealed < SEAL_BATCH {
            break;
        }
    }
    let seal = started.elapsed();
    eprintln!(
        "xtask: sealed {sealed_total} events in {:.1}s; vacuum analyze",
        seal.as_secs_f64()
    );
    // Autovacuum would long have visited a table this size in production.
    let started = Instant::now();
    sqlx::raw_sql("vacuum (analyze) audit_events")
        .execute(&mut conn)
        .await
        .map_err(|e| format!("vacuum: {e}"))?;
    let vacuum = started.elapsed();
    let (changes_bytes, table_size) = describe_table(&admin, practice).await?;
    let heads = admin
        .audit_heads()
        .await
        .map_err(|e| format!("reading the chain heads: {e}"))?;
    let events = heads
        .iter()
        .find(|h| h.practice_id == practice.as_uuid())
        .and_then(|h| h.seq)
        .and_then(|seq| u64::try_from(seq).ok())
        .ok_or("the practice has no chain head")?;

    let others_busy = process::others_busy(OTHERS_SAMPLE).await;
    let mut runs = Vec::new();
    for n in 1..=options.runs {
        let clock = Stopwatch::start(None);
        let verification = admin
            .verify_audit(practice, None)
            .await
            .map_err(|e| format!("verifying: {e}"))?;
        let run = Run {
            timed: clock.stop(),
            events: verification.events,
            ok: verification.is_ok() && verification.events == events,
        };
        eprintln!(
            "xtask: verification {n}/{}: {} events in {:.2}s = {:.0} events/s ({})",
            options.runs,
            run.events,
            run.timed.elapsed.as_secs_f64(),
            per_second(run.events, run.timed.elapsed),
            if run.ok {
                "verified".to_owned()
            } else {
                format!("NOT verified: {:?}", verification.broken)
            }
        );
        runs.push(run);
    }

    eprintln!("xtask: breaking the verification down");
    let breakdown = break_down(&mut conn, practice, events).await?;
    let _ = sqlx::Connection::close(conn).await;
    admin.close().await;
    Ok(Measurement {
        server,
        events,
        changes_bytes,
        table_size,
        insert,
        seal,
        seal_calls,
        vacuum,
        runs,
        breakdown,
        others_busy,
    })
}

/// Creates the practice through the store; returns it and its admin's user id.
async fn create_practice(admin: &AdminDb) -> Result<(PracticeId, sqlx::types::Uuid), String> {
    let hasher = PasswordHasher::new(
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        1,
    )
    .map_err(|e| format!("password hasher: {e}"))?;
    let field = |e: paddock_domain::FieldError| format!("benchmark practice: {e}");
    let created = practices::create(
        admin,
        &hasher,
        NewPractice {
            name: PracticeName::parse("name", "Bench Verify Practice").map_err(field)?,
            admin_email: Email::parse("email", "admin@bench.example").map_err(field)?,
            admin_name: DisplayName::parse("name", "Bench Admin").map_err(field)?,
            admin_password: check_new_password("password", PASSWORD, &[])
                .map_err(|e| format!("benchmark password: {e}"))?,
            link_existing_user: false,
        },
    )
    .await
    .map_err(|e| format!("creating the benchmark practice: {e}"))?;
    Ok((created.practice_id, created.user_id.as_uuid()))
}

/// The average `changes` text length, and the table's size with its indexes.
async fn describe_table(admin: &AdminDb, practice: PracticeId) -> Result<(f64, String), String> {
    let mut tx = admin
        .begin_system(practice)
        .await
        .map_err(|e| format!("beginning: {e}"))?;
    let (bytes, size): (f64, String) = sqlx::query_as(
        "select avg(octet_length(changes::text))::float8,
                pg_size_pretty(pg_total_relation_size('audit_events'))
           from audit_events where practice_id = $1",
    )
    .bind(practice.as_uuid())
    .fetch_one(tx.conn())
    .await
    .map_err(|e| format!("measuring the table: {e}"))?;
    let _ = tx.rollback().await;
    Ok((bytes, size))
}

/// Times a step: wall clock, this process's CPU, a server backend's CPU and the
/// whole machine's busy share.
struct Stopwatch<'a> {
    backend: Option<&'a str>,
    machine: Option<CpuTimes>,
    client: Option<Duration>,
    server: Option<Duration>,
    started: Instant,
}

impl<'a> Stopwatch<'a> {
    fn start(backend: Option<&'a str>) -> Self {
        Self {
            backend,
            machine: CpuTimes::now(),
            client: process::own_cpu_time(),
            server: backend.and_then(process::cpu_time),
            started: Instant::now(),
        }
    }

    fn stop(self) -> Timed {
        let elapsed = self.started.elapsed();
        Timed {
            elapsed,
            client_cpu: process::used(self.client, process::own_cpu_time()),
            server_cpu: process::used(self.server, self.backend.and_then(process::cpu_time)),
            machine_busy: CpuTimes::now()
                .zip(self.machine)
                .and_then(|(end, start)| start.busy_share(end)),
        }
    }
}

/// The verifier's query with the practice inlined, for `EXPLAIN`.
fn inlined(query: &str, practice: PracticeId) -> String {
    query.replace("$1", &format!("'{practice}'::uuid"))
}

/// `EXPLAIN ANALYZE` of `query`: its execution time and a short description of the plan.
async fn explain(
    conn: &mut PgConnection,
    query: &str,
) -> Result<(Option<Duration>, String), String> {
    let plan: Vec<String> = sqlx::query_scalar(&format!("explain (analyze, timing off) {query}"))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| format!("explaining the verifier's query: {e}"))?;
    Ok((execution_time(&plan), describe_plan(&plan)))
}

/// Sets the planner's parallel-query budget for the rest of the transaction.
async fn parallel_workers(conn: &mut PgConnection, workers: Option<u32>) -> Result<(), String> {
    let value = workers.map_or_else(|| "default".to_owned(), |n| n.to_string());
    sqlx::raw_sql(&format!(
        "set local max_parallel_workers_per_gather = {value}"
    ))
    .execute(conn)
    .await
    .map_err(|e| format!("setting max_parallel_workers_per_gather: {e}"))?;
    Ok(())
}

/// What the verifier does with its query, without the count of pending events and
/// the checkpoint comparison: decode each row into a [`SealedEvent`] and check its
/// link. Returns the events verified.
async fn walk_chain(conn: &mut PgConnection, practice: PracticeId) -> Result<u64, String> {
    let mut rows = sqlx::query_as::<_, SealedEvent>(VERIFY_QUERY)
        .bind(practice.as_uuid())
        .fetch(conn);
    let mut walk = ChainWalk::new();
    while let Some(event) = rows
        .try_next()
        .await
        .map_err(|e| format!("walking the chain: {e}"))?
    {
        walk.step(&event)
            .map_err(|suspect| format!("the chain does not verify: {suspect:?}"))?;
    }
    Ok(walk.verified())
}

/// A prototype of a cheaper client side, to size the suggestion: hash each event
/// straight from the row's bytes (borrowed `&str` and `&[u8]` columns), without
/// building an owned [`SealedEvent`]. The canonical encoding is the one of
/// `paddock_store::audit::chain::chain_hash`; every hash is checked against the stored
/// one, so a drift between the two fails the benchmark rather than flattering it.
async fn walk_borrowed(conn: &mut PgConnection, practice: PracticeId) -> Result<u64, String> {
    let sql_error = |e: sqlx::Error| format!("walking the chain from borrowed rows: {e}");
    let mut rows = sqlx::query(VERIFY_QUERY)
        .bind(practice.as_uuid())
        .fetch(conn);
    let mut prev = GENESIS;
    let mut next_seq = 1i64;
    let mut micros = String::with_capacity(24);
    while let Some(row) = rows.try_next().await.map_err(sql_error)? {
        let seq: i64 = row.try_get(0).map_err(sql_error)?;
        let hash = borrowed_hash(&prev, &row, &mut micros).map_err(sql_error)?;
        let stored_prev: &[u8] = row.try_get(14).map_err(sql_error)?;
        let stored: &[u8] = row.try_get(15).map_err(sql_error)?;
        if seq != next_seq || stored_prev != prev.as_slice() || stored != hash.as_slice() {
            return Err(format!("the borrowed walk does not verify event {seq}"));
        }
        prev = hash;
        next_seq += 1;
    }
    Ok(u64::try_from(next_seq - 1).unwrap_or(0))
}

/// `SHA-256(prev || canonical(event))` from the columns of [`VERIFY_QUERY`].
fn borrowed_hash(prev: &[u8], row: &PgRow, micros: &mut String) -> Result<[u8; 32], sqlx::Error> {
    fn field(h: &mut Sha256, value: Option<&[u8]>) {
        match value {
            None => h.update([0xff; 4]),
            Some(bytes) => {
                h.update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
                h.update(bytes);
            }
        }
    }
    fn uuid(h: &mut Sha256, value: Option<Uuid>) {
        let mut buf = [0u8; 36];
        field(
            h,
            value.map(|u| u.hyphenated().encode_lower(&mut buf).as_bytes()),
        );
    }
    let text = |h: &mut Sha256, index: usize| -> Result<(), sqlx::Error> {
        field(h, row.try_get::<Option<&str>, _>(index)?.map(str::as_bytes));
        Ok(())
    };
    let mut h = Sha256::new();
    h.update(prev);
    uuid(&mut h, Some(row.try_get(1)?));
    uuid(&mut h, Some(row.try_get(2)?));
    micros.clear();
    let _ = write!(
        micros,
        "{}",
        row.try_get::<DateTime<Utc>, _>(3)?.timestamp_micros()
    );
    field(&mut h, Some(micros.as_bytes()));
    text(&mut h, 4)?;
    uuid(&mut h, row.try_get(5)?);
    text(&mut h, 6)?;
    text(&mut h, 7)?;
    text(&mut h, 8)?;
    uuid(&mut h, row.try_get(9)?);
    for index in 10..=13 {
        text(&mut h, index)?;
    }
    Ok(h.finalize().into())
}

/// A client-side step of the breakdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientStep {
    /// Rows streamed, not decoded.
    Stream,
    /// Rows decoded into `SealedEvent`s.
    Decode,
    /// The verifier's loop, with the planner's own choice.
    Walk,
    /// The verifier's loop with parallel query off.
    WalkSerial,
    /// The borrowed-row prototype, parallel query off.
    Borrowed,
}

impl ClientStep {
    const ALL: [ClientStep; 5] = [
        Self::Stream,
        Self::Decode,
        Self::Walk,
        Self::WalkSerial,
        Self::Borrowed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Stream => {
                "Rows streamed to the client, not decoded (`sqlx::query(..).fetch`), as planned"
            }
            Self::Decode => {
                "Rows streamed and decoded into `SealedEvent`s (`query_as`), no hashing, as planned"
            }
            Self::Walk => {
                "The verifier's loop: rows decoded and each link hashed and checked \
                 (`ChainWalk::step`), as planned"
            }
            Self::WalkSerial => {
                "The same loop with `set local max_parallel_workers_per_gather = 0` first"
            }
            Self::Borrowed => {
                "Prototype: parallel query off, and each event hashed straight from the \
                 row's borrowed columns, no `SealedEvent`"
            }
        }
    }

    /// The parallel-query budget it runs with (`None`: the server's default).
    fn workers(self) -> Option<u32> {
        match self {
            Self::WalkSerial | Self::Borrowed => Some(0),
            Self::Stream | Self::Decode | Self::Walk => None,
        }
    }

    /// Runs the step; returns the rows it went through.
    async fn run(self, conn: &mut PgConnection, practice: PracticeId) -> Result<u64, String> {
        let sql_error = |e: sqlx::Error| format!("{}: {e}", self.label());
        match self {
            Self::Stream => {
                let mut rows = sqlx::query(VERIFY_QUERY)
                    .bind(practice.as_uuid())
                    .fetch(conn);
                let mut n = 0;
                while rows.try_next().await.map_err(sql_error)?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
            Self::Decode => {
                let mut rows = sqlx::query_as::<_, SealedEvent>(VERIFY_QUERY)
                    .bind(practice.as_uuid())
                    .fetch(conn);
                let mut n = 0;
                while rows.try_next().await.map_err(sql_error)?.is_some() {
                    n += 1;
                }
                Ok(n)
            }
            Self::Walk | Self::WalkSerial => walk_chain(conn, practice).await,
            Self::Borrowed => walk_borrowed(conn, practice).await,
        }
    }
}

async fn break_down(
    conn: &mut PgConnection,
    practice: PracticeId,
    events: u64,
) -> Result<Breakdown, String> {
    let sql_error = |e: sqlx::Error| format!("breaking down: {e}");
    let backend: i32 = sqlx::query_scalar("select pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .map_err(sql_error)?;
    let backend = backend.to_string();
    let backend = Some(backend.as_str());
    // The verifier's transaction: scoped to the practice, as `AdminDb::begin_system`
    // scopes it (an owner-role admin is subject to row-level security).
    sqlx::raw_sql("begin")
        .execute(&mut *conn)
        .await
        .map_err(sql_error)?;
    sqlx::query("select set_config('app.practice_id', $1, true)")
        .bind(practice.to_string())
        .execute(&mut *conn)
        .await
        .map_err(sql_error)?;
    let mut b = Breakdown::default();
    let server_step = |label: String, wall: Option<Duration>| Step {
        label,
        events,
        timed: wall.map(|elapsed| Timed {
            elapsed,
            client_cpu: None,
            server_cpu: None,
            machine_busy: None,
        }),
    };

    let query = inlined(VERIFY_QUERY, practice);
    let (wall, plan) = explain(conn, &query).await?;
    b.planned = b.push(server_step(
        format!(
            "Server executes the verifier's query, as planned ({plan}); `EXPLAIN ANALYZE`: \
             every column computed, nothing sent"
        ),
        wall,
    ));
    parallel_workers(conn, Some(0)).await?;
    let (wall, plan) = explain(conn, &query).await?;
    b.serial = b.push(server_step(
        format!("The same with `max_parallel_workers_per_gather = 0` ({plan})"),
        wall,
    ));
    let unconverted = query
        .replace("changes::text as changes", "changes")
        .replace("text(ip) as ip", "ip");
    let (wall, plan) = explain(conn, &unconverted).await?;
    b.unconverted = b.push(server_step(
        format!(
            "The same, without the `::text` and `text()` conversions of `changes` and `ip` ({plan})"
        ),
        wall,
    ));
    parallel_workers(conn, None).await?;

    // The client-side steps, each repeated and interleaved with the others so that
    // interference (checkpoints, other processes) falls on all alike; the median of
    // each counts.
    let kinds = ClientStep::ALL;
    let mut timings: Vec<Vec<Timed>> = vec![Vec::new(); kinds.len()];
    for _ in 0..WALK_REPEATS {
        for (kind, timings) in kinds.iter().zip(timings.iter_mut()) {
            parallel_workers(conn, kind.workers()).await?;
            let clock = Stopwatch::start(backend);
            let rows = kind.run(conn, practice).await?;
            let timed = clock.stop();
            if rows != events {
                return Err(format!("{}: {rows} of {events} events", kind.label()));
            }
            timings.push(timed);
        }
    }
    parallel_workers(conn, None).await?;
    for (kind, mut timings) in kinds.into_iter().zip(timings) {
        timings.sort_by_key(|t| t.elapsed);
        let index = b.push(Step {
            label: format!("{} (median of {WALK_REPEATS})", kind.label()),
            events,
            timed: timings.get(timings.len() / 2).copied(),
        });
        match kind {
            ClientStep::Stream => b.stream = index,
            ClientStep::Decode => b.decode = index,
            ClientStep::Walk => b.walk = index,
            ClientStep::WalkSerial => b.walk_serial = index,
            ClientStep::Borrowed => b.walk_borrowed = index,
        }
    }

    let sample: Vec<SealedEvent> = sqlx::query_as(&format!("{VERIFY_QUERY} limit $2"))
        .bind(practice.as_uuid())
        .bind(HASH_SAMPLE)
        .fetch_all(&mut *conn)
        .await
        .map_err(sql_error)?;
    sqlx::raw_sql("rollback")
        .execute(&mut *conn)
        .await
        .map_err(sql_error)?;
    let mut walk = ChainWalk::new();
    let clock = Stopwatch::start(None);
    for event in &sample {
        walk.step(event)
            .map_err(|suspect| format!("the sample does not verify: {suspect:?}"))?;
    }
    let timed = clock.stop();
    b.hash = b.push(Step {
        label: format!(
            "Hashing alone: `ChainWalk::step` over the first {} events, already in memory",
            walk.verified()
        ),
        events: walk.verified(),
        timed: Some(timed),
    });
    Ok(b)
}

/// The top node of an `EXPLAIN` and what matters below it: `Index Scan using
/// audit_events_seq_key`, or `Gather Merge, 2 parallel workers, sort spills to disk`.
fn describe_plan(plan: &[String]) -> String {
    let Some(top) = plan.first() else {
        return "no plan".to_owned();
    };
    let top = top.split("  (").next().unwrap_or(top).trim();
    let mut parts = vec![top.split(" on ").next().unwrap_or(top).to_owned()];
    if let Some(workers) = plan
        .iter()
        .find_map(|line| line.trim().strip_prefix("Workers Launched:"))
    {
        parts.push(format!("{} parallel workers", workers.trim()));
    }
    if plan.iter().any(|line| line.contains("Parallel Seq Scan")) {
        parts.push("parallel seq scan".to_owned());
    }
    if plan
        .iter()
        .any(|line| line.contains("Sort Method: external"))
    {
        parts.push("sort spills to disk".to_owned());
    }
    parts.join(", ")
}

/// `Execution Time: 1234.567 ms` from the text of an `EXPLAIN ANALYZE`.
fn execution_time(plan: &[String]) -> Option<Duration> {
    plan.iter().find_map(|line| {
        let ms = line
            .trim()
            .strip_prefix("Execution Time:")?
            .trim()
            .strip_suffix("ms")?
            .trim()
            .parse::<f64>()
            .ok()?;
        Some(Duration::from_secs_f64(ms / 1000.0))
    })
}

/// Where and when the benchmark ran.
#[derive(Debug, Clone)]
struct Context {
    machine: Machine,
    revision: String,
    date: String,
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// `1.23 s`, or `-` when unknown.
fn seconds(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
}

/// `1.23`, or `-` when unknown.
fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

/// `75%`, or `-` when unknown.
fn share(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.0}%", v * 100.0))
}

/// CPU microseconds per event, if known.
fn cpu_micros(cpu: Option<Duration>, events: u64) -> Option<f64> {
    cpu.map(|c| c.as_secs_f64() * 1e6 / (events as f64).max(1.0))
}

/// The median of the runs' times (the lower middle one for an even count).
fn median_run(runs: &[Run]) -> Option<&Run> {
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by_key(|r| r.timed.elapsed);
    sorted.get((sorted.len().max(1) - 1) / 2).copied()
}

fn step_row(step: &Step) -> String {
    let wall = step.wall();
    format!(
        "| {} | {} | {} | {} | {} | {} | {} |\n",
        step.label,
        seconds(wall),
        wall.map_or_else(
            || "-".to_owned(),
            |w| format!("{:.0}", per_second(step.events, w))
        ),
        micros(step.micros_per_event()),
        seconds(step.timed.and_then(|t| t.server_cpu)),
        seconds(step.timed.and_then(|t| t.client_cpu)),
        share(step.timed.and_then(|t| t.machine_busy)),
    )
}

/// "Where the time goes", per event, from the breakdown.
fn time_per_event(b: &Breakdown) -> String {
    let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    let client = |index: Option<usize>| {
        let step = b.get(index)?;
        cpu_micros(step.timed?.client_cpu, step.events)
    };
    let server = |index: Option<usize>| {
        let step = b.get(index)?;
        cpu_micros(step.timed?.server_cpu, step.events)
    };
    let rate = |index: Option<usize>| {
        b.get(index)
            .and_then(|s| Some(per_second(s.events, s.wall()?)))
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.0}"))
    };
    format!(
        "- Server, executing the query: {planned} µs per event as planned, {serial} µs with \
parallel query off, of which converting `changes` and `ip` to text {conversion} µs; \
the backend's CPU while streaming the rows: {stream_server} µs per event (parallel \
workers not counted)
- Client: receiving the rows (sqlx, undecoded) {stream_client} µs of CPU per event, \
decoding them into `SealedEvent`s {decode_client} µs more, hashing and checking a \
link {hash} µs
- The verifier's loop: {walk} µs per event as planned ({walk_rate} events/s), \
{walk_serial} µs with parallel query off ({walk_serial_rate} events/s), {walk_borrowed} \
µs with parallel query off and hashing from borrowed row data ({walk_borrowed_rate} \
events/s)",
        planned = micros(b.micros(b.planned)),
        serial = micros(b.micros(b.serial)),
        conversion = micros(diff(b.micros(b.serial), b.micros(b.unconverted))),
        stream_server = micros(server(b.stream)),
        stream_client = micros(client(b.stream)),
        decode_client = micros(diff(client(b.decode), client(b.stream))),
        hash = micros(b.micros(b.hash)),
        walk = micros(b.micros(b.walk)),
        walk_rate = rate(b.walk),
        walk_serial = micros(b.micros(b.walk_serial)),
        walk_serial_rate = rate(b.walk_serial),
        walk_borrowed = micros(b.micros(b.walk_borrowed)),
        walk_borrowed_rate = rate(b.walk_borrowed),
    )
}

fn render(measurement: &Measurement, options: &Options, context: &Context) -> String {
    let Context {
        machine,
        revision,
        date,
    } = context;
    let m = measurement;
    let events = m.events;
    let median = median_run(&m.runs);
    let rate = median.map_or(0.0, |r| per_second(r.events, r.timed.elapsed));
    let all_ok = !m.runs.is_empty() && m.runs.iter().all(|r| r.ok);
    let verdict = if all_ok && rate >= TARGET_EVENTS_PER_SECOND {
        "PASS"
    } else {
        "FAIL"
    };
    let each = m
        .runs
        .iter()
        .map(|r| {
            format!(
                "{:.2} s ({:.0}/s{})",
                r.timed.elapsed.as_secs_f64(),
                per_second(r.events, r.timed.elapsed),
                if r.ok { "" } else { ", NOT verified" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let outcome = if all_ok {
        format!("every run verified OK: {events} events, chain intact")
    } else {
        "a run did NOT verify every event (see the runs)".to_owned()
    };
    let median_cpu = median.map_or_else(
        || "unknown".to_owned(),
        |r| {
            format!(
                "whole machine {} busy (all processes, /proc/stat); this process {} of CPU",
                share(r.timed.machine_busy),
                seconds(r.timed.client_cpu)
            )
        },
    );
    let mut table = String::from(
        "| Step | Wall | Events/s | µs per event | Server backend CPU | Client CPU | Machine busy |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for step in &m.breakdown.steps {
        table.push_str(&step_row(step));
    }
    if let Some(r) = median {
        table.push_str(&step_row(&Step {
            label: "The whole `AdminDb::verify_audit` (median run)".to_owned(),
            events: r.events,
            timed: Some(r.timed),
        }));
    }

    format!(
        "{HEADING}

What it measures: how fast the Rust verifier (`AdminDb::verify_audit`, what `paddock \
audit verify` runs) walks one practice's chain of {events} events, and where its time \
goes. The chain is built in a scratch database: a practice created through the store, \
then events bulk-inserted by the admin (`insert ... select ... from generate_series`) \
with every column a trigger fills: half of them a member's role change and \
deactivation, half a session creation; `changes` averages {changes_bytes:.0} bytes of \
JSON text; IP, browser user agent and request id set. They are sealed by \
`audit_seal_practice(practice, 10000)` in a loop, as the server's sealer does it, \
then `vacuum (analyze) audit_events` (autovacuum's job in production). Each \
verification is timed from the call to its answer (a transaction scoped to the \
practice, a count of pending events, then one query streaming every sealed event in \
`seq` order, decoded and hashed as it arrives); the figure is the median of \
{runs} runs, with the table in the OS page cache after the first. The \
breakdown repeats the verifier's steps one at a time on a connection of its own, \
with the CPU time of its server backend (/proc/<pid>/stat) and of this process. \
Client (release build of xtask and the store) and server share the machine's cores.

Reproduce with `cargo xtask bench audit-verify [--events E] [--runs R]` (it builds \
and runs xtask in release mode; with `DATABASE_URL` set to an admin URL it uses a \
scratch database on that server, else a private cluster), which rewrites this \
section.

- Date: {date}
- Machine: {machine}
- Database: {server}
- Code: {revision}
- Chain: {events} events of one practice; table with indexes {table_size} after \
sealing and vacuum
- Bulk insert: {insert:.1} s ({insert_rate:.0} events/s)
- Sealing: {seal:.1} s in {seal_calls} calls of up to 10,000 ({seal_rate:.0} events/s)
- Vacuum analyze: {vacuum:.1} s
- Verification: **{rate:.0} events/s** (median of {runs}; each: {each}); {outcome}
- During the median verification: {median_cpu}; just before the verifications, with \
this benchmark idle (other processes, the server's background work): {others}
- Target: ≥ 300,000 events/s on this machine: **{verdict}** ({rate:.0} events/s)

Where the time goes, per event:

{per_event}

{table}",
        runs = options.runs,
        changes_bytes = m.changes_bytes,
        server = m.server,
        table_size = m.table_size,
        insert = m.insert.as_secs_f64(),
        insert_rate = per_second(events, m.insert),
        seal = m.seal.as_secs_f64(),
        seal_calls = m.seal_calls,
        seal_rate = per_second(events, m.seal),
        vacuum = m.vacuum.as_secs_f64(),
        per_event = time_per_event(&m.breakdown),
        others = share(m.others_busy),
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
            Options::parse(&args(&["--events", "5000", "--runs=5"])).unwrap(),
            Options {
                events: 5_000,
                runs: 5
            }
        );
        for bad in [
            &["--events"][..],
            &["--events", "999"],
            &["--runs", "0"],
            &["--runs", "x"],
            &["--seconds", "5"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_the_execution_time() {
        let plan = [
            "Index Scan using audit_events_seq_key on audit_events (actual rows=1000 loops=1)"
                .to_owned(),
            "Planning Time: 0.080 ms".to_owned(),
            "Execution Time: 1234.500 ms".to_owned(),
        ];
        assert_eq!(
            execution_time(&plan),
            Some(Duration::from_micros(1_234_500))
        );
        assert_eq!(execution_time(&plan[..2]), None);
    }

    fn timed(ms: u64) -> Timed {
        Timed {
            elapsed: Duration::from_millis(ms),
            client_cpu: Some(Duration::from_millis(ms / 2)),
            server_cpu: Some(Duration::from_millis(ms / 4)),
            machine_busy: Some(0.75),
        }
    }

    fn step(label: &str, events: u64, ms: u64, cpu: bool) -> Step {
        Step {
            label: label.to_owned(),
            events,
            timed: Some(if cpu {
                timed(ms)
            } else {
                Timed {
                    elapsed: Duration::from_millis(ms),
                    client_cpu: None,
                    server_cpu: None,
                    machine_busy: None,
                }
            }),
        }
    }

    fn breakdown() -> Breakdown {
        let mut b = Breakdown::default();
        b.planned = b.push(step("planned", 1_000_000, 2_000, false));
        b.serial = b.push(step("serial", 1_000_000, 1_700, false));
        b.unconverted = b.push(step("unconverted", 1_000_000, 400, false));
        b.stream = b.push(step("stream", 1_000_000, 2_000, true));
        b.decode = b.push(step("decode", 1_000_000, 3_000, true));
        b.walk = b.push(step("walk", 1_000_000, 5_000, true));
        b.walk_serial = b.push(step("walk serial", 1_000_000, 2_500, true));
        b.walk_borrowed = b.push(step("walk borrowed", 1_000_000, 2_000, true));
        b.hash = b.push(step("hash", 200_000, 100, true));
        b
    }

    fn measurement(run_ms: &[u64], ok: bool) -> Measurement {
        Measurement {
            server: ServerInfo {
                kind: "a private cluster started for the run",
                version: "PostgreSQL 15.20".into(),
                settings: "fsync=on".into(),
            },
            events: 1_000_000,
            changes_bytes: 395.4,
            table_size: "1 GB".into(),
            insert: Duration::from_secs(20),
            seal: Duration::from_secs(100),
            seal_calls: 101,
            vacuum: Duration::from_secs(5),
            runs: run_ms
                .iter()
                .map(|&ms| Run {
                    timed: timed(ms),
                    events: 1_000_000,
                    ok,
                })
                .collect(),
            breakdown: breakdown(),
            others_busy: Some(0.03),
        }
    }

    fn context() -> Context {
        Context {
            machine: Machine {
                cores: 2,
                model: "Test CPU".into(),
                memory_mib: None,
            },
            revision: "abc1234".into(),
            date: "2025-01-01 00:00 UTC".into(),
        }
    }

    #[test]
    fn renders_the_section() {
        let text = render(
            &measurement(&[4_000, 2_000, 2_500], true),
            &Options::default(),
            &context(),
        );
        assert!(text.starts_with("## Audit verify throughput\n"), "{text}");
        assert!(
            text.contains("Verification: **400000 events/s** (median of 3; each: 4.00 s (250000/s), 2.00 s (500000/s), 2.50 s (400000/s)); every run verified OK: 1000000 events"),
            "{text}"
        );
        assert!(
            text.contains("Target: ≥ 300,000 events/s on this machine: **PASS** (400000 events/s)"),
            "{text}"
        );
        assert!(
            text.contains("Sealing: 100.0 s in 101 calls of up to 10,000 (10000 events/s)"),
            "{text}"
        );
        assert!(text.contains("`changes` averages 395 bytes"), "{text}");
        assert!(
            text.contains(
                "whole machine 75% busy (all processes, /proc/stat); this process 1.25 s of CPU"
            ),
            "{text}"
        );
        assert!(
            text.contains("executing the query: 2.00 µs per event as planned, 1.70 µs with parallel query off, of which converting `changes` and `ip` to text 1.30 µs; the backend's CPU while streaming the rows: 0.50 µs"),
            "{text}"
        );
        assert!(
            text.contains("receiving the rows (sqlx, undecoded) 1.00 µs of CPU per event, decoding them into `SealedEvent`s 0.50 µs more, hashing and checking a link 0.50 µs"),
            "{text}"
        );
        assert!(
            text.contains("5.00 µs per event as planned (200000 events/s), 2.50 µs with parallel query off (400000 events/s), 2.00 µs with parallel query off and hashing from borrowed row data (500000 events/s)"),
            "{text}"
        );
        assert!(
            text.contains("| stream | 2.00 s | 500000 | 2.00 | 0.50 s | 1.00 s | 75% |"),
            "{text}"
        );
        assert!(
            text.contains("| planned | 2.00 s | 500000 | 2.00 | - | - | - |"),
            "{text}"
        );
        assert!(
            text.contains("| hash | 0.10 s | 2000000 | 0.50 | 0.03 s | 0.05 s | 75% |"),
            "{text}"
        );
        assert!(
            text.contains("| The whole `AdminDb::verify_audit` (median run) | 2.50 s | 400000 | 2.50 | 0.62 s | 1.25 s | 75% |"),
            "{text}"
        );
    }

    #[test]
    fn describes_plans() {
        let lines = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
        let parallel = lines(
            "Gather Merge  (cost=1.00..2.00 rows=10 width=395) (actual rows=10 loops=1)
   Workers Planned: 2
   Workers Launched: 2
   ->  Sort  (cost=1.00..2.00 rows=4 width=395) (actual rows=3 loops=3)
         Sort Method: external merge  Disk: 224952kB
         ->  Parallel Seq Scan on audit_events  (cost=0.00..1.00 rows=4 width=395)
Execution Time: 2005.743 ms",
        );
        assert_eq!(
            describe_plan(&parallel),
            "Gather Merge, 2 parallel workers, parallel seq scan, sort spills to disk"
        );
        let index = lines(
            "Index Scan using audit_events_seq_key on audit_events  (cost=0.42..5.00 rows=10 width=395) (actual rows=10 loops=1)
  Index Cond: (practice_id = '0190e0e0-0000-7000-8000-000000000001'::uuid)
Execution Time: 1722.609 ms",
        );
        assert_eq!(
            describe_plan(&index),
            "Index Scan using audit_events_seq_key"
        );
        assert_eq!(describe_plan(&[]), "no plan");
        assert_eq!(
            inlined(
                "where practice_id = $1 and x",
                PracticeId::from_uuid(sqlx::types::Uuid::nil())
            ),
            "where practice_id = '00000000-0000-0000-0000-000000000000'::uuid and x"
        );
    }

    #[test]
    fn a_slow_or_broken_chain_fails_the_target() {
        let slow = render(
            &measurement(&[5_000], true),
            &Options::default(),
            &context(),
        );
        assert!(slow.contains("**FAIL** (200000 events/s)"), "{slow}");
        let broken = render(
            &measurement(&[1_000], false),
            &Options::default(),
            &context(),
        );
        assert!(broken.contains("**FAIL** (1000000 events/s)"), "{broken}");
        assert!(broken.contains("did NOT verify"), "{broken}");
    }
}
