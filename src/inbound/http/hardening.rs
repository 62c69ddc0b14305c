//! What every route gets, whoever wrote it: CORS for the browser apps, which run on other
//! origins (`OM_CORS_ORIGINS`), and security headers.
//!
//! The headers are set only when a route did not set its own (`/docs` has its own content
//! security policy). Body limits and the request time-out are in [`super::router`].

use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The origins browsers may call the API from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CorsOrigins {
    /// No cross-origin calls (the default): no CORS headers, preflights are not answered.
    #[default]
    None,
    /// Any origin (`*`). Fine for a bearer-token API: no cookies are involved.
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<HeaderValue>),
}

impl FromStr for CorsOrigins {
    type Err = String;

    /// A comma-separated list of exact origins, or `*`; empty means none.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let entries: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Ok(CorsOrigins::None);
        }
        if entries.contains(&"*") {
            return if entries.len() == 1 {
                Ok(CorsOrigins::Any)
            } else {
                Err("`*` allows every origin: give it alone, not in a list".into())
            };
        }
        entries
            .into_iter()
            .map(origin)
            .collect::<Result<_, _>>()
            .map(CorsOrigins::List)
    }
}

/// One origin as browsers send it: `http(s)://host[:port]`, lower case, no path.
fn origin(entry: &str) -> Result<HeaderValue, String> {
    let bad = || {
        format!(
            "`{entry}` is not an origin: expected `https://host` or `https://host:port`, without a path or trailing slash"
        )
    };
    let lower = entry.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let valid = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return Err(bad());
    }
    HeaderValue::from_str(&lower).map_err(|_| bad())
}

/// The CORS answer for the configured origins, `None` when no origin is allowed.
fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static("x-amz-date"),
                HeaderName::from_static("x-amz-security-token"),
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                header::LOCATION,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}

/// The whole HTTP surface with CORS and the security headers around it.
pub fn harden(router: Router, origins: &CorsOrigins) -> Router {
    let router = match cors(origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        // API answers are per user: no cache may keep them.
        (header::CACHE_CONTROL, "no-store"),
    ]
    .into_iter()
    .fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse() {
        assert_eq!("".parse::<CorsOrigins>().unwrap(), CorsOrigins::None);
        assert_eq!(" * ".parse::<CorsOrigins>().unwrap(), CorsOrigins::Any);
        assert_eq!(
            "https://Order.example.com, http://localhost:3000"
                .parse::<CorsOrigins>()
                .unwrap(),
            CorsOrigins::List(vec![
                HeaderValue::from_static("https://order.example.com"),
                HeaderValue::from_static("http://localhost:3000"),
            ])
        );
        for bad in [
            "https://a.example.com/",
            "https://a.example.com/path",
            "a.example.com",
            "ftp://a.example.com",
            "https://",
            "*, https://a.example.com",
            "https://a.example.com?x=1",
        ] {
            assert!(bad.parse::<CorsOrigins>().is_err(), "{bad}");
        }
    }
}
