//! The tfstate model, the one reader of Terraform state: what makes a state file valid
//! ([`parse_state`], [`load_state`]), and its content — resources, instances, deposed objects
//! and outputs under one [`Address`] type ([`read_content`]) — that drift, the restore preview
//! and restore all use.
//!
//! Valid: a JSON object with `version` 4, a string `lineage`, an integer `serial` and a
//! `resources` array; or a format 1-3 state (before Terraform 0.12) with an integer `serial`, a
//! string `lineage` when present and a `modules` array, read as it is (legacy modules and
//! flatmap attributes are upgraded in memory for [`read_content`], never rewritten). The file
//! must be UTF-8. An empty file counts as lost, like a missing one. A version 4 state is checked
//! in one pass without building a `serde_json::Value` (typed visitors and `IgnoredAny`).
//! Open and parse apart: [`load_state`] reads a file, [`parse_state`] checks bytes. A large
//! version 4 state can also be read as a stream ([`stream_v4`], what drift does), never held
//! whole. This module does not know about snapshots, locks or actors.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

/// What a valid state says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateInfo {
    pub serial: u64,
    pub lineage: String,
    pub terraform_version: Option<String>,
    /// Resource instances (what `terraform state list` lists).
    pub resources: u64,
}

/// Why bytes are not a valid state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Zero bytes (or only whitespace): Terraform was interrupted mid-write.
    Empty,
    /// Not JSON, or truncated JSON.
    Json(String),
    /// JSON, but the top level is not an object.
    NotObject,
    /// `version` is missing or is not 4.
    Version(String),
    /// `lineage` is missing or not a string.
    Lineage(String),
    /// `serial` is missing or not a non-negative integer.
    Serial(String),
    /// `resources` is missing or not an array.
    Resources(String),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Empty => write!(f, "the file is empty"),
            Invalid::Json(m) => write!(f, "not valid JSON ({m})"),
            Invalid::NotObject => write!(f, "not a JSON object"),
            Invalid::Version(m) => write!(f, "version {m}, expected 1 to 4"),
            Invalid::Lineage(m) => write!(f, "lineage {m}, expected a string"),
            Invalid::Serial(m) => write!(f, "serial {m}, expected an integer"),
            Invalid::Resources(m) => write!(f, "resources {m}, expected an array"),
        }
    }
}

/// The verdict on a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateVerdict {
    Missing,
    Invalid(Invalid),
    Valid(StateInfo),
}

impl StateVerdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, StateVerdict::Valid(_))
    }
    /// "missing", "empty", "invalid (…)", "valid".
    pub fn describe(&self) -> String {
        match self {
            StateVerdict::Missing => "missing".into(),
            StateVerdict::Invalid(Invalid::Empty) => "empty".into(),
            StateVerdict::Invalid(i) => format!("invalid: {i}"),
            StateVerdict::Valid(_) => "valid".into(),
        }
    }
}

/// Errors reading a state file (a missing one is not an error: [`StateVerdict::Missing`]).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the state {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
}

