//! Scripted drift scenarios: a scenario file (HCL, `config/scenarios/*.hcl`) lists steps that
//! rewrite the configuration (`rename`, `set`, `remove`, `add`) or damage the state
//! (`delete_state`, `corrupt_state`); then drift is detected and the `expect` block checked.
//!
//! The configuration is rewritten with hcl-edit, which keeps comments, blank lines and
//! indentation: an untouched line stays byte for byte, comments above a block belong to it
//! (they go when it is removed), and new blocks or attributes are parsed from text, never
//! built in code, so they carry their own layout. Every step is applied in memory first: a
//! step that cannot apply breaks the scenario (exit 3) before any file is touched.
//!
//! By default the result is written to a temporary copy of the module folder and the state,
//! so the workspace (and a running daemon) sees nothing. In place, every touched file is
//! journaled first ([`crate::drift::journal`]) and put back at the end, whatever happens.
//!
//! - [`parse`]: the scenario file into a [`Scenario`] (steps and expectations), with positions.
//! - [`steps`]: the steps applied in memory, one function per step, into a [`Plan`] of file
//!   changes; nothing is written.
//! - [`run`]: writing a plan to a copy or in place (journaled, signals, put back), detecting,
//!   checking the expectations.
//!
//! Printing and the command line's exit codes live in `cli::scenario`.

use std::path::PathBuf;

use hcl_edit::expr::Expression;

use super::journal::JournalError;

pub mod parse;
pub mod run;
pub mod steps;

pub use parse::{load, parse_scenario, resolve};
pub use run::{check, revert, run, run_in_place, run_on_copy, Checked, Outcome};
pub use steps::plan;

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario itself is broken: a parse error or a step that cannot apply (exit 3).
    #[error("{at}: {message}")]
    Broken { at: String, message: String },
    /// The scenario file cannot be read.
    #[error("cannot read the scenario {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The in-place journal refused or failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

fn broken(at: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Broken {
        at: at.into(),
        message: message.into(),
    }
}

/// One step of a scenario.
#[derive(Debug, Clone)]
pub enum StepKind {
    Rename {
        from: String,
        to: String,
    },
    Set {
        address: String,
        attribute: String,
        value: Expression,
    },
    Remove {
        address: String,
    },
    Add {
        file: Option<String>,
        block: String,
    },
    DeleteState,
    CorruptState {
        truncate_to: usize,
    },
}

/// A step and where the scenario file writes it.
#[derive(Debug, Clone)]
pub struct Step {
    pub at: String,
    pub kind: StepKind,
}

impl Step {
    fn describe(&self) -> String {
        match &self.kind {
            StepKind::Rename { from, to } => format!("rename {from} -> {to}"),
            StepKind::Set {
                address, attribute, ..
            } => format!("set {address}.{attribute}"),
            StepKind::Remove { address } => format!("remove {address}"),
            StepKind::Add { .. } => "add a block".to_string(),
            StepKind::DeleteState => "delete the state".to_string(),
            StepKind::CorruptState { truncate_to } => {
                format!("corrupt the state (truncate to {truncate_to} bytes)")
            }
        }
    }
}

/// What an expectation wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Exactly these addresses.
    List(Vec<String>),
    /// That many.
    Count(usize),
}

/// One key of the `expect` block.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// `create`, `destroy`, `update`, `renamed`, `unknown`, `ignored` (the addresses of the
    /// findings ignore rules took out), `in_sync` or `exit_code`.
    pub key: String,
    /// The value as written in the scenario file.
    pub written: String,
    pub want: Want,
}

/// A parsed scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub display: String,
    pub description: Option<String>,
    pub steps: Vec<Step>,
    pub expect: Vec<Expectation>,
}

/// A rewritten or removed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    /// New content; `None` removes the file.
    pub new: Option<Vec<u8>>,
    pub state: bool,
}

/// The steps applied in memory.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// One line per step: what it did and to which file.
    pub log: Vec<String>,
}
