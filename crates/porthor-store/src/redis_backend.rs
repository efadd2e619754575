//! The Redis backend: deadpools of multiplexed connections, one per thread,
//! to one server, a Redis Cluster, or the master a Sentinel group names.
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
//!
//! A Cluster connection (redis-rs's, which deadpool-redis's cluster support
//! pools) is one handle over a multiplexed connection per node, routing
//! each command by its key's slot and following `MOVED` and `ASK`; the key
//! layout keeps every multi-key command in one slot (see `layout.rs`). A
//! Sentinel connection is a plain connection to the master the sentinels
//! name when it is made: when it fails, or finds that its server has
//! become a replica (`READONLY`), it is replaced, and its replacement asks
//! the sentinels again, which is how a failover is followed. The managers
//! are this module's rather than deadpool-redis's for the same reason as
//! the single server's (no `PING` per checkout), and so that every
//! connection has the timeouts below.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Pool, QueueMode, RecycleError, RecycleResult};
use deadpool_redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use deadpool_redis::redis::sentinel::{
    SentinelClient, SentinelNodeConnectionInfo, SentinelServerType,
};
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue,
    IntoConnectionInfo as _, Pipeline, RedisError, ServerErrorKind, TlsMode, cmd,
};
use thread_local::ThreadLocal;
use url::Url;

use porthor_models::{CounterLimit, Tally};

use crate::OpenError;
use crate::backend::{BackendError, Pair};
use crate::layout::Namespace;

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

/// Retries of a Cluster command after a redirect or a failed node, and the
/// longest wait between them: enough to follow a resharding or a replica's
/// promotion, bounded so that a request does not outlive the timeouts above.
const CLUSTER_RETRIES: u32 = 3;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 200;

/// Where Redis is.
#[derive(Clone)]
pub(crate) enum Topology {
    /// One server, by its URL.
    Single(String),
    /// A Redis Cluster, by some of its nodes' URLs.
    Cluster(Vec<String>),
    /// The master Redis Sentinel names `master_name`, by the sentinels' URLs.
    Sentinel {
        master_name: String,
        urls: Vec<String>,
    },
}

impl Topology {
    fn urls(&self) -> &[String] {
        match self {
            Topology::Single(url) => std::slice::from_ref(url),
            Topology::Cluster(urls) | Topology::Sentinel { urls, .. } => urls,
        }
    }

    /// Whether any connection is over TLS (`rediss://`).
    fn uses_tls(&self) -> bool {
        self.urls().iter().any(|url| url.starts_with("rediss:"))
    }

    /// For messages: every URL with its password redacted.
    fn shown(&self) -> String {
        let list = |urls: &[String]| {
            urls.iter()
                .map(|url| redact_redis_url(url))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Topology::Single(url) => redact_redis_url(url),
            Topology::Cluster(urls) => format!("cluster {}", list(urls)),
            Topology::Sentinel { master_name, urls } => {
                format!("master {master_name:?} of sentinels {}", list(urls))
            }
        }
    }
}

/// A multiplexed handle to Redis; a clone shares the connection.
#[derive(Clone)]
enum Handle {
    /// To one server (a single one, or the master Sentinel named).
    Server(MultiplexedConnection),
    /// To a Redis Cluster.
    Cluster(ClusterConnection),
}

/// A pooled connection: the multiplexed handle, and a flag that a command
/// sets when the connection has failed beyond repair. A clone shares both.
#[derive(Clone)]
struct Connection {
    handle: Handle,
    broken: Arc<AtomicBool>,
}

/// How connections to one topology are made.
enum Connector {
    Single(deadpool_redis::Manager),
    Cluster(ClusterClient),
    Sentinel {
        master_name: String,
        sentinels: Vec<ConnectionInfo>,
        /// The master's user, password, database and TLS.
        master: SentinelNodeConnectionInfo,
    },
}

