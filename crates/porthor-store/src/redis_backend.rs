//! The Redis backend: deadpools of multiplexed connections, one per thread.
//!
//! A multiplexed connection's I/O runs as a task on the runtime that opened
//! it. actix-web runs one single-threaded runtime per worker, so with one
//! shared pool most commands crossed threads twice (request to the
//! connection's task, reply back), which cost about as much CPU as the rest
//! of the request. Each thread therefore gets its own pool, created on first
//! use, whose connections live on that thread's runtime.
//!
//! A command does not hold its connection: it clones the multiplexed handle
//! and gives the pooled connection straight back, so every concurrent
//! command of a thread shares one socket. Their writes and replies then
//! coalesce into a few system calls on both sides; holding a connection per
//! command instead spread them over up to `pool_size` sockets, which cost
//! Redis 2.5 times the CPU per authorization flow in `cargo xtask bench`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Pool, QueueMode, RecycleError, RecycleResult};
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Cmd, FromRedisValue, Pipeline, RedisError, cmd,
};
use thread_local::ThreadLocal;
use url::Url;

use porthor_models::{CounterLimit, Tally};

use crate::OpenError;
use crate::backend::{BackendError, Pair};

/// How long opening a TCP connection (and the handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may wait for its reply. Every command here is O(1)
/// or a bounded SCAN batch, so a slower reply means Redis is in trouble, and
/// the request should fail rather than hang.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request may queue for a pooled connection.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bounds connection creation as seen by the pool (covers the connect above).
const POOL_CREATE_TIMEOUT: Duration = Duration::from_secs(3);
/// Recycling is a no-op (see [`ConnectionManager`]), but deadpool wants a bound.
const POOL_RECYCLE_TIMEOUT: Duration = Duration::from_secs(1);
/// Keys per SCAN call in `delete_matching`: large enough for few round trips,
/// small enough that Redis is never blocked for long.
const SCAN_BATCH: usize = 1000;

/// A pooled connection: the multiplexed handle, and a flag that a command
/// sets when the connection has failed beyond repair. A clone shares both.
#[derive(Clone)]
struct Connection {
    handle: MultiplexedConnection,
    broken: Arc<AtomicBool>,
}

/// Creates connections through deadpool-redis, and recycles them by checking
/// their `broken` flag.
///
/// deadpool-redis's own manager sends `UNWATCH` + `PING` every time a
/// connection leaves the pool, doubling the round trips of every store
/// operation. Here a dead connection is instead noticed when a command fails
/// on it (see [`RedisBackend::query`]) and discarded the next time the pool
/// would hand it out, so each operation costs exactly one round trip.
#[derive(Debug)]
struct ConnectionManager(deadpool_redis::Manager);

impl managed::Manager for ConnectionManager {
    type Type = Connection;
    type Error = RedisError;

    async fn create(&self) -> Result<Connection, RedisError> {
        Ok(Connection {
            handle: managed::Manager::create(&self.0).await?,
            broken: Arc::default(),
        })
    }

    async fn recycle(
        &self,
        connection: &mut Connection,
        _metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if connection.broken.load(Ordering::Relaxed) {
            return Err(RecycleError::message("a command failed on this connection"));
        }
        Ok(())
    }
}

pub(crate) struct RedisBackend {
    /// One pool per thread that has used the store.
    pools: ThreadLocal<Pool<ConnectionManager>>,
    /// What each pool's connections are opened with.
    address: String,
    pool_size: usize,
    /// The URL without its password, for messages.
    url: String,
}

