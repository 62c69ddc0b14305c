//! The menu as the Serverlesspresso config service keeps it, translated to this service's.
//!
//! The config service stores a list of drinks, `[{"drink", "icon", "available", "modifiers":
//! [{"Name", "Options": [...]}]}]`: as the `value` of its `menu` item (the workshop), as the
//! `menu` of a `config-<event>` item (multi-event deployments), or inside what its
//! `GET /config` answers (a list of items, each with `topic`). `PUT /v1/menu` takes any of
//! these, as well as this service's own `{"drinks": [...]}`.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::menu::{Menu, MenuDrink, ModifierGroup};

/// One drink as the config service has it.
#[derive(Debug, Deserialize)]
struct ConfigDrink {
    drink: String,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default = "yes")]
    available: bool,
    #[serde(default)]
    modifiers: Vec<ConfigModifier>,
}

fn yes() -> bool {
    true
}

/// A modifier group: `Name` and `Options`, as the config service capitalises them.
#[derive(Debug, Deserialize)]
struct ConfigModifier {
    #[serde(rename = "Name", alias = "name")]
    name: String,
    #[serde(rename = "Options", alias = "options", default)]
    options: Vec<String>,
}

/// The list of drinks inside a config-service document, if `body` is one.
fn drinks_of(body: &Value) -> Option<&Value> {
    match body {
        Value::Array(items) if items.iter().any(|i| i.get("topic").is_some()) => items
            .iter()
            .find(|i| i["topic"] == "menu" || i["PK"] == "menu")
            .and_then(drinks_of),
        Value::Array(_) => Some(body),
        Value::Object(m) => m.get("value").or_else(|| m.get("menu")),
        _ => None,
    }
}

/// Reads a menu in either format; the error says what was expected.
pub fn menu_from_body(body: Value) -> Result<Menu, String> {
    if body.get("drinks").is_some() {
        return serde_json::from_value(body)
            .map_err(|e| format!("expected {{\"drinks\": [...]}}: {e}"));
    }
    let drinks = drinks_of(&body).ok_or_else(|| {
        "expected {\"drinks\": [...]}, or the config service's menu: a list of {\"drink\", \"icon\", \"available\", \"modifiers\"}".to_string()
    })?;
    let drinks: Vec<ConfigDrink> = serde_json::from_value(drinks.clone())
        .map_err(|e| format!("the config service's menu: {e}"))?;
    Ok(Menu {
        drinks: drinks
            .into_iter()
            .map(|d| MenuDrink {
                name: d.drink,
                available: d.available,
                icon: d.icon.filter(|i| !i.is_empty()),
                modifiers: d
                    .modifiers
                    .into_iter()
                    .map(|m| ModifierGroup {
                        name: m.name,
                        options: m.options,
                    })
                    .collect(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workshop_drinks() -> Value {
        json!([
            {"drink": "Mocha", "icon": "barista-icons_mocha", "available": true,
             "modifiers": [{"Name": "Milk", "Options": ["Whole", "Soy"]},
                           {"Name": "Size", "Options": ["Small", "Large"]}]},
            {"drink": "Ristretto", "icon": "barista-icons_espresso", "available": false,
             "modifiers": []}
        ])
    }

    #[test]
    fn every_shape_of_the_config_service_s_menu_reads_the_same() {
        let expected = menu_from_body(workshop_drinks()).unwrap();
        assert_eq!(expected.drinks.len(), 2);
        assert_eq!(expected.drinks[0].name, "Mocha");
        assert_eq!(expected.drinks[0].modifiers[1].options, ["Small", "Large"]);
        assert!(!expected.drinks[1].available);
        for body in [
            json!({"PK": "menu", "value": workshop_drinks()}),
            json!({"PK": "config-NYC", "storeOpen": true, "menu": workshop_drinks()}),
            json!([
                {"topic": "config", "PK": "config", "storeOpen": true},
                {"topic": "menu", "PK": "menu", "value": workshop_drinks()}
            ]),
        ] {
            assert_eq!(menu_from_body(body).unwrap(), expected);
        }
        // This service's own format still reads as it did.
        let own = json!({"drinks": [{"name": "Latte"}]});
        assert_eq!(menu_from_body(own).unwrap().drinks[0].name, "Latte");
    }

    #[test]
    fn anything_else_is_refused_with_what_was_expected() {
        for body in [json!(42), json!({"items": []}), json!([{"name": "Latte"}])] {
            let e = menu_from_body(body).unwrap_err();
            assert!(
                e.contains("expected") || e.contains("config service"),
                "{e}"
            );
        }
        assert!(menu_from_body(json!({"drinks": [{"name": "Latte", "x": 1}]})).is_err());
    }
}
