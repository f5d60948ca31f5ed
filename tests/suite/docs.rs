//! The documentation stays true to the program: every README example marked runnable is run and its output
//! checked line by line (numbers aside), every flag clap knows is in the reference page, every relative
//! link resolves, and the README stays a front door (at most 400 lines, no development history).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use clap::CommandFactory;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Markdown pages a reader is sent to: README.md, CONTRIBUTING.md and everything under docs/.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut pages = vec![root().join("README.md"), root().join("CONTRIBUTING.md")];
    walk(&root().join("docs"), &mut pages);
    pages
}

/// A line as its shape: every number becomes `0` (a run's figures differ between engines and machines),
/// a log-scale bar one `█`, and runs of spaces one space.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
            if out.ends_with('-') {
                out.pop();
            }
            out.push('0');
        } else if c == '█' || c == ' ' {
            while chars.peek() == Some(&c) {
                chars.next();
            }
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn shapes_ignore_figures_bars_and_spacing() {
    assert_eq!(shape("  1   5.29e-10 ██ "), shape("1 1.3e-9 █████"));
    assert_ne!(shape("healthy 0.2"), shape("vanishing 0.2"));
}

/// The README's runnable examples: a `<!-- runnable -->` line, then a fenced block whose first line is
/// `$ vanish ARGS` and whose other lines are that command's output (`…` stands for lines left out).
fn runnable_examples(readme: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut examples = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "<!-- runnable -->" {
            continue;
        }
        assert!(lines[i + 1].starts_with("```"), "line {}: a runnable marker must precede a code block", i + 2);
        let command = lines[i + 2].strip_prefix("$ vanish ").unwrap_or_else(|| panic!("line {}: `$ vanish …`", i + 3));
        let output: Vec<String> =
            lines[i + 3..].iter().take_while(|l| !l.starts_with("```")).map(|l| l.to_string()).collect();
        examples.push((command.split_whitespace().map(String::from).collect(), output));
    }
    examples
}

#[test]
fn readme_examples_print_what_the_readme_shows() {
    let readme = read(&root().join("README.md"));
    let examples = runnable_examples(&readme);
    assert!(examples.len() >= 4, "the README marks {} examples runnable", examples.len());
    let scratch = tempfile::tempdir().unwrap();
    for (args, shown) in examples {
        // Output folders named under /tmp/vanish-readme go to this test's own scratch folder.
        let args: Vec<String> =
            args.iter().map(|a| a.replace("/tmp/vanish-readme", &scratch.path().display().to_string())).collect();
        let out = Command::cargo_bin("vanish").unwrap().current_dir(root()).args(&args).output().unwrap();
        let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "vanish {}: {}\n{printed}", args.join(" "), out.status);
        let printed: Vec<String> = printed.lines().map(shape).collect();
        let mut at = 0;
        for line in shown.iter().filter(|l| l.trim() != "…") {
            let want = shape(&line.replace("/tmp/vanish-readme", &scratch.path().display().to_string()));
            match printed[at..].iter().position(|p| *p == want) {
                Some(k) => at += k + 1,
                None => panic!(
                    "vanish {}: the README shows\n  {line}\nwhich the program no longer prints (after line {at} of its \
                     output):\n{}",
                    args.join(" "),
                    printed.join("\n")
                ),
            }
        }
    }
}

/// Every long flag of `command` and its subcommands, as `--name`.
fn flags(command: &clap::Command, out: &mut Vec<(String, String)>) {
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long() {
            out.push((command.get_name().to_string(), format!("--{long}")));
        }
    }
    for sub in command.get_subcommands() {
        flags(sub, out);
    }
}

#[test]
fn the_reference_names_every_flag_of_every_command() {
    let reference = read(&root().join("docs/guide/reference.md"));
    let mut all = Vec::new();
    flags(&vanish::cli::Cli::command(), &mut all);
    assert!(all.len() > 50, "{} flags", all.len());
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, flag)| !reference.contains(&format!("`{flag}`")) && !reference.contains(&format!("`{flag} ")))
        .map(|(command, flag)| format!("{command} {flag}"))
        .collect();
    assert!(missing.is_empty(), "docs/guide/reference.md does not describe: {missing:?}");
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation other than `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(page: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in page.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of a page's Markdown links `[text](target)` outside code blocks.
fn links(page: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in page.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = read(&page);
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            if !path.exists() {
                broken.push(format!("{}: {target} (no such file)", page.display()));
                continue;
            }
            if !fragment.is_empty() && !anchors(&read(&path)).contains(&fragment.to_string()) {
                broken.push(format!("{}: {target} (no such heading)", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(lines <= 400, "README.md has {lines} lines; the guide in docs/ is the place for more");
    for history in ["this session", "earlier run", "previous session", "last session"] {
        assert!(!readme.to_lowercase().contains(history), "README.md tells history: `{history}`");
    }
}

#[test]
fn the_performance_page_has_the_benchmark_markers() {
    let page = read(&root().join("docs/performance.md"));
    assert!(vanish::bench::splice(&page, "").is_ok(), "docs/performance.md lost its markers");
}