/// Reads and checks the state file at `path`.
///
/// # Errors
/// [`ModelError::Read`] when the file exists but cannot be read.
pub fn load_state(path: &Path) -> Result<(StateVerdict, Vec<u8>), ModelError> {
    // Never blocks: a fifo or device in the state's place is refused, not waited on.
    match crate::fsutil::read_regular(path, true) {
        Ok(bytes) => {
            let v = match parse_state(&bytes) {
                Ok(i) => StateVerdict::Valid(i),
                Err(e) => StateVerdict::Invalid(e),
            };
            Ok((v, bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((StateVerdict::Missing, Vec::new())),
        Err(e) => Err(ModelError::Read {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Checks state bytes in one pass; nothing but the header fields is kept in memory.
///
/// # Errors
/// The first reason the bytes are not a valid state.
pub fn parse_state(bytes: &[u8]) -> Result<StateInfo, Invalid> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Invalid::Empty);
    }
    // JSON is UTF-8. The header walk skips the resources without looking inside their
    // strings, so check it here: a state with a broken string somewhere in a resource is not
    // valid (every full reading of it — preview, addresses — would fail). Found by fuzzing.
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(Invalid::Json(format!(
            "invalid UTF-8 at byte {}",
            e.valid_up_to()
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let header = match de.deserialize_any(HeaderVisitor) {
        Ok(h) => h,
        Err(e) => return Err(json_error(e)),
    };
    if let Err(e) = de.end() {
        return Err(Invalid::Json(e.to_string()));
    }
    let header = header.ok_or(Invalid::NotObject)?;
    match &header.version {
        Some(Kind::UInt(4)) => {}
        Some(Kind::UInt(v @ 1..=3)) => return parse_legacy(bytes, *v, header),
        Some(k) => return Err(Invalid::Version(format!("is {k}"))),
        None => return Err(Invalid::Version("is missing".into())),
    }
    let lineage = match header.lineage {
        Some(Kind::Str(s)) => s,
        Some(k) => return Err(Invalid::Lineage(format!("is {k}"))),
        None => return Err(Invalid::Lineage("is missing".into())),
    };
    let serial = match header.serial {
        Some(Kind::UInt(n)) => n,
        Some(k) => return Err(Invalid::Serial(format!("is {k}"))),
        None => return Err(Invalid::Serial("is missing".into())),
    };
    let resources = match header.resources {
        Some(Ok(n)) => n,
        Some(Err(k)) => return Err(Invalid::Resources(format!("is {k}"))),
        None => return Err(Invalid::Resources("is missing".into())),
    };
    let terraform_version = match header.terraform_version {
        Some(Kind::Str(s)) => Some(s),
        _ => None,
    };
    Ok(StateInfo {
        serial,
        lineage,
        terraform_version,
        resources,
    })
}

/// Formats 1-3 (before Terraform 0.12): an integer `serial`, a `modules` array whose
/// `resources` are objects; `lineage` (from 0.7) a string when present. Terraform upgrades them
/// when it reads them; tfops reads them and keeps their bytes as they are.
fn parse_legacy(bytes: &[u8], version: u64, header: Header) -> Result<StateInfo, Invalid> {
    #[derive(serde::Deserialize)]
    struct S {
        modules: Option<serde_json::Value>,
    }
    let lineage = match header.lineage {
        Some(Kind::Str(s)) => s,
        None | Some(Kind::Null) => String::new(),
        Some(k) => return Err(Invalid::Lineage(format!("is {k}"))),
    };
    let serial = match header.serial {
        Some(Kind::UInt(n)) => n,
        Some(k) => return Err(Invalid::Serial(format!("is {k}"))),
        None => return Err(Invalid::Serial("is missing".into())),
    };
    let s: S = serde_json::from_slice(bytes).map_err(json_error)?;
    let Some(serde_json::Value::Array(modules)) = s.modules else {
        return Err(Invalid::Resources(format!(
            "(`modules` in a version {version} state) is missing or not an array"
        )));
    };
    let mut resources = 0u64;
    for m in &modules {
        match m.get("resources") {
            Some(serde_json::Value::Object(r)) => resources += r.len() as u64,
            None | Some(serde_json::Value::Null) => {}
            Some(_) => {
                return Err(Invalid::Resources(
                    "(a module's `resources`) is not an object".into(),
                ))
            }
        }
    }
    let terraform_version = match header.terraform_version {
        Some(Kind::Str(s)) => Some(s),
        _ => None,
    };
    Ok(StateInfo {
        serial,
        lineage,
        terraform_version,
        resources,
    })
}

fn json_error(e: serde_json::Error) -> Invalid {
    if e.is_eof() {
        Invalid::Json(format!("truncated: {e}"))
    } else {
        Invalid::Json(e.to_string())
    }
}

/// The JSON kind of a header value, keeping scalars that matter.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Array,
    Object,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::UInt(n) => write!(f, "{n}"),
            Kind::Int(n) => write!(f, "{n}"),
            Kind::Float(x) => write!(f, "{x}"),
            Kind::Str(s) if s.len() <= 40 => write!(f, "the string {s:?}"),
            Kind::Str(_) => write!(f, "a string"),
            Kind::Bool(b) => write!(f, "{b}"),
            Kind::Null => write!(f, "null"),
            Kind::Array => write!(f, "an array"),
            Kind::Object => write!(f, "an object"),
        }
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(if v >= 0 {
            Kind::UInt(v as u64)
        } else {
            Kind::Int(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Kind::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Kind::Object)
    }
}

impl<'de> de::Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

/// `resources`: an array whose instances are counted, or the kind it was instead.
struct Resources(Result<u64, Kind>);

impl<'de> de::Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Resources, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Resources;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of resources")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Resources, A::Error> {
                let mut n = 0u64;
                while let Some(r) = seq.next_element::<ResourceInstances>()? {
                    n += r.0;
                }
                Ok(Resources(Ok(n)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Resources, A::Error> {
                KindVisitor.visit_map(map).map(|k| Resources(Err(k)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Resources, E> {
                Ok(Resources(Err(Kind::UInt(v))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Resources, E> {
                Ok(Resources(Err(Kind::Int(v))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Resources, E> {
                Ok(Resources(Err(Kind::Float(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Resources, E> {
                Ok(Resources(Err(Kind::Str(v.to_string()))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Resources, E> {
                Ok(Resources(Err(Kind::Bool(v))))
            }
            fn visit_unit<E>(self) -> Result<Resources, E> {
                Ok(Resources(Err(Kind::Null)))
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of `resources`: the number of its `instances` (0 when it has none).
struct ResourceInstances(u64);

impl<'de> de::Deserialize<'de> for ResourceInstances {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ResourceInstances, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ResourceInstances;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a resource")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ResourceInstances, A::Error> {
                let mut n = 0;
                while let Some(k) = map.next_key::<KeyName>()? {
                    if k.0 == KeyId::Instances {
                        n = map.next_value::<Counted>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ResourceInstances(n))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ResourceInstances, A::Error> {
                KindVisitor.visit_seq(seq).map(|_| ResourceInstances(0))
            }
            fn visit_u64<E>(self, _: u64) -> Result<ResourceInstances, E> {
                Ok(ResourceInstances(0))
            }
            fn visit_i64<E>(self, _: i64) -> Result<ResourceInstances, E> {
                Ok(ResourceInstances(0))
            }
            fn visit_f64<E>(self, _: f64) -> Result<ResourceInstances, E> {
                Ok(ResourceInstances(0))
            }
            fn visit_str<E>(self, _: &str) -> Result<ResourceInstances, E> {
                Ok(ResourceInstances(0))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ResourceInstances, E> {
                Ok(ResourceInstances(0))
            }
            fn visit_unit<E>(self) -> Result<ResourceInstances, E> {
                Ok(ResourceInstances(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// An array's length (elements skipped), 0 for anything else.
struct Counted(u64);

impl<'de> de::Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Counted, D::Error> {
        match d.deserialize_any(CountVisitor)? {
            Some(n) => Ok(Counted(n)),
            None => Ok(Counted(0)),
        }
    }
}

struct CountVisitor;

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<u64>, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Some(n))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<u64>, A::Error> {
        KindVisitor.visit_map(map).map(|_| None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }
}

/// Header keys we look at; everything else is skipped without allocating.
#[derive(PartialEq, Eq)]
enum KeyId {
    Version,
    Serial,
    Lineage,
    TerraformVersion,
    Resources,
    Instances,
    Other,
}

struct KeyName(KeyId);

impl<'de> de::Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyName, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyName, E> {
                Ok(KeyName(match v {
                    "version" => KeyId::Version,
                    "serial" => KeyId::Serial,
                    "lineage" => KeyId::Lineage,
                    "terraform_version" => KeyId::TerraformVersion,
                    "resources" => KeyId::Resources,
                    "instances" => KeyId::Instances,
                    _ => KeyId::Other,
                }))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Default)]
struct Header {
    version: Option<Kind>,
    serial: Option<Kind>,
    lineage: Option<Kind>,
    terraform_version: Option<Kind>,
    resources: Option<Result<u64, Kind>>,
}

/// Top level: `Some(header)` for an object, `None` for any other JSON value.
struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Option<Header>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Header>, A::Error> {
        let mut h = Header::default();
        while let Some(k) = map.next_key::<KeyName>()? {
            match k.0 {
                KeyId::Version => h.version = Some(map.next_value()?),
                KeyId::Serial => h.serial = Some(map.next_value()?),
                KeyId::Lineage => h.lineage = Some(map.next_value()?),
                KeyId::TerraformVersion => h.terraform_version = Some(map.next_value()?),
                KeyId::Resources => h.resources = Some(map.next_value::<Resources>()?.0),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(h))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<Header>, A::Error> {
        KindVisitor.visit_seq(seq).map(|_| None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<Header>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<Header>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<Header>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<Header>, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<Header>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<Header>, E> {
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------------
// Addresses and the full reading of a state (drift, restore preview and restore all use these).
// ---------------------------------------------------------------------------------------------

/// The key of one instance: `[0]` (count) or `["k"]` (for_each).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Int(i64),
    Str(String),
}

impl Key {
    /// From a state's `index_key` (a number or a string; anything else is no key).
    pub fn from_json(v: &serde_json::Value) -> Option<Key> {
        match v {
            serde_json::Value::Number(n) => n.as_i64().map(Key::Int),
            serde_json::Value::String(s) => Some(Key::Str(s.clone())),
            _ => None,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "[{i}]"),
            Key::Str(s) => write!(f, "[{}]", quote(s)),
        }
    }
}

/// A string quoted as Terraform writes it inside an address (`["a\"b"]`).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The address of one resource instance, written exactly as Terraform writes it:
/// `module.a["x"].module.b.data.type.name[0]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    /// `module.a.module.b[0]` (empty for the root module), without a trailing dot.
    pub module: String,
    /// A data source (`data.` before the type).
    pub data: bool,
    pub rtype: String,
    pub name: String,
    pub key: Option<Key>,
}

impl Address {
    /// The resource (without the instance key).
    pub fn resource(&self) -> String {
        let mut a = String::new();
        if !self.module.is_empty() {
            a.push_str(&self.module);
            a.push('.');
        }
        if self.data {
            a.push_str("data.");
        }
        a.push_str(&self.rtype);
        a.push('.');
        a.push_str(&self.name);
        a
    }

    /// The validity rule for a state's resource: a type and a name that are identifiers
    /// (a letter or `_` first, then letters, digits, `_` or `-`).
    pub fn is_valid(&self) -> bool {
        is_identifier(&self.rtype) && is_identifier(&self.name)
    }
}

/// Terraform's identifier rule for resource types and names.
pub fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_alphabetic() || f == '_')
        && c.all(|x| x.is_alphanumeric() || x == '_' || x == '-')
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resource())?;
        if let Some(k) = &self.key {
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

/// One step of a sensitive attribute path, as the state writes it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct PathStep {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

/// One object of an instance: the current one, or a deposed one (a create-before-destroy
/// leftover, never compared as current).
#[derive(Debug, Clone)]
pub struct StateObject {
    /// The attributes as recorded, kept as raw JSON text until compared.
    pub attributes: Box<serde_json::value::RawValue>,
    /// `sensitive_attributes` paths.
    pub sensitive: Vec<Vec<PathStep>>,
}

impl StateObject {
    /// Top-level attribute names that hold (or contain) sensitive values.
    pub fn sensitive_names(&self) -> std::collections::BTreeSet<String> {
        self.sensitive
            .iter()
            .filter_map(|p| {
                let first = p.first()?;
                (first.kind == "get_attr")
                    .then(|| {
                        first
                            .value
                            .as_ref()
                            .and_then(|v| v.as_str().map(str::to_string))
                    })
                    .flatten()
            })
            .collect()
    }

    /// The values of the attributes `keys` (in that order; `None` where absent).
    pub fn get(&self, keys: &[&str]) -> Vec<Option<serde_json::Value>> {
        attribute_values(&self.attributes, keys)
    }
}

/// The values of the attributes `keys` of a raw attributes object (in that order; `None`
/// where absent); only those are parsed.
pub fn attribute_values(
    attributes: &serde_json::value::RawValue,
    keys: &[&str],
) -> Vec<Option<serde_json::Value>> {
    use serde_json::value::RawValue;
    use std::collections::HashMap;
    let raw = attributes.get();
    let parse = |r: &RawValue| serde_json::from_str(r.get()).ok();
    match serde_json::from_str::<HashMap<&str, &RawValue>>(raw) {
        Ok(map) => keys
            .iter()
            .map(|k| map.get(*k).and_then(|r| parse(r)))
            .collect(),
        Err(_) => {
            let map: HashMap<String, &RawValue> = serde_json::from_str(raw).unwrap_or_default();
            keys.iter()
                .map(|k| map.get(*k).and_then(|r| parse(r)))
                .collect()
        }
    }
}

/// One resource instance of a state.
#[derive(Debug, Clone)]
pub struct StateInstance {
    pub address: Address,
    /// The current object; `None` when only deposed objects are left.
    pub current: Option<StateObject>,
    pub deposed: Vec<StateObject>,
}

/// A root output as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct StateOutput {
    pub value: serde_json::Value,
    /// Terraform's type (`"string"`, `["list","string"]`…); `None` in format 1-3 states.
    pub ty: Option<serde_json::Value>,
    pub sensitive: bool,
}

/// Everything drift and restore need from a state, read once.
#[derive(Debug, Clone, Default)]
pub struct StateContent {
    /// The format version (1-4; 1-3 are upgraded as Terraform upgrades them).
    pub version: u64,
    /// By address (each address once; a later duplicate replaces an earlier one).
    pub instances: std::collections::BTreeMap<String, StateInstance>,
    pub outputs: std::collections::BTreeMap<String, StateOutput>,
}

/// Reads a state's instances and root outputs (formats 1-4). Call [`parse_state`] first to
/// know it is valid; this one only fails when the bytes are not the JSON it expects.
///
/// # Errors
/// [`Invalid::Json`] when the bytes are not a state this reader understands.
pub fn read_content(bytes: &[u8]) -> Result<StateContent, Invalid> {
    #[derive(serde::Deserialize)]
    struct Head {
        version: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(json_error)?;
    match head.version.as_ref().and_then(serde_json::Value::as_u64) {
        Some(4) => read_v4(bytes),
        Some(1..=3) => read_legacy(bytes),
        Some(v) => Err(Invalid::Version(format!("is {v}"))),
        None => Err(Invalid::Version("is missing".into())),
    }
}

fn raw_empty() -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string("{}".to_string())
        .unwrap_or_else(|_| unreachable!("{{}} is JSON"))
}

/// The same JSON text without the whitespace between its tokens, or `None` when it has none.
/// Terraform indents its state, so about half of an instance's attribute text is indentation:
/// dropping it halves what a large state costs in memory once read. Bytes outside strings are
/// ASCII in valid JSON, so removing some of them keeps the text valid UTF-8 and valid JSON.
pub fn minify(json: &str) -> Option<String> {
    let b = json.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let (mut in_str, mut esc) = (false, false);
    for &c in b {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
        } else if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
            in_str = c == b'"';
            out.push(c);
        }
    }
    if out.len() == b.len() {
        return None;
    }
    // Copied to a buffer of its exact size: shrinking the working one in place would leave
    // a gap the size of the indentation after each kept text, too small for the next one
    // (at 100,000 instances, tens of MB resident for nothing).
    String::from_utf8(out.as_slice().to_vec()).ok()
}

/// An owned copy of `a`, [`minify`]d.
fn compact(a: &serde_json::value::RawValue) -> Box<serde_json::value::RawValue> {
    match minify(a.get()) {
        Some(m) => serde_json::value::RawValue::from_string(m).unwrap_or_else(|_| a.to_owned()),
        None => a.to_owned(),
    }
}

/// The address of one instance of a version 4 resource (both readers build it the same way).
fn instance_address(
    module: &str,
    data: bool,
    rtype: &str,
    name: &str,
    index_key: Option<&serde_json::Value>,
) -> Address {
    Address {
        module: module.to_string(),
        data,
        rtype: rtype.to_string(),
        name: name.to_string(),
        key: index_key.and_then(Key::from_json),
    }
}

/// Attributes that are a JSON object (anything else reads as none).
fn is_object(a: &serde_json::value::RawValue) -> bool {
    a.get().trim_start().starts_with('{')
}

/// One instance object: its compacted attributes (none: `{}`) and sensitive paths.
fn state_object(
    attributes: Option<Box<serde_json::value::RawValue>>,
    sensitive: Option<Vec<Vec<PathStep>>>,
) -> StateObject {
    StateObject {
        attributes: attributes.unwrap_or_else(raw_empty),
        sensitive: sensitive.unwrap_or_default(),
    }
}

fn read_v4(bytes: &[u8]) -> Result<StateContent, Invalid> {
    use serde_json::value::RawValue;
    // Attributes are borrowed from `bytes` while reading and copied once, minified: never
    // held twice as indented text beside the file's bytes.
    #[derive(serde::Deserialize)]
    struct S<'a> {
        #[serde(default, borrow)]
        resources: Vec<R<'a>>,
        #[serde(default)]
        outputs: Option<std::collections::BTreeMap<String, O>>,
    }
    #[derive(serde::Deserialize)]
    struct O {
        #[serde(default)]
        value: serde_json::Value,
        #[serde(rename = "type", default)]
        ty: Option<serde_json::Value>,
        #[serde(default)]
        sensitive: bool,
    }
    #[derive(serde::Deserialize)]
    struct R<'a> {
        #[serde(default)]
        module: Option<String>,
        #[serde(default)]
        mode: Option<String>,
        #[serde(rename = "type")]
        rtype: String,
        name: String,
        #[serde(default, borrow)]
        instances: Vec<I<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct I<'a> {
        #[serde(default)]
        index_key: Option<serde_json::Value>,
        #[serde(default)]
        deposed: Option<String>,
        #[serde(default, borrow)]
        attributes: Option<&'a RawValue>,
        #[serde(default)]
        sensitive_attributes: Option<Vec<Vec<PathStep>>>,
    }
    let s: S<'_> = serde_json::from_slice(bytes).map_err(json_error)?;
    let mut out = StateContent {
        version: 4,
        ..StateContent::default()
    };
    for (k, o) in s.outputs.unwrap_or_default() {
        out.outputs.insert(
            k,
            StateOutput {
                value: o.value,
                ty: o.ty,
                sensitive: o.sensitive,
            },
        );
    }
    for r in s.resources {
        let module = r.module.unwrap_or_default();
        let data = r.mode.as_deref() == Some("data");
        for i in r.instances {
            let address = instance_address(&module, data, &r.rtype, &r.name, i.index_key.as_ref());
            let obj = state_object(
                i.attributes.filter(|a| is_object(a)).map(compact),
                i.sensitive_attributes,
            );
            let e = out
                .instances
                .entry(address.to_string())
                .or_insert_with(|| StateInstance {
                    address,
                    current: None,
                    deposed: Vec::new(),
                });
            if i.deposed.is_some() {
                e.deposed.push(obj);
            } else {
                e.current = Some(obj);
            }
        }
    }
    Ok(out)
}

/// Reads a version 4 state from `r` in one pass, without holding the file: each instance
/// object goes to `each` (its address, whether it is deposed, the object with its attributes
/// [`minify`]d) as soon as its resource is read, and the root outputs are returned. Only the
/// reading of one resource is held at a time, so a large state costs what its caller keeps.
///
/// It accepts no more than [`parse_state`] and [`read_content`] together: the whole text must
/// be UTF-8, the top level an object with `version` 4, a string `lineage`, an integer `serial`
/// and a `resources` array, each resource read as [`read_content`] reads it. It refuses more
/// than they do (a repeated top-level key, an older format): on any error, read the bytes
/// with them for the verdict and its reason — `each` may have been called before the error.
///
/// # Errors
/// [`Invalid`] with a reason, or the read error, when the stream is not such a state.
pub fn stream_v4<R: io::Read>(
    r: R,
    each: &mut dyn FnMut(Address, bool, StateObject),
) -> Result<std::collections::BTreeMap<String, StateOutput>, Invalid> {
    let reader = io::BufReader::with_capacity(1 << 16, Utf8Checked::new(r));
    let mut de = serde_json::Deserializer::from_reader(reader);
    let top = de.deserialize_map(StreamTop { each }).map_err(json_error)?;
    de.end().map_err(json_error)?;
    if top.version.as_ref().and_then(serde_json::Value::as_u64) != Some(4) {
        return Err(Invalid::Version("is not 4".into()));
    }
    if !top
        .lineage
        .as_ref()
        .is_some_and(serde_json::Value::is_string)
    {
        return Err(Invalid::Lineage("is not a string".into()));
    }
    if top
        .serial
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .is_none()
    {
        return Err(Invalid::Serial("is not an integer".into()));
    }
    if !top.resources {
        return Err(Invalid::Resources("is missing".into()));
    }
    Ok(top.outputs.unwrap_or_default())
}

/// What the top level of a streamed state said.
#[derive(Default)]
struct StreamedTop {
    version: Option<serde_json::Value>,
    lineage: Option<serde_json::Value>,
    serial: Option<serde_json::Value>,
    resources: bool,
    outputs: Option<std::collections::BTreeMap<String, StateOutput>>,
}

/// The top-level object of a streamed state.
struct StreamTop<'f> {
    each: &'f mut dyn FnMut(Address, bool, StateObject),
}

impl<'de> Visitor<'de> for StreamTop<'_> {
    type Value = StreamedTop;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a state object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StreamedTop, A::Error> {
        let mut top = StreamedTop::default();
        let twice = |k: &str| de::Error::custom(format!("`{k}` appears twice"));
        while let Some(k) = map.next_key::<String>()? {
            let slot = match k.as_str() {
                "version" => &mut top.version,
                "lineage" => &mut top.lineage,
                "serial" => &mut top.serial,
                "resources" => {
                    if top.resources {
                        return Err(twice(&k));
                    }
                    map.next_value_seed(StreamResources {
                        each: &mut *self.each,
                    })?;
                    top.resources = true;
                    continue;
                }
                "outputs" => {
                    if top.outputs.is_some() {
                        return Err(twice(&k));
                    }
                    let o: Option<std::collections::BTreeMap<String, OutputV4>> =
                        map.next_value()?;
                    top.outputs = Some(
                        o.unwrap_or_default()
                            .into_iter()
                            .map(|(k, o)| (k, o.into()))
                            .collect(),
                    );
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(twice(&k));
            }
            *slot = Some(map.next_value()?);
        }
        Ok(top)
    }
}

/// The `resources` array of a streamed state: each resource handed on as it is read.
struct StreamResources<'f> {
    each: &'f mut dyn FnMut(Address, bool, StateObject),
}

impl<'de> de::DeserializeSeed<'de> for StreamResources<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StreamResources<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of resources")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(r) = seq.next_element::<ResourceV4>()? {
            let module = r.module.unwrap_or_default();
            let data = r.mode.as_deref() == Some("data");
            for i in r.instances {
                let address =
                    instance_address(&module, data, &r.rtype, &r.name, i.index_key.as_ref());
                let obj = state_object(
                    i.attributes.filter(|a| is_object(a)).map(compact_owned),
                    i.sensitive_attributes,
                );
                (self.each)(address, i.deposed.is_some(), obj);
            }
        }
        Ok(())
    }
}

/// A root output of a version 4 state, as read.
#[derive(serde::Deserialize)]
struct OutputV4 {
    #[serde(default)]
    value: serde_json::Value,
    #[serde(rename = "type", default)]
    ty: Option<serde_json::Value>,
    #[serde(default)]
    sensitive: bool,
}

impl From<OutputV4> for StateOutput {
    fn from(o: OutputV4) -> StateOutput {
        StateOutput {
            value: o.value,
            ty: o.ty,
            sensitive: o.sensitive,
        }
    }
}

/// One resource of a version 4 state, owned (a stream lends nothing).
#[derive(serde::Deserialize)]
struct ResourceV4 {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(rename = "type")]
    rtype: String,
    name: String,
    #[serde(default)]
    instances: Vec<InstanceV4>,
}

/// One instance object of a version 4 resource, owned.
#[derive(serde::Deserialize)]
struct InstanceV4 {
    #[serde(default)]
    index_key: Option<serde_json::Value>,
    #[serde(default)]
    deposed: Option<String>,
    #[serde(default)]
    attributes: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    sensitive_attributes: Option<Vec<Vec<PathStep>>>,
}

/// `a` [`minify`]d (`a` itself when it has no whitespace to drop).
fn compact_owned(a: Box<serde_json::value::RawValue>) -> Box<serde_json::value::RawValue> {
    match minify(a.get()) {
        Some(m) => serde_json::value::RawValue::from_string(m).unwrap_or(a),
        None => a,
    }
}

/// A reader that passes on only bytes that are valid UTF-8 so far, and fails at the first
/// invalid sequence (or one cut by the end): JSON is UTF-8, and the parser does not look
/// inside every string it skips.
struct Utf8Checked<R> {
    inner: R,
    buf: Box<[u8]>,
    /// `buf[start..valid]` is checked and not yet handed out; `buf[valid..end]` is the start
    /// of a character whose remaining bytes are still to be read.
    start: usize,
    valid: usize,
    end: usize,
    eof: bool,
}

impl<R: io::Read> Utf8Checked<R> {
    fn new(inner: R) -> Self {
        Utf8Checked {
            inner,
            buf: vec![0; 1 << 16].into_boxed_slice(),
            start: 0,
            valid: 0,
            end: 0,
            eof: false,
        }
    }
}

impl<R: io::Read> io::Read for Utf8Checked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidData, "the state is not UTF-8");
        while self.start == self.valid {
            if self.eof {
                return if self.end > self.valid {
                    Err(invalid())
                } else {
                    Ok(0)
                };
            }
            // Keep the cut character's first bytes, then read behind them.
            self.buf.copy_within(self.valid..self.end, 0);
            self.end -= self.valid;
            self.start = 0;
            self.valid = 0;
            let n = match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
                continue;
            }
            self.end += n;
            self.valid = match std::str::from_utf8(&self.buf[..self.end]) {
                Ok(_) => self.end,
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => return Err(invalid()),
            };
        }
        let n = out.len().min(self.valid - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// Formats 1-3 (Terraform before 0.12): `modules[].resources` keyed `type.name[.N]`, with flat
/// string attributes (`tags.%`, `list.#`), upgraded to the nested form Terraform 0.12+ reads.
fn read_legacy(bytes: &[u8]) -> Result<StateContent, Invalid> {
    use std::collections::BTreeMap;
    #[derive(serde::Deserialize)]
    struct S {
        version: u64,
        #[serde(default)]
        modules: Vec<M>,
    }
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(default)]
        path: Vec<String>,
        #[serde(default)]
        outputs: BTreeMap<String, serde_json::Value>,
        #[serde(default)]
        resources: BTreeMap<String, R>,
    }
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "type", default)]
        rtype: Option<String>,
        #[serde(default)]
        primary: Option<P>,
        #[serde(default)]
        deposed: Vec<P>,
    }
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        attributes: BTreeMap<String, serde_json::Value>,
    }
    let s: S = serde_json::from_slice(bytes).map_err(json_error)?;
    let mut out = StateContent {
        version: s.version,
        ..StateContent::default()
    };
    let object = |p: P| -> StateObject {
        let mut flat: BTreeMap<String, String> = p
            .attributes
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, s)
            })
            .collect();
        if let Some(id) = p.id {
            flat.entry("id".into()).or_insert(id);
        }
        let v = unflatten(&flat);
        StateObject {
            attributes: serde_json::value::to_raw_value(&v).unwrap_or_else(|_| raw_empty()),
            sensitive: Vec::new(),
        }
    };
    for m in s.modules {
        let module: String = m
            .path
            .iter()
            .skip(1)
            .map(|p| format!("module.{p}"))
            .collect::<Vec<_>>()
            .join(".");
        if m.path.len() <= 1 {
            for (k, o) in m.outputs {
                let (value, sensitive) = match o {
                    serde_json::Value::Object(mut map) => (
                        map.remove("value").unwrap_or_default(),
                        map.get("sensitive").and_then(serde_json::Value::as_bool) == Some(true),
                    ),
                    other => (other, false),
                };
                out.outputs.insert(
                    k,
                    StateOutput {
                        value,
                        ty: None,
                        sensitive,
                    },
                );
            }
        }
        for (key, r) in m.resources {
            let mut parts: Vec<&str> = key.split('.').collect();
            let data = parts.first() == Some(&"data");
            if data {
                parts.remove(0);
            }
            let (rtype, name, index) = match parts.as_slice() {
                [t, n] => (t.to_string(), n.to_string(), None),
                [t, n, i] => (t.to_string(), n.to_string(), i.parse::<i64>().ok()),
                _ => continue,
            };
            let address = Address {
                module: module.clone(),
                data,
                rtype: r.rtype.clone().unwrap_or(rtype),
                name,
                key: index.map(Key::Int),
            };
            out.instances.insert(
                address.to_string(),
                StateInstance {
                    address,
                    current: r.primary.map(object),
                    deposed: r.deposed.into_iter().map(object).collect(),
                },
            );
        }
    }
    Ok(out)
}

/// Flat attributes (`tags.%`, `tags.k`, `list.#`, `list.0`) to nested JSON: `%` marks a map,
/// `#` a list; everything else stays a string.
pub fn unflatten(flat: &std::collections::BTreeMap<String, String>) -> serde_json::Value {
    use serde_json::{Map, Value};
    #[derive(Default)]
    struct Node {
        leaf: Option<String>,
        kids: std::collections::BTreeMap<String, Node>,
    }
    let mut root = Node::default();
    for (k, v) in flat {
        let mut cur = &mut root;
        for part in k.split('.') {
            cur = cur.kids.entry(part.to_string()).or_default();
        }
        cur.leaf = Some(v.clone());
    }
    fn build(n: Node) -> Value {
        if n.kids.is_empty() {
            return n.leaf.map(Value::String).unwrap_or(Value::Null);
        }
        if n.kids.contains_key("#") {
            let mut items: Vec<(u64, Value)> = n
                .kids
                .into_iter()
                .filter(|(k, _)| k != "#")
                .map(|(k, v)| (k.parse::<u64>().unwrap_or(u64::MAX), build(v)))
                .collect();
            items.sort_by_key(|(i, _)| *i);
            return Value::Array(items.into_iter().map(|(_, v)| v).collect());
        }
        let mut m = Map::new();
        for (k, v) in n.kids {
            if k != "%" {
                m.insert(k, build(v));
            }
        }
        Value::Object(m)
    }
    build(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[u8] = br#"{"version": 4, "terraform_version": "1.0.3", "serial": 3,
        "lineage": "abc", "outputs": {}, "resources": [
          {"type": "null_resource", "name": "a", "instances": [{"attributes": {}}]},
          {"type": "null_resource", "name": "b", "instances": [{}, {}]}]}"#;

    #[test]
    fn good_state_is_valid() {
        let i = parse_state(GOOD).unwrap();
        assert_eq!(i.serial, 3);
        assert_eq!(i.lineage, "abc");
        assert_eq!(i.terraform_version.as_deref(), Some("1.0.3"));
        assert_eq!(i.resources, 3);
    }

    #[test]
    fn empty_and_whitespace_are_empty() {
        assert_eq!(parse_state(b""), Err(Invalid::Empty));
        assert_eq!(parse_state(b" \n\t"), Err(Invalid::Empty));
    }

    #[test]
    fn truncated_json_is_invalid() {
        let e = parse_state(&GOOD[..60]).unwrap_err();
        assert!(
            matches!(e, Invalid::Json(ref m) if m.starts_with("truncated")),
            "{e}"
        );
    }

    #[test]
    fn trailing_garbage_is_invalid() {
        let mut b = GOOD.to_vec();
        b.extend_from_slice(b" x");
        assert!(matches!(parse_state(&b), Err(Invalid::Json(_))));
    }

    #[test]
    fn wrong_versions() {
        for v in ["0", "5", "\"4\"", "4.0"] {
            let s = format!(r#"{{"version": {v}, "serial": 1, "lineage": "l", "resources": []}}"#);
            assert!(
                matches!(parse_state(s.as_bytes()), Err(Invalid::Version(_))),
                "{v}"
            );
        }
        let s = br#"{"serial": 1, "lineage": "l", "resources": []}"#;
        assert_eq!(parse_state(s), Err(Invalid::Version("is missing".into())));
    }

    #[test]
    fn lineage_serial_resources_types() {
        let s = br#"{"version": 4, "serial": 1, "resources": []}"#;
        assert!(matches!(parse_state(s), Err(Invalid::Lineage(_))));
        let s = br#"{"version": 4, "serial": 1, "lineage": 7, "resources": []}"#;
        assert!(matches!(parse_state(s), Err(Invalid::Lineage(_))));
        let s = br#"{"version": 4, "serial": "1", "lineage": "l", "resources": []}"#;
        assert!(matches!(parse_state(s), Err(Invalid::Serial(_))));
        let s = br#"{"version": 4, "serial": -1, "lineage": "l", "resources": []}"#;
        assert!(matches!(parse_state(s), Err(Invalid::Serial(_))));
        let s = br#"{"version": 4, "serial": 1.5, "lineage": "l", "resources": []}"#;
        assert!(matches!(parse_state(s), Err(Invalid::Serial(_))));
        let s = br#"{"version": 4, "serial": 1, "lineage": "l", "resources": {}}"#;
        assert!(matches!(parse_state(s), Err(Invalid::Resources(_))));
        let s = br#"{"version": 4, "serial": 1, "lineage": "l"}"#;
        assert!(matches!(parse_state(s), Err(Invalid::Resources(_))));
    }

    #[test]
    fn not_an_object() {
        assert_eq!(parse_state(b"[1,2]"), Err(Invalid::NotObject));
        assert_eq!(parse_state(b"\"x\""), Err(Invalid::NotObject));
        assert_eq!(parse_state(b"null"), Err(Invalid::NotObject));
    }

    #[test]
    fn minify_keeps_strings_and_drops_indentation() {
        let pretty =
            "{\n  \"a\": [ 1, 2 ],\n  \"s\": \"x y\\\" \\\\\",\n  \"é\": { \"k\": null }\n}";
        let m = minify(pretty).unwrap();
        assert_eq!(m, r#"{"a":[1,2],"s":"x y\" \\","é":{"k":null}}"#);
        let a: serde_json::Value = serde_json::from_str(pretty).unwrap();
        let b: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(a, b);
        assert_eq!(minify(&m), None);
    }

    #[test]
    fn escaped_keys_are_understood() {
        let s = br#"{"vers\u0069on": 4, "serial": 1, "lineage": "l", "resources": []}"#;
        assert!(parse_state(s).is_ok());
    }

    /// Hands out at most one byte per read: every character is cut between reads.
    struct Trickle<'a>(&'a [u8]);

    impl io::Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(o)) => {
                    *o = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn streamed(r: impl io::Read) -> Result<Vec<(String, bool, String)>, Invalid> {
        let mut seen = Vec::new();
        stream_v4(r, &mut |a, deposed, o| {
            seen.push((a.to_string(), deposed, o.attributes.get().to_string()))
        })
        .map(|_| seen)
    }

    #[test]
    fn a_stream_cut_inside_characters_is_read_whole() {
        let s = "{\"version\": 4, \"serial\": 1, \"lineage\": \"l\", \"resources\": [\n  {\"type\": \"t\", \"name\": \"n\", \"provider\": \"é😀\",\n   \"instances\": [{\"attributes\": {\"v\": \"ü 😀\"}}, {\"deposed\": \"1\", \"attributes\": {}}]}]}";
        let seen = streamed(Trickle(s.as_bytes())).unwrap();
        assert_eq!(
            seen,
            [
                ("t.n".to_string(), false, r#"{"v":"ü 😀"}"#.to_string()),
                ("t.n".to_string(), true, "{}".to_string())
            ]
        );
    }

    #[test]
    fn a_stream_that_is_not_utf8_is_refused() {
        let ok = br#"{"version": 4, "serial": 1, "lineage": "l", "resources": [{"type": "t", "name": "n", "provider": "p"}]}"#;
        assert!(streamed(Trickle(ok)).is_ok());
        // A broken character in a string the parser only skips, and one cut by the end.
        let bad = [
            &br#"{"version": 4, "serial": 1, "lineage": "l", "resources": [{"type": "t", "name": "n", "provider": ""#[..],
            &[0xff],
            &br#""}]}"#[..],
        ]
        .concat();
        assert!(streamed(Trickle(&bad)).is_err());
        assert!(parse_state(&bad).is_err());
        let mut cut = ok.to_vec();
        cut.extend_from_slice(&[b' ', 0xc3]);
        assert!(streamed(Trickle(&cut)).is_err());
        assert!(parse_state(&cut).is_err());
    }
}
