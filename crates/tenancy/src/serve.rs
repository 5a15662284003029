//! `tenancy serve` and `tenancy migrate`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tenancy_core::limits::LimitKind;
use tenancy_core::ports::Clock;
use tenancy_core::service::Settings;
use tenancy_http::{ApiConfig, AppState};
use tenancy_store::FsBlobs;
use tenancy_store::system::SystemClock;
use tenancy_store::{SecretKey, Store, StoreOptions};
use tokio::sync::watch;

use crate::Error;
use crate::config::{MailConfig, PublicUrl, ServeConfig, redact_url};
use crate::mail::{Composer, MailDir, Smtp, Transport, Worker};
use crate::purge::PurgeLogged;

/// How long requests under way, and then the email being delivered and the
/// purge under way, may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// Serves until SIGTERM or SIGINT.
pub async fn serve(config: ServeConfig) -> Result<(), Error> {
    let shutdown = shutdown_signal()?;
    serve_until(config, shutdown, |_| {}).await
}

/// Opens the store (running pending migrations), binds, starts the mail
/// worker and the purge job and serves until `shutdown` completes; then
/// stops taking connections, lets requests under way finish, stops the
/// worker and the purge job and closes the store. `on_ready` gets the bound address once connections are taken.
pub async fn serve_until(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), Error> {
    crate::files::restrict_new_files();
    let mut private = crate::files::sqlite_files(&config.database);
    private.push(config.blob_dir.clone());
    if let MailConfig::Dir(dir) = &config.mail {
        private.push(dir.clone());
    }
    for path in &private {
        crate::files::tighten(path).map_err(|e| {
            Error::io(
                format!("cannot restrict the permissions of `{}`", path.display()),
                e,
            )
        })?;
    }

    let transport: Arc<dyn Transport> = match &config.mail {
        MailConfig::Dir(dir) => Arc::new(MailDir::create(dir).map_err(|e| {
            Error::config(format!(
                "cannot create the mail folder `{}`: {e}",
                dir.display()
            ))
        })?),
        MailConfig::Smtp(url) => Arc::new(Smtp::new(url.clone())),
    };

    let store = Store::open(StoreOptions::new(config.database.clone(), config.key))
        .await
        .map_err(|source| Error::Store {
            context: "cannot open the database",
            source,
        })?;
    tracing::info!(database = %redact_url(&config.database), "database ready, migrations applied");

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::io(format!("cannot listen on {}", config.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("cannot read the bound address", e))?;
    let public_url = match config.public_url {
        Some(url) => url,
        None => {
            if addr.ip().is_unspecified() {
                tracing::warn!(
                    "links in emails will point at http://{addr}, which no one else can open; set `--public-url`"
                );
            }
            PublicUrl::from_listen_addr(addr)
        }
    };

    let blobs = FsBlobs::new(config.blob_dir);
    // Uploads a previous run left staged (it died mid-upload) are no one's.
    match blobs.sweep_staging().await {
        Ok(0) => {}
        Ok(erased) => tracing::info!(erased, "erased uploads left staged by an earlier run"),
        Err(error) => {
            tracing::warn!(%error, "cannot sweep the staged uploads; they stay until the next sweep")
        }
    }

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let settings = Settings {
        catalog: config.catalog,
        invitation_ttl: config.invitation_ttl,
        verification_ttl: config.verification_ttl,
        sessions: config.sessions,
        allow_unverified_inviters: config.allow_unverified_inviters,
        deletion_grace: config.deletion_grace,
    };
    tracing::info!(
        session_ttl = %humantime::format_duration(config.sessions.ttl.to_std().unwrap_or_default()),
        session_idle_timeout = %humantime::format_duration(
            config.sessions.idle_timeout.to_std().unwrap_or_default()
        ),
        allow_unverified_inviters = config.allow_unverified_inviters,
        "accounts"
    );
    let purge_every = crate::purge::interval(config.deletion_grace);
    tracing::info!(
        deletion_grace = %humantime::format_duration(config.deletion_grace.to_std().unwrap_or_default()),
        purge_every = ?purge_every,
        "deleted organizations"
    );
    if let Some(pause) = config.test_purge_pause {
        tracing::warn!(pause = ?pause, "TENANCY_TEST_PURGE_PAUSE is set: every purge pauses in its middle (tests only)");
    }
    let count = |kind| config.limits.get(kind).map_or(0, |limit| limit.max());
    tracing::info!(
        signin_failures_per_email = count(LimitKind::SignInFailures),
        auth_attempts_per_ip = count(LimitKind::AuthAttempts),
        account_emails_per_address = count(LimitKind::AccountEmails),
        invitations_per_organization = count(LimitKind::Invitations),
        trusted_proxies = ?config.trusted_proxies.blocks(),
        "rate limits (0 is off)"
    );
    let state = AppState::over(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::clone(&clock),
        settings,
        Arc::new(PurgeLogged::new(blobs).with_test_pause(config.test_purge_pause)),
        ApiConfig {
            service_token: config.service_token,
            max_upload_bytes: config.max_upload_bytes,
            passwords: tenancy_http::Passwords::new(config.max_concurrent_hashes),
            limits: config.limits,
            trusted_proxies: config.trusted_proxies,
            allow_private_webhooks: config.allow_private_webhooks,
        },
    );
    let (stop_sweeper, sweeper_stopping) = watch::channel(false);
    let sweeper = tokio::spawn(sweep_accounts(Arc::clone(&state.tenancy), sweeper_stopping));
    let (stop_purge, purge_stopping) = watch::channel(false);
    let mut purge = tokio::spawn(crate::purge::run(
        Arc::clone(&state.tenancy),
        purge_every,
        purge_stopping,
    ));
    let app = tenancy_http::app(state);

    let composer = Composer::new(public_url.clone(), config.mail_from);
    tracing::info!(
        transport = ?transport,
        from = %composer.from(),
        "mail delivery worker starting"
    );
    let (stop_worker, stopping) = watch::channel(false);
    let deliveries = crate::webhooks::DeliveryWorker::new(
        store.clone(),
        Arc::clone(&clock),
        config.allow_private_webhooks,
        config.webhook_time_scale,
    )
    .map_err(|e| {
        Error::io(
            "cannot build the webhooks' HTTP client",
            std::io::Error::other(e),
        )
    })?;
    if config.allow_private_webhooks {
        tracing::warn!("--allow-private-webhooks: webhooks may use http and private addresses");
    }
    if config.webhook_time_scale > 1 {
        tracing::warn!(
            scale = config.webhook_time_scale,
            "TENANCY_TEST_WEBHOOK_TIME_SCALE is set: webhook retries come sooner (tests only)"
        );
    }
    let mut webhooks = tokio::spawn(deliveries.run(stopping.clone()));
    let mut worker =
        tokio::spawn(Worker::new(store.clone(), transport, composer, clock).run(stopping));

    let open_files = crate::server::raise_open_files_limit();
    let cap = crate::server::connection_cap(&config.connections, open_files);
    if cap < config.connections.max_connections {
        tracing::warn!(
            open_files = ?open_files,
            cap,
            "the limit of open files allows fewer connections than `--max-connections`"
        );
    }
    tracing::info!(address = %addr, public_url = %public_url, "listening on http://{addr}");
    on_ready(addr);
    let served =
        crate::server::serve(listener, app, config.connections, cap, shutdown, GRACE).await;

    let _ = stop_worker.send(true);
    let _ = stop_sweeper.send(true);
    let _ = stop_purge.send(true);
    let _ = sweeper.await;
    // All within one grace: the purge stops while the workers finish.
    let (worker_stopped, purge_stopped, webhooks_stopped) = tokio::join!(
        tokio::time::timeout(GRACE, &mut worker),
        tokio::time::timeout(GRACE, &mut purge),
        tokio::time::timeout(GRACE, &mut webhooks),
    );
    if webhooks_stopped.is_err() {
        webhooks.abort();
        tracing::warn!(
            "the webhook worker did not stop in time; what it had not delivered is due again after its lease"
        );
    }
    if worker_stopped.is_err() {
        worker.abort();
        tracing::warn!(
            "the mail worker did not stop in time; what it had not sent stays in the outbox"
        );
    }
    if purge_stopped.is_err() {
        purge.abort();
        tracing::warn!(
            "the purge did not stop in time; the next run (here or on another instance) finishes it"
        );
    }
    if let Err(error) = store.close().await {
        tracing::warn!(%error, "cannot close the database cleanly");
    }
    served.map_err(|e| Error::io("the server stopped with an error", e))?;
    tracing::info!("stopped");
    Ok(())
}

/// How often ended sessions and long-expired links are removed. Ended
/// sessions are refused on every request whether or not they are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Removes ended sessions and long-expired account links, at start and then
/// every [`SWEEP_EVERY`], until told to stop. A failed sweep is logged and
/// tried again at the next turn.
async fn sweep_accounts(tenancy: Arc<tenancy_http::Tenancy>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Err(error) = tenancy.sweep_accounts().await {
                    tracing::warn!(%error, "cannot sweep ended sessions and expired links");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Completes on the first SIGTERM or SIGINT (Ctrl-C).
pub fn shutdown_signal() -> Result<impl Future<Output = ()> + Send, Error> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())
            .map_err(|e| Error::io("cannot listen for SIGTERM", e))?;
        let mut interrupt = signal(SignalKind::interrupt())
            .map_err(|e| Error::io("cannot listen for SIGINT", e))?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM received; shutting down"),
                _ = interrupt.recv() => tracing::info!("SIGINT received; shutting down"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received; shutting down");
        })
    }
}

/// Applies pending migrations.
pub async fn migrate(database: &str) -> Result<(), Error> {
    // Migrating seals nothing, but a store is built with a key: a throwaway
    // one spares `migrate` the key file.
    let key = SecretKey::generate("migrate")
        .map_err(|e| Error::io("cannot make a key", std::io::Error::other(e)))?;
    let store = Store::connect(StoreOptions::new(database, key))
        .await
        .map_err(|source| Error::Store {
            context: "cannot connect to the database",
            source,
        })?;
    store.migrate().await.map_err(|source| Error::Store {
        context: "cannot apply the migrations",
        source,
    })?;
    store.close().await.map_err(|source| Error::Store {
        context: "cannot close the database",
        source,
    })?;
    tracing::info!(database = %redact_url(database), "migrations applied");
    Ok(())
}
