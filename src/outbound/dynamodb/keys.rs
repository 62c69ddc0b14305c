//! The key layout of the single table: every item's `PK`/`SK`, the index keys, the write
//! shards and the ids derived from keys. Pure functions only, so the layout can be tested
//! without DynamoDB.
//!
//! Numbers inside keys are zero-padded to 20 digits so that string order is number order.

use sha2::{Digest, Sha256};

use crate::domain::order::OrderState;

pub(super) const PK: &str = "PK";
pub(super) const SK: &str = "SK";

/// The event-side index: orders by event + state (sharded), change entries by event (sharded).
pub(super) const BY_EVENT: &str = "by_event";
pub(super) const EV_PK: &str = "ev_pk";
pub(super) const EV_SK: &str = "ev_sk";
/// The user-side index: orders by user, change entries by user.
pub(super) const BY_USER: &str = "by_user";
pub(super) const US_PK: &str = "us_pk";
pub(super) const US_SK: &str = "us_sk";
/// The sparse index of pending outbox entries (callbacks and notices), by due time.
pub(super) const DUE: &str = "due";
pub(super) const DUE_PK: &str = "due_pk";
pub(super) const DUE_SK: &str = "due_sk";
/// The TTL attribute (Unix seconds).
pub(super) const EXPIRES_AT: &str = "expires_at";

pub(super) const ORDER_SK: &str = "ORDER";
pub(super) const META_PK: &str = "META";
pub(super) const META_SK: &str = "SHARDS";

/// The shard count when `OM_DYNAMODB_SHARDS` is not set, and the allowed range.
pub const DEFAULT_SHARDS: u32 = 8;
pub const MAX_SHARDS: u32 = 64;

/// A number as a fixed-width, order-preserving string. Negative values (never stored; they
/// can only come from a forged cursor) sort before every stored one.
pub(super) fn pad(n: i64) -> String {
    format!("{n:020}")
}

/// The write shard of an order: FNV-1a (64 bit) of its id, mixed by MurmurHash3's 64-bit
/// finalizer (FNV's low bits alone mix poorly), modulo the shard count. Stable across
/// processes, versions and platforms, unlike `std`'s hasher: every replica must put an
/// order's index entries in the same shard.
pub(super) fn shard_of(order_id: &str, shards: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in order_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h % u64::from(shards.max(1))) as u32
}

/// The first 63 bits of a SHA-256 digest, as a non-negative id.
fn id63(digest: &[u8]) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(b) >> 1) as i64
}

pub(super) fn order_pk(order_id: &str) -> String {
    format!("ORDER#{order_id}")
}

/// A change entry lives beside its order, one per version.
pub(super) fn change_sk(version: u64) -> String {
    format!("CHANGE#{version:020}")
}

pub(super) fn envelope_pk(envelope: &str) -> String {
    format!("ENV#{envelope}")
}
pub(super) const ENVELOPE_SK: &str = "ENV";

/// A callback's id is derived from its task token's digest, and its key from the id: a second
/// callback for the same token lands on the same key, which `attribute_not_exists` refuses.
pub(super) fn callback_id(token_digest: &[u8; 32]) -> i64 {
    id63(token_digest)
}

pub(super) fn callback_pk(id: i64) -> String {
    format!("CB#{id}")
}
pub(super) const CALLBACK_SK: &str = "CB";

/// A notice's id: 55 bits of a digest of (order, version) and the notice's position in its
/// change in the low 8 bits, so the notices of one change sort in the order written.
pub(super) fn notice_id(order_id: &str, version: u64, position: usize) -> i64 {
    let d = Sha256::digest(format!("notice\0{order_id}\0{version}").as_bytes());
    (id63(&d) & !0xff) | (position.min(0xff) as i64)
}

pub(super) fn notice_pk(id: i64) -> String {
    format!("NT#{id}")
}
pub(super) const NOTICE_SK: &str = "NT";

pub(super) fn menu_pk(event: &str) -> String {
    format!("MENU#{event}")
}
pub(super) const MENU_SK: &str = "MENU";

/// The sort key of an order in both list indexes: creation time, then order id (the order
/// of `SortKey`).
pub(super) fn order_sort(created_at_micros: i64, order_id: &str) -> String {
    format!("{}#{order_id}", pad(created_at_micros))
}

/// Orders of one event in one state, one of `shards` partitions.
pub(super) fn event_state_pk(event: &str, state: OrderState, shard: u32) -> String {
    format!("EVT#{event}#{}#{shard}", state.as_str())
}

