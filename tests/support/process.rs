//! The real `order-manager` binary as a child process on a loopback port, with an SQLite
//! file the test owns, and an HTTP client with typed helpers.

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use order_manager::inbound::http::auth::issue_local_token;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

pub use super::{INGEST_KEY, JWT_SECRET};
pub const BARISTA: &str = "barista-faults";

/// One run of the binary. Killed (SIGKILL) when dropped.
pub struct Service {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub db: PathBuf,
    log: PathBuf,
}

impl Service {
    /// Starts the binary on `<dir>/orders.db`, calling back the Step Functions at `endpoint`,
    /// and waits until `GET /readyz` answers 200.
    pub async fn start(dir: &Path, endpoint: &str) -> Service {
        Self::start_with(dir, endpoint, &[]).await
    }

    /// As [`Service::start`], with `env` set on top (e.g. `OM_WORKFLOW=embedded`).
    pub async fn start_with(dir: &Path, endpoint: &str, env: &[(&str, &str)]) -> Service {
        let db = dir.join("orders.db");
        let log = dir.join("order-manager.log");
        let mut last_failure = String::new();
        // A port picked here may be taken by someone else before the child binds it: retry.
        for _ in 0..3 {
            let addr = free_port();
            let mut child = command(&db, addr, endpoint, &log)
                .envs(env.iter().copied())
                .spawn()
                .unwrap();
            match wait_ready(&mut child, addr).await {
                Ok(()) => {
                    return Service {
                        child: Some(child),
                        addr,
                        db,
                        log,
                    };
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_failure = why;
                }
            }
        }
        panic!(
            "order-manager did not become ready: {last_failure}\n--- log ---\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `kill -9`: SIGKILL, then reap the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success(), "killed, not exited: {status}");
        }
    }

    /// SIGTERM, as an orchestrator stops a container; waits up to `within` for the exit.
    /// `None` if the process did not exit in time (it is then killed).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The process's log so far (stdout and stderr of every run in this directory).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn command(db: &Path, addr: SocketAddr, endpoint: &str, log: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_order-manager"));
    // Nothing inherited may change the configuration: no OM_*, no AWS_* (profiles, config
    // files), no proxies.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("OM_") || upper.starts_with("AWS_") || upper.ends_with("_PROXY") {
            c.env_remove(k);
        }
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    c.env("OM_LISTEN", addr.to_string())
        .env("OM_STORE", format!("sqlite:{}", db.display()))
        .env("OM_INGEST_API_KEY", INGEST_KEY)
        .env("OM_JWT_SECRET", JWT_SECRET)
        .env("OM_WORKFLOW", "stepfunctions")
        // Another engineer adds this variable; unknown variables are ignored.
        .env("OM_EVENTS", "none")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info,aws_config=warn")
        .current_dir(db.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    c
}

async fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("exited at start-up: {status}"));
        }
        if let Ok(res) = http.get(format!("http://{addr}/readyz")).send().await
            && res.status() == StatusCode::OK
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("not ready within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// An HTTP answer: status, `Retry-After` and the body as JSON (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (Retry-After: {:?}) {}",
            self.status, self.retry_after, self.body
        )
    }
}

/// A client of one service address. Transport errors are returned, not unwrapped: the
/// crash tests expect them.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Api {
        Api {
            base: format!("http://{addr}"),
            http: client(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        let res = req.send().await?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }

    /// `POST /v1/events` with the ingest key.
    pub async fn ingest(&self, envelope: &Value) -> Result<Reply, reqwest::Error> {
        self.send(
            self.http
                .post(format!("{}/v1/events", self.base))
                .header("x-api-key", INGEST_KEY)
                .header("content-type", "application/json; charset=utf-8")
                .body(envelope.to_string()),
        )
        .await
    }

    /// `PUT /v1/orders/{id}/drink` as `user`: a Latte with oat milk.
    pub async fn submit(&self, order_id: &str, user: &str) -> Result<Reply, reqwest::Error> {
        self.send(
            self.http
                .put(format!("{}/v1/orders/{order_id}/drink", self.base))
                .bearer_auth(customer(user))
                .json(&json!({"drink": "Latte", "modifiers": ["Oat"]})),
        )
        .await
    }

    /// `POST /v1/orders/{id}/complete` as the barista.
    pub async fn complete(&self, order_id: &str) -> Result<Reply, reqwest::Error> {
        self.send(
            self.http
                .post(format!("{}/v1/orders/{order_id}/complete", self.base))
                .bearer_auth(barista()),
        )
        .await
    }

    /// `POST /v1/orders/{id}/claim` as the barista `sub`.
    pub async fn claim(&self, order_id: &str, sub: &str) -> Result<Reply, reqwest::Error> {
        self.send(
            self.http
                .post(format!("{}/v1/orders/{order_id}/claim", self.base))
                .bearer_auth(barista_named(sub)),
        )
        .await
    }

    /// `GET /v1/orders/{id}` as `user`.
    pub async fn get(&self, order_id: &str, user: &str) -> Result<Reply, reqwest::Error> {
        self.send(
            self.http
                .get(format!("{}/v1/orders/{order_id}", self.base))
                .bearer_auth(customer(user)),
        )
        .await
    }

    /// The order as its owner sees it; panics unless it is there.
    pub async fn order(&self, order_id: &str, user: &str) -> Value {
        let r = self.get(order_id, user).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "GET {order_id}: {r}");
        r.body
    }
}

fn token(sub: &str, groups: &[String]) -> String {
    issue_local_token(
        &SecretString::from(JWT_SECRET),
        sub,
        groups,
        Duration::from_secs(3600),
    )
    .unwrap()
}

pub fn customer(sub: &str) -> String {
    token(sub, &[])
}

pub fn barista() -> String {
    barista_named(BARISTA)
}

pub fn barista_named(sub: &str) -> String {
    token(sub, &["admin".to_string()])
}
