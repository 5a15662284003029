//! Runs the example host on `127.0.0.1:8090` over a SQLite database in
//! `./host-data/`: `cargo run -p tenancy-example-host`.

use std::sync::Arc;

use tenancy_core::service::Settings;
use tenancy_example_host::{Warehouse, app};
use tenancy_http::{ApiConfig, AppState};
use tenancy_store::{FsBlobs, SecretKey, Store, StoreOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all("host-data")?;
    // A real host keeps this key in a file or a secret manager; a fresh key
    // per run makes the credentials of earlier runs unreadable.
    let key = SecretKey::generate("example")?;
    let store = Store::open(StoreOptions::new("sqlite://host-data/tenancy.db", key)).await?;
    // The audit events this process commits, as the webhooks deliver them:
    // a host reacts to a change in process (here, it logs it). A subscriber
    // that lags behind reads what it missed from the log, by `seq`.
    let mut events = store.subscribe();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => println!(
                    "audit: {} #{} {} on {} {}",
                    event.organization_id,
                    event.seq,
                    event.action,
                    event.target.kind.name(),
                    event.target.label
                ),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    println!("audit: {missed} events missed; read them from the log");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    let state = AppState::new(
        store,
        Settings::default(),
        Arc::new(FsBlobs::new("host-data/blobs")),
        ApiConfig::default(),
    );
    let warehouse = Warehouse {
        api_key: std::env::var("WAREHOUSE_API_KEY").unwrap_or_else(|_| "demo-key".to_owned()),
    };
    println!("example host on http://127.0.0.1:8090");
    poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:8090"))
        .run(app(state, warehouse))
        .await?;
    Ok(())
}
