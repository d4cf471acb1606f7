//! Records the source commit (when built from a git checkout) for run summaries.
use std::process::Command;

/// `git ARGS`' output, trimmed, when git runs and succeeds here.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn main() {
    // The HEAD and branch refs of this checkout; in a worktree `.git` is a file and they
    // live elsewhere, and a path that does not exist would rerun this script (and rebuild
    // the crate) on every build.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let Some(dir) = git(&["rev-parse", "--git-common-dir"]) {
        println!("cargo:rerun-if-changed={dir}/refs/heads");
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
    println!("cargo:rustc-env=BSP_SIM_GIT_COMMIT={commit}");
}
