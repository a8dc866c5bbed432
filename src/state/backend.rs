//! Which Terraform state tfops protects: the backend (local file or an S3 object) and the
//! Terraform workspace.
//!
//! The backend comes from what `terraform init` recorded in `.terraform/terraform.tfstate`
//! (partial `-backend-config` included) when that file names one, else from the root module's
//! `terraform { backend "s3" { … } }` block. Only the settings tfops needs are read (bucket,
//! key, region, endpoints, path style, workspace prefix, lock settings, and the profile and
//! profile files to take credentials from); credentials that a backend block or an init record
//! may carry are never read, kept or shown: tfops takes its credentials from the standard AWS
//! environment or the shared profile files (`aws_profile`).
//!
//! The workspace: `--workspace`, else `TF_WORKSPACE`, else `.terraform/environment`, else
//! `default`. Local states of other workspaces live in `terraform.tfstate.d/<name>/`, S3 ones
//! under `<workspace_key_prefix>/<name>/<key>` (prefix `env:` by default), and their snapshots
//! in `backups/<name>/`.
//!
//! Pure apart from reading those few files ([`discover`]); no network here (`remote` talks
//! to the store).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::aws_profile::ProfileSettings;
use crate::config::Config;

/// The workspace every Terraform configuration has.
pub const DEFAULT_WORKSPACE: &str = "default";
/// Terraform's default `workspace_key_prefix`.
pub const DEFAULT_KEY_PREFIX: &str = "env:";

/// The settings of a `backend "s3"` that locate the state and its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Backend {
    pub bucket: String,
    pub key: String,
    pub region: Option<String>,
    /// `endpoints.s3` (or the older `endpoint`).
    pub endpoint: Option<String>,
    pub use_path_style: bool,
    pub workspace_key_prefix: String,
    pub use_lockfile: bool,
    pub dynamodb_table: Option<String>,
    /// `profile`, `shared_credentials_files`, `shared_config_files`: where credentials come
    /// from when the environment has none (names and paths, never the credentials).
    pub profile: ProfileSettings,
}

impl S3Backend {
    /// The state object's key for `workspace`, as Terraform computes it.
    pub fn object_key(&self, workspace: &str) -> String {
        if workspace == DEFAULT_WORKSPACE {
            self.key.clone()
        } else {
            format!("{}/{workspace}/{}", self.workspace_key_prefix, self.key)
        }
    }

    /// Terraform's lock object (`use_lockfile`) beside the state object.
    pub fn lock_key(&self, workspace: &str) -> String {
        format!("{}.tflock", self.object_key(workspace))
    }

    /// `s3://bucket/key` of the state of `workspace`, for messages and snapshot meta.
    pub fn url(&self, workspace: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.object_key(workspace))
    }
}

/// The settings of a `backend "local"` that locate its state files. Both `None` when the
/// configuration sets neither (no block, or an empty one): tfops' `state.path` then names the
/// default workspace's file, and other workspaces live in `terraform.tfstate.d/` beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalBackend {
    /// `path`: the default workspace's state file, anchored at the root module's folder.
    pub path: Option<PathBuf>,
    /// `workspace_dir`: other workspaces' states are `<dir>/<name>/terraform.tfstate`.
    pub workspace_dir: Option<PathBuf>,
}

impl LocalBackend {
    /// Whether the configuration says where the state is (else `state.path` does).
    pub fn is_set(&self) -> bool {
        self.path.is_some() || self.workspace_dir.is_some()
    }

    /// The state file of `workspace`, when the backend says, by Terraform's rules: `path` for
    /// `default`, `<workspace_dir>/<name>/terraform.tfstate` for the others ([`discover`]
    /// fills in Terraform's defaults for the one not set, relative to the root module).
    pub fn state_file(&self, workspace: &str) -> Option<PathBuf> {
        if workspace == DEFAULT_WORKSPACE {
            self.path.clone()
        } else {
            Some(
                self.workspace_dir
                    .as_ref()?
                    .join(workspace)
                    .join(DEFAULT_STATE_FILE),
            )
        }
    }

    /// Anchors relative paths at `module_dir` (where Terraform runs) and, when one is set,
    /// fills in Terraform's default for the other.
    fn anchored(self, module_dir: &Path) -> LocalBackend {
        if !self.is_set() {
            return self;
        }
        let at = |p: PathBuf| module_dir.join(p);
        LocalBackend {
            path: Some(at(self.path.unwrap_or_else(|| DEFAULT_STATE_FILE.into()))),
            // Terraform joins `workspace_dir` with the name by text, which also folds its
            // `x/..` steps by text (the OS would go to the parent of a link's target); `path`
            // it opens as written.
            workspace_dir: Some(at(cleaned(
                &self
                    .workspace_dir
                    .unwrap_or_else(|| DEFAULT_WORKSPACE_DIR.into()),
            ))),
        }
    }
}

/// `p` with `.` dropped and each `name/..` folded by text, as Go's `filepath.Clean` does: the
/// `..` that climb above a relative start are kept, those above `/` dropped.
fn cleaned(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
}

/// Terraform's state file name, and its folder of workspaces, for the local backend.
const DEFAULT_STATE_FILE: &str = "terraform.tfstate";
const DEFAULT_WORKSPACE_DIR: &str = "terraform.tfstate.d";

/// Where the state lives.
// One value per command or daemon: the size of the S3 variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A file: where `backend "local"` says, else `state.path` (or `terraform.tfstate.d/<ws>/`
    /// beside it).
    Local(LocalBackend),
    S3(S3Backend),
}

impl Backend {
    /// The local backend with no settings: `state.path` names the file.
    pub const fn local() -> Backend {
        Backend::Local(LocalBackend {
            path: None,
            workspace_dir: None,
        })
    }
}

/// The state tfops protects: a workspace of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub workspace: String,
    pub backend: Backend,
}

impl Target {
    /// The remote backend, if any.
    pub fn s3(&self) -> Option<&S3Backend> {
        match &self.backend {
            Backend::S3(b) => Some(b),
            Backend::Local(_) => None,
        }
    }

