//! `paddock audit verify|checkpoint|export` as scripts run them: the real binary
//! against a two-practice world, its exit codes and its JSON, CSV and messages.
//!
//! Tampering is what a rogue superuser would do: a superuser connection with the
//! append-only trigger switched off for that session (`session_replication_role =
//! replica`). The world itself is built through public functions only.

use crate::process::{Output, TempDir, paddock, run, superuser};
use crate::world::{World, two_practices};
use paddock_domain::PracticeId;
use paddock_test_db::TestDb;
use serde_json::Value;
use sqlx::PgConnection;
use std::collections::BTreeSet;
use std::path::Path;
use uuid::Uuid;

/// Runs `paddock audit <args>` against `db`, with keys under `data_dir`.
fn audit(db: &TestDb, data_dir: &Path, args: &[&str]) -> Output {
    run(paddock()
        .arg("audit")
        .args(args)
        .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url())
        .env("PADDOCK_DATA_DIR", data_dir))
}

/// stdout must be exactly one JSON value on one line.
fn single_json(output: &Output) -> Value {
    let lines: Vec<&str> = output
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "stdout must be one line of JSON: {output}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {output}"))
}

/// The report's entry for `practice`.
fn entry(report: &Value, practice: PracticeId) -> Value {
    report["practices"]
        .as_array()
        .unwrap_or_else(|| panic!("practices must be an array: {report}"))
        .iter()
        .find(|p| p["practice_id"] == practice.to_string())
        .unwrap_or_else(|| panic!("no entry for {practice}: {report}"))
        .clone()
}

/// Asserts that verification failed at `seq` of practice A for `reason`, and that
/// practice B, untouched, still verifies.
fn assert_broken(output: &Output, world: &World, seq: i64, reason: &str) {
    assert_eq!(output.code(), 1, "a broken chain exits 1: {output}");
    let report = single_json(output);
    assert_eq!(report["status"], "broken", "{output}");
    let a = entry(&report, world.a.id);
    assert_eq!(a["status"], "broken", "{output}");
    assert_eq!(a["broken"]["seq"], seq, "{output}");
    assert_eq!(a["broken"]["reason"], reason, "{output}");
    assert!(
        a["broken"]["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{output}"
    );
    let b = entry(&report, world.b.id);
    assert_eq!(b["status"], "ok", "{output}");
    assert!(b["broken"].is_null(), "{output}");
    let line = format!("practice {}: BROKEN at seq {seq} ({reason})", world.a.id);
    assert!(output.stderr.contains(&line), "stderr names it: {output}");
}

/// A superuser session allowed to change audit rows (the append-only trigger off).
async fn tamperer(db: &TestDb) -> PgConnection {
    let mut conn = superuser(db).await;
    sqlx::query("set session_replication_role = replica")
        .execute(&mut conn)
        .await
        .expect("switch the append-only trigger off for this session");
    conn
}

/// Runs `sql` with `$1` bound to `practice`'s id; returns the rows affected.
async fn tamper(conn: &mut PgConnection, sql: &str, practice: PracticeId) -> u64 {
    sqlx::query(sql)
        .bind(practice.as_uuid())
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows_affected()
}

/// The highest sealed sequence number of `practice`.
async fn last_seq(db: &TestDb, practice: PracticeId) -> i64 {
    sqlx::query_scalar("select max(seq) from audit_events where practice_id = $1")
        .bind(practice.as_uuid())
        .fetch_one(&mut superuser(db).await)
        .await
        .expect("read the head")
}

/// The ids of `practice`'s events, as the database holds them.
async fn event_ids(db: &TestDb, practice: PracticeId) -> BTreeSet<Uuid> {
    sqlx::query_scalar::<_, Uuid>("select id from audit_events where practice_id = $1")
        .bind(practice.as_uuid())
        .fetch_all(&mut superuser(db).await)
        .await
        .expect("list events")
        .into_iter()
        .collect()
}

/// A world whose events are all sealed, with at least five events in practice A.
async fn sealed_world() -> World {
    let world = two_practices().await;
    world.admin.seal_audit().await.expect("seal");
    assert!(
        last_seq(&world.db, world.a.id).await >= 5,
        "the fixture has enough events"
    );
    world
}

#[tokio::test]
async fn verify_passes_on_a_fresh_two_practice_world_with_every_practice_listed() {
    let world = two_practices().await;
    let dir = TempDir::new("audit-verify");
    let output = audit(&world.db, dir.path(), &["verify"]);
    assert_eq!(output.code(), 0, "{output}");
    let report = single_json(&output);
    assert_eq!(report["status"], "ok", "{output}");
    assert!(report["checkpoint"].is_null(), "{output}");
    assert_eq!(report["practices"].as_array().map(Vec::len), Some(2));
    for practice in [world.a.id, world.b.id] {
        let p = entry(&report, practice);
        assert_eq!(p["status"], "ok", "{output}");
        assert!(p["broken"].is_null(), "{output}");
        let events = p["events"].as_i64().unwrap_or_default();
        assert!(events > 0, "{output}");
        // verify seals first: nothing is left pending, every event is in the chain.
        assert_eq!(p["pending"], 0, "{output}");
        assert_eq!(p["head_seq"], events, "{output}");
        assert_eq!(
            p["head_seq"].as_i64(),
            Some(last_seq(&world.db, practice).await)
        );
        let hash = p["head_hash"].as_str().unwrap_or_default();
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{output}"
        );
        let line = format!("practice {practice}: OK, {events} events, head {events}");
        assert!(output.stderr.contains(&line), "{output}");
    }

    let one = audit(
        &world.db,
        dir.path(),
        &["verify", "--practice", &world.b.id.to_string()],
    );
    assert_eq!(one.code(), 0, "{one}");
    let report = single_json(&one);
    assert_eq!(report["practices"].as_array().map(Vec::len), Some(1));
    entry(&report, world.b.id);
}

