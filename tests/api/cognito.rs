//! Cognito mode: the attack matrix against tokens signed with test keys published by a local
//! JWKS endpoint (see `common/jwks.rs`), the key cache, and the whole sign-in against moto's
//! Cognito with the access and id tokens it issues.

use std::sync::LazyLock;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auth::assert_token_refused;
use crate::support::jwks::{
    self, CLIENT_ID, JwksServer, TestKey, access_claims, b64, hs256, id_claims, now, unsigned,
};
use crate::support::{self, TestApp, latte, sfn, unique};
use order_manager::inbound::http::auth::{CognitoConfig, TokenSettings, TokenUse};

const ALICE: &str = "0b5e7c2a-alice-4c1e-9a11-000000000001";
const BOB: &str = "0b5e7c2a-bob-4c1e-9a11-000000000002";

/// The pool's signing key, made once per test run (RSA key generation is slow).
static KEY: LazyLock<TestKey> = LazyLock::new(|| TestKey::generate("pool-key-1"));

/// The service in Cognito mode, trusting the test pool whose keys `jwks` publishes.
async fn cognito_app(jwks: &JwksServer, tweak: impl FnOnce(&mut CognitoConfig)) -> TestApp {
    let mut config = CognitoConfig::new(&jwks::issuer(), vec![CLIENT_ID.to_string()]);
    config.jwks_url = jwks.url.clone();
    tweak(&mut config);
    TestApp::spawn_with(sfn::accepting().0, move |s| {
        s.tokens = TokenSettings::Cognito(config);
    })
    .await
}

