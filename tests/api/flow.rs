//! The whole order flow over HTTP: customer → workflow → barista → workflow.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, TestApp, eventually, latte, sfn};

const USER: &str = "6a2b8c1d-0e9f-4a3b-8c7d-5e4f3a2b1c0d";

fn assert_no_token(body: &Value, tokens: &[&str]) {
    let text = body.to_string();
    for t in tokens {
        assert!(!text.contains(t), "a task token leaked into {text}");
    }
}

/// How many changes the order's story holds.
async fn story_length(app: &TestApp, id: &str) -> usize {
    let (status, story) = app
        .get(&format!("/v1/orders/{id}/history"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK, "{story}");
    story["changes"].as_array().unwrap().len()
}

#[tokio::test]
async fn full_customer_to_barista_flow_resumes_both_waits() {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let (t1, t2) = ("TOKEN-ONE-secret", "TOKEN-TWO-secret");
    let customer = app.customer(USER);
    let barista = app.barista("barista-1");

    let id = app.start_order(USER, t1).await;
    let (status, mine) = app.get("/v1/me/orders", &customer).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["orders"][0]["order_id"], id.as_str());
    assert_eq!(mine["orders"][0]["state"], "created");
    assert_eq!(mine["orders"][0]["event_id"], "NYC");
    assert_no_token(&mine, &[t1]);

    let (status, order) = app.submit(&id, &customer, latte()).await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["state"], "submitted");
    assert_eq!(order["drink"]["name"], "Latte");
    assert_eq!(order["drink"]["modifiers"], json!(["Oat"]));
    let successes = calls.successes();
    assert_eq!(successes.len(), 1);
    assert_eq!(successes[0].0, t1);
    let output: Value = serde_json::from_str(&successes[0].1).unwrap();
    assert_eq!(output["order_id"], id.as_str());
    assert_eq!(output["drink"]["name"], "Latte");

    app.ingest_ok(&support::waiting(&id, USER, t2, "112"), "applied")
        .await;
    let (status, queue) = app.get("/v1/orders?event_id=NYC", &barista).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queue["orders"][0]["order_id"], id.as_str());
    assert_eq!(queue["orders"][0]["state"], "queued");
    assert_eq!(queue["orders"][0]["order_number"], 112);
    assert_no_token(&queue, &[t1, t2]);

    let (status, claimed) = app.post(&format!("/v1/orders/{id}/claim"), &barista).await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["state"], "preparing");
    assert_eq!(claimed["barista_user_id"], "barista-1");
    // The barista's own claim again: the same answer, and nothing written (no change in the
    // order's story, so no notice either).
    let story = story_length(&app, &id).await;
    let (status, again) = app.post(&format!("/v1/orders/{id}/claim"), &barista).await;
    assert_eq!((status, &again), (StatusCode::OK, &claimed));
    assert_eq!(story_length(&app, &id).await, story);

    let (status, done) = app
        .post(&format!("/v1/orders/{id}/complete"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "completed");
    // And their completion again: `200` with the order, nothing written, nothing sent.
    let story = story_length(&app, &id).await;
    let (status, again) = app
        .post(&format!("/v1/orders/{id}/complete"), &barista)
        .await;
    assert_eq!((status, &again), (StatusCode::OK, &done));
    assert_eq!(story_length(&app, &id).await, story);
    let successes = calls.successes();
    assert_eq!(successes.len(), 2);
    assert_eq!(successes[1].0, t2);
    let output: Value = serde_json::from_str(&successes[1].1).unwrap();
    assert_eq!(
        output,
        json!({"order_id": id, "outcome": "completed", "cancelled": false})
    );

    app.ingest_ok(&support::finished(&id, USER), "applied")
        .await;
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "completed");
    assert!(calls.failures().is_empty());

    let (_, history) = app
        .get("/v1/orders?event_id=NYC&state=completed", &barista)
        .await;
    assert_eq!(history["orders"][0]["order_id"], id.as_str());
}

