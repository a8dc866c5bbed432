//! `tfops run`.
use crate::workspace::Context;
/// # Errors
/// Not built yet.
pub fn run(_ctx: &Context, _once: bool) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
