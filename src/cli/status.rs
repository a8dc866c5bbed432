//! `tfops status`.
use crate::workspace::Context;
/// # Errors
/// Not built yet.
pub fn run(_ctx: &Context, _json: bool) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
