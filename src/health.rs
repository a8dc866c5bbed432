//! What makes a service up, down or off: the checks behind the HealthActor's verdict.

/// A service's state as the router and `status` see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Up,
    Down,
    Off,
}
