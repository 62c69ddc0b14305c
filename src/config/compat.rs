//! `OM_COMPAT`: the drop-in routes for other clients served besides `/v1`.

use std::str::FromStr;

use clap::{Args, ValueEnum};

use super::values::named;

/// Which drop-in routes for other clients are served besides `/v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum CompatMode {
    /// The original Serverlesspresso Lambda API (`GET /orders`, `PUT /orders/{id}`...), for the
    /// open-source barista, order and display apps.
    #[default]
    Serverlesspresso,
    /// Only `/v1`.
    #[value(alias = "off")]
    None,
}

/// `serverlesspresso` or `none` (or `off`), in any case.
impl FromStr for CompatMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        <Self as ValueEnum>::from_str(s.trim(), true).map_err(|_| {
            format!("expected `serverlesspresso` (the original apps' routes) or `none`, got `{s}`")
        })
    }
}

/// `OM_COMPAT`: for `serve`, and for `openapi`, which documents the routes `serve` serves.
#[derive(Debug, Clone, Args)]
pub struct CompatArgs {
    /// Routes for the open-source Serverlesspresso apps: `serverlesspresso` (the original Lambda
    /// API's `/orders`, `/myOrders`...) or `none`.
    #[arg(long, env = "OM_COMPAT", default_value = "serverlesspresso", value_parser = named::<CompatMode>("OM_COMPAT"))]
    pub compat: CompatMode,
}
