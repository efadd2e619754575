//! What `/proc` says about a process: CPU time used and resident memory.
//!
//! Linux only; the bench reads the server's, Redis's and its own figures
//! before and after each measured phase.

use std::fs;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// Clock ticks per second, the unit of `utime` and `stime`, from
/// `getconf CLK_TCK` (100 on every mainstream Linux if that fails).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// The user plus system CPU time of process `pid` (all its threads), in
/// clock ticks. `pid` `None` means this process.
pub fn cpu_ticks(pid: Option<u32>) -> Result<u64> {
    let path = stat_path(pid, "stat");
    let text = fs::read_to_string(&path).with_context(|| format!("could not read {path}"))?;
    parse_stat_cpu(&text).with_context(|| format!("unexpected contents in {path}"))
}

/// `utime + stime` from the text of `/proc/<pid>/stat`.
///
/// The second field is the command name in parentheses, which may itself
/// contain spaces and parentheses, so fields are counted from the last `)`:
/// after it come `state` (field 3), ..., `utime` (14) and `stime` (15).
pub fn parse_stat_cpu(text: &str) -> Result<u64> {
    let Some((_, rest)) = text.rsplit_once(')') else {
        bail!("no `)` closing the command name");
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| -> Result<u64> {
        let text = fields
            .get(number - 3)
            .with_context(|| format!("no field {number}"))?;
        text.parse()
            .with_context(|| format!("field {number} is not a number: {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// The user plus system CPU time of the calling thread, in clock ticks.
pub fn thread_cpu_ticks() -> Result<u64> {
    let path = "/proc/thread-self/stat";
    let text = fs::read_to_string(path).with_context(|| format!("could not read {path}"))?;
    parse_stat_cpu(&text).with_context(|| format!("unexpected contents in {path}"))
}

/// A memory figure from `/proc/<pid>/status` in KiB, e.g. `VmRSS` (now) or
/// `VmHWM` (the peak since start or since [`reset_peak_rss`]).
pub fn memory_kib(pid: u32, key: &str) -> Result<u64> {
    let path = stat_path(Some(pid), "status");
    let text = fs::read_to_string(&path).with_context(|| format!("could not read {path}"))?;
    parse_status_kib(&text, key).with_context(|| format!("no {key} in {path}"))
}

/// The value of `key` (`VmRSS: 1234 kB`) in the text of `/proc/<pid>/status`.
pub fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Resets the peak RSS (`VmHWM`) of `pid` to its current RSS (Linux 4.0+),
/// so that a peak can be measured per phase. Returns whether that worked.
pub fn reset_peak_rss(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn stat_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_fields_fourteen_and_fifteen() {
        let stat = "4242 (porthor) S 1 4242 4242 0 -1 4194560 1200 0 0 0 \
                    731 205 0 0 20 0 3 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat).unwrap(), 731 + 205);
    }

    #[test]
    fn the_command_name_may_hold_spaces_and_parentheses() {
        let stat = "7 (a (b) c) ) R 1 7 7 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat_cpu(stat).unwrap(), 30);
    }

    #[test]
    fn a_truncated_stat_is_an_error() {
        assert!(parse_stat_cpu("7 (x) R 1 7 7").is_err());
        assert!(parse_stat_cpu("no parenthesis at all").is_err());
        assert!(parse_stat_cpu("7 (x) R 1 7 7 0 -1 0 0 0 0 0 x 20").is_err());
    }

    #[test]
    fn our_own_cpu_time_can_be_read() {
        cpu_ticks(None).unwrap();
        assert!(clock_ticks_per_second() > 0);
    }

    #[test]
    fn status_figures_are_in_kib() {
        let status = "Name:\tporthor\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(10_240));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(20_480));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        assert_eq!(parse_status_kib(status, "Threads"), None);
        assert!(memory_kib(std::process::id(), "VmRSS").unwrap() > 0);
    }
}
