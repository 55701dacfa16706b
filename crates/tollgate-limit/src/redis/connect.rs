//! How a store reaches Redis: one server, a Sentinel service's primary
//! (followed through failovers), or a Cluster.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::sync::{OnceCell, oneshot};

use super::{RedisOptions, RedisStoreError};

/// The scheme of a store on a Redis Sentinel service's primary.
pub(super) const SENTINEL_SCHEME: &str = "redis+sentinel://";

/// Sentinel's port, when a URL names none.
pub(super) const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// A sentinel's host and port from `host`, `host:port`, `[v6]`, `[v6]:port`
/// or a bare IPv6 address (which cannot carry a port: `[v6]:port` does).
pub(super) fn sentinel_address(text: &str) -> Result<(&str, u16), &'static str> {
    let (name, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (name, rest) = bracketed
            .split_once(']')
            .ok_or("a sentinel's IPv6 address has no closing ']'")?;
        match rest {
            "" => (name, None),
            _ => (
                name,
                Some(
                    rest.strip_prefix(':')
                        .ok_or("expected ':' and a port after ']'")?,
                ),
            ),
        }
    } else {
        match text.split_once(':') {
            Some((name, port)) if !port.contains(':') => (name, Some(port)),
            _ => (text, None),
        }
    };
    if name.is_empty() {
        return Err("a sentinel has no host");
    }
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| "a sentinel's port is not a number")?,
        None => DEFAULT_SENTINEL_PORT,
    };
    Ok((name, port))
}

/// The user and password of `user:password`, read as a `redis://` URL reads
/// them (percent-decoded).
fn read_credentials(credentials: &str) -> RedisResult<(Option<String>, Option<String>)> {
    let info = redis::IntoConnectionInfo::into_connection_info(format!(
        "redis://{credentials}@localhost"
    ))?;
    let settings = info.redis_settings();
    Ok((
        settings.username().map(str::to_owned),
        settings.password().map(str::to_owned),
    ))
}

/// How a connection to one server waits and retries.
fn server_config(options: &RedisOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.timeout))
        // Callers time out on their own (queue and call); this bounds the
        // calls that tasks send, and fires after the callers' own.
        .set_response_timeout(Some(options.timeout.saturating_mul(2)))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(200))
}

/// The URL schemes of a Redis Cluster store, each with its nodes' scheme.
pub(super) const CLUSTER_SCHEMES: [(&str, &str); 2] = [
    ("redis+cluster://", "redis://"),
    ("rediss+cluster://", "rediss://"),
];

/// Makes a `rediss://` URL usable: rustls's aws-lc-rs provider installed as
/// the process's default, unless the application installed one already.
#[cfg(feature = "rustls")]
pub(super) fn prepare_tls(_url: &str) -> Result<(), RedisStoreError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(())
}

/// Without the `rustls` feature, a `rediss://` URL is refused at once.
#[cfg(not(feature = "rustls"))]
pub(super) fn prepare_tls(url: &str) -> Result<(), RedisStoreError> {
    Err(RedisStoreError::invalid(
        url,
        "rediss:// needs the `rustls` feature of tollgate-limit",
    ))
}

/// Where a store's calls go.
pub(super) enum Link {
    /// One Redis server (or a proxy), or a Sentinel service's primary.
    Server(Arc<ServerLink>),
    /// A Redis Cluster.
    Cluster(Box<ClusterLink>),
}

/// One Redis server, through a [`ConnectionManager`]: one multiplexed
/// connection that reconnects by itself when it breaks.
///
/// The connection is also dropped, and the next call makes a new one, when
/// the server answers `READONLY`: it was a primary and is now a replica (a
/// failover), and the store's address (a DNS name, a virtual IP, a proxy, a
/// Kubernetes service) leads to the new primary, but only for new
/// connections. redis's manager reconnects on broken connections only, so
/// without this every admission would fail until the process restarts. The
/// same for a call that times out: a server gone without a word (a host
/// powered off, a partition) leaves a connection that only ever times out,
/// until the kernel gives up on it some fifteen minutes later. On
/// a Sentinel service, the sentinels are asked for the primary again for
/// every new connection, a broken connection is dropped too (its primary
/// may be gone for good), and so is the connection when the sentinels
/// announce a new primary ([`watch_sentinels`]).
pub(super) struct ServerLink {
    config: ConnectionManagerConfig,
    state: tokio::sync::Mutex<ServerState>,
    /// Dropped with the link, which ends its sentinel watch.
    _watched: Option<oneshot::Sender<()>>,
}

