//! Developer tasks for the Paddock workspace, run as `cargo xtask <task>`.
//!
//! `cargo xtask test` is the project's test command: it runs the workspace
//! tests (with nextest when installed) against `DATABASE_URL`, or, when that
//! is unset, against a private PostgreSQL cluster started for the run and
//! removed afterwards.
//!
//! `cargo xtask bench <name>` runs a benchmark against the release build and
//! records its figures in BENCHMARKS.md (see [`bench`]).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod bench;

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::process::{Command, ExitCode, Stdio};

const USAGE: &str = "\
usage: cargo xtask test [args...]
       cargo xtask bench <name> [options]

  test   run the workspace tests (cargo nextest run, or cargo test without nextest);
         args are passed on, e.g. `cargo xtask test -p pgcluster`. Uses DATABASE_URL
         if set, else a private PostgreSQL cluster for the duration of the run.
";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    match args.next().as_deref().and_then(OsStr::to_str) {
        Some("test") => test(&args.collect::<Vec<_>>()),
        Some("bench") => match args
            .map(OsString::into_string)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(args) => bench::run(&args),
            Err(arg) => {
                eprintln!("xtask: argument is not UTF-8: {}", arg.to_string_lossy());
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}\n{}", bench::USAGE);
            ExitCode::from(2)
        }
    }
}

fn test(extra: &[OsString]) -> ExitCode {
    if env::var_os("DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        return run_tests(extra, None);
    }
    let data_dir = env::temp_dir().join(format!(
        "paddock-test-{}-{}",
        std::process::id(),
        pgcluster::random_hex()
    ));
    let cluster = match pgcluster::Cluster::start(&data_dir) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("xtask: cannot start a private PostgreSQL cluster: {e}");
            let _ = fs::remove_dir_all(&data_dir);
            return ExitCode::FAILURE;
        }
    };
    let url = cluster.admin_url("postgres");
    eprintln!("xtask: DATABASE_URL is unset; using a private PostgreSQL cluster: {url}");
    let code = run_tests(extra, Some(&url));
    if let Err(e) = cluster.stop() {
        eprintln!("xtask: stopping the private cluster: {e}");
    }
    if let Err(e) = fs::remove_dir_all(&data_dir) {
        eprintln!("xtask: removing {}: {e}", data_dir.display());
    }
    code
}

/// Runs the test command, returning its exit code.
fn run_tests(extra: &[OsString], database_url: Option<&str>) -> ExitCode {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let nextest = Command::new(&cargo)
        .args(["nextest", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let mut cmd = Command::new(&cargo);
    if nextest {
        cmd.args(["nextest", "run"]);
    } else {
        cmd.arg("test");
    }
    // cargo lets --workspace override -p, so only add it when no package was chosen.
    if !selects_packages(extra) {
        cmd.arg("--workspace");
    }
    cmd.arg("--no-fail-fast").args(extra);
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    match cmd.status() {
        Ok(status) => {
            // A signal-killed run has no code; report it as a plain failure.
            let code = status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1);
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("xtask: running {}: {e}", cargo.to_string_lossy());
            ExitCode::FAILURE
        }
    }
}

/// Whether cargo arguments (before any `--`) contain `-p`/`--package`.
fn selects_packages(args: &[OsString]) -> bool {
    args.iter()
        .take_while(|arg| arg.as_os_str() != OsStr::new("--"))
        .filter_map(|arg| arg.to_str())
        .any(|a| a.starts_with("-p") || a == "--package" || a.starts_with("--package="))
}