impl Connector {
    fn new(topology: &Topology) -> Result<Self, RedisError> {
        match topology {
            Topology::Single(url) => {
                deadpool_redis::Manager::new_with_config(url.as_str(), connection_config())
                    .map(Connector::Single)
            }
            Topology::Cluster(urls) => ClusterClientBuilder::new(urls.iter().map(String::as_str))
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(CLUSTER_RETRIES)
                .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS)
                .build()
                .map(Connector::Cluster),
            Topology::Sentinel { master_name, urls } => {
                let sentinels = urls
                    .iter()
                    .map(|url| url.as_str().into_connection_info())
                    .collect::<Result<Vec<_>, _>>()?;
                let first = sentinels.first().ok_or_else(|| {
                    RedisError::from((ErrorKind::InvalidClientConfig, "no sentinel url"))
                })?;
                let mut master = SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(first.redis_settings().clone());
                if matches!(first.addr(), ConnectionAddr::TcpTls { .. }) {
                    master = master.set_tls_mode(TlsMode::Secure);
                }
                let connector = Connector::Sentinel {
                    master_name: master_name.clone(),
                    sentinels,
                    master,
                };
                // Checks the URLs and the name now; it connects to nothing.
                connector.sentinel_client()?;
                Ok(connector)
            }
        }
    }

    fn sentinel_client(&self) -> Result<SentinelClient, RedisError> {
        match self {
            Connector::Sentinel {
                master_name,
                sentinels,
                master,
            } => SentinelClient::build(
                sentinels.clone(),
                master_name.clone(),
                Some(master.clone()),
                SentinelServerType::Master,
            ),
            _ => Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "not a sentinel topology",
            ))),
        }
    }

    async fn connect(&self) -> Result<Handle, RedisError> {
        match self {
            Connector::Single(manager) => {
                managed::Manager::create(manager).await.map(Handle::Server)
            }
            Connector::Cluster(client) => client.get_async_connection().await.map(Handle::Cluster),
            Connector::Sentinel { .. } => {
                // A fresh client each time: it asks the sentinels which
                // server is the master now, and connections are made
                // rarely (once per thread, and after a failure).
                let mut client = self.sentinel_client()?;
                client
                    .get_async_connection_with_config(&connection_config())
                    .await
                    .map(Handle::Server)
            }
        }
    }
}

/// Creates connections through deadpool-redis, and recycles them by checking
/// their `broken` flag.
///
/// deadpool-redis's own manager sends `UNWATCH` + `PING` every time a
/// connection leaves the pool, doubling the round trips of every store
/// operation. Here a dead connection is instead noticed when a command fails
/// on it (see [`RedisBackend::query`]) and discarded the next time the pool
/// would hand it out, so each operation costs exactly one round trip.
struct ConnectionManager(Connector);

impl fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionManager")
    }
}

impl managed::Manager for ConnectionManager {
    type Type = Connection;
    type Error = RedisError;

