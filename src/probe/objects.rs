//! The committed eBPF objects, embedded in the binary.
//!
//! Built from `ebpf/*.bpf.c` by `cargo xtask ebpf` (clang-19, CO-RE, DWARF
//! stripped, BTF kept); `cargo xtask ebpf --check` proves they match the
//! sources. `cargo build` only reads them, so it never needs clang.

/// An embedded object and the name it is reported under.
#[derive(Debug, Clone, Copy)]
pub struct Object {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

/// `ebpf/syscalls.bpf.c`: raw_syscalls:sys_enter events of the target tasks.
pub const SYSCALLS: Object = Object {
    name: "syscalls.bpf.o",
    bytes: aya::include_bytes_aligned!("../../ebpf/obj/syscalls.bpf.o"),
};

/// `ebpf/trace.bpf.c`: socket syscalls with the first bytes of their payloads.
pub const TRACE: Object = Object {
    name: "trace.bpf.o",
    bytes: aya::include_bytes_aligned!("../../ebpf/obj/trace.bpf.o"),
};

/// `ebpf/profile.bpf.c`: on- and off-CPU stack counts aggregated in the kernel.
pub const PROFILE: Object = Object {
    name: "profile.bpf.o",
    bytes: aya::include_bytes_aligned!("../../ebpf/obj/profile.bpf.o"),
};

/// `ebpf/doctor.bpf.c`: one tiny program per program type.
pub const DOCTOR: Object = Object {
    name: "doctor.bpf.o",
    bytes: aya::include_bytes_aligned!("../../ebpf/obj/doctor.bpf.o"),
};
