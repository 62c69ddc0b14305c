//! How flag values are parsed: errors that name the environment variable, and durations.

use std::ffi::OsStr;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;
use clap::builder::{EnumValueParser, PossibleValue, TypedValueParser};
use clap::error::ErrorKind;

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

/// Clap's parser of a `ValueEnum` (its possible values still listed by `--help`), with an
/// error that names the environment variable and its values, as `named_as` errors do.
pub(crate) fn named_enum<E: ValueEnum + Clone + Send + Sync + 'static>(
    var: &'static str,
) -> NamedEnum<E> {
    NamedEnum {
        var,
        inner: EnumValueParser::new(),
    }
}

#[derive(Clone)]
pub(crate) struct NamedEnum<E: ValueEnum + Clone + Send + Sync + 'static> {
    var: &'static str,
    inner: EnumValueParser<E>,
}

impl<E: ValueEnum + Clone + Send + Sync + 'static> TypedValueParser for NamedEnum<E> {
    type Value = E;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<E, clap::Error> {
        self.inner.parse_ref(cmd, arg, value).map_err(|_| {
            let expected: Vec<String> = E::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value)
                .map(|v| format!("`{}`", v.get_name()))
                .collect();
            let flag = arg.map_or_else(String::new, |a| format!(" for '{a}'"));
            let message = format!(
                "invalid value '{}'{flag}: {}: expected one of {}, got `{}`\n",
                value.to_string_lossy(),
                self.var,
                expected.join(", "),
                value.to_string_lossy()
            );
            clap::Error::raw(ErrorKind::InvalidValue, message).with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        self.inner.possible_values()
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
