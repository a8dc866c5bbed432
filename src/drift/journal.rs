//! Journal placeholder.
use crate::workspace::Workspace;
/// Heals.
///
/// # Errors
/// Never yet.
pub fn heal(_ws: &Workspace) -> std::io::Result<()> {
    Ok(())
}
