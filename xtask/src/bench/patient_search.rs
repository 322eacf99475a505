//! `cargo xtask bench patient-search`: how fast the front desk finds a patient.
//!
//! `paddock_store::clinical::patients::search` is the patient list's search box: a patient's
//! name, a microchip, or an owner's name, email or phone. This builds a large practice
//! in a scratch database (two practices created through the store, then clients,
//! patients and owner links bulk-inserted by the admin with `generate_series`),
//! analyses it, and times the store's own `patients::search` through a
//! [`TenantTx`](paddock_store::TenantTx) opened for the practice admin on an app-role
//! pool, as a request handler opens it, over a mix of what a receptionist types.
//!
//! It says what the searches read without knowing the store's SQL: the server's
//! statistics count the sequential scans (whole tables read) and index scans of the
//! timed searches, and the store's own prepared statement, found in
//! `pg_prepared_statements` after a search, is explained as the application role
//! (its generic plan: the one PostgreSQL builds without parameter values).

use super::options;
use super::process;
use super::report::{self, Machine, Summary, ms};
use super::scratch::{ScratchDb, ServerInfo, measure_in_scratch};
use paddock_domain::{DisplayName, Email, PracticeId, PracticeName};
use paddock_passwords::{HashParams, PasswordHasher, check_new_password};
use paddock_store::staff::practices::{self, NewPractice};
use paddock_store::{AdminDb, Db, Principal, RequestMeta, clinical::patients, identity::principal};
use sqlx::PgConnection;
use sqlx::postgres::PgConnectOptions;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The BENCHMARKS.md section this benchmark owns.
const HEADING: &str = "## Patient search";
/// Every search should answer within this, at the 99th percentile.
const TARGET_P99: Duration = Duration::from_millis(100);
/// The page size the patient list asks for.
const PAGE: i64 = 50;
/// Untimed searches first, so the timed ones do not pay for cold caches and plans.
const WARM_UP: usize = 50;
/// How long the machine's background load is sampled before the timed part.
const OTHERS_SAMPLE: Duration = Duration::from_secs(3);
/// The tables a search reads.
const TABLES: [&str; 3] = ["patients", "clients", "patient_owners"];
/// The password of the benchmark practices' admins (never used to sign in).
const PASSWORD: &str = "harrier-42-sweeps-the-long-paddock";

/// Bulk insert of clients: `$1` practice, `$2` how many, `$3` a namespace that keeps
/// the practices' ids apart. Surnames are common British ones (four in five) or
/// composed ("Ashford", "Thornley"); numbers are UK mobiles (`+447...`), with a
/// landline for three in ten; one in fifty is soft-deleted. Picks use multiplications
/// by primes, so the data is the same on every run.
const INSERT_CLIENTS: &str = "
with words as (select
    array['Oliver','Amelia','George','Isla','Harry','Ava','Noah','Mia','Jack','Ivy','Leo',
          'Lily','Arthur','Grace','Muhammad','Rosie','Oscar','Ella','Charlie','Sophie',
          'Thomas','Freya','Henry','Evie','William','Poppy','James','Emily','Alfie','Ruby',
          'Joshua','Chloe','Daniel','Hannah','Samuel','Lucy','Priya','Aisha','Sean','Niamh',
          'Rhys','Megan','Callum','Eilidh','Tomasz','Zofia','Kwame','Ama','Wei','Mei'] as given,
    array['Smith','Jones','Taylor','Brown','Williams','Wilson','Johnson','Davies','Patel',
          'Robinson','Wright','Thompson','Evans','Walker','White','Roberts','Green','Hall',
          'Thomas','Clarke','Jackson','Wood','Harris','Edwards','Turner','Martin','Cooper',
          'Hill','Ward','Hughes','Moore','Clark','King','Harrison','Lewis','Baker','Lee',
          'Allen','Morris','Khan','Scott','Watson','Davis','Parker','James','Bennett','Young',
          'Phillips','Richardson','Mitchell','Bailey','Carter','Cook','Singh','Shaw','Bell',
          'Collins','Morgan','Kelly','Begum','Miller','Cox','Hussain','Marshall','Simpson',
          'Price','Anderson','Adams','Wilkinson','Ali','Ahmed','Foster','Ellis','Murphy',
          'Chapman','Mason','Gray','Richards','Webb','Griffiths','Hunt','Palmer','Campbell',
          'Holmes','Mills','Rogers','Barnes','Knight','Matthews','Barker','Powell','Stevens',
          'Kaur','Fisher','Butler','Dixon','Russell','Harvey','Pearson','Graham','O''Brien',
          'MacDonald','Nowak','Okafor','Chen','Nguyen','Kowalski','Da Silva'] as family,
    array['Ash','Black','Brad','Brook','Cart','Clay','Dun','Fair','Fox','Glad','Hal','Hart',
          'Holl','Kings','Lang','Marsh','Mill','Nor','Pem','Red','Rush','Salt','Shel','Stan',
          'Thorn','Wal','West','Whit','Wood','Yar'] as head,
    array['ford','ley','ton','wood','well','by','field','ridge','more','worth','stone','ham',
          'bury','combe','lock'] as tail)
insert into clients (practice_id, id, given_name, family_name, email, mobile, phone, address,
                     deleted_at)