impl RedisBackend {
    /// Builds the pool and sends one `PING`, so that a wrong URL or an
    /// unreachable server stops the process at startup, not at first login.
    pub(crate) async fn open(url: &str, pool_size: usize) -> Result<Self, OpenError> {
        let shown = redact_redis_url(url);
        if pool_size == 0 {
            return Err(OpenError::InvalidPoolSize);
        }
        // Validates the URL now; each thread's pool parses it again.
        new_pool(url, pool_size).map_err(|e| match e {
            PoolError::Url(source) => OpenError::InvalidRedisUrl {
                url: shown.clone(),
                source: source.into(),
            },
            PoolError::Build(source) => OpenError::Pool(source.into()),
        })?;
        let backend = Self {
            pools: ThreadLocal::new(),
            address: url.to_owned(),
            pool_size,
            url: shown,
        };
        backend
            .ping()
            .await
            .map_err(|source| OpenError::Unreachable {
                url: backend.url.clone(),
                source,
            })?;
        // `SET … XX GET` and `PEXPIRE … GT` need 7.0: an older server would
        // only fail at the first code redemption or refresh-token grant. A
        // user whose ACL forbids INFO is not refused for it: the check is
        // for a clear message, and the commands themselves still decide.
        let info: Result<String, _> = backend.query(Request::Cmd(cmd("INFO").arg("server"))).await;
        match info.ok().as_deref().and_then(redis_version) {
            Some(version) if version < MIN_REDIS_VERSION => Err(OpenError::UnsupportedRedis {
                url: backend.url.clone(),
                version: format!("{}.{}", version.0, version.1),
            }),
            _ => Ok(backend),
        }
    }

    /// A handle on this thread's current connection. The pooled connection
    /// goes straight back to the pool: the handle multiplexes, so the
    /// thread's concurrent commands share it.
    async fn connection(&self) -> Result<Connection, BackendError> {
        let pool = self
            .pools
            .get_or_try(|| new_pool(&self.address, self.pool_size))?;
        Ok(Connection::clone(&*pool.get().await?))
    }

    /// Runs one command or pipeline on this thread's connection.
    ///
    /// A connection that failed beyond repair (Redis restarted, socket reset)
    /// is marked broken, so that the pool replaces it, and the command is
    /// retried once on a fresh connection. That retry is safe for every
    /// command this backend sends: SET, GET, MGET, PEXPIRE GT, UNLINK, ZREM
    /// and SCAN are idempotent; a GETDEL whose first reply was lost can only
    /// lose the record on the retry, never hand it out twice; a `SET … GET`
    /// replacement whose reply was lost returns the value it wrote itself on
    /// the retry, which callers treat as already replaced, failing closed;
    /// the user index's scripts converge (a retry finds nothing more to
    /// end, and only under-reports what the first run ended); and a
    /// failure counter's `INCR` retried after a lost reply counts one
    /// failure twice, which errs on the side of throttling.
    async fn query<T: FromRedisValue>(&self, request: Request<'_>) -> Result<T, BackendError> {
        match self.query_once(request).await? {
            Err(e) if e.is_unrecoverable_error() => Ok(self.query_once(request).await??),
            result => Ok(result?),
        }
    }

    /// One attempt: the outer error is for no connection at all, the inner
    /// one is what the connection or Redis answered.
    async fn query_once<T: FromRedisValue>(
        &self,
        request: Request<'_>,
    ) -> Result<Result<T, RedisError>, BackendError> {
        let Connection { mut handle, broken } = self.connection().await?;
        let result = request.send(&mut handle).await;
        if matches!(&result, Err(e) if e.is_unrecoverable_error()) {
            broken.store(true, Ordering::Relaxed);
        }
        Ok(result)
    }
}

/// The operations of [`crate::backend::Backend`], one round trip each.
impl RedisBackend {
    pub(crate) async fn put(
        &self,
        key: String,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), BackendError> {
        self.query(Request::Cmd(
            cmd("SET").arg(key).arg(bytes).arg("PX").arg(millis(ttl)),
        ))
        .await
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        self.query(Request::Cmd(cmd("GET").arg(key))).await
    }

    pub(crate) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        // GETDEL (Redis 6.2+) is atomic on the server: no race between reading
        // and deleting, so one code can be redeemed only once.
        self.query(Request::Cmd(cmd("GETDEL").arg(key))).await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<bool, BackendError> {
        let removed: u64 = self.query(Request::Cmd(cmd("UNLINK").arg(key))).await?;
        Ok(removed > 0)
    }

