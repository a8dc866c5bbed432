//! `tfops config check`: validate the configuration and print every problem.

use std::path::Path;

use crate::config::{Config, ConfigError};
use crate::workspace::Workspace;

/// # Errors
/// When the file exists but cannot be read.
pub fn run(ws: &Workspace, path: &Path) -> anyhow::Result<i32> {
    let display = ws.rel(path).into_owned();
    if !path.exists() {
        println!("{display} does not exist: the built-in defaults apply");
        return Ok(0);
    }
    match Config::load(path, &display, &ws.root) {
        Ok(cfg) => {
            // What `run` would have: the soft open-file limit raised to the hard one.
            if let Err(why) = crate::rlimit::check_services(cfg.services.count) {
                eprintln!("{display}: {why}");
                eprintln!("{display} has 1 problem(s); fix it and run `tfops config check` again");
                return Ok(1);
            }
            println!(
                "{display} is valid: {} services, strategy {}, {} schedule(s)",
                cfg.services.count,
                cfg.balancer.strategy.as_str(),
                cfg.schedules.len()
            );
            Ok(0)
        }
        Err(ConfigError::Invalid(problems)) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "{display} has {} problem(s); fix them and run `tfops config check` again",
                problems.len()
            );
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