#[tokio::test]
async fn verify_of_a_practice_without_events_is_an_error_not_a_pass() {
    let world = two_practices().await;
    let dir = TempDir::new("audit-verify");
    let unknown = Uuid::new_v4().to_string();
    for args in [
        ["verify", "--practice", unknown.as_str()].as_slice(),
        [
            "export",
            "--practice",
            unknown.as_str(),
            "--format",
            "jsonl",
        ]
        .as_slice(),
    ] {
        let output = audit(&world.db, dir.path(), args);
        assert_eq!(output.code(), 1, "{args:?}: {output}");
        assert!(output.stdout.is_empty(), "{args:?}: {output}");
        assert!(output.stderr.contains("paddock: error:"), "{output}");
        assert!(output.stderr.contains("there is no practice"), "{output}");
        assert!(output.stderr.contains(&unknown), "{output}");
    }
}

#[tokio::test]
async fn verify_names_an_altered_event_with_reason_altered() {
    let world = sealed_world().await;
    let mut conn = tamperer(&world.db).await;
    let changed = tamper(
        &mut conn,
        r#"update audit_events set changes = '{"name": ["Rex", "Max"]}'
            where practice_id = $1 and seq = 3"#,
        world.a.id,
    )
    .await;
    assert_eq!(changed, 1);

    let dir = TempDir::new("audit-verify");
    let output = audit(&world.db, dir.path(), &["verify"]);
    assert_broken(&output, &world, 3, "altered");
    let a = entry(&single_json(&output), world.a.id);
    assert_eq!(
        a["events"], 2,
        "the events before it still verify: {output}"
    );
    assert_eq!(a["head_seq"], 2, "{output}");
}

#[tokio::test]
async fn verify_names_a_deleted_middle_event_with_reason_missing() {
    let world = sealed_world().await;
    let mut conn = tamperer(&world.db).await;
    let deleted = tamper(
        &mut conn,
        "delete from audit_events where practice_id = $1 and seq = 3",
        world.a.id,
    )
    .await;
    assert_eq!(deleted, 1);

    let dir = TempDir::new("audit-verify");
    assert_broken(
        &audit(&world.db, dir.path(), &["verify"]),
        &world,
        3,
        "missing",
    );
}

