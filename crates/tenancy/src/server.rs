//! The HTTP server: hyper under the app, with what keeps it answering when
//! clients misbehave.
//!
//! poem's own server has no header timeout, keeps idle connections for ever
//! and spins when `accept` fails with `EMFILE`, so a thousand idle sockets
//! stop it from answering anyone. This one holds every connection to three
//! rules:
//!
//! - a request head must arrive whole within `header_timeout` of its first
//!   byte (or of the connection's opening), else the connection is dropped;
//! - a connection with no request in flight and no traffic for
//!   `idle_timeout` is dropped;
//! - at most `max_connections` are open at once (fewer if the process's
//!   limit of open files is lower). At the cap, the longest-idle connection
//!   (one with no request in flight) is closed to make room for the next;
//!   if every connection is busy, new ones wait in the kernel's backlog.
//!
//! When `accept` fails for want of file descriptors or memory, the loop
//! closes an idle connection and backs off instead of spinning.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use poem::endpoint::BoxEndpoint;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use crate::config::ConnectionLimits;

/// File descriptors kept for everything but client connections: the
/// database pool, the SQLite files, knowledge files, emails, logs.
const RESERVED_DESCRIPTORS: u64 = 128;

/// How long the accept loop rests after running out of file descriptors
/// or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Raises the soft limit of open files to the hard limit, and returns the
/// soft limit in force (`None`: unlimited or unknown).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => tracing::debug!(
                    from = ?limit.current,
                    to = ?limit.maximum,
                    "raised the limit of open files to its hard limit"
                ),
                Err(error) => {
                    tracing::warn!(%error, "cannot raise the limit of open files");
                }
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The most client connections to hold at once, within `limits` and what
/// the process may open.
pub fn connection_cap(limits: &ConnectionLimits, open_files: Option<u64>) -> usize {
    let by_files = open_files.map_or(usize::MAX, |files| {
        usize::try_from(files.saturating_sub(RESERVED_DESCRIPTORS).max(16)).unwrap_or(usize::MAX)
    });
    limits.max_connections.min(by_files).max(1)
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for (the rest of) a request head since then.
    Head(Instant),
    /// Serving this many requests.
    Busy(usize),
    /// No request in flight; the last traffic was then.
    Idle(Instant),
}

/// What the accept loop and the connection's watchdog know of one
/// connection.
#[derive(Debug)]
struct Connection {
    phase: Mutex<Phase>,
    /// Wakes the watchdog when the phase changes or the connection is to be
    /// closed.
    changed: Notify,
    evicted: AtomicBool,
}

