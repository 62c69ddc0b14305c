//! The board at `/` in a real browser: `tests/browser/board.mjs` drives headless Chromium
//! (Debian's `chromium`, through `playwright-core`, pinned in `tests/browser/package-lock.json`)
//! against the real binary: a customer orders a Latte, a barista makes it live, the customer
//! sees it ready; no CSP violation, no console error, no request to another origin.
//!
//! Without node, `/usr/bin/chromium` or `tests/browser/node_modules` the test says so and is
//! skipped; with `OM_TEST_REQUIRE_BROWSER=1` (what `scripts/test` sets, after installing them)
//! it fails instead. When a step fails, the script keeps a screenshot of each page in
//! `<target>/browser-screenshots/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_order-manager");
const CHROMIUM: &str = "/usr/bin/chromium";
/// The script stops itself after 120 s; this is for a script that cannot.
const DEADLINE: Duration = Duration::from_secs(240);

/// What the test needs and this machine lacks, if anything.
fn missing() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Some("`node` is not on PATH".into());
    }
    if !Path::new(CHROMIUM).exists() {
        return Some(format!(
            "{CHROMIUM} is missing (`apt-get install chromium`)"
        ));
    }
    if !Path::new(ROOT)
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        return Some("tests/browser/node_modules is missing (`npm ci` in tests/browser)".into());
    }
    None
}

/// `<target>/browser-screenshots`: the binary is `<target>/debug/order-manager`.
fn screenshot_dir() -> PathBuf {
    Path::new(BIN)
        .ancestors()
        .nth(2)
        .unwrap_or(Path::new(ROOT))
        .join("browser-screenshots")
}

#[test]
fn a_customer_orders_and_a_barista_makes_it_on_the_board() {
    if let Some(why) = missing() {
        assert!(
            std::env::var("OM_TEST_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "the browser test cannot run: {why}; scripts/test installs what it needs"
        );
        eprintln!(
            "skipped: {why} (scripts/test installs it; OM_TEST_REQUIRE_BROWSER=1 makes this a failure)"
        );
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("board.log");
    let out = File::create(&out_path).unwrap();
    let screenshots = screenshot_dir();
    let mut child = Command::new("node")
        .arg("tests/browser/board.mjs")
        .arg(BIN)
        .env("OM_SCREENSHOT_DIR", &screenshots)
        .current_dir(ROOT)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => eprintln!("{output}"),
        Some(s) => panic!(
            "the board's browser test failed ({s}); screenshots of both pages, if it got that \
             far, are in {}\n{output}",
            screenshots.display()
        ),
        None => panic!(
            "the board's browser test did not end within {} s\n{output}",
            DEADLINE.as_secs()
        ),
    }
}
