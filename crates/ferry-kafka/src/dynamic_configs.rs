//! Settings clients set through the config APIs on resources other than topics (a broker, the
//! cluster default, a group), kept as Kafka keeps them: per resource, name to value.
//!
//! They live in memory: a restart returns every such resource to the settings of `ferry.toml`
//! and Kafka's defaults. None of them changes what ferry does (see `api/broker_configs.rs` and
//! `api/group_configs.rs` for what is accepted and why).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Name to value, in name order (the order DescribeConfigs lists them in).
pub(crate) type Settings = BTreeMap<String, String>;

/// Settings per (resource type, resource name).
#[derive(Default)]
pub(crate) struct DynamicConfigs {
    resources: Mutex<HashMap<(i8, String), Settings>>,
}

impl DynamicConfigs {
    /// The settings of one resource (empty when none were set).
    pub(crate) fn get(&self, resource_type: i8, name: &str) -> Settings {
        let resources = self.resources.lock().unwrap_or_else(|e| e.into_inner());
        resources.get(&(resource_type, name.to_owned())).cloned().unwrap_or_default()
    }

    /// Replaces the settings of one resource.
    pub(crate) fn set(&self, resource_type: i8, name: &str, settings: Settings) {
        let mut resources = self.resources.lock().unwrap_or_else(|e| e.into_inner());
        if settings.is_empty() {
            resources.remove(&(resource_type, name.to_owned()));
        } else {
            resources.insert((resource_type, name.to_owned()), settings);
        }
    }
}
