//! The byte-level storage that Redis and memory both provide.
//!
//! Backends see opaque keys and already-encrypted bytes; they know nothing of
//! records, kinds or encryption. Keeping this seam narrow is what lets the
//! in-memory store behave exactly like Redis for every rule above it. There
//! are exactly two, so this is an enum rather than a trait object: every
//! operation is one `match`, with no boxed future per call. Each variant
//! exists only with its crate feature (`memory`, `redis`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use porthor_models::{CounterLimit, Tally};

use crate::layout::Namespace;

#[cfg(feature = "memory")]
use crate::memory::MemoryBackend;
#[cfg(feature = "redis")]
use crate::redis_backend::RedisBackend;

/// Whatever went wrong talking to a backend; reported as
/// [`porthor_models::StoreError::Unavailable`].
pub(crate) type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// The values at two keys.
pub(crate) type Pair = (Option<Vec<u8>>, Option<Vec<u8>>);

thread_local! {
    /// This thread's duration histogram per operation, looked up in the
    /// recorder once rather than per operation (the recorder is the
    /// process's, installed before the store is used).
    static OPERATIONS: RefCell<HashMap<&'static str, metrics::Histogram>> =
        RefCell::new(HashMap::new());
}

/// Times one backend operation (`porthor_store_operation_duration_seconds`
/// by operation, a bounded set of names) and counts its failure
/// (`porthor_store_errors_total{kind="unavailable"}`), through the
/// `metrics` facade: a no-op unless the binary installed a recorder.
async fn measured<T>(
    op: &'static str,
    operation: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    let started = Instant::now();
    let result = operation.await;
    let seconds = started.elapsed().as_secs_f64();
    OPERATIONS.with_borrow_mut(|operations| {
        operations
            .entry(op)
            .or_insert_with(
                || metrics::histogram!("porthor_store_operation_duration_seconds", "op" => op),
            )
            .record(seconds);
    });
    if result.is_err() {
        metrics::counter!("porthor_store_errors_total", "kind" => "unavailable").increment(1);
    }
    result
}

#[cfg_attr(
    all(feature = "memory", feature = "redis"),
    expect(
        clippy::large_enum_variant,
        reason = "one per store, made once and kept behind an Arc"
    )
)]
pub(crate) enum Backend {
    #[cfg(feature = "memory")]
    Memory(MemoryBackend),
    #[cfg(feature = "redis")]
    Redis(RedisBackend),
}

