//! `cargo xtask bench <name>`: benchmarks against a release build of the server.
//!
//! Benchmarks are measurements, not tests: they assert nothing about timings, they
//! print their figures and record them in BENCHMARKS.md at the workspace root.

mod demo;
mod http;
mod login_flood;
mod report;

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
         prints the figures and records them in BENCHMARKS.md.";

/// Runs the benchmark named by the first argument.
pub fn run(args: &[String]) -> ExitCode {
    match args.split_first() {
        Some((name, rest)) if name == "login-flood" => login_flood::main(rest),
        _ => {
            eprintln!("usage: cargo xtask bench <name> [options]\n\n{USAGE}");
            ExitCode::from(2)
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
            let ours =
                message["reason"] == "compiler-artifact" && message["target"]["name"] == package;
            if let Some(path) = message["executable"].as_str().filter(|_| ours) {
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
