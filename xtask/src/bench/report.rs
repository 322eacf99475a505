//! Latency summaries, the machine description, and BENCHMARKS.md sections.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Nearest-rank percentiles and maximum of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Summary {
    /// Summarises `samples` (in any order); `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Self {
            p50: nearest_rank(&sorted, 500)?,
            p95: nearest_rank(&sorted, 950)?,
            p99: nearest_rank(&sorted, 990)?,
            max: *sorted.last()?,
        })
    }
}

/// The nearest-rank percentile of ascending `sorted`, with the percentile in
/// thousandths (990 = p99): the smallest sample with at least that share of the
/// samples at or below it.
pub fn nearest_rank(sorted: &[Duration], per_mille: usize) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (per_mille.min(1000) * n).div_ceil(1000).max(1);
    sorted.get(rank - 1).copied()
}

/// Milliseconds, with two decimals below 10 ms and one above.
pub fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

/// One line of a latency table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was requested, e.g. `GET /healthz`.
    pub endpoint: String,
    /// `baseline` or `flood`.
    pub phase: &'static str,
    /// Requests scheduled.
    pub requests: u64,
    /// Requests that did not get the expected answer (or none in time).
    pub errors: u64,
    /// Their latencies.
    pub summary: Option<Summary>,
}

/// A markdown table of `rows`.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Endpoint | Phase | Requests | Errors | p50 ms | p95 ms | p99 ms | max ms |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let cells = match row.summary {
            Some(s) => [s.p50, s.p95, s.p99, s.max].map(ms),
            None => ["-"; 4].map(str::to_owned),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.endpoint,
            row.phase,
            row.requests,
            row.errors,
            cells.join(" | ")
        );
    }
    out
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Cores this process may use (what `nproc` says, and what the server sizes its
    /// argon2 pool by).
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub model: String,
    /// `MemTotal` from /proc/meminfo, in MiB.
    pub memory_mib: Option<u64>,
}

impl Machine {
    /// Describes this machine.
    pub fn detect() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = proc_field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".into());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = proc_field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib / 1024);
        Self {
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            model,
            memory_mib,
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} cores (nproc), {}", self.cores, self.model)?;
        if let Some(mib) = self.memory_mib {
            write!(f, ", {:.1} GiB RAM", mib as f64 / 1024.0)?;
        }
        Ok(())
    }
}

/// Cumulative CPU time of the whole machine (all processes), from /proc/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent on anything but idle and I/O wait.
    pub busy: u64,
    /// All ticks.
    pub total: u64,
}

impl CpuTimes {
    /// The machine's counters now, if /proc/stat is readable.
    pub fn now() -> Option<Self> {
        Self::parse(&fs::read_to_string("/proc/stat").ok()?)
    }

    /// Parses the aggregate `cpu` line of /proc/stat.
    fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().find(|line| line.starts_with("cpu "))?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal [guest guest_nice, already
        // counted in user and nice].
        let total: u64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
        Some(Self {
            busy: total.checked_sub(idle)?,
            total,
        })
    }

    /// The share of CPU time spent busy between `self` and the later `end`.
    pub fn busy_share(self, end: Self) -> Option<f64> {
        let total = end.total.checked_sub(self.total).filter(|t| *t > 0)?;
        let busy = end.busy.checked_sub(self.busy)?;
        Some(busy as f64 / total as f64)
    }
}

/// The value of the first `name : value` line of a /proc file.
fn proc_field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

/// The commit checked out in `root`, noting uncommitted changes to tracked files.
pub fn git_revision(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|status| !status.is_empty());
            if dirty {
                format!("{commit} with uncommitted changes")
            } else {
                commit
            }
        }
        _ => "unknown revision".into(),
    }
}

/// Puts `section` (starting with its `## heading` line) into the markdown file at
/// `path`, replacing the section with the same heading if there is one, and creating
/// the file with `title` if it does not exist.
/// Prints `section` and records it in BENCHMARKS.md at the workspace `root`.
pub fn record(root: &Path, section: &str) -> Result<(), String> {
    println!("{section}");
    let path = root.join("BENCHMARKS.md");
    write_section(
        &path,
        "# Benchmarks\n\nMeasurements taken with `cargo xtask bench ...`; each section says how to reproduce it.",
        section,
    )
    .map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("xtask: recorded in {}", path.display());
    Ok(())
}

/// Replaces (or appends) `section` in the Markdown file at `path`.
pub fn write_section(path: &Path, title: &str, section: &str) -> io::Result<()> {
    let existing = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => format!("{title}\n"),
        Err(e) => return Err(e),
    };
    fs::write(path, replace_section(&existing, section))
}

/// The level-2 section of `document` headed `heading` (up to the next level-1 or
/// level-2 heading), if there is one: what a benchmark that keeps earlier runs reads
/// back before rewriting it.
pub fn section(document: &str, heading: &str) -> Option<String> {
    let lines: Vec<&str> = document.lines().collect();
    let start = lines.iter().position(|line| line.trim_end() == heading)?;
    let end = section_end(&lines, start);
    Some(lines.get(start..end)?.join("\n"))
}

