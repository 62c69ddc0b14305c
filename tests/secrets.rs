//! No secret in a log line or an error body. The real binary runs at `RUST_LOG=trace` through
//! a whole order (ingest with an API key and with Basic, the customer's token, the barista's,
//! both task tokens called back to a fake Step Functions), plus refused attempts with
//! near-miss credentials; then its whole output and every answer are searched for every
//! secret it saw: bearer tokens (and each of their parts), the JWT secret, API keys, Basic
//! passwords, task tokens.

mod support;

use std::time::Duration;

use base64::Engine;
use order_manager::inbound::http::auth::issue_local_token;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::fake_sfn::{FakeStepFunctions, Mode};
use support::jwks::{JwksServer, TestKey, access_claims};
use support::process::{INGEST_KEY, JWT_SECRET, Service};
use support::{eventually_within, started, unique, waiting};

const BASIC_USER: &str = "eventbridge";
const BASIC_PASSWORD: &str = "Basic-Password-0123456789-secret";

/// Drives one service and remembers every secret it handed it and every answer it got.
struct Probe {
    http: reqwest::Client,
    base: String,
    secrets: Vec<String>,
    answers: Vec<String>,
}

impl Probe {
    fn new(svc: &Service) -> Probe {
        Probe {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: svc.url(""),
            secrets: vec![
                INGEST_KEY.to_string(),
                JWT_SECRET.to_string(),
                BASIC_PASSWORD.to_string(),
            ],
            answers: Vec::new(),
        }
    }

