//! `tfops completions bash|zsh|fish` and `tfops man`: generated from the same command-line
//! definition as `--help` (clap_complete, clap_mangen), so they never fall out of date.

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::Cli;

/// The shells completions are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Prints the completion script for `shell` on stdout.
///
/// # Errors
/// When stdout cannot be written.
pub fn completions(shell: Shell) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    let s = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(s, &mut cmd, "tfops", &mut out);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    Ok(0)
}

/// The man page (roff): tfops(1), then one section per command with its options.
///
/// # Errors
/// When the page cannot be rendered.
pub fn render_man() -> anyhow::Result<Vec<u8>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("cannot render the man page")?;
    // The subcommands' own options, as `git help` pages do, in one page.
    for sub in cmd.get_subcommands() {
        append_command(&mut out, &format!("tfops {}", sub.get_name()), sub)?;
    }
    Ok(out)
}

fn append_command(out: &mut Vec<u8>, name: &str, cmd: &clap::Command) -> anyhow::Result<()> {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('-', "\\-");
    writeln!(out, ".SH \"{}\"", escape(&name.to_uppercase()))?;
    let about = cmd
        .get_long_about()
        .or(cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let usage = cmd.clone().bin_name(name).render_usage().to_string();
    writeln!(out, ".PP\n{}", escape(usage.trim()))?;
    if !about.is_empty() {
        for para in about.split("\n\n") {
            writeln!(out, ".PP\n{}", escape(&para.replace('\n', " ")))?;
        }
    }
    for arg in cmd
        .get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_hide_set())
    {
        let mut head = String::new();
        if let Some(s) = arg.get_short() {
            head.push_str(&format!("-{s}"));
        }
        if let Some(l) = arg.get_long() {
            if !head.is_empty() {
                head.push_str(", ");
            }
            head.push_str(&format!("--{l}"));
        }
        if head.is_empty() {
            head = format!("<{}>", arg.get_id().as_str().to_uppercase());
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", escape(&head), escape(&help))?;
    }
    for sub in cmd.get_subcommands() {
        append_command(out, &format!("{name} {}", sub.get_name()), sub)?;
    }
    Ok(())
}

/// `tfops man`: prints the page on stdout (`tfops man > tfops.1 && man ./tfops.1`).
///
/// # Errors
/// When stdout cannot be written.
pub fn man() -> anyhow::Result<i32> {
    let page = render_man()?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&page).context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")?;
    Ok(0)
}
