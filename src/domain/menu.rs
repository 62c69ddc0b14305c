//! The menu a drink submission is validated against (one per coffee event).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use super::order::DrinkOrder;

/// A coffee event's menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub drinks: Vec<MenuDrink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuDrink {
    pub name: String,
    #[serde(default = "yes")]
    pub available: bool,
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub modifiers: Vec<ModifierGroup>,
}

fn yes() -> bool {
    true
}

/// A group of options of which a drink takes at most one (e.g. Milk: Regular, Oat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifierGroup {
    pub name: String,
    pub options: Vec<String>,
}

/// What a customer submits: `{"drink": "Latte", "modifiers": ["Oat"], "icon": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DrinkSubmission {
    pub drink: String,
    #[serde(default)]
    pub modifiers: Vec<String>,
    #[serde(default)]
    pub icon: Option<String>,
}

/// Why a submission or a menu was refused; the text is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MenuError(pub String);

const MAX_NAME: usize = 64;
const MAX_ICON: usize = 256;

fn check_name(what: &str, s: &str) -> Result<(), MenuError> {
    if s.trim().is_empty() || s.len() > MAX_NAME || s.chars().any(char::is_control) {
        return Err(MenuError(format!(
            "{what} `{}` must be 1–{MAX_NAME} printable characters",
            s.chars().take(MAX_NAME).collect::<String>()
        )));
    }
    Ok(())
}

fn check_icon(icon: Option<&str>) -> Result<(), MenuError> {
    match icon {
        Some(i) if i.len() > MAX_ICON || i.chars().any(char::is_control) => Err(MenuError(
            format!("icon must be at most {MAX_ICON} printable characters"),
        )),
        _ => Ok(()),
    }
}

impl Menu {
    /// [`Menu::default_menu`], made once and shared.
    pub fn shared_default() -> Arc<Menu> {
        static DEFAULT: LazyLock<Arc<Menu>> = LazyLock::new(|| Arc::new(Menu::default_menu()));
        Arc::clone(&DEFAULT)
    }

    /// The menu every event has until a barista replaces it.
    pub fn default_menu() -> Menu {
        let group = |name: &str, options: &[&str]| ModifierGroup {
            name: name.into(),
            options: options.iter().map(|s| s.to_string()).collect(),
        };
        let milk = group("Milk", &["Regular", "Oat", "Soy", "Almond", "Skimmed"]);
        let shots = group("Shots", &["Single", "Double"]);
        let syrup = group("Syrup", &["Vanilla", "Caramel", "Hazelnut"]);
        let drink = |name: &str, icon: &str, modifiers: Vec<ModifierGroup>| MenuDrink {
            name: name.into(),
            available: true,
            icon: Some(icon.into()),
            modifiers,
        };
        Menu {
            drinks: vec![
                drink("Espresso", "barista-icons_espresso", vec![shots.clone()]),
                drink(
                    "Americano",
                    "barista-icons_americano",
                    vec![shots.clone(), milk.clone()],
                ),
                drink(
                    "Latte",
                    "barista-icons_cafe-latte",
                    vec![milk.clone(), shots.clone(), syrup.clone()],
                ),
                drink(
                    "Cappuccino",
                    "barista-icons_cappuccino",
                    vec![milk.clone(), shots.clone(), syrup.clone()],
                ),
                drink(
                    "Flat White",
                    "barista-icons_flat-white",
                    vec![milk.clone(), shots],
                ),
                drink(
                    "Hot Chocolate",
                    "barista-icons_hot-chocolate",
                    vec![milk.clone(), syrup],
                ),
                drink("Chai Latte", "barista-icons_chai-latte", vec![milk]),
            ],
        }
    }

