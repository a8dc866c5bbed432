//! Scenarios.
use crate::workspace::Context;
/// # Errors
/// x
pub fn run_cli(_ctx: &Context, _f: &std::path::Path, _i: bool, _k: bool) -> anyhow::Result<i32> {
    anyhow::bail!("todo")
}
/// # Errors
/// x
pub fn revert_cli(_ctx: &Context) -> anyhow::Result<i32> {
    anyhow::bail!("todo")
}