/// A [`ServerLink`]'s connection and where it leads.
struct ServerState {
    target: Target,
    /// Made by the first call that needs it.
    connection: Option<ConnectionManager>,
    /// How many connections were dropped, so that the calls that failed on
    /// one drop it once, not each.
    dropped: u64,
}

/// Where a server link connects.
pub(super) enum Target {
    /// One address.
    Address(redis::Client),
    /// The primary of a Redis Sentinel service.
    Sentinel(SentinelClient),
}

impl ServerLink {
    pub(super) fn new(
        target: Target,
        config: ConnectionManagerConfig,
        watched: Option<oneshot::Sender<()>>,
    ) -> Arc<ServerLink> {
        Arc::new(ServerLink {
            config,
            state: tokio::sync::Mutex::new(ServerState {
                target,
                connection: None,
                dropped: 0,
            }),
            _watched: watched,
        })
    }

    /// The connection and its number.
    pub(super) async fn connection(&self) -> RedisResult<(u64, ConnectionManager)> {
        let mut state = self.state.lock().await;
        let connection = match &state.connection {
            Some(connection) => connection.clone(),
            None => {
                let client = match &mut state.target {
                    Target::Address(client) => client.clone(),
                    Target::Sentinel(sentinel) => sentinel.async_get_client().await?,
                };
                let connection =
                    ConnectionManager::new_lazy_with_config(client, self.config.clone())?;
                state.connection = Some(connection.clone());
                connection
            }
        };
        Ok((state.dropped, connection))
    }

    /// Drops connection number `number` if `error` says it leads to the
    /// wrong server, unless that was done already.
    pub(super) async fn drop_if_stale(&self, number: u64, error: &redis::RedisError) {
        let mut state = self.state.lock().await;
        let read_only = error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
        // A server that is gone without a word (a host powered off, a
        // partition) only ever times out, and the connection manager does
        // not reconnect on a timeout: the dead socket would stay until the
        // kernel gives up on it (about 15 minutes). For a sentinel's primary,
        // any I/O error (ask the sentinels again). At most one new
        // connection per connection that failed, whatever the number of
        // calls on it.
        let broken = error.is_timeout()
            || (matches!(state.target, Target::Sentinel(_)) && error.is_io_error());
        if state.dropped == number && (read_only || broken) {
            state.connection = None;
            state.dropped += 1;
        }
    }

    /// Drops the connection, whatever it is.
    async fn drop_connection(&self) {
        let mut state = self.state.lock().await;
        state.connection = None;
        state.dropped += 1;
    }
}

/// Listens to the sentinels for `+switch-master` of `service`, and drops
/// the link's connection when it comes, so that the next call asks for the
/// new primary. Without it, decisions would go on to the old primary until
/// the sentinels demote it (their next look at it: up to ten seconds, and
/// what it records meanwhile is lost). Listens to one sentinel at a time,
/// trying the next when one is out of reach (each of them announces every
/// switch), all again a second later; ends when the link is dropped.
async fn watch_sentinels(
    link: std::sync::Weak<ServerLink>,
    mut dropped: oneshot::Receiver<()>,
    sentinels: Vec<redis::ConnectionInfo>,
    service: String,
) {
    use futures_util::StreamExt as _;
    use futures_util::future::{Either, select};
    loop {
        for address in &sentinels {
            let listen = async {
                let client = redis::Client::open(address.clone())?;
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe("+switch-master").await?;
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    // "<service> <old ip> <old port> <new ip> <new port>"
                    let switch: String = message.get_payload()?;
                    if switch.split(' ').next() != Some(service.as_str()) {
                        continue;
                    }
                    let Some(link) = link.upgrade() else {
                        break;
                    };
                    tracing::info!(%switch, "rate-limit store: Redis Sentinel named a new primary");
                    link.drop_connection().await;
                }
                Ok::<(), redis::RedisError>(())
            };
            match select(&mut dropped, std::pin::pin!(listen)).await {
                Either::Left(_) => return,
                Either::Right((Err(error), _)) => {
                    let sentinel = address.addr();
                    tracing::debug!(%error, %sentinel, "rate-limit store: a sentinel is out of reach");
                }
                Either::Right((Ok(()), _)) => {}
            }
        }
        let pause = std::pin::pin!(tokio::time::sleep(Duration::from_secs(1)));
        if let Either::Left(_) = select(&mut dropped, pause).await {
            return;
        }
    }
}