#[tokio::test]
async fn verify_names_two_swapped_events_with_reason_reordered_at_the_lower_seq() {
    let world = sealed_world().await;
    let mut conn = tamperer(&world.db).await;
    // (practice_id, seq) is unique: swap through a free number.
    for sql in [
        "update audit_events set seq = 1000000 where practice_id = $1 and seq = 3",
        "update audit_events set seq = 3 where practice_id = $1 and seq = 4",
        "update audit_events set seq = 4 where practice_id = $1 and seq = 1000000",
    ] {
        assert_eq!(tamper(&mut conn, sql, world.a.id).await, 1, "{sql}");
    }

    let dir = TempDir::new("audit-verify");
    assert_broken(
        &audit(&world.db, dir.path(), &["verify"]),
        &world,
        3,
        "reordered",
    );
}

#[tokio::test]
async fn checkpoint_pins_the_heads_and_a_truncated_log_fails_against_it_with_missing() {
    let world = sealed_world().await;
    let dir = TempDir::new("audit-checkpoint");
    let file = dir.path().join("checkpoint.json");
    let file_arg = file.to_str().expect("a UTF-8 path");

    let output = audit(&world.db, dir.path(), &["checkpoint", "--out", file_arg]);
    assert_eq!(output.code(), 0, "{output}");
    assert!(
        output.stdout.is_empty(),
        "--out writes the file only: {output}"
    );
    assert!(
        output
            .stderr
            .contains("generated a new audit checkpoint signing key"),
        "the first checkpoint warns about its new key: {output}"
    );
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read the checkpoint"))
            .expect("the checkpoint is JSON");
    assert_eq!(document["format"], "paddock-audit-checkpoint-v1");
    let jws = document["jws"].as_str().expect("jws");
    assert_eq!(jws.split('.').count(), 3, "a compact JWS: {document}");
    let heads = document["statement"]["heads"].as_array().expect("heads");
    assert_eq!(heads.len(), 2, "{document}");
    let a_head = last_seq(&world.db, world.a.id).await;
    let a = heads
        .iter()
        .find(|h| h["practice_id"] == world.a.id.to_string())
        .expect("practice A is pinned");
    assert_eq!(a["seq"], a_head, "{document}");

    // The published key is the one that signed, and is all a JOSE tool needs.
    let jwks = audit(&world.db, dir.path(), &["checkpoint", "--public-key"]);
    assert_eq!(jwks.code(), 0, "{jwks}");
    let keys = single_json(&jwks);
    assert_eq!(keys["keys"][0]["kid"], document["kid"], "{jwks}");
    assert_eq!(keys["keys"][0]["crv"], "Ed25519", "{jwks}");

    let verify = || audit(&world.db, dir.path(), &["verify", "--checkpoint", file_arg]);
    let output = verify();
    assert_eq!(
        output.code(),
        0,
        "an untouched log extends its checkpoint: {output}"
    );
    let report = single_json(&output);
    assert_eq!(report["status"], "ok", "{output}");
    assert_eq!(report["checkpoint"]["practices"], 2, "{output}");

    // Dropping the newest event leaves a consistent chain that ends too early.
    let mut conn = tamperer(&world.db).await;
    let deleted = tamper(
        &mut conn,
        "delete from audit_events where practice_id = $1
            and seq = (select max(seq) from audit_events where practice_id = $1)",
        world.a.id,
    )
    .await;
    assert_eq!(deleted, 1);
    let alone = audit(&world.db, dir.path(), &["verify"]);
    assert_eq!(
        alone.code(),
        0,
        "on its own the shortened chain verifies: {alone}"
    );
    assert_broken(&verify(), &world, a_head, "missing");
}

