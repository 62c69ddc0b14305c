//! Races: many callers on one order; exactly one wins, exactly one callback is sent.

use std::sync::Arc;

use reqwest::StatusCode;

use crate::support::{self, TestApp, latte, sfn, unique};

const USER: &str = "racer";

#[tokio::test]
async fn concurrent_submissions_send_one_callback_and_the_rest_get_409() {
    let (workflow, calls) = sfn::accepting();
    let app = Arc::new(TestApp::spawn(workflow).await);
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, "t-race"), "applied")
        .await;
    let token = app.customer(USER);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, id, token) = (app.clone(), id.clone(), token.clone());
            tokio::spawn(async move { app.submit(&id, &token, latte()).await })
        })
        .collect();
    let mut ok = 0;
    let mut conflicts = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["code"], "order_state_conflict");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    // The same drink each time: one submission, the rest its repeats (`PUT` is idempotent).
    assert_eq!((ok, conflicts), (50, 0));
    assert_eq!(calls.successes().len(), 1, "exactly one callback");
}

#[tokio::test]
async fn two_baristas_claiming_one_order_one_wins() {
    let (workflow, _) = sfn::accepting();
    let app = Arc::new(TestApp::spawn(workflow).await);
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, "t1"), "applied")
        .await;
    app.submit(&id, &app.customer(USER), latte()).await;
    app.ingest_ok(&support::waiting(&id, USER, "t2", "1"), "applied")
        .await;
    let claims: Vec<_> = ["b1", "b2"]
        .into_iter()
        .map(|b| {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move {
                let t = app.barista(b);
                (b, app.post(&format!("/v1/orders/{id}/claim"), &t).await)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for c in claims {
        let (b, (status, body)) = c.await.unwrap();
        match status {
            StatusCode::OK => winners.push(b),
            StatusCode::CONFLICT => assert_eq!(body["code"], "order_claimed"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(app.order(&id, USER).await["barista_user_id"], winners[0]);
}

#[tokio::test]
async fn concurrent_complete_and_cancel_resume_the_workflow_once() {
    let (workflow, calls) = sfn::accepting();
    let app = Arc::new(TestApp::spawn(workflow).await);
    let id = unique("o");
    app.ingest_ok(&support::started(&id, USER, "t1"), "applied")
        .await;
    app.submit(&id, &app.customer(USER), latte()).await;
    app.ingest_ok(&support::waiting(&id, USER, "t2", "1"), "applied")
        .await;
    let a = {
        let (app, id) = (app.clone(), id.clone());
        tokio::spawn(async move {
            app.post(&format!("/v1/orders/{id}/complete"), &app.barista("b1"))
                .await
        })
    };
    let b = {
        let (app, id) = (app.clone(), id.clone());
        tokio::spawn(async move {
            app.post(&format!("/v1/orders/{id}/cancel"), &app.barista("b2"))
                .await
        })
    };
    let statuses = [a.await.unwrap().0, b.await.unwrap().0];
    assert!(
        statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let token_two_uses = calls.tokens().into_iter().filter(|t| t == "t2").count();
    assert_eq!(token_two_uses, 1, "token #2 is used exactly once");
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_apply_once() {
    let (workflow, _) = sfn::accepting();
    let app = Arc::new(TestApp::spawn(workflow).await);
    let id = unique("o");
    let ev = support::started(&id, USER, "t1");
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, ev) = (app.clone(), ev.clone());
            tokio::spawn(async move { app.ingest(&ev).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        outcomes.push(body["outcome"].as_str().unwrap().to_string());
    }
    assert_eq!(outcomes.iter().filter(|o| *o == "applied").count(), 1);
    assert_eq!(outcomes.iter().filter(|o| *o == "duplicate").count(), 9);
}
