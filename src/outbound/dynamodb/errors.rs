//! DynamoDB's failure signals mapped onto the domain's, in one place.
//!
//! - No answer, time-outs, throttling, 5xx, a missing table, refused credentials: the store
//!   cannot be used now → [`StoreError::Unavailable`] (the HTTP edge answers 503 with
//!   `Retry-After`).
//! - A cancelled transaction: by the reason of each item (see [`Cancelled`]).
//! - Anything else (validation errors: a defect) → [`StoreError::Internal`].

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::CancellationReason;

use crate::domain::ports::StoreError;

/// Error codes that say "not now" rather than "never".
const TRANSIENT: [&str; 12] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "UnrecognizedClientException",
    "AccessDeniedException",
    "ExpiredTokenException",
    "InvalidSignatureException",
];

/// Maps any failed call; `what` names the operation for the message.
pub(super) fn sdk<E>(what: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("Unknown");
            let message = format!(
                "DynamoDB {what}: {code}: {}",
                err.message().unwrap_or("no message")
            );
            if code == "ResourceNotFoundException" {
                StoreError::Unavailable(format!(
                    "{message} (does the table exist? `order-manager migrate` creates it)"
                ))
            } else if TRANSIENT.contains(&code) || se.raw().status().is_server_error() {
                StoreError::Unavailable(message)
            } else {
                StoreError::Internal(message)
            }
        }
        // No request could be made (no region, no credentials), no answer, or an unreadable
        // one: the store cannot be reached.
        _ => StoreError::Unavailable(format!("DynamoDB {what}: {}", DisplayErrorContext(&e))),
    }
}

/// Whether a failed single-item write failed on its condition.
pub(super) fn is_condition_failed<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}

/// Whether a failed single-item write met a transaction under way on the same item.
pub(super) fn is_transaction_conflict<E>(e: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("TransactionConflictException"))
}

/// What an item of a transaction is, so that its cancellation reason can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The guarded order write.
    Order,
    /// A new callback (its key is the token's digest).
    Callback,
    /// The envelope-id record of an ingested event.
    Envelope,
    /// Anything unconditional, or guarded only against id collisions.
    Other,
}

/// How a cancelled transaction ends for the caller.
#[derive(Debug, Clone)]
pub(super) enum Cancelled {
    /// The final answer.
    Fail(StoreError),
    /// Only throttled: the same transaction may be tried again at once.
    Throttled(String),
}

/// Reads the cancellation reasons of a transaction, one per item in `roles` order.
///
/// - the envelope record's condition failed → [`StoreError::DuplicateEvent`] (before anything
///   else, as the SQLite store checks it first);
/// - any other condition failed → [`StoreError::Conflict`];
/// - `TransactionConflict` (another transaction held one of the items: typically a racing
///   writer on the same order) → [`StoreError::Conflict`] as well: nothing was written, and
///   the caller's answer to a conflict (read again, decide again) is the right one;
/// - throttling only → [`Cancelled::Throttled`] (retried, then `Unavailable`);
/// - anything else (validation) → [`StoreError::Internal`].
///
/// Without reasons (a stand-in that sends none), the codes in the message's
/// `[A, B, ...]` are read instead.
pub(super) fn cancelled(
    reasons: &[CancellationReason],
    message: Option<&str>,
    roles: &[Role],
) -> Cancelled {
    let codes: Vec<String> = if reasons.is_empty() {
        codes_in_message(message.unwrap_or(""))
    } else {
        reasons
            .iter()
            .map(|r| r.code().unwrap_or("None").to_string())
            .collect()
    };
    let failed = |role: Role| {
        codes
            .iter()
            .zip(roles)
            .any(|(c, r)| *r == role && c == "ConditionalCheckFailed")
    };
    let any = |code: &str| codes.iter().any(|c| c == code);
    if failed(Role::Envelope) {
        Cancelled::Fail(StoreError::DuplicateEvent)
    } else if codes.iter().any(|c| c == "ConditionalCheckFailed") || any("TransactionConflict") {
        Cancelled::Fail(StoreError::Conflict)
    } else if any("ThrottlingError") || any("ProvisionedThroughputExceeded") {
        Cancelled::Throttled(format!("DynamoDB transaction throttled: {codes:?}"))
    } else {
        Cancelled::Fail(StoreError::Internal(format!(
            "DynamoDB transaction cancelled: {codes:?}: {}",
            message.unwrap_or("no message")
        )))
    }
}

fn codes_in_message(message: &str) -> Vec<String> {
    let Some(start) = message.rfind('[') else {
        return vec![];
    };
    let end = message[start..]
        .find(']')
        .map_or(message.len(), |e| start + e);
    message[start + 1..end]
        .split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
        codes
            .iter()
            .map(|c| CancellationReason::builder().code(*c).build())
            .collect()
    }

    const ROLES: [Role; 4] = [Role::Order, Role::Callback, Role::Other, Role::Envelope];

    #[test]
    fn a_seen_envelope_is_a_duplicate_before_anything_else() {
        let r = reasons(&[
            "ConditionalCheckFailed",
            "None",
            "None",
            "ConditionalCheckFailed",
        ]);
        assert!(matches!(
            cancelled(&r, None, &ROLES),
            Cancelled::Fail(StoreError::DuplicateEvent)
        ));
    }

    #[test]
    fn a_lost_guard_or_a_used_token_is_a_conflict() {
        for codes in [
            ["ConditionalCheckFailed", "None", "None", "None"],
            ["None", "ConditionalCheckFailed", "None", "None"],
            ["TransactionConflict", "None", "None", "None"],
        ] {
            let got = cancelled(&reasons(&codes), None, &ROLES);
            assert!(
                matches!(got, Cancelled::Fail(StoreError::Conflict)),
                "{codes:?}: {got:?}"
            );
        }
    }

    #[test]
    fn throttling_is_retried_and_validation_is_a_defect() {
        let r = reasons(&["None", "ThrottlingError", "None", "None"]);
        assert!(matches!(
            cancelled(&r, None, &ROLES),
            Cancelled::Throttled(_)
        ));
        let r = reasons(&["ValidationError", "None", "None", "None"]);
        assert!(matches!(
            cancelled(&r, None, &ROLES),
            Cancelled::Fail(StoreError::Internal(_))
        ));
    }

    #[test]
    fn reasons_are_read_from_the_message_when_missing() {
        let m = "Transaction cancelled, please refer cancellation reasons for specific reasons \
                 [None, None, None, ConditionalCheckFailed]";
        assert!(matches!(
            cancelled(&[], Some(m), &ROLES),
            Cancelled::Fail(StoreError::DuplicateEvent)
        ));
        assert_eq!(codes_in_message("no list"), Vec::<String>::new());
    }
}
