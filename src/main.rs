//! The `order-manager` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;
use order_manager::app::{Application, Backends, migrate_store, shutdown_signal};
use order_manager::config::{
    Cli, Command, HealthcheckArgs, LogFormat, MigrateArgs, OpenapiArgs, ServeArgs, TokenArgs,
};
use order_manager::inbound::http::auth::issue_local_token;
use order_manager::inbound::http::{openapi, openapi_document};

/// Logs to standard output through a writer thread: a request formats its line and hands it
/// over, and never waits for the write itself (one `write` per line was a visible share of
/// the ingest benchmark). Lossless: when the writer falls behind by [`LOG_LINES_BUFFERED`]
/// lines, callers wait.
/// The returned guard writes what is left when it is dropped, at the end of `main`.
/// Lines waiting for the log writer thread: its queue is allocated whole (the default, 128k,
/// was 5 MB resident).
const LOG_LINES_BUFFERED: usize = 8192;

fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,aws_config=warn".into());
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_LINES_BUFFERED)
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(terminal);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

fn token(args: TokenArgs) -> Result<(), String> {
    let secret = args.jwt.resolve()?;
    let token = issue_local_token(&secret, &args.sub, &args.groups, args.ttl.0)
        .map_err(|e| format!("cannot sign the token: {e}"))?;
    println!("{token}");
    Ok(())
}

/// `order-manager openapi`: the document, pretty and in a stable order (`openapi/openapi.json`).
fn print_openapi(args: OpenapiArgs) -> Result<(), String> {
    print!(
        "{}",
        openapi::to_pretty_json(&openapi_document(args.compat.compat))
    );
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let _logs = init_tracing(args.log.log_format);
    let settings = args.settings()?;
    let backends = Backends::connect(&settings)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let app = Application::build(settings, backends)
        .await
        .map_err(|e| format!("{e:#}"))?;
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| format!("{e:#}"))
}

async fn migrate(args: MigrateArgs) -> Result<(), String> {
    let _logs = init_tracing(args.log.log_format);
    migrate_store(&args.store.store, args.store.dynamodb_shards)
        .await
        .map_err(|e| format!("{e:#}"))
}

/// mimalloc rather than glibc's allocator: a list answer allocates and frees a few hundred
/// small strings, and glibc's `malloc`/`free` were a sixth of the CPU of the list benchmark.
/// Built without transparent huge pages (`no_thp` in `Cargo.toml`), which kept whole 2 MiB
/// pages resident.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn healthcheck(args: HealthcheckArgs) -> Result<(), String> {
    let url = args.listen.readyz_url();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .no_proxy()
        .build()
        .map_err(|e| format!("healthcheck: {e}"))?;
    let res = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("healthcheck: {url}: {e}"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("healthcheck: {url} answered {}", res.status()))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Token(args)) => token(args),
        Some(Command::Migrate(args)) => migrate(args).await,
        Some(Command::Openapi(args)) => print_openapi(args),
        Some(Command::Healthcheck(args)) => healthcheck(args).await,
        Some(Command::Serve(args)) => serve(*args).await,
        None => serve(cli.serve).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
