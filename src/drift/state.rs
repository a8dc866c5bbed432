//! The recorded side: the instances a Terraform state (format version 4) holds, as addresses
//! (`type.name`, `type.name[0]`, `type.name["key"]`, with `data.` and `module.` prefixes).
//!
//! Parsed with typed serde structs that skip what drift does not need (`private`,
//! `dependencies`, outputs), so that a 5 MB state does not become a whole `Value` tree. Only
//! the attributes of each instance are kept. Not a general state library: snapshots and
//! restore live in `crate::state`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::DriftError;

/// One instance recorded in the state.
#[derive(Debug, Clone)]
pub struct RecordedInstance {
    /// `module.a.` prefix (empty for the root module), then `data.` for data sources.
    pub module: String,
    /// `managed` or `data`.
    pub data: bool,
    /// Resource type, e.g. `null_resource`.
    pub rtype: String,
    /// Attributes as recorded, kept as raw JSON text: only those the configuration compares
    /// are ever parsed ([`RecordedInstance::attributes`]).
    pub raw_attributes: Box<RawValue>,
    /// Top-level attribute names that hold (or contain) sensitive values.
    pub sensitive: BTreeSet<String>,
}

impl RecordedInstance {
    /// The values of the attributes `keys` (in that order; `None` where absent).
    pub fn attributes(&self, keys: &[&str]) -> Vec<Option<Value>> {
        let raw = self.raw_attributes.get();
        // Borrowed keys (no allocation) unless a key holds an escape.
        let parse = |r: &RawValue| serde_json::from_str(r.get()).ok();
        match serde_json::from_str::<std::collections::HashMap<&str, &RawValue>>(raw) {
            Ok(map) => keys
                .iter()
                .map(|k| map.get(*k).and_then(|r| parse(r)))
                .collect(),
            Err(_) => {
                let map: std::collections::HashMap<String, &RawValue> =
                    serde_json::from_str(raw).unwrap_or_default();
                keys.iter()
                    .map(|k| map.get(*k).and_then(|r| parse(r)))
                    .collect()
            }
        }
    }
}

/// Every instance of a state by address, plus what the file said about itself.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub instances: BTreeMap<String, RecordedInstance>,
    /// True when there was no state file (counts as empty).
    pub missing: bool,
}

#[derive(Deserialize)]
struct RawState {
    version: Option<Value>,
    lineage: Option<Value>,
    serial: Option<Value>,
    resources: Option<Vec<RawResource>>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type")]
    rtype: String,
    name: String,
    #[serde(default)]
    instances: Vec<RawInstance>,
}

#[derive(Deserialize)]
struct RawInstance {
    #[serde(default)]
    index_key: Option<Value>,
    #[serde(default)]
    attributes: Option<Box<RawValue>>,
    #[serde(default)]
    sensitive_attributes: Option<Vec<Vec<RawPathStep>>>,
}

#[derive(Deserialize)]
struct RawPathStep {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<Value>,
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_string()).unwrap_or_else(|_| unreachable!("{{}} is JSON"))
}

/// The index part of an address: `[0]` or `["key"]`.
pub fn index_suffix(key: &Value) -> String {
    match key {
        Value::Number(n) => format!("[{n}]"),
        Value::String(s) => format!("[{}]", quote(s)),
        other => format!("[{other}]"),
    }
}

/// A string quoted as Terraform prints it in an address.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Reads and parses the state at `path`; a missing file is an empty, `missing` state.
///
/// # Errors
/// [`DriftError::Io`] when it exists but cannot be read, [`DriftError::StateEmpty`] or
/// [`DriftError::StateInvalid`] as [`parse_state`].
pub fn load_state(path: &Path, display: &str) -> Result<Recorded, DriftError> {
    // Never blocks: a fifo or device in the state's place is refused, not waited on.
    match crate::fsutil::read_regular(path, true) {
        Ok(bytes) => parse_state(&bytes, display),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Recorded {
            instances: BTreeMap::new(),
            missing: true,
        }),
        Err(e) => Err(DriftError::io(path, e)),
    }
}

/// Parses state bytes. `display` names the file in errors.
///
/// # Errors
/// [`DriftError::StateEmpty`] for an empty (or blank) file, [`DriftError::StateInvalid`] when
/// it is not JSON or not `version` 4 with a string `lineage`, an integer `serial` and a
/// `resources` array.
pub fn parse_state(bytes: &[u8], display: &str) -> Result<Recorded, DriftError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DriftError::StateEmpty {
            state: display.to_string(),
        });
    }
    let invalid = |reason: String| DriftError::StateInvalid {
        state: display.to_string(),
        reason,
    };
    let raw: RawState = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if raw.version.as_ref().and_then(Value::as_u64) != Some(4) {
        return Err(invalid("`version` must be 4".into()));
    }
    if !raw.lineage.as_ref().is_some_and(Value::is_string) {
        return Err(invalid("`lineage` must be a string".into()));
    }
    if !raw
        .serial
        .as_ref()
        .is_some_and(|s| s.is_u64() || s.is_i64())
    {
        return Err(invalid("`serial` must be an integer".into()));
    }
    let Some(resources) = raw.resources else {
        return Err(invalid("`resources` must be an array".into()));
    };
    let mut instances = BTreeMap::new();
    for r in resources {
        let data = r.mode.as_deref() == Some("data");
        let module = match r.module {
            Some(m) if !m.is_empty() => format!("{m}."),
            _ => String::new(),
        };
        let base = format!(
            "{module}{}{}.{}",
            if data { "data." } else { "" },
            r.rtype,
            r.name
        );
        for i in r.instances {
            let address = match &i.index_key {
                Some(k) if !k.is_null() => format!("{base}{}", index_suffix(k)),
                _ => base.clone(),
            };
            let sensitive = i
                .sensitive_attributes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|path| {
                    let first = path.into_iter().next()?;
                    (first.kind == "get_attr")
                        .then(|| first.value.and_then(|v| v.as_str().map(str::to_string)))
                        .flatten()
                })
                .collect();
            instances.insert(
                address,
                RecordedInstance {
                    module: module.clone(),
                    data,
                    rtype: r.rtype.clone(),
                    raw_attributes: match i.attributes {
                        Some(a) if a.get().trim_start().starts_with('{') => a,
                        _ => empty_object(),
                    },
                    sensitive,
                },
            );
        }
    }
    Ok(Recorded {
        instances,
        missing: false,
    })
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
                br#"{"version":3,"lineage":"l","serial":1,"resources":[]}"#,
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
