//! The EventBridge adapter of the [`EventPublisher`] port: one `PutEvents` call per batch of
//! notices, one entry per notice (`Source` and `EventBusName` from the configuration,
//! `DetailType` = the notice's kind, `Detail` = its JSON).
//!
//! Results are mapped per entry, in one place ([`classify_code`]):
//!
//! - an entry the bus refused for what it is (`MalformedDetail`, `InvalidArgument`,
//!   `ValidationException`, ...) is [`PublishError::Rejected`]: the same entry would be
//!   refused again;
//! - everything else (`InternalFailure`, `ThrottlingException`, access errors an operator can
//!   fix, codes we do not know) is [`PublishError::Unavailable`] and retried later.
//!
//! A failure of the whole call (network, time-out, 5xx, throttling, credentials) makes every
//! entry `Unavailable`. A whole request refused as invalid is retried once entry by entry, so
//! that one bad notice cannot take the good ones of its batch down with it.

use std::time::Duration;

use crate::outbound::aws::{shared_config, timeouts};
use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::config::http::HttpResponse;
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::{PutEventsError, PutEventsOutput};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};

use crate::domain::notices::Notice;
use crate::domain::ports::{EventPublisher, PublishError};

/// `PutEvents` takes at most 10 entries.
pub const MAX_ENTRIES: usize = 10;

/// Error codes that say the entry (or the request) itself is invalid: never retried.
/// (AWS also lists access errors as non-retryable; those are fixed by an operator, so they
/// are retried like the Step Functions adapter retries them.)
const INVALID: [&str; 6] = [
    "MalformedDetail",
    "InvalidArgument",
    "InvalidAccountIdException",
    "RedactionFailure",
    "ValidationException",
    "SerializationException",
];

pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    source: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source: source.into(),
        }
    }

    /// A client from the standard AWS configuration chain (`AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// credentials...), with short time-outs and 2 attempts: what does not go through quickly
    /// stays in the outbox and the dispatcher tries again later.
    pub async fn from_env(bus: impl Into<String>, source: impl Into<String>) -> Self {
        let shared = shared_config("publishing events").await;
        let config = aws_sdk_eventbridge::config::Builder::from(&shared)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(timeouts(Duration::from_secs(2), Duration::from_secs(4)))
            .build();
        Self::new(Client::from_conf(config), bus, source)
    }

    /// The `PutEvents` entry of one notice.
    fn entry(&self, notice: &Notice) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(&self.source)
            .detail_type(notice.kind.detail_type())
            .detail(notice.detail.to_string())
            .event_bus_name(&self.bus)
            .build()
    }

    /// One `PutEvents` call for `batch` (at most [`MAX_ENTRIES`]): one result per notice, or
    /// the error of the whole call.
    async fn put(&self, batch: &[Notice]) -> Result<Vec<Result<(), PublishError>>, PublishError> {
        let output = self
            .client
            .put_events()
            .set_entries(Some(batch.iter().map(|n| self.entry(n)).collect()))
            .send()
            .await
            .map_err(classify_call)?;
        Ok(entry_results(batch.len(), &output))
    }

    async fn publish_batch(&self, batch: &[Notice]) -> Vec<Result<(), PublishError>> {
        match self.put(batch).await {
            Ok(results) => {
                // The dispatcher logs what it drops; say here what it will retry.
                for (notice, result) in batch.iter().zip(&results) {
                    if let Err(PublishError::Unavailable(error)) = result {
                        tracing::warn!(%error, kind = notice.kind.detail_type(), order.id = %notice.detail["orderId"], "EventBridge failed an entry; it will be retried");
                    }
                }
                results
            }
            Err(PublishError::Rejected(error)) if batch.len() > 1 => {
                tracing::warn!(%error, entries = batch.len(), "EventBridge refused a whole batch; publishing its entries one by one");
                let mut results = Vec::with_capacity(batch.len());
                for notice in batch {
                    let one = self.put(std::slice::from_ref(notice)).await;
                    results.push(match one {
                        Ok(mut r) => r.pop().unwrap_or_else(|| Err(no_result())),
                        Err(e) => Err(e),
                    });
                }
                results
            }
            Err(e) => {
                if let PublishError::Unavailable(error) = &e {
                    tracing::warn!(%error, entries = batch.len(), bus = %self.bus, "PutEvents failed; the events will be retried");
                }
                vec![Err(e); batch.len()]
            }
        }
    }
}

fn no_result() -> PublishError {
    PublishError::Unavailable("EventBridge gave no result for this entry".into())
}