#[tokio::test]
async fn customer_cancel_before_submitting_releases_token_one() {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let id = app.start_order(USER, "t-cancel-1").await;
    let (status, order) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.customer(USER))
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["state"], "cancelled");
    assert_eq!(order["cancel_reason"], "customer");
    // The workflow's wait is resumed, as the OrderProcessor expects (it fails on a failure).
    assert!(calls.failures().is_empty());
    let (token, output) = calls.successes().pop().unwrap();
    assert_eq!(token, "t-cancel-1");
    assert_eq!(
        serde_json::from_str::<Value>(&output).unwrap(),
        json!({"order_id": id, "outcome": "cancelled", "cancelled": true})
    );
}

#[tokio::test]
async fn barista_cancel_while_submitted_releases_the_wait_when_token_two_arrives() {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let id = app.start_order(USER, "t-sub-1").await;
    let (status, _) = app.submit(&id, &app.customer(USER), latte()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, order) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["cancel_reason"], "barista");
    assert_eq!(
        calls.tokens(),
        vec!["t-sub-1"],
        "no token is held in submitted"
    );

    app.ingest_ok(&support::waiting(&id, USER, "t-sub-2", "9"), "applied")
        .await;
    let released = eventually("token #2 released", || async {
        calls.successes().into_iter().find(|(t, _)| t == "t-sub-2")
    })
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&released.1).unwrap()["cancelled"],
        true
    );
    let order = app.order(&id, USER).await;
    assert_eq!(order["state"], "cancelled");
    assert_eq!(
        order["order_number"],
        Value::Null,
        "a cancelled order is not numbered"
    );
}

