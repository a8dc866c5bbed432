//! AWS credentials and region for the S3 state and `s3://` replicas: the standard environment
//! variables, then a profile of the shared credentials and config files.
//!
//! Which profile: the backend's `profile` setting, else `AWS_PROFILE`, else `default`. Which
//! files: the backend's `shared_credentials_files` / `shared_config_files` when given, else
//! `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and `AWS_CONFIG_FILE` (default
//! `~/.aws/config`). In the credentials file a profile is `[NAME]`; in the config file it is
//! `[profile NAME]` (`[default]` for the default one). As with the AWS tools, credentials in
//! the environment (`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`) win over any profile.
//!
//! Keys read: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`, `region`;
//! others are ignored. Profiles that get credentials some other way (`role_arn`,
//! `credential_process`, SSO) are refused with a message naming the key, never followed; a
//! `role_arn` is refused even beside static keys, as the AWS SDKs would assume the role.
//!
//! Values never leave this module in an error or a log line: errors name the file, the
//! profile and the line number only, and [`Credentials`]' `Debug` hides the secrets. A file
//! that is not a regular file (a fifo) or larger than [`MAX_FILE_BYTES`] is refused.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::fsutil;

/// A profile file larger than this is refused (real ones are a few KiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Keys that mean "credentials come from elsewhere", which tfops does not follow.
const INDIRECT_KEYS: &[&str] = &[
    "role_arn",
    "source_profile",
    "credential_source",
    "credential_process",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
];

/// Static credentials, as handed to the S3 client. `Debug` shows the key id's first four
/// characters only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub key_id: String,
    pub secret_key: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field(
                "key_id",
                &format!("{}…", self.key_id.get(..4).unwrap_or("")),
            )
            .field("secret_key", &"<hidden>")
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// The profile settings of a `backend "s3"` (none of them secret: a name and file paths).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileSettings {
    /// `profile`.
    pub profile: Option<String>,
    /// `shared_credentials_files` (or the older `shared_credentials_file`).
    pub shared_credentials_files: Vec<String>,
    /// `shared_config_files`.
    pub shared_config_files: Vec<String>,
}

/// Where the credentials came from, for a log line (no values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Environment,
    Profile {
        name: String,
        file: PathBuf,
    },
    /// No credentials anywhere: requests go unsigned.
    None,
}

/// What [`resolve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub credentials: Option<Credentials>,
    /// The profile's `region` (the caller puts the backend's and the environment's first).
    pub region: Option<String>,
    pub source: Source,
}

/// Errors reading profiles. They name files, profiles, keys and line numbers, never a value.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: larger than {limit} bytes, not read as an AWS profile file", path.display())]
    TooBig { path: PathBuf, limit: u64 },
    #[error("{}, line {line}: {reason}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("the AWS profile {profile:?} is not in {}", list(files))]
    Missing {
        profile: String,
        files: Vec<PathBuf>,
    },
    #[error("the AWS profile {profile:?} in {} has {has} but no {lacks}", path.display())]
    Incomplete {
        profile: String,
        path: PathBuf,
        has: &'static str,
        lacks: &'static str,
    },
    #[error("the AWS profile {profile:?} in {} gets its credentials through {key}, which tfops does not support", path.display())]
    Indirect {
        profile: String,
        path: PathBuf,
        key: &'static str,
    },
    #[error("the AWS profile {profile:?} in {} has no aws_access_key_id", path.display())]
    NoKeys { profile: String, path: PathBuf },
}