/// The result of each of the `sent` entries of a `PutEvents` answer, in order.
fn entry_results(sent: usize, output: &PutEventsOutput) -> Vec<Result<(), PublishError>> {
    let entries = output.entries();
    (0..sent)
        .map(|i| match entries.get(i) {
            Some(entry) => entry_result(entry),
            // Without per-entry results, only "nothing failed" says anything.
            None if output.failed_entry_count() == 0 => Ok(()),
            None => Err(no_result()),
        })
        .collect()
}

fn entry_result(entry: &PutEventsResultEntry) -> Result<(), PublishError> {
    match entry.error_code() {
        None => Ok(()),
        Some(code) => Err(classify_code(code, entry.error_message())),
    }
}

/// Whether an error code says the entry or request itself is invalid.
fn is_invalid(code: &str) -> bool {
    INVALID.contains(&code) || code.contains("Validation") || code.starts_with("Malformed")
}

/// The port's class of a failed entry's error code.
fn classify_code(code: &str, message: Option<&str>) -> PublishError {
    let text = format!("{code}: {}", message.unwrap_or("no message"));
    if is_invalid(code) {
        PublishError::Rejected(text)
    } else {
        PublishError::Unavailable(text)
    }
}

/// The port's class of a failure of the whole call.
fn classify_call(e: SdkError<PutEventsError, HttpResponse>) -> PublishError {
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown");
            let status = se.raw().status();
            let message = format!("{code}: {}", err.message().unwrap_or("no message"));
            if status.as_u16() == 413 || (status.is_client_error() && is_invalid(code)) {
                PublishError::Rejected(message)
            } else {
                PublishError::Unavailable(message)
            }
        }
        SdkError::TimeoutError(_) => PublishError::Unavailable("EventBridge timed out".into()),
        _ => PublishError::Unavailable(format!("EventBridge: {}", DisplayErrorContext(&e))),
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), PublishError>> {
        let mut results = Vec::with_capacity(notices.len());
        for batch in notices.chunks(MAX_ENTRIES) {
            results.extend(self.publish_batch(batch).await);
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_eventbridge::operation::put_events::PutEventsInput;
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
    use serde_json::json;

    use super::*;
    use crate::domain::notices::NoticeKind;

    fn notice(order: &str) -> Notice {
        Notice {
            kind: NoticeKind::MakeOrder,
            detail: json!({"orderId": order, "baristaUserId": "bob"}),
        }
    }

    fn ok_entry(id: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder().event_id(id).build()
    }

    fn failed_entry(code: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder()
            .error_code(code)
            .error_message("mocked")
            .build()
    }

    fn output(entries: Vec<PutEventsResultEntry>) -> PutEventsOutput {
        let failed = entries.iter().filter(|e| e.error_code().is_some()).count();
        PutEventsOutput::builder()
            .failed_entry_count(failed as i32)
            .set_entries(Some(entries))
            .build()
    }

    fn publisher(rules: &[&Rule]) -> EventBridgePublisher {
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, rules, |b| {
            b.retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
        });
        EventBridgePublisher::new(client, "Serverlesspresso", "test.source")
    }

    fn is_rejected(r: &Result<(), PublishError>) -> bool {
        matches!(r, Err(PublishError::Rejected(_)))
    }

    fn is_unavailable(r: &Result<(), PublishError>) -> bool {
        matches!(r, Err(PublishError::Unavailable(_)))
    }

    #[test]
    fn entry_codes_map_to_the_port_classes() {
        for code in ["InternalFailure", "ThrottlingException", "SomethingNew"] {
            assert!(
                matches!(classify_code(code, None), PublishError::Unavailable(_)),
                "{code}"
            );
        }
        for code in [
            "MalformedDetail",
            "InvalidArgument",
            "ValidationException",
            "InvalidAccountIdException",
        ] {
            assert!(
                matches!(classify_code(code, None), PublishError::Rejected(_)),
                "{code}"
            );
        }
        // Fixable by an operator: retried.
        for code in ["AccessDeniedException", "NotAuthorizedForSourceException"] {
            assert!(
                matches!(classify_code(code, None), PublishError::Unavailable(_)),
                "{code}"
            );
        }
        let PublishError::Rejected(text) = classify_code("MalformedDetail", Some("bad json"))
        else {
            unreachable!()
        };
        assert_eq!(text, "MalformedDetail: bad json");
    }

    #[test]
    fn results_follow_the_entries_in_order() {
        let out = output(vec![
            ok_entry("a"),
            failed_entry("InternalFailure"),
            failed_entry("MalformedDetail"),
            ok_entry("d"),
        ]);
        let r = entry_results(4, &out);
        assert_eq!(r.len(), 4);
        assert!(r[0].is_ok());
        assert!(is_unavailable(&r[1]));
        assert!(is_rejected(&r[2]));
        assert!(r[3].is_ok());
    }

    #[test]
    fn missing_entry_results_count_only_when_nothing_failed() {
        let none_failed = PutEventsOutput::builder().failed_entry_count(0).build();
        assert!(entry_results(3, &none_failed).iter().all(Result::is_ok));
        let one_failed = PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(ok_entry("a"))
            .build();
        let r = entry_results(2, &one_failed);
        assert!(r[0].is_ok());
        assert!(is_unavailable(&r[1]));
    }

    #[tokio::test]
    async fn one_call_carries_every_notice_as_an_entry() {
        let seen: Arc<Mutex<Vec<PutEventsInput>>> = Arc::default();
        let s = seen.clone();
        let rule = mock!(Client::put_events).then_compute_output(move |req| {
            s.lock().unwrap().push(req.clone());
            output(req.entries().iter().map(|_| ok_entry("id")).collect())
        });
        let p = publisher(&[&rule]);
        let notices = [notice("o-1"), notice("o-2")];
        let r = p.publish(&notices).await;
        assert!(r.iter().all(Result::is_ok), "{r:?}");
        assert_eq!(rule.num_calls(), 1);
        let seen = seen.lock().unwrap();
        let entries = seen[0].entries();
        assert_eq!(entries.len(), 2);
        for (e, n) in entries.iter().zip(&notices) {
            assert_eq!(e.source(), Some("test.source"));
            assert_eq!(e.event_bus_name(), Some("Serverlesspresso"));
            assert_eq!(e.detail_type(), Some("OrderManager.MakeOrder"));
            assert!(e.resources().is_empty());
            let detail: serde_json::Value = serde_json::from_str(e.detail().unwrap()).unwrap();
            assert_eq!(detail, n.detail);
        }
    }

    #[tokio::test]
    async fn nothing_to_publish_makes_no_call() {
        let rule = mock!(Client::put_events).then_output(|| output(vec![]));
        let p = publisher(&[&rule]);
        assert!(p.publish(&[]).await.is_empty());
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn more_than_ten_notices_go_out_in_several_calls() {
        let rule = mock!(Client::put_events).then_compute_output(|req| {
            assert!(req.entries().len() <= MAX_ENTRIES);
            output(req.entries().iter().map(|_| ok_entry("id")).collect())
        });
        let p = publisher(&[&rule]);
        let notices: Vec<_> = (0..13).map(|i| notice(&format!("o-{i}"))).collect();
        let r = p.publish(&notices).await;
        assert_eq!(r.len(), 13);
        assert!(r.iter().all(Result::is_ok));
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_failed_call_makes_every_entry_unavailable() {
        for (status, body) in [
            (
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
            (500, r#"{"__type":"InternalException","message":"oops"}"#),
            (
                400,
                r#"{"__type":"ResourceNotFoundException","message":"Event bus x does not exist."}"#,
            ),
        ] {
            let rule = mock!(Client::put_events)
                .sequence()
                .http_status(status, Some(body.to_string()))
                .repeatedly()
                .build();
            let p = publisher(&[&rule]);
            let r = p.publish(&[notice("o-1"), notice("o-2")]).await;
            assert_eq!(r.len(), 2);
            assert!(r.iter().all(is_unavailable), "{status} {body}: {r:?}");
        }
    }

    #[tokio::test]
    async fn a_request_refused_as_invalid_is_retried_entry_by_entry() {
        let body = r#"{"__type":"ValidationException","message":"too big"}"#;
        // Any request that carries o-bad is refused as a whole; the rest is accepted.
        let refused = mock!(Client::put_events)
            .match_requests(|req| {
                req.entries()
                    .iter()
                    .any(|e| e.detail().unwrap_or_default().contains("o-bad"))
            })
            .sequence()
            .http_status(400, Some(body.to_string()))
            .repeatedly()
            .build();
        let accepted = mock!(Client::put_events).then_compute_output(|req| {
            output(req.entries().iter().map(|_| ok_entry("id")).collect())
        });
        let p = publisher(&[&refused, &accepted]);
        let r = p
            .publish(&[notice("o-1"), notice("o-bad"), notice("o-3")])
            .await;
        assert!(r[0].is_ok(), "{r:?}");
        assert!(is_rejected(&r[1]), "{r:?}");
        assert!(r[2].is_ok(), "{r:?}");
        assert_eq!(refused.num_calls(), 2, "the batch, then o-bad alone");
        assert_eq!(accepted.num_calls(), 2, "o-1 and o-3 alone");
    }
}