#[tokio::test]
async fn cancel_fails_the_wait_when_configured_for_workflows_that_catch_it() {
    let (workflow, calls) = sfn::accepting();
    let app = TestApp::spawn_with(workflow, |s| {
        s.service.cancel_callback = order_manager::domain::lifecycle::CancelCallback::Failure;
    })
    .await;
    let id = app.queue_order(USER, "t-s-1", "t-s-2").await;
    let (status, _) = app
        .post(&format!("/v1/orders/{id}/cancel"), &app.barista("b"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        calls.failures(),
        vec![("t-s-2".to_string(), "OrderCancelled".to_string())]
    );
    assert_eq!(calls.successes().len(), 1, "token #1 only");
}

#[tokio::test]
async fn unclaim_puts_the_order_back_in_the_queue() {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let id = app.queue_order(USER, "t-u-1", "t-u-2").await;
    let barista = app.barista("b1");
    let (status, _) = app.post(&format!("/v1/orders/{id}/claim"), &barista).await;
    assert_eq!(status, StatusCode::OK);
    let (status, order) = app
        .post(&format!("/v1/orders/{id}/unclaim"), &barista)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["state"], "queued");
    assert_eq!(order["barista_user_id"], Value::Null);
    // Claiming twice by the same barista is harmless; by another is a conflict.
    app.post(&format!("/v1/orders/{id}/claim"), &barista).await;
    let (status, again) = app.post(&format!("/v1/orders/{id}/claim"), &barista).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let (status, other) = app
        .post(&format!("/v1/orders/{id}/claim"), &app.barista("b2"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(other["code"], "order_claimed");
}

#[tokio::test]
async fn lists_paginate_oldest_first_for_open_and_newest_first_for_history() {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let barista = app.barista("b");
    let mut ids = Vec::new();
    for i in 0..45 {
        ids.push(app.start_order(USER, &format!("t-page-{i}")).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/v1/orders?event_id=NYC&state=created&limit=20".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.get(&path, &barista).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for o in page["orders"].as_array().unwrap() {
            seen.push(o["order_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every order once, oldest first");

    // Time out ten of them: history lists newest first.
    for id in &ids[..10] {
        app.ingest_ok(
            &support::timed_out(id, USER, "Customer timedout"),
            "applied",
        )
        .await;
    }
    let (_, history) = app
        .get(
            "/v1/orders?event_id=NYC&state=cancelled&limit=100",
            &barista,
        )
        .await;
    let got: Vec<&str> = history["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = ids[..10].iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(got, expected);
    assert_eq!(history["orders"][0]["cancel_reason"], "customer_timeout");

    // Several states at once merge into one order.
    let (_, both) = app
        .get(
            "/v1/orders?event_id=NYC&state=created,cancelled&limit=100",
            &barista,
        )
        .await;
    let got: Vec<&str> = both["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());

    // The customer's own list: newest first, paginated.
    let (_, mine) = app.get("/v1/me/orders?limit=40", &app.customer(USER)).await;
    assert_eq!(mine["orders"].as_array().unwrap().len(), 40);
    assert_eq!(mine["orders"][0]["order_id"], ids[44].as_str());
    let c = mine["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/v1/me/orders?limit=40&cursor={c}"),
            &app.customer(USER),
        )
        .await;
    assert_eq!(rest["orders"].as_array().unwrap().len(), 5);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, other) = app
        .get("/v1/me/orders", &app.customer("someone-else"))
        .await;
    assert_eq!(other["orders"], json!([]));
}

/// The workshop's menu, as the Serverlesspresso config service keeps it, put as it is.
#[tokio::test]
async fn the_config_service_s_menu_is_taken_as_it_is() {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let item = json!({"PK": "menu", "value": [
        {"drink": "Mocha", "icon": "barista-icons_mocha", "available": true,
         "modifiers": [{"Name": "Milk", "Options": ["Whole", "Soy"]}]},
        {"drink": "Chai", "icon": "barista-icons_chai", "available": false, "modifiers": []}
    ]});
    let (status, stored) = app
        .call(
            reqwest::Method::PUT,
            "/v1/menu?event_id=NYC",
            Some(&app.barista("b")),
            Some(&item),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["drinks"][0]["name"], "Mocha", "{stored}");
    assert_eq!(
        stored["drinks"][0]["modifiers"][0]["options"],
        json!(["Whole", "Soy"])
    );
    let customer = app.customer(USER);
    let id = app.start_order(USER, "t-config-menu").await;
    let (status, body) = app
        .submit(&id, &customer, json!({"drink": "Chai", "modifiers": []}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unavailable: {body}"
    );
    let (status, body) = app
        .submit(
            &id,
            &customer,
            json!({"drink": "Mocha", "modifiers": ["Soy"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["drink"]["icon"], "barista-icons_mocha");
}

#[tokio::test]
async fn baristas_replace_the_menu_and_submissions_follow_it() {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let customer = app.customer(USER);
    let (status, menu) = app.get("/v1/menu?event_id=NYC", &customer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        menu["drinks"].as_array().unwrap().len() >= 5,
        "a default menu is seeded"
    );

    let new_menu = json!({"drinks": [{"name": "Cortado", "available": true, "icon": "c",
        "modifiers": [{"name": "Milk", "options": ["Whole", "Oat"]}]}]});
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/v1/menu?event_id=NYC",
            Some(&customer),
            Some(&new_menu),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/v1/menu?event_id=NYC",
            Some(&app.barista("b")),
            Some(&new_menu),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.get("/v1/menu?event_id=NYC", &customer).await.1,
        new_menu
    );
    // Other events keep the default.
    assert_ne!(
        app.get("/v1/menu?event_id=LDN", &customer).await.1,
        new_menu
    );

    let id = app.start_order(USER, "t-menu").await;
    let (status, body) = app.submit(&id, &customer, latte()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "invalid_drink");
    let (status, body) = app
        .submit(
            &id,
            &customer,
            json!({"drink": "Cortado", "modifiers": ["Oat"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["drink"]["icon"], "c");

    let bad = json!({"drinks": [{"name": "A"}, {"name": "A"}]});
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/v1/menu",
            Some(&app.barista("b")),
            Some(&bad),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "invalid_menu");
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let (workflow, _) = sfn::accepting();
    let app = TestApp::spawn(workflow).await;
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");
}
