//! `tfops prune [--dry-run]`: apply snapshot retention now, printing every snapshot kept or
//! dropped and why (restic's `forget --dry-run`). The decisions are `state::retention`'s, the
//! same the daemon applies after each snapshot.

use crate::state::snapshot;
use crate::workspace::ConfiguredWorkspace;

/// # Errors
/// When the backups folder cannot be listed or locked.
pub fn run(ctx: &ConfiguredWorkspace, dry_run: bool) -> anyhow::Result<i32> {
    let cfg = &ctx.config;
    let backups = &cfg.state.backups;
    let rel = ctx.ws.rel(backups).into_owned();
    // Hold the writers' lock so that no snapshot lands between the plan and the removal.
    let _lock = if dry_run || !backups.exists() {
        None
    } else {
        Some(snapshot::lock_backups(backups).map_err(|e| {
            anyhow::anyhow!("cannot lock {rel} ({e}); check that folder's permissions")
        })?)
    };
    let plan = snapshot::prune_plan(cfg).map_err(|e| {
        anyhow::anyhow!("cannot list the snapshots in {rel} ({e}); check that folder's permissions")
    })?;
    if plan.decisions.is_empty() {
        println!("no snapshots in {rel}");
        return Ok(0);
    }
    for d in &plan.decisions {
        let word = match (d.kept(), dry_run) {
            (true, _) => "keep",
            (false, true) => "would drop",
            (false, false) => "drop",
        };
        println!("{word:<10} {}  {}", d.id, d.why());
    }
    let dropped = plan.dropped().len();
    let kept = plan.decisions.len() - dropped;
    if dry_run {
        println!("{kept} kept, {dropped} would be dropped (dry run: nothing removed)");
        return Ok(0);
    }
    let removed = snapshot::apply_plan(cfg, &plan);
    if removed.len() != dropped {
        anyhow::bail!(
            "{} of {dropped} snapshots could not be removed from {rel}; check that folder's permissions (-v says which)",
            dropped - removed.len()
        );
    }
    println!("{kept} kept, {dropped} dropped");
    Ok(0)
}