#[tokio::test]
async fn a_rewritten_and_rechained_log_verifies_alone_but_not_against_the_checkpoint() {
    let world = sealed_world().await;
    let dir = TempDir::new("audit-checkpoint");
    let file = dir.path().join("checkpoint.json");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let output = audit(&world.db, dir.path(), &["checkpoint", "--out", file_arg]);
    assert_eq!(output.code(), 0, "{output}");
    let a_head = last_seq(&world.db, world.a.id).await;

    // A superuser rewrites an early event and recomputes every later hash.
    let mut conn = tamperer(&world.db).await;
    tamper(
        &mut conn,
        r#"update audit_events set changes = '{"forged": true}'
            where practice_id = $1 and seq = 2"#,
        world.a.id,
    )
    .await;
    let rechain = format!(
        "do $$
         declare
             e audit_events;
             prev bytea := decode(repeat('00', 32), 'hex');
             h bytea;
         begin
             for e in select * from audit_events
                       where practice_id = '{}' and seq is not null order by seq
             loop
                 h := sha256(prev || audit_canonical(e));
                 update audit_events set prev_hash = prev, hash = h
                  where practice_id = e.practice_id and id = e.id;
                 prev := h;
             end loop;
         end $$",
        world.a.id
    );
    sqlx::raw_sql(&rechain)
        .execute(&mut conn)
        .await
        .expect("re-chain practice A");

    let alone = audit(&world.db, dir.path(), &["verify"]);
    assert_eq!(
        alone.code(),
        0,
        "a consistent rewrite verifies alone: {alone}"
    );
    let output = audit(&world.db, dir.path(), &["verify", "--checkpoint", file_arg]);
    assert_broken(&output, &world, a_head, "altered");
}

#[tokio::test]
async fn a_checkpoint_with_a_flipped_signature_byte_or_an_edited_copy_or_a_foreign_key_is_refused()
{
    let world = sealed_world().await;
    let dir = TempDir::new("audit-checkpoint");
    let output = audit(&world.db, dir.path(), &["checkpoint"]);
    assert_eq!(output.code(), 0, "{output}");
    let document = single_json(&output);
    let jws = document["jws"].as_str().expect("jws").to_owned();

    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).expect("write a checkpoint");
        path.to_str().expect("a UTF-8 path").to_owned()
    };
    let refused = |path: &str, data_dir: &Path, why: &str| {
        let output = audit(&world.db, data_dir, &["verify", "--checkpoint", path]);
        assert_eq!(output.code(), 1, "{why}: {output}");
        assert!(output.stdout.is_empty(), "{why}: no report: {output}");
        assert!(output.stderr.contains("paddock: error:"), "{why}: {output}");
        output
    };

    // The untouched document, and the bare JWS, verify.
    let good = write("good.json", &document);
    let output = audit(&world.db, dir.path(), &["verify", "--checkpoint", &good]);
    assert_eq!(output.code(), 0, "{output}");
    let bare = dir.path().join("bare.jws");
    std::fs::write(&bare, &jws).expect("write the bare JWS");
    let output = audit(
        &world.db,
        dir.path(),
        &["verify", "--checkpoint", bare.to_str().expect("UTF-8")],
    );
    assert_eq!(output.code(), 0, "{output}");

    // One character in the middle of the signature: one byte with a flipped bit.
    let (signed, signature) = jws.rsplit_once('.').expect("three parts");
    let mut sig: Vec<char> = signature.chars().collect();
    sig[20] = if sig[20] == 'A' { 'B' } else { 'A' };
    let mut forged = document.clone();
    forged["jws"] = Value::from(format!("{signed}.{}", sig.iter().collect::<String>()));
    let output = refused(&write("flipped.json", &forged), dir.path(), "flipped byte");
    assert!(output.stderr.contains("signature"), "{output}");

    // Editing the readable copy, even consistently with nothing else, is caught.
    let mut edited = document.clone();
    edited["statement"]["heads"][0]["seq"] = Value::from(1);
    let output = refused(&write("edited.json", &edited), dir.path(), "edited copy");
    assert!(output.stderr.contains("readable statement"), "{output}");

    // Another installation's keys (or none) cannot vouch for it.
    let other = TempDir::new("audit-other-keys");
    let output = audit(&world.db, other.path(), &["checkpoint", "--public-key"]);
    assert_eq!(output.code(), 0, "{output}");
    let output = refused(&good, other.path(), "unknown key");
    assert!(output.stderr.contains("unknown key"), "{output}");
    let empty = TempDir::new("audit-no-keys");
    let output = refused(&good, empty.path(), "no keys");
    assert!(output.stderr.contains("no signing key"), "{output}");
    assert!(
        !empty.path().join("keys").exists(),
        "verifying never generates a key"
    );
}