/// A Redis Cluster, through redis's cluster client. Its connection is made
/// by the first call that needs it (the cluster may be down when the store
/// opens), and again by a later call if that failed; once made, it follows
/// the cluster's slots and reconnects to nodes by itself.
pub(super) struct ClusterLink {
    client: ClusterClient,
    connection: OnceCell<ClusterConnection>,
}

impl Link {
    /// A link to the server at `url`.
    pub(super) fn server(url: &str, options: &RedisOptions) -> Result<Link, RedisStoreError> {
        #[cfg(feature = "rustls")]
        let client = match options.tls_certificates() {
            Some(certificates) => redis::Client::build_with_tls(url, certificates),
            None => redis::Client::open(url),
        };
        #[cfg(not(feature = "rustls"))]
        let client = redis::Client::open(url);
        let client = client.map_err(|e| RedisStoreError::url(url, e))?;
        Ok(Link::Server(ServerLink::new(
            Target::Address(client),
            server_config(options),
            None,
        )))
    }

    /// A link to the primary of the Sentinel service that `spec` names
    /// (`[user:pass@]host[:port][,host[:port]…]/service[/db][?sentinel_password=…]`,
    /// what follows the scheme of `url`; the credentials are the primary's).
    pub(super) fn sentinel(
        url: &str,
        spec: &str,
        options: &RedisOptions,
    ) -> Result<Link, RedisStoreError> {
        let invalid = |why: &str| RedisStoreError::invalid(url, why);
        let usage = "expected redis+sentinel://host:port[,host:port…]/service[/db]";
        let (spec, query) = spec.split_once('?').unwrap_or((spec, ""));
        let mut sentinel_password = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some(("sentinel_password", value)) => {
                    let (_, password) = read_credentials(&format!(":{value}"))
                        .map_err(|_| invalid("the sentinel password cannot be read"))?;
                    sentinel_password = password;
                }
                _ => {
                    return Err(invalid(
                        "the only option of redis+sentinel:// is sentinel_password",
                    ));
                }
            }
        }
        let (credentials, rest) = match spec.rsplit_once('@') {
            Some((credentials, rest)) => (Some(credentials), rest),
            None => (None, spec),
        };
        let (hosts, path) = rest.split_once('/').ok_or_else(|| invalid(usage))?;
        let (service, database) = path.split_once('/').unwrap_or((path, ""));
        if service.is_empty() {
            return Err(invalid(usage));
        }
        let sentinels = hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| {
                let (name, port) = sentinel_address(host).map_err(invalid)?;
                Ok(redis::ConnectionAddr::Tcp(name.to_owned(), port))
            })
            .collect::<Result<Vec<_>, RedisStoreError>>()?;
        if sentinels.is_empty() {
            return Err(invalid(usage));
        }
        let mut builder = SentinelClientBuilder::new(
            sentinels.iter().cloned(),
            service,
            SentinelServerType::Master,
        )
        .map_err(|e| RedisStoreError::url(url, e))?;
        if !database.is_empty() {
            let database = database
                .parse()
                .map_err(|_| invalid("the database is not a number"))?;
            builder = builder.set_client_to_redis_db(database);
        }
        if let Some(credentials) = credentials {
            let (user, password) = read_credentials(credentials)
                .map_err(|_| invalid("the credentials cannot be read"))?;
            if let Some(user) = user {
                builder = builder.set_client_to_redis_username(user);
            }
            if let Some(password) = password {
                builder = builder.set_client_to_redis_password(password);
            }
        }
        // The sentinels as the watch connects to them.
        let mut sentinel_auth = redis::RedisConnectionInfo::default();
        if let Some(password) = &sentinel_password {
            builder = builder.set_client_to_sentinel_password(password);
            sentinel_auth = sentinel_auth.set_password(password);
        }
        let watched_sentinels = sentinels
            .iter()
            .map(|address| {
                let info = redis::IntoConnectionInfo::into_connection_info(address.clone())?;
                Ok(info.set_redis_settings(sentinel_auth.clone()))
            })
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| RedisStoreError::url(url, e))?;
        let sentinel = builder.build().map_err(|e| RedisStoreError::url(url, e))?;
        let (watched, dropped) = oneshot::channel();
        let link = ServerLink::new(
            Target::Sentinel(sentinel),
            server_config(options),
            Some(watched),
        );
        let watch = watch_sentinels(
            Arc::downgrade(&link),
            dropped,
            watched_sentinels,
            service.to_owned(),
        );
        // Without a runtime the store cannot run anyway; its calls say so.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(watch));
        }
        Ok(Link::Server(link))
    }

    /// A link to the cluster whose nodes `nodes` lists
    /// (`[user:pass@]host:port,host:port`, what follows the scheme of `url`),
    /// reached with `node_scheme`.
    pub(super) fn cluster(
        url: &str,
        node_scheme: &str,
        nodes: &str,
        options: &RedisOptions,
    ) -> Result<Link, RedisStoreError> {
        let invalid = |why: &str| RedisStoreError::invalid(url, why);
        let (nodes, database) = nodes.split_once('/').unwrap_or((nodes, ""));
        if !matches!(database, "" | "0") {
            return Err(invalid("a Redis Cluster has only database 0"));
        }
        let (credentials, hosts) = match nodes.rsplit_once('@') {
            Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
            None => (String::new(), nodes),
        };
        let urls: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{node_scheme}{credentials}{host}"))
            .collect();
        if urls.is_empty() {
            return Err(invalid("expected redis+cluster://host:port[,host:port…]"));
        }
        let builder = ClusterClientBuilder::new(urls);
        #[cfg(feature = "rustls")]
        let builder = match options.tls_certificates() {
            Some(certificates) => builder.certs(certificates),
            None => builder,
        };
        let client = builder
            .connection_timeout(options.timeout)
            // As for one server: callers time out first, and a call that
            // failed is tried again after 50-200 ms (redis's default is 1.3 s
            // at least, past most callers' timeouts).
            .response_timeout(options.timeout.saturating_mul(2))
            .min_retry_wait(50)
            .max_retry_wait(200)
            .build()
            .map_err(|e| RedisStoreError::url(url, e))?;
        Ok(Link::Cluster(Box::new(ClusterLink {
            client,
            connection: OnceCell::new(),
        })))
    }

    /// A handle on the link's connection (cheap: they are multiplexed).
    pub(super) async fn connection(&self) -> RedisResult<Connection> {
        match self {
            Link::Server(server) => {
                let (number, conn) = server.connection().await?;
                Ok(Connection::Server(conn, number))
            }
            Link::Cluster(cluster) => cluster
                .connection
                .get_or_try_init(|| cluster.client.get_async_connection())
                .await
                .map(|conn| Connection::Cluster(conn.clone())),
        }
    }
}

