//! Benchmark helper (`scripts/bench`): fills an SQLite order store with a shop's history,
//! through the library's own bulk loader (`SqliteStore::import`), so that the service reads
//! rows exactly as it writes them.
//!
//! ```sh
//! cargo run --release --example seed -- data/bench.db --orders 1000000
//! ```
//!
//! What it writes, all for one coffee event (`--event`, the service's default event by
//! default, so that the barista list needs no `event_id`):
//! - `--orders` orders in all, of which
//! - `--open` queued orders of the last hour (order number, drink, task token #2): the barista
//!   queue, as `GET /v1/orders?state=queued` lists it;
//! - `--customer-orders` orders of `--customer` (two of them queued, the rest history): what
//!   `GET /v1/me/orders` lists for that customer;
//! - the rest: completed (90 %) and cancelled (10 %) orders of the past year, spread over
//!   `--users` customers.
//!
//! Ids are deterministic (UUID-shaped), so two runs with the same arguments write the same
//! store. The store must be new: an id it already holds refuses the load.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use clap::Parser;
use order_manager::domain::ids::{EventId, OrderId, OrderNumber, TaskToken, UserId};
use order_manager::domain::order::{CancelReason, DrinkOrder, Order, OrderState};
use order_manager::outbound::sqlite::SqliteStore;

#[derive(Debug, Parser)]
#[command(about = "Fill an SQLite order store with benchmark data")]
struct Args {
    /// The SQLite file to create.
    db: PathBuf,
    /// Orders in all (history + open + the customer's).
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// Queued orders (the barista queue).
    #[arg(long, default_value_t = 200)]
    open: u64,
    /// Customers the history is spread over.
    #[arg(long, default_value_t = 50_000)]
    users: u64,
    /// The customer whose orders `GET /v1/me/orders` lists.
    #[arg(long, default_value = "bench-customer")]
    customer: String,
    /// How many orders that customer has (two of them queued).
    #[arg(long, default_value_t = 12)]
    customer_orders: u64,
    /// The coffee event every order belongs to.
    #[arg(long, default_value = "default")]
    event: String,
    /// Orders per `import` call (one transaction each).
    #[arg(long, default_value_t = 10_000)]
    chunk: usize,
}

const DRINKS: [(&str, &[&str]); 4] = [
    ("Latte", &["Oat"]),
    ("Cappuccino", &["Regular"]),
    ("Espresso", &[]),
    ("Americano", &["Oat"]),
];

/// splitmix64: a cheap, well-spread, deterministic stream of numbers.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn order_id(kind: u16, n: u64) -> OrderId {
    let r = mix(n ^ (u64::from(kind) << 48));
    OrderId::parse(format!(
        "{:08x}-{kind:04x}-4{:03x}-8{:03x}-{n:012x}",
        r >> 32,
        (r >> 16) & 0xfff,
        r & 0xfff
    ))
    .expect("a UUID-shaped id is valid")
}

fn drink(n: u64) -> DrinkOrder {
    let (name, modifiers) = DRINKS[(mix(n) % DRINKS.len() as u64) as usize];
    DrinkOrder {
        name: name.into(),
        modifiers: modifiers.iter().map(|m| (*m).to_string()).collect(),
        icon: None,
    }
}

struct Seeder {
    event: EventId,
    now: DateTime<Utc>,
    barista: UserId,
}

impl Seeder {
    /// A finished order `age_secs` old: completed, or (one in ten) cancelled.
    fn historical(&self, n: u64, user: UserId, age_secs: i64) -> Order {
        let created = self.now - Duration::seconds(age_secs);
        let updated = created + Duration::seconds(90 + (mix(n) % 600) as i64);
        let cancelled = mix(n.wrapping_add(7)).is_multiple_of(10);
        Order {
            id: order_id(1, n),
            event_id: self.event.clone(),
            user_id: user,
            state: if cancelled {
                OrderState::Cancelled
            } else {
                OrderState::Completed
            },
            order_number: Some(OrderNumber::new((n % 999 + 1) as u32).expect("positive")),
            drink: Some(drink(n)),
            barista_user_id: (!cancelled).then(|| self.barista.clone()),
            cancel_reason: cancelled.then_some(CancelReason::Barista),
            start_token: None,
            completion_token: None,
            execution_arn: None,
            workflow_finished_at: Some(updated),
            version: 5,
            created_at: created,
            updated_at: updated,
        }
    }

