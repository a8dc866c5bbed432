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
/// A version 4 state is read as a stream ([`model::stream_v4`]): only what drift keeps (each
/// instance's address, minified attributes and sensitive names) stays in memory, never the
/// file's bytes. Anything that stream refuses (an older format, an invalid state) is read
/// whole by the one reader, which gives the verdict and its reason.
///
/// # Errors
/// [`DriftError::Io`] when it exists but cannot be read, [`DriftError::StateEmpty`] or
/// [`DriftError::StateInvalid`] as [`parse_state`].
pub fn load_state(path: &Path, display: &str) -> Result<Recorded, DriftError> {
    // Never blocks: a fifo or device in the state's place is refused, not waited on.
    let file = match crate::fsutil::open_read_regular(path, true) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Recorded {
                missing: true,
                ..Recorded::default()
            })
        }
        Err(e) => return Err(DriftError::io(path, e)),
    };
    if let Some(r) = stream(file) {
        return Ok(r);
    }
    match crate::fsutil::read_regular(path, true) {
        Ok(bytes) => read(&bytes, display).map(recorded),
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
    match stream(bytes) {
        Some(r) => Ok(r),
        None => read(bytes, display).map(recorded),
    }
}

/// A version 4 state read as a stream; `None` when the stream refuses it (see
/// [`model::stream_v4`]).
fn stream(r: impl std::io::Read) -> Option<Recorded> {
    let mut out = Recorded::default();
    let outputs = model::stream_v4(r, &mut |address, deposed, obj| {
        add(&mut out, address, deposed, obj)
    })
    .ok()?;
    out.outputs = outputs;
    Some(out)
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
    for (_, i) in content.instances {
        for d in i.deposed {
            add(&mut out, i.address.clone(), true, d);
        }
        if let Some(cur) = i.current {
            add(&mut out, i.address, false, cur);
        }
    }
    out
}

