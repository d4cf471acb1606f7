//! The command line as a researcher reads it: every flag and argument of every subcommand
//! has help text, and no help mentions an internal issue number.

use assert_cmd::Command;

const SUBCOMMANDS: &[&[&str]] = &[
    &["run"],
    &["trace"],
    &["plot"],
    &["eval"],
    &["compare"],
    &["validate"],
    &["causal"],
    &["gradcheck"],
    &["data", "fetch"],
    &["bench"],
];

fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("bsp-sim")
        .unwrap()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The entries of the `Arguments:` and `Options:` sections that have no text: a line that
/// starts an entry (`  -x, --flag <V>`, `  --flag`, `  <ARG>`, `  [ARG]`), ends with its
/// name, and is not followed by an indented description (clap's long help layout).
fn entries_without_help(text: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut in_section = false;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().copied().enumerate() {
        let next_describes = lines
            .get(i + 1)
            .is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
        if line == "Arguments:" || line == "Options:" {
            in_section = true;
            continue;
        }
        // Blank lines separate entries in the long layout; a heading ends the section.
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            in_section = false;
            continue;
        }
        let entry = line.trim_start();
        let starts_entry = line.starts_with("  ")
            && !line.starts_with("          ")
            && (entry.starts_with('-') || entry.starts_with('<') || entry.starts_with('['));
        if in_section && starts_entry && !entry.contains("  ") && !next_describes {
            missing.push(entry.to_string());
        }
    }
    missing
}

#[test]
fn every_flag_and_argument_of_every_subcommand_has_help() {
    for args in SUBCOMMANDS {
        let text = help(args);
        assert!(text.contains("Options:"), "{args:?}: {text}");
        let missing = entries_without_help(&text);
        assert!(
            missing.is_empty(),
            "bsp-sim {} --help: no help text for {missing:?}\n{text}",
            args.join(" ")
        );
    }
}

#[test]
fn the_checker_sees_an_entry_without_help() {
    let text = "Usage: x\n\nOptions:\n      --seed <SEED>\n  -h, --help  Print help\n";
    assert_eq!(entries_without_help(text), vec!["--seed <SEED>"]);
    let long = "Options:\n      --seed <SEED>\n          Random seed\n\n      --json\n\n";
    assert_eq!(entries_without_help(long), vec!["--json"]);
}

#[test]
fn no_help_and_no_readme_line_mentions_an_issue_number() {
    let mut texts = vec![("bsp-sim --help".to_string(), help(&[]))];
    for args in SUBCOMMANDS {
        texts.push((format!("bsp-sim {} --help", args.join(" ")), help(args)));
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    texts.push(("README.md".into(), readme));
    for (name, text) in texts {
        for line in text.lines() {
            let lower = line.to_lowercase();
            let numbered = lower
                .match_indices("issue ")
                .any(|(i, _)| lower[i + 6..].starts_with(|c: char| c.is_ascii_digit()));
            assert!(!numbered, "{name} mentions an issue number: {line}");
        }
    }
}

#[test]
fn set_is_offered_by_every_command_that_loads_a_model() {
    for cmd in ["run", "trace", "compare", "bench", "gradcheck", "validate"] {
        let text = help(&[cmd]);
        assert!(text.contains("--set <PATH=VALUE>"), "{cmd}: {text}");
    }
}
