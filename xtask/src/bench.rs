//! `cargo xtask bench <name>`: benchmarks against release builds.
//!
//! Benchmarks are measurements, not tests: they assert nothing about timings, they
//! print their figures and record them in BENCHMARKS.md at the workspace root.
//! `login-flood` and `request-path` drive a release build of the server; the
//! database benchmarks (`audit-write`, `audit-verify`, `patient-search`) run the
//! store's code in this process, so when xtask itself is a debug build they build
//! xtask in release mode and run that, as does `request-path`, whose load at full
//! speed must not be limited by a debug build of its client.

mod audit_verify;
mod audit_write;
mod demo;
mod http;
mod login_flood;
mod options;
mod patient_search;
mod process;
mod report;
mod request_path;
mod scratch;

use std::env;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The benchmarks and their options.
pub const USAGE: &str = "\
  bench login-flood [--seconds N] [--flood-concurrency C] [--probe-rate R]
         builds the release binary, starts `paddock demo` on 127.0.0.1, and measures
         GET /healthz and GET /api/v1/me latency (R requests/s each, default 20) for
         N seconds (default 20) without load, then for N seconds while C concurrent
         connections (default 64) flood POST /api/v1/auth/login with wrong passwords;
         prints the figures and records them in BENCHMARKS.md.
  bench request-path [--seconds N] [--concurrency C] [--label TEXT]
         builds the release binary, starts `paddock demo`, signs in as the demo vet
         and drives GET /api/v1/patients/{id} with a bearer token over C keep-alive
         connections (default 10) for N seconds (default 20); counts the statements
         one GET runs (the demo PostgreSQL's statement log); then runs pgbench with
         the same tenant transaction (BEGIN, set_config, the store's SELECT, COMMIT)
         on the same PostgreSQL as the application role, same C, same N; records a
         row labelled TEXT (default: the commit) in BENCHMARKS.md, keeping the rows
         of other labels.
  bench audit-write [--seconds N] [--rounds R] [--connections C]
         write throughput of a single-row tenant update through the store's TenantTx
         with C concurrent app-role connections (default 4): the table's audit trigger
         off, on, and on with the sealer running every 0.5 s; R rounds of each
         (default 3), N seconds each (default 10), interleaved to cancel drift.
  bench audit-verify [--events E] [--runs R]
         bulk-creates E audit events for one practice (default 1000000), seals them
         in batches as the server does, then times the Rust verifier R times
         (default 3) and breaks its time down (server, row transfer, decoding,
         hashing).
  bench patient-search [--patients P] [--clients C] [--searches S]
         bulk-loads one practice with P patients (default 100000) and C clients
         (default 70000) and a second, smaller one, then times S searches (default
         600) of patients::search as the application role: name prefixes,
         surnames, mobiles, microchips, no match; p50/p99/max, the tables and
         indexes the searches read, and the plan of the store's name search.
         These three use a scratch database on the server DATABASE_URL names (an
         admin URL), else on a private PostgreSQL cluster, and record their figures
         in BENCHMARKS.md.";

/// Runs the benchmark named by the first argument.
pub fn run(args: &[String]) -> ExitCode {
    match args.split_first() {
        Some((name, rest)) if name == "login-flood" => login_flood::main(rest),
        Some((name, rest)) if name == "request-path" => {
            in_release(name, rest).unwrap_or_else(|| request_path::main(rest))
        }
        Some((name, rest)) if name == "audit-write" => {
            in_release(name, rest).unwrap_or_else(|| audit_write::main(rest))
        }
        Some((name, rest)) if name == "audit-verify" => {
            in_release(name, rest).unwrap_or_else(|| audit_verify::main(rest))
        }
        Some((name, rest)) if name == "patient-search" => {
            in_release(name, rest).unwrap_or_else(|| patient_search::main(rest))
        }
        _ => {
            eprintln!("usage: cargo xtask bench <name> [options]\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// In a debug build of xtask, builds xtask in release mode and runs `bench <name>
/// <args>` with it, returning its exit code; `None` when this already is an
/// optimised build (the measurement then runs here). Figures of the store's code in
/// a debug build would be meaningless.
fn in_release(name: &str, args: &[String]) -> Option<ExitCode> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let root = workspace_root();
    eprintln!("xtask: building xtask in release mode (cargo build --release -p xtask)");
    let binary = match build_release_binary(&root, "xtask") {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("xtask: bench {name}: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    let status = Command::new(&binary)
        .arg("bench")
        .arg(name)
        .args(args)
        .current_dir(&root)
        .status();
    Some(match status {
        // A signal-killed run has no code; report it as a plain failure.
        Ok(status) => ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1),
        ),
        Err(e) => {
            eprintln!("xtask: running {}: {e}", binary.display());
            ExitCode::FAILURE
        }
    })
}

/// Resolves on SIGINT or SIGTERM, so a benchmark can still clean up after itself.
async fn stop_signal() -> String {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => "interrupted".to_owned(),
            _ = terminate.recv() => "terminated".to_owned(),
        },
        _ => std::future::pending().await,
    }
}

/// Parses a benchmark's options and runs it: exit 2 for bad options (with the usage),
/// 1 when the benchmark fails.
fn entry<O>(
    name: &str,
    args: &[String],
    parse: impl FnOnce(&[String]) -> Result<O, String>,
    run: impl FnOnce(O) -> Result<(), String>,
) -> ExitCode {
    let options = match parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("xtask: {e}\n\nusage:\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: bench {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives directly under it).
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Builds `package`'s binary of the same name in release mode with `$CARGO` and
/// returns its path, as cargo reports it (so a custom target directory works).
fn build_release_binary(root: &Path, package: &str) -> Result<PathBuf, String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .args(["build", "--release", "-p", package])
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("running {}: {e}", cargo.to_string_lossy()))?;
    let mut executable = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let text = |pointer: &str| message.pointer(pointer).and_then(|v| v.as_str());
            let ours = text("/reason") == Some("compiler-artifact")
                && text("/target/name") == Some(package);
            if let Some(path) = text("/executable").filter(|_| ours) {
                executable = Some(PathBuf::from(path));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo build: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo build --release -p {package} failed ({status})"
        ));
    }
    executable.ok_or_else(|| format!("cargo build did not report the {package} executable"))
}