    /// `cfg` with `state.path` and `state.backups` pointing at this workspace: the local state
    /// file of the workspace (where `backend "local"` puts it, when it says) and
    /// `backups/<name>/` for a workspace other than `default`.
    pub fn apply(&self, cfg: &Config) -> Config {
        let mut out = cfg.clone();
        if self.workspace != DEFAULT_WORKSPACE {
            out.state.backups = cfg.state.backups.join(&self.workspace);
        }
        if let Backend::Local(l) = &self.backend {
            out.state.path = match l.state_file(&self.workspace) {
                Some(p) => p,
                None => local_state_path(&cfg.state.path, &self.workspace),
            };
        }
        out
    }

    /// [`Target::apply`] for a process working in the workspace folder `root`: refused as
    /// [`Target::check_inside`] says, and a state file that the `.tf` files chose is confined
    /// to `root` (restores reach its folder without following links). The root module's
    /// folder (`drift.dir`) is the operator's choice too, and may be a link or lie outside
    /// `root`: a file outside `root` but inside it is accepted, and confined to it.
    ///
    /// # Errors
    /// As [`Target::check_inside`] for `root`, when the file is not inside `drift.dir` either.
    pub fn apply_in(&self, cfg: &Config, root: &Path) -> Result<Config, String> {
        let within = match self.check_inside(root) {
            Ok(()) => root.to_path_buf(),
            Err(_) if self.check_inside(&cfg.drift.dir).is_ok() => cfg.drift.dir.clone(),
            Err(e) => return Err(e),
        };
        self.check_not_tfops_own(cfg, root)?;
        let mut out = self.apply(cfg);
        if matches!(&self.backend, Backend::Local(l) if l.is_set()) {
            out.state.confine = Some(within);
        }
        Ok(out)
    }

    /// Refuses a local backend whose state file for this workspace is outside the workspace
    /// folder `root`: `iac/*.tf` may be edited by people who must not make tfops snapshot,
    /// restore or watch files elsewhere (`path = "/etc/…"`, `../../…`, or a link out).
    ///
    /// # Errors
    /// A message naming the path as written in the backend, for an alarm or an error.
    pub fn check_inside(&self, root: &Path) -> Result<(), String> {
        let Backend::Local(l) = &self.backend else {
            return Ok(());
        };
        let Some(file) = l.state_file(&self.workspace) else {
            return Ok(());
        };
        if inside(root, &file) {
            Ok(())
        } else {
            Err(format!(
                "the local backend's state file {} is outside the workspace {}; tfops protects state inside the workspace only (set `path` / `workspace_dir` in `backend \"local\"` to a place inside it)",
                file.display(),
                root.display()
            ))
        }
    }

    /// Refuses a local backend whose state file for this workspace is in one of tfops' own
    /// folders (its configuration, the snapshots, `.tfops`, the services' and logs folders):
    /// a restore there (auto_restore needs no one) would replace tfops' files with a state.
    ///
    /// # Errors
    /// A message naming the path as written in the backend and the folder.
    fn check_not_tfops_own(&self, cfg: &Config, root: &Path) -> Result<(), String> {
        let Backend::Local(l) = &self.backend else {
            return Ok(());
        };
        let Some(file) = l.state_file(&self.workspace) else {
            return Ok(());
        };
        let Ok(resolved) = crate::fsutil::resolve_path(&file) else {
            return Ok(()); // refused by check_inside
        };
        let ws = crate::workspace::Workspace::new(root);
        let config_dir = ws.config_file().parent().map(Path::to_path_buf);
        let own = config_dir.into_iter().chain([
            cfg.state.backups.clone(),
            ws.dot_tfops(),
            ws.balanceador(),
            ws.archived(),
            ws.logs(),
        ]);
        for dir in own {
            if crate::fsutil::resolve_path(&dir).is_ok_and(|d| resolved.starts_with(d)) {
                return Err(format!(
                    "the local backend's state file {} is in tfops' own folder {}; a restore would replace tfops' files there (set `path` / `workspace_dir` in `backend \"local\"` to a place of its own)",
                    file.display(),
                    dir.display()
                ));
            }
        }
        Ok(())
    }

    /// A short description for messages: the file or `s3://…` URL and the workspace.
    pub fn describe(&self, cfg: &Config) -> String {
        let eff = self.apply(cfg);
        let place = match &self.backend {
            Backend::Local(_) => eff.state.path.display().to_string(),
            Backend::S3(b) => b.url(&self.workspace),
        };
        if self.workspace == DEFAULT_WORKSPACE {
            place
        } else {
            format!("{place} (workspace {})", self.workspace)
        }
    }
}

/// The `protected_state` member of `status --json`: `{"backend": "local"|"s3", "location",
/// "workspace"}` (the file relative to the workspace folder `root`, or the `s3://` URL), or
/// `{"error", "workspace"}` when the backend cannot be used. `applied`: `cfg` already points
/// at the workspace's file ([`Target::apply`] done).
pub fn protected_state(
    cfg: &Config,
    root: &Path,
    workspace: &str,
    applied: bool,
) -> serde_json::Value {
    let t = match discover(&cfg.drift.dir) {
        Ok(backend) => Target {
            workspace: workspace.to_string(),
            backend,
        },
        Err(e) => return serde_json::json!({ "error": e.to_string(), "workspace": workspace }),
    };
    let eff = match t.apply_in(cfg, root) {
        Ok(eff) => eff,
        Err(e) => return serde_json::json!({ "error": e, "workspace": workspace }),
    };
    let (kind, location) = match &t.backend {
        Backend::S3(b) => ("s3", b.url(workspace)),
        Backend::Local(_) => {
            let p = if applied {
                &cfg.state.path
            } else {
                &eff.state.path
            };
            let shown = p.strip_prefix(root).unwrap_or(p);
            ("local", shown.display().to_string())
        }
    };
    serde_json::json!({ "backend": kind, "location": location, "workspace": workspace })
}

/// Whether `path` is inside `root` (and not `root` itself) where the system would reach it now:
/// links resolved, and a `..` after a link going to the parent of the link's target, as it does
/// when tfops and Terraform open `path` ([`crate::fsutil::resolve_path`]). A link that cannot be
/// followed is refused.
fn inside(root: &Path, path: &Path) -> bool {
    let Ok(root) = std::fs::canonicalize(root) else {
        return false;
    };
    crate::fsutil::resolve_path(path).is_ok_and(|full| full.starts_with(&root) && full != root)
}

