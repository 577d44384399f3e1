//! `#[repr(C)]` twins of the structs in `ebpf/dflow.h`.
//!
//! Each has the same compile-time size assert as its C side, so a change on
//! one side that is not made on the other fails the build, not the capture.
//! These types never leave `probe/`: [`Wire::decode`] turns a record into the
//! rich event of `crate::event`.

use std::net::{IpAddr, SocketAddr};

use crate::event::{Comm, SockEvent, SockWhat, SyscallEvent};
use crate::event::{Direction, Transport};

/// Length of a task comm, NUL included (TASK_COMM_LEN).
pub const COMM_LEN: usize = 16;

/// Bits of the `dflow_filter` .rodata constant.
pub const FILTER_PIDS: u32 = 1 << 0;
pub const FILTER_COMMS: u32 = 1 << 1;
pub const FILTER_PORTS: u32 = 1 << 2;

/// Slots of each object's `dflow_counters` per-CPU array.
pub const CTR_LOST: u32 = 0;

/// Index of each probe in doctor.bpf.c's `dflow_dr_hits` array.
pub mod doctor_slot {
    pub const TRACEPOINT: u32 = 0;
    pub const TP_BTF: u32 = 1;
    pub const RAW_TP: u32 = 2;
    pub const KPROBE: u32 = 3;
    pub const FENTRY: u32 = 4;
    pub const UPROBE: u32 = 5;
    pub const PERF_EVENT: u32 = 6;
}

/// A record a ring buffer carries, decoded into its rich event.
pub trait Wire: Copy {
    type Event: Send + 'static;

    /// Decodes one record; `None` when it is shorter than the struct (which
    /// only a mismatched object could produce).
    fn decode(bytes: &[u8]) -> Option<Self::Event>;
}

/// Reads a plain-data struct from the start of `bytes`, whatever its alignment.
fn read<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked above, `read_unaligned` has no alignment
    // requirement, and every `T` used here is a repr(C) struct of integers
    // and byte arrays, for which any bit pattern is valid.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// A NUL-padded kernel string as an owned string (lossy for non-UTF-8).
