//! The in-memory backend: for tests, development and single-process setups.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use porthor_models::{CounterLimit, Tally};

use crate::backend::BackendError;
use crate::layout::Namespace;

/// Sweeping never runs more often than once per this many writes, so that a
/// small store does not rescan itself on every insert.
const MIN_WRITES_BETWEEN_SWEEPS: usize = 1024;

/// A map guarded by one mutex. Every operation is a single short critical
/// section, synchronous, which is what makes `take` atomic. The operations
/// mirror [`crate::backend::Backend`]'s.
#[derive(Default)]
pub(crate) struct MemoryBackend {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// The sorted sets of the user index, apart from the records: no record
    /// operation ever meets one.
    indexes: HashMap<String, Index>,
    writes_since_sweep: usize,
}

struct Entry {
    bytes: Vec<u8>,
    expires_at: Instant,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

/// A sorted set: members with scores, in the order Redis keeps one (by
/// score, then by member).
struct Index {
    members: Vec<(u64, String)>,
    expires_at: Instant,
}

impl Index {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

impl MemoryBackend {
    fn state(&self) -> MutexGuard<'_, State> {
        // No operation can panic half-way through changing the map, so a
        // poisoned lock still guards a consistent map: keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Expired entries are skipped on read but only freed here. Sweeping when
    /// the writes since the last sweep reach half the map's size keeps the
    /// cost amortised O(1) per write while bounding the map to about twice its
    /// live entries (plus [`MIN_WRITES_BETWEEN_SWEEPS`]).
    fn sweep_if_due(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= MIN_WRITES_BETWEEN_SWEEPS.max(self.entries.len() / 2) {
            self.entries.retain(|_, entry| entry.is_live(now));
            self.indexes.retain(|_, index| index.is_live(now));
            self.writes_since_sweep = 0;
        }
    }

    /// Whether a live record is stored at `key`.
    fn has_live(&self, key: &str, now: Instant) -> bool {
        self.entries
            .get(key)
            .is_some_and(|entry| entry.is_live(now))
    }
}

impl MemoryBackend {
    pub(crate) fn put(
        &self,
        key: String,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), BackendError> {
        let now = Instant::now();
        let expires_at = deadline(now, ttl)?;
        let mut state = self.state();
        state.entries.insert(key, Entry { bytes, expires_at });
        state.sweep_if_due(now);
        Ok(())
    }

    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.state()
            .entries
            .get(key)
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.bytes.clone())
    }

    pub(crate) fn take(&self, key: &str) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.state()
            .entries
            .remove(key)
            .filter(|entry| entry.is_live(now))
            .map(|entry| entry.bytes)
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        let now = Instant::now();
        self.state()
            .entries
            .remove(key)
            .is_some_and(|entry| entry.is_live(now))
    }

    pub(crate) fn delete_matching(&self, namespace: &Namespace) -> u64 {
        let now = Instant::now();
        let mut removed = 0;
        self.state().entries.retain(|key, entry| {
            if !namespace.contains(key) {
                return true;
            }
            if entry.is_live(now) {
                removed += 1;
            }
            false
        });
        removed
    }

    pub(crate) fn replace(
        &self,
        key: &str,
        bytes: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        let now = Instant::now();
        let expires_at = ttl.map(|ttl| deadline(now, ttl)).transpose()?;
        let mut state = self.state();
        let Some(entry) = state.entries.get_mut(key).filter(|e| e.is_live(now)) else {
            return Ok(None);
        };
        if let Some(expires_at) = expires_at {
            entry.expires_at = expires_at;
        }
        Ok(Some(std::mem::replace(&mut entry.bytes, bytes)))
    }

    pub(crate) fn extend(&self, key: &str, ttl: Duration) -> Result<(), BackendError> {
        let now = Instant::now();
        let expires_at = deadline(now, ttl)?;
        if let Some(entry) = self.state().entries.get_mut(key).filter(|e| e.is_live(now)) {
            entry.expires_at = entry.expires_at.max(expires_at);
        }
        Ok(())
    }

    pub(crate) fn get_many(&self, keys: &[&str]) -> Vec<Option<Vec<u8>>> {
        let now = Instant::now();
        let state = self.state();
        keys.iter()
            .map(|key| {
                state
                    .entries
                    .get(*key)
                    .filter(|entry| entry.is_live(now))
                    .map(|entry| entry.bytes.clone())
            })
            .collect()
    }
}

/// The user index's operations, as the Redis backend's scripts do them.
impl MemoryBackend {
    pub(crate) fn index_add(
        &self,
        index: &str,
        records: &str,
        member: &str,
        score: u64,
        ttl: Duration,
        keep: usize,
    ) -> Result<Vec<String>, BackendError> {
        let now = Instant::now();
        let expires_at = deadline(now, ttl)?;
        let mut state = self.state();
        let (mut members, expires_at) = match state.indexes.remove(index) {
            Some(old) if old.is_live(now) => (old.members, old.expires_at.max(expires_at)),
            _ => (Vec::new(), expires_at),
        };
        members.retain(|(_, other)| other != member);
        members.push((score, member.to_owned()));
        members.sort();
        members.retain(|(_, other)| {
            other == member || state.has_live(&format!("{records}{other}"), now)
        });
        let mut excess = members.len().saturating_sub(keep);
        let mut evicted = Vec::new();
        members.retain(|(_, other)| {
            if excess == 0 || other == member {
                return true;
            }
            excess -= 1;
            evicted.push(other.clone());
            false
        });
        for other in &evicted {
            state.entries.remove(&format!("{records}{other}"));
        }
        state.indexes.insert(
            index.to_owned(),
            Index {
                members,
                expires_at,
            },
        );
        state.sweep_if_due(now);
        Ok(evicted)
    }

