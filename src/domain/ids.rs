//! Validated newtypes for the identifiers and secrets the domain handles.
//! The edge parses raw strings into these; the domain never sees an unchecked string.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {problem}")]
pub struct InvalidId {
    pub what: &'static str,
    pub problem: &'static str,
}

fn check_token_chars(what: &'static str, s: &str, max: usize) -> Result<(), InvalidId> {
    if s.is_empty() {
        return Err(InvalidId {
            what,
            problem: "is empty",
        });
    }
    if s.len() > max {
        return Err(InvalidId {
            what,
            problem: "is too long",
        });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(InvalidId {
            what,
            problem: "may hold only ASCII letters, digits, '-' and '_'",
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidId> {
                let s = s.into();
                let check: fn(&'static str, &str) -> Result<(), InvalidId> = $check;
                check($what, &s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// An order id: 1–80 characters of `[A-Za-z0-9_-]`, so that it is also a valid
    /// Step Functions execution name.
    OrderId,
    "order id",
    |what, s| check_token_chars(what, s, 80)
);

string_id!(
    /// A coffee event (shop) id: 1–64 characters of `[A-Za-z0-9_-]`.
    EventId,
    "event id",
    |what, s| check_token_chars(what, s, 64)
);

string_id!(
    /// A user identity: the JWT `sub` (Cognito uses UUIDs). 1–128 printable characters.
    UserId,
    "user id",
    |what, s| {
        if s.is_empty() {
            Err(InvalidId { what, problem: "is empty" })
        } else if s.len() > 128 {
            Err(InvalidId { what, problem: "is too long" })
        } else if s.chars().any(char::is_control) {
            Err(InvalidId { what, problem: "contains control characters" })
        } else {
            Ok(())
        }
    }
);

string_id!(
    /// The id of an EventBridge envelope, the key of delivery de-duplication.
    EnvelopeId,
    "envelope id",
    |what, s| {
        if s.is_empty() {
            Err(InvalidId { what, problem: "is empty" })
        } else if s.len() > 256 {
            Err(InvalidId { what, problem: "is too long" })
        } else {
            Ok(())
        }
    }
);

/// The per-event order number the workflow assigns (a positive integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderNumber(u32);

impl OrderNumber {
    pub fn new(n: u32) -> Result<Self, InvalidId> {
        if n == 0 {
            return Err(InvalidId {
                what: "order number",
                problem: "must be positive",
            });
        }
        Ok(Self(n))
    }

    /// Accepts the number as the workflow sends it: a JSON string ("112") or number.
    pub fn parse_json(v: &serde_json::Value) -> Result<Self, InvalidId> {
        let bad = InvalidId {
            what: "order number",
            problem: "must be a positive integer",
        };
        let n = match v {
            serde_json::Value::String(s) => s.trim().parse::<u32>().map_err(|_| bad.clone())?,
            serde_json::Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(bad.clone())?,
            _ => return Err(bad),
        };
        Self::new(n)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A Step Functions task token: opaque, up to 2048 characters, secret.
///
/// It is never logged (its `Debug` is redacted), never serialized into an API answer
/// and never put in an emitted event. Equality is by digest.
#[derive(Clone)]
pub struct TaskToken(SecretString);

impl TaskToken {
    pub fn parse(s: impl Into<String>) -> Result<Self, InvalidId> {
        let s: String = s.into();
        let what = "task token";
        if s.is_empty() {
            return Err(InvalidId {
                what,
                problem: "is empty",
            });
        }
        if s.len() > 2048 {
            return Err(InvalidId {
                what,
                problem: "is too long",
            });
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidId {
                what,
                problem: "contains control characters",
            });
        }
        Ok(Self(SecretString::from(s)))
    }

    /// The token itself, for the workflow adapter and the store only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// A SHA-256 digest: what the store uses to keep a token single-use.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.expose().as_bytes()).into()
    }
}

impl PartialEq for TaskToken {
    fn eq(&self, other: &Self) -> bool {
        self.digest() == other.digest()
    }
}

impl Eq for TaskToken {}

impl fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_execution_name_safe() {
        assert!(OrderId::parse("3f9c2b1e-7d4a-4f0e-9b8a-1c2d3e4f5a6b").is_ok());
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("a b").is_err());
        assert!(OrderId::parse("../etc").is_err());
        assert!(OrderId::parse("x".repeat(81)).is_err());
    }

    #[test]
    fn order_numbers_come_as_strings_or_numbers() {
        assert_eq!(
            OrderNumber::parse_json(&serde_json::json!("112"))
                .unwrap()
                .get(),
            112
        );
        assert_eq!(
            OrderNumber::parse_json(&serde_json::json!(7))
                .unwrap()
                .get(),
            7
        );
        assert!(OrderNumber::parse_json(&serde_json::json!("0")).is_err());
        assert!(OrderNumber::parse_json(&serde_json::json!("abc")).is_err());
        assert!(OrderNumber::parse_json(&serde_json::json!(-3)).is_err());
    }

    #[test]
    fn task_tokens_never_show_in_debug_output() {
        let t = TaskToken::parse("AQCUAAAAKgAAAAMAAAAAAAAAAcM3d0pQ").unwrap();
        assert!(!format!("{t:?}").contains("AQCU"));
        assert_eq!(
            t,
            TaskToken::parse("AQCUAAAAKgAAAAMAAAAAAAAAAcM3d0pQ").unwrap()
        );
    }
}
