//! CPU time of one process (ours, or a PostgreSQL backend on this machine), from
//! /proc/<pid>/stat, to say where the time of a database benchmark went.

use std::fs;
use std::time::Duration;

/// Linux reports process times in clock ticks of 1/100 s (`USER_HZ`, fixed at 100 on
/// every architecture Linux exposes it to user space with).
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of process `pid` ("self" for this one) so far, if
/// /proc can tell (it cannot for a server on another machine or in another PID
/// namespace).
pub fn cpu_time(pid: &str) -> Option<Duration> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// User plus system CPU time of every thread of this process so far.
pub fn own_cpu_time() -> Option<Duration> {
    cpu_time("self")
}

/// `utime + stime` from the text of /proc/<pid>/stat.
fn parse_stat(stat: &str) -> Option<Duration> {
    let fields = fields_of(stat)?;
    Some(ticks(fields.get(11)? + fields.get(12)?))
}

/// The numeric fields of a /proc/<pid>/stat text after the command name: state is
/// index 0 (a letter, read as 0), ppid 1, utime 11, stime 12, cutime 13, cstime 14.
/// The command name (field 2) is in parentheses and may itself hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn fields_of(stat: &str) -> Option<Vec<u64>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(
        rest.split_whitespace()
            .map(|field| field.parse().unwrap_or(0))
            .collect(),
    )
}

/// [`fields_of`] the /proc/<pid>/stat of `pid`.
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    fields_of(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn ticks(ticks: u64) -> Duration {
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}

/// CPU time of this process and of its children that have exited and been waited
/// for (a finished `pgbench`), so far.
pub fn own_cpu_time_with_children() -> Option<Duration> {
    let fields = stat_fields("self")?;
    Some(ticks(
        fields.get(11)? + fields.get(12)? + fields.get(13)? + fields.get(14)?,
    ))
}

/// CPU time of a whole PostgreSQL cluster so far: the postmaster, its live children
/// (backends, background workers) and the children it has reaped (backends of
/// connections that closed, counted in its cutime/cstime), so a phase's database
/// work is counted even when its connections are gone by the end.
pub fn cluster_cpu_time(postmaster: u32) -> Option<Duration> {
    let parent = stat_fields(&postmaster.to_string())?;
    let mut total = parent.get(11)? + parent.get(12)? + parent.get(13)? + parent.get(14)?;
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        if fields.get(1) == Some(&u64::from(postmaster)) {
            total += fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0);
        }
    }
    Some(ticks(total))
}

/// The whole machine's CPU busy share over `period` while this benchmark waits: what
/// other processes (and the database server's background work) use, to show how
/// noisy the figures that follow are.
pub async fn others_busy(period: Duration) -> Option<f64> {
    let start = super::report::CpuTimes::now();
    tokio::time::sleep(period).await;
    start?.busy_share(super::report::CpuTimes::now()?)
}

/// CPU used between two readings, if both exist.
pub fn used(start: Option<Duration>, end: Option<Duration>) -> Option<Duration> {
    end?.checked_sub(start?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time() {
        let stat = "4242 (postgres: x (y) ) S 1 4242 4242 0 -1 4194560 3456 0 0 0 \
                    250 37 0 0 20 0 1 0 100 123456 789 18446744073709551615";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(2870)));
        assert_eq!(parse_stat("4242 (short) S 1"), None);
        assert_eq!(
            used(
                Some(Duration::from_millis(10)),
                Some(Duration::from_millis(30))
            ),
            Some(Duration::from_millis(20))
        );
        assert_eq!(used(None, Some(Duration::from_millis(30))), None);
    }

    #[test]
    fn reads_its_own_process() {
        assert!(own_cpu_time().is_some());
        // Read the smaller figure first: this process's time only grows in between.
        let own = own_cpu_time();
        assert!(own_cpu_time_with_children() >= own);
    }

    #[test]
    fn a_process_tree_counts_its_live_children() {
        // This process as the "postmaster": its children (none live here beyond what the
        // test runner starts) add to its own time, never subtract.
        let me = std::process::id();
        let own = own_cpu_time();
        assert!(cluster_cpu_time(me) >= own);
        assert_eq!(cluster_cpu_time(u32::MAX), None);
    }
}