pub(super) fn user_pk(user: &str) -> String {
    format!("USR#{user}")
}

/// Change entries of one event, one of `shards` partitions.
pub(super) fn change_event_pk(event: &str, shard: u32) -> String {
    format!("CHG#{event}#{shard}")
}

pub(super) fn change_user_pk(user: &str) -> String {
    format!("CHU#{user}")
}

/// A change entry's sort key: its number, then order id and version (unique).
pub(super) fn change_sort(seq: u64, order_id: &str, version: u64) -> String {
    format!("{seq:020}#{order_id}#{version:020}")
}

/// The exclusive lower bound of the change entries numbered after `seq`: `~` sorts after the
/// `#` that follows the number in every entry numbered `seq`.
pub(super) fn change_after(seq: u64) -> String {
    format!("{seq:020}~")
}

/// Which outbox an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outbox {
    Callbacks,
    Notices,
}

pub(super) fn due_pk(outbox: Outbox, shard: u32) -> String {
    match outbox {
        Outbox::Callbacks => format!("DUE#CB#{shard}"),
        Outbox::Notices => format!("DUE#NT#{shard}"),
    }
}

/// A pending entry's place in the due index: next attempt time, then id.
pub(super) fn due_sort(next_attempt_micros: i64, id: i64) -> String {
    format!("{}#{}", pad(next_attempt_micros), pad(id))
}

/// The exclusive upper bound of the entries due at `now`.
pub(super) fn due_until(now_micros: i64) -> String {
    pad(now_micros.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        // Pinned values: changing the hash would move every stored index entry.
        assert_eq!(shard_of("", 8), 6);
        assert_eq!(shard_of("a", 64), 27);
        assert_eq!(shard_of("order-1", 8), 5);
        assert_eq!(shard_of("0b7c6a4e-8a0b-4b8e-9d2a-1f1e2c3d4e5f", 64), 60);
        assert_eq!(shard_of("order-1", 1), 0);
        let mut counts = [0u32; 8];
        for i in 0..8000 {
            counts[shard_of(&format!("order-{i}"), 8) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn padded_numbers_sort_as_numbers() {
        let mut nums = [0i64, 9, 10, 1_700_000_000_000_000, i64::MAX, -5, 123];
        let mut keys: Vec<String> = nums.iter().map(|&n| pad(n)).collect();
        keys.sort();
        nums.sort();
        assert_eq!(keys, nums.iter().map(|&n| pad(n)).collect::<Vec<_>>());
        assert_eq!(pad(42).len(), 20);
    }

    #[test]
    fn order_sort_keys_follow_the_domain_sort_key() {
        let a = order_sort(5, "b");
        let b = order_sort(5, "ba");
        let c = order_sort(6, "a");
        assert!(a < b && b < c);
        // A forged negative cursor sorts before every stored key.
        assert!(order_sort(-1, "zzz") < order_sort(0, "a"));
    }

    #[test]
    fn change_bounds_exclude_exactly_the_numbers_up_to_the_bound() {
        let at = change_sort(100, "o", 3);
        assert!(at < change_after(100));
        assert!(change_sort(101, "a", 0) > change_after(100));
        assert!(change_sort(99, "zzzz", 99) < change_after(100));
    }

    #[test]
    fn due_bounds_include_now_and_exclude_later() {
        assert!(due_sort(1000, i64::MAX) < due_until(1000));
        assert!(due_sort(1001, 0) > due_until(1000));
    }

    #[test]
    fn ids_are_derived_and_non_negative() {
        let d = [0xffu8; 32];
        assert_eq!(callback_id(&d), i64::MAX);
        assert!(callback_id(&[0u8; 32]) == 0);
        let n0 = notice_id("o-1", 3, 0);
        let n1 = notice_id("o-1", 3, 1);
        assert!(
            n0 >= 0 && n1 == n0 + 1,
            "notices of one change sort as written"
        );
        assert_ne!(notice_id("o-1", 4, 0), n0);
        assert_eq!(notice_id("o-1", 3, 0), n0, "deterministic");
    }

    #[test]
    fn partition_keys_name_their_parts() {
        assert_eq!(
            event_state_pk("NYC", OrderState::Queued, 3),
            "EVT#NYC#queued#3"
        );
        assert_eq!(change_event_pk("NYC", 0), "CHG#NYC#0");
        assert_eq!(user_pk("alice"), "USR#alice");
        assert_eq!(due_pk(Outbox::Notices, 7), "DUE#NT#7");
        assert_eq!(change_sk(2), "CHANGE#00000000000000000002");
    }
}