/// `document` with the level-2 section headed like `section` replaced by it (up to
/// the next level-1 or level-2 heading), or with `section` appended.
pub fn replace_section(document: &str, section: &str) -> String {
    let heading = section.lines().next().unwrap_or_default().trim_end();
    let section = format!("{}\n", section.trim_end());
    let lines: Vec<&str> = document.lines().collect();
    let Some(start) = lines.iter().position(|line| line.trim_end() == heading) else {
        let mut out = document.trim_end().to_owned();
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&section);
        return out;
    };
    let end = section_end(&lines, start);
    let mut out = String::new();
    for line in lines.iter().take(start) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&section);
    if end < lines.len() {
        out.push('\n');
        for line in lines.iter().skip(end) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Where the section whose heading is `lines[start]` ends: the index of the next
/// level-1 or level-2 heading, or the number of lines.
fn section_end(lines: &[&str], start: usize) -> usize {
    lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .find(|(_, line)| line.starts_with("## ") || line.starts_with("# "))
        .map_or(lines.len(), |(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = millis(&(1..=100).collect::<Vec<_>>());
        assert_eq!(nearest_rank(&sorted, 500), Some(Duration::from_millis(50)));
        assert_eq!(nearest_rank(&sorted, 950), Some(Duration::from_millis(95)));
        assert_eq!(nearest_rank(&sorted, 990), Some(Duration::from_millis(99)));
        assert_eq!(
            nearest_rank(&sorted, 1000),
            Some(Duration::from_millis(100))
        );
        // 10 samples: p99 is the 10th (ceil(9.9)), p50 the 5th.
        let ten = millis(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(nearest_rank(&ten, 990), Some(Duration::from_millis(10)));
        assert_eq!(nearest_rank(&ten, 500), Some(Duration::from_millis(5)));
        assert_eq!(
            nearest_rank(&millis(&[7]), 10),
            Some(Duration::from_millis(7))
        );
        assert_eq!(nearest_rank(&[], 500), None);
    }

    #[test]
    fn summary_sorts_first() {
        let summary = Summary::of(&millis(&[30, 10, 20])).unwrap();
        assert_eq!(summary.p50, Duration::from_millis(20));
        assert_eq!(summary.p99, Duration::from_millis(30));
        assert_eq!(summary.max, Duration::from_millis(30));
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn formats_milliseconds() {
        assert_eq!(ms(Duration::from_micros(312)), "0.31");
        assert_eq!(ms(Duration::from_micros(12_345)), "12.3");
    }

    #[test]
    fn replaces_only_its_own_section() {
        let document = "# Benchmarks\n\nIntro.\n\n## Login flood (issue 5)\n\nold figures\n\n### detail\n\nold\n\n## Other\n\nkept\n";
        let replaced = replace_section(document, "## Login flood (issue 5)\n\nnew figures\n");
        assert_eq!(
            replaced,
            "# Benchmarks\n\nIntro.\n\n## Login flood (issue 5)\n\nnew figures\n\n## Other\n\nkept\n"
        );
        // Idempotent.
        assert_eq!(
            replace_section(&replaced, "## Login flood (issue 5)\n\nnew figures\n"),
            replaced
        );
    }

    #[test]
    fn reads_back_one_section() {
        let document = "# Benchmarks\n\n## Mine\n\nold\n\n### run\n\nx\n\n## Other\n\nkept\n";
        assert_eq!(
            section(document, "## Mine").as_deref(),
            Some("## Mine\n\nold\n\n### run\n\nx\n")
        );
        assert_eq!(section(document, "## Missing"), None);
    }

    #[test]
    fn appends_a_missing_section_and_replaces_a_last_one() {
        let appended = replace_section("# Benchmarks\n\n## Other\n\nkept\n", "## Mine\n\nx");
        assert_eq!(
            appended,
            "# Benchmarks\n\n## Other\n\nkept\n\n## Mine\n\nx\n"
        );
        assert_eq!(
            replace_section(&appended, "## Mine\n\ny\n"),
            "# Benchmarks\n\n## Other\n\nkept\n\n## Mine\n\ny\n"
        );
    }

    #[test]
    fn cpu_busy_share_from_proc_stat() {
        let before = CpuTimes::parse(
            "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n",
        )
        .unwrap();
        assert_eq!(
            before,
            CpuTimes {
                busy: 150,
                total: 1000
            }
        );
        let after = CpuTimes::parse("cpu  250 0 100 850 50 0 0 0 0 0\n").unwrap();
        assert_eq!(before.busy_share(after), Some(0.8));
        assert_eq!(after.busy_share(after), None);
        assert_eq!(CpuTimes::parse("intr 1\n"), None);
    }

    #[test]
    fn reads_proc_fields() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(
            proc_field(cpuinfo, "model name").as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(proc_field(cpuinfo, "flags"), None);
    }

    #[test]
    fn renders_a_table() {
        let rows = [
            Row {
                endpoint: "GET /healthz".into(),
                phase: "baseline",
                requests: 3,
                errors: 0,
                summary: Summary::of(&millis(&[1, 2, 3])),
            },
            Row {
                endpoint: "GET /x".into(),
                phase: "flood",
                requests: 1,
                errors: 1,
                summary: None,
            },
        ];
        let text = table(&rows);
        assert!(
            text.contains("| GET /healthz | baseline | 3 | 0 | 2.00 | 3.00 | 3.00 | 3.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| GET /x | flood | 1 | 1 | - | - | - | - |"),
            "{text}"
        );
    }
}
