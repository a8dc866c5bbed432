//! How a failed command reports: one sentence on stderr saying what to do next, exit 1; with
//! `--json`, also one document on stdout:
//! `{"error": {"message", "hint", "file", "line", "column"}}` (`hint`, `file`, `line`,
//! `column` are null when unknown). A closed stdout is not an error worth a word: exit quietly.

use serde::Serialize;

use crate::config::ConfigError;

/// The `error` object of a `--json` failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDoc {
    pub message: String,
    pub hint: Option<String>,
    pub file: Option<String>,
    pub line: Option<u64>,
    pub column: Option<u64>,
}

#[derive(Serialize)]
struct Wrapper<'a> {
    error: &'a ErrorDoc,
}

impl ErrorDoc {
    /// Builds the document from the sentence printed on stderr: the message is what went wrong,
    /// the hint what to do next (house style: "what went wrong; what to do next"), and the
    /// position the first `file:line:column:` the text names.
    pub fn from_text(text: &str) -> ErrorDoc {
        let (message, hint) = split_hint(text);
        let pos = text.lines().find_map(position);
        ErrorDoc {
            message,
            hint,
            file: pos.as_ref().map(|p| p.0.clone()),
            line: pos.as_ref().map(|p| p.1),
            column: pos.as_ref().map(|p| p.2),
        }
    }

    /// `{"error": {...}}` on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&Wrapper { error: self }).unwrap_or_else(|_| {
            r#"{"error":{"message":"error","hint":null,"file":null,"line":null,"column":null}}"#
                .to_string()
        })
    }
}

/// Splits "what went wrong; what to do next" at the last `; ` of the last line.
fn split_hint(text: &str) -> (String, Option<String>) {
    let text = text.trim_end();
    let last_line_start = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
    match text[last_line_start..].rfind("; ") {
        Some(i) => {
            let cut = last_line_start + i;
            let hint = text[cut + 2..].trim();
            (
                text[..cut].to_string(),
                (!hint.is_empty()).then(|| hint.to_string()),
            )
        }
        None => (text.to_string(), None),
    }
}

/// `file:line:column: …` at the start of a line (config and HCL errors).
fn position(line: &str) -> Option<(String, u64, u64)> {
    let mut parts = line.splitn(4, ':');
    let file = parts.next()?.trim();
    let l: u64 = parts.next()?.trim().parse().ok()?;
    let c: u64 = parts.next()?.trim().parse().ok()?;
    parts.next()?;
    (!file.is_empty() && !file.contains(' ')).then(|| (file.to_string(), l, c))
}

/// Whether the failure is only that stdout was closed (`tfops status | head -1`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints a command's error (stderr; and stdout with `--json`); returns the exit code.
pub fn report(e: &anyhow::Error, json: bool) -> i32 {
    if is_broken_pipe(e) {
        return 0;
    }
    let text = format!("{e:#}");
    eprintln!("error: {text}");
    if json {
        let mut doc = ErrorDoc::from_text(&text);
        if let Some(ConfigError::Invalid(problems)) =
            e.chain().find_map(|c| c.downcast_ref::<ConfigError>())
        {
            if let Some(p) = problems.first() {
                doc.file = Some(p.file.clone());
                doc.line = Some(p.line as u64);
                doc.column = Some(p.column as u64);
            }
        }
        println!("{}", doc.to_json());
    }
    1
}

/// A command line that does not parse: clap's message on stderr and exit 1 (Terraform's code
/// for usage errors: 2 means "drift found" to `--detailed-exitcode` scripts); help and
/// `--version` exit 0.
pub fn usage(e: &clap::Error, json: bool) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        _ => {
            let _ = e.print();
            if json {
                let rendered = e.render().to_string();
                let first = rendered
                    .lines()
                    .next()
                    .unwrap_or("invalid command line")
                    .trim_start_matches("error: ")
                    .to_string();
                let doc = ErrorDoc {
                    message: first,
                    hint: Some("`tfops --help` lists the commands and flags".into()),
                    file: None,
                    line: None,
                    column: None,
                };
                println!("{}", doc.to_json());
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_and_hint_split_at_the_last_semicolon() {
        let d = ErrorDoc::from_text("no snapshot named x; `tfops backups` lists them");
        assert_eq!(d.message, "no snapshot named x");
        assert_eq!(d.hint.as_deref(), Some("`tfops backups` lists them"));
        assert_eq!(d.file, None);
        let d = ErrorDoc::from_text("plain failure");
        assert_eq!((d.message.as_str(), d.hint), ("plain failure", None));
    }

    #[test]
    fn position_comes_from_the_first_file_line_column() {
        let d = ErrorDoc::from_text(
            "config/tfops.hcl:17:3: unclosed quote\nconfig/tfops.hcl:20:1: x\nthe configuration is invalid; fix the lines above",
        );
        assert_eq!(d.file.as_deref(), Some("config/tfops.hcl"));
        assert_eq!((d.line, d.column), (Some(17), Some(3)));
        assert_eq!(d.hint.as_deref(), Some("fix the lines above"));
        assert!(d
            .message
            .starts_with("config/tfops.hcl:17:3: unclosed quote"));
    }

    #[test]
    fn json_document_has_every_field() {
        let v: serde_json::Value =
            serde_json::from_str(&ErrorDoc::from_text("a; b").to_json()).unwrap();
        let e = &v["error"];
        for k in ["message", "hint", "file", "line", "column"] {
            assert!(e.get(k).is_some(), "{k} missing in {v}");
        }
        assert_eq!(e["hint"], "b");
        assert!(e["line"].is_null());
    }

    #[test]
    fn broken_pipe_is_recognised_through_context() {
        let e = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing the table");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("x")));
    }
}