/// The local state file of `workspace`, given the default workspace's `state.path`.
pub fn local_state_path(default_path: &Path, workspace: &str) -> PathBuf {
    if workspace == DEFAULT_WORKSPACE {
        return default_path.to_path_buf();
    }
    let dir = default_path.parent().unwrap_or(Path::new("."));
    let file = default_path
        .file_name()
        .map(|f| f.to_os_string())
        .unwrap_or_else(|| "terraform.tfstate".into());
    dir.join("terraform.tfstate.d").join(workspace).join(file)
}

/// Errors finding the backend or the workspace.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("backend \"{kind}\" in {} is not supported (tfops protects the local and s3 backends)", path.display())]
    Unsupported { path: PathBuf, kind: String },
    #[error("backend \"s3\" in {} has no `{field}`; pass it to `terraform init -backend-config` or set it in the block", path.display())]
    Missing { path: PathBuf, field: &'static str },
    #[error("{name:?} is not a workspace name (letters, digits, `-`, `_`, `.`; not `.` or `..`)")]
    BadWorkspace { name: String },
}

/// Whether `name` can be a Terraform workspace name and a folder name.
pub fn valid_workspace(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 90
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The workspace in force: the flag, else `TF_WORKSPACE`, else `.terraform/environment` in
/// `module_dir`, else `default`.
///
/// # Errors
/// [`BackendError::BadWorkspace`] for a name that is not a safe folder name;
/// [`BackendError::Io`] when `.terraform/environment` exists but cannot be read.
pub fn resolve_workspace(
    flag: Option<&str>,
    env: Option<&str>,
    module_dir: &Path,
) -> Result<String, BackendError> {
    let name = match (flag, env.filter(|e| !e.is_empty())) {
        (Some(f), _) => f.to_string(),
        (None, Some(e)) => e.to_string(),
        (None, None) => {
            let p = data_dir(module_dir).join("environment");
            match read_text(&p) {
                Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
                Ok(_) => DEFAULT_WORKSPACE.to_string(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => DEFAULT_WORKSPACE.to_string(),
                Err(source) => return Err(BackendError::Io { path: p, source }),
            }
        }
    };
    if !valid_workspace(&name) {
        return Err(BackendError::BadWorkspace { name });
    }
    Ok(name)
}

/// The workspace chosen when the process started (`run` keeps protecting it).
static PINNED: OnceLock<String> = OnceLock::new();

/// Records the workspace this process works on; the first call wins.
pub fn pin_workspace(name: &str) {
    let _ = PINNED.set(name.to_string());
}

/// The pinned workspace, if [`pin_workspace`] was called.
pub fn pinned_workspace() -> Option<&'static str> {
    PINNED.get().map(String::as_str)
}

/// The target for `cfg`: the backend of its root module (`drift.dir`) and the pinned
/// workspace (or the one in force there).
///
/// # Errors
/// As [`discover`] and [`resolve_workspace`].
pub fn target(cfg: &Config) -> Result<Target, BackendError> {
    let module = &cfg.drift.dir;
    let workspace = match pinned_workspace() {
        Some(w) => w.to_string(),
        None => resolve_workspace(None, std::env::var("TF_WORKSPACE").ok().as_deref(), module)?,
    };
    Ok(Target {
        workspace,
        backend: discover(module)?,
    })
}

/// Terraform's data folder for the root module in `module_dir`: `TF_DATA_DIR` when set
/// (relative to the root module, where Terraform runs), else `.terraform`. It holds the init
/// record (`terraform.tfstate`), the selected workspace (`environment`) and the installed
/// modules (`modules/modules.json`).
pub fn data_dir(module_dir: &Path) -> PathBuf {
    match std::env::var_os("TF_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(d) => module_dir.join(d),
        None => module_dir.join(".terraform"),
    }
}

/// The backend of the root module in `module_dir`: the init record first, then `*.tf`.
///
/// # Errors
/// When a file that names the backend cannot be read or parsed, names another backend type
/// than local or s3, or lacks `bucket` / `key`.
pub fn discover(module_dir: &Path) -> Result<Backend, BackendError> {
    let record = data_dir(module_dir).join("terraform.tfstate");
    // Never a blocking read: a fifo (or anything but a regular file) is refused.
    match crate::fsutil::read_regular(&record, true) {
        Ok(bytes) => {
            if let Some(b) = parse_init_record(&bytes, &record)? {
                return Ok(anchored(b, module_dir));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(BackendError::Io {
                path: record,
                source,
            })
        }
    }
    let rd = match std::fs::read_dir(module_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Backend::local()),
        Err(source) => {
            return Err(BackendError::Io {
                path: module_dir.to_path_buf(),
                source,
            })
        }
    };
    // `*.tf` and `*.tf.json` (Terraform's JSON syntax), not hidden.
    let stem = |p: &Path| -> Option<String> {
        let n = p.file_name()?.to_str()?;
        if n.starts_with('.') {
            return None;
        }
        n.strip_suffix(".tf.json")
            .or_else(|| n.strip_suffix(".tf"))
            .map(str::to_string)
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| stem(p).is_some())
        .collect();
    // Terraform reads the override files (`override.tf`, `*_override.tf`, and the same in
    // JSON) after the others, in name order, and a backend block in one replaces the one
    // found before.
    let is_override =
        |p: &PathBuf| stem(p).is_some_and(|s| s == "override" || s.ends_with("_override"));
    files.sort_by_key(|p| (is_override(p), p.clone()));
    let mut found = None;
    for f in files {
        if found.is_some() && !is_override(&f) {
            continue;
        }
        let text = match read_text(&f) {
            Ok(t) => t,
            Err(source) => return Err(BackendError::Io { path: f, source }),
        };
        // Cheap pre-check: most files declare no backend.
        if !text.contains("backend") {
            continue;
        }
        if f.to_string_lossy().ends_with(".json") {
            if let Some(b) = parse_backend_json(&text, &f)? {
                found = Some(b);
            }
            continue;
        }
        if let Some(b) = parse_backend_block(&text, &f)? {
            found = Some(b);
        }
    }
    Ok(found.map_or_else(Backend::local, |b| anchored(b, module_dir)))
}

/// A regular file's text (a fifo or anything else is refused, never waited on).
fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(crate::fsutil::read_regular(path, true)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Relative profile file paths are relative to where Terraform runs, the root module's
/// folder, not to tfops' own: they are anchored there (`~/…` and absolute paths stay).
fn anchored(b: Backend, module_dir: &Path) -> Backend {
    let mut s = match b {
        Backend::S3(s) => s,
        Backend::Local(l) => return Backend::Local(l.anchored(module_dir)),
    };
    let p = &mut s.profile;
    for f in p
        .shared_credentials_files
        .iter_mut()
        .chain(p.shared_config_files.iter_mut())
    {
        if f != "~" && !f.starts_with("~/") && Path::new(f.as_str()).is_relative() {
            *f = module_dir.join(&*f).display().to_string();
        }
    }
    Backend::S3(s)
}

/// One setting of a backend, as read from HCL or from the init record's JSON.
#[derive(Debug, Default)]
struct Settings {
    bucket: Option<String>,
    key: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    use_path_style: Option<bool>,
    workspace_key_prefix: Option<String>,
    use_lockfile: Option<bool>,
    dynamodb_table: Option<String>,
    profile: ProfileSettings,
}

impl Settings {
    fn build(self, path: &Path) -> Result<Backend, BackendError> {
        let missing = |field| BackendError::Missing {
            path: path.to_path_buf(),
            field,
        };
        Ok(Backend::S3(S3Backend {
            bucket: self
                .bucket
                .filter(|b| !b.is_empty())
                .ok_or_else(|| missing("bucket"))?,
            key: self
                .key
                .filter(|k| !k.is_empty())
                .ok_or_else(|| missing("key"))?,
            region: self.region.filter(|r| !r.is_empty()),
            endpoint: self.endpoint.filter(|e| !e.is_empty()),
            use_path_style: self.use_path_style.unwrap_or(false),
            workspace_key_prefix: self
                .workspace_key_prefix
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_string()),
            use_lockfile: self.use_lockfile.unwrap_or(false),
            dynamodb_table: self.dynamodb_table.filter(|t| !t.is_empty()),
            profile: self.profile,
        }))
    }
}

/// `.terraform/terraform.tfstate` as `terraform init` writes it: `{"backend": {"type",
/// "config": {…}}}`. `None` when it records no backend (or the local one with neither `path`
/// nor `workspace_dir`).
///
/// # Errors
/// When it is not JSON of that shape, or records an unsupported backend.
pub fn parse_init_record(bytes: &[u8], path: &Path) -> Result<Option<Backend>, BackendError> {
    let parse = |reason: String| BackendError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| parse(format!("not JSON ({e})")))?;
    match doc.get("backend").filter(|b| !b.is_null()) {
        Some(backend) => from_record(backend, path),
        None => Ok(None),
    }
}

