//! Opening stores from MessageStore resources, once: the registry keeps every store it
//! opened, and a reload whose store spec did not change gets the very same instance back.
//! That is what keeps a reload from losing a memory store's messages or opening a SQLite
//! file twice (two instances would each hand out the same rows).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferry_api::bundle::{Bundle, Loaded};
use ferry_api::diagnostic::Diagnostic;
use ferry_api::resources::Resource;
use ferry_api::resources::message_store::{
    MessageStoreSpec, PostgresStore as PostgresSpec, SqliteStore as SqliteSettings, StoreType,
};

use super::MessageStore;
use super::failover::FailoverStore;
use super::memory::MemoryStore;
use super::postgres::PostgresStore;
use super::rabbitmq::RabbitMqStore;
use super::sqlite::{self, SqliteStore};

/// Opens and keeps the runtime's message stores. Cheap to clone (shared).
#[derive(Clone)]
pub struct StoreRegistry {
    inner: Arc<Mutex<Registry>>,
}

struct Registry {
    /// Where default SQLite files go; `None` checks specs without opening anything
    /// (`ferry validate` must not create files).
    data_dir: Option<PathBuf>,
    /// Open leaf stores by name, with the spec they were opened from.
    open: HashMap<String, (MessageStoreSpec, Arc<dyn MessageStore>)>,
}

impl StoreRegistry {
    /// A registry that opens stores, SQLite files defaulting under `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self::with_dir(Some(data_dir))
    }

    /// A registry that only checks store specs: every store is an in-memory stand-in.
    pub fn check_only() -> Self {
        Self::with_dir(None)
    }

    fn with_dir(data_dir: Option<PathBuf>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Registry {
                data_dir,
                open: HashMap::new(),
            })),
        }
    }

    /// The directory embedded databases live under; `None` when only checking (`ferry
    /// validate` creates no files).
    pub fn data_dir(&self) -> Option<PathBuf> {
        let reg = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        reg.data_dir.clone()
    }

    /// Closes every open store's connections (at shutdown, after the processors stopped).
    pub async fn close_all(&self) {
        let open: Vec<Arc<dyn MessageStore>> = {
            let reg = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            reg.open
                .values()
                .map(|(_, store)| Arc::clone(store))
                .collect()
        };
        for store in open {
            store.close().await;
        }
    }

    /// The stores of `bundle` by name, opened or reused; errors are located diagnostics.
    pub fn open_all(
        &self,
        bundle: &Bundle,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> HashMap<String, Arc<dyn MessageStore>> {
        let mut reg = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let specs: Vec<(&Loaded, &MessageStoreSpec)> = bundle
            .resources
            .iter()
            .filter_map(|l| match &l.resource {
                Resource::MessageStore(s) => Some((l, &s.spec)),
                _ => None,
            })
            .collect();
        let mut leaves: HashMap<String, Arc<dyn MessageStore>> = HashMap::new();
        let mut files: HashMap<PathBuf, String> = HashMap::new();
        for (loaded, spec) in &specs {
            let name = loaded.resource.name();
            let mut leaf_spec = (*spec).clone();
            leaf_spec.failover_store = None;
            if let Some(path) = sqlite_path(&reg, name, &leaf_spec)
                && let Some(other) = files.insert(path.clone(), name.to_string())
            {
                diagnostics.push(loaded.error(
                    "spec.sqlite.path",
                    format!(
                        "{} is also the file of MessageStore \"{other}\"; two stores cannot share a file",
                        path.display()
                    ),
                ));
                continue;
            }
            if let Some((old, store)) = reg.open.get(name)
                && *old == leaf_spec
            {
                leaves.insert(name.to_string(), store.clone());
                continue;
            }
            match open_leaf(&reg, loaded, &leaf_spec) {
                Ok(store) => {
                    if reg.data_dir.is_some() {
                        reg.open
                            .insert(name.to_string(), (leaf_spec, store.clone()));
                    }
                    leaves.insert(name.to_string(), store);
                }
                Err(d) => diagnostics.push(d),
            }
        }
        // A store may be named by its Synapse name too (a failoverStore, a store mediator).
        for (loaded, _) in &specs {
            if let (Some(alias), Some(leaf)) = (
                loaded.resource.synapse_name(),
                leaves.get(loaded.resource.name()).cloned(),
            ) {
                leaves.entry(alias.to_string()).or_insert(leaf);
            }
        }
        let mut stores = HashMap::new();
        for (loaded, spec) in &specs {
            let name = loaded.resource.name();
            let Some(primary) = leaves.get(name) else {
                continue;
            };
            let store = match &spec.failover_store {
                None => primary.clone(),
                // The checker refused a store that fails over to itself or to nothing.
                Some(f) => match leaves.get(f) {
                    Some(failover) => {
                        Arc::new(FailoverStore::new(primary.clone(), failover.clone()))
                            as Arc<dyn MessageStore>
                    }
                    None => continue,
                },
            };
            if let Some(alias) = loaded.resource.synapse_name() {
                stores.insert(alias.to_string(), store.clone());
            }
            stores.insert(name.to_string(), store);
        }
        stores
    }
}

/// The `sqlite` block, or its defaults when absent (the type defaults to sqlite, so a
/// store with no block at all is common).
fn sqlite_settings(spec: &MessageStoreSpec) -> SqliteSettings {
    spec.sqlite.clone().unwrap_or_else(|| {
        serde_json::from_value(serde_json::json!({}))
            .unwrap_or_else(|_| unreachable!("every sqlite setting has a default"))
    })
}

