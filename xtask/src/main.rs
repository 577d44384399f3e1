//! Project chores: `cargo xtask ebpf [--check]`, `cargo xtask gen [--check]`,
//! `cargo xtask vmlinux`.
//!
//! Generated files are committed and checked for freshness in CI, so that
//! `cargo build` needs neither clang nor this tool.

mod ebpf;
mod gen_docs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build ebpf/*.bpf.c into the committed objects in ebpf/obj/.
    Ebpf {
        /// Build into a temporary directory and fail if the committed objects differ.
        #[arg(long)]
        check: bool,
    },
    /// Write shell completions into completions/ and man pages into man/.
    Gen {
        /// Fail if the committed files differ from what would be generated.
        #[arg(long)]
        check: bool,
    },
    /// Regenerate ebpf/vmlinux.h from this machine's /sys/kernel/btf/vmlinux.
    Vmlinux,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let root = project_root();
    let result = match args.task {
        Task::Ebpf { check } => ebpf::run(&root, check),
        Task::Gen { check } => gen_docs::run(&root, check),
        Task::Vmlinux => ebpf::vmlinux(&root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the project root")
        .to_path_buf()
}
