//! Synapse names to Kubernetes names for `ferry import`: `HealthcareAPI` becomes
//! `healthcare-api`, `05_EP_XML` becomes `05-ep-xml`. Names are assigned for every artifact
//! before any is converted, so a reference to an artifact anywhere in the import is
//! rewritten to the name its resource gets; the original stays on the resource as its
//! Synapse name (`ferry.dev/synapse-name`).

use std::collections::{BTreeMap, BTreeSet};

/// The groups of artifacts whose names are separate (a sequence and an endpoint may share a
/// name in Synapse, as two kinds may in Ferry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IntegrationAPI.
    Api,
    /// ProxyService.
    Proxy,
    /// Sequence.
    Sequence,
    /// Template (sequence templates).
    Template,
    /// Endpoint.
    Endpoint,
    /// MessageStore.
    Store,
    /// MessageProcessor.
    Processor,
    /// ScheduledTask.
    Task,
    /// LocalEntry.
    LocalEntry,
    /// InboundEndpoint.
    Inbound,
    /// DataService (MI `.dbs`).
    DataService,
    /// DataSource (a `<config>` of a `.dbs`).
    DataSource,
}

/// Every imported artifact's Kubernetes name, by family and Synapse name.
#[derive(Debug, Default)]
pub struct Names {
    assigned: BTreeMap<(Family, String), String>,
    taken: BTreeSet<(Family, String)>,
}

impl Names {
    /// Assigns a Kubernetes name to `synapse` (once; later calls return the first).
    pub fn assign(&mut self, family: Family, synapse: &str) -> String {
        if let Some(name) = self.assigned.get(&(family, synapse.to_string())) {
            return name.clone();
        }
        let base = kubernetes_name(synapse);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&(family, name.clone())) {
            let suffix = format!("-{n}");
            let room = 253usize.saturating_sub(suffix.len());
            name = format!("{}{suffix}", truncate(&base, room));
            n += 1;
        }
        self.taken.insert((family, name.clone()));
        self.assigned
            .insert((family, synapse.to_string()), name.clone());
        name
    }

    /// The Kubernetes name of an imported artifact, if it is part of this import.
    pub fn get(&self, family: Family, synapse: &str) -> Option<&str> {
        self.assigned
            .get(&(family, synapse.to_string()))
            .map(String::as_str)
    }

    /// A reference to `synapse`: the imported artifact's name, else the name as written
    /// (Ferry resolves references by Synapse name too, so a reference to an artifact defined
    /// elsewhere still resolves when that artifact is imported later).
    pub fn reference(&self, family: Family, synapse: &str) -> String {
        self.get(family, synapse)
            .map_or_else(|| synapse.to_string(), str::to_string)
    }
}

/// A valid Kubernetes object name (an RFC 1123 subdomain) for a Synapse name: words of a
/// camel-case name are split with `-`, other characters become `-`, all lower case.
pub fn kubernetes_name(synapse: &str) -> String {
    let chars: Vec<char> = synapse.chars().collect();
    let mut out = String::with_capacity(synapse.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && i > 0 {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
                // fooBar -> foo-bar; HTTPServer -> http-server; 2Go stays 2go.
                if prev.is_ascii_lowercase() || (prev.is_ascii_uppercase() && next_lower) {
                    out.push('-');
                }
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '.' {
            out.push('.');
        } else {
            out.push('-');
        }
    }
    // Collapse runs of separators and trim them from the ends.
    let mut clean = String::with_capacity(out.len());
    for c in out.chars() {
        let sep = c == '-' || c == '.';
        if sep && clean.ends_with(['-', '.']) {
            continue;
        }
        clean.push(c);
    }
    let clean = clean.trim_matches(['-', '.']).to_string();
    let clean = truncate(&clean, 253)
        .trim_end_matches(['-', '.'])
        .to_string();
    if clean.is_empty() {
        "artifact".to_string()
    } else {
        clean
    }
}

fn truncate(s: &str, max: usize) -> &str {
    // ASCII only by construction.
    s.get(..s.len().min(max)).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synapse_names_become_kubernetes_names() {
        assert_eq!(kubernetes_name("HealthcareAPI"), "healthcare-api");
        assert_eq!(kubernetes_name("05_EP_XML"), "05-ep-xml");
        assert_eq!(kubernetes_name("StockQuoteProxy"), "stock-quote-proxy");
        assert_eq!(kubernetes_name("HTTPServerEP"), "http-server-ep");
        assert_eq!(kubernetes_name("orders"), "orders");
        assert_eq!(kubernetes_name("__"), "artifact");
        assert_eq!(kubernetes_name("a..b--c"), "a.b-c");
    }

    #[test]
    fn clashing_names_get_a_suffix_and_references_follow() {
        let mut names = Names::default();
        assert_eq!(names.assign(Family::Sequence, "Main_Seq"), "main-seq");
        assert_eq!(names.assign(Family::Sequence, "main-seq"), "main-seq-2");
        assert_eq!(names.assign(Family::Endpoint, "main-seq"), "main-seq");
        assert_eq!(names.reference(Family::Sequence, "Main_Seq"), "main-seq");
        assert_eq!(names.reference(Family::Sequence, "Elsewhere"), "Elsewhere");
    }
}
