//! Delivering what the outbox holds: workflow callbacks (tried inline first, then by the
//! dispatcher with capped exponential backoff and jitter) and notices (published by the
//! dispatcher). Both survive restarts: they are rows in the store until delivered.

use std::time::{Duration, Instant};

use rand::Rng;

use super::lifecycle::CallbackAction;
use super::order::now;
use super::ports::{
    CallbackError, CallbackResult, NoticeResult, PendingCallback, PublishError, StoreError,
};
use super::service::{MAX_RACES, OrderService};
use crate::telemetry;

/// What an attempt at a callback came to.
pub(super) enum Attempt {
    Delivered,
    /// Rejected for good; `true` if that expired the order.
    Rejected(bool),
    Retrying,
}

/// How many notices go out in one publish call (EventBridge takes 10 entries at most).
pub(super) const NOTICE_BATCH: usize = 10;

impl OrderService {
    /// Tries one callback and records how it went. Never fails: what cannot be recorded now
    /// stays leased and comes back to the dispatcher when the lease runs out.
    #[tracing::instrument(skip_all, fields(order.id = %cb.order_id, callback.id = cb.id))]
    pub(super) async fn attempt(&self, cb: PendingCallback) -> Attempt {
        let sent = match &cb.action {
            CallbackAction::Resume { output } => self.workflow.resume(&cb.token, output).await,
            CallbackAction::Fail { error, cause } => {
                self.workflow.fail(&cb.token, error, cause).await
            }
        };
        telemetry::callback(match &sent {
            Ok(()) => "delivered",
            Err(CallbackError::Rejected(_)) => "rejected",
            Err(CallbackError::Unavailable(_)) => "retry",
            Err(CallbackError::Unknown(_)) => "unknown",
        });
        let (attempt, result) = match sent {
            Ok(()) => (Attempt::Delivered, CallbackResult::Delivered),
            Err(CallbackError::Rejected(error)) => {
                // If an earlier attempt may have arrived, this rejection may only say that
                // the token was already used by it: the workflow's next event decides.
                let expired = if cb.outcome_unknown {
                    tracing::warn!(%error, "workflow rejected a callback an earlier attempt may have delivered; its next event decides");
                    false
                } else {
                    tracing::warn!(%error, "workflow rejected the callback for good");
                    cb.expires_order && self.expire(&cb).await
                };
                (
                    Attempt::Rejected(expired),
                    CallbackResult::Rejected { error },
                )
            }
            Err(CallbackError::Unavailable(error)) => self.retry_later(&cb, error, false),
            Err(CallbackError::Unknown(error)) => self.retry_later(&cb, error, true),
        };
        if let Err(e) = self.store.finish_callback(cb.id, result).await {
            telemetry::store_error(&e);
            tracing::error!(error = %e, "could not record a callback attempt; the lease will expire");
        }
        attempt
    }

    fn retry_later(
        &self,
        cb: &PendingCallback,
        error: String,
        outcome_unknown: bool,
    ) -> (Attempt, CallbackResult) {
        let delay = self.backoff(cb.attempts);
        tracing::warn!(%error, retry_in = ?delay, outcome_unknown, "workflow callback failed; will retry");
        (
            Attempt::Retrying,
            CallbackResult::Retry {
                error,
                next_attempt_at: now() + delay,
                outcome_unknown,
            },
        )
    }