    /// A queued order `age_secs` old, holding token #2 as a real one would.
    fn queued(&self, n: u64, user: UserId, age_secs: i64) -> Order {
        let created = self.now - Duration::seconds(age_secs);
        let token = TaskToken::parse(format!("bench-token-{:016x}{:016x}", mix(n), mix(!n)))
            .expect("a valid token");
        Order {
            id: order_id(2, n),
            event_id: self.event.clone(),
            user_id: user,
            state: OrderState::Queued,
            order_number: Some(OrderNumber::new((n % 999 + 1) as u32).expect("positive")),
            drink: Some(drink(n)),
            barista_user_id: None,
            cancel_reason: None,
            start_token: None,
            completion_token: Some(token),
            execution_arn: None,
            workflow_finished_at: None,
            version: 3,
            created_at: created,
            updated_at: created + Duration::seconds(20),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.orders >= args.open + args.customer_orders,
        "--orders must cover --open and --customer-orders"
    );
    anyhow::ensure!(args.customer_orders >= 2, "--customer-orders: at least 2");
    anyhow::ensure!(
        args.users > 0 && args.chunk > 0,
        "--users and --chunk: at least 1"
    );
    let started = Instant::now();
    let store = SqliteStore::open(&args.db)?;
    let seeder = Seeder {
        event: EventId::parse(args.event.clone())?,
        now: Utc::now().trunc_subsecs(6),
        barista: UserId::parse("bench-barista")?,
    };
    let customer = UserId::parse(args.customer.clone())?;
    let year = 365 * 24 * 3600;

    // The barista queue (the customer's two queued orders are among them) and the
    // customer's history.
    let mut batch = Vec::new();
    for n in 0..args.open {
        let user = if n < 2 {
            customer.clone()
        } else {
            UserId::parse(format!("user-{:06}", mix(n) % args.users))?
        };
        batch.push(seeder.queued(n, user, 3600 - (n as i64 * 3600 / args.open as i64)));
    }
    let history = args.orders - args.open;
    for n in 0..args.customer_orders - 2 {
        batch.push(seeder.historical(
            history + n,
            customer.clone(),
            (mix(n) % year as u64) as i64 + 3600,
        ));
    }
    let mut written = store.import(batch).await?;

    // The rest of the history, oldest first (as it would have been written), in chunks.
    let rest = history - (args.customer_orders - 2);
    let mut next = 0;
    while next < rest {
        let end = (next + args.chunk as u64).min(rest);
        let chunk: Vec<Order> = (next..end)
            .map(|n| {
                let user = UserId::parse(format!("user-{:06}", mix(n) % args.users))?;
                let age = year - (n as i64 * year / rest as i64) + 3600;
                Ok(seeder.historical(n, user, age))
            })
            .collect::<anyhow::Result<_>>()?;
        written += store.import(chunk).await?;
        next = end;
    }
    drop(store);

    // Leave one self-contained file: the service then starts on it as on any store, and the
    // benchmark copies only that file. The store's threads close their connections after the
    // drop, so the checkpoint may find them still busy at first: it is tried until the whole
    // WAL is copied back and truncated.
    let conn = rusqlite::Connection::open(&args.db)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut tries = 0;
    loop {
        let (busy, frames): (i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        if busy == 0 && frames == 0 {
            break;
        }
        tries += 1;
        anyhow::ensure!(
            tries < 200,
            "the WAL of {} could not be copied back",
            args.db.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    eprintln!(
        "seeded {} with {written} orders ({} queued) in {:.1} s",
        args.db.display(),
        args.open,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
