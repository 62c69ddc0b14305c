//! How flag values are parsed: errors that name the environment variable, and durations.

use std::ffi::OsStr;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::TypedValueParser;

/// A value parser by `FromStr` whose error names the environment variable as well as the flag.
pub(crate) fn named<T>(
    var: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr,
    T::Err: Display,
{
    move |s: &str| T::from_str(s).map_err(|e| format!("{var}: {e}"))
}

/// Clap's `parser`, with an error that names the environment variable and says what it
/// expects, as `named` errors do: "OM_X: expected <expected>, got `<value>`".
pub(crate) fn named_as<P: TypedValueParser>(
    var: &'static str,
    expected: String,
    parser: P,
) -> impl Fn(&str) -> Result<P::Value, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        parser
            .parse_ref(&clap::Command::new(var), None, OsStr::new(s))
            .map_err(|_| format!("{var}: expected {expected}, got `{s}`"))
    }
}

/// A duration like `500ms`, `30s`, `15m`, `12h`.
#[derive(Debug, Clone, Copy)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: u64 = n
            .parse()
            .map_err(|_| format!("expected e.g. 30m or 12h, got `{s}`"))?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" | "" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "d" => Duration::from_secs(n * 86_400),
            _ => return Err(format!("unknown unit in `{s}` (ms, s, m, h, d)")),
        };
        if d.is_zero() {
            return Err(format!("`{s}` is no time at all"));
        }
        Ok(Span(d))
    }
}