fn list(files: &[PathBuf]) -> String {
    if files.is_empty() {
        return "any profile file (none was found)".to_string();
    }
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// The INI reader

/// Sections of one profile file: name (as written between the brackets, trimmed) -> key ->
/// value. A section that appears twice is merged, later keys winning.
pub type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// Parses the INI dialect of the AWS profile files, strictly: blank lines and whole-line
/// comments (`#`, `;`) are skipped; `[name]` opens a section (a comment may follow the
/// bracket); `key = value` (or `key: value`) sets a key (spaces around both trimmed; the value
/// is taken as is, so a `#` inside it stays); an indented line under a key with an empty value is a nested
/// setting (the config file's `s3 =` block), skipped. Anything else is an error naming the line.
///
/// # Errors
/// `(line, reason)` of the first line that is none of the above.
pub fn parse_ini(text: &str) -> Result<Sections, (usize, &'static str)> {
    let mut out = Sections::new();
    let mut current: Option<String> = None;
    // What the previous setting line was: `Some(true)` a key with an empty value (nested
    // settings may follow), `Some(false)` a key with a value, `None` a section header.
    let mut prev_empty: Option<bool> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            match prev_empty {
                Some(true) if split_setting(line).is_some() => continue,
                Some(true) => return Err((n, "a nested setting must be `key = value`")),
                Some(false) => {
                    return Err((
                        n,
                        "an indented line continues a value, which is not supported",
                    ))
                }
                None => {}
            }
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                return Err((n, "a section header lacks its closing `]`"));
            };
            let after = rest[end + 1..].trim();
            if !(after.is_empty() || after.starts_with('#') || after.starts_with(';')) {
                return Err((n, "text after a section header"));
            }
            let name = rest[..end].trim();
            if name.is_empty() {
                return Err((n, "an empty section name"));
            }
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
            prev_empty = None;
            continue;
        }
        let Some((k, v)) = split_setting(line) else {
            return Err((n, "expected `key = value`, a `[section]` or a comment"));
        };
        let key = k.trim();
        if key.is_empty() {
            return Err((n, "a setting without a key"));
        }
        let Some(sec) = &current else {
            return Err((n, "a setting before any `[section]`"));
        };
        let value = v.trim();
        prev_empty = Some(value.is_empty());
        out.get_mut(sec)
            .map(|m| m.insert(key.to_ascii_lowercase(), value.to_string()));
    }
    Ok(out)
}

/// `key = value` or `key: value`, split at whichever of `=` and `:` comes first (as the AWS
/// CLI's reader does).
fn split_setting(line: &str) -> Option<(&str, &str)> {
    let i = line.find(['=', ':'])?;
    Some((&line[..i], &line[i + 1..]))
}

