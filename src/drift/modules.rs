//! The module tree of a configuration: which `module` blocks call which folders, found the way
//! Terraform finds them, without downloading anything.
//!
//! - A local source (`./x`, `../x`) is the folder relative to the calling module's folder, to
//!   any depth.
//! - Any other source (registry, git, http, s3, …) is read from where `terraform init` put it,
//!   as `.terraform/modules/modules.json` in the root folder records it (`Key` `a.b` for
//!   `module.a.module.b`). A module that was never installed is [`ModuleDir::Unresolved`] with
//!   the reason "run terraform init".
//! - A local module that calls one of its own ancestors' folders is a cycle: unresolved, with
//!   the reason, never followed. Depth ([`MAX_DEPTH`]) and the number of calls
//!   ([`MAX_CALLS`]) are bounded; files are read with the same bounds as the file functions.
//!
//! Each call carries its block's `count`, `for_each` and input expressions, unevaluated: the
//! planner evaluates them in the caller's scope. Not here: expanding `count`/`for_each`
//! into instances, `*.tf.json` module calls and override files (the planner merges those).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;

use super::functions::fs::read_path;

/// Deepest nesting followed (`module.a.module.b…`).
pub const MAX_DEPTH: usize = 64;
/// Most module calls read in one tree.
pub const MAX_CALLS: usize = 10_000;

/// Why the module tree cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModulesError {
    /// A folder or file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A `.tf` file is not valid HCL.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `.terraform/modules/modules.json` is not what Terraform writes.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// More than [`MAX_CALLS`] module calls.
    #[error("more than {MAX_CALLS} module calls; tfops stops reading the module tree there")]
    TooMany,
}

/// Where a module's configuration is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleDir {
    /// A local source, resolved against its caller's folder.
    Local(PathBuf),
    /// Installed by `terraform init` (from `modules.json`).
    Installed(PathBuf),
    /// Not readable offline: the reason, for the report.
    Unresolved(String),
}

impl ModuleDir {
    /// The folder, if there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ModuleDir::Local(p) | ModuleDir::Installed(p) => Some(p),
            ModuleDir::Unresolved(_) => None,
        }
    }
}

/// One `module "name" { ... }` block and what it calls.
#[derive(Debug, Clone)]
pub struct ModuleCall {
    /// The block's label.
    pub name: String,
    /// Names from the root: `["a", "b"]` for `module.a.module.b`.
    pub path: Vec<String>,
    /// `source` as written.
    pub source: String,
    /// `version`, if given.
    pub version: Option<String>,
    /// Where its configuration is.
    pub dir: ModuleDir,
    /// The file that declares the call.
    pub file: PathBuf,
    /// `count`, unevaluated.
    pub count: Option<Expression>,
    /// `for_each`, unevaluated.
    pub for_each: Option<Expression>,
    /// Input variables given to the module (every attribute but the meta-arguments), in
    /// the order written.
    pub inputs: Vec<(String, Expression)>,
    /// The module's own module calls (empty when unresolved).
    pub children: Vec<ModuleCall>,
}

impl ModuleCall {
    /// `module.a.module.b`, as Terraform writes the module's address (without instance keys).
    pub fn address(&self) -> String {
        self.path
            .iter()
            .map(|n| format!("module.{n}"))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// This call and every call below it, depth first.
    pub fn walk(&self) -> Vec<&ModuleCall> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

const META: &[&str] = &[
    "source",
    "version",
    "count",
    "for_each",
    "providers",
    "depends_on",
];

/// `modules.json`: module key (`a.b`) to installed folder.
type Manifest = BTreeMap<String, PathBuf>;

fn read_manifest(root: &Path) -> Result<Manifest, ModulesError> {
    let path = crate::state::backend::data_dir(root).join("modules/modules.json");
    if !path.exists() {
        return Ok(Manifest::new());
    }
    let bytes = read_path(&path).map_err(|e| ModulesError::Read {
        path: path.clone(),
        message: e.0,
    })?;
    parse_manifest(&bytes, root).map_err(|message| ModulesError::Manifest { path, message })
}

/// Parses `modules.json` (its `Dir`s are relative to `root`).
///
/// # Errors
/// When it is not JSON of Terraform's shape.
pub fn parse_manifest(bytes: &[u8], root: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "Key")]
        key: String,
        #[serde(rename = "Dir")]
        dir: String,
    }
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(rename = "Modules")]
        modules: Vec<Entry>,
    }
    let f: File = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(f.modules
        .into_iter()
        .filter(|e| !e.key.is_empty())
        .map(|e| (e.key, normalize(&root.join(e.dir))))
        .collect())
}

