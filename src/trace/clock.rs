//! The clocks of the kernel's timestamps, and the wall clock's offset from
//! them.

/// CLOCK_MONOTONIC now, in ns: the clock of the kernel's timestamps.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Unix epoch ns minus CLOCK_MONOTONIC ns, now.
pub fn epoch_offset_ns() -> i64 {
    clock_ns(libc::CLOCK_REALTIME) as i64 - monotonic_ns() as i64
}