#[tokio::test]
async fn checkpoint_refuses_to_sign_over_a_broken_chain() {
    let world = sealed_world().await;
    let mut conn = tamperer(&world.db).await;
    tamper(
        &mut conn,
        "delete from audit_events where practice_id = $1 and seq = 2",
        world.a.id,
    )
    .await;
    let dir = TempDir::new("audit-checkpoint");
    let file = dir.path().join("checkpoint.json");
    let output = audit(
        &world.db,
        dir.path(),
        &["checkpoint", "--out", file.to_str().expect("UTF-8")],
    );
    assert_eq!(output.code(), 1, "{output}");
    assert!(output.stdout.is_empty(), "{output}");
    assert!(!file.exists(), "nothing is signed: {output}");
    assert!(
        output.stderr.contains("BROKEN at seq 2 (missing)"),
        "{output}"
    );
}

#[tokio::test]
async fn export_jsonl_streams_exactly_the_practices_events_and_records_the_export() {
    let world = two_practices().await;
    let dir = TempDir::new("audit-export");
    let expected = event_ids(&world.db, world.a.id).await;
    let a = world.a.id.to_string();

    let output = audit(
        &world.db,
        dir.path(),
        &["export", "--practice", &a, "--format", "jsonl"],
    );
    assert_eq!(output.code(), 0, "{output}");
    let records: Vec<Value> = output
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(records.len(), expected.len(), "{output}");
    let ids: BTreeSet<Uuid> = records
        .iter()
        .map(|r| r["id"].as_str().and_then(|s| s.parse().ok()).expect("id"))
        .collect();
    assert_eq!(ids, expected, "exactly practice A's events");
    assert!(
        event_ids(&world.db, world.b.id).await.is_disjoint(&ids),
        "none of practice B's"
    );
    for key in [
        "seq",
        "occurred_at",
        "actor_kind",
        "action",
        "changes",
        "hash",
    ] {
        assert!(records[0].get(key).is_some(), "{key}: {}", records[0]);
    }
    assert!(
        output
            .stderr
            .contains(&format!("exported {} event(s)", expected.len())),
        "{output}"
    );

    // The export is itself in the trail, and exports are ordered by the chain.
    let again = audit(&world.db, dir.path(), &["export", "--practice", &a]);
    assert_eq!(again.code(), 0, "{again}");
    let records: Vec<Value> = again
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(records.len(), expected.len() + 1, "{again}");
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "export" && r["entity_type"] == "audit_log"),
        "{again}"
    );
    let seqs: Vec<i64> = records.iter().filter_map(|r| r["seq"].as_i64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "chain order: {seqs:?}"
    );
}

/// Splits RFC 4180 CSV into records of fields (quoted fields may hold anything).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "CSV ends with a record"
    );
    records
}

#[tokio::test]
async fn export_csv_has_a_header_and_one_properly_quoted_record_per_event() {
    let world = two_practices().await;
    let dir = TempDir::new("audit-export");
    let expected = event_ids(&world.db, world.a.id).await;
    let output = audit(
        &world.db,
        dir.path(),
        &[
            "export",
            "--practice",
            &world.a.id.to_string(),
            "--format",
            "csv",
        ],
    );
    assert_eq!(output.code(), 0, "{output}");
    let records = parse_csv(&output.stdout);
    let header = [
        "seq",
        "id",
        "occurred_at",
        "actor_kind",
        "actor_user_id",
        "actor_name",
        "actor_role",
        "action",
        "entity_type",
        "entity_id",
        "changes",
        "ip",
        "user_agent",
        "request_id",
        "hash",
    ];
    assert_eq!(records[0], header, "{output}");
    let rows = &records[1..];
    assert_eq!(rows.len(), expected.len(), "{output}");
    assert!(rows.iter().all(|r| r.len() == header.len()), "{output}");
    let ids: BTreeSet<Uuid> = rows.iter().map(|r| r[1].parse().expect("id")).collect();
    assert_eq!(ids, expected);
    // The changes column is the JSON text, intact through the quoting.
    let with_changes: Vec<&Vec<String>> = rows.iter().filter(|r| !r[10].is_empty()).collect();
    assert!(!with_changes.is_empty(), "{output}");
    for row in with_changes {
        let changes: Value = serde_json::from_str(&row[10])
            .unwrap_or_else(|e| panic!("changes is not JSON ({e}): {row:?}"));
        assert!(changes.is_object(), "{row:?}");
    }
}

