//! The HTTP edge: where the service listens, which browsers may call it, how long requests
//! and shutdowns may take, and how it logs.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use clap::{Args, ValueEnum};

use super::values::{Span, named, named_enum};
use crate::inbound::http::hardening::CorsOrigins;

/// `OM_LISTEN`: for `serve`, and for `healthcheck`, which asks the service there.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address to listen on.
    #[arg(long, env = "OM_LISTEN", default_value = "127.0.0.1:8080", value_parser = named::<SocketAddr>("OM_LISTEN"))]
    pub listen: SocketAddr,
}

impl ListenArgs {
    /// The readiness URL of the service on this host.
    pub fn readyz_url(&self) -> String {
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}/readyz")
    }
}

/// What the HTTP edge allows: browser origins, and the time a request or a shutdown may take.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Origins the browser apps may call from: comma-separated exact origins
    /// (`https://app.example.com`), or `*`. Default: none.
    #[arg(long, env = "OM_CORS_ORIGINS", value_parser = named::<CorsOrigins>("OM_CORS_ORIGINS"))]
    pub cors_origins: Option<CorsOrigins>,
    /// The longest a request may take before it answers 503 (EventBridge gives the ingest
    /// endpoint 5 s).
    #[arg(long, env = "OM_REQUEST_TIMEOUT", default_value = "10s", value_parser = named::<Span>("OM_REQUEST_TIMEOUT"))]
    pub request_timeout: Span,
    /// On SIGTERM or SIGINT: how long in-flight requests and owed callbacks and notices may
    /// take before the process exits anyway.
    #[arg(long, env = "OM_SHUTDOWN_GRACE", default_value = "20s", value_parser = named::<Span>("OM_SHUTDOWN_GRACE"))]
    pub shutdown_grace: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `OM_LOG_FORMAT`: for every subcommand that logs.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "OM_LOG_FORMAT", default_value = "text", value_parser = named_enum::<LogFormat>("OM_LOG_FORMAT"))]
    pub log_format: LogFormat,
}