/// Reads a profile file: `Ok(None)` when it does not exist; refuses anything but a regular
/// file (never blocks on a fifo) and anything over [`MAX_FILE_BYTES`].
///
/// # Errors
/// [`ProfileError::Io`], [`ProfileError::TooBig`], [`ProfileError::Syntax`].
pub fn read_file(path: &Path) -> Result<Option<Sections>, ProfileError> {
    let io_err = |source| ProfileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = match fsutil::open_read_regular(path, true) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(ProfileError::TooBig {
            path: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    let text = String::from_utf8(buf).map_err(|_| ProfileError::Syntax {
        path: path.to_path_buf(),
        line: 0,
        reason: "not UTF-8 text",
    })?;
    parse_ini(&text)
        .map(Some)
        .map_err(|(line, reason)| ProfileError::Syntax {
            path: path.to_path_buf(),
            line,
            reason,
        })
}

// ---------------------------------------------------------------------------------------------
// Resolution

/// `~/…` (and `~` alone) against `home`; other paths as given.
fn expand(p: &str, home: Option<&str>) -> Option<PathBuf> {
    if p == "~" {
        return home.map(PathBuf::from);
    }
    if let Some(rest) = p.strip_prefix("~/") {
        return home.map(|h| Path::new(h).join(rest));
    }
    Some(PathBuf::from(p))
}

/// The files searched: (credentials files, config files), in order (later ones win).
pub fn files(
    settings: &ProfileSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let home = env("HOME");
    let pick = |configured: &[String], var: &str, default: &str| -> Vec<PathBuf> {
        if !configured.is_empty() {
            return configured
                .iter()
                .filter_map(|p| expand(p, home.as_deref()))
                .collect();
        }
        match env(var) {
            Some(p) => expand(&p, home.as_deref()).into_iter().collect(),
            None => expand(default, home.as_deref()).into_iter().collect(),
        }
    };
    (
        pick(
            &settings.shared_credentials_files,
            "AWS_SHARED_CREDENTIALS_FILE",
            "~/.aws/credentials",
        ),
        pick(
            &settings.shared_config_files,
            "AWS_CONFIG_FILE",
            "~/.aws/config",
        ),
    )
}

/// One key of the merged profile, with the file it came from.
type Merged = BTreeMap<String, (String, PathBuf)>;

/// Credentials and the profile's region, by the precedence in the module's documentation.
/// `env` reads an environment variable (empty values count as unset).
///
/// # Errors
/// A profile that is named (by the backend or `AWS_PROFILE`) but found in no file, a profile
/// without both keys or using a source tfops does not follow, an unreadable or malformed file.
pub fn resolve(
    settings: &ProfileSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, ProfileError> {
    let env = |k: &str| env(k).filter(|v| !v.is_empty());
    let from_env = match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key_id), Some(secret_key)) => Some(Credentials {
            key_id,
            secret_key,
            token: env("AWS_SESSION_TOKEN"),
        }),
        _ => None,
    };
    let named = settings
        .profile
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| env("AWS_PROFILE"));
    let name = named.clone().unwrap_or_else(|| "default".to_string());
    let (cred_files, config_files) = files(settings, &env);

    // Config files first, then credentials files: credentials files win for the keys both
    // hold; within a kind, later files win.
    let mut merged = Merged::new();
    let mut region: Option<(String, PathBuf)> = None;
    let mut found: Option<PathBuf> = None;
    let config_section = if name == "default" {
        vec!["default".to_string(), "profile default".to_string()]
    } else {
        vec![format!("profile {name}")]
    };
    for f in &config_files {
        if let Some(secs) = read_file(f)? {
            for s in &config_section {
                if let Some(keys) = secs.get(s) {
                    found = Some(f.clone());
                    for (k, v) in keys {
                        merged.insert(k.clone(), (v.clone(), f.clone()));
                    }
                    if let Some(r) = keys.get("region") {
                        region = Some((r.clone(), f.clone()));
                    }
                }
            }
        }
    }
    for f in &cred_files {
        if let Some(secs) = read_file(f)? {
            if let Some(keys) = secs.get(&name) {
                found = Some(f.clone());
                for (k, v) in keys {
                    merged.insert(k.clone(), (v.clone(), f.clone()));
                }
            }
        }
    }
    let region = region
        .map(|r| r.0)
        .or_else(|| merged.get("region").map(|r| r.0.clone()))
        .filter(|r| !r.is_empty());

    let Some(found) = found else {
        if named.is_some() {
            let mut all = cred_files;
            all.extend(config_files);
            return Err(ProfileError::Missing {
                profile: name,
                files: all,
            });
        }
        return Ok(Resolved {
            source: if from_env.is_some() {
                Source::Environment
            } else {
                Source::None
            },
            credentials: from_env,
            region: None,
        });
    };
    if let Some(c) = from_env {
        return Ok(Resolved {
            credentials: Some(c),
            region,
            source: Source::Environment,
        });
    }
    let get = |k: &str| merged.get(k).filter(|v| !v.0.is_empty());
    // A role to assume comes before static keys in the AWS SDKs (the keys, if any, only serve
    // to assume it): using the keys as they are would act as another identity.
    if let Some((_, file)) = get("role_arn") {
        return Err(ProfileError::Indirect {
            profile: name,
            path: file.clone(),
            key: "role_arn",
        });
    }
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some((id, file)), Some(secret)) => Ok(Resolved {
            credentials: Some(Credentials {
                key_id: id.clone(),
                secret_key: secret.0.clone(),
                token: get("aws_session_token").map(|t| t.0.clone()),
            }),
            region,
            source: Source::Profile {
                name,
                file: file.clone(),
            },
        }),
        (Some((_, file)), None) => Err(ProfileError::Incomplete {
            profile: name,
            path: file.clone(),
            has: "aws_access_key_id",
            lacks: "aws_secret_access_key",
        }),
        (None, Some((_, file))) => Err(ProfileError::Incomplete {
            profile: name,
            path: file.clone(),
            has: "aws_secret_access_key",
            lacks: "aws_access_key_id",
        }),
        (None, None) => {
            if let Some((key, (_, file))) = INDIRECT_KEYS
                .iter()
                .find_map(|k| merged.get(*k).map(|v| (*k, v)))
            {
                return Err(ProfileError::Indirect {
                    profile: name,
                    path: file.clone(),
                    key,
                });
            }
            if named.is_some() {
                return Err(ProfileError::NoKeys {
                    profile: name,
                    path: found,
                });
            }
            // The default profile holds only settings (a region): no credentials.
            Ok(Resolved {
                credentials: None,
                region,
                source: Source::None,
            })
        }
    }
}

