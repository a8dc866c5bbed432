//! The recorded side of drift: a state's *current* objects by address, read through the one
//! state reader ([`crate::state::model`]: formats 1-4, addresses written as Terraform writes
//! them). Deposed objects (create-before-destroy leftovers) are never compared as current: an
//! instance with only deposed objects counts as absent. Attributes stay raw JSON until compared.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::Value;

use super::error::DriftError;
use crate::state::model::{self, Address, StateOutput};

pub use crate::state::model::quote;

/// One instance recorded in the state (its current object).
#[derive(Debug, Clone)]
pub struct RecordedInstance {
    pub address: Address,
    /// `module.a.` prefix (empty for the root module).
    pub module: String,
    pub data: bool,
    pub rtype: String,
    /// Attributes as recorded, kept as raw JSON text: only those compared are ever parsed.
    pub raw_attributes: Box<RawValue>,
    /// Top-level attribute names that hold (or contain) sensitive values.
    pub sensitive: BTreeSet<String>,
}

impl RecordedInstance {
    /// The values of the attributes `keys` (in that order; `None` where absent).
    pub fn attributes(&self, keys: &[&str]) -> Vec<Option<Value>> {
        model::attribute_values(&self.raw_attributes, keys)
    }
}

/// Every current instance of a state by address, its root outputs, and whether it was missing.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub instances: BTreeMap<String, RecordedInstance>,
    pub outputs: BTreeMap<String, StateOutput>,
    /// True when there was no state file (counts as empty).
    pub missing: bool,
    /// Deposed objects seen (never compared).
    pub deposed: usize,
}

/// The index part of an address: `[0]` or `["key"]`.
pub fn index_suffix(key: &Value) -> String {
    match model::Key::from_json(key) {
        Some(k) => k.to_string(),
        None => format!("[{key}]"),
    }
}

/// Reads and parses the state at `path`; a missing file is an empty, `missing` state.
///
/// # Errors
/// [`DriftError::Io`] when it exists but cannot be read, [`DriftError::StateEmpty`] or
/// [`DriftError::StateInvalid`] as [`parse_state`].
pub fn load_state(path: &Path, display: &str) -> Result<Recorded, DriftError> {
    // Never blocks: a fifo or device in the state's place is refused, not waited on.
    match crate::fsutil::read_regular(path, true) {
        Ok(bytes) => {
            let content = read(&bytes, display)?;
            // The file's bytes are not needed once read: free them before building the map.
            drop(bytes);
            Ok(recorded(content))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Recorded {
            missing: true,
            ..Recorded::default()
        }),
        Err(e) => Err(DriftError::io(path, e)),
    }
}

/// Parses state bytes (formats 1-4, with the validity rule of [`model::parse_state`]).
/// `display` names the file in errors.
///
/// # Errors
/// [`DriftError::StateEmpty`] for an empty (or blank) file, [`DriftError::StateInvalid`] when
/// it is not a valid state.
pub fn parse_state(bytes: &[u8], display: &str) -> Result<Recorded, DriftError> {
    read(bytes, display).map(recorded)
}

/// Checks the state and reads its content.
fn read(bytes: &[u8], display: &str) -> Result<model::StateContent, DriftError> {
    let invalid = |i: model::Invalid| match i {
        model::Invalid::Empty => DriftError::StateEmpty {
            state: display.to_string(),
        },
        other => DriftError::StateInvalid {
            state: display.to_string(),
            reason: other.to_string(),
        },
    };
    model::parse_state(bytes).map_err(invalid)?;
    model::read_content(bytes).map_err(invalid)
}