    /// Checks a menu a barista wants to install: names present and unique, groups non-empty.
    pub fn validate(&self) -> Result<(), MenuError> {
        if self.drinks.is_empty() || self.drinks.len() > 100 {
            return Err(MenuError("a menu has 1–100 drinks".into()));
        }
        let mut names = HashSet::new();
        for d in &self.drinks {
            check_name("drink", &d.name)?;
            check_icon(d.icon.as_deref())?;
            if !names.insert(d.name.as_str()) {
                return Err(MenuError(format!("drink `{}` appears twice", d.name)));
            }
            let mut groups = HashSet::new();
            let mut options = HashSet::new();
            for g in &d.modifiers {
                check_name("modifier group", &g.name)?;
                if !groups.insert(g.name.as_str()) {
                    return Err(MenuError(format!(
                        "{}: group `{}` appears twice",
                        d.name, g.name
                    )));
                }
                if g.options.is_empty() || g.options.len() > 50 {
                    return Err(MenuError(format!(
                        "{}: group `{}` needs 1–50 options",
                        d.name, g.name
                    )));
                }
                for o in &g.options {
                    check_name("option", o)?;
                    // Options are submitted without their group, so they must be unambiguous.
                    if !options.insert(o.as_str()) {
                        return Err(MenuError(format!("{}: option `{o}` appears twice", d.name)));
                    }
                }
            }
        }
        Ok(())
    }

    /// Validates a submission: the drink exists and is available, every modifier is an option
    /// of one of its groups, at most one per group. Returns the drink to store.
    pub fn check(&self, s: &DrinkSubmission) -> Result<DrinkOrder, MenuError> {
        check_icon(s.icon.as_deref())?;
        let drink = self
            .drinks
            .iter()
            .find(|d| d.name == s.drink)
            .ok_or_else(|| MenuError(format!("`{}` is not on the menu", truncate(&s.drink))))?;
        if !drink.available {
            return Err(MenuError(format!("`{}` is not available", drink.name)));
        }
        let mut used = HashSet::new();
        for m in &s.modifiers {
            let group = drink
                .modifiers
                .iter()
                .find(|g| g.options.iter().any(|o| o == m))
                .ok_or_else(|| {
                    MenuError(format!(
                        "`{}` is not an option for {}",
                        truncate(m),
                        drink.name
                    ))
                })?;
            if !used.insert(group.name.as_str()) {
                return Err(MenuError(format!(
                    "{} takes at most one {} option",
                    drink.name, group.name
                )));
            }
        }
        Ok(DrinkOrder {
            name: drink.name.clone(),
            modifiers: s.modifiers.clone(),
            icon: s.icon.clone().or_else(|| drink.icon.clone()),
        })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_NAME).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(drink: &str, modifiers: &[&str]) -> DrinkSubmission {
        DrinkSubmission {
            drink: drink.into(),
            modifiers: modifiers.iter().map(|s| s.to_string()).collect(),
            icon: None,
        }
    }

    #[test]
    fn the_default_menu_is_valid() {
        Menu::default_menu().validate().unwrap();
    }

    #[test]
    fn a_valid_submission_takes_the_menu_icon() {
        let d = Menu::default_menu()
            .check(&sub("Latte", &["Oat", "Double"]))
            .unwrap();
        assert_eq!(d.name, "Latte");
        assert_eq!(d.icon.as_deref(), Some("barista-icons_cafe-latte"));
    }

    #[test]
    fn unknown_drinks_unknown_options_and_two_of_a_group_are_refused() {
        let m = Menu::default_menu();
        assert!(m.check(&sub("Mocha Frappe", &[])).is_err());
        assert!(m.check(&sub("Espresso", &["Oat"])).is_err());
        assert!(m.check(&sub("Latte", &["Oat", "Soy"])).is_err());
    }

    #[test]
    fn unavailable_drinks_are_refused() {
        let mut m = Menu::default_menu();
        m.drinks[0].available = false;
        assert!(m.check(&sub("Espresso", &[])).is_err());
    }

    #[test]
    fn menus_with_duplicates_are_refused() {
        let mut m = Menu::default_menu();
        m.drinks.push(m.drinks[0].clone());
        assert!(m.validate().is_err());
    }
}
