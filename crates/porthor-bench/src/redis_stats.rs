//! How many commands Redis has served, from `INFO commandstats`, so that
//! the bench can report Redis round trips per flow.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

/// The commands served so far by the Redis on loopback `port`, the `INFO`
/// asking for them excluded.
pub fn commands_served(port: u16) -> Result<u64> {
    let timeout = Duration::from_secs(2);
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    (&stream).write_all(b"INFO commandstats\r\n")?;
    let mut reader = BufReader::new(&stream);
    let mut header = String::new();
    reader.read_line(&mut header)?;
    let Some(length) = header.trim_end().strip_prefix('$') else {
        bail!("unexpected reply to INFO: {header:?}");
    };
    let length: usize = length.parse().context("bad INFO reply length")?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let text = String::from_utf8_lossy(&body);
    Ok(total_calls(&text).saturating_sub(calls_of(&text, "info")))
}

/// The sum of `calls=` over the `cmdstat_*` lines of `INFO commandstats`.
pub fn total_calls(info: &str) -> u64 {
    info.lines()
        .filter(|line| line.starts_with("cmdstat_"))
        .filter_map(calls)
        .sum()
}

fn calls_of(info: &str, command: &str) -> u64 {
    info.lines()
        .find(|line| {
            line.strip_prefix("cmdstat_")
                .and_then(|rest| rest.strip_prefix(command))
                .is_some_and(|rest| rest.starts_with(':'))
        })
        .and_then(calls)
        .unwrap_or(0)
}

fn calls(line: &str) -> Option<u64> {
    let (_, stats) = line.split_once(':')?;
    stats
        .split(',')
        .find_map(|field| field.strip_prefix("calls="))?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_summed_over_commands() {
        let info = "# Commandstats\r\n\
                    cmdstat_getdel:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_set:calls=5,usec=10,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_info:calls=3,usec=100,usec_per_call=33.3,rejected_calls=0,failed_calls=0\r\n";
        assert_eq!(total_calls(info), 18);
        assert_eq!(calls_of(info, "info"), 3);
        assert_eq!(calls_of(info, "in"), 0);
        assert_eq!(total_calls("# Commandstats\r\n"), 0);
    }
}
