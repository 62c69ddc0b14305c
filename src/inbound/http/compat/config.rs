//! The Serverlesspresso config service's routes the apps call for the shop: the barista app's
//! store switch (`PUT /store?state=open|closed`) and the apps' config read (`GET /config`), on
//! this service's shop settings and menu.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::menu::Menu;
use crate::domain::shop::ShopSettings;
use crate::inbound::http::AppState;
use crate::inbound::http::auth::Barista;
use crate::inbound::http::error::ApiError;
use crate::inbound::http::extract::{Json, Query};
use crate::inbound::http::openapi::{
    BadRequest, COMPAT_TAG, EventWriteErrors, Internal, Unavailable,
};

/// The store's state as the barista app asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreState {
    Open,
    Closed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoreParams {
    /// `open` or `closed`.
    state: StoreState,
    /// The coffee event (default: `OM_DEFAULT_EVENT_ID`).
    #[serde(rename = "eventId")]
    event_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfigParams {
    /// The coffee event (default: `OM_DEFAULT_EVENT_ID`).
    #[serde(rename = "eventId")]
    event_id: Option<String>,
}

/// What `PUT /store` answers, as the config service did: `{"state": "open"}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CompatStoreState)]
pub struct StoreView {
    state: StoreState,
}

/// One item of what `GET /config` answers: the config service's `config` item (the shop) or
/// its `menu` item.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = CompatConfigItem)]
pub enum ConfigItem {
    Shop {
        topic: &'static str,
        #[serde(rename = "PK")]
        pk: &'static str,
        #[serde(rename = "storeOpen")]
        store_open: bool,
        #[serde(rename = "maxOrdersInQueue")]
        max_orders_in_queue: u32,
        #[serde(rename = "maxOrdersPerUser")]
        max_orders_per_user: u32,
    },
    Menu {
        topic: &'static str,
        #[serde(rename = "PK")]
        pk: &'static str,
        value: Vec<ConfigDrink>,
    },
}

/// A drink as the config service keeps it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CompatConfigDrink)]
pub struct ConfigDrink {
    drink: String,
    icon: Option<String>,
    available: bool,
    modifiers: Vec<ConfigModifier>,
}

/// A modifier group, capitalised as the config service has it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CompatConfigModifier)]
pub struct ConfigModifier {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Options")]
    options: Vec<String>,
}

fn config_items(shop: ShopSettings, menu: &Menu) -> Vec<ConfigItem> {
    let drinks = menu
        .drinks
        .iter()
        .map(|d| ConfigDrink {
            drink: d.name.clone(),
            icon: d.icon.clone(),
            available: d.available,
            modifiers: d
                .modifiers
                .iter()
                .map(|m| ConfigModifier {
                    name: m.name.clone(),
                    options: m.options.clone(),
                })
                .collect(),
        })
        .collect();
    vec![
        ConfigItem::Shop {
            topic: "config",
            pk: "config",
            store_open: shop.open,
            max_orders_in_queue: shop.max_orders_in_queue,
            max_orders_per_user: shop.max_orders_per_user,
        },
        ConfigItem::Menu {
            topic: "menu",
            pk: "menu",
            value: drinks,
        },
    ]
}

/// `PUT /store?state=open|closed` (barista app): opens or closes the shop; its limits stay.
#[utoipa::path(
    put,
    path = "/store",
    tag = COMPAT_TAG,
    operation_id = "compat_put_store",
    params(StoreParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`{\"state\": \"open\"|\"closed\"}`", body = StoreView),
        EventWriteErrors,
    )
)]
pub async fn put_store(
    State(state): State<AppState>,
    _barista: Barista,
    Query(params): Query<StoreParams>,
) -> Result<Json<StoreView>, ApiError> {
    let event = state.event_or_default(params.event_id)?;
    let mut shop = state.service.shop(&event).await?;
    shop.open = params.state == StoreState::Open;
    state.service.put_shop(&event, shop).await?;
    Ok(Json(StoreView {
        state: params.state,
    }))
}

/// `GET /config` (the apps' `$ConfigEndpoint`): the config service's items, `config` (the
/// shop: `storeOpen`, `maxOrdersInQueue`, `maxOrdersPerUser`) and `menu` (`value`: the
/// drinks), each with its `topic`. Public, as the config service's was.
#[utoipa::path(
    get,
    path = "/config",
    tag = COMPAT_TAG,
    operation_id = "compat_get_config",
    params(ConfigParams),
    responses(
        (status = 200, description = "The `config` and `menu` items", body = Vec<ConfigItem>),
        (status = 400, response = BadRequest),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
pub async fn get_config(
    State(state): State<AppState>,
    Query(params): Query<ConfigParams>,
) -> Result<Json<Vec<ConfigItem>>, ApiError> {
    let event = state.event_or_default(params.event_id)?;
    let shop = state.service.shop(&event).await?;
    let menu = state.service.menu(&event).await?;
    Ok(Json(config_items(shop, &menu)))
}
