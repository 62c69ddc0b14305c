//! The application in-process: started on port 0 with a fresh SQLite file (or a fresh
//! DynamoDB table on moto), and talked to over HTTP with typed helpers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use order_manager::app::{Application, Backends, connect_workflow, open_store};
use order_manager::config::{EventsKind, Settings, StoreConfig, StoreOptions, WorkflowKind};
use order_manager::domain::ids::EventId;
use order_manager::domain::ports::{EventPublisher, OrderStore, Workflow};
use order_manager::domain::service::ServiceConfig;
use order_manager::inbound::http::auth::{TokenSettings, issue_local_token};
use order_manager::outbound::dynamodb::{DynamoStore, migrate};
use order_manager::outbound::embedded::ProcessorConfig;
use order_manager::outbound::no_events::LogOnlyPublisher;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

use super::{INGEST_KEY, JWT_SECRET, latte, started, unique, waiting};

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// Holds the SQLite file; removed when the test ends.
    dir: Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for a test: loopback port 0, a fresh SQLite file, fast retries.
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut service = ServiceConfig::new(EventId::parse("default").unwrap());
    service.dispatch_interval = Duration::from_millis(50);
    service.retry_base = Duration::from_millis(50);
    service.retry_cap = Duration::from_millis(200);
    service.callback_lease = Duration::from_secs(5);
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        store: StoreConfig::Sqlite(dir.path().join("orders.db")),
        store_options: StoreOptions::default(),
        workflow: WorkflowKind::Stepfunctions,
        processor_store: StoreConfig::Sqlite(dir.path().join("processor.db")),
        processor: ProcessorConfig::default(),
        order_processor_arn: None,
        order_processor_input: order_manager::outbound::stepfunctions::StartInput::ValidatorEvent {
            source: "awsserverlessda.serverlesspresso".into(),
        },
        events: EventsKind::None,
        event_bus: "Serverlesspresso".into(),
        event_source: "awsserverlessda.serverlesspresso".into(),
        ingest_header: "x-api-key".parse().unwrap(),
        ingest_keys: vec![SecretString::from(INGEST_KEY)],
        ingest_basic: Vec::new(),
        tokens: TokenSettings::Local {
            secret: SecretString::from(JWT_SECRET),
        },
        barista_groups: vec!["admin".into()],
        cors_origins: Default::default(),
        compat: Default::default(),
        heartbeat: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        service,
    }
}

/// The moto base URL (`OM_TEST_MOTO_URL`, set by `scripts/test`), or `None` after saying
/// that `what` is skipped; with `OM_TEST_REQUIRE_MOTO` set, a missing URL fails instead.
pub fn moto_url(what: &str) -> Option<String> {
    match std::env::var("OM_TEST_MOTO_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().trim_end_matches('/').to_string()),
        _ => {
            assert!(
                std::env::var_os("OM_TEST_REQUIRE_MOTO").is_none(),
                "OM_TEST_REQUIRE_MOTO is set but OM_TEST_MOTO_URL is not: run scripts/test"
            );
            eprintln!("skipping {what}: OM_TEST_MOTO_URL is unset (scripts/test sets it)");
            None
        }
    }
}

/// The AWS SDK configuration of every client the suite points at moto.
pub fn moto_config(url: &str) -> aws_config::SdkConfig {
    use aws_sdk_sfn::config::{Credentials, Region, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "moto-tests",
        )))
        .endpoint_url(url)
        .build()
}