    pub(crate) async fn delete_matching(&self, prefix: &str) -> Result<u64, BackendError> {
        // SCAN rather than KEYS, which would block Redis for the whole
        // keyspace. Not atomic: a key written during the scan may survive.
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor = 0u64;
        let mut removed = 0u64;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .query(Request::Cmd(
                    cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_BATCH),
                ))
                .await?;
            if !keys.is_empty() {
                let unlinked: u64 = self.query(Request::Cmd(cmd("UNLINK").arg(&keys))).await?;
                removed += unlinked;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    pub(crate) async fn replace(
        &self,
        key: &str,
        bytes: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        self.query(Request::Cmd(&replace_command(key, bytes, ttl)))
            .await
    }

    pub(crate) async fn extend(&self, key: &str, ttl: Duration) -> Result<(), BackendError> {
        // GT (Redis 7.0+) never shortens; on a missing key PEXPIRE is a no-op.
        let _changed: u64 = self
            .query(Request::Cmd(
                cmd("PEXPIRE").arg(key).arg(millis(ttl)).arg("GT"),
            ))
            .await?;
        Ok(())
    }

    pub(crate) async fn replace_and_get(
        &self,
        first: &str,
        bytes: Vec<u8>,
        second: &str,
    ) -> Result<Pair, BackendError> {
        let mut pipeline = redis::pipe();
        pipeline
            .add_command(replace_command(first, bytes, None))
            .cmd("GET")
            .arg(second);
        self.query(Request::Pipeline(&pipeline)).await
    }

    pub(crate) async fn get_many(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        self.query(Request::Cmd(cmd("MGET").arg(keys))).await
    }

    pub(crate) async fn ping(&self) -> Result<(), BackendError> {
        self.query(Request::Cmd(&cmd("PING"))).await
    }

    pub(crate) async fn tallies(&self, keys: &[&str]) -> Result<Vec<Tally>, BackendError> {
        let mut command = cmd("EVAL");
        command.arg(TALLIES_SCRIPT).arg(keys.len()).arg(keys);
        let flat: Vec<i64> = self.query(Request::Cmd(&command)).await?;
        tallies_from(&flat, keys.len())
    }

    pub(crate) async fn add_failure(
        &self,
        counters: &[(&str, CounterLimit)],
    ) -> Result<Vec<Tally>, BackendError> {
        let mut command = cmd("EVAL");
        command.arg(ADD_FAILURE_SCRIPT).arg(counters.len());
        for (key, _) in counters {
            command.arg(*key);
        }
        for (_, limit) in counters {
            command
                .arg(limit.failures)
                .arg(millis(limit.window))
                .arg(millis(limit.lockout));
        }
        let flat: Vec<i64> = self.query(Request::Cmd(&command)).await?;
        tallies_from(&flat, counters.len())
    }
}

/// Reads failure counters: for each key, its count and `PTTL`, flattened.
/// A missing key, or one that does not hold a count, reads as `0, 0`.
/// A script so that the reads are one command and one round trip; `EVAL`
/// rather than `EVALSHA` because it only runs on logins and failed client
/// authentications, where sending 300 bytes more costs nothing, and Redis
/// caches the compiled script either way.
const TALLIES_SCRIPT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and string.match(value, '^%d+$') then
    out[2 * i - 1] = tonumber(value)
    out[2 * i] = redis.call('PTTL', key)
  else
    out[2 * i - 1] = 0
    out[2 * i] = 0
  end
end
return out
";

/// Adds a failure to each counter, atomically (a script runs alone): a
/// key's first failure gives it the window's TTL, the failure that reaches
/// the limit the lockout's, and no key is ever left without a TTL.
/// `ARGV` holds limit, window and lockout (milliseconds) per key. Returns
/// the new count and `PTTL` per key, flattened.
const ADD_FAILURE_SCRIPT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i - 2])
  local value = redis.call('GET', key)
  if value and not string.match(value, '^%d+$') then
    redis.call('DEL', key)
  end
  local count = redis.call('INCR', key)
  if count == limit then
    redis.call('PEXPIRE', key, ARGV[3 * i])
  elseif redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, ARGV[3 * i - 1])
  end
  out[2 * i - 1] = count
  out[2 * i] = redis.call('PTTL', key)
end
return out
";

