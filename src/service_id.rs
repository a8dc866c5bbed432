//! [`ServiceId`]: service N as the workspace names it, `service_N` (N from 1, no sign, no
//! leading zero). A leaf: it imports nothing from the crate.

use std::fmt;
use std::str::FromStr;

/// Service N (1-based); displays as `service_N`, parses from exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(pub usize);

impl ServiceId {
    /// N.
    pub fn get(self) -> usize {
        self.0
    }

    /// `service_1` … `service_{count}`, in order.
    pub fn all(count: usize) -> impl Iterator<Item = ServiceId> + Clone {
        (1..=count).map(ServiceId)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service_{}", self.0)
    }
}

/// Text that is not `service_N` with N ≥ 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a service name like \"service_1\"")]
pub struct NotAServiceName(pub String);

impl FromStr for ServiceId {
    type Err = NotAServiceName;

    fn from_str(s: &str) -> Result<ServiceId, NotAServiceName> {
        let bad = || NotAServiceName(s.to_string());
        let digits = s.strip_prefix("service_").ok_or_else(bad)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
            return Err(bad());
        }
        let n: usize = digits.parse().map_err(|_| bad())?;
        Ok(ServiceId(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<usize> {
        s.parse::<ServiceId>().ok().map(ServiceId::get)
    }

    #[test]
    fn service_names_parse_strictly() {
        assert_eq!(parse("service_3"), Some(3));
        assert_eq!(parse("service_0"), None);
        assert_eq!(parse("service_03"), None);
        assert_eq!(parse("service_+3"), None);
        assert_eq!(parse("svc_3"), None);
        assert_eq!(parse("service_"), None);
        assert_eq!(parse("service_3 "), None);
    }

    #[test]
    fn display_round_trips() {
        assert_eq!(ServiceId(12).to_string(), "service_12");
        assert_eq!(parse(&ServiceId(12).to_string()), Some(12));
    }
}