/// A connection to one server (with its number, see [`ServerLink`]) or to a
/// cluster, for commands alike.
pub(super) enum Connection {
    Server(ConnectionManager, u64),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(conn, _) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(conn, _) => conn.req_packed_commands(cmd, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(conn, _) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: redis::ErrorKind) -> redis::RedisError {
        (kind, "test").into()
    }

    /// A link to an address nothing listens on: its connections are made
    /// lazily, so handing them out needs no server.
    fn unconnected_link() -> Arc<ServerLink> {
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let config = server_config(&RedisOptions::default());
        ServerLink::new(Target::Address(client), config, None)
    }

    /// A server's connection is dropped for `READONLY` (or a timeout), not
    /// for an I/O error its manager recovers from by itself; and once per
    /// connection, however many of its calls failed.
    #[tokio::test]
    async fn a_server_connection_is_dropped_once_for_read_only_only() {
        let link = unconnected_link();
        let (first, _) = link.connection().await.unwrap();
        link.drop_if_stale(first, &error(redis::ErrorKind::Io))
            .await;
        assert_eq!(link.connection().await.unwrap().0, first, "kept");
        let read_only = redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
        link.drop_if_stale(first, &error(read_only)).await;
        link.drop_if_stale(first, &error(read_only)).await;
        assert_eq!(link.connection().await.unwrap().0, first + 1, "once");
    }

    /// The sentinels' announcement drops whatever connection there is;
    /// calls that failed on the one before then leave the new one be.
    #[tokio::test]
    async fn a_new_primary_drops_the_connection_and_old_failures_spare_the_next() {
        let link = unconnected_link();
        let (first, _) = link.connection().await.unwrap();
        link.drop_connection().await;
        let (second, _) = link.connection().await.unwrap();
        assert_eq!(second, first + 1);
        let read_only = redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
        link.drop_if_stale(first, &error(read_only)).await;
        assert_eq!(link.connection().await.unwrap().0, second, "kept");
    }

    /// A connection tells the database its URL names, as redis's own do.
    #[tokio::test]
    async fn a_server_connection_tells_its_database() {
        use redis::aio::ConnectionLike as _;
        let client = redis::Client::open("redis://127.0.0.1:1/3").unwrap();
        let config = server_config(&RedisOptions::default());
        let link = ServerLink::new(Target::Address(client), config, None);
        let (number, conn) = link.connection().await.unwrap();
        assert_eq!(Connection::Server(conn, number).get_db(), 3);
    }
}
