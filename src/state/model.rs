//! The tfstate model: what makes a state file valid, read in one pass without building a
//! `serde_json::Value` (typed visitors and `IgnoredAny`), and the resource addresses of a state.
//!
//! Valid (SPEC "State protection"): a JSON object with `version` 4, a string `lineage`, an
//! integer `serial` and a `resources` array. An empty file counts as lost, like a missing one.
//! Open and parse apart: [`load_state`] reads a file, [`parse_state`] checks bytes. This module
//! does not know about snapshots, locks or actors.

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
            Invalid::Version(m) => write!(f, "version {m}, expected 4"),
            Invalid::Lineage(m) => write!(f, "lineage {m}, expected a string"),
            Invalid::Serial(m) => write!(f, "serial {m}, expected an integer"),
            Invalid::Resources(m) => write!(f, "resources {m}, expected an array"),
        }
    }
}

/// The verdict on a state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Missing,
    Invalid(Invalid),
    Valid(StateInfo),
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid(_))
    }
    /// "missing", "empty", "invalid (…)", "valid".
    pub fn describe(&self) -> String {
        match self {
            Verdict::Missing => "missing".into(),
            Verdict::Invalid(Invalid::Empty) => "empty".into(),
            Verdict::Invalid(i) => format!("invalid: {i}"),
            Verdict::Valid(_) => "valid".into(),
        }
    }
}

/// Errors reading a state file (a missing one is not an error: [`Verdict::Missing`]).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read the state {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
}

/// Reads and checks the state file at `path`.
///
/// # Errors
/// [`ModelError::Read`] when the file exists but cannot be read.
pub fn load_state(path: &Path) -> Result<(Verdict, Vec<u8>), ModelError> {
    // Never blocks: a fifo or device in the state's place is refused, not waited on.
    match crate::fsutil::read_regular(path, true) {
        Ok(bytes) => {
            let v = match parse_state(&bytes) {
                Ok(i) => Verdict::Valid(i),
                Err(e) => Verdict::Invalid(e),
            };
            Ok((v, bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Verdict::Missing, Vec::new())),
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
        for v in ["3", "5", "\"4\"", "4.0"] {
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
    fn escaped_keys_are_understood() {
        let s = br#"{"vers\u0069on": 4, "serial": 1, "lineage": "l", "resources": []}"#;
        assert!(parse_state(s).is_ok());
    }
}
