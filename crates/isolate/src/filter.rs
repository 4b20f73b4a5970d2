//! The last steps before the program starts, in its own process: every
//! capability dropped and a seccomp filter installed (`no_new_privs` is
//! already set by hakoniwa, which the filter needs).

use caps::CapSet;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};
use std::collections::BTreeMap;

/// System calls a build has no use for and an escape would: mounts and
/// namespaces, modules and kexec, BPF and perf, keyrings, tracing other
/// processes, file handles (`open_by_handle_at` reaches files by inode),
/// the clock, swap, reboot, accounting.
const REFUSED: &[i64] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_syslog,
    libc::SYS_quotactl,
    libc::SYS_lookup_dcookie,
    libc::SYS_vhangup,
    libc::SYS_iopl,
    libc::SYS_ioperm,
];

/// `clone` flags that make a namespace.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// Drops every capability and installs the filters.
pub fn confine() -> Result<(), String> {
    drop_capabilities()?;
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|_| format!("no seccomp filter for {}", std::env::consts::ARCH))?;
    let mut refused: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|call| (*call, Vec::new())).collect();
    // `clone` is how threads and processes start; only its namespace
    // flags are refused.
    refused.insert(
        libc::SYS_clone,
        NAMESPACE_FLAGS
            .iter()
            .map(|flag| {
                SeccompRule::new(vec![
                    SeccompCondition::new(
                        0,
                        SeccompCmpArgLen::Qword,
                        SeccompCmpOp::MaskedEq(*flag),
                        *flag,
                    )
                    .expect("a valid condition"),
                ])
                .expect("a valid rule")
            })
            .collect(),
    );
    let filter: BpfProgram = SeccompFilter::new(
        refused,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(|e| format!("building the seccomp filter: {e}"))?;
    // `clone3` passes its flags in memory a filter cannot read: it answers
    // "not implemented", and the C library falls back to `clone`.
    let clone3: BpfProgram = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(|e| format!("building the seccomp filter: {e}"))?;
    seccompiler::apply_filter(&filter)
        .map_err(|e| format!("installing the seccomp filter: {e}"))?;
    seccompiler::apply_filter(&clone3)
        .map_err(|e| format!("installing the seccomp filter: {e}"))?;
    Ok(())
}

fn drop_capabilities() -> Result<(), String> {
    let fail =
        |what: &str, e: caps::errors::CapsError| format!("dropping capabilities ({what}): {e}");
    // The bounding set first (it needs CAP_SETPCAP, dropped last): an
    // exec can then never regain anything, whatever the user.
    for cap in caps::runtime::thread_all_supported() {
        caps::drop(None, CapSet::Bounding, cap).map_err(|e| fail("bounding", e))?;
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("ambient", e))?;
    caps::clear(None, CapSet::Inheritable).map_err(|e| fail("inheritable", e))?;
    caps::clear(None, CapSet::Effective).map_err(|e| fail("effective", e))?;
    caps::clear(None, CapSet::Permitted).map_err(|e| fail("permitted", e))?;
    Ok(())
}
