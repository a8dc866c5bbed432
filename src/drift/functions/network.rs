//! Network functions: `cidrsubnet`, `cidrhost`, `cidrnetmask`, `cidrsubnets`, for IPv4 and
//! IPv6 prefixes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{arg_int, arg_str, arity, err, FResult, FuncError};
use crate::drift::value::Value;

/// Dispatches a network function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    Some(match name {
        "cidrsubnet" => cidrsubnet(a),
        "cidrhost" => cidrhost(a),
        "cidrnetmask" => cidrnetmask(a),
        "cidrsubnets" => cidrsubnets(a),
        _ => return None,
    })
}

/// A parsed prefix: address as a number, prefix length, address width (32 or 128).
struct Prefix {
    addr: u128,
    len: u32,
    bits: u32,
}

fn parse(s: &str) -> Result<Prefix, FuncError> {
    let bad = || FuncError(format!("invalid CIDR address: {s}"));
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let len: u32 = len.parse().map_err(|_| bad())?;
    let (addr, bits) = match ip {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    };
    if len > bits {
        return Err(bad());
    }
    let host = bits - len;
    let net = if host >= 128 { 0 } else { addr >> host << host };
    Ok(Prefix {
        addr: net,
        len,
        bits,
    })
}

fn fmt_addr(a: u128, bits: u32) -> String {
    if bits == 32 {
        Ipv4Addr::from(a as u32).to_string()
    } else {
        Ipv6Addr::from(a).to_string()
    }
}

fn subnet(p: &Prefix, newbits: i64, num: i64) -> Result<Prefix, FuncError> {
    if newbits < 0 {
        return err("must extend prefix by at least 0 bits");
    }
    let newlen = p.len as i64 + newbits;
    if newlen > p.bits as i64 {
        return err(format!(
            "insufficient address space to extend prefix of {} by {newbits}",
            p.len
        ));
    }
    if num < 0 || (newbits < 64 && num as u128 >= 1u128 << newbits) {
        return err(format!(
            "prefix extension of {newbits} does not accommodate a subnet numbered {num}"
        ));
    }
    let host = p.bits - newlen as u32;
    let add = if host >= 128 {
        0
    } else {
        (num as u128) << host
    };
    Ok(Prefix {
        addr: p.addr | add,
        len: newlen as u32,
        bits: p.bits,
    })
}

fn cidrsubnet(a: &[Value]) -> FResult {
    arity("cidrsubnet", a, 3, 3)?;
    let p = parse(&arg_str(a, 0, "prefix")?)?;
    let s = subnet(&p, arg_int(a, 1, "newbits")?, arg_int(a, 2, "netnum")?)?;
    Ok(Value::String(format!(
        "{}/{}",
        fmt_addr(s.addr, s.bits),
        s.len
    )))
}

fn cidrhost(a: &[Value]) -> FResult {
    arity("cidrhost", a, 2, 2)?;
    let p = parse(&arg_str(a, 0, "prefix")?)?;
    let n = arg_int(a, 1, "hostnum")?;
    let host = p.bits - p.len;
    let size: i128 = if host >= 127 {
        i128::MAX
    } else {
        1i128 << host
    };
    let idx = if n < 0 {
        size + i128::from(n)
    } else {
        i128::from(n)
    };
    if idx < 0 || idx >= size {
        return err(format!(
            "prefix of {} does not accommodate a host numbered {n}",
            p.len
        ));
    }
    Ok(Value::String(fmt_addr(p.addr | idx as u128, p.bits)))
}

fn cidrnetmask(a: &[Value]) -> FResult {
    arity("cidrnetmask", a, 1, 1)?;
    let p = parse(&arg_str(a, 0, "prefix")?)?;
    if p.bits != 32 {
        return err("only IPv4 networks have netmasks");
    }
    let mask = if p.len == 0 {
        0
    } else {
        u32::MAX << (32 - p.len)
    };
    Ok(Value::String(Ipv4Addr::from(mask).to_string()))
}

fn cidrsubnets(a: &[Value]) -> FResult {
    arity("cidrsubnets", a, 1, usize::MAX)?;
    let p = parse(&arg_str(a, 0, "prefix")?)?;
    let mut out = Vec::new();
    let mut next: u128 = p.addr; // the first free address
    let end: u128 = if p.bits - p.len >= 128 {
        u128::MAX
    } else {
        p.addr + (1u128 << (p.bits - p.len))
    };
    for i in 1..a.len() {
        let nb = arg_int(a, i, "newbits")?;
        if nb < 1 {
            return err("must extend prefix by at least one bit");
        }
        let newlen = p.len as i64 + nb;
        if newlen > p.bits as i64 {
            return err(format!(
                "would extend prefix to {newlen} bits, which is too long for this address"
            ));
        }
        let host = p.bits - newlen as u32;
        let size = 1u128 << host;
        let start = next.div_ceil(size) * size;
        if start + size > end {
            return err(format!("not enough remaining address space for a subnet with a prefix of {newlen} bits after {}", out.last().map_or(String::new(), |v: &Value| match v { Value::String(s) => s.clone(), _ => String::new() })));
        }
        out.push(Value::String(format!(
            "{}/{}",
            fmt_addr(start, p.bits),
            newlen
        )));
        next = start + size;
    }
    Ok(Value::List(out))
}