pub fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `struct dflow_syscall_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SyscallRecord {
    pub ts_ns: u64,
    pub nr: i64,
    pub pid: u32,
    pub tid: u32,
    pub comm: [u8; COMM_LEN],
}
const _: () = assert!(size_of::<SyscallRecord>() == 40);

impl Wire for SyscallRecord {
    type Event = SyscallEvent;

    fn decode(bytes: &[u8]) -> Option<SyscallEvent> {
        let r: SyscallRecord = read(bytes)?;
        Some(SyscallEvent {
            ts_ns: r.ts_ns,
            pid: r.pid,
            tid: r.tid,
            nr: r.nr,
            comm: c_string(&r.comm),
        })
    }
}

/// A stack id profile.bpf.c did not ask for (`DFLOW_NO_STACK`).
pub const NO_STACK: i32 = -1000;

/// Frames the kernel keeps per stack (`DFLOW_STACK_DEPTH`).
pub const STACK_DEPTH: usize = 127;

/// `struct dflow_stack_key`: what profile.bpf.c aggregates samples by.
/// Negative stack ids are the kernel's error (-EFAULT: no such stack).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StackKey {
    pub pid: u32,
    /// 0 unless per-thread.
    pub tid: u32,
    pub user_stack_id: i32,
    pub kernel_stack_id: i32,
}
const _: () = assert!(size_of::<StackKey>() == 16);

/// `struct dflow_stack_value`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackValue {
    /// Samples (on-CPU) or blocking episodes (off-CPU).
    pub count: u64,
    /// Blocked time (off-CPU); 0 on-CPU.
    pub total_ns: u64,
}
const _: () = assert!(size_of::<StackValue>() == 16);

// SAFETY: repr(C) structs of integers without padding: any bit pattern is valid.
unsafe impl aya::Pod for StackKey {}
// SAFETY: as above.
unsafe impl aya::Pod for StackValue {}

/// `struct dflow_new_pid`: a process profile.bpf.c sampled for the first time.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct NewPidRecord {
    pub pid: u32,
    pub comm: [u8; COMM_LEN],
}
const _: () = assert!(size_of::<NewPidRecord>() == 20);

/// A newly seen process: its pid and its name (its group leader's comm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPid {
    pub pid: u32,
    pub comm: String,
}

impl Wire for NewPidRecord {
    type Event = NewPid;

    fn decode(bytes: &[u8]) -> Option<NewPid> {
        let r: NewPidRecord = read(bytes)?;
        Some(NewPid {
            pid: r.pid,
            comm: c_string(&r.comm),
        })
    }
}

/// `struct dflow_data_event`: one socket syscall of trace.bpf.c, followed
/// by `captured` payload bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DataRecord {
    pub enter_ns: u64,
    pub exit_ns: u64,
    pub sock: u64,
    pub bytes: u64,
    pub pid: u32,
    pub tid: u32,
    pub fd: u32,
    pub seq: u32,
    pub captured: u32,
    pub offset: u32,
    pub family: u16,
    pub lport: u16,
    pub rport: u16,
    pub kind: u8,
    pub direction: u8,
    pub transport: u8,
    pub _pad: [u8; 7],
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    pub comm: [u8; COMM_LEN],
}
const _: () = assert!(size_of::<DataRecord>() == 120);

/// `struct dflow_hint_key`: one direction of a TCP socket in trace.bpf.c's
/// `dflow_tr_hints`, whose value is the sequence number where the next
/// message begins.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintKey {
    pub sock: u64,
    /// 0: egress, 1: ingress.
    pub direction: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<HintKey>() == 16);

// SAFETY: repr(C), no padding the compiler adds (checked above), every bit
// pattern valid.
unsafe impl aya::Pod for HintKey {}

impl HintKey {
    pub fn new(sock: u64, direction: Direction) -> HintKey {
        HintKey {
            sock,
            direction: match direction {
                Direction::Egress => 0,
                Direction::Ingress => 1,
            },
            _pad: 0,
        }
    }
}

/// `DFLOW_MAX_SNAPLEN`: the most payload bytes copied per syscall.
pub const MAX_SNAPLEN: u32 = 16384;

const AF_INET: u16 = 2;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

fn socket_addr(family: u16, addr: &[u8; 16], port: u16) -> SocketAddr {
    let ip = if family == AF_INET {
        IpAddr::from([addr[0], addr[1], addr[2], addr[3]])
    } else {
        let v6 = std::net::Ipv6Addr::from(*addr);
        // A v4 peer of a dual-stack socket shows as itself.
        v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
    };
    SocketAddr::new(ip, port)
}

impl Wire for DataRecord {
    type Event = SockEvent;

    fn decode(bytes: &[u8]) -> Option<SockEvent> {
        let r: DataRecord = read(bytes)?;
        let transport = match r.transport {
            IPPROTO_TCP => Transport::Tcp,
            IPPROTO_UDP => Transport::Udp,
            _ => return None,
        };
        let what = match r.kind {
            0 => {
                let start = size_of::<DataRecord>();
                let end = start.checked_add(r.captured as usize)?;
                SockWhat::Data {
                    direction: if r.direction == 0 {
                        Direction::Egress
                    } else {
                        Direction::Ingress
                    },
                    seq: r.seq,
                    bytes: r.bytes,
                    offset: u64::from(r.offset),
                    payload: bytes.get(start..end)?.to_vec(),
                }
            }
            1 => SockWhat::Connect,
            3 => SockWhat::Close,
            _ => return None,
        };
        Some(SockEvent {
            enter_ns: r.enter_ns,
            exit_ns: r.exit_ns,
            pid: r.pid,
            tid: r.tid,
            fd: r.fd,
            sock: r.sock,
            transport,
            local: socket_addr(r.family, &r.laddr, r.lport),
            remote: socket_addr(r.family, &r.raddr, r.rport),
            comm: Comm::from_kernel(r.comm),
            what,
        })
    }
}

/// `struct dflow_comm_key`: key of the `dflow_comms` filter map.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommKey {
    pub comm: [u8; COMM_LEN],
}
const _: () = assert!(size_of::<CommKey>() == 16);

impl CommKey {
    /// The key for a comm; longer names are cut to the 15 bytes the kernel keeps.
    pub fn new(comm: &str) -> CommKey {
        CommKey {
            comm: Comm::new(comm).bytes(),
        }
    }
}

// SAFETY: a repr(C) array of bytes, no padding, valid for any bit pattern.
unsafe impl aya::Pod for CommKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_record_at_any_alignment() {
        let mut buf = [0u8; 1 + 40];
        let rec = &mut buf[1..];
        rec[0..8].copy_from_slice(&123u64.to_ne_bytes());
        rec[8..16].copy_from_slice(&39i64.to_ne_bytes());
        rec[16..20].copy_from_slice(&7u32.to_ne_bytes());
        rec[20..24].copy_from_slice(&8u32.to_ne_bytes());
        rec[24..28].copy_from_slice(b"cat\0");
        let e = SyscallRecord::decode(&buf[1..]).unwrap();
        assert_eq!(
            e,
            SyscallEvent {
                ts_ns: 123,
                pid: 7,
                tid: 8,
                nr: 39,
                comm: "cat".into()
            }
        );
        assert!(SyscallRecord::decode(&buf[1..40]).is_none());
    }

    #[test]
    fn comm_key_is_nul_padded_and_cut() {
        assert_eq!(&CommKey::new("nginx").comm[..6], b"nginx\0");
        let long = CommKey::new("0123456789abcdefXYZ");
        assert_eq!(&long.comm[..15], b"0123456789abcde");
        assert_eq!(long.comm[15], 0);
    }
}