fn sqlite_path(reg: &Registry, name: &str, spec: &MessageStoreSpec) -> Option<PathBuf> {
    if spec.type_ != StoreType::Sqlite {
        return None;
    }
    let settings = sqlite_settings(spec);
    match settings.path {
        Some(p) => Some(PathBuf::from(p)),
        None => reg.data_dir.as_ref().map(|d| sqlite::default_path(d, name)),
    }
}

fn open_leaf(
    reg: &Registry,
    loaded: &Loaded,
    spec: &MessageStoreSpec,
) -> Result<Arc<dyn MessageStore>, Diagnostic> {
    let name = loaded.resource.name();
    match spec.type_ {
        StoreType::Memory => Ok(Arc::new(MemoryStore::new(
            name,
            spec.memory.as_ref().and_then(|m| m.capacity),
        ))),
        StoreType::Sqlite => {
            let settings = sqlite_settings(spec);
            let Some(path) = sqlite_path(reg, name, spec) else {
                // Checking only: the spec is fine, nothing is opened.
                return Ok(Arc::new(MemoryStore::new(name, settings.capacity)));
            };
            SqliteStore::open(
                name,
                &path,
                &settings.table,
                settings.capacity,
                settings.sync,
            )
            .map(|s| Arc::new(s) as Arc<dyn MessageStore>)
            .map_err(|e| loaded.error("spec.sqlite", e.message))
        }
        StoreType::Rabbitmq => {
            let Some(settings) = &spec.rabbitmq else {
                // The checker refuses a rabbitmq store without its block.
                return Err(loaded.error("spec.rabbitmq", "internal error: no settings"));
            };
            // Nothing connects here (the store connects on first use), so checking and
            // running build it alike.
            RabbitMqStore::new(name, settings)
                .map(|s| Arc::new(s) as Arc<dyn MessageStore>)
                .map_err(|e| loaded.error("spec.rabbitmq", e))
        }
        StoreType::Postgres => {
            let settings = spec.postgres.clone().unwrap_or_else(|| PostgresSpec {
                url: None,
                url_from: None,
                password_from: None,
                table: "ferry_messages".into(),
                pool_size: 4,
                tls: None,
            });
            let mut settings = settings;
            if let Some(tls) = &mut settings.tls
                && let Some(file) = &mut tls.ca_file
            {
                *file = ferry_api::check::security::beside_origin(&loaded.origin.file, file);
            }
            if reg.data_dir.is_none() {
                // Checking only: the settings are fine, nothing is opened.
                return PostgresStore::check(&settings)
                    .map(|_| Arc::new(MemoryStore::new(name, None)) as Arc<dyn MessageStore>)
                    .map_err(|e| loaded.error("spec.postgres", e));
            }
            // The pool connects lazily: a database that is down does not stop Ferry.
            PostgresStore::new(name, &settings)
                .map(|s| Arc::new(s) as Arc<dyn MessageStore>)
                .map_err(|e| loaded.error("spec.postgres", e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(yaml: &str) -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.yaml"), yaml).unwrap();
        let (bundle, d) = ferry_api::bundle::load_paths(&[dir.path().to_path_buf()]);
        assert!(d.is_empty(), "{d:?}");
        bundle
    }

    const STORES: &str = "apiVersion: ferry.dev/v1alpha1\nkind: MessageStore\nmetadata:\n  name: a\nspec: {}\n---\napiVersion: ferry.dev/v1alpha1\nkind: MessageStore\nmetadata:\n  name: m\nspec:\n  type: memory\n";

    #[test]
    fn a_reload_with_the_same_spec_gets_the_same_store_instances() {
        let data = tempfile::tempdir().unwrap();
        let reg = StoreRegistry::new(data.path().to_path_buf());
        let b = bundle(STORES);
        let mut d = Vec::new();
        let first = reg.open_all(&b, &mut d);
        let second = reg.open_all(&b, &mut d);
        assert!(d.is_empty(), "{d:?}");
        assert!(data.path().join("stores/a.db").exists());
        for name in ["a", "m"] {
            assert!(Arc::ptr_eq(&first[name], &second[name]), "{name}");
        }
    }

    #[test]
    fn broker_store_secrets_are_read_without_connecting() {
        let reg = StoreRegistry::check_only();
        let b = bundle(
            "apiVersion: ferry.dev/v1alpha1\nkind: MessageStore\nmetadata:\n  name: r\nspec:\n  type: rabbitmq\n  rabbitmq: {host: localhost, username: u, passwordFrom: {env: FERRY_TEST_UNSET_AMQP}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: MessageStore\nmetadata:\n  name: p\nspec:\n  type: postgres\n  postgres: {urlFrom: {env: FERRY_TEST_UNSET_PG_URL}}\n",
        );
        let mut d = Vec::new();
        assert!(reg.open_all(&b, &mut d).is_empty());
        let text = format!("{d:?}");
        assert!(
            text.contains("spec.rabbitmq") && text.contains("FERRY_TEST_UNSET_AMQP"),
            "{text}"
        );
        assert!(
            text.contains("spec.postgres") && text.contains("FERRY_TEST_UNSET_PG_URL"),
            "{text}"
        );
    }
}
