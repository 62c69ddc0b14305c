//! What the AWS adapters share: the standard configuration chain (`AWS_REGION`,
//! `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`, credentials...) and time-outs.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;

/// The shared SDK configuration; warns once, naming `what` fails without it, when no region
/// is configured.
pub async fn shared_config(what: &str) -> SdkConfig {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    if shared.region().is_none() {
        tracing::warn!("no AWS region configured (AWS_REGION): {what} will fail until one is");
    }
    shared
}

/// Time-outs for calls made on a request path or by the dispatcher: what does not go
/// through quickly is retried later from the store, never lost.
pub fn timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}