#[tokio::test]
async fn export_time_bounds_take_rfc_3339_or_dates_and_bad_ones_are_usage_errors() {
    let world = two_practices().await;
    let dir = TempDir::new("audit-export");
    let a = world.a.id.to_string();
    let all = event_ids(&world.db, world.a.id).await.len();
    let count = |args: &[&str]| {
        let mut full = vec!["export", "--practice", a.as_str()];
        full.extend_from_slice(args);
        let output = audit(&world.db, dir.path(), &full);
        assert_eq!(output.code(), 0, "{args:?}: {output}");
        output.stdout.lines().count()
    };
    // Each export adds its own event, counted by the next one.
    assert_eq!(count(&["--since", "2000-01-01"]), all);
    assert_eq!(count(&["--until", "2000-01-01T00:00:00Z"]), 0);
    assert_eq!(count(&["--since", "2999-01-01"]), 0);
    assert_eq!(
        count(&[
            "--since",
            "2000-01-01T00:00:00+02:00",
            "--until",
            "2999-12-31"
        ]),
        all + 3
    );

    for bad in [
        ["--since", "yesterday"].as_slice(),
        ["--until", "2026-02-30"].as_slice(),
        ["--format", "xml"].as_slice(),
    ] {
        let mut full = vec!["export", "--practice", a.as_str()];
        full.extend_from_slice(bad);
        let output = audit(&world.db, dir.path(), &full);
        assert_eq!(output.code(), 2, "{bad:?}: {output}");
        assert!(output.stdout.is_empty(), "{output}");
    }
    let output = audit(
        &world.db,
        dir.path(),
        &[
            "export",
            "--practice",
            &a,
            "--since",
            "2026-02-01",
            "--until",
            "2026-01-01",
        ],
    );
    assert_eq!(output.code(), 1, "{output}");
    assert!(output.stderr.contains("--since"), "{output}");
}

#[test]
fn audit_commands_refuse_to_run_without_the_admin_database_url() {
    let dir = TempDir::new("audit-no-url");
    let practice = Uuid::new_v4().to_string();
    let commands: [&[&str]; 3] = [
        &["verify"],
        &["checkpoint"],
        &["export", "--practice", &practice],
    ];
    for args in commands {
        let output = run(paddock()
            .arg("audit")
            .args(args)
            .env("DATABASE_URL", "postgres://paddock_app@127.0.0.1:1/nowhere")
            .env("PADDOCK_DATA_DIR", dir.path()));
        assert_eq!(output.code(), 1, "{args:?}: {output}");
        assert!(
            output.stderr.contains("PADDOCK_ADMIN_DATABASE_URL"),
            "{args:?}: {output}"
        );
        assert!(output.stdout.is_empty(), "{args:?}: {output}");
    }
}

#[tokio::test]
async fn purge_reports_every_practice_and_removes_nothing_within_the_retention_period() {
    let world = sealed_world().await;
    let dir = TempDir::new("audit-purge");
    let before = event_ids(&world.db, world.a.id).await;
    let output = audit(&world.db, dir.path(), &["purge"]);
    assert_eq!(output.code(), 0, "{output}");
    let report = single_json(&output);
    for practice in [world.a.id, world.b.id] {
        let entry = entry(&report, practice);
        assert_eq!(entry["purged"], 0, "{output}");
    }
    assert_eq!(event_ids(&world.db, world.a.id).await, before);
    let unknown = Uuid::new_v4().to_string();
    let output = audit(&world.db, dir.path(), &["purge", "--practice", &unknown]);
    assert_eq!(output.code(), 1, "{output}");
    assert!(output.stderr.contains("there is no practice"), "{output}");
}
