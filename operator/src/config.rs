//! The operator's own configuration: the runtime settings of groups that have no
//! IntegrationRuntime, and the image and resources of those that leave them out. Helm
//! renders it from `runtimeDefaults` into the file `--config` names.

use std::path::Path;

use ferry_api::resources::IntegrationRuntimeSpec;
use serde::Deserialize;

/// The image a group runs when neither its IntegrationRuntime nor the configuration names
/// one: the runtime image of the same release as this operator.
pub const DEFAULT_RUNTIME_IMAGE: &str =
    concat!("ghcr.io/ferry-dev/ferry:", env!("CARGO_PKG_VERSION"));

/// The configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperatorConfig {
    /// Any IntegrationRuntime spec field.
    #[serde(default = "default_spec")]
    pub defaults: IntegrationRuntimeSpec,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            defaults: default_spec(),
        }
    }
}

fn default_spec() -> IntegrationRuntimeSpec {
    // An empty mapping takes every serde default of the spec (1 replica, ports 8290/9201,
    // log level info, ...): the same values an IntegrationRuntime without fields gets.
    let mut spec: IntegrationRuntimeSpec = serde_json::from_value(serde_json::json!({}))
        .expect("every IntegrationRuntimeSpec field has a default");
    spec.image = Some(DEFAULT_RUNTIME_IMAGE.to_string());
    spec
}

impl OperatorConfig {
    /// Reads the configuration file (YAML or JSON). A missing file is an error: the caller
    /// decides whether an absent `--config` means defaults.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses the configuration from YAML text, naming the line and field of an error.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let docs = ferry_api::bundle::yaml::parse_documents(text)
            .map_err(|e| anyhow::anyhow!("line {}: invalid YAML: {}", e.line, e.message))?;
        let Some(doc) = docs.into_iter().next() else {
            return Ok(Self::default());
        };
        let mut config: OperatorConfig = serde_path_to_error::deserialize(doc.value.clone())
            .map_err(|e| {
                let field = e.path().to_string();
                let line = doc.spans.line_of(&field).unwrap_or(doc.line);
                anyhow::anyhow!("line {line}: {field}: {}", e.inner())
            })?;
        if config.defaults.image.is_none() {
            config.defaults.image = Some(DEFAULT_RUNTIME_IMAGE.to_string());
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_spec_defaults_and_this_release_s_image() {
        let config = OperatorConfig::parse("").unwrap();
        assert_eq!(config, OperatorConfig::default());
        assert_eq!(config.defaults.replicas, 1);
        assert_eq!(config.defaults.http_port, 8290);
        assert_eq!(
            config.defaults.image.as_deref(),
            Some(DEFAULT_RUNTIME_IMAGE)
        );
    }

    #[test]
    fn defaults_take_any_integration_runtime_field() {
        let config = OperatorConfig::parse(
            "defaults:\n  image: registry.local/ferry:1\n  replicas: 3\n  resources:\n    limits: {memory: 64Mi}\n",
        )
        .unwrap();
        assert_eq!(
            config.defaults.image.as_deref(),
            Some("registry.local/ferry:1")
        );
        assert_eq!(config.defaults.replicas, 3);
        assert!(config.defaults.resources.is_some());
    }

    #[test]
    fn a_wrong_field_is_named_with_its_line() {
        let err = OperatorConfig::parse("defaults:\n  replicas: 2\n  replica: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("replica"), "{err}");
    }
}