    /// Expires the order that waited on a rejected callback; `true` if it did.
    /// (An expiry owes no callback, so this writes directly rather than through `commit`.)
    async fn expire(&self, cb: &PendingCallback) -> bool {
        for _ in 0..MAX_RACES {
            let change = match self.store.get(&cb.order_id).await {
                Ok(Some(order)) => order.expire(&cb.token, now()),
                Ok(None) => None,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the order to expire it");
                    return false;
                }
            };
            let Some(change) = change else { return false };
            match self.apply(&change, None, now()).await {
                Ok(_) => return true,
                Err(StoreError::Conflict) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "could not expire the order");
                    return false;
                }
            }
        }
        false
    }

    /// Capped exponential backoff with jitter (half to all of the capped delay).
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self.cfg.retry_base.saturating_mul(1u32 << attempts.min(20));
        let capped = exp.min(self.cfg.retry_cap);
        capped.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Delivers the callbacks that are due; `true` if there were any.
    async fn deliver_due_callbacks(&self) -> bool {
        match self
            .store
            .claim_due_callbacks(now(), self.cfg.callback_lease, 32)
            .await
        {
            Ok(due) => {
                let any = !due.is_empty();
                // Side by side: every one of them is done well within its lease.
                futures_util::future::join_all(due.into_iter().map(|cb| self.attempt(cb))).await;
                any
            }
            Err(e) => {
                telemetry::store_error(&e);
                tracing::warn!(error = %e, "dispatcher could not read due callbacks");
                false
            }
        }
    }

    /// Publishes the notices that are due, in batches; `true` if there were any.
    async fn publish_due_notices(&self) -> bool {
        let due = match self
            .store
            .claim_due_notices(now(), self.cfg.callback_lease, NOTICE_BATCH)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                telemetry::store_error(&e);
                tracing::warn!(error = %e, "dispatcher could not read due notices");
                return false;
            }
        };
        if due.is_empty() {
            return false;
        }
        let notices: Vec<_> = due.iter().map(|p| p.notice.clone()).collect();
        let results = self.publisher.publish(&notices).await;
        for (i, pending) in due.iter().enumerate() {
            let result = match results.get(i) {
                Some(Ok(())) => {
                    telemetry::notice("published");
                    NoticeResult::Published
                }
                Some(Err(PublishError::Rejected(error))) => {
                    telemetry::notice("dropped");
                    tracing::error!(%error, kind = pending.notice.kind.detail_type(), "the event bus refused a notice; dropped");
                    NoticeResult::Dropped {
                        error: error.clone(),
                    }
                }
                Some(Err(PublishError::Unavailable(error))) => {
                    let delay = self.backoff(pending.attempts);
                    telemetry::notice("retry");
                    tracing::warn!(%error, retry_in = ?delay, attempts = pending.attempts + 1, "could not publish a notice; will retry");
                    NoticeResult::Retry {
                        error: error.clone(),
                        next_attempt_at: now() + delay,
                    }
                }
                None => NoticeResult::Retry {
                    error: "the publisher gave no result".into(),
                    next_attempt_at: now() + self.backoff(pending.attempts),
                },
            };
            if let Err(e) = self.store.finish_notice(pending.id, result).await {
                telemetry::store_error(&e);
                tracing::error!(error = %e, "could not record a publish; the lease will expire");
            }
        }
        true
    }

    /// Forgets what is past the retention window.
    async fn prune(&self) {
        match self.store.prune(now() - self.cfg.dedupe_retention).await {
            Ok(n) if n > 0 => tracing::info!(pruned = n, "pruned old records"),
            Ok(_) => {}
            Err(e) => {
                telemetry::store_error(&e);
                tracing::warn!(error = %e, "could not prune old records");
            }
        }
    }

    /// For a shutdown: waits for the callback attempts running in the background, then
    /// delivers what is due until nothing is or `deadline` comes. What is left stays in the
    /// store for the next start (or another replica).
    pub async fn drain(&self, deadline: tokio::time::Instant) {
        self.background.close();
        if tokio::time::timeout_at(deadline, self.background.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: callback attempts still running at the deadline");
            return;
        }
        let delivered = tokio::time::timeout_at(deadline, async {
            while self.deliver_due_callbacks().await | self.publish_due_notices().await {}
        })
        .await;
        if delivered.is_err() {
            tracing::warn!("shutdown: owed callbacks or notices left for the next start");
        }
    }

    /// Delivers due callbacks and notices until the task is dropped; prunes hourly.
    pub async fn run_dispatcher(self) {
        let mut last_prune: Option<Instant> = None;
        loop {
            let callbacks = self.deliver_due_callbacks().await;
            let notices = self.publish_due_notices().await;
            if callbacks || notices {
                continue;
            }
            if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                self.prune().await;
            }
            tokio::select! {
                () = tokio::time::sleep(self.cfg.dispatch_interval) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}
