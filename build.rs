//! Records the git commit for `dflow --version`. Outside a git checkout (a
//! source tarball) the commit is "unknown"; nothing here needs git to build.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DFLOW_GIT_COMMIT={commit}");

    // Rebuild when HEAD moves. Only paths that exist are named: a missing one
    // would rerun this script on every build. A directory is scanned whole.
    let git = Path::new(".git");
    for watched in ["HEAD", "refs", "packed-refs"] {
        if git.join(watched).exists() {
            println!("cargo:rerun-if-changed=.git/{watched}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
