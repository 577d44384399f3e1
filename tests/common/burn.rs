//! A C test program built by the tests, with frame pointers (leaf
//! functions too) and not
//! position-independent (so `nm` addresses are what the kernel reports): it
//! waits for a line on stdin, then burns CPU ~70% in `hot` and ~30% in
//! `cold` (for argv[2] seconds, default 2) and prints the share of CPU time
//! `hot` really got, or with `nap` sleeps 100 × 10 ms.
//!
//! The split is by time, not by iteration counts: the same loop runs at
//! different speeds depending on its code alignment (seen here: 7:3
//! iterations gave 60% or 78%, as `perf` agreed).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double clock_s(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* Spins until `until` (CLOCK_MONOTONIC), checking the clock (vDSO) only
 * every 20000 iterations, so nearly every sample lands in the loop. */
__attribute__((noinline)) void hot(double until)
{
	do {
		for (unsigned long i = 0; i < 20000; i++)
			sink += i * i;
	} while (now() < until);
}

__attribute__((noinline)) void cold(double until)
{
	do {
		for (unsigned long i = 0; i < 20000; i++)
			sink += i * i;
	} while (now() < until);
}

__attribute__((noinline)) void nap(void)
{
	struct timespec t = { 0, 10 * 1000 * 1000 };
	nanosleep(&t, 0);
}

int main(int argc, char **argv)
{
	char go[8];
	if (read(0, go, sizeof go) <= 0)
		return 1;
	if (argc > 1 && strcmp(argv[1], "nap") == 0) {
		double start = now();
		for (int i = 0; i < 100; i++)
			nap();
		/* 1 s asked for; wake-ups come late on a busy machine. */
		printf("nap_s %.4f\n", now() - start);
		return 0;
	}
	/* 7 ms in hot, 3 ms in cold, by the clock; the CPU time each really
	 * got (the machine may preempt either) is measured and printed. */
	double end = now() + (argc > 2 ? atof(argv[2]) : 2.0);
	double hot_cpu = 0, cold_cpu = 0;
	while (now() < end) {
		double a = clock_s(CLOCK_THREAD_CPUTIME_ID);
		hot(now() + 0.007);
		double b = clock_s(CLOCK_THREAD_CPUTIME_ID);
		cold(now() + 0.003);
		double c = clock_s(CLOCK_THREAD_CPUTIME_ID);
		hot_cpu += b - a;
		cold_cpu += c - b;
	}
	printf("hot_share %.4f\n", hot_cpu / (hot_cpu + cold_cpu));
	return 0;
}
"#;

/// Builds the test program with frame pointers, not position-independent,
/// so `nm` addresses are the addresses the kernel reports.
pub fn build(dir: &Path) -> PathBuf {
    compile(
        dir,
        "burn",
        &[
            "-O1",
            "-fno-omit-frame-pointer",
            // Else GCC leaves leaf functions without a frame, and the
            // unwinder skips their caller.
            "-mno-omit-leaf-frame-pointer",
        ],
    )
}

/// The same program built without frame pointers (as most distribution
/// binaries are), so frame-pointer unwinding cannot get past its frames.
pub fn build_without_frame_pointers(dir: &Path) -> PathBuf {
    compile(dir, "burn-nofp", &["-O2", "-fomit-frame-pointer"])
}

fn compile(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    super::compile_c(dir, name, PROGRAM, flags)
}

pub fn spawn(bin: &Path, args: &[&str]) -> Child {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn go(child: &mut Child) {
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
}

/// Waits for a burning child and returns the CPU share `hot` really got.
pub fn measured_hot_share(child: Child) -> f64 {
    measured(child, "hot_share")
}

/// Waits for a napping child and returns the seconds it spent in its naps.
pub fn measured_nap_seconds(child: Child) -> f64 {
    measured(child, "nap_s")
}

/// The `KEY VALUE` line the program prints at its end.
fn measured(child: Child, key: &str) -> f64 {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim()
        .strip_prefix(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected `{key} N`, got: {text}"))
}
