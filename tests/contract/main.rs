//! The store contract: every `OrderStore` adapter passes the same suite. Each case is written
//! once against the port and instantiated per store (SQLite always; DynamoDB on moto when
//! `OM_TEST_MOTO_URL` is set, as `scripts/test` does).

mod cases;
mod history;
mod shop;
mod stats;
mod stores;

use order_manager::domain::order::OrderState;

/// Instantiates every case for every store.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = crate::stores::sqlite().await;
                    crate::cases::$case(store.store.clone()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = crate::stores::dynamodb().await else { return };
                    crate::cases::$case(store.store.clone()).await;
                }
            )*
        }
    };
}

contract!(
    inserts_read_back_exactly,
    listed_orders_carry_no_task_tokens,
    inserting_an_existing_order_conflicts,
    transitions_are_guarded_by_version,
    an_update_never_creates_an_order,
    envelope_ids_are_remembered,
    events_that_change_nothing_are_remembered_and_early_ones_kept,
    a_token_is_used_at_most_once,
    callbacks_are_leased_and_handed_out_once,
    finished_callbacks_are_not_handed_out_again,
    the_outbox_depth_counts_what_is_pending,
    an_attempt_cut_off_is_handed_out_as_possibly_delivered,
    settled_callbacks_are_not_sent,
    notices_are_published_once_and_retried_when_asked,
    lists_by_state_follow_time_both_ways,
    lists_by_user_are_newest_first,
    the_change_log_follows_events_and_users,
    a_follower_gets_every_change_once_even_when_it_appears_late,
    menus_are_kept_per_event,
    racing_writers_on_one_version_make_one_winner,
    the_store_answers_pings,
    every_change_tells_its_story_in_order,
    shop_settings_are_kept_per_event,
    start_reservations_are_guarded_by_their_version,
    completions_count_what_they_served_and_keep_their_waits,
);

/// Thousands of orders across the write shards: every order exactly once, in order. Some
/// are written by transitions, concurrently, the rest bulk-loaded through the same item
/// mapping (moto deep-copies the table on every transaction: thousands of transactions would
/// take minutes there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pagination_over_thousands_of_orders_sees_each_once_in_order() {
    let store = stores::sqlite().await;
    cases::pagination_sees_each_order_once_in_order(&store, OrderState::Completed, 1_000, 4_000, 8)
        .await;
}

/// The same over open orders, which the SQLite store lists from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pagination_over_thousands_of_open_orders_sees_each_once_in_order() {
    let store = stores::sqlite().await;
    cases::pagination_sees_each_order_once_in_order(&store, OrderState::Queued, 1_000, 4_000, 8)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_pagination_over_thousands_of_orders_sees_each_once_in_order() {
    let Some(store) = stores::dynamodb().await else {
        return;
    };
    cases::pagination_sees_each_order_once_in_order(&store, OrderState::Completed, 150, 4_850, 1)
        .await;
}