async fn pool_and_app() -> (JwksServer, TestApp) {
    let jwks = JwksServer::start(&[&KEY]).await;
    let app = cognito_app(&jwks, |_| {}).await;
    (jwks, app)
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

#[tokio::test]
async fn cognito_access_token_signs_in_and_its_groups_make_a_barista() {
    let (jwks, app) = pool_and_app().await;
    let customer = KEY.token(&access_claims(ALICE, &[]));
    let barista = KEY.token(&access_claims(BOB, &["admin"]));
    let (status, body) = app.get("/v1/me/orders", &customer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/v1/orders", &barista).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get("/v1/orders", &customer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The sub is the identity: alice sees her order.
    let id = app.start_order(ALICE, "t-cognito").await;
    let (status, order) = app.get(&format!("/v1/orders/{id}"), &customer).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(jwks.hits(), 1, "the keys were fetched once, at start-up");
}

#[tokio::test]
async fn cognito_alg_none_is_refused() {
    let (jwks, app) = pool_and_app().await;
    let token = unsigned(&KEY.kid, &access_claims(BOB, &["admin"]));
    assert_token_refused(&app, &token, "alg none").await;
    assert_eq!(jwks.hits(), 1, "no key fetch for an unsigned token");
}

#[tokio::test]
async fn cognito_hs256_signed_with_the_rsa_public_key_is_refused() {
    let (jwks, app) = pool_and_app().await;
    let header = json!({"alg": "HS256", "kid": KEY.kid, "typ": "JWT"});
    let claims = access_claims(BOB, &["admin"]);
    for secret in [
        KEY.public_der().to_vec(),
        KEY.jwk()["n"].as_str().unwrap().as_bytes().to_vec(),
        KEY.jwk().to_string().into_bytes(),
    ] {
        let body = assert_token_refused(&app, &hs256(&header, &claims, &secret), "HS256").await;
        assert!(
            body["detail"].as_str().unwrap().contains("algorithm"),
            "{body}"
        );
    }
    assert_eq!(jwks.hits(), 1);
}

#[tokio::test]
async fn cognito_expired_token_is_refused_beyond_a_small_leeway() {
    let (_jwks, app) = pool_and_app().await;
    let expired = with(
        access_claims(ALICE, &[]),
        json!({"iat": now() - 3600, "exp": now() - 120}),
    );
    let body = assert_token_refused(&app, &KEY.token(&expired), "expired").await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let skewed = with(access_claims(ALICE, &[]), json!({"exp": now() - 5}));
    let (status, body) = app.get("/v1/me/orders", &KEY.token(&skewed)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "5 s of clock skew is tolerated: {body}"
    );
}

#[tokio::test]
async fn cognito_token_not_yet_valid_is_refused() {
    let (_jwks, app) = pool_and_app().await;
    for (what, change) in [
        ("nbf in the future", json!({"nbf": now() + 600})),
        ("issued in the future", json!({"iat": now() + 600})),
    ] {
        let token = KEY.token(&with(access_claims(ALICE, &[]), change));
        let body = assert_token_refused(&app, &token, what).await;
        assert!(
            body["detail"].as_str().unwrap().contains("not valid yet"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn cognito_wrong_issuer_is_refused() {
    let (_jwks, app) = pool_and_app().await;
    for iss in [
        json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"),
        json!(format!("{}/", jwks::issuer())),
        json!("https://evil.example.com/us-east-1_TestPool1"),
        Value::Null,
    ] {
        let token = KEY.token(&with(access_claims(ALICE, &[]), json!({"iss": iss})));
        assert_token_refused(&app, &token, &format!("iss {iss}")).await;
    }
}

#[tokio::test]
async fn cognito_wrong_client_id_is_refused() {
    let (_jwks, app) = pool_and_app().await;
    for client in [json!("another-app-client"), Value::Null] {
        let token = KEY.token(&with(
            access_claims(ALICE, &[]),
            json!({"client_id": client}),
        ));
        let body = assert_token_refused(&app, &token, &format!("client {client}")).await;
        assert!(
            body["detail"].as_str().unwrap().contains("app client"),
            "{body}"
        );
    }
    // An `aud` naming our client does not make up for a foreign `client_id`.
    let token = KEY.token(&with(
        access_claims(ALICE, &[]),
        json!({"client_id": "another-app-client", "aud": CLIENT_ID}),
    ));
    assert_token_refused(&app, &token, "aud instead of client_id").await;
}

#[tokio::test]
async fn cognito_id_token_where_access_is_required_is_refused() {
    let (_jwks, app) = pool_and_app().await;
    let body = assert_token_refused(&app, &KEY.token(&id_claims(ALICE, &[])), "id token").await;
    assert!(
        body["detail"].as_str().unwrap().contains("id tokens"),
        "{body}"
    );
    for token_use in [json!("refresh"), Value::Null] {
        let token = KEY.token(&with(
            access_claims(ALICE, &[]),
            json!({"token_use": token_use}),
        ));
        assert_token_refused(&app, &token, &format!("token_use {token_use}")).await;
    }
}

#[tokio::test]
async fn cognito_id_tokens_are_accepted_when_configured_and_checked_by_aud() {
    let jwks = JwksServer::start(&[&KEY]).await;
    let app = cognito_app(&jwks, |c| c.token_uses = vec![TokenUse::Id]).await;
    let (status, body) = app
        .get("/v1/orders", &KEY.token(&id_claims(BOB, &["admin"])))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_token_refused(&app, &KEY.token(&access_claims(ALICE, &[])), "access token").await;
    let foreign = with(id_claims(ALICE, &[]), json!({"aud": "another-app-client"}));
    assert_token_refused(&app, &KEY.token(&foreign), "id token of another client").await;
}

#[tokio::test]
async fn cognito_missing_kid_is_refused() {
    let (jwks, app) = pool_and_app().await;
    for header in [
        json!({"alg": "RS256", "typ": "JWT"}),
        json!({"alg": "RS256", "kid": ""}),
    ] {
        let token = KEY.sign(&header, &access_claims(ALICE, &[]));
        let body = assert_token_refused(&app, &token, &format!("{header}")).await;
        assert!(body["detail"].as_str().unwrap().contains("kid"), "{body}");
    }
    assert_eq!(jwks.hits(), 1);
}

#[tokio::test]
async fn cognito_unknown_kid_is_refused_and_a_flood_of_them_costs_no_key_fetch() {
    let (jwks, app) = pool_and_app().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let header = json!({"alg": "RS256", "kid": format!("made-up-{i}")});
        let token = KEY.sign(&header, &access_claims(ALICE, &[]));
        let (http, url) = (app.http.clone(), app.url("/v1/me/orders"));
        tasks.spawn(async move {
            let res = http.get(url).bearer_auth(token).send().await.unwrap();
            res.status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let token = KEY.sign(
        &json!({"alg": "RS256", "kid": "made-up"}),
        &access_claims(ALICE, &[]),
    );
    let body = assert_token_refused(&app, &token, "unknown kid").await;
    assert!(body["detail"].as_str().unwrap().contains("key"), "{body}");
    assert_eq!(
        jwks.hits(),
        1,
        "within the refresh interval after start-up, unknown kids fetch nothing"
    );
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch_and_a_rotated_key_is_picked_up() {
    let jwks = JwksServer::start(&[&KEY]).await;
    let interval = Duration::from_millis(1500);
    let app = cognito_app(&jwks, |c| c.min_refresh = interval).await;
    tokio::time::sleep(interval + Duration::from_millis(100)).await;

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let header = json!({"alg": "RS256", "kid": format!("made-up-{i}")});
        let token = KEY.sign(&header, &access_claims(ALICE, &[]));
        let (http, url) = (app.http.clone(), app.url("/v1/me/orders"));
        tasks.spawn(async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(jwks.hits(), 2, "30 concurrent misses, one fetch");

    // The pool rotates: the new key is published, then used.
    let next = TestKey::generate("pool-key-2");
    jwks.publish(&[&KEY, &next]);
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    let (status, body) = app
        .get("/v1/me/orders", &next.token(&access_claims(ALICE, &[])))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .get("/v1/me/orders", &KEY.token(&access_claims(ALICE, &[])))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the old key still works while published"
    );
    assert_eq!(jwks.hits(), 3);
}

#[tokio::test]
async fn cognito_tampered_payload_is_refused() {
    let (_jwks, app) = pool_and_app().await;
    let genuine = KEY.token(&access_claims(ALICE, &[]));
    let parts: Vec<&str> = genuine.split('.').collect();
    for forged in [
        access_claims(ALICE, &["admin"]),
        access_claims(BOB, &[]),
        with(access_claims(ALICE, &[]), json!({"exp": now() + 86_400})),
    ] {
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(forged.to_string().as_bytes()),
            parts[2]
        );
        let body = assert_token_refused(&app, &tampered, "tampered").await;
        assert!(
            body["detail"].as_str().unwrap().contains("signature"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn cognito_token_signed_by_another_key_under_the_pools_kid_is_refused() {
    let (_jwks, app) = pool_and_app().await;
    let impostor = TestKey::generate(&KEY.kid);
    let token = impostor.token(&access_claims(BOB, &["admin"]));
    assert_token_refused(&app, &token, "impostor key").await;
}

#[tokio::test]
async fn cognito_mode_refuses_local_hs256_tokens() {
    let (jwks, app) = pool_and_app().await;
    let body = assert_token_refused(&app, &app.barista(BOB), "a local token").await;
    assert!(
        body["detail"].as_str().unwrap().contains("algorithm"),
        "{body}"
    );
    assert_eq!(jwks.hits(), 1);
}

#[tokio::test]
async fn keys_unavailable_at_start_up_do_not_stop_the_service() {
    let jwks = JwksServer::start(&[&KEY]).await;
    jwks.set_failing(true);
    let app = cognito_app(&jwks, |_| {}).await;
    // Event ingest does not need the keys.
    let id = unique("order");
    app.ingest_ok(&support::started(&id, ALICE, "t-down"), "applied")
        .await;
    let token = KEY.token(&access_claims(ALICE, &[]));
    let res = app
        .http
        .get(app.url("/v1/me/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "auth_unavailable", "{body}");
    // The endpoint comes back: the next request after the retry delay fetches the keys.
    jwks.set_failing(false);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = app.get(&format!("/v1/orders/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A user pool on moto, with an app client, the `admin` group and users.
mod moto {
    use aws_sdk_cognitoidentityprovider::Client;
    use aws_sdk_cognitoidentityprovider::types::{
        AuthFlowType, ExplicitAuthFlowsType, MessageActionType,
    };

    pub struct Pool {
        pub client: Client,
        pub id: String,
        pub client_id: String,
    }

    pub struct Tokens {
        pub access: String,
        pub id: String,
    }

    const PASSWORD: &str = "Correct-Horse-Battery-9";

    impl Pool {
        pub async fn create(url: &str) -> Pool {
            let client = Client::new(&crate::support::moto_config(url));
            let pool = client
                .create_user_pool()
                .pool_name(crate::support::unique("coffee"))
                .send()
                .await
                .unwrap();
            let id = pool.user_pool.unwrap().id.unwrap();
            let app_client = client
                .create_user_pool_client()
                .user_pool_id(&id)
                .client_name("customer-app")
                .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
                .send()
                .await
                .unwrap();
            let client_id = app_client.user_pool_client.unwrap().client_id.unwrap();
            client
                .create_group()
                .user_pool_id(&id)
                .group_name("admin")
                .send()
                .await
                .unwrap();
            Pool {
                client,
                id,
                client_id,
            }
        }

        pub fn issuer(&self) -> String {
            format!("https://cognito-idp.us-east-1.amazonaws.com/{}", self.id)
        }

        /// A confirmed user, in `groups`.
        pub async fn user(&self, name: &str, groups: &[&str]) {
            self.client
                .admin_create_user()
                .user_pool_id(&self.id)
                .username(name)
                .temporary_password("Temporary-Pass-1")
                .message_action(MessageActionType::Suppress)
                .send()
                .await
                .unwrap();
            self.client
                .admin_set_user_password()
                .user_pool_id(&self.id)
                .username(name)
                .password(PASSWORD)
                .permanent(true)
                .send()
                .await
                .unwrap();
            for g in groups {
                self.client
                    .admin_add_user_to_group()
                    .user_pool_id(&self.id)
                    .username(name)
                    .group_name(*g)
                    .send()
                    .await
                    .unwrap();
            }
        }

        /// Signs in with `ADMIN_USER_PASSWORD_AUTH`.
        pub async fn sign_in(&self, name: &str) -> Tokens {
            let out = self
                .client
                .admin_initiate_auth()
                .user_pool_id(&self.id)
                .client_id(&self.client_id)
                .auth_flow(AuthFlowType::AdminUserPasswordAuth)
                .auth_parameters("USERNAME", name)
                .auth_parameters("PASSWORD", PASSWORD)
                .send()
                .await
                .unwrap();
            let result = out.authentication_result.expect("tokens, not a challenge");
            Tokens {
                access: result.access_token.unwrap(),
                id: result.id_token.unwrap(),
            }
        }

        pub async fn delete(self) {
            let _ = self
                .client
                .delete_user_pool()
                .user_pool_id(&self.id)
                .send()
                .await;
        }
    }
}

async fn moto_app(url: &str, pool: &moto::Pool, token_uses: Vec<TokenUse>) -> TestApp {
    let mut config = CognitoConfig::new(&pool.issuer(), vec![pool.client_id.clone()]);
    config.jwks_url = format!("{url}/{}/.well-known/jwks.json", pool.id);
    config.token_uses = token_uses;
    TestApp::spawn_with(sfn::accepting().0, move |s| {
        s.tokens = TokenSettings::Cognito(config);
    })
    .await
}

#[tokio::test]
async fn moto_cognito_tokens_sign_in_end_to_end() {
    let Some(url) = support::moto_url("the moto Cognito sign-in test") else {
        return;
    };
    let pool = moto::Pool::create(&url).await;
    pool.user("alice", &[]).await;
    pool.user("mallory", &[]).await;
    pool.user("bob", &["admin"]).await;
    let alice = pool.sign_in("alice").await;
    let mallory = pool.sign_in("mallory").await;
    let bob = pool.sign_in("bob").await;

    // What moto issues is what Cognito issues: the claims the verifier relies on are there.
    let claims = jwks::claims_of(&bob.access);
    assert_eq!(claims["iss"], pool.issuer().as_str(), "{claims}");
    assert_eq!(claims["token_use"], "access", "{claims}");
    assert_eq!(claims["client_id"], pool.client_id.as_str(), "{claims}");
    assert_eq!(claims["cognito:groups"], json!(["admin"]), "{claims}");
    let alice_sub = jwks::claims_of(&alice.access)["sub"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(jwks::claims_of(&alice.id)["aud"], pool.client_id.as_str());

    let app = moto_app(&url, &pool, vec![TokenUse::Access]).await;
    let id = app.start_order(&alice_sub, &unique("t-moto")).await;

    // Alice sees and submits her order; mallory cannot tell it exists; bob is a barista.
    let (status, mine) = app.get("/v1/me/orders", &alice.access).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["orders"][0]["order_id"], id.as_str(), "{mine}");
    let (status, body) = app.get(&format!("/v1/orders/{id}"), &mallory.access).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.submit(&id, &mallory.access, latte()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.get("/v1/orders", &alice.access).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.submit(&id, &alice.access, latte()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get(&format!("/v1/orders/{id}"), &bob.access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "submitted");

    // Access tokens only, by default: moto's id token is refused; when id tokens are the
    // configured kind, it is accepted and its access token refused.
    assert_token_refused(&app, &alice.id, "moto id token").await;
    let id_app = moto_app(&url, &pool, vec![TokenUse::Id]).await;
    let (status, body) = id_app.get("/v1/me/orders", &alice.id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_token_refused(&id_app, &alice.access, "moto access token").await;
    let (status, body) = id_app.get("/v1/orders", &bob.id).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "bob's id token carries his groups: {body}"
    );

    // A token of another pool (moto signs every pool with the same key) is refused by `iss`.
    let other = moto::Pool::create(&url).await;
    other.user("eve", &["admin"]).await;
    let eve = other.sign_in("eve").await;
    assert_token_refused(&app, &eve.access, "another pool's token").await;
    other.delete().await;
    pool.delete().await;
}