impl Connection {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
            evicted: AtomicBool::new(false),
        }
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = change(*phase);
        }
        self.changed.notify_one();
    }

    /// Bytes arrived: after an idle spell, a new request head begins.
    fn on_read(&self) {
        if let Ok(mut phase) = self.phase.lock()
            && let Phase::Idle(_) = *phase
        {
            *phase = Phase::Head(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// Bytes left (a response's body streaming out): not idle yet.
    fn on_write(&self) {
        if let Ok(mut phase) = self.phase.lock()
            && let Phase::Idle(_) = *phase
        {
            *phase = Phase::Idle(Instant::now());
        }
    }

    fn begin_request(&self) {
        self.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        });
    }

    fn end_request(&self) {
        self.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }

    /// Since when the connection has had no request in flight, if so.
    fn idle_since(&self) -> Option<Instant> {
        match *self.phase.lock().ok()? {
            Phase::Head(since) | Phase::Idle(since) => Some(since),
            Phase::Busy(_) => None,
        }
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// When the connection overstays unless something happens first: its
    /// head's or its idle spell's deadline; none while a request is in flight.
    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        match *self.phase.lock().ok()? {
            Phase::Head(since) => Some(since + limits.header_timeout),
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Busy(_) => None,
        }
    }

    /// Completes when the connection has overstayed: its head took too
    /// long, it sat idle too long, or it was evicted.
    async fn overstayed(&self, limits: ConnectionLimits) {
        while !self.evicted.load(Ordering::Acquire) {
            match self.deadline(limits) {
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// The open connections, for eviction.
#[derive(Debug, Default)]
struct Registry {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

impl Registry {
    fn add(&self, connection: Arc<Connection>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, connection);
        }
        id
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    /// Closes the connection that has been idle longest; false if every
    /// connection is busy.
    fn evict_longest_idle(&self) -> bool {
        let Ok(open) = self.open.lock() else {
            return false;
        };
        let oldest = open
            .values()
            .filter(|c| !c.evicted.load(Ordering::Acquire))
            .filter_map(|c| c.idle_since().map(|since| (since, c)))
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, connection)) => {
                connection.evict();
                true
            }
            None => false,
        }
    }
}

/// A socket that tells its connection about traffic.
struct Watched {
    inner: TcpStream,
    connection: Arc<Connection>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.connection.on_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.connection.on_write();
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.connection.on_write();
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Whether an `accept` error means the process is out of a resource (and
/// should free some and wait) rather than a client that gave up.
fn is_resource_exhaustion(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux.
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
        || error.kind() == io::ErrorKind::OutOfMemory
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets requests under way finish within `grace`, and returns.
pub async fn serve(
    listener: TcpListener,
    app: impl Endpoint + 'static,
    limits: ConnectionLimits,
    cap: usize,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let app: Arc<BoxEndpoint<'static, poem::Response>> = Arc::new(app.map_to_response().boxed());
    let local = LocalAddr(listener.local_addr()?.into());
    let slots = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry::default());
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    tracing::debug!(
        cap,
        header_timeout = ?limits.header_timeout,
        idle_timeout = ?limits.idle_timeout,
        "accepting connections"
    );

    loop {
        // A slot first, so that the socket is never accepted beyond the cap.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                registry.evict_longest_idle();
                tokio::select! {
                    () = &mut shutdown => break,
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) if is_resource_exhaustion(&error) => {
                tracing::warn!(%error, "cannot accept a connection; closing an idle one and backing off");
                registry.evict_longest_idle();
                drop(slot);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
            Err(error) => {
                tracing::debug!(%error, "a connection failed while being accepted");
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let connection = Arc::new(Connection::new());
        let id = registry.add(Arc::clone(&connection));
        let app = Arc::clone(&app);
        let registry = Arc::clone(&registry);
        let local = local.clone();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let remote = RemoteAddr(peer.into());
            let service = hyper::service::service_fn({
                let connection = Arc::clone(&connection);
                move |request: poem::http::Request<Incoming>| {
                    let app = Arc::clone(&app);
                    let connection = Arc::clone(&connection);
                    let local = local.clone();
                    let remote = remote.clone();
                    async move {
                        connection.begin_request();
                        let request = poem::Request::from((
                            request,
                            local,
                            remote,
                            poem::http::uri::Scheme::HTTP,
                        ));
                        let response = app.get_response(request).await;
                        connection.end_request();
                        Ok::<_, std::convert::Infallible>(hyper::Response::from(response))
                    }
                }
            });
            let io = TokioIo::new(Watched {
                inner: socket,
                connection: Arc::clone(&connection),
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let served = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(served);
            tokio::select! {
                _ = &mut served => {}
                () = connection.overstayed(limits) => {
                    // Nothing is in flight: dropping the connection loses no
                    // response.
                    tracing::debug!(peer = %peer, "closing a slow or idle connection");
                }
                () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                    served.as_mut().graceful_shutdown();
                    let _ = served.await;
                }
            }
            registry.remove(id);
            drop(slot);
        });
    }

    // Every connection holds a slot: when all slots are back, all are closed.
    let _ = stop.send(true);
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within the grace period");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: max,
        }
    }

    #[test]
    fn the_cap_keeps_descriptors_for_the_rest() {
        assert_eq!(connection_cap(&limits(10_000), Some(1024)), 1024 - 128);
        assert_eq!(connection_cap(&limits(100), Some(1024)), 100);
        assert_eq!(connection_cap(&limits(10_000), None), 10_000);
        assert_eq!(connection_cap(&limits(10_000), Some(10)), 16);
    }

    #[tokio::test(start_paused = true)]
    async fn heads_and_idle_spells_have_deadlines_and_requests_have_none() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
        };
        // A connection that never sends its head is over after 10 s.
        let connection = Connection::new();
        let start = Instant::now();
        connection.overstayed(limits).await;
        assert_eq!(start.elapsed().as_secs(), 10);

        // A request in flight has no deadline; after it, the idle spell does.
        let connection = Arc::new(Connection::new());
        connection.begin_request();
        let watched = Arc::clone(&connection);
        let start = Instant::now();
        let watchdog = tokio::spawn(async move { watched.overstayed(limits).await });
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(!watchdog.is_finished());
        connection.end_request();
        watchdog.await.unwrap();
        assert_eq!(start.elapsed().as_secs(), 660);

        // Bytes after an idle spell start a head, with its own deadline.
        let connection = Arc::new(Connection::new());
        connection.begin_request();
        connection.end_request();
        tokio::time::sleep(Duration::from_secs(30)).await;
        connection.on_read();
        let start = Instant::now();
        connection.overstayed(limits).await;
        assert_eq!(start.elapsed().as_secs(), 10);
    }

    #[test]
    fn the_longest_idle_connection_is_evicted_and_busy_ones_never() {
        let registry = Registry::default();
        let busy = Arc::new(Connection::new());
        busy.begin_request();
        registry.add(Arc::clone(&busy));
        assert!(!registry.evict_longest_idle());
        let old = Arc::new(Connection::new());
        registry.add(Arc::clone(&old));
        std::thread::sleep(Duration::from_millis(5));
        let young = Arc::new(Connection::new());
        registry.add(Arc::clone(&young));
        assert!(registry.evict_longest_idle());
        assert!(old.evicted.load(Ordering::Acquire));
        assert!(!young.evicted.load(Ordering::Acquire));
        assert!(!busy.evicted.load(Ordering::Acquire));
    }
}
