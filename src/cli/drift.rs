//! `tfops drift`, `scenario run`, `scenario revert`.

use std::path::Path;

use crate::workspace::Context;

/// # Errors
/// Not built yet.
pub fn drift(_ctx: &Context, _json: bool, _detailed: bool) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops drift` is not built yet")
}
/// # Errors
/// Not built yet.
pub fn scenario_run(
    _ctx: &Context,
    _file: &Path,
    _in_place: bool,
    _keep: bool,
) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops scenario run` is not built yet")
}
/// # Errors
/// Not built yet.
pub fn scenario_revert(_ctx: &Context) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops scenario revert` is not built yet")
}
