//! `tfops cost report`.

use crate::workspace::Context;

/// # Errors
/// Not built yet.
pub fn report(_ctx: &Context, _json: bool, _at: Option<&str>) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops cost report` is not built yet")
}