/// `count, pttl` pairs into tallies; `expected` of them.
fn tallies_from(flat: &[i64], expected: usize) -> Result<Vec<Tally>, BackendError> {
    if flat.len() != 2 * expected {
        return Err(format!(
            "asked for {expected} failure counters, got {} values",
            flat.len()
        )
        .into());
    }
    Ok(flat
        .chunks_exact(2)
        .map(|pair| match *pair {
            [failures, pttl] => Tally {
                failures: u64::try_from(failures).unwrap_or(0),
                expires_in: Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
            },
            _ => Tally::default(),
        })
        .collect())
}

/// The user index: a sorted set per user of session record keys, scored by
/// login time. Its two compound operations are Lua scripts, so that each is
/// atomic and one command from here (Redis's `INFO commandstats` also counts
/// the commands a script runs). They read and delete session records named
/// by the set's members, keys the caller cannot list in advance: like the
/// combined operations above (an `MGET` across kinds), that needs a plain
/// Redis, not Redis Cluster. Scripts go as `EVAL` (Redis caches them by
/// their hash): a login costs tens of milliseconds of Argon2, so the script's
/// few hundred bytes are nothing, and there is no `NOSCRIPT` to recover from
/// after a Redis restart.
impl RedisBackend {
    pub(crate) async fn index_add(
        &self,
        index: &str,
        records: &str,
        member: &str,
        score: u64,
        ttl: Duration,
        keep: usize,
    ) -> Result<Vec<String>, BackendError> {
        self.query(Request::Cmd(
            cmd("EVAL")
                .arg(INDEX_ADD)
                .arg(1)
                .arg(index)
                .arg(records)
                .arg(member)
                .arg(score)
                .arg(millis(ttl))
                .arg(keep),
        ))
        .await
    }

    pub(crate) async fn index_remove(&self, index: &str, member: &str) -> Result<(), BackendError> {
        // Redis deletes a sorted set when its last member goes.
        let _removed: u64 = self
            .query(Request::Cmd(cmd("ZREM").arg(index).arg(member)))
            .await?;
        Ok(())
    }

    pub(crate) async fn index_end_all(
        &self,
        index: &str,
        records: &str,
    ) -> Result<Vec<String>, BackendError> {
        self.query(Request::Cmd(
            cmd("EVAL")
                .arg(INDEX_END_ALL)
                .arg(1)
                .arg(index)
                .arg(records),
        ))
        .await
    }
}

/// `index_add`: KEYS[1] the index; ARGV the records' key prefix, the member,
/// its score, the TTL in milliseconds, how many members to keep. Members
/// whose record is gone are dropped first (they would otherwise count, and
/// be "ended" again); the new member is never ended, whatever the clocks of
/// the replicas that scored the others. The TTL is only ever raised: `PTTL`
/// is -1 on the set ZADD has just created, which has none yet.
const INDEX_ADD: &str = r"
local index, records, member = KEYS[1], ARGV[1], ARGV[2]
local ttl, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZADD', index, ARGV[3], member)
local live = {}
for _, other in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  if other == member or redis.call('EXISTS', records .. other) == 1 then
    live[#live + 1] = other
  else
    redis.call('ZREM', index, other)
  end
end
local excess = #live - keep
local ended = {}
for _, other in ipairs(live) do
  if excess <= 0 then break end
  if other ~= member then
    redis.call('ZREM', index, other)
    redis.call('UNLINK', records .. other)
    ended[#ended + 1] = other
    excess = excess - 1
  end
end
if redis.call('PTTL', index) < ttl then
  redis.call('PEXPIRE', index, ttl)
end
return ended
";

/// `index_end_all`: KEYS[1] the index; ARGV[1] the records' key prefix.
/// Returns the members whose record was still there.
const INDEX_END_ALL: &str = r"
local ended = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('UNLINK', ARGV[1] .. member) == 1 then
    ended[#ended + 1] = member
  end
end
redis.call('UNLINK', KEYS[1])
return ended
";

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connections: usize = self.pools.iter().map(|pool| pool.status().size).sum();
        f.debug_struct("RedisBackend")
            .field("url", &self.url)
            .field("pool_size_per_thread", &self.pool_size)
            .field("threads", &self.pools.iter().count())
            .field("connections", &connections)
            .finish()
    }
}

/// The oldest Redis with every command this backend sends.
const MIN_REDIS_VERSION: (u32, u32) = (7, 0);

/// `(major, minor)` from the `redis_version:` line of `INFO server`.
fn redis_version(info: &str) -> Option<(u32, u32)> {
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))?;
    let mut parts = version.trim().split('.').map(str::parse::<u32>);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

