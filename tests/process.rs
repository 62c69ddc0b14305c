//! The binary as operators run it: JSON logs whose lines name their request, and SIGTERM.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::fake_sfn::{FakeStepFunctions, Mode};
use support::process::{INGEST_KEY, Service};
use support::{started, unique};

#[tokio::test]
async fn json_logs_name_the_request_each_line_belongs_to() {
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Service::start_with(dir.path(), &fake.endpoint(), &[("OM_LOG_FORMAT", "json")]).await;
    let http = reqwest::Client::new();
    let id = unique("o");
    let res = http
        .post(svc.url("/v1/events"))
        .header("x-api-key", INGEST_KEY)
        .header("x-request-id", "req-from-eventbridge-42")
        .json(&started(&id, "alice", "t-json-logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "req-from-eventbridge-42");
    // Without one, the service makes one up, and says which.
    let res = http.get(svc.url("/healthz")).send().await.unwrap();
    let made = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");

    let log = svc.log();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let ingested = lines
        .iter()
        .find(|l| l["fields"]["message"] == "ingested event")
        .unwrap_or_else(|| panic!("no `ingested event` line in:\n{log}"));
    assert_eq!(ingested["level"], "INFO");
    assert_eq!(ingested["span"]["request_id"], "req-from-eventbridge-42");
    assert_eq!(ingested["span"]["route"], "/v1/events");
    assert!(ingested["timestamp"].is_string());
}

#[tokio::test]
async fn sigterm_stops_the_service_cleanly() {
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let mut svc =
        Service::start_with(dir.path(), &fake.endpoint(), &[("OM_SHUTDOWN_GRACE", "5s")]).await;
    let status = svc
        .terminate(Duration::from_secs(10))
        .expect("exited within the grace period");
    assert!(status.success(), "{status}");
    let log = svc.log();
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("shut down"), "{log}");
}

/// `order-manager healthcheck` (the container's health check) with `OM_LISTEN` as given.
fn healthcheck(listen: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_order-manager"))
        .arg("healthcheck")
        .env("OM_LISTEN", listen)
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_healthcheck_command_asks_the_running_service() {
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let dir = tempfile::tempdir().unwrap();
    let mut svc = Service::start(dir.path(), &fake.endpoint()).await;
    let port = svc.addr.port();
    let ready = healthcheck(&svc.addr.to_string());
    assert!(ready.status.success(), "{ready:?}");
    // A container listens on 0.0.0.0: the check asks loopback.
    assert!(healthcheck(&format!("0.0.0.0:{port}")).status.success());
    svc.terminate(Duration::from_secs(10)).unwrap();
    let down = healthcheck(&svc.addr.to_string());
    assert!(!down.status.success());
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(err.contains("healthcheck"), "{err}");
}
