//! `tfops demo`: a guided tour on a throw-away copy of the workspace.

use crate::workspace::Context;

/// # Errors
/// Not built yet.
pub fn run(_ctx: &Context) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops demo` is not built yet")
}