/// The backend an init record's `{"type", "config"}` (or a `.tf.json` block) names.
fn from_record(backend: &serde_json::Value, path: &Path) -> Result<Option<Backend>, BackendError> {
    let parse = |reason: String| BackendError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let kind = backend.get("type").and_then(|t| t.as_str()).unwrap_or("");
    match kind {
        "" => return Ok(None),
        "local" => {
            let setting = |k: &str| {
                backend
                    .get("config")
                    .and_then(|c| c.get(k))
                    .and_then(|v| v.as_str())
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            };
            let l = LocalBackend {
                path: setting("path"),
                workspace_dir: setting("workspace_dir"),
            };
            return Ok(l.is_set().then_some(Backend::Local(l)));
        }
        "s3" => {}
        other => {
            return Err(BackendError::Unsupported {
                path: path.to_path_buf(),
                kind: other.to_string(),
            })
        }
    }
    let config = backend
        .get("config")
        .and_then(|c| c.as_object())
        .ok_or_else(|| parse("the s3 backend record has no config".into()))?;
    let s = |k: &str| config.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let b = |k: &str| config.get(k).and_then(|v| v.as_bool());
    let list = |k: &str| -> Vec<String> {
        match config.get(k) {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
            Some(serde_json::Value::String(v)) if !v.is_empty() => vec![v.clone()],
            _ => Vec::new(),
        }
    };
    let mut cred_files = list("shared_credentials_files");
    if cred_files.is_empty() {
        cred_files = list("shared_credentials_file");
    }
    let endpoint = match config.get("endpoints") {
        Some(serde_json::Value::Object(o)) => o.get("s3").and_then(|v| v.as_str()),
        Some(serde_json::Value::Array(a)) => {
            a.first().and_then(|o| o.get("s3")).and_then(|v| v.as_str())
        }
        _ => None,
    }
    .map(str::to_string)
    .or_else(|| s("endpoint"));
    let settings = Settings {
        bucket: s("bucket"),
        key: s("key"),
        region: s("region"),
        endpoint,
        use_path_style: b("use_path_style").or_else(|| b("force_path_style")),
        workspace_key_prefix: s("workspace_key_prefix"),
        use_lockfile: b("use_lockfile"),
        dynamodb_table: s("dynamodb_table"),
        profile: ProfileSettings {
            profile: s("profile").filter(|p| !p.is_empty()),
            shared_credentials_files: cred_files,
            shared_config_files: list("shared_config_files"),
        },
    };
    settings.build(path).map(Some)
}