/// [`resolve`] with the process environment.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_from_env(settings: &ProfileSettings) -> Result<Resolved, ProfileError> {
    resolve(settings, &|k| std::env::var(k).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const CREDS: &str = "\
# comment
; another comment
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key=defaultSecret#withHash

[ team ]
aws_access_key_id     =   AKIATEAM
aws_secret_access_key = teamSecret
aws_session_token = teamToken
unknown_key = ignored
";

    const CONFIG: &str = "\
[default]
region = eu-west-1
[profile team]   # the team's account
region = eu-central-1
s3 =
    addressing_style = path
    max_concurrent_requests = 4
output = json
[profile sso]
sso_session = corp
sso_account_id = 123456789012
[profile onlyregion]
region = ap-south-1
";

    #[test]
    fn parses_sections_keys_comments_and_nested_settings() {
        let c = parse_ini(CREDS).unwrap();
        assert_eq!(c["default"]["aws_access_key_id"], "AKIADEFAULT");
        assert_eq!(
            c["default"]["aws_secret_access_key"], "defaultSecret#withHash",
            "a # inside a value is part of it"
        );
        assert_eq!(c["team"]["aws_access_key_id"], "AKIATEAM");
        assert_eq!(c["team"]["unknown_key"], "ignored");
        let g = parse_ini(CONFIG).unwrap();
        assert_eq!(g["profile team"]["region"], "eu-central-1");
        assert_eq!(g["profile team"]["output"], "json");
        assert!(!g["profile team"].contains_key("addressing_style"));
        assert_eq!(g["profile sso"]["sso_session"], "corp");
    }

    #[test]
    fn a_colon_separates_a_key_from_its_value_as_well() {
        // The AWS CLI's reader takes `key: value` too; whichever of `=` and `:` comes first.
        let c = parse_ini(
            "[x]\nregion: eu-west-1\nrole_arn = arn:aws:iam::1:role/r\ns3:\n  addressing_style: path\n",
        )
        .unwrap();
        assert_eq!(c["x"]["region"], "eu-west-1");
        assert_eq!(c["x"]["role_arn"], "arn:aws:iam::1:role/r");
        assert_eq!(c["x"]["s3"], "");
        assert!(!c["x"].contains_key("addressing_style"));
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line_not_its_text() {
        for (text, line) in [
            ("[a]\nAKIASECRETLINE\n", 2),
            ("k = v\n", 1),
            ("[a\nk = v\n", 1),
            ("[]\n", 1),
            ("[a] junk\n", 1),
            ("[a]\n = v\n", 2),
            ("[a]\nk = v\n  nested = 1\n", 3),
        ] {
            let (n, reason) = parse_ini(text).unwrap_err();
            assert_eq!(n, line, "{text:?}: {reason}");
            assert!(!reason.contains("AKIA"));
        }
        // Indented text under a key with an empty value must still be `key = value`.
        assert_eq!(parse_ini("[a]\ns3 =\n  junk\n").unwrap_err().0, 3);
    }

    struct Fx {
        _dir: tempfile::TempDir,
        env: HashMap<String, String>,
    }

    impl Fx {
        fn new() -> Fx {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".aws")).unwrap();
            std::fs::write(dir.path().join(".aws/credentials"), CREDS).unwrap();
            std::fs::write(dir.path().join(".aws/config"), CONFIG).unwrap();
            let mut env = HashMap::new();
            env.insert("HOME".to_string(), dir.path().display().to_string());
            Fx { _dir: dir, env }
        }
        fn home(&self) -> PathBuf {
            PathBuf::from(&self.env["HOME"])
        }
        fn set(&mut self, k: &str, v: &str) -> &mut Fx {
            self.env.insert(k.into(), v.into());
            self
        }
        fn resolve(&self, s: &ProfileSettings) -> Result<Resolved, ProfileError> {
            resolve(s, &|k| self.env.get(k).cloned())
        }
    }

    fn named(p: &str) -> ProfileSettings {
        ProfileSettings {
            profile: Some(p.into()),
            ..ProfileSettings::default()
        }
    }

    #[test]
    fn the_default_profile_with_its_region() {
        let fx = Fx::new();
        let r = fx.resolve(&ProfileSettings::default()).unwrap();
        let c = r.credentials.unwrap();
        assert_eq!(c.key_id, "AKIADEFAULT");
        assert_eq!(c.secret_key, "defaultSecret#withHash");
        assert_eq!(c.token, None);
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            r.source,
            Source::Profile {
                name: "default".into(),
                file: fx.home().join(".aws/credentials")
            }
        );
    }

    #[test]
    fn backend_profile_beats_aws_profile_which_beats_default() {
        let mut fx = Fx::new();
        fx.set("AWS_PROFILE", "team");
        let r = fx.resolve(&ProfileSettings::default()).unwrap();
        assert_eq!(r.credentials.as_ref().unwrap().key_id, "AKIATEAM");
        assert_eq!(
            r.credentials.as_ref().unwrap().token.as_deref(),
            Some("teamToken")
        );
        assert_eq!(r.region.as_deref(), Some("eu-central-1"));
        // The backend's `profile` wins over AWS_PROFILE.
        let r = fx.resolve(&named("default")).unwrap();
        assert_eq!(r.credentials.unwrap().key_id, "AKIADEFAULT");
    }

    #[test]
    fn environment_credentials_win_over_any_profile() {
        let mut fx = Fx::new();
        fx.set("AWS_ACCESS_KEY_ID", "AKIAENV")
            .set("AWS_SECRET_ACCESS_KEY", "envSecret");
        let r = fx.resolve(&named("team")).unwrap();
        assert_eq!(r.credentials.as_ref().unwrap().key_id, "AKIAENV");
        assert_eq!(r.credentials.as_ref().unwrap().token, None);
        assert_eq!(r.source, Source::Environment);
        // The profile still gives its region.
        assert_eq!(r.region.as_deref(), Some("eu-central-1"));
        // A profile whose credentials tfops would not follow is no error then ...
        let r = fx.resolve(&named("sso")).unwrap();
        assert_eq!(r.source, Source::Environment);
        // ... but one that is named and missing still is, as with the AWS CLI.
        assert!(matches!(
            fx.resolve(&named("nope")).unwrap_err(),
            ProfileError::Missing { .. }
        ));
        // Only one of the two variables is not a credential: the profile is used.
        fx.env.remove("AWS_SECRET_ACCESS_KEY");
        let r = fx.resolve(&named("team")).unwrap();
        assert_eq!(r.credentials.unwrap().key_id, "AKIATEAM");
    }

    #[test]
    fn a_named_profile_that_is_missing_is_an_error_naming_it_and_the_files() {
        let mut fx = Fx::new();
        let e = fx.resolve(&named("nope")).unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, ProfileError::Missing { .. }), "{m}");
        assert!(
            m.contains("\"nope\"") && m.contains(".aws/credentials"),
            "{m}"
        );
        fx.set("AWS_PROFILE", "nope2");
        assert!(fx.resolve(&ProfileSettings::default()).is_err());
        // The implicit default missing everywhere is no error: no credentials.
        let empty = tempfile::tempdir().unwrap();
        let mut fx = Fx::new();
        fx.set("HOME", &empty.path().display().to_string());
        let r = fx.resolve(&ProfileSettings::default()).unwrap();
        assert_eq!(r.credentials, None);
        assert_eq!(r.source, Source::None);
    }

    #[test]
    fn indirect_incomplete_and_keyless_profiles_are_refused_by_key_name() {
        let fx = Fx::new();
        let e = fx.resolve(&named("sso")).unwrap_err().to_string();
        assert!(
            e.contains("sso_session") && e.contains("does not support"),
            "{e}"
        );
        assert!(!e.contains("corp"), "no value is shown: {e}");
        let e = fx.resolve(&named("onlyregion")).unwrap_err().to_string();
        assert!(e.contains("no aws_access_key_id"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("c");
        std::fs::write(&f, "[half]\naws_access_key_id = AKIAHALF\n").unwrap();
        let s = ProfileSettings {
            profile: Some("half".into()),
            shared_credentials_files: vec![f.display().to_string()],
            shared_config_files: vec![d.path().join("none").display().to_string()],
        };
        let e = fx.resolve(&s).unwrap_err().to_string();
        assert!(e.contains("no aws_secret_access_key"), "{e}");
        assert!(!e.contains("AKIAHALF"), "{e}");
    }

    #[test]
    fn a_role_to_assume_is_refused_even_beside_static_keys() {
        // The AWS SDKs assume the role and use the keys only to do so: taking the keys as the
        // credentials would act as another identity than Terraform does.
        let fx = Fx::new();
        let d = tempfile::tempdir().unwrap();
        let creds = d.path().join("credentials");
        let config = d.path().join("config");
        std::fs::write(
            &creds,
            "[ops]\naws_access_key_id = AKIABASEKEY\naws_secret_access_key = base\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/deployer\nsource_profile = ops\n",
        )
        .unwrap();
        let s = ProfileSettings {
            profile: Some("ops".into()),
            shared_credentials_files: vec![creds.display().to_string()],
            shared_config_files: vec![config.display().to_string()],
        };
        let e = fx.resolve(&s).unwrap_err();
        let m = e.to_string();
        assert!(
            matches!(
                e,
                ProfileError::Indirect {
                    key: "role_arn",
                    ..
                }
            ),
            "{m}"
        );
        assert!(!m.contains("deployer") && !m.contains("AKIABASE"), "{m}");
    }

    #[test]
    fn file_variables_and_backend_lists_choose_the_files() {
        let mut fx = Fx::new();
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::fs::write(
            &a,
            "[x]\naws_access_key_id = AKIAA\naws_secret_access_key = sa\n",
        )
        .unwrap();
        std::fs::write(&b, "[x]\naws_access_key_id = AKIAB\n").unwrap();
        fx.set("AWS_SHARED_CREDENTIALS_FILE", &a.display().to_string());
        let r = fx.resolve(&named("x")).unwrap();
        assert_eq!(r.credentials.unwrap().key_id, "AKIAA");
        // The backend's list replaces the variable; later files win key by key.
        let s = ProfileSettings {
            profile: Some("x".into()),
            shared_credentials_files: vec![a.display().to_string(), b.display().to_string()],
            shared_config_files: vec![],
        };
        let r = fx.resolve(&s).unwrap();
        let c = r.credentials.unwrap();
        assert_eq!((c.key_id.as_str(), c.secret_key.as_str()), ("AKIAB", "sa"));
        // `~/` in a listed file is the home folder.
        let s = ProfileSettings {
            profile: Some("team".into()),
            shared_credentials_files: vec!["~/.aws/credentials".into()],
            shared_config_files: vec!["~/.aws/config".into()],
        };
        assert_eq!(
            fx.resolve(&s).unwrap().region.as_deref(),
            Some("eu-central-1")
        );
        // AWS_CONFIG_FILE moves the config file.
        let cfg = d.path().join("cfg");
        std::fs::write(&cfg, "[profile team]\nregion = sa-east-1\n").unwrap();
        fx.set("AWS_CONFIG_FILE", &cfg.display().to_string());
        fx.env.remove("AWS_SHARED_CREDENTIALS_FILE");
        assert_eq!(
            fx.resolve(&named("team")).unwrap().region.as_deref(),
            Some("sa-east-1")
        );
    }

    #[test]
    fn a_fifo_or_a_huge_file_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a path in our own temporary folder.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_file(&fifo).unwrap_err();
        assert!(matches!(e, ProfileError::Io { .. }), "{e}");
        let big = d.path().join("big");
        let mut text = String::from("[default]\n");
        while (text.len() as u64) <= MAX_FILE_BYTES {
            text.push_str("# padding padding padding padding padding padding\n");
        }
        std::fs::write(&big, text).unwrap();
        assert!(matches!(
            read_file(&big).unwrap_err(),
            ProfileError::TooBig { .. }
        ));
        assert!(read_file(&d.path().join("absent")).unwrap().is_none());
        let bad = d.path().join("bad");
        std::fs::write(&bad, "[default]\naws_secret_access_key\n").unwrap();
        let e = read_file(&bad).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn debug_hides_the_secrets() {
        let c = Credentials {
            key_id: "AKIAVISIBLEPREFIX".into(),
            secret_key: "verysecret".into(),
            token: Some("tok".into()),
        };
        let d = format!("{c:?}");
        assert!(
            !d.contains("verysecret") && !d.contains("tok\"") && !d.contains("VISIBLE"),
            "{d}"
        );
    }
}
