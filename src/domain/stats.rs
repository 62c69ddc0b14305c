//! Wait times and what the shop served: kept in step with the writes, so reading them costs a
//! few small reads, never a scan of the orders or their history.
//!
//! A completion records what it served (its drink, counted per coffee event and UTC day) and
//! how long its customer waited, from the drink's submission to the completion. The stats of
//! an event are its queue (orders `queued` or `preparing`), today's counts, and the waits of
//! the completions of the last [`WAIT_WINDOW`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::history::HistoryEntry;
use super::order::{Order, OrderState};

/// How far back the waits go.
pub const WAIT_WINDOW: Duration = Duration::from_secs(3600);

/// The most waits a read of an event's stats takes (the newest).
pub const MAX_SAMPLES: usize = 1000;

/// The name `served` counts an order under when its drink is unknown (chosen elsewhere).
pub const UNKNOWN_DRINK: &str = "unknown";

/// What a completion served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub drink: String,
    pub at: DateTime<Utc>,
    /// From the drink's submission (or, when it was chosen elsewhere, from the order's entry
    /// in the queue) to the completion; `None` when the story says neither.
    pub wait: Option<Duration>,
}

impl Served {
    /// What completing `order` (as the completion left it) served, by its story so far.
    pub fn of(order: &Order, story: &[HistoryEntry]) -> Self {
        let since = |state| story.iter().find(|e| e.state == state).map(|e| e.at);
        let from = since(OrderState::Submitted).or_else(|| since(OrderState::Queued));
        Self {
            drink: order
                .drink
                .as_ref()
                .map_or_else(|| UNKNOWN_DRINK.to_string(), |d| d.name.clone()),
            at: order.updated_at,
            wait: from.and_then(|from| (order.updated_at - from).to_std().ok()),
        }
    }

    /// The day (UTC) it counts for.
    pub fn day(&self) -> NaiveDate {
        self.at.date_naive()
    }
}

/// One completion's wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub completed_at: DateTime<Utc>,
    pub wait: Duration,
}

/// What a store keeps of one event's stats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventStats {
    /// Orders `queued` or `preparing`.
    pub queue_length: u64,
    /// Orders completed on the day asked for, by drink name.
    pub served: BTreeMap<String, u64>,
    /// The waits of the completions since the time asked for, at most [`MAX_SAMPLES`].
    pub waits: Vec<Wait>,
}

/// Wait times, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitSummary {
    pub average: Option<f64>,
    pub p90: Option<f64>,
    pub samples: usize,
}

impl EventStats {
    pub fn waits(&self) -> WaitSummary {
        let mut secs: Vec<f64> = self.waits.iter().map(|w| w.wait.as_secs_f64()).collect();
        secs.sort_by(f64::total_cmp);
        let n = secs.len();
        WaitSummary {
            average: (n > 0).then(|| secs.iter().sum::<f64>() / n as f64),
            // Nearest rank: the smallest wait that at least 90 % of the waits do not exceed.
            p90: (n > 0).then(|| secs[(n * 9).div_ceil(10).max(1) - 1]),
            samples: n,
        }
    }

    /// How long an order placed now may wait: the queue ahead of it and itself, served at
    /// the pace of the recent completions (completions per second between the first and the
    /// last of them), but never less than the recent average wait. With one recent completion,
    /// its wait; with none, unknown.
    pub fn estimated_wait(&self) -> Option<f64> {
        let average = self.waits().average?;
        let first = self.waits.iter().map(|w| w.completed_at).min()?;
        let last = self.waits.iter().map(|w| w.completed_at).max()?;
        let span = (last - first).to_std().ok()?.as_secs_f64();
        if self.waits.len() < 2 || span <= 0.0 {
            return Some(average);
        }
        let pace = (self.waits.len() - 1) as f64 / span;
        Some(average.max((self.queue_length + 1) as f64 / pace))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::Cause;
    use crate::domain::order::fixtures::order;
    use crate::domain::order::{DrinkOrder, now};

    fn wait_of(secs: u64, at: DateTime<Utc>) -> Wait {
        Wait {
            completed_at: at,
            wait: Duration::from_secs(secs),
        }
    }

    fn entry(state: OrderState, at: DateTime<Utc>) -> HistoryEntry {
        HistoryEntry {
            version: 1,
            at,
            state,
            cause: Cause::Timeout,
            order_number: None,
            cancel_reason: None,
        }
    }

    #[test]
    fn a_completion_waited_from_the_drink_s_submission() {
        let t0 = now();
        let mut o = order("o-1", "alice", OrderState::Completed);
        o.updated_at = t0 + chrono::Duration::seconds(150);
        o.drink = Some(DrinkOrder {
            name: "Latte".into(),
            modifiers: vec![],
            icon: None,
        });
        let story = [
            entry(OrderState::Created, t0 - chrono::Duration::seconds(30)),
            entry(OrderState::Submitted, t0),
            entry(OrderState::Queued, t0 + chrono::Duration::seconds(5)),
        ];
        let served = Served::of(&o, &story);
        assert_eq!(served.drink, "Latte");
        assert_eq!(served.wait, Some(Duration::from_secs(150)));
        assert_eq!(served.day(), o.updated_at.date_naive());
        // Chosen elsewhere: from its entry in the queue, under the unknown drink.
        o.drink = None;
        let served = Served::of(&o, &story[2..]);
        assert_eq!(served.drink, UNKNOWN_DRINK);
        assert_eq!(served.wait, Some(Duration::from_secs(145)));
        assert_eq!(Served::of(&o, &[]).wait, None);
    }

    #[test]
    fn averages_and_the_90th_percentile_by_nearest_rank() {
        let t = now();
        let stats = EventStats {
            waits: (1..=10).map(|s| wait_of(s * 60, t)).collect(),
            ..Default::default()
        };
        let w = stats.waits();
        assert_eq!(w.samples, 10);
        assert_eq!(w.average, Some(330.0));
        assert_eq!(w.p90, Some(540.0));
        let one = EventStats {
            waits: vec![wait_of(42, t)],
            ..Default::default()
        };
        assert_eq!(one.waits().p90, Some(42.0));
        assert_eq!(EventStats::default().waits().average, None);
    }

    #[test]
    fn the_estimate_serves_the_queue_at_the_recent_pace_and_never_beats_the_average() {
        let t = now();
        // Five completions two minutes apart, each after a three-minute wait.
        let waits: Vec<Wait> = (0..5)
            .map(|i| wait_of(180, t + chrono::Duration::seconds(120 * i)))
            .collect();
        let mut stats = EventStats {
            queue_length: 5,
            waits,
            ..Default::default()
        };
        // Six orders (the queue and this one) at one per 120 s.
        assert_eq!(stats.estimated_wait(), Some(720.0));
        stats.queue_length = 0;
        assert_eq!(
            stats.estimated_wait(),
            Some(180.0),
            "the average is the floor"
        );
        stats.waits.truncate(1);
        assert_eq!(stats.estimated_wait(), Some(180.0));
        assert_eq!(EventStats::default().estimated_wait(), None);
    }
}