/// `ttl` in whole milliseconds, rounded up: the caller has already turned a
/// zero TTL into a delete, and a non-zero one must not become `PX 0`, which
/// Redis rejects.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// `SET key bytes XX GET` with `PX ttl` or `KEEPTTL`: replaces only an
/// existing value (a missing one is never created, so a spent code cannot
/// come back without a TTL) and returns the old value, atomically.
fn replace_command(key: &str, bytes: Vec<u8>, ttl: Option<Duration>) -> Cmd {
    let mut command = cmd("SET");
    command.arg(key).arg(bytes).arg("XX").arg("GET");
    match ttl {
        Some(ttl) => command.arg("PX").arg(millis(ttl)),
        None => command.arg("KEEPTTL"),
    };
    command
}

/// What [`RedisBackend::query`] sends.
#[derive(Clone, Copy)]
enum Request<'a> {
    Cmd(&'a Cmd),
    Pipeline(&'a Pipeline),
}

impl Request<'_> {
    async fn send<T: FromRedisValue>(
        self,
        connection: &mut MultiplexedConnection,
    ) -> Result<T, RedisError> {
        match self {
            Request::Cmd(command) => command.query_async(connection).await,
            Request::Pipeline(pipeline) => pipeline.query_async(connection).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum PoolError {
    #[error("invalid redis url")]
    Url(#[source] RedisError),
    #[error("cannot build the redis connection pool")]
    Build(#[source] managed::BuildError),
}

/// A pool of up to `size` connections to `url`, opened on demand.
fn new_pool(url: &str, size: usize) -> Result<Pool<ConnectionManager>, PoolError> {
    let connection = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let manager =
        deadpool_redis::Manager::new_with_config(url, connection).map_err(PoolError::Url)?;
    Pool::builder(ConnectionManager(manager))
        .max_size(size)
        // The most recently used connection first, so that one connection
        // carries a thread's commands and more are opened only while it is
        // being (re)connected.
        .queue_mode(QueueMode::Lifo)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT_TIMEOUT))
        .create_timeout(Some(POOL_CREATE_TIMEOUT))
        .recycle_timeout(Some(POOL_RECYCLE_TIMEOUT))
        .build()
        .map_err(PoolError::Build)
}

/// Makes every character of `literal` match only itself in a Redis glob.
fn glob_escape(literal: &str) -> String {
    let mut escaped = String::with_capacity(literal.len() + 8);
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The URL with any password replaced, safe for logs and error messages.
pub fn redact_redis_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Fails only for URLs that cannot have a password, and this
                // one has one.
                let _ = parsed.set_password(Some("redacted"));
            }
            parsed.into()
        }
        // Unparseable text may still hold a password: show none of it.
        Err(_) => "<unparseable>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_versions() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(redis_version(info), Some((7, 0)));
        assert_eq!(redis_version("redis_version:6.2.14\r\n"), Some((6, 2)));
        assert!(redis_version("redis_version:6.2.14\r\n").unwrap() < MIN_REDIS_VERSION);
        assert_eq!(redis_version("redis_version:10.1.0"), Some((10, 1)));
        assert_eq!(redis_version("# Server\r\n"), None);
        assert_eq!(redis_version("redis_version:seven"), None);
    }

    #[test]
    fn glob_escape_makes_patterns_literal() {
        assert_eq!(glob_escape("porthor:v1:code:"), "porthor:v1:code:");
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact_redis_url("redis://user:hunter2@redis.internal:6379/0"),
            "redis://user:redacted@redis.internal:6379/0"
        );
        assert_eq!(
            redact_redis_url("redis://:hunter2@h/1"),
            "redis://:redacted@h/1"
        );
        assert_eq!(
            redact_redis_url("redis://127.0.0.1:6390/0"),
            "redis://127.0.0.1:6390/0"
        );
        assert_eq!(redact_redis_url("hunter2 not a url"), "<unparseable>");
    }
}
