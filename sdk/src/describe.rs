//! What a provider says about itself: its action type and its properties.

use crate::Config;
use crate::bindings::types as wit;

/// The kind of action a provider performs (CodePipeline's action category).
pub use crate::bindings::types::Category;

/// One configuration property a provider understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The name, as written under `configuration:` in a pipeline.
    pub name: String,
    /// Whether a pipeline must set it.
    pub required: bool,
    /// Whether its value is secret (never shown in logs, state or answers).
    pub secret: bool,
    /// What it means, for people.
    pub description: String,
}

impl Property {
    /// A property a pipeline must set.
    pub fn required(name: impl Into<String>, description: impl Into<String>) -> Self {
        Property {
            name: name.into(),
            required: true,
            secret: false,
            description: description.into(),
        }
    }

    /// A property a pipeline may leave out.
    pub fn optional(name: impl Into<String>, description: impl Into<String>) -> Self {
        Property {
            required: false,
            ..Property::required(name, description)
        }
    }

    /// Marks the property's value as secret.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

/// What a provider is and what it accepts, returned by [`crate::Provider::describe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// What kind of action the provider performs.
    pub category: Category,
    /// Who publishes it (`sluice` for built-ins).
    pub owner: String,
    /// Its name within the owner.
    pub provider: String,
    /// Its semantic version.
    pub version: String,
    /// One sentence on what it does.
    pub description: String,
    /// The configuration properties it understands.
    pub properties: Vec<Property>,
    /// Fewest and most input artifacts an action takes.
    pub inputs: (u8, u8),
    /// Fewest and most output artifacts an action produces.
    pub outputs: (u8, u8),
}

impl Descriptor {
    /// A descriptor with no properties, no inputs and no outputs.
    pub fn new(
        category: Category,
        owner: impl Into<String>,
        provider: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        Descriptor {
            category,
            owner: owner.into(),
            provider: provider.into(),
            version: version.into(),
            description: String::new(),
            properties: Vec::new(),
            inputs: (0, 0),
            outputs: (0, 0),
        }
    }

    /// Sets the one-sentence description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds a configuration property.
    pub fn property(mut self, property: Property) -> Self {
        self.properties.push(property);
        self
    }

    /// Sets how many input artifacts an action takes (at most 255).
    pub fn inputs(mut self, min: u8, max: u8) -> Self {
        self.inputs = (min, max);
        self
    }

    /// Sets how many output artifacts an action produces (at most 255).
    pub fn outputs(mut self, min: u8, max: u8) -> Self {
        self.outputs = (min, max);
        self
    }

    /// The default validation: every required property is set and not
    /// empty, and every property set is one this descriptor lists. Returns
    /// every problem, one message each.
    pub fn check(&self, config: &Config) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for property in self.properties.iter().filter(|p| p.required) {
            match config.get(&property.name) {
                None => problems.push(format!(
                    "missing required configuration property `{}`",
                    property.name
                )),
                Some(v) if v.trim().is_empty() => problems.push(format!(
                    "configuration property `{}` is empty",
                    property.name
                )),
                Some(_) => {}
            }
        }
        for (name, _) in config.iter() {
            if !self.properties.iter().any(|p| p.name == name) {
                let known: Vec<&str> = self.properties.iter().map(|p| p.name.as_str()).collect();
                problems.push(if known.is_empty() {
                    format!("unknown configuration property `{name}`: this provider takes none")
                } else {
                    format!(
                        "unknown configuration property `{name}` (known: {})",
                        known.join(", ")
                    )
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    pub(crate) fn into_wit(self) -> wit::Descriptor {
        wit::Descriptor {
            action_type: wit::ActionType {
                category: self.category,
                owner: self.owner,
                provider: self.provider,
                version: self.version,
            },
            description: self.description,
            properties: self
                .properties
                .into_iter()
                .map(|p| wit::Property {
                    name: p.name,
                    required: p.required,
                    secret: p.secret,
                    description: p.description,
                })
                .collect(),
            min_inputs: self.inputs.0,
            max_inputs: self.inputs.1,
            min_outputs: self.outputs.0,
            max_outputs: self.outputs.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_check_reports_every_problem() {
        let d = Descriptor::new(Category::Build, "sluice", "x", "1.0.0")
            .property(Property::required("A", ""))
            .property(Property::required("B", ""))
            .property(Property::optional("C", ""));
        let config: Config = [("B", ""), ("Z", "1")].into_iter().collect();
        assert_eq!(
            d.check(&config).unwrap_err(),
            [
                "missing required configuration property `A`",
                "configuration property `B` is empty",
                "unknown configuration property `Z` (known: A, B, C)",
            ]
        );
        let ok: Config = [("A", "1"), ("B", "2")].into_iter().collect();
        assert!(d.check(&ok).is_ok());
    }
}
