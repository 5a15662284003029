//! The committed `docs/openapi.json` is exactly what the server serves.
//! `cargo xtask codegen` refreshes it (it runs this test with
//! `TENANCY_UPDATE_OPENAPI=1`).

use std::path::PathBuf;

use crate::support::TestApp;

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_committed_document_is_the_served_one() {
    let app = TestApp::new().await;
    let served = app.get("/openapi.json", None).await.expect(200);
    let served: serde_json::Value = serde_json::from_slice(&served.bytes).unwrap();
    let pretty = format!("{}\n", serde_json::to_string_pretty(&served).unwrap());
    assert_eq!(
        served,
        serde_json::from_str::<serde_json::Value>(&tenancy_http::openapi_json(&app.state)).unwrap()
    );
    if std::env::var("TENANCY_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(committed(), &pretty).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == pretty,
        "docs/openapi.json is stale: run `cargo xtask codegen`"
    );
    // Swagger UI is served beside it.
    app.get("/docs", None).await.expect(200);
}