    async fn create(&self) -> Result<Connection, RedisError> {
        Ok(Connection {
            handle: self.0.connect().await?,
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
    /// What each pool's connections are opened to.
    topology: Topology,
    pool_size: usize,
    /// The URLs without their passwords, for messages.
    url: String,
}

impl RedisBackend {
    /// Builds the pool and sends one `PING`, so that a wrong URL or an
    /// unreachable server stops the process at startup, not at first login.
    pub(crate) async fn open(topology: Topology, pool_size: usize) -> Result<Self, OpenError> {
        let shown = topology.shown();
        if pool_size == 0 {
            return Err(OpenError::InvalidPoolSize);
        }
        if topology.uses_tls() {
            // redis's rustls takes the process's default provider: make it
            // aws-lc-rs, the one crypto library the binary links. An error
            // means one is installed already, which then serves.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        // Validates the URLs now; each thread's pool parses them again.
        new_pool(&topology, pool_size).map_err(|e| match e {
            PoolError::Url(source) => OpenError::InvalidRedisUrl {
                url: shown.clone(),
                source: source.into(),
            },
            PoolError::Build(source) => OpenError::Pool(source.into()),
        })?;
        let backend = Self {
            pools: ThreadLocal::new(),
            topology,
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
        let info: Result<String, _> = backend
            .query(Request::OneNode(cmd("INFO").arg("server")))
            .await;
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
            .get_or_try(|| new_pool(&self.topology, self.pool_size))?;
        Ok(Connection::clone(&*pool.get().await?))
    }

    /// Runs one command or pipeline on this thread's connection.
    ///
    /// A connection that failed beyond repair (Redis restarted, socket reset,
    /// or the server became a replica in a Sentinel failover) is marked
    /// broken, so that the pool replaces it, and the command is
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
            Err(e) if needs_new_connection(&e) => Ok(self.query_once(request).await??),
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
        if matches!(&result, Err(e) if needs_new_connection(e)) {
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

    pub(crate) async fn delete_matching(&self, namespace: &Namespace) -> Result<u64, BackendError> {
        // SCAN rather than KEYS, which would block Redis for the whole
        // keyspace. Not atomic: a key written during the scan may survive.
        // Tags are base64url, so `*` in the tag's place matches exactly the
        // keys of the namespace.
        let pattern = format!(
            "{}*{}*",
            glob_escape(namespace.before_tag()),
            glob_escape(namespace.after_tag())
        );
        // A Cluster's keys are spread over its masters: SCAN each.
        let nodes = match &self.topology {
            Topology::Cluster(_) => {
                let nodes: String = self
                    .query(Request::OneNode(cmd("CLUSTER").arg("NODES")))
                    .await?;
                cluster_masters(&nodes).into_iter().map(Some).collect()
            }
            Topology::Single(_) | Topology::Sentinel { .. } => vec![None],
        };
        let mut removed = 0u64;
        for node in &nodes {
            removed += self.delete_matching_on(node.as_ref(), &pattern).await?;
        }
        Ok(removed)
    }

    /// `delete_matching` on one server: the one there is, or a Cluster node.
    async fn delete_matching_on(
        &self,
        node: Option<&(String, u16)>,
        pattern: &str,
    ) -> Result<u64, BackendError> {
        let mut cursor = 0u64;
        let mut removed = 0u64;
        loop {
            let mut scan = cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let request = match node {
                Some((host, port)) => Request::Node(&scan, host, *port),
                None => Request::Cmd(&scan),
            };
            let (next, keys): (u64, Vec<Vec<u8>>) = self.query(request).await?;
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
    /// A command, to the node its keys are on.
    Cmd(&'a Cmd),
    /// A pipeline, all of whose keys are in one slot.
    Pipeline(&'a Pipeline),
    /// A command about the server (`INFO`, `CLUSTER NODES`) whose answer
    /// any one node gives: a Cluster would otherwise send it to every node.
    OneNode(&'a Cmd),
    /// A command to one Cluster node, by address (`SCAN`).
    Node(&'a Cmd, &'a str, u16),
}

impl Request<'_> {
    async fn send<T: FromRedisValue>(self, handle: &mut Handle) -> Result<T, RedisError> {
        match handle {
            Handle::Server(connection) => self.send_to(connection).await,
            Handle::Cluster(connection) => match self {
                Request::OneNode(command) => {
                    routed(connection, command, SingleNodeRoutingInfo::RandomPrimary).await
                }
                Request::Node(command, host, port) => {
                    let node = SingleNodeRoutingInfo::ByAddress {
                        host: host.to_owned(),
                        port,
                    };
                    routed(connection, command, node).await
                }
                Request::Cmd(_) | Request::Pipeline(_) => self.send_to(connection).await,
            },
        }
    }

    async fn send_to<T: FromRedisValue>(
        self,
        connection: &mut (impl ConnectionLike + Send),
    ) -> Result<T, RedisError> {
        match self {
            Request::Cmd(command) | Request::OneNode(command) | Request::Node(command, ..) => {
                command.query_async(connection).await
            }
            Request::Pipeline(pipeline) => pipeline.query_async(connection).await,
        }
    }
}

/// `command` on the one Cluster node `node`.
async fn routed<T: FromRedisValue>(
    connection: &mut ClusterConnection,
    command: &Cmd,
    node: SingleNodeRoutingInfo,
) -> Result<T, RedisError> {
    let value = connection
        .route_command(command.clone(), RoutingInfo::SingleNode(node))
        .await?;
    Ok(redis::from_redis_value(value)?)
}

/// Whether a command's error means its connection must be replaced: it is
/// broken (Redis restarted, socket reset), or its server is no longer the
/// master (a Sentinel failover demoted it).
fn needs_new_connection(error: &RedisError) -> bool {
    error.is_unrecoverable_error() || error.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

/// The `(host, port)` of each master that is not failing, from `CLUSTER
/// NODES` (`<id> <ip:port@cport[,hostname]> <flags> …`, one node a line).
fn cluster_masters(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_id, address, flags) = (fields.next()?, fields.next()?, fields.next()?);
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|flag| flag.starts_with("fail")) {
                return None;
            }
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
enum PoolError {
    #[error("invalid redis url")]
    Url(#[source] RedisError),
    #[error("cannot build the redis connection pool")]
    Build(#[source] managed::BuildError),
}

/// The timeouts of every connection to one server.
fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
}

/// A pool of up to `size` connections to `topology`, opened on demand.
fn new_pool(topology: &Topology, size: usize) -> Result<Pool<ConnectionManager>, PoolError> {
    let connector = Connector::new(topology).map_err(PoolError::Url)?;
    Pool::builder(ConnectionManager(connector))
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
        assert_eq!(glob_escape("porthor:{"), "porthor:{");
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
    }

    #[test]
    fn cluster_masters_from_cluster_nodes() {
        let nodes = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
";
        assert_eq!(
            cluster_masters(nodes),
            [
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30001)
            ]
        );
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
