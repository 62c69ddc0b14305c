//! The SDK paths of the store under `aws-smithy-mocks`: what moto never answers
//! (throttling, cancellation reasons other than failed conditions, 5xx, lost answers).

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::types::CancellationReason;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::DynamoStore;
use crate::domain::ids::{EnvelopeId, OrderId};
use crate::domain::lifecycle::Change;
use crate::domain::order::{OrderState, fixtures, now};
use crate::domain::ports::{OrderStore, StoreError};

/// A store over a mocked client with the production retry policy (3 attempts), fast.
fn store(rules: &[&Rule]) -> DynamoStore {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |b| {
        b.retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
    });
    DynamoStore {
        client,
        table: "orders".into(),
        shards: 4,
    }
}

fn change() -> Change {
    fixtures::write(&fixtures::order("o-1", "alice", OrderState::Created), None)
}

/// A cancellation with one reason per item: the order, its change entry, its history entry,
/// the envelope.
fn cancelled(codes: [&'static str; 4]) -> impl Fn() -> TransactWriteItemsError {
    move || {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder()
                .message("Transaction cancelled (mocked)")
                .set_cancellation_reasons(Some(
                    codes
                        .iter()
                        .map(|c| CancellationReason::builder().code(*c).build())
                        .collect(),
                ))
                .build(),
        )
    }
}

async fn apply(store: &DynamoStore) -> Result<(), StoreError> {
    let env = EnvelopeId::parse("env-1").unwrap();
    store.apply(&change(), Some(&env), now()).await.map(|_| ())
}

#[tokio::test]
async fn a_throttled_transaction_is_tried_again_then_unavailable() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(cancelled(["ThrottlingError", "None", "None", "None"]))
        .repeatedly()
        .build();
    let s = store(&[&rule]);
    let err = apply(&s).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(rule.num_calls(), 3, "three attempts in all");
}

#[tokio::test]
async fn a_transaction_throttled_once_goes_through() {
    let rule = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .error(cancelled([
            "None",
            "ProvisionedThroughputExceeded",
            "None",
            "None",
        ]))
        .output(|| TransactWriteItemsOutput::builder().build())
        .build();
    let s = store(&[&rule]);
    apply(&s).await.unwrap();
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn cancellation_reasons_map_to_the_contract() {
    for (codes, want) in [
        (
            ["ConditionalCheckFailed", "None", "None", "None"],
            "conflict",
        ),
        (["TransactionConflict", "None", "None", "None"], "conflict"),
        (
            ["None", "None", "None", "ConditionalCheckFailed"],
            "duplicate",
        ),
        (
            [
                "ConditionalCheckFailed",
                "None",
                "None",
                "ConditionalCheckFailed",
            ],
            "duplicate",
        ),
        (["ValidationError", "None", "None", "None"], "internal"),
    ] {
        let rule =
            mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(cancelled(codes));
        let s = store(&[&rule]);
        let got = match apply(&s).await.unwrap_err() {
            StoreError::Conflict => "conflict",
            StoreError::DuplicateEvent => "duplicate",
            StoreError::Internal(_) => "internal",
            StoreError::Unavailable(_) => "unavailable",
        };
        assert_eq!(got, want, "{codes:?}");
        assert_eq!(rule.num_calls(), 1, "{codes:?}: not retried");
    }
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_by_the_sdk_then_unavailable() {
    for (status, body) in [
        (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#,
        ),
        (
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#,
        ),
        (500, r#"{"__type":"InternalServerError","message":"oops"}"#),
        (503, ""),
    ] {
        let rule = mock!(aws_sdk_dynamodb::Client::get_item)
            .sequence()
            .http_status(status, Some(body.to_string()))
            .repeatedly()
            .build();
        let s = store(&[&rule]);
        let err = s.get(&OrderId::parse("o-1").unwrap()).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Unavailable(_)),
            "{status} {body}: {err:?}"
        );
        assert_eq!(rule.num_calls(), 3, "{status} {body}");
    }
}

#[tokio::test]
async fn a_read_that_recovers_within_the_retries_succeeds() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(|| GetItemOutput::builder().build())
        .build();
    let s = store(&[&rule]);
    assert!(
        s.get(&OrderId::parse("o-1").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn validation_errors_are_defects() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ValidationException","message":"bad key"}"#.into()),
        )
        .repeatedly()
        .build();
    let s = store(&[&rule]);
    let err = s.get(&OrderId::parse("o-1").unwrap()).await.unwrap_err();
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_missing_table_is_unavailable_and_says_what_to_do() {
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(
            400,
            Some(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#
                    .into(),
            ),
        )
        .repeatedly()
        .build();
    let s = store(&[&rule]);
    let err = s.ping().await.unwrap_err();
    let StoreError::Unavailable(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("order-manager migrate"), "{msg}");
}