    pub(crate) fn index_remove(&self, index: &str, member: &str) {
        let mut state = self.state();
        if let Some(set) = state.indexes.get_mut(index) {
            set.members.retain(|(_, other)| other != member);
            // As in Redis, an empty set is no set.
            if set.members.is_empty() {
                state.indexes.remove(index);
            }
        }
    }

    pub(crate) fn index_extend(&self, index: &str, ttl: Duration) -> Result<(), BackendError> {
        let now = Instant::now();
        let expires_at = deadline(now, ttl)?;
        if let Some(set) = self
            .state()
            .indexes
            .get_mut(index)
            .filter(|s| s.is_live(now))
        {
            set.expires_at = set.expires_at.max(expires_at);
        }
        Ok(())
    }

    pub(crate) fn index_end_all(&self, index: &str, records: &str) -> Vec<String> {
        let now = Instant::now();
        let mut state = self.state();
        let Some(set) = state.indexes.remove(index).filter(|set| set.is_live(now)) else {
            return Vec::new();
        };
        set.members
            .into_iter()
            .filter_map(|(_, member)| {
                let record = state.entries.remove(&format!("{records}{member}"))?;
                record.is_live(now).then_some(member)
            })
            .collect()
    }
}

/// Failure counters share the map with records: a counter is an entry
/// holding its count in decimal, as Redis holds it, so expiry and sweeping
/// work the same for both.
impl MemoryBackend {
    pub(crate) fn tallies(&self, keys: &[&str]) -> Vec<Tally> {
        let now = Instant::now();
        let state = self.state();
        keys.iter()
            .map(|key| match state.counter(key, now) {
                Some((failures, expires_at)) => Tally {
                    failures,
                    expires_in: expires_at - now,
                },
                None => Tally::default(),
            })
            .collect()
    }

    pub(crate) fn add_failure(
        &self,
        counters: &[(&str, CounterLimit)],
    ) -> Result<Vec<Tally>, BackendError> {
        let now = Instant::now();
        let mut state = self.state();
        let mut tallies = Vec::with_capacity(counters.len());
        for (key, limit) in counters {
            let (failures, expires_at) = match state.counter(key, now) {
                Some((failures, expires_at)) => (failures.saturating_add(1), expires_at),
                None => (1, deadline(now, limit.window)?),
            };
            let expires_at = if failures == u64::from(limit.failures) {
                deadline(now, limit.lockout)?
            } else {
                expires_at
            };
            let bytes = failures.to_string().into_bytes();
            state
                .entries
                .insert((*key).to_owned(), Entry { bytes, expires_at });
            state.sweep_if_due(now);
            tallies.push(Tally {
                failures,
                expires_in: expires_at - now,
            });
        }
        Ok(tallies)
    }
}

impl State {
    /// The live count at `key` and when it expires; `None` if there is
    /// none, or what is there is not a count.
    fn counter(&self, key: &str, now: Instant) -> Option<(u64, Instant)> {
        let entry = self.entries.get(key).filter(|entry| entry.is_live(now))?;
        let failures = std::str::from_utf8(&entry.bytes).ok()?.parse().ok()?;
        Some((failures, entry.expires_at))
    }
}

/// `now + ttl`. The caller clamps TTLs to a century, far below where this
/// overflows.
fn deadline(now: Instant, ttl: Duration) -> Result<Instant, BackendError> {
    Ok(now
        .checked_add(ttl)
        .ok_or("ttl is beyond the range of the monotonic clock")?)
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("entries", &self.state().entries.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These wait out real TTLs of a millisecond: the map's expiry is the
    // monotonic clock, which is what they test.
    #[test]
    fn expired_entries_are_invisible_and_swept() {
        let backend = MemoryBackend::default();
        let short = Duration::from_millis(1);
        let expired = Namespace::new("p", "x");
        backend.put(expired.key("t", "1"), vec![1], short).unwrap();
        for i in 0..MIN_WRITES_BETWEEN_SWEEPS - 2 {
            backend.put(format!("k{i}"), vec![1], short).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(backend.get("k0"), None);
        assert!(!backend.delete("k1"));
        assert_eq!(backend.take("k2"), None);
        assert_eq!(backend.delete_matching(&expired), 0);
        let before = backend.state().entries.len();
        assert!(before > MIN_WRITES_BETWEEN_SWEEPS / 2);

        // This write reaches the sweep threshold and frees every expired entry.
        backend
            .put("live".into(), vec![2], Duration::from_secs(60))
            .unwrap();
        assert_eq!(backend.state().entries.len(), 1);
        assert_eq!(backend.get("live"), Some(vec![2]));
    }

    #[test]
    fn churn_does_not_grow_the_map_without_bound() {
        let backend = MemoryBackend::default();
        let short = Duration::from_millis(1);
        for round in 0..5 {
            for i in 0..2 * MIN_WRITES_BETWEEN_SWEEPS {
                backend
                    .put(format!("r{round}:{i}"), vec![0], short)
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(backend.state().entries.len() <= 3 * MIN_WRITES_BETWEEN_SWEEPS);
    }
}
