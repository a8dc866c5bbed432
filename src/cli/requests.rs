//! `tfops requests`.
use crate::workspace::Context;
/// # Errors
/// Not built yet.
pub fn generate(_ctx: &Context, _n: u64, _prefix: &str) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