impl Backend {
    /// Stores `bytes` at `key` for `ttl` (never zero), replacing any value.
    pub(crate) async fn put(
        &self,
        key: String,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), BackendError> {
        measured("put", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => memory.put(key, bytes, ttl),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.put(key, bytes, ttl).await,
            }
        })
        .await
    }

    /// The live value at `key`.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        measured("get", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => Ok(memory.get(key)),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.get(key).await,
            }
        })
        .await
    }

    /// Removes and returns the live value at `key` atomically: of concurrent
    /// callers, at most one gets it.
    pub(crate) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        measured("take", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => Ok(memory.take(key)),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.take(key).await,
            }
        })
        .await
    }

    /// Removes `key`; whether a live value was there.
    pub(crate) async fn delete(&self, key: &str) -> Result<bool, BackendError> {
        measured("delete", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => Ok(memory.delete(key)),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.delete(key).await,
            }
        })
        .await
    }

    /// Removes every key of `namespace`, whatever its tag; how many live
    /// values were removed.
    pub(crate) async fn delete_matching(&self, namespace: &Namespace) -> Result<u64, BackendError> {
        measured("delete_matching", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => Ok(memory.delete_matching(namespace)),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.delete_matching(namespace).await,
            }
        })
        .await
    }

    /// Replaces the live value at `key` with `bytes` and returns the old one,
    /// atomically; stores nothing if there is none. `ttl` (never zero) is the
    /// new time to live, `None` keeps the old one.
    pub(crate) async fn replace(
        &self,
        key: &str,
        bytes: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        measured("replace", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => memory.replace(key, bytes, ttl),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.replace(key, bytes, ttl).await,
            }
        })
        .await
    }

    /// Makes the live value at `key` live at least `ttl` from now, never
    /// shortening it; nothing if there is none.
    pub(crate) async fn extend(&self, key: &str, ttl: Duration) -> Result<(), BackendError> {
        measured("extend", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => memory.extend(key, ttl),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.extend(key, ttl).await,
            }
        })
        .await
    }

    /// `replace(first, bytes, None)` and `get(second)` in one round trip; not
    /// atomic as a pair, only each on its own.
    pub(crate) async fn replace_and_get(
        &self,
        first: &str,
        bytes: Vec<u8>,
        second: &str,
    ) -> Result<Pair, BackendError> {
        measured("replace_and_get", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => {
                    Ok((memory.replace(first, bytes, None)?, memory.get(second)))
                }
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.replace_and_get(first, bytes, second).await,
            }
        })
        .await
    }

    /// `get` of several keys in one round trip, in order.
    pub(crate) async fn get_many(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        measured("get_many", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => Ok(memory.get_many(keys)),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.get_many(keys).await,
            }
        })
        .await
    }

    /// Adds `member` at `score` to the sorted set at `index` (or moves it
    /// there), drops every other member whose record `{records}{member}` is
    /// gone, and removes the lowest-scored members beyond `keep` (never
    /// `member`) and deletes their records; keeps the set live at least
    /// `ttl` (never zero) from now, never shortening it. Atomic; returns the
    /// members it removed for `keep`.
    pub(crate) async fn index_add(
        &self,
        index: &str,
        records: &str,
        member: &str,
        score: u64,
        ttl: Duration,
        keep: usize,
    ) -> Result<Vec<String>, BackendError> {
        measured("index_add", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => {
                    memory.index_add(index, records, member, score, ttl, keep)
                }
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => {
                    redis
                        .index_add(index, records, member, score, ttl, keep)
                        .await
                }
            }
        })
        .await
    }

    /// Removes `member` from the sorted set at `index`.
    pub(crate) async fn index_remove(&self, index: &str, member: &str) -> Result<(), BackendError> {
        measured("index_remove", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => {
                    memory.index_remove(index, member);
                    Ok(())
                }
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.index_remove(index, member).await,
            }
        })
        .await
    }

    /// [`Backend::extend`] for the sorted set at `index`.
    pub(crate) async fn index_extend(
        &self,
        index: &str,
        ttl: Duration,
    ) -> Result<(), BackendError> {
        measured("index_extend", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => memory.index_extend(index, ttl),
                // PEXPIRE works on a key of any type.
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.extend(index, ttl).await,
            }
        })
        .await
    }

    /// Deletes the sorted set at `index` and the record of each of its
    /// members, atomically; returns the members whose record was there.
    pub(crate) async fn index_end_all(
        &self,
        index: &str,
        records: &str,
    ) -> Result<Vec<String>, BackendError> {
        measured("index_end_all", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => Ok(memory.index_end_all(index, records)),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.index_end_all(index, records).await,
            }
        })
        .await
    }

    /// The failures counted at each key and how long each counter has left,
    /// in one round trip. A missing counter, or a value that is not a count,
    /// reads as no failures.
    pub(crate) async fn tallies(&self, keys: &[&str]) -> Result<Vec<Tally>, BackendError> {
        measured("tallies", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => Ok(memory.tallies(keys)),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.tallies(keys).await,
            }
        })
        .await
    }

    /// Adds one failure to the counter at each key, atomically, with the
    /// expiry rules of [`porthor_models::FailureCounters::add_failure`]; a
    /// value that is not a count is replaced. Returns the new tallies.
    pub(crate) async fn add_failure(
        &self,
        counters: &[(&str, CounterLimit)],
    ) -> Result<Vec<Tally>, BackendError> {
        measured("add_failure", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(memory) => memory.add_failure(counters),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.add_failure(counters).await,
            }
        })
        .await
    }

    /// Whether the backend answers.
    pub(crate) async fn ping(&self) -> Result<(), BackendError> {
        measured("ping", async {
            match self {
                #[cfg(feature = "memory")]
                Backend::Memory(_) => Ok(()),
                #[cfg(feature = "redis")]
                Backend::Redis(redis) => redis.ping().await,
            }
        })
        .await
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "memory")]
            Backend::Memory(memory) => memory.fmt(f),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.fmt(f),
        }
    }
}
