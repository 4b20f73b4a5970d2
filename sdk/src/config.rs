//! An action's configuration, with lookups that produce good errors.

use crate::Failure;
use std::str::FromStr;

/// An action's configuration: property names and values, in the order the
/// pipeline lists them, with variable references already resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pairs: Vec<(String, String)>,
}

impl Config {
    /// A configuration made of these pairs.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Config { pairs }
    }

    /// The value of property `name`, if set. Names are case-sensitive, as in
    /// CodePipeline.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of property `name`, or a configuration error naming it.
    pub fn require(&self, name: &str) -> Result<&str, Failure> {
        match self.get(name) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            Some(_) => Err(Failure::configuration(format!(
                "configuration property `{name}` is empty"
            ))),
            None => Err(Failure::configuration(format!(
                "missing required configuration property `{name}`"
            ))),
        }
    }

    /// The value of property `name`, or `default` when it is not set.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// Parses property `name` as a `T` (a number, a duration in your own
    /// type...), or returns `None` when it is not set. A value that does not
    /// parse is a configuration error naming the property and the value.
    pub fn parse<T>(&self, name: &str) -> Result<Option<T>, Failure>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => raw.trim().parse::<T>().map(Some).map_err(|e| {
                Failure::configuration(format!(
                    "configuration property `{name}` has an invalid value `{raw}`: {e}"
                ))
            }),
        }
    }

    /// Reads property `name` as a boolean (`true`/`false`, `yes`/`no`, `1`/`0`),
    /// `default` when it is not set.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, Failure> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "true" | "yes" | "1" | "on" => Ok(true),
                "false" | "no" | "0" | "off" | "" => Ok(false),
                _ => Err(Failure::configuration(format!(
                    "configuration property `{name}` must be true or false, not `{v}`"
                ))),
            },
        }
    }

    /// Reads property `name` as a list: items separated by commas or new
    /// lines, trimmed, empty items dropped. An unset property is an empty list.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split([',', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every property, in the pipeline's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Config {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Config {
            pairs: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_name_the_property_in_errors() {
        let config: Config = [("Count", "x"), ("Empty", " ")].into_iter().collect();
        assert_eq!(
            config.require("Missing").unwrap_err().message,
            "missing required configuration property `Missing`"
        );
        assert_eq!(
            config.require("Empty").unwrap_err().message,
            "configuration property `Empty` is empty"
        );
        let err = config.parse::<u32>("Count").unwrap_err();
        assert!(
            err.message.contains("`Count` has an invalid value `x`"),
            "{}",
            err.message
        );
        assert_eq!(config.parse::<u32>("Absent").unwrap(), None);
    }

    #[test]
    fn lists_and_flags() {
        let config: Config = [("L", "a, b\nc,,"), ("F", "Yes")].into_iter().collect();
        assert_eq!(config.list("L"), ["a", "b", "c"]);
        assert!(config.flag("F", false).unwrap());
        assert!(!config.flag("G", false).unwrap());
    }
}
