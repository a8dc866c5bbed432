//! Where an HCL syntax error *starts*: a parser reports where it noticed a problem, which for
//! an unclosed quote is the next line and for a missing `}` is the end of the file. This scan
//! finds the quote that is never closed and the `{` that is never matched, so that an error can
//! point at the line to fix and say what was expected. Pure; it does not parse HCL, it only
//! follows strings, comments, heredocs and brackets.

/// A better position and message for a syntax error, as a byte offset into the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub offset: usize,
    pub message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    /// `{` `[` `(` outside strings, or `${` / `%{` inside a template.
    Bracket(u8),
    /// A quoted string.
    Quote,
}

/// Leading whitespace width of the line holding `offset`, and whether only whitespace precedes
/// `offset` on it.
fn indent_at(text: &str, offset: usize) -> (usize, bool) {
    let start = text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let before = &text[start..offset];
    let indent = text[start..]
        .bytes()
        .take_while(|b| *b == b' ' || *b == b'\t')
        .count();
    (indent, before.trim().is_empty())
}

fn closer(open: u8) -> u8 {
    match open {
        b'{' => b'}',
        b'[' => b']',
        _ => b')',
    }
}

/// Finds an unclosed quoted string, an unmatched or mismatched bracket, or an unterminated
/// heredoc or block comment; `None` when the brackets and quotes balance.
pub fn explain(text: &str) -> Option<Hint> {
    let b = text.as_bytes();
    let mut stack: Vec<(Open, usize)> = Vec::new();
    // A `{` closed by a `}` at another indentation: the likely place a `}` is missing.
    let mut suspect: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let in_string = matches!(stack.last(), Some((Open::Quote, _)));
        let c = b[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => {
                    stack.pop();
                }
                b'\n' => {
                    let (_, at) = stack.pop().unwrap_or((Open::Quote, i));
                    return Some(Hint {
                        offset: at,
                        message: "unclosed string: this quote is never closed; expected `\"` before the end of the line".into(),
                    });
                }
                b'$' | b'%' if b.get(i + 1) == Some(&b'{') => {
                    if b.get(i.wrapping_sub(1)) != Some(&c) {
                        stack.push((Open::Bracket(b'{'), i + 1));
                    }
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match text[i + 2..].find("*/") {
                Some(e) => {
                    i += 2 + e + 2;
                    continue;
                }
                None => {
                    return Some(Hint {
                        offset: i,
                        message: "unclosed comment: this `/*` is never closed; expected `*/`"
                            .into(),
                    })
                }
            },
            b'<' if b.get(i + 1) == Some(&b'<') => {
                // Heredoc: <<EOT or <<-EOT, then lines up to one that is the marker alone.
                let mut j = i + 2;
                if b.get(j) == Some(&b'-') {
                    j += 1;
                }
                let start = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                let marker = &text[start..j];
                if !marker.is_empty() {
                    let body_start = text[j..].find('\n').map(|n| j + n + 1).unwrap_or(b.len());
                    let mut pos = body_start;
                    let mut closed = None;
                    while pos < b.len() {
                        let end = text[pos..].find('\n').map(|n| pos + n).unwrap_or(b.len());
                        if text[pos..end].trim() == marker {
                            closed = Some(end);
                            break;
                        }
                        pos = end + 1;
                    }
                    match closed {
                        Some(e) => {
                            i = e;
                            continue;
                        }
                        None => {
                            return Some(Hint {
                                offset: i,
                                message: format!(
                                    "unclosed heredoc: expected a line with `{marker}` alone to end it"
                                ),
                            })
                        }
                    }
                }
            }
            b'"' => stack.push((Open::Quote, i)),
            b'{' | b'[' | b'(' => stack.push((Open::Bracket(c), i)),
            b'}' | b']' | b')' => match stack.pop() {
                Some((Open::Bracket(o), at)) if closer(o) == c => {
                    // Back inside a template string: nothing to compare.
                    let (ci, c_first) = indent_at(text, i);
                    let (oi, _) = indent_at(text, at);
                    if o == b'{' && c_first && ci != oi && suspect.is_none() {
                        suspect = Some(at);
                    }
                }
                Some((Open::Bracket(o), at)) => {
                    return Some(Hint {
                        offset: i,
                        message: format!(
                            "unexpected `{}`: expected `{}` to close the `{}` opened earlier (see its line {})",
                            c as char,
                            closer(o) as char,
                            o as char,
                            text[..at].matches('\n').count() + 1
                        ),
                    })
                }
                _ => {
                    return Some(Hint {
                        offset: i,
                        message: format!("unexpected `{}`: nothing is open here to close", c as char),
                    })
                }
            },
            _ => {}
        }
        i += 1;
    }
    let (open, at) = *stack.first()?;
    let at = match (open, suspect) {
        (Open::Bracket(b'{'), Some(s)) => s,
        _ => at,
    };
    let o = b[at];
    Some(Hint {
        offset: at,
        message: format!(
            "missing `{}`: the `{}` here is never closed",
            closer(o) as char,
            o as char
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_col(text: &str, off: usize) -> (usize, usize) {
        let line = text[..off].matches('\n').count() + 1;
        let col = off - text[..off].rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        (line, col)
    }

    #[test]
    fn an_unclosed_quote_points_at_its_own_line() {
        let text = "services {\n  count = 3\n}\n\nbalancer {\n  strategy = \"round_robin\n  settle = \"0s\"\n}\n";
        let h = explain(text).unwrap();
        assert_eq!(line_col(text, h.offset), (6, 14));
        assert!(h.message.contains("unclosed string"), "{}", h.message);
    }

    #[test]
    fn a_missing_brace_points_at_the_block_that_lacks_it() {
        let mut text = String::from("services {\n  count = 3\n}\n");
        text.push_str("health {\n  interval = \"10s\"\n\n"); // line 4 never closed
        for n in 0..5 {
            text.push_str(&format!(
                "schedule \"s{n}\" {{\n  off = \"00:00-06:00\"\n}}\n"
            ));
        }
        let h = explain(&text).unwrap();
        assert_eq!(line_col(&text, h.offset).0, 4, "{}", h.message);
        assert!(h.message.starts_with("missing `}`"), "{}", h.message);
    }

    #[test]
    fn a_missing_inner_brace_is_found_by_indentation() {
        let text = "a {\n  b {\n    x = 1\n\n  c = 2\n}\n";
        let h = explain(text).unwrap();
        assert_eq!(line_col(text, h.offset).0, 2, "{}", h.message);
    }

    #[test]
    fn strings_comments_heredocs_and_templates_are_skipped() {
        let text = "# a \"quote in a comment\n// and { here\n/* and } here */\na {\n  s = \"}{ ${var.x} %{ if true }y%{ endif } \\\" \"\n  h = <<-EOT\n    { \" unbalanced\n    EOT\n  l = [1, (2), {k = \"v\"}]\n}\n";
        assert_eq!(explain(text), None);
    }

    #[test]
    fn stray_and_mismatched_closers() {
        let text = "a {\n}\n}\n";
        let h = explain(text).unwrap();
        assert_eq!(line_col(text, h.offset).0, 3);
        assert!(h.message.contains("nothing is open"), "{}", h.message);
        let text = "a = [1, 2}\n";
        let h = explain(text).unwrap();
        assert!(h.message.contains("expected `]`"), "{}", h.message);
    }

    #[test]
    fn unterminated_heredoc_and_comment() {
        assert!(explain("a = <<EOT\nx\n")
            .unwrap()
            .message
            .contains("heredoc"));
        assert!(explain("/* x\n").unwrap().message.contains("comment"));
    }
}
