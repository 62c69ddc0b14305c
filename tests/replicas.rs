//! Two replicas of the real binary on one DynamoDB table (moto) race on the same orders:
//! duplicate event deliveries, submissions, claims and completions go to both at once, and
//! Step Functions (a fake that counts every token) fails for a while so that both replicas'
//! dispatchers hold the same pending callbacks. Every guarantee of the lifecycle holds: one
//! order per start, one winner per race, and each token called back exactly once.
//!
//! Needs moto (`OM_TEST_MOTO_URL`, set by `scripts/test`); skipped without it, and fails
//! instead when `OM_TEST_REQUIRE_MOTO` is set.

mod support;

use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use reqwest::StatusCode;
use support::fake_sfn::{FakeStepFunctions, Mode};
use support::process::{Api, Reply, Service};
use support::{eventually_within, started, token1, token2, unique, waiting};

fn moto() -> Option<String> {
    match std::env::var("OM_TEST_MOTO_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("OM_TEST_REQUIRE_MOTO").is_some() => {
            panic!("OM_TEST_MOTO_URL is unset but OM_TEST_REQUIRE_MOTO is set: run scripts/test")
        }
        Err(_) => {
            eprintln!("skipping: OM_TEST_MOTO_URL is unset (scripts/test sets it)");
            None
        }
    }
}

/// A fresh table on moto, created the way `order-manager migrate` creates it.
async fn table(moto: &str) -> String {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(moto)
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let name = unique("replicas");
    order_manager::outbound::dynamodb::migrate(&client, &name, 4)
        .await
        .unwrap();
    name
}

/// Sends `f` to both replicas at once; returns both replies.
async fn both<F, Fut>(a: &Api, b: &Api, f: F) -> [Reply; 2]
where
    F: Fn(Api) -> Fut,
    Fut: std::future::Future<Output = Result<Reply, reqwest::Error>> + Send + 'static,
{
    let (x, y) = tokio::join!(tokio::spawn(f(a.clone())), tokio::spawn(f(b.clone())));
    [x.unwrap().unwrap(), y.unwrap().unwrap()]
}

fn count(replies: &[Reply], status: StatusCode) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_table_keep_every_guarantee() {
    let Some(moto) = moto() else { return };
    let table = table(&moto).await;
    let fake = FakeStepFunctions::start(Mode::Accept).await;
    let env = [
        ("OM_STORE", format!("dynamodb:{table}")),
        ("OM_DYNAMODB_SHARDS", "4".to_string()),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.clone()),
        ("AWS_ENDPOINT_URL_SFN", fake.endpoint()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Service::start_with(dir_a.path(), &fake.endpoint(), &env).await;
    let b = Service::start_with(dir_b.path(), &fake.endpoint(), &env).await;
    let (api_a, api_b) = (Api::new(a.addr), Api::new(b.addr));

    // Step Functions fails at first: every submission's callback is left to the dispatchers,
    // and both replicas' dispatchers see the same pending callbacks.
    fake.set_mode(Mode::Fail5xx).await;
    let orders: Vec<String> = (0..8).map(|_| unique("order")).collect();
    let user = "racer";
    for id in &orders {
        // The same event delivered to both replicas at once: one order, one `applied`.
        let ev = started(id, user, &token1(id));
        let replies = both(&api_a, &api_b, move |api| {
            let ev = ev.clone();
            async move { api.ingest(&ev).await }
        })
        .await;
        assert_eq!(count(&replies, StatusCode::OK), 2, "{replies:?}");
        let outcomes: Vec<_> = replies.iter().map(|r| r.body["outcome"].clone()).collect();
        assert!(outcomes.contains(&"applied".into()), "{outcomes:?}");
        assert!(outcomes.contains(&"duplicate".into()), "{outcomes:?}");
        // Two submissions of the same drink, one per replica: one wins (recorded; the
        // workflow is down, so 202 with the callback left to the outbox), the other is its
        // repeat (200, nothing sent twice).
        let id2 = id.clone();
        let replies = both(&api_a, &api_b, move |api| {
            let id = id2.clone();
            async move { api.submit(&id, user).await }
        })
        .await;
        assert_eq!(count(&replies, StatusCode::ACCEPTED), 1, "{replies:?}");
        assert_eq!(count(&replies, StatusCode::OK), 1, "{replies:?}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    fake.set_mode(Mode::Accept).await;
    eventually_within("every token #1 delivered", Duration::from_secs(30), || {
        let taken = fake.taken_counts();
        let orders = orders.clone();
        async move {
            let missing = orders
                .iter()
                .filter(|id| !taken.contains_key(&token1(id)))
                .count();
            if missing == 0 {
                Ok(())
            } else {
                Err(format!("{missing} missing"))
            }
        }
    })
    .await;

    // The workflow moves on: WaitingCompletion to both, then the baristas race.
    for (n, id) in orders.iter().enumerate() {
        let ev = waiting(id, user, &token2(id), &(n + 1).to_string());
        let replies = both(&api_a, &api_b, move |api| {
            let ev = ev.clone();
            async move { api.ingest(&ev).await }
        })
        .await;
        assert_eq!(count(&replies, StatusCode::OK), 2, "{replies:?}");
        let id2 = id.clone();
        let (x, y) = tokio::join!(
            tokio::spawn({
                let (api, id) = (api_a.clone(), id2.clone());
                async move { api.claim(&id, "barista-a").await }
            }),
            tokio::spawn({
                let (api, id) = (api_b.clone(), id2.clone());
                async move { api.claim(&id, "barista-b").await }
            }),
        );
        let claims = [x.unwrap().unwrap(), y.unwrap().unwrap()];
        assert_eq!(count(&claims, StatusCode::OK), 1, "{claims:?}");
        assert_eq!(count(&claims, StatusCode::CONFLICT), 1, "{claims:?}");
        let id3 = id.clone();
        let done = both(&api_a, &api_b, move |api| {
            let id = id3.clone();
            async move { api.complete(&id).await }
        })
        .await;
        assert_eq!(count(&done, StatusCode::OK), 1, "{done:?}");
        assert_eq!(count(&done, StatusCode::CONFLICT), 1, "{done:?}");
    }
    // Give both dispatchers time to (wrongly) send anything twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let taken = fake.taken_counts();
    for id in &orders {
        assert_eq!(
            taken.get(&token1(id)),
            Some(&1),
            "token #1 of {id}: {taken:?}"
        );
        assert_eq!(
            taken.get(&token2(id)),
            Some(&1),
            "token #2 of {id}: {taken:?}"
        );
        assert_eq!(api_a.order(id, user).await["state"], "completed");
        assert_eq!(api_b.order(id, user).await["state"], "completed");
    }
}
