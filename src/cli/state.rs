//! `tfops backup`, `backups`, `restore`, `verify`: the state protection commands.

use crate::cli::RestoreArgs;
use crate::workspace::Context;

/// # Errors
/// Not built yet.
pub fn backup(_ctx: &Context) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops backup` is not built yet")
}
/// # Errors
/// Not built yet.
pub fn backups(_ctx: &Context, _json: bool) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops backups` is not built yet")
}
/// # Errors
/// Not built yet.
pub fn restore(_ctx: &Context, _args: &RestoreArgs) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops restore` is not built yet")
}
/// # Errors
/// Not built yet.
pub fn verify(_ctx: &Context) -> anyhow::Result<i32> {
    anyhow::bail!("`tfops verify` is not built yet")
}
