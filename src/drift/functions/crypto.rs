//! Hash and crypto functions: `md5`, `sha1`, `sha256`, `sha512`, `base64sha256`,
//! `base64sha512`, `uuidv5`. (`uuid` and `bcrypt` are random: unknown until apply.)

use base64::Engine as _;
use md5::Digest as _;

use super::{arg_str, arity, err, FResult};
use crate::drift::value::Value;

/// Dispatches a hash function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    Some(match name {
        "md5" | "sha1" | "sha256" | "sha512" | "base64sha256" | "base64sha512" => (|| {
            arity(name, a, 1, 1)?;
            let s = arg_str(a, 0, "str")?;
            Ok(Value::String(digest(name, s.as_bytes())))
        })(),
        "uuidv5" => uuidv5(a),
        _ => return None,
    })
}

/// The digest `name` (`md5`, `sha1`, …, `base64sha256`) of `data`, as Terraform writes it.
pub fn digest(name: &str, data: &[u8]) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    match name {
        "md5" => hex(&md5::Md5::digest(data)),
        "sha1" => hex(&sha1::Sha1::digest(data)),
        "sha256" => hex(&sha2::Sha256::digest(data)),
        "base64sha256" => b64(&sha2::Sha256::digest(data)),
        "base64sha512" => b64(&sha2::Sha512::digest(data)),
        _ => hex(&sha2::Sha512::digest(data)),
    }
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let h: String = s.chars().filter(|c| *c != '-').collect();
    if h.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn uuidv5(a: &[Value]) -> FResult {
    arity("uuidv5", a, 2, 2)?;
    let ns = arg_str(a, 0, "namespace")?;
    let name = arg_str(a, 1, "name")?;
    let ns_id = match ns.as_str() {
        "dns" => "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "url" => "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
        "oid" => "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
        "x500" => "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
        other => other,
    };
    let Some(nsb) = parse_uuid(ns_id) else {
        return err(format!("uuidv5() doesn't support namespace {ns:?}"));
    };
    let mut h = sha1::Sha1::new();
    h.update(nsb);
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut u = [0u8; 16];
    u.copy_from_slice(&d[..16]);
    u[6] = (u[6] & 0x0f) | 0x50;
    u[8] = (u[8] & 0x3f) | 0x80;
    let x: String = u.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Value::String(format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )))
}