    /// Remembers a secret, and the parts of it a log line could carry (a JWT's segments).
    fn secret(&mut self, s: &str) -> String {
        self.secrets.push(s.to_string());
        if s.matches('.').count() == 2 {
            for part in s.split('.').filter(|p| p.len() >= 16) {
                self.secrets.push(part.to_string());
            }
        }
        s.to_string()
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        self.answers.push(format!("{status} {path}: {text}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ingest(&mut self, headers: &[(&str, String)], envelope: &Value) -> StatusCode {
        self.send(Method::POST, "/v1/events", headers, Some(envelope))
            .await
            .0
    }

    async fn as_user(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let auth = [("authorization", format!("Bearer {token}"))];
        self.send(method, path, &auth, body).await
    }

    /// A whole order: started (API key), submitted, queued, claimed and completed, with
    /// refused attempts along the way. `customer` and `barista` are the two users' tokens,
    /// `forged` one the service must refuse.
    async fn whole_order(
        &mut self,
        fake: &FakeStepFunctions,
        user: &str,
        customer: &str,
        barista: &str,
        forged: &str,
    ) {
        let id = unique("order");
        let t1 = self.secret(&format!("TASKTOKEN1-{}", unique("secret")));
        let t2 = self.secret(&format!("TASKTOKEN2-{}", unique("secret")));
        let key = [("x-api-key", INGEST_KEY.to_string())];
        let near_miss = self.secret(&format!("{}X", &INGEST_KEY[..INGEST_KEY.len() - 1]));

        assert_eq!(
            self.ingest(&[("x-api-key", near_miss)], &started(&id, user, &t1))
                .await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            self.ingest(&key, &started(&id, user, &t1)).await,
            StatusCode::OK
        );
        // A bad event carrying a token: refused, the token not echoed.
        let mut bad = started(&unique("order"), user, &t1);
        bad["detail"]["eventId"] = json!("not valid !");
        let (status, _) = self
            .send(Method::POST, "/v1/events", &key, Some(&bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let order = format!("/v1/orders/{id}");
        let (status, _) = self.as_user(Method::GET, &order, forged, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = self.as_user(Method::GET, &order, customer, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let drink = json!({"drink": "Latte", "modifiers": ["Oat"]});
        let (status, body) = self
            .as_user(
                Method::PUT,
                &format!("{order}/drink"),
                customer,
                Some(&drink),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Another drink for a submitted order: a conflict, logged.
        let other = json!({"drink": "Latte", "modifiers": ["Soy"]});
        let (status, _) = self
            .as_user(
                Method::PUT,
                &format!("{order}/drink"),
                customer,
                Some(&other),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);

        assert_eq!(
            self.ingest(&key, &waiting(&id, user, &t2, "7")).await,
            StatusCode::OK
        );
        let (status, _) = self
            .as_user(Method::GET, "/v1/orders", customer, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        for step in ["claim", "complete"] {
            let (status, body) = self
                .as_user(Method::POST, &format!("{order}/{step}"), barista, None)
                .await;
            assert_eq!(status, StatusCode::OK, "{step}: {body}");
        }
        eventually_within(
            "both task tokens called back",
            Duration::from_secs(10),
            || {
                let (a, b) = (fake.taken(&t1), fake.taken(&t2));
                async move {
                    if a == 1 && b == 1 {
                        Ok(())
                    } else {
                        Err(format!("t1 taken {a}, t2 taken {b}"))
                    }
                }
            },
        )
        .await;
    }

    /// Ingest with Basic credentials, right and one byte off.
    async fn ingest_with_basic(&mut self, user: &str) {
        let basic = |password: &str| {
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(format!("{BASIC_USER}:{password}"));
            ("authorization", format!("Basic {encoded}"))
        };
        let right = basic(BASIC_PASSWORD);
        self.secret(right.1.trim_start_matches("Basic "));
        let wrong_password = self.secret(&BASIC_PASSWORD.replace("secret", "secreu"));
        let wrong = basic(&wrong_password);
        self.secret(wrong.1.trim_start_matches("Basic "));
        let t = self.secret(&format!("TASKTOKEN-BASIC-{}", unique("secret")));
        let envelope = started(&unique("order"), user, &t);
        assert_eq!(
            self.ingest(&[wrong], &envelope).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(self.ingest(&[right], &envelope).await, StatusCode::OK);
    }

    /// Nothing remembered appears in `log` or in any answer.
    fn assert_no_secret_in(&self, log: &str) {
        assert!(
            log.contains("ingested event") && log.contains("TRACE"),
            "the log holds the flow at trace level:\n{log}"
        );
        for secret in &self.secrets {
            assert!(
                !log.contains(secret.as_str()),
                "a secret is in the log: {secret}"
            );
            for answer in &self.answers {
                assert!(
                    !answer.contains(secret.as_str()),
                    "a secret is in an answer: {answer}"
                );
            }
        }
    }
}

fn basic_env() -> String {
    format!("{BASIC_USER}:{BASIC_PASSWORD}")
}

fn local_token(sub: &str, groups: &[&str]) -> String {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    issue_local_token(
        &SecretString::from(JWT_SECRET),
        sub,
        &groups,
        Duration::from_secs(600),
    )
    .unwrap()
}

#[tokio::test]
async fn local_mode_logs_no_secret_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let basic = basic_env();
    let svc = Service::start_with(
        dir.path(),
        &fake.endpoint(),
        &[("RUST_LOG", "trace"), ("OM_INGEST_BASIC", basic.as_str())],
    )
    .await;
    let mut probe = Probe::new(&svc);
    let user = "customer-secrets";
    let customer = probe.secret(&local_token(user, &[]));
    let barista = probe.secret(&local_token("barista-secrets", &["admin"]));
    let forged = probe.secret(
        &issue_local_token(
            &SecretString::from("not-the-secret-not-the-secret-0123456789"),
            user,
            &["admin".to_string()],
            Duration::from_secs(600),
        )
        .unwrap(),
    );
    probe
        .whole_order(&fake, user, &customer, &barista, &forged)
        .await;
    probe.ingest_with_basic(user).await;
    probe.assert_no_secret_in(&svc.log());
}

#[tokio::test]
async fn cognito_mode_logs_no_secret_at_trace_level() {
    let key = TestKey::generate("secrets-key");
    let jwks = JwksServer::start(&[&key]).await;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let basic = basic_env();
    let issuer = support::jwks::issuer();
    let svc = Service::start_with(
        dir.path(),
        &fake.endpoint(),
        &[
            ("RUST_LOG", "trace"),
            ("OM_INGEST_BASIC", basic.as_str()),
            ("OM_COGNITO_ISSUER", issuer.as_str()),
            ("OM_COGNITO_CLIENT_IDS", support::jwks::CLIENT_ID),
            ("OM_JWKS_URL", jwks.url.as_str()),
        ],
    )
    .await;
    let mut probe = Probe::new(&svc);
    let user = "0b5e7c2a-secrets-4c1e-9a11-000000000009";
    let customer = probe.secret(&key.token(&access_claims(user, &[])));
    let barista = probe.secret(&key.token(&access_claims("barista-secrets", &["admin"])));
    // The local secret's token is refused in Cognito mode, and is a secret all the same.
    let forged = probe.secret(&local_token(user, &["admin"]));
    probe
        .whole_order(&fake, user, &customer, &barista, &forged)
        .await;
    probe.ingest_with_basic(user).await;
    let log = svc.log();
    assert!(log.contains("fetched the user pool's keys"), "{log}");
    probe.assert_no_secret_in(&log);
}