/// The backend of one `.tf.json` file (Terraform's JSON syntax: `{"terraform": {"backend":
/// {"s3": {…}}}}`, each level an object or an array of them); `None` when it declares none.
/// Its settings are read as `terraform init` records them.
///
/// # Errors
/// When the file is not JSON, or the backend is unsupported or lacks `bucket` / `key`.
pub fn parse_backend_json(text: &str, path: &Path) -> Result<Option<Backend>, BackendError> {
    use serde_json::Value as J;
    let doc: J = serde_json::from_str(text).map_err(|e| BackendError::Parse {
        path: path.to_path_buf(),
        reason: format!("not JSON ({e})"),
    })?;
    let items = |v: &J| -> Vec<J> {
        match v {
            J::Array(a) => a.clone(),
            other => vec![other.clone()],
        }
    };
    for tf in doc.get("terraform").map(items).unwrap_or_default() {
        for be in tf.get("backend").map(items).unwrap_or_default() {
            let Some((kind, body)) = be.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let config = items(body).into_iter().next().unwrap_or(J::Null);
            let record = serde_json::json!({"type": kind, "config": config});
            return Ok(Some(
                from_record(&record, path)?.unwrap_or_else(Backend::local),
            ));
        }
    }
    Ok(None)
}

/// The `terraform { backend "…" { … } }` block of one `.tf` file; `None` when it has none.
///
/// # Errors
/// When the file does not parse as HCL, or names an unsupported backend, or lacks `bucket` /
/// `key` (which a partial configuration leaves to `terraform init -backend-config`: run
/// `terraform init` first so that its record is read instead).
pub fn parse_backend_block(text: &str, path: &Path) -> Result<Option<Backend>, BackendError> {
    let body: hcl::Body = hcl::parse(text).map_err(|e| BackendError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    for tf in body.blocks().filter(|b| b.identifier() == "terraform") {
        if let Some(be) = tf.body().blocks().find(|b| b.identifier() == "backend") {
            let kind = be.labels().first().map(|l| l.as_str()).unwrap_or("");
            match kind {
                "local" => {
                    let mut l = LocalBackend::default();
                    for a in be.body().attributes() {
                        let v = hcl_str(a.expr())
                            .filter(|v| !v.is_empty())
                            .map(PathBuf::from);
                        match a.key() {
                            "path" => l.path = v,
                            "workspace_dir" => l.workspace_dir = v,
                            _ => {}
                        }
                    }
                    return Ok(Some(Backend::Local(l)));
                }
                "s3" => {}
                other => {
                    return Err(BackendError::Unsupported {
                        path: path.to_path_buf(),
                        kind: other.to_string(),
                    })
                }
            }
            let mut st = Settings::default();
            for a in be.body().attributes() {
                let v = a.expr();
                match a.key() {
                    "bucket" => st.bucket = hcl_str(v),
                    "key" => st.key = hcl_str(v),
                    "region" => st.region = hcl_str(v),
                    "endpoint" => st.endpoint = st.endpoint.take().or_else(|| hcl_str(v)),
                    "endpoints" => {
                        if let hcl::Expression::Object(o) = v {
                            for (k, e) in o.iter() {
                                let name = match k {
                                    hcl::ObjectKey::Identifier(i) => i.as_str().to_string(),
                                    hcl::ObjectKey::Expression(e) => hcl_str(e).unwrap_or_default(),
                                    _ => String::new(),
                                };
                                if name == "s3" {
                                    st.endpoint = hcl_str(e);
                                }
                            }
                        }
                    }
                    "use_path_style" | "force_path_style" => st.use_path_style = hcl_bool(v),
                    "workspace_key_prefix" => st.workspace_key_prefix = hcl_str(v),
                    "use_lockfile" => st.use_lockfile = hcl_bool(v),
                    "dynamodb_table" => st.dynamodb_table = hcl_str(v),
                    "profile" => st.profile.profile = hcl_str(v).filter(|p| !p.is_empty()),
                    "shared_credentials_files" => st.profile.shared_credentials_files = hcl_strs(v),
                    "shared_credentials_file" if st.profile.shared_credentials_files.is_empty() => {
                        st.profile.shared_credentials_files = hcl_str(v).into_iter().collect();
                    }
                    "shared_config_files" => st.profile.shared_config_files = hcl_strs(v),
                    _ => {}
                }
            }
            return st.build(path).map(Some);
        }
    }
    Ok(None)
}

fn hcl_str(e: &hcl::Expression) -> Option<String> {
    match e {
        hcl::Expression::String(s) => Some(s.clone()),
        hcl::Expression::TemplateExpr(t) => Some(t.to_string().trim_matches('"').to_string()),
        _ => None,
    }
}

fn hcl_strs(e: &hcl::Expression) -> Vec<String> {
    match e {
        hcl::Expression::Array(a) => a
            .iter()
            .filter_map(hcl_str)
            .filter(|s| !s.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn hcl_bool(e: &hcl::Expression) -> Option<bool> {
    match e {
        hcl::Expression::Bool(b) => Some(*b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = r#"
terraform {
  required_version = ">= 1.4"
  backend "s3" {
    bucket         = "tfstate"
    key            = "lab/terraform.tfstate"
    region         = "us-east-1"
    endpoints      = { s3 = "http://127.0.0.1:9000" }
    use_path_style = true
    use_lockfile   = true
    access_key     = "AKIDSECRETNEVERREAD"
    profile        = "team"
    shared_credentials_files = ["~/creds-a", "/etc/creds-b"]
    skip_credentials_validation = true
  }
}
resource "terraform_data" "a" {}
"#;

    #[test]
    fn reads_the_backend_block() {
        let b = parse_backend_block(BLOCK, Path::new("main.tf"))
            .unwrap()
            .unwrap();
        let Backend::S3(s) = b else { panic!() };
        assert_eq!(s.bucket, "tfstate");
        assert_eq!(s.key, "lab/terraform.tfstate");
        assert_eq!(s.region.as_deref(), Some("us-east-1"));
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(s.use_path_style && s.use_lockfile);
        assert_eq!(s.workspace_key_prefix, "env:");
        assert_eq!(s.profile.profile.as_deref(), Some("team"));
        assert_eq!(
            s.profile.shared_credentials_files,
            vec!["~/creds-a".to_string(), "/etc/creds-b".to_string()]
        );
        assert!(s.profile.shared_config_files.is_empty());
        assert!(
            !format!("{s:?}").contains("AKID"),
            "credentials are never read"
        );
    }

    #[test]
    fn no_backend_is_local_and_other_backends_are_refused() {
        assert_eq!(
            parse_backend_block("resource \"terraform_data\" \"a\" {}", Path::new("m.tf")).unwrap(),
            None
        );
        let e = parse_backend_block(
            "terraform {\n backend \"gcs\" { bucket = \"x\" }\n}",
            Path::new("m.tf"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("gcs"), "{e}");
    }

    #[test]
    fn a_partial_block_without_init_record_says_what_is_missing() {
        let e = parse_backend_block(
            "terraform {\n backend \"s3\" { key = \"k\" }\n}",
            Path::new("m.tf"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`bucket`"), "{e}");
    }

    #[test]
    fn the_init_record_wins_and_carries_partial_backend_config() {
        let rec = br#"{"version":3,"serial":1,"backend":{"type":"s3","config":{
            "bucket":"from-init","key":"x.tfstate","region":"eu-west-1",
            "endpoints":{"s3":"http://localhost:1"},"use_path_style":true,
            "workspace_key_prefix":"wsp","use_lockfile":null,"dynamodb_table":"locks",
            "secret_key":"SHOULD-NOT-LEAK","profile":"ops","shared_config_files":["/etc/aws/config"],
            "shared_credentials_files":null},"hash":1}}"#;
        let b = parse_init_record(rec, Path::new(".terraform/terraform.tfstate"))
            .unwrap()
            .unwrap();
        let Backend::S3(s) = b else { panic!() };
        assert_eq!(s.bucket, "from-init");
        assert_eq!(s.endpoint.as_deref(), Some("http://localhost:1"));
        assert!(!s.use_lockfile);
        assert_eq!(s.dynamodb_table.as_deref(), Some("locks"));
        assert_eq!(s.profile.profile.as_deref(), Some("ops"));
        assert_eq!(s.profile.shared_config_files, vec!["/etc/aws/config"]);
        assert!(s.profile.shared_credentials_files.is_empty());
        assert_eq!(s.object_key("default"), "x.tfstate");
        assert_eq!(s.object_key("staging"), "wsp/staging/x.tfstate");
        assert_eq!(s.lock_key("staging"), "wsp/staging/x.tfstate.tflock");
        assert!(!format!("{s:?}").contains("SHOULD-NOT-LEAK"));
        // A record of the local backend means: look no further than the files.
        assert_eq!(
            parse_init_record(
                br#"{"backend":{"type":"local","config":{}}}"#,
                Path::new("r")
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn discover_prefers_the_init_record() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("main.tf"), BLOCK).unwrap();
        let Backend::S3(s) = discover(d.path()).unwrap() else {
            panic!()
        };
        assert_eq!(s.bucket, "tfstate");
        std::fs::create_dir(d.path().join(".terraform")).unwrap();
        std::fs::write(
            d.path().join(".terraform/terraform.tfstate"),
            br#"{"backend":{"type":"s3","config":{"bucket":"other","key":"k"}}}"#,
        )
        .unwrap();
        let Backend::S3(s) = discover(d.path()).unwrap() else {
            panic!()
        };
        assert_eq!(s.bucket, "other");
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(discover(empty.path()).unwrap(), Backend::local());
    }

    #[test]
    fn a_backend_in_json_syntax_is_read_like_the_block() {
        let p = Path::new("iac/backend.tf.json");
        let j = r#"{"terraform": [{"backend": {"s3": {"bucket": "b", "key": "k/t.tfstate",
            "endpoints": {"s3": "http://127.0.0.1:9"}, "use_path_style": true,
            "use_lockfile": true}}}]}"#;
        let Some(Backend::S3(s)) = parse_backend_json(j, p).unwrap() else {
            panic!("no s3 backend")
        };
        assert_eq!((s.bucket.as_str(), s.key.as_str()), ("b", "k/t.tfstate"));
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9"));
        assert!(s.use_path_style && s.use_lockfile);
        assert_eq!(parse_backend_json(r#"{"resource": {}}"#, p).unwrap(), None);
        assert_eq!(
            parse_backend_json(r#"{"terraform": {"backend": {"local": {}}}}"#, p).unwrap(),
            Some(Backend::local())
        );
        let e = parse_backend_json(r#"{"terraform": {"backend": {"s3": {"bucket": "b"}}}}"#, p)
            .unwrap_err();
        assert!(e.to_string().contains("key"), "{e}");
        assert!(parse_backend_json("{", p).is_err());
    }

    #[test]
    fn a_local_backend_names_its_files_by_terraforms_rules() {
        let d = tempfile::tempdir().unwrap();
        let iac = d.path().join("iac");
        std::fs::create_dir(&iac).unwrap();
        let t = |b: &Backend, ws: &str| Target {
            workspace: ws.into(),
            backend: b.clone(),
        };
        let cfg = Config::defaults(d.path());
        // From the block: `path` only; other workspaces in terraform.tfstate.d of the module.
        std::fs::write(
            iac.join("main.tf"),
            "terraform {\n  backend \"local\" {\n    path = \"s/p.tfstate\"\n  }\n}\n",
        )
        .unwrap();
        let b = discover(&iac).unwrap();
        assert_eq!(
            t(&b, "default").apply(&cfg).state.path,
            iac.join("s/p.tfstate")
        );
        assert_eq!(
            t(&b, "dev").apply(&cfg).state.path,
            iac.join("terraform.tfstate.d/dev/terraform.tfstate")
        );
        assert_eq!(
            t(&b, "dev").apply(&cfg).state.backups,
            cfg.state.backups.join("dev")
        );
        // The init record wins, `workspace_dir` only: default is terraform.tfstate.
        std::fs::create_dir(iac.join(".terraform")).unwrap();
        std::fs::write(
            iac.join(".terraform/terraform.tfstate"),
            r#"{"backend":{"type":"local","config":{"path":null,"workspace_dir":"../w"}}}"#,
        )
        .unwrap();
        let b = discover(&iac).unwrap();
        assert_eq!(
            t(&b, "default").apply(&cfg).state.path,
            iac.join("terraform.tfstate")
        );
        assert_eq!(
            t(&b, "dev").apply(&cfg).state.path,
            iac.join("../w/dev/terraform.tfstate")
        );
        assert!(t(&b, "dev").check_inside(d.path()).is_ok());
        // A local record with no settings leaves it to the block, then to state.path.
        std::fs::write(
            iac.join(".terraform/terraform.tfstate"),
            r#"{"backend":{"type":"local","config":{"path":null,"workspace_dir":null}}}"#,
        )
        .unwrap();
        std::fs::write(
            iac.join("main.tf"),
            "terraform {\n  backend \"local\" {}\n}\n",
        )
        .unwrap();
        let b = discover(&iac).unwrap();
        assert_eq!(b, Backend::local());
        assert_eq!(t(&b, "default").apply(&cfg).state.path, cfg.state.path);
    }

    #[test]
    fn a_local_state_outside_the_workspace_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        let iac = root.join("iac");
        std::fs::create_dir_all(&iac).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), iac.join("out")).unwrap();
        std::fs::create_dir(iac.join("real")).unwrap();
        let local = |p: &str| Target {
            workspace: DEFAULT_WORKSPACE.into(),
            backend: Backend::Local(LocalBackend {
                path: Some(iac.join(p)),
                workspace_dir: Some(iac.join("terraform.tfstate.d")),
            }),
        };
        for ok in [
            "t.tfstate",
            "real/t.tfstate",
            "new/deeper/t.tfstate",
            "../t.tfstate",
            "./a/../t",
        ] {
            assert!(local(ok).check_inside(&root).is_ok(), "{ok}");
        }
        for bad in [
            "../../t.tfstate",
            "out/t.tfstate",
            "out/new/t.tfstate",
            "real/../../../t",
            "/etc/passwd",
            "..",
        ] {
            let e = local(bad).check_inside(&root).unwrap_err();
            assert!(e.contains("outside the workspace"), "{bad}: {e}");
        }
        // The workspace folder itself is not a state file.
        assert!(!inside(&root, &root));
        // Another workspace: its file under workspace_dir is checked.
        let t = Target {
            workspace: "w".into(),
            backend: Backend::Local(LocalBackend {
                path: Some(iac.join("t.tfstate")),
                workspace_dir: Some(d.path().to_path_buf()),
            }),
        };
        assert!(t.check_inside(&root).is_err());
    }

    #[test]
    fn a_root_module_folder_outside_the_workspace_confines_the_state_to_itself() {
        // drift.dir is the operator's: a link to a folder outside the workspace (followed).
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        let module = d.path().join("elsewhere/iac");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&module).unwrap();
        std::os::unix::fs::symlink(&module, root.join("iac")).unwrap();
        let cfg = Config::defaults(&root);
        let local = |p: &str| Target {
            workspace: DEFAULT_WORKSPACE.into(),
            backend: Backend::Local(LocalBackend {
                path: Some(root.join("iac").join(p)),
                workspace_dir: Some(root.join("iac/terraform.tfstate.d")),
            }),
        };
        let eff = local("terraform.tfstate").apply_in(&cfg, &root).unwrap();
        assert_eq!(eff.state.path, root.join("iac/terraform.tfstate"));
        assert_eq!(eff.state.confine.as_deref(), Some(cfg.drift.dir.as_path()));
        // Inside the workspace: confined to it, as before.
        let inside_ws = Target {
            workspace: DEFAULT_WORKSPACE.into(),
            backend: Backend::Local(LocalBackend {
                path: Some(root.join("s.tfstate")),
                workspace_dir: Some(root.join("w")),
            }),
        };
        let eff = inside_ws.apply_in(&cfg, &root).unwrap();
        assert_eq!(eff.state.confine.as_deref(), Some(root.as_path()));
        // Out of both: refused, naming the workspace.
        for bad in ["../x.tfstate", "/etc/passwd"] {
            let e = local(bad).apply_in(&cfg, &root).unwrap_err();
            assert!(e.contains("outside the workspace"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_local_state_in_tfops_own_folders_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(root.join("iac")).unwrap();
        std::fs::create_dir_all(root.join("config")).unwrap();
        let mut cfg = Config::defaults(&root);
        cfg.state.backups = root.join("snaps");
        let local = |p: &str| Target {
            workspace: DEFAULT_WORKSPACE.into(),
            backend: Backend::Local(LocalBackend {
                path: Some(root.join("iac").join(p)),
                workspace_dir: Some(root.join("iac/terraform.tfstate.d")),
            }),
        };
        for bad in [
            "../config/tfops.hcl",
            "../snaps/t.tfstate",
            "../.tfops/t.tfstate",
            "../balanceador/logs/status.json",
            "../archived/t.tfstate",
            "../logs/t.tfstate",
        ] {
            let e = local(bad).apply_in(&cfg, &root).unwrap_err();
            assert!(e.contains("tfops' own folder"), "{bad}: {e}");
        }
        for ok in [
            "terraform.tfstate",
            "../states/t.tfstate",
            "../backups/t.tfstate",
        ] {
            assert!(local(ok).apply_in(&cfg, &root).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_backend_block_in_an_override_file_replaces_the_one_before_as_for_terraform() {
        let d = tempfile::tempdir().unwrap();
        let block = |p: &str| {
            format!("terraform {{\n  backend \"local\" {{\n    path = \"{p}\"\n  }}\n}}\n")
        };
        let path = |b: Backend| match b {
            Backend::Local(l) => l.path.unwrap(),
            other => panic!("{other:?}"),
        };
        std::fs::write(d.path().join("main.tf"), block("a.tfstate")).unwrap();
        // Sorts before main.tf, yet read after it (Terraform 1.11 uses b.tfstate here).
        std::fs::write(d.path().join("override.tf"), block("b.tfstate")).unwrap();
        std::fs::write(d.path().join("a_override.tf"), "# backend: none here\n").unwrap();
        assert_eq!(
            path(discover(d.path()).unwrap()),
            d.path().join("b.tfstate")
        );
        // The last override file, by name, wins.
        std::fs::write(d.path().join("z_override.tf"), block("c.tfstate")).unwrap();
        assert_eq!(
            path(discover(d.path()).unwrap()),
            d.path().join("c.tfstate")
        );
        // Without override files, the first file declaring one, as before.
        for f in ["override.tf", "z_override.tf"] {
            std::fs::remove_file(d.path().join(f)).unwrap();
        }
        std::fs::write(d.path().join("x.tf"), block("x.tfstate")).unwrap();
        assert_eq!(
            path(discover(d.path()).unwrap()),
            d.path().join("a.tfstate")
        );
    }

    #[test]
    fn a_dotdot_after_a_link_is_checked_where_the_system_goes_and_workspace_dir_is_folded() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        let iac = root.join("iac");
        std::fs::create_dir_all(iac.join("real/deep")).unwrap();
        // `out/..` is the parent of the link's target for the system: outside the workspace
        // (what Terraform 1.11 opens for `path`), though the text folds to iac/.
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(outside.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("sub"), iac.join("out")).unwrap();
        // A link inside the workspace: `in/..` is iac/real, not iac/ (inside either way).
        std::os::unix::fs::symlink(iac.join("real/deep"), iac.join("in")).unwrap();
        // A link that leads nowhere yet: where it would lead is not known.
        std::os::unix::fs::symlink(outside.path().join("later"), iac.join("dangling")).unwrap();
        let local = |p: &str| Target {
            workspace: DEFAULT_WORKSPACE.into(),
            backend: Backend::Local(LocalBackend {
                path: Some(iac.join(p)),
                workspace_dir: Some(iac.join("terraform.tfstate.d")),
            }),
        };
        for bad in [
            "out/../t.tfstate",
            "out/x/../../t",
            "x/../out/../t",
            "dangling/t.tfstate",
        ] {
            assert!(local(bad).check_inside(&root).is_err(), "{bad}");
        }
        for ok in ["in/../t.tfstate", "real/deep/../t.tfstate", "in/../../t"] {
            assert!(local(ok).check_inside(&root).is_ok(), "{ok}");
        }
        // `workspace_dir` is folded by text before use, as Terraform joins it with the name.
        std::fs::write(
            iac.join("main.tf"),
            "terraform {\n  backend \"local\" {\n    workspace_dir = \"out/../w\"\n  }\n}\n",
        )
        .unwrap();
        let t = Target {
            workspace: "dev".into(),
            backend: discover(&iac).unwrap(),
        };
        let cfg = Config::defaults(&root);
        assert_eq!(
            t.apply(&cfg).state.path,
            iac.join("w/dev/terraform.tfstate")
        );
        assert!(t.check_inside(&root).is_ok());
        assert_eq!(cleaned(Path::new("a/../../b/./c")), Path::new("../b/c"));
        assert_eq!(cleaned(Path::new("/../a/..")), Path::new("/"));
    }

    #[test]
    fn relative_profile_files_are_found_in_the_root_module_where_terraform_runs() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("main.tf"),
            "terraform {\n  backend \"s3\" {\n    bucket = \"b\"\n    key = \"k\"\n    shared_credentials_files = [\"creds\", \"~/home-creds\", \"/abs/creds\"]\n    shared_config_files = [\"../config\"]\n  }\n}\n",
        )
        .unwrap();
        let Backend::S3(s) = discover(d.path()).unwrap() else {
            panic!()
        };
        assert_eq!(
            s.profile.shared_credentials_files,
            vec![
                d.path().join("creds").display().to_string(),
                "~/home-creds".to_string(),
                "/abs/creds".to_string()
            ]
        );
        assert_eq!(
            s.profile.shared_config_files,
            vec![d.path().join("../config").display().to_string()]
        );
        // The init record's paths too.
        std::fs::create_dir(d.path().join(".terraform")).unwrap();
        std::fs::write(
            d.path().join(".terraform/terraform.tfstate"),
            br#"{"backend":{"type":"s3","config":{"bucket":"b","key":"k","shared_config_files":["cfg"]}}}"#,
        )
        .unwrap();
        let Backend::S3(s) = discover(d.path()).unwrap() else {
            panic!()
        };
        assert_eq!(
            s.profile.shared_config_files,
            vec![d.path().join("cfg").display().to_string()]
        );
    }

    /// A fifo at `path`, with a writer that opens it and leaves at once: a blocking read
    /// would then see an empty file (and without the writer it would wait forever).
    fn fifo_with_a_passing_writer(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a path in our own temporary folder.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let p = path.to_path_buf();
        std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(p)));
    }

    #[test]
    fn fifos_for_the_init_record_or_the_environment_file_are_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".terraform")).unwrap();
        let env = d.path().join(".terraform/environment");
        fifo_with_a_passing_writer(&env);
        let e = resolve_workspace(None, None, d.path()).unwrap_err();
        assert!(
            matches!(&e, BackendError::Io { path, .. } if *path == env),
            "{e}"
        );
        let record = d.path().join(".terraform/terraform.tfstate");
        fifo_with_a_passing_writer(&record);
        let e = discover(d.path()).unwrap_err();
        assert!(
            matches!(&e, BackendError::Io { path, .. } if *path == record),
            "{e}"
        );
    }

    #[test]
    fn workspace_precedence_flag_env_environment_file_default() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(resolve_workspace(None, None, d.path()).unwrap(), "default");
        std::fs::create_dir(d.path().join(".terraform")).unwrap();
        std::fs::write(d.path().join(".terraform/environment"), "staging").unwrap();
        assert_eq!(resolve_workspace(None, None, d.path()).unwrap(), "staging");
        assert_eq!(
            resolve_workspace(None, Some("prod"), d.path()).unwrap(),
            "prod"
        );
        assert_eq!(
            resolve_workspace(Some("dev"), Some("prod"), d.path()).unwrap(),
            "dev"
        );
        assert!(resolve_workspace(Some("../etc"), None, d.path()).is_err());
        assert!(resolve_workspace(Some(".."), None, d.path()).is_err());
    }

    #[test]
    fn workspace_paths() {
        let root = Path::new("/ws");
        let cfg = Config::defaults(root);
        let t = Target {
            workspace: "staging".into(),
            backend: Backend::local(),
        };
        let e = t.apply(&cfg);
        assert_eq!(
            e.state.path,
            Path::new("/ws/iac/terraform.tfstate.d/staging/terraform.tfstate")
        );
        assert_eq!(e.state.backups, Path::new("/ws/backups/staging"));
        let d = Target {
            workspace: "default".into(),
            backend: Backend::local(),
        };
        assert_eq!(d.apply(&cfg), cfg);
    }
}