/// The current objects by address.
fn recorded(content: model::StateContent) -> Recorded {
    let mut out = Recorded {
        outputs: content.outputs,
        ..Recorded::default()
    };
    for (addr, i) in content.instances {
        out.deposed += i.deposed.len();
        let Some(cur) = i.current else { continue };
        let sensitive = cur.sensitive_names();
        out.instances.insert(
            addr,
            RecordedInstance {
                module: if i.address.module.is_empty() {
                    String::new()
                } else {
                    format!("{}.", i.address.module)
                },
                data: i.address.data,
                rtype: i.address.rtype.clone(),
                address: i.address,
                raw_attributes: cur.attributes,
                sensitive,
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_index_data_and_module() {
        let s = br#"{"version":4,"lineage":"l","serial":1,"resources":[
          {"mode":"managed","type":"null_resource","name":"a","instances":[{"index_key":0,"attributes":{"id":"1"}},{"index_key":1,"attributes":{}}]},
          {"mode":"managed","type":"null_resource","name":"b","instances":[{"index_key":"k","attributes":{}}]},
          {"mode":"data","type":"null_data_source","name":"d","instances":[{"attributes":{}}]},
          {"module":"module.app","mode":"managed","type":"null_resource","name":"x","instances":[{"attributes":{"password":"s"},"sensitive_attributes":[[{"type":"get_attr","value":"password"}]]}]}
        ]}"#;
        let r = parse_state(s, "t").unwrap();
        let keys: Vec<_> = r.instances.keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "data.null_data_source.d",
                "module.app.null_resource.x",
                "null_resource.a[0]",
                "null_resource.a[1]",
                "null_resource.b[\"k\"]"
            ]
        );
        assert!(r.instances["module.app.null_resource.x"]
            .sensitive
            .contains("password"));
    }

    #[test]
    fn deposed_objects_are_never_current() {
        let s = br#"{"version":4,"lineage":"l","serial":1,"resources":[
          {"mode":"managed","type":"terraform_data","name":"a","instances":[
            {"attributes":{"id":"new","input":{"value":"x","type":"string"}}},
            {"deposed":"00000001","attributes":{"id":"old","input":{"value":"y","type":"string"}}}]},
          {"mode":"managed","type":"terraform_data","name":"b","instances":[
            {"deposed":"00000002","attributes":{"id":"old"}}]}]}"#;
        let r = parse_state(s, "t").unwrap();
        assert_eq!(r.instances.len(), 1);
        assert_eq!(r.deposed, 2);
        let a = &r.instances["terraform_data.a"];
        assert_eq!(a.attributes(&["id"])[0], Some(Value::from("new")));
    }

    #[test]
    fn legacy_formats_are_read() {
        let s = br#"{"version":3,"serial":2,"lineage":"l","modules":[
          {"path":["root"],"outputs":{"u":{"sensitive":false,"type":"string","value":"x"}},"resources":{
            "null_resource.a.1":{"type":"null_resource","primary":{"id":"7","attributes":{"id":"7","triggers.%":"1","triggers.name":"a"}}},
            "null_resource.b":{"type":"null_resource","primary":{"id":"8","attributes":{"id":"8","l.#":"2","l.0":"p","l.1":"q"}}}}},
          {"path":["root","child"],"resources":{"data.x.y":{"type":"x","primary":{"id":"1","attributes":{}}}}}]}"#;
        let r = parse_state(s, "t").unwrap();
        let keys: Vec<_> = r.instances.keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "module.child.data.x.y",
                "null_resource.a[1]",
                "null_resource.b"
            ]
        );
        let a = &r.instances["null_resource.a[1]"];
        assert_eq!(
            a.attributes(&["triggers"])[0],
            Some(serde_json::json!({"name": "a"}))
        );
        let b = &r.instances["null_resource.b"];
        assert_eq!(b.attributes(&["l"])[0], Some(serde_json::json!(["p", "q"])));
        assert_eq!(r.outputs["u"].value, "x");
    }

    #[test]
    fn empty_and_invalid() {
        assert!(matches!(
            parse_state(b"", "t"),
            Err(DriftError::StateEmpty { .. })
        ));
        assert!(matches!(
            parse_state(b" \n", "t"),
            Err(DriftError::StateEmpty { .. })
        ));
        assert!(matches!(
            parse_state(b"{\"vers", "t"),
            Err(DriftError::StateInvalid { .. })
        ));
        assert!(matches!(
            parse_state(
                br#"{"version":5,"lineage":"l","serial":1,"resources":[]}"#,
                "t"
            ),
            Err(DriftError::StateInvalid { .. })
        ));
        assert!(matches!(
            parse_state(br#"{"version":4,"lineage":"l","serial":1}"#, "t"),
            Err(DriftError::StateInvalid { .. })
        ));
    }
}