/// Is this a local source (`./…`, `../…`)?
pub fn is_local(source: &str) -> bool {
    source.starts_with("./") || source.starts_with("../") || source == "." || source == ".."
}

/// Removes `.` and `..` components without touching the filesystem.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            // `..` cancels a name before it, never another `..` (`../..` stays).
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The `.tf` files of a folder, sorted, without override files (`override.tf`,
/// `*_override.tf`).
fn tf_files(dir: &Path) -> Result<Vec<PathBuf>, ModulesError> {
    let rd = std::fs::read_dir(dir).map_err(|e| ModulesError::Read {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.ends_with(".tf") && n != "override.tf" && !n.ends_with("_override.tf")
        })
        .collect();
    files.sort();
    Ok(files)
}

fn str_attr(b: &Block, key: &str) -> Option<String> {
    b.body
        .attributes()
        .find(|a| a.key.as_str() == key)
        .and_then(|a| match &a.value {
            Expression::String(s) => Some(s.value().to_string()),
            _ => None,
        })
}

/// The module calls declared in `dir` (not following them).
///
/// # Errors
/// Unreadable folders or files, invalid HCL.
pub fn calls_in(dir: &Path) -> Result<Vec<(PathBuf, Block)>, ModulesError> {
    let mut out = Vec::new();
    for f in tf_files(dir)? {
        let bytes = read_path(&f).map_err(|e| ModulesError::Read {
            path: f.clone(),
            message: e.0,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ModulesError::Syntax {
            path: f.clone(),
            message: "not UTF-8".into(),
        })?;
        let body = hcl_edit::parser::parse_body(&text).map_err(|e| ModulesError::Syntax {
            path: f.clone(),
            message: e.to_string(),
        })?;
        for b in body.into_blocks() {
            if b.ident.as_str() == "module" && !b.labels.is_empty() {
                out.push((f.clone(), b));
            }
        }
    }
    Ok(out)
}

/// Reads the module tree below the root module in `root`.
///
/// # Errors
/// Unreadable folders or files, invalid HCL in a module that is read, an invalid
/// `modules.json`, more than [`MAX_CALLS`] calls.
pub fn discover(root: &Path) -> Result<Vec<ModuleCall>, ModulesError> {
    let manifest = read_manifest(root)?;
    let mut count = 0;
    let root_n = normalize(root);
    let mut stack = vec![canonical(&root_n)];
    read_calls(&root_n, &[], &manifest, &mut stack, &mut count)
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn read_calls(
    dir: &Path,
    parent: &[String],
    manifest: &Manifest,
    stack: &mut Vec<PathBuf>,
    count: &mut usize,
) -> Result<Vec<ModuleCall>, ModulesError> {
    let mut out = Vec::new();
    for (file, b) in calls_in(dir)? {
        *count += 1;
        if *count > MAX_CALLS {
            return Err(ModulesError::TooMany);
        }
        let name = b.labels[0].as_str().to_string();
        let mut path = parent.to_vec();
        path.push(name.clone());
        let source = str_attr(&b, "source").unwrap_or_default();
        let key = path.join(".");
        let addr = path
            .iter()
            .map(|n| format!("module.{n}"))
            .collect::<Vec<_>>()
            .join(".");
        let mut md = if source.is_empty() {
            ModuleDir::Unresolved(format!("{addr}: no literal source"))
        } else if is_local(&source) {
            ModuleDir::Local(normalize(&dir.join(&source)))
        } else if let Some(d) = manifest.get(&key) {
            ModuleDir::Installed(d.clone())
        } else {
            ModuleDir::Unresolved(format!(
                "{addr}: source {source:?} is not installed; run terraform init"
            ))
        };
        let mut children = Vec::new();
        if let Some(d) = md.path().map(Path::to_path_buf) {
            let c = canonical(&d);
            if !d.is_dir() {
                md = ModuleDir::Unresolved(format!(
                    "{addr}: {} is not a folder{}",
                    d.display(),
                    if is_local(&source) {
                        ""
                    } else {
                        "; run terraform init"
                    }
                ));
            } else if stack.contains(&c) {
                md = ModuleDir::Unresolved(format!(
                    "{addr}: {source:?} calls a module that calls it (a cycle)"
                ));
            } else if path.len() > MAX_DEPTH {
                md = ModuleDir::Unresolved(format!(
                    "{addr}: modules nested deeper than {MAX_DEPTH}"
                ));
            } else {
                stack.push(c);
                children = read_calls(&d, &path, manifest, stack, count)?;
                stack.pop();
            }
        }
        let attr = |k: &str| {
            b.body
                .attributes()
                .find(|a| a.key.as_str() == k)
                .map(|a| a.value.clone())
        };
        out.push(ModuleCall {
            name,
            source,
            version: str_attr(&b, "version"),
            dir: md,
            file,
            count: attr("count"),
            for_each: attr("for_each"),
            inputs: b
                .body
                .attributes()
                .filter(|a| !META.contains(&a.key.as_str()))
                .map(|a| (a.key.as_str().to_string(), a.value.clone()))
                .collect(),
            children,
            path,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalize_keeps_leading_parent_folders() {
        let n = |p: &str| normalize(Path::new(p)).to_string_lossy().into_owned();
        assert_eq!(n("./../.."), "../..");
        assert_eq!(n("./modules/a/../b"), "modules/b");
        assert_eq!(n("modules/a/../../../x"), "../x");
        assert_eq!(n("./"), ".");
        assert_eq!(n("/r/./a/../b"), "/r/b");
    }

    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn local_nested_installed_and_missing() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            &r.join("main.tf"),
            r#"
module "net" {
  source = "./modules/net"
  count  = 2
  cidr   = "10.0.0.0/16"
}
module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.0.0"
  name    = var.name
}
module "gone" {
  source = "git::https://example.com/x.git"
}
"#,
        );
        write(
            &r.join("modules/net/main.tf"),
            "module \"sub\" {\n  source   = \"../sub\"\n  for_each = toset([\"a\"])\n  x = each.key\n}\n",
        );
        write(&r.join("modules/sub/main.tf"), "variable \"x\" {}\n");
        write(
            &r.join("modules/net/sub_override.tf"),
            "module \"ignored\" { source = \"./nope\" }\n",
        );
        write(
            &r.join(".terraform/modules/vpc/main.tf"),
            "module \"inner\" { source = \"./in\" }\n",
        );
        write(&r.join(".terraform/modules/vpc/in/main.tf"), "");
        write(
            &r.join(".terraform/modules/modules.json"),
            r#"{"Modules":[{"Key":"","Source":"","Dir":"."},{"Key":"vpc","Source":"registry.terraform.io/terraform-aws-modules/vpc/aws","Version":"5.0.0","Dir":".terraform/modules/vpc"}]}"#,
        );
        let calls = discover(r).unwrap();
        let by: BTreeMap<String, &ModuleCall> = calls
            .iter()
            .flat_map(|c| c.walk())
            .map(|c| (c.address(), c))
            .collect();
        assert_eq!(
            by.keys().cloned().collect::<Vec<_>>(),
            vec![
                "module.gone",
                "module.net",
                "module.net.module.sub",
                "module.vpc",
                "module.vpc.module.inner"
            ]
        );
        let net = by["module.net"];
        assert_eq!(net.dir, ModuleDir::Local(normalize(&r.join("modules/net"))));
        assert!(net.count.is_some() && net.for_each.is_none());
        assert_eq!(net.inputs.len(), 1);
        assert_eq!(net.inputs[0].0, "cidr");
        let sub = by["module.net.module.sub"];
        assert_eq!(sub.dir, ModuleDir::Local(normalize(&r.join("modules/sub"))));
        assert!(sub.for_each.is_some());
        assert_eq!(
            by["module.vpc"].dir,
            ModuleDir::Installed(normalize(&r.join(".terraform/modules/vpc")))
        );
        assert_eq!(by["module.vpc"].version.as_deref(), Some("5.0.0"));
        assert_eq!(
            by["module.vpc.module.inner"].dir,
            ModuleDir::Local(normalize(&r.join(".terraform/modules/vpc/in")))
        );
        match &by["module.gone"].dir {
            ModuleDir::Unresolved(why) => assert!(why.contains("run terraform init"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cycles_and_missing_folders_are_unresolved_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            &r.join("main.tf"),
            "module \"a\" { source = \"./a\" }\nmodule \"m\" { source = \"./missing\" }\n",
        );
        write(
            &r.join("a/main.tf"),
            "module \"back\" { source = \"../\" }\n",
        );
        let calls = discover(r).unwrap();
        let back = &calls[0].children[0];
        assert_eq!(back.address(), "module.a.module.back");
        match &back.dir {
            ModuleDir::Unresolved(why) => assert!(why.contains("cycle"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(calls[1].dir, ModuleDir::Unresolved(_)));
    }

    #[test]
    fn syntax_errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        write(
            &d.path().join("main.tf"),
            "module \"a\" { source = \"./a\" }\n",
        );
        write(&d.path().join("a/bad.tf"), "resource \"x\" {\n");
        let e = discover(d.path()).unwrap_err();
        assert!(
            matches!(e, ModulesError::Syntax { ref path, .. } if path.ends_with("a/bad.tf")),
            "{e}"
        );
    }
}