select $1, md5($3 || ':client:' || g)::uuid,
       w.given[1 + (g::bigint * 7919 % array_length(w.given, 1))::int],
       f.family,
       lower(replace(replace(w.given[1 + (g::bigint * 7919 % array_length(w.given, 1))::int] || '.' || f.family,
                             ' ', ''), '''', '')) || g || '@example.org',
       '+447' || lpad(((g::bigint * 7919 + 12345) % 1000000000)::text, 9, '0'),
       case when g % 10 < 3 then '+44' || (1000000000 + (g::bigint * 104729) % 999999999)::text end,
       (1 + g % 180) || ' ' || f.family || ' Road' || chr(10) || 'Riverside',
       case when g % 50 = 0 then now() - interval '30 days' end
  from generate_series(1, $2::int) g, words w,
       lateral (select case when g % 5 = 0
                            then w.head[1 + (g::bigint * 31 % array_length(w.head, 1))::int]
                                 || w.tail[1 + (g::bigint * 17 % array_length(w.tail, 1))::int]
                            else w.family[1 + (g::bigint * 104729 % array_length(w.family, 1))::int]
                       end as family) f";

/// Bulk insert of patients: `$1` practice, `$2` how many, `$3` the namespace, `$4` the
/// microchip issuer code. Names are common pet names (three in five) or composed
/// ("Biscuit", "Pepsy"); dogs, cats, rabbits and a few others; nine in ten chipped
/// (a valid ISO 11784 number: the code, then a national part far below 2^38);
/// one in fifty soft-deleted.
const INSERT_PATIENTS: &str = "
with words as (select
    array['Bella','Max','Luna','Charlie','Daisy','Milo','Coco','Teddy','Poppy','Alfie',
          'Lola','Bailey','Ruby','Archie','Rosie','Buster','Molly','Oscar','Lucy','Ollie',
          'Bonnie','Reggie','Willow','Bruno','Nala','Simba','Tilly','Frankie','Maisie','Winston',
          'Pepper','Rocky','Honey','Toby','Millie','Dexter','Cleo','Jasper','Misty','Ziggy',
          'Smudge','Tigger','Shadow','Bramble','Biscuit','Hazel','Otis','Mabel','Nelly','Rufus',
          'Sooty','Marley','Pippin','Fudge','Ginger','Loki','Kiki','Peanut','Storm','Juno'] as common,
    array['Bis','Bram','Cas','Dot','Fig','Gin','Hon','Jas','Kip','Lu','Mar','Nut','Pep','Quin',
          'Rus','Saf','Tof','Wil','Zig','Bo','Cin','Dex','Eb','Fen'] as head,
    array['ble','cuit','per','sy','ter','zo','ly','bo','kin','nie','mo','gus','let','pa'] as tail,
    array['Canine','Canine','Canine','Canine','Canine','Canine','Canine','Canine','Canine',
          'Canine','Canine','Feline','Feline','Feline','Feline','Feline','Feline','Feline',
          'Rabbit','Guinea pig'] as species,
    array['Labrador Retriever','Cocker Spaniel','Border Collie','French Bulldog',
          'Staffordshire Bull Terrier','Domestic Shorthair','Domestic Longhair','Maine Coon',
          'Netherland Dwarf','Lop','Jack Russell Terrier','Cockapoo'] as breed,
    array['female','female_spayed','male','male_neutered'] as sex)
insert into patients (practice_id, id, name, species, breed, sex, date_of_birth, microchip,
                      deleted_at)
select $1, md5($3 || ':patient:' || g)::uuid,
       case when g % 5 < 3 then w.common[1 + (g::bigint * 7919 % array_length(w.common, 1))::int]
            else w.head[1 + (g::bigint * 31 % array_length(w.head, 1))::int]
                 || w.tail[1 + (g::bigint * 17 % array_length(w.tail, 1))::int] end,
       w.species[1 + (g::bigint * 13 % array_length(w.species, 1))::int],
       w.breed[1 + (g::bigint * 7 % array_length(w.breed, 1))::int],
       w.sex[1 + (g::bigint * 3 % array_length(w.sex, 1))::int],
       current_date - (100 + (g::bigint * 7919 % 5400)::int),
       case when g % 10 <> 0 then $4 || lpad((100000000000 + g::bigint * 7919)::text, 12, '0') end,
       case when g % 50 = 0 then now() - interval '30 days' end
  from generate_series(1, $2::int) g, words w";

/// Owner links: `$1` practice, `$2` patients, `$3` clients, `$4` the namespace. Every
/// patient has a primary owner (a bijection over each block of clients, so every
/// client owns at least one patient) and one in ten a second owner.
const INSERT_OWNERS: &str = "
insert into patient_owners (practice_id, patient_id, client_id, is_primary)
select $1, md5($4 || ':patient:' || g)::uuid,
       md5($4 || ':client:' || (1 + (g::bigint * 48271) % $3::int))::uuid, true
  from generate_series(1, $2::int) g
union all
select $1, md5($4 || ':patient:' || g)::uuid,
       md5($4 || ':client:' || (1 + (g::bigint * 48271 + 1) % $3::int))::uuid, false
  from generate_series(1, $2::int) g where g % 10 = 0";

/// Command-line options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Patients of the searched practice.
    pub patients: u32,
    /// Its clients.
    pub clients: u32,
    /// Timed searches.
    pub searches: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            patients: 100_000,
            clients: 70_000,
            searches: 600,
        }
    }
}

impl Options {
    /// Parses `--patients P --clients C --searches S` (or `--name=value`).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = Self::default();
        for (name, value) in options::pairs(args)? {
            match name.as_str() {
                "--patients" => parsed.patients = options::number(&name, &value, 1_000, 5_000_000)?,
                "--clients" => parsed.clients = options::number(&name, &value, 100, 5_000_000)?,
                "--searches" => parsed.searches = options::number(&name, &value, 500, 100_000)?,
                other => return Err(format!("unknown option {other:?}")),
            }
        }
        Ok(parsed)
    }
}

/// What a receptionist types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The first three to six letters of a patient's name.
    NamePrefix,
    /// An owner's whole surname.
    Surname,
    /// An owner's mobile as people say it (`07700 900123`).
    Phone,
    /// A whole microchip number.
    Microchip,
    /// Letters nobody's name contains.
    NoMatch,
}

impl Kind {
    /// Every kind, in report order.
    const ALL: [Kind; 5] = [
        Kind::NamePrefix,
        Kind::Surname,
        Kind::Phone,
        Kind::Microchip,
        Kind::NoMatch,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::NamePrefix => "start of a patient's name (3-6 letters)",
            Kind::Surname => "owner's surname",
            Kind::Phone => "owner's mobile, national format",
            Kind::Microchip => "microchip (15 digits)",
            Kind::NoMatch => "no match",
        }
    }

    /// Its share of the searches, in percent.
    fn percent(self) -> usize {
        match self {
            Kind::NamePrefix => 40,
            Kind::Surname => 20,
            Kind::Phone | Kind::Microchip => 15,
            Kind::NoMatch => 10,
        }
    }

    /// Whether an answer is right: a sampled name, surname or mobile belongs to a
    /// live patient or its owner, so it must find at least one patient; a chip finds
    /// exactly its patient; made-up letters find nobody.
    fn answered_right(self, rows: usize) -> bool {
        match self {
            Kind::NamePrefix | Kind::Surname | Kind::Phone => rows > 0,
            Kind::Microchip => rows == 1,
            Kind::NoMatch => rows == 0,
        }
    }
}

/// The number of searches of `kind` among `total`: 40% names, 20% surnames, 15%
/// phones, 15% microchips, and the rest (10%, give or take rounding) no match.
pub fn share(kind: Kind, total: usize) -> usize {
    if kind == Kind::NoMatch {
        let others: usize = Kind::ALL
            .iter()
            .filter(|k| **k != Kind::NoMatch)
            .map(|k| total * k.percent() / 100)
            .sum();
        total.saturating_sub(others)
    } else {
        total * kind.percent() / 100
    }
}

/// One search to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// What kind of input it is.
    pub kind: Kind,
    /// The text typed.
    pub text: String,
}

/// A deterministic generator (xorshift64*): the same queries on every run.
pub struct Xorshift(u64);

impl Xorshift {
    /// Seeded; a zero seed is replaced (xorshift never leaves zero).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: usize, high: usize) -> usize {
        let span = u64::try_from(high.saturating_sub(low) + 1).unwrap_or(u64::MAX);
        low + usize::try_from(self.next() % span).unwrap_or(0)
    }
}

/// The first `len` characters of `text` (all of it when shorter).
pub fn prefix(text: &str, len: usize) -> String {
    text.chars().take(len).collect()
}

/// `+447700900123` as people say it: `07700 900123`.
pub fn national(mobile: &str) -> String {
    let digits: String = mobile.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("44") {
        Some(rest) if rest.len() == 10 => {
            let (area, number) = rest.split_at(4);
            format!("0{area} {number}")
        }
        _ => mobile.to_owned(),
    }
}

/// The searches, in a shuffled order, built from rows sampled from the practice.
fn queries(samples: &Samples, total: usize, rng: &mut Xorshift) -> Vec<Query> {
    let pick = |list: &[String], rng: &mut Xorshift| -> String {
        list.get(rng.between(0, list.len().saturating_sub(1)))
            .cloned()
            .unwrap_or_default()
    };
    let mut out = Vec::with_capacity(total);
    for kind in Kind::ALL {
        for _ in 0..share(kind, total) {
            let text = match kind {
                Kind::NamePrefix => {
                    let len = rng.between(3, 6);
                    prefix(&pick(&samples.names, rng), len)
                }
                Kind::Surname => pick(&samples.surnames, rng),
                Kind::Phone => national(&pick(&samples.mobiles, rng)),
                Kind::Microchip => pick(&samples.chips, rng),
                Kind::NoMatch => {
                    // No name or address here has a q or an x next to a j, z or v.
                    const RARE: [&str; 6] = ["qxj", "zqv", "xjq", "vqz", "jxqz", "qvxj"];
                    RARE.get(rng.between(0, RARE.len() - 1))
                        .map(|s| (*s).to_owned())
                        .unwrap_or_default()
                }
            };
            out.push(Query { kind, text });
        }
    }
    // Fisher-Yates, so kinds interleave and drift falls on all of them alike.
    for i in (1..out.len()).rev() {
        let j = rng.between(0, i);
        out.swap(i, j);
    }
    out
}

/// Real values of the searched practice to build queries from.
#[derive(Debug, Default)]
struct Samples {
    names: Vec<String>,
    surnames: Vec<String>,
    mobiles: Vec<String>,
    chips: Vec<String>,
}

/// One timed search.
#[derive(Debug, Clone)]
struct Timed {
    kind: Kind,
    elapsed: Duration,
    rows: usize,
}

/// What the timed searches read, from the server's statistics.
#[derive(Debug, Clone, Default)]
struct Reads {
    /// Per table: sequential scans, rows they read, index scans.
    tables: Vec<(String, i64, i64, i64)>,
    /// Per index that was scanned: how often.
    indexes: Vec<(String, i64)>,
}

impl Reads {
    /// Sequential scans of the searched tables, in all.
    fn sequential_scans(&self) -> i64 {
        self.tables.iter().map(|t| t.1).sum()
    }
}

/// The store's own statement and its generic plan.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// The statement's text, as prepared.
    statement: String,
    /// `EXPLAIN` lines.
    lines: Vec<String>,
}

impl Plan {
    /// The tables the plan reads whole (`Seq Scan on <table>`), searched ones only.
    fn sequential_tables(&self) -> Vec<&'static str> {
        TABLES
            .into_iter()
            .filter(|table| {
                self.lines.iter().any(|line| {
                    line.split("Seq Scan on ")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        == Some(*table)
                })
            })
            .collect()
    }
}

/// Everything measured.
#[derive(Debug, Clone)]
struct Measurement {
    server: ServerInfo,
    /// Live and deleted rows of the searched practice: clients, patients, owner links.
    rows: (i64, i64, i64),
    /// The other practice's patients.
    other_patients: i64,
    /// Heap and indexes of the three tables.
    size: String,
    load: Duration,
    analyze: Duration,
    timed: Vec<Timed>,
    /// Searches whose answer was wrong (see [`Kind::answered_right`]).
    wrong: usize,
    /// Whole-machine CPU busy share just before the timed searches, this benchmark idle.
    others_busy: Option<f64>,
    /// What the timed searches read; `None` when the statistics could not be read.
    reads: Option<Reads>,
    /// The name search that was explained.
    explained: String,
    plan: Plan,
}

/// Entry point: parse, measure, report.
pub fn main(args: &[String]) -> ExitCode {
    super::entry("patient-search", args, Options::parse, run)
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
    let app = app_pool(scratch.app_options()).await?;
    let searched = create_practice(&admin, &app, 0).await?;
    let other = create_practice(&admin, &app, 1).await?;
    let mut conn = scratch.admin_conn().await?;

    eprintln!(
        "xtask: inserting {} patients and {} clients (and a tenth of that in a second practice)",
        options.patients, options.clients
    );
    let started = Instant::now();
    load(
        &mut conn,
        searched.practice_id(),
        "a",
        options.clients,
        options.patients,
        "826",
    )
    .await?;
    load(
        &mut conn,
        other.practice_id(),
        "b",
        (options.clients / 10).max(100),
        (options.patients / 10).max(1_000),
        "985",
    )
    .await?;
    let load_time = started.elapsed();
    let started = Instant::now();
    sqlx::raw_sql("analyze clients; analyze patients; analyze patient_owners")
        .execute(&mut conn)
        .await
        .map_err(|e| format!("analyze: {e}"))?;
    let analyze = started.elapsed();
    let rows = count_rows(&mut conn, searched.practice_id()).await?;
    let other_patients: i64 =
        sqlx::query_scalar("select count(*) from patients where practice_id = $1")
            .bind(other.practice_id().as_uuid())
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("counting: {e}"))?;
    let size: String = sqlx::query_scalar(
        "select pg_size_pretty(pg_total_relation_size('clients') + pg_total_relation_size('patients')
                               + pg_total_relation_size('patient_owners'))",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|e| format!("measuring the tables: {e}"))?;
    eprintln!(
        "xtask: loaded in {:.1}s, analysed in {:.1}s; tables {size}",
        load_time.as_secs_f64(),
        analyze.as_secs_f64()
    );

    let samples = sample(&mut conn, searched.practice_id()).await?;
    let mut rng = Xorshift::new(0x7061_6464_6f63_6b21);
    for query in &queries(&samples, WARM_UP, &mut rng) {
        search(&app, &searched, query).await?;
    }
    app.close().await;
    let plan = queries(&samples, options.searches, &mut rng);
    let others_busy = process::others_busy(OTHERS_SAMPLE).await;
    // Statistics from here on are the timed searches' own (the admin reads nothing of
    // the searched tables meanwhile).
    let stats_reset = reset_statistics(&mut conn).await;
    let app = app_pool(scratch.app_options()).await?;
    eprintln!(
        "xtask: {} timed searches as the application role",
        plan.len()
    );
    let mut timed = Vec::with_capacity(plan.len());
    let mut wrong = 0;
    for query in &plan {
        let result = search(&app, &searched, query).await?;
        if !query.kind.answered_right(result.rows) {
            wrong += 1;
            eprintln!(
                "xtask: wrong answer: {:?} {:?} found {} patients",
                query.kind, query.text, result.rows
            );
        }
        timed.push(result);
    }
    app.close().await;
    let reads = match stats_reset {
        Ok(()) => Some(read_statistics(&mut conn).await?),
        Err(e) => {
            eprintln!("xtask: warning: no read statistics: {e}");
            None
        }
    };

    let name = plan
        .iter()
        .find(|q| q.kind == Kind::NamePrefix)
        .map_or_else(|| "bel".to_owned(), |q| q.text.clone());
    let app = app_pool(scratch.app_options()).await?;
    let explained = explain_store_statement(&app, &searched, &name).await?;
    app.close().await;
    let _ = sqlx::Connection::close(conn).await;
    admin.close().await;
    Ok(Measurement {
        server,
        rows,
        other_patients,
        size,
        load: load_time,
        analyze,
        timed,
        wrong,
        others_busy,
        reads,
        explained: name,
        plan: explained,
    })
}

/// One app-role connection: every search runs on the same backend, one at a time.
async fn app_pool(options: PgConnectOptions) -> Result<Db, String> {
    Db::connect_with(options, 1)
        .await
        .map_err(|e| format!("connecting as the application role: {e}"))
}

/// Creates practice `index` through the store and resolves its admin on the app pool.
async fn create_practice(admin: &AdminDb, db: &Db, index: usize) -> Result<Principal, String> {
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
    let field = |e: paddock_domain::FieldError| format!("benchmark practice {index}: {e}");
    let created = practices::create(
        admin,
        &hasher,
        NewPractice {
            name: PracticeName::parse("name", &format!("Bench Search Practice {index}"))
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
    principal::resolve(
        db,
        created.user_id,
        created.practice_id,
        &RequestMeta::system("bench"),
    )
    .await
    .map_err(|e| format!("resolving the admin of practice {index}: {e}"))?
    .ok_or_else(|| format!("the admin of practice {index} has no active membership"))
}

/// Bulk-inserts one practice's clients, patients and owner links as the superuser, in
/// one transaction. Triggers are skipped for the session (`session_replication_role =
/// replica`): the audit trail of a hundred thousand synthetic rows is not what is
/// measured, and the rows are consistent by construction (every link names a client
/// and a patient of the same practice), which the foreign-key triggers would check.
/// Generated columns (search keys) are computed all the same.
async fn load(
    conn: &mut PgConnection,
    practice: PracticeId,
    namespace: &str,
    clients: u32,
    patients: u32,
    chip_code: &str,
) -> Result<(), String> {
    let sql = |what: &'static str| move |e: sqlx::Error| format!("inserting {what}: {e}");
    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .map_err(sql("(begin)"))?;
    sqlx::raw_sql("set local session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .map_err(sql("(replica)"))?;
    let namespace = format!("{practice}:{namespace}");
    sqlx::query(INSERT_CLIENTS)
        .bind(practice.as_uuid())
        .bind(i32::try_from(clients).unwrap_or(i32::MAX))
        .bind(&namespace)
        .execute(&mut *tx)
        .await
        .map_err(sql("clients"))?;
    sqlx::query(INSERT_PATIENTS)
        .bind(practice.as_uuid())
        .bind(i32::try_from(patients).unwrap_or(i32::MAX))
        .bind(&namespace)
        .bind(chip_code)
        .execute(&mut *tx)
        .await
        .map_err(sql("patients"))?;
    sqlx::query(INSERT_OWNERS)
        .bind(practice.as_uuid())
        .bind(i32::try_from(patients).unwrap_or(i32::MAX))
        .bind(i32::try_from(clients).unwrap_or(i32::MAX))
        .bind(&namespace)
        .execute(&mut *tx)
        .await
        .map_err(sql("owner links"))?;
    tx.commit().await.map_err(sql("(commit)"))?;
    Ok(())
}

/// The searched practice's clients, patients and owner links.
async fn count_rows(
    conn: &mut PgConnection,
    practice: PracticeId,
) -> Result<(i64, i64, i64), String> {
    sqlx::query_as(
        "select (select count(*) from clients where practice_id = $1),
                (select count(*) from patients where practice_id = $1),
                (select count(*) from patient_owners where practice_id = $1)",
    )
    .bind(practice.as_uuid())
    .fetch_one(conn)
    .await
    .map_err(|e| format!("counting rows: {e}"))
}

/// Names of live patients, and surnames and mobiles of live clients who own one, and
/// chips of live patients, in a fixed pseudo-random order (by the md5 of the id), to
/// build queries from: each must find somebody.
async fn sample(conn: &mut PgConnection, practice: PracticeId) -> Result<Samples, String> {
    let column = async |conn: &mut PgConnection, sql: &str| -> Result<Vec<String>, String> {
        sqlx::query_scalar(sql)
            .bind(practice.as_uuid())
            .fetch_all(conn)
            .await
            .map_err(|e| format!("sampling the practice: {e}"))
    };
    let owners = "from clients c
          where c.practice_id = $1 and c.deleted_at is null
            and exists (select 1 from patient_owners po join patients p
                          on p.practice_id = po.practice_id and p.id = po.patient_id
                         where po.practice_id = c.practice_id and po.client_id = c.id
                           and p.deleted_at is null)";
    Ok(Samples {
        names: column(
            conn,
            "select name from patients where practice_id = $1 and deleted_at is null
              order by md5(id::text) limit 500",
        )
        .await?,
        surnames: column(
            conn,
            &format!("select c.family_name {owners} order by md5(c.id::text) limit 500"),
        )
        .await?,
        mobiles: column(
            conn,
            &format!(
                "select c.mobile {owners} and c.mobile is not null order by md5(c.id::text) limit 500"
            ),
        )
        .await?,
        chips: column(
            conn,
            "select microchip from patients where practice_id = $1 and deleted_at is null
              and microchip is not null order by md5(id::text) limit 500",
        )
        .await?,
    })
}

/// One search through the store as the practice admin, timed from the call to its
/// answer (the transaction is opened before and closed after the clock).
async fn search(db: &Db, principal: &Principal, query: &Query) -> Result<Timed, String> {
    let mut tx = db
        .begin(principal, &RequestMeta::system("bench-search"))
        .await
        .map_err(|e| format!("beginning: {e}"))?;
    let started = Instant::now();
    let page = patients::search(&mut tx, Some(&query.text), PAGE, None)
        .await
        .map_err(|e| format!("searching {:?}: {e}", query.text))?;
    let elapsed = started.elapsed();
    tx.rollback()
        .await
        .map_err(|e| format!("ending the search: {e}"))?;
    Ok(Timed {
        kind: query.kind,
        elapsed,
        rows: page.items.len(),
    })
}

/// Zeroes the database's statistics once no application connection is left, so what
/// they count next is the timed searches.
async fn reset_statistics(conn: &mut PgConnection) -> Result<(), String> {
    wait_for_app_backends(conn).await?;
    sqlx::raw_sql("select pg_stat_reset()")
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| format!("resetting the statistics (superuser only): {e}"))
}

/// Waits until the application's connections have gone: a backend hands its
/// statistics over when it exits. The pools are closed by then; a connection handed
/// back to its pool just as the pool closed can stay open, idle and orphaned, so after
/// a grace second such idle ones are ended (which flushes their statistics too).
async fn wait_for_app_backends(conn: &mut PgConnection) -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let mut ended_orphans = false;
    loop {
        if !ended_orphans && started.elapsed() > Duration::from_secs(1) {
            sqlx::query(
                "select pg_terminate_backend(pid) from pg_stat_activity
                  where datname = current_database() and usename = $1 and state = 'idle'",
            )
            .bind(paddock_store::APP_ROLE)
            .execute(&mut *conn)
            .await
            .map_err(|e| format!("ending orphaned connections: {e}"))?;
            ended_orphans = true;
        }
        let left: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
              where datname = current_database() and usename = $1",
        )
        .bind(paddock_store::APP_ROLE)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("watching the connections: {e}"))?;
        if left == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            let left: Vec<(i32, Option<String>, Option<String>)> = sqlx::query_as(
                "select pid, state, left(query, 80) from pg_stat_activity
                  where datname = current_database() and usename = $1",
            )
            .bind(paddock_store::APP_ROLE)
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
            return Err(format!(
                "application connections did not close within 30 s: {left:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sequential and index scans of the searched tables since the reset.
async fn read_statistics(conn: &mut PgConnection) -> Result<Reads, String> {
    wait_for_app_backends(conn).await?;
    let names: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    let tables: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "select relname::text, coalesce(seq_scan, 0), coalesce(seq_tup_read, 0),
                coalesce(idx_scan, 0)
           from pg_stat_user_tables where relname = any($1) order by relname",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| format!("reading table statistics: {e}"))?;
    let indexes: Vec<(String, i64)> = sqlx::query_as(
        "select indexrelname::text, idx_scan from pg_stat_user_indexes
          where relname = any($1) and idx_scan > 0 order by idx_scan desc, indexrelname",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| format!("reading index statistics: {e}"))?;
    Ok(Reads { tables, indexes })
}

/// Runs one name search through the store on a connection of its own, finds the
/// statement the store prepared for it (the newest in `pg_prepared_statements`), and
/// explains that statement's generic plan in a TenantTx of the practice admin: the
/// application role, row-level security in force, the store's own SQL.
async fn explain_store_statement(
    db: &Db,
    principal: &Principal,
    name: &str,
) -> Result<Plan, String> {
    let sql = |what: &'static str| move |e: sqlx::Error| format!("{what}: {e}");
    let mut tx = db
        .begin(principal, &RequestMeta::system("bench-explain"))
        .await
        .map_err(|e| format!("beginning: {e}"))?;
    patients::search(&mut tx, Some(name), PAGE, None)
        .await
        .map_err(|e| format!("searching {name:?}: {e}"))?;
    let (statement_name, statement, parameters): (String, String, i32) = sqlx::query_as(
        "select name, statement, coalesce(array_length(parameter_types, 1), 0)
           from pg_prepared_statements
          where not from_sql and statement ilike '%from patients%'
            and statement not ilike '%pg_prepared_statements%'
          order by prepare_time desc limit 1",
    )
    .fetch_one(tx.conn())
    .await
    .map_err(sql("finding the store's statement"))?;
    sqlx::raw_sql("set local plan_cache_mode = force_generic_plan")
        .execute(tx.conn())
        .await
        .map_err(sql("asking for the generic plan"))?;
    let nulls = vec!["null"; usize::try_from(parameters).unwrap_or(0)].join(", ");
    let arguments = if nulls.is_empty() {
        String::new()
    } else {
        format!("({nulls})")
    };
    // Without ANALYZE nothing runs: the null arguments only let EXECUTE be written.
    let lines: Vec<String> = sqlx::query_scalar(&format!(
        "explain (costs off) execute {statement_name}{arguments}"
    ))
    .fetch_all(tx.conn())
    .await
    .map_err(sql("explaining the store's statement"))?;
    let _ = tx.rollback().await;
    Ok(Plan { statement, lines })
}

/// When and where the benchmark ran.
#[derive(Debug, Clone)]
struct Context {
    machine: Machine,
    revision: String,
    date: String,
}

fn verdict(p99: Option<Duration>, wrong: usize) -> &'static str {
    match p99 {
        Some(p99) if p99 < TARGET_P99 && wrong == 0 => "PASS",
        _ => "FAIL",
    }
}

fn row(label: &str, timed: &[&Timed]) -> String {
    let samples: Vec<Duration> = timed.iter().map(|t| t.elapsed).collect();
    let rows: usize = timed.iter().map(|t| t.rows).sum();
    let full = timed
        .iter()
        .filter(|t| t.rows >= usize::try_from(PAGE).unwrap_or(usize::MAX))
        .count();
    let average = rows as f64 / (timed.len().max(1)) as f64;
    let cells = match Summary::of(&samples) {
        Some(s) => [s.p50, s.p95, s.p99, s.max].map(ms),
        None => ["-"; 4].map(str::to_owned),
    };
    format!(
        "| {label} | {} | {average:.1} | {full} | {} |",
        timed.len(),
        cells.join(" | ")
    )
}

/// `lines` as an indented block (BENCHMARKS.md is markdown).
fn block<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for line in lines {
        let _ = writeln!(out, "    {line}");
    }
    out
}

/// What the timed searches read, per search, as a sentence.
fn describe_reads(reads: Option<&Reads>, searches: usize) -> String {
    let Some(reads) = reads else {
        return "unknown (the statistics could not be read)".to_owned();
    };
    let per = |n: i64| n as f64 / searches.max(1) as f64;
    let tables = reads
        .tables
        .iter()
        .map(|(table, seq, rows, idx)| {
            format!(
                "{table} {:.2} sequential scans ({:.0} rows read) and {:.2} index scans",
                per(*seq),
                per(*rows),
                per(*idx)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let indexes = if reads.indexes.is_empty() {
        "none".to_owned()
    } else {
        reads
            .indexes
            .iter()
            .map(|(index, scans)| format!("`{index}` {:.2}", per(*scans)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("{tables}. Index scans per search by index: {indexes}")
}

fn render(m: &Measurement, options: &Options, context: &Context) -> String {
    let all: Vec<&Timed> = m.timed.iter().collect();
    let overall = Summary::of(&all.iter().map(|t| t.elapsed).collect::<Vec<_>>());
    let p99 = overall.map(|s| s.p99);
    let verdict = verdict(p99, m.wrong);
    let mut table = String::from(
        "| Query | Searches | Patients returned (avg) | Full pages (50) | p50 ms | p95 ms | p99 ms | max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for kind in Kind::ALL {
        let of_kind: Vec<&Timed> = m.timed.iter().filter(|t| t.kind == kind).collect();
        let _ = writeln!(table, "{}", row(kind.label(), &of_kind));
    }
    let _ = writeln!(table, "{}", row("**all**", &all));
    let wrong = if m.wrong == 0 {
        "all right: every name, surname and mobile found its patients, every microchip its one \
         patient, and every no-match search nobody"
            .to_owned()
    } else {
        format!(
            "**{} wrong** (a sampled name, surname or mobile that found nobody, a chip that \
             did not find exactly its patient, or made-up letters that found someone; the \
             run's output lists them)",
            m.wrong
        )
    };
    let whole_tables = match &m.reads {
        Some(reads) if reads.sequential_scans() == 0 => "no".to_owned(),
        Some(reads) => format!(
            "**yes**, {:.2} sequential scans per search",
            reads.sequential_scans() as f64 / m.timed.len().max(1) as f64
        ),
        None => "unknown".to_owned(),
    };
    let plan_tables = match m.plan.sequential_tables().as_slice() {
        [] => "no sequential scan of patients, clients or owner links".to_owned(),
        tables => format!(
            "**sequential scans** of {}. Under row-level security PostgreSQL applies a \
             condition of the query that is not leakproof (`LIKE`, `lower()` of a column, \
             the trigram operators) only after the tenant policy, so such a condition \
             can never drive an index scan, whatever the costs (not even with \
             `enable_seqscan = off`); only leakproof comparisons (`=`, `<`, `>` on plain \
             values) can",
            tables.join(", ")
        ),
    };
    format!(
        "{HEADING}

What it measures: the latency of `paddock_store::clinical::patients::search` (the patient list's \
search box: a patient's name, a microchip, or an owner's name, email or phone) in a \
practice with {patients} patients, {clients} clients and their owner links, as the \
application role through the store's `TenantTx` (`Db::begin` for the practice admin's \
principal, as a request handler opens it), one search at a time on one connection, \
first page of {page}. The data is bulk-inserted by the superuser with `generate_series` \
(common and composed pet names and British surnames, UK mobiles, a landline for three \
clients in ten, nine patients in ten chipped, one row in fifty soft-deleted, one patient \
in ten with a second owner; triggers skipped for the load, generated search columns \
computed), next to a second practice of {other} patients, then `ANALYZE`. After {warm} \
untimed searches, {searches} searches in a shuffled mix of what a receptionist types: 40% \
the first three to six letters of a patient's name, 20% an owner's surname, 15% an \
owner's mobile as people say it (`07700 900123`), 15% a whole microchip, 10% letters \
nobody's name has; names, surnames and mobiles are sampled from live patients and their \
owners, so each must find somebody. Each search is timed from the call to its answer, \
the transaction opened before and closed after the clock; percentiles are nearest-rank. \
What the searches read comes from the server's statistics (`pg_stat_user_tables` and \
`pg_stat_user_indexes`, reset before the timed searches, read after their connection \
closed), whatever SQL the store runs. Client (release build of xtask and the store) and \
server share the machine's cores.

Reproduce with `cargo xtask bench patient-search [--patients P] [--clients C] [--searches S]` \
(it builds and runs xtask in release mode; with `DATABASE_URL` set to an admin URL it uses a \
scratch database on that server, else a private cluster), which rewrites this section.

- Date: {date}
- Machine: {machine}
- Database: {server}
- Code: {revision}
- Searched practice: {c_rows} clients, {p_rows} patients, {o_rows} owner links (live and \
soft-deleted); clients, patients and owner links with their indexes: {size}
- Load: {load:.1} s; `ANALYZE`: {analyze:.1} s
- Whole-machine CPU busy just before the timed searches, with this benchmark idle \
(other processes, the server's background work): {others}
- Answers: {wrong}
- p99 over all {searches} searches: **{p99} ms**; target p99 < {target} ms: **{verdict}**
- Whole tables read by the searches (as the application role, row-level security in \
force): {whole_tables}

{table}
Read per search: {reads}.

The store's statement for a name search (`{name}`), found in `pg_prepared_statements` \
after the search and explained as the application role in a `TenantTx`, as its generic \
plan (built without parameter values; PostgreSQL may plan particular values otherwise): \
{plan_tables}.

{plan}
The statement:

{statement}",
        patients = options.patients,
        clients = options.clients,
        page = PAGE,
        other = m.other_patients,
        warm = WARM_UP,
        searches = m.timed.len(),
        date = context.date,
        machine = context.machine,
        server = m.server,
        revision = context.revision,
        c_rows = m.rows.0,
        p_rows = m.rows.1,
        o_rows = m.rows.2,
        size = m.size,
        load = m.load.as_secs_f64(),
        analyze = m.analyze.as_secs_f64(),
        others = m
            .others_busy
            .map_or_else(|| "unknown".to_owned(), |b| format!("{:.0}%", b * 100.0)),
        p99 = p99.map_or_else(|| "-".to_owned(), ms),
        target = TARGET_P99.as_millis(),
        reads = describe_reads(m.reads.as_ref(), m.timed.len()),
        name = m.explained,
        plan = block(m.plan.lines.iter().map(String::as_str)),
        statement = block(m.plan.statement.lines().map(str::trim_end)),
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
                "--patients",
                "5000",
                "--clients=3000",
                "--searches",
                "800"
            ]))
            .unwrap(),
            Options {
                patients: 5_000,
                clients: 3_000,
                searches: 800
            }
        );
        for bad in [
            &["--patients", "10"][..],
            &["--searches", "499"],
            &["--clients"],
            &["--seconds", "5"],
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn shares_add_up_to_the_total() {
        for total in [500, 600, 777] {
            let sum: usize = Kind::ALL.iter().map(|k| share(*k, total)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(share(Kind::NamePrefix, 600), 240);
        assert_eq!(share(Kind::Surname, 600), 120);
        assert_eq!(share(Kind::Phone, 600), 90);
        assert_eq!(share(Kind::Microchip, 600), 90);
        assert_eq!(share(Kind::NoMatch, 600), 60);
    }

    #[test]
    fn queries_are_deterministic_and_of_the_asked_kinds() {
        let samples = Samples {
            names: vec!["Biscuit".into(), "Bella".into()],
            surnames: vec!["O'Brien".into()],
            mobiles: vec!["+447700900123".into()],
            chips: vec!["826100000007919".into()],
        };
        let a = queries(&samples, 500, &mut Xorshift::new(7));
        let b = queries(&samples, 500, &mut Xorshift::new(7));
        assert_eq!(a, b);
        assert_eq!(a.len(), 500);
        for query in &a {
            match query.kind {
                Kind::NamePrefix => {
                    assert!((3..=6).contains(&query.text.chars().count()), "{query:?}");
                    assert!(
                        "Biscuit".starts_with(&query.text) || "Bella".starts_with(&query.text),
                        "{query:?}"
                    );
                }
                Kind::Surname => assert_eq!(query.text, "O'Brien"),
                Kind::Phone => assert_eq!(query.text, "07700 900123"),
                Kind::Microchip => assert_eq!(query.text, "826100000007919"),
                Kind::NoMatch => assert!(query.text.len() >= 3),
            }
        }
        // Shuffled: the first ten are not all of one kind.
        assert!(a.iter().take(10).any(|q| q.kind != a[0].kind));
    }

    #[test]
    fn prefixes_and_national_numbers() {
        assert_eq!(prefix("Zoë-Bramble", 3), "Zoë");
        assert_eq!(prefix("Bo", 4), "Bo");
        assert_eq!(national("+447700900123"), "07700 900123");
        assert_eq!(national("+33612345678"), "+33612345678");
    }

    #[test]
    fn right_answers_by_kind() {
        assert!(Kind::NamePrefix.answered_right(3));
        assert!(!Kind::Phone.answered_right(0));
        assert!(Kind::Microchip.answered_right(1));
        assert!(!Kind::Microchip.answered_right(2));
        assert!(Kind::NoMatch.answered_right(0));
        assert!(!Kind::NoMatch.answered_right(1));
    }

    #[test]
    fn chips_in_the_bulk_insert_are_valid_iso_11784_numbers() {
        for g in [1u64, 99_999, 5_000_000] {
            let chip = format!("826{:012}", 100_000_000_000 + g * 7919);
            assert!(
                paddock_domain::Microchip::parse("microchip", &chip).is_ok(),
                "{chip}"
            );
        }
    }

    #[test]
    fn plans_name_the_tables_they_read_whole() {
        let plan = Plan {
            statement: String::new(),
            lines: vec![
                "->  Seq Scan on patients p".into(),
                "->  Index Scan using clients_pkey on clients c".into(),
                "->  Seq Scan on patient_owners_archive x".into(),
            ],
        };
        assert_eq!(plan.sequential_tables(), ["patients"]);
    }

    fn measurement(reads: Option<Reads>, wrong: usize) -> Measurement {
        let timed = |kind, ms, rows| Timed {
            kind,
            elapsed: Duration::from_millis(ms),
            rows,
        };
        Measurement {
            server: ServerInfo {
                kind: "a private cluster started for the run",
                version: "PostgreSQL 15.20".into(),
                settings: "fsync=on".into(),
            },
            rows: (70_000, 100_000, 110_000),
            other_patients: 10_000,
            size: "121 MB".into(),
            load: Duration::from_secs(7),
            analyze: Duration::from_millis(600),
            timed: vec![
                timed(Kind::NamePrefix, 8, 50),
                timed(Kind::NamePrefix, 12, 50),
                timed(Kind::Microchip, 2, 1),
                timed(Kind::NoMatch, 5, 0),
            ],
            wrong,
            others_busy: Some(0.25),
            reads,
            explained: "Fud".into(),
            plan: Plan {
                statement: "select p.id\n  from patients p".into(),
                lines: vec![
                    "Limit".into(),
                    "  ->  Index Scan using patients_pkey on patients p".into(),
                ],
            },
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
            date: "2026-11-28 06:00 UTC".into(),
        }
    }

    #[test]
    fn renders_the_section() {
        let reads = Reads {
            tables: vec![("clients".into(), 0, 0, 8), ("patients".into(), 0, 0, 12)],
            indexes: vec![("patients_pkey".into(), 8)],
        };
        let text = render(
            &measurement(Some(reads), 0),
            &Options::default(),
            &context(),
        );
        assert!(text.starts_with("## Patient search\n"), "{text}");
        assert!(
            text.contains("p99 over all 4 searches: **12.0 ms**; target p99 < 100 ms: **PASS**"),
            "{text}"
        );
        assert!(
            text.contains(
                "| start of a patient's name (3-6 letters) | 2 | 50.0 | 2 | 8.00 | 12.0 | 12.0 | 12.0 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("row-level security in force): no\n"),
            "{text}"
        );
        assert!(
            text.contains("patients 0.00 sequential scans (0 rows read) and 3.00 index scans"),
            "{text}"
        );
        assert!(text.contains("`patients_pkey` 2.00"), "{text}");
        assert!(
            text.contains(": no sequential scan of patients, clients or owner links."),
            "{text}"
        );
        assert!(
            text.contains("(other processes, the server's background work): 25%"),
            "{text}"
        );
        assert!(
            text.contains("    select p.id\n      from patients p\n"),
            "{text}"
        );
    }

    #[test]
    fn whole_table_reads_and_wrong_answers_are_reported() {
        let reads = Reads {
            tables: vec![("patients".into(), 4, 400_000, 0)],
            indexes: Vec::new(),
        };
        let text = render(
            &measurement(Some(reads), 1),
            &Options::default(),
            &context(),
        );
        assert!(text.contains("**FAIL**"), "{text}");
        assert!(text.contains("**1 wrong**"), "{text}");
        assert!(
            text.contains("**yes**, 1.00 sequential scans per search"),
            "{text}"
        );
        assert!(
            text.contains("Index scans per search by index: none"),
            "{text}"
        );
        let unknown = render(&measurement(None, 0), &Options::default(), &context());
        assert!(unknown.contains("force): unknown"), "{unknown}");
    }

    #[test]
    fn the_verdict_needs_a_fast_p99_and_right_answers() {
        assert_eq!(verdict(Some(Duration::from_millis(40)), 0), "PASS");
        assert_eq!(verdict(Some(Duration::from_millis(100)), 0), "FAIL");
        assert_eq!(verdict(Some(Duration::from_millis(40)), 1), "FAIL");
        assert_eq!(verdict(None, 0), "FAIL");
    }
}