/// Takes in one object of the state: a deposed one is only counted; a current one is the
/// instance's (a later one for the same address replaces an earlier one's attributes, as the
/// state reader does).
fn add(out: &mut Recorded, address: Address, deposed: bool, obj: model::StateObject) {
    if deposed {
        out.deposed += 1;
        return;
    }
    let sensitive = obj.sensitive_names();
    match out.instances.entry(address.to_string()) {
        std::collections::btree_map::Entry::Occupied(mut e) => {
            let i = e.get_mut();
            i.raw_attributes = obj.attributes;
            i.sensitive = sensitive;
        }
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(RecordedInstance {
                module: if address.module.is_empty() {
                    String::new()
                } else {
                    format!("{}.", address.module)
                },
                data: address.data,
                rtype: address.rtype.clone(),
                address,
                raw_attributes: obj.attributes,
                sensitive,
            });
        }
    }
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

    /// The stream and the whole-file reader give the same result (compared as debug text:
    /// addresses, attributes, sensitive names, outputs, deposed count), and the stream never
    /// accepts what the whole-file reader refuses.
    #[test]
    fn the_stream_agrees_with_the_whole_file_reader() {
        let v4 = |body: &str| format!(r#"{{"version":4,"lineage":"l","serial":1,{body}}}"#);
        let res = r#""resources":[
          {"mode":"managed","type":"null_resource","name":"a","instances":[
            {"index_key":0,"attributes":{ "id" : "1", "s": "x  y" },"sensitive_attributes":[[{"type":"get_attr","value":"s"}]]},
            {"index_key":"k","deposed":"0001","attributes":{"id":"old"}},
            {"index_key":"k","attributes":{"id":"2"}},
            {"index_key":0,"attributes":{"id":"again"}},
            {"index_key":1,"attributes":null},
            {"index_key":2,"attributes":[1]}]},
          {"module":"module.m[\"x\"]","mode":"data","type":"d","name":"b","instances":[{"attributes":{}}]},
          {"mode":"managed","type":"t","name":"only_deposed","instances":[{"deposed":"1","attributes":{}}]}]"#;
        let accepted = [
            v4(res),
            v4(&format!(
                r#"{res},"outputs":{{"o":{{"value":[1,"a"],"type":["tuple",["number","string"]]}},"p":{{"value":"s","sensitive":true}}}}"#
            )),
            format!(
                r#"{{{res},"serial":2,"outputs":null,"lineage":"l","version":4,"check_results":null}}"#
            ),
            r#"{"vers\u0069on":4,"lineage":"l","serial":1,"resources":[]}"#.to_string(),
        ];
        let refused_by_both = [
            String::new(),
            " \n".to_string(),
            "[1]".to_string(),
            v4(res).replace("\"version\":4", "\"version\":4.0"),
            v4(res).replace("\"version\":4", "\"version\":5"),
            v4(res).replace("\"serial\":1", "\"serial\":-1"),
            v4(res).replace("\"lineage\":\"l\"", "\"lineage\":7"),
            v4(r#""resources":{}"#),
            v4(r#""resources":[1]"#),
            v4(r#""resources":[{"type":"t"}]"#),
            v4(r#""resources":[{"type":"t","name":"n","instances":null}]"#),
            v4(r#""resources":[],"resources":[]"#),
            r#"{"version":4,"version":4,"lineage":"l","serial":1,"resources":[]}"#.to_string(),
            r#"{"lineage":"l","serial":1,"resources":[]}"#.to_string(),
            r#"{"version":4,"lineage":"l","serial":1}"#.to_string(),
            format!("{} x", v4(res)),
            v4(res)[..200].to_string(),
        ];
        let legacy = r#"{"version":3,"serial":2,"lineage":"l","modules":[{"path":["root"],"resources":{"null_resource.a":{"type":"null_resource","primary":{"id":"8","attributes":{"id":"8"}}}}}]}"#;
        let whole = |s: &str| read(s.as_bytes(), "t").map(recorded);
        for s in &accepted {
            let streamed = stream(s.as_bytes()).unwrap_or_else(|| panic!("not streamed: {s}"));
            let whole = whole(s).unwrap();
            assert_eq!(format!("{streamed:?}"), format!("{whole:?}"), "{s}");
        }
        let r = stream(accepted[0].as_bytes()).unwrap();
        assert_eq!(r.deposed, 2);
        assert_eq!(
            r.instances["null_resource.a[0]"].raw_attributes.get(),
            r#"{"id":"again"}"#
        );
        assert!(r.instances["null_resource.a[0]"].sensitive.is_empty());
        assert_eq!(r.instances["null_resource.a[1]"].raw_attributes.get(), "{}");
        assert!(!r.instances.contains_key("t.only_deposed"));
        for s in &refused_by_both {
            assert!(stream(s.as_bytes()).is_none(), "streamed: {s}");
            assert!(parse_state(s.as_bytes(), "t").is_err(), "accepted: {s}");
        }
        assert!(stream(legacy.as_bytes()).is_none());
        let r = parse_state(legacy.as_bytes(), "t").unwrap();
        assert_eq!(format!("{r:?}"), format!("{:?}", whole(legacy).unwrap()));
        assert!(r.instances.contains_key("null_resource.a"));
    }

    #[test]
    fn a_state_file_is_streamed_and_errors_keep_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.tfstate");
        std::fs::write(
            &p,
            br#"{"version":4,"lineage":"l","serial":1,"resources":[{"type":"t","name":"n","instances":[{"attributes":{"id":"1"}}]}]}"#,
        )
        .unwrap();
        let r = load_state(&p, "s").unwrap();
        assert!(!r.missing);
        assert_eq!(r.instances["t.n"].raw_attributes.get(), r#"{"id":"1"}"#);
        std::fs::write(
            &p,
            br#"{"version":5,"lineage":"l","serial":1,"resources":[]}"#,
        )
        .unwrap();
        match load_state(&p, "s") {
            Err(DriftError::StateInvalid { reason, .. }) => {
                assert!(reason.contains("is 5"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(
            load_state(&p, "s"),
            Err(DriftError::StateEmpty { .. })
        ));
        assert!(load_state(&dir.path().join("none"), "s").unwrap().missing);
    }
}
