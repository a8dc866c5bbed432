//! The typed error of drift detection and scenarios: each variant carries the file or address
//! that failed, so that the command line can print one sentence that says where to look.

use std::path::PathBuf;

/// Why drift could not be detected (exit 1 for `tfops drift`).
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `.tf` file is not valid HCL (or not UTF-8).
    #[error("{file}:{line}:{column}: {message}")]
    Hcl {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// The same resource is declared twice in the module.
    #[error("{at}: {address} is declared twice (first at {first})")]
    Duplicate {
        address: String,
        at: String,
        first: String,
    },
    /// Variable values or module sources Terraform would refuse (names the file or variable).
    #[error("{message}")]
    Config { message: String },
    /// The state file exists but is empty (an interrupted Terraform run leaves it so).
    #[error("the state {state} is empty (an interrupted Terraform run leaves it so)")]
    StateEmpty { state: String },
    /// The state file is not a valid Terraform state (formats 1-4 are read).
    #[error("the state {state} is not a valid Terraform state: {reason}")]
    StateInvalid { state: String, reason: String },
    /// An ignore rule (`.driftignore`, `drift.ignore`) that cannot be understood.
    #[error("{0}")]
    Ignore(#[from] super::ignore::IgnoreError),
    /// The state in Terraform's S3 backend could not be read (the store's message; never
    /// credentials).
    #[error("the remote state cannot be read: {0}")]
    Remote(String),
    /// The backend names a state tfops cannot use (an S3 backend without usable
    /// credentials, a local path outside the workspace): the message says which and why.
    #[error("{0}")]
    Backend(String),
}

impl DriftError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DriftError {
        DriftError::Io {
            path: path.into(),
            source,
        }
    }

    /// The sentence to add after the error, saying what to do next.
    pub fn hint(&self) -> &'static str {
        match self {
            DriftError::Io { .. } => "check that drift.dir and state.path point at readable files",
            DriftError::Hcl { .. } | DriftError::Duplicate { .. } | DriftError::Config { .. } => {
                "fix the configuration at that position and run `tfops drift` again"
            }
            DriftError::Ignore(_) => {
                "fix that rule (type.name, type.*, type.name.attribute, `!` for an exception, `#` for a comment) and run `tfops drift` again"
            }
            DriftError::StateEmpty { .. } | DriftError::StateInvalid { .. } => {
                "`tfops backups` lists snapshots and `tfops restore --latest` puts the newest valid one back"
            }
            DriftError::Backend(_) => {
                "fix the backend block in drift.dir (or run `terraform init` again), then reload the daemon (SIGHUP)"
            }
            DriftError::Remote(_) => {
                "check the backend's endpoint, bucket and the AWS_* credentials in the environment; a lost state is put back by `tfops restore --latest`"
            }
        }
    }
}
