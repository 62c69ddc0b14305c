//! The publisher for setups without an event bus: notices are logged and counted as
//! published. (Local apps follow changes through the live stream instead.)

use async_trait::async_trait;

use crate::domain::notices::Notice;
use crate::domain::ports::{EventPublisher, PublishError};

pub struct LogOnlyPublisher;

#[async_trait]
impl EventPublisher for LogOnlyPublisher {
    async fn publish(&self, notices: &[Notice]) -> Vec<Result<(), PublishError>> {
        for n in notices {
            tracing::debug!(detail_type = n.kind.detail_type(), order.id = %n.detail["orderId"], "notice (no event bus configured)");
        }
        notices.iter().map(|_| Ok(())).collect()
    }

    fn needs_outbox(&self) -> bool {
        false
    }
}