/// The moto configuration, with moto's Step Functions interpreter switched on (it must be on
/// before a state machine is created: executions then run).
pub async fn moto_with_interpreter(url: &str) -> aws_config::SdkConfig {
    let res = reqwest::Client::new()
        .post(format!("{url}/moto-api/config"))
        .json(&json!({"stepfunctions": {"execute_state_machine": true}}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto at {url} does not answer: {e}"));
    assert!(res.status().is_success(), "moto config: {}", res.status());
    moto_config(url)
}

/// The store the suite runs on: the settings' SQLite file, or, with `OM_TEST_STORE=dynamodb`
/// (as `scripts/test` runs the suite a second time), a fresh table on moto.
pub async fn test_store(settings: &Settings) -> Arc<dyn OrderStore> {
    if std::env::var("OM_TEST_STORE").as_deref() != Ok("dynamodb") {
        return open_store(&settings.store, settings.store_options)
            .await
            .unwrap();
    }
    let moto = std::env::var("OM_TEST_MOTO_URL")
        .expect("OM_TEST_STORE=dynamodb needs OM_TEST_MOTO_URL (scripts/test sets both)");
    let client = aws_sdk_dynamodb::Client::new(&moto_config(&moto));
    let table = unique("api");
    migrate(&client, &table, 4).await.unwrap();
    Arc::new(DynamoStore::connect(client, &table, 4).await.unwrap())
}

impl TestApp {
    /// The application with `workflow` as its workflow adapter.
    pub async fn spawn(workflow: Arc<dyn Workflow>) -> TestApp {
        Self::spawn_with(workflow, |_| {}).await
    }

    /// With `workflow` and no event bus (events are only logged).
    pub async fn spawn_with(
        workflow: Arc<dyn Workflow>,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestApp {
        Self::spawn_with_publisher(workflow, Arc::new(LogOnlyPublisher), tweak).await
    }

    /// With `workflow` and `publisher` as the event bus adapter.
    pub async fn spawn_with_publisher(
        workflow: Arc<dyn Workflow>,
        publisher: Arc<dyn EventPublisher>,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut settings = test_settings(&dir);
        tweak(&mut settings);
        let store = test_store(&settings).await;
        let backends = Backends {
            store,
            workflow,
            publisher,
            processor: None,
        };
        Self::start(dir, settings, backends).await
    }

    /// With the embedded order processor as the workflow, as `cargo run` has it.
    pub async fn spawn_embedded(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_embedded_in(Arc::new(tempfile::tempdir().unwrap()), tweak).await
    }

    /// As [`TestApp::spawn_embedded`], with its files in `dir` (which the caller may keep).
    pub async fn spawn_embedded_in(
        dir: Arc<TempDir>,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let mut settings = test_settings(&dir);
        settings.workflow = WorkflowKind::Embedded;
        tweak(&mut settings);
        let store = test_store(&settings).await;
        let (workflow, processor) = connect_workflow(&settings).await.unwrap();
        let backends = Backends {
            store,
            workflow,
            publisher: Arc::new(LogOnlyPublisher),
            processor,
        };
        Self::start(dir, settings, backends).await
    }

    /// Serves `backends` with `settings`, its files in `dir`.
    pub async fn start(dir: Arc<TempDir>, settings: Settings, backends: Backends) -> TestApp {
        let app = Application::build(settings, backends).await.unwrap();
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            addr,
            http: reqwest::Client::new(),
            dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The SQLite file of the orders (unless the suite runs on DynamoDB).
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        (std::env::var("OM_TEST_STORE").as_deref() != Ok("dynamodb"))
            .then(|| self.dir.path().join("orders.db"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A token for a customer.
    pub fn customer(&self, sub: &str) -> String {
        issue_local_token(
            &SecretString::from(JWT_SECRET),
            sub,
            &[],
            Duration::from_secs(600),
        )
        .unwrap()
    }

    /// A token for a barista (group `admin`).
    pub fn barista(&self, sub: &str) -> String {
        issue_local_token(
            &SecretString::from(JWT_SECRET),
            sub,
            &["admin".to_string()],
            Duration::from_secs(600),
        )
        .unwrap()
    }

    /// Sends a request; returns the status and the body as JSON (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        read(res).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), None).await
    }

    pub async fn submit(&self, order_id: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &format!("/v1/orders/{order_id}/drink"),
            Some(token),
            Some(&body),
        )
        .await
    }

    /// `PUT /v1/orders/{id}/drink` as `user`, for tests that read the raw response.
    pub async fn submit_raw(&self, order_id: &str, user: &str, body: &Value) -> reqwest::Response {
        self.http
            .put(self.url(&format!("/v1/orders/{order_id}/drink")))
            .bearer_auth(self.customer(user))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts an order of `user` with token #1 (WorkflowStarted); returns its id.
    pub async fn start_order(&self, user: &str, token: &str) -> String {
        let id = unique("order");
        self.ingest_ok(&started(&id, user, token), "applied").await;
        id
    }

    /// Starts, submits (token #1 must be accepted) and queues an order; returns its id.
    pub async fn queue_order(&self, user: &str, t1: &str, t2: &str) -> String {
        let id = self.start_order(user, t1).await;
        let (status, body) = self.submit(&id, &self.customer(user), latte()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.ingest_ok(&waiting(&id, user, t2, "42"), "applied")
            .await;
        id
    }

    /// Posts an EventBridge envelope to the ingest endpoint with the right key.
    pub async fn ingest(&self, envelope: &Value) -> (StatusCode, Value) {
        let res = self
            .http
            .post(self.url("/v1/events"))
            .header("x-api-key", INGEST_KEY)
            .header("content-type", "application/json; charset=utf-8")
            .header("user-agent", "Amazon/EventBridge/ApiDestinations")
            .body(envelope.to_string())
            .send()
            .await
            .unwrap();
        read(res).await
    }

    /// Ingests and insists on a 200 with the given outcome.
    pub async fn ingest_ok(&self, envelope: &Value, outcome: &str) {
        let (status, body) = self.ingest(envelope).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["outcome"], outcome, "{body}");
    }

    /// `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        let res = self.http.get(self.url("/metrics")).send().await.unwrap();
        res.text().await.unwrap()
    }

    /// The order as its owner sees it.
    pub async fn order(&self, order_id: &str, owner: &str) -> Value {
        let (status, body) = self
            .get(&format!("/v1/orders/{order_id}"), &self.customer(owner))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

impl TestApp {
    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn read(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}
