"""A seccomp filter for graded runs, written as a classic BPF program in plain Python.

Resource limits miss kernel state that is not counted against a process or outlives it: anonymous
memory files (memfd_create), System V and POSIX message queues, semaphores and shared memory, the
kernel keyrings, and a few ways to reach other processes or the kernel (ptrace, process_vm_*,
userfaultfd, bpf, perf_event_open, io_uring). A graded run gets EPERM for each of them. It gets
EPERM too for a socket of any family but AF_UNIX: without bubblewrap's network namespace (the
unprivileged-user path) a run could otherwise send the prerequisites' reference package, which it
may read, to any host; a local socket needs a listener on this machine.

bubblewrap loads the program from a file descriptor (`bwrap --seccomp FD`); without bubblewrap the
harness installs it itself (`install`, through prctl) before any student code runs. The program is
a handful of instructions (see `program`); no library is needed to build it.

The filter checks the architecture first: a 32-bit system call made from a 64-bit process (int 0x80
on x86-64) or an x32 one is refused outright, so the numbers below cannot be sidestepped.
"""

from __future__ import annotations

import errno
import platform
import struct

# struct seccomp_data: nr at offset 0, arch at offset 4
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
ARG0 = 16  # struct seccomp_data: args[0] at offset 16 (its low 32 bits on a little-endian machine)
AF_UNIX = 1
RET_KILL_PROCESS = 0x80000000
X32_SYSCALL_BIT = 0x40000000

DENIED = (
    "memfd_create",
    "memfd_secret",
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "semget",
    "semop",
    "semctl",
    "semtimedop",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
    "add_key",
    "request_key",
    "keyctl",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "userfaultfd",
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "unshare",
    "setns",
    "mount",
    "pivot_root",
)

# The architectures tito knows: AUDIT_ARCH value and system call numbers.
ARCHES = {
    "x86_64": (
        0xC000003E,
        {
            "memfd_create": 319, "memfd_secret": 447, "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67,
            "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69,
            "msgrcv": 70, "msgctl": 71, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242,
            "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245, "add_key": 248,
            "request_key": 249, "keyctl": 250, "ptrace": 101, "process_vm_readv": 310,
            "process_vm_writev": 311, "userfaultfd": 323, "bpf": 321, "perf_event_open": 298,
            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "unshare": 272,
            "setns": 308, "mount": 165, "pivot_root": 155, "socket": 41,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "memfd_create": 279, "memfd_secret": 447, "shmget": 194, "shmat": 196, "shmctl": 195, "shmdt": 197,
            "semget": 190, "semop": 193, "semctl": 191, "semtimedop": 192, "msgget": 186, "msgsnd": 189,
            "msgrcv": 188, "msgctl": 187, "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182,
            "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185, "add_key": 217,
            "request_key": 218, "keyctl": 219, "ptrace": 117, "process_vm_readv": 270,
            "process_vm_writev": 271, "userfaultfd": 282, "bpf": 280, "perf_event_open": 241,
            "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "unshare": 97,
            "setns": 268, "mount": 40, "pivot_root": 41, "socket": 198,
        },
    ),
}  # fmt: skip


class SeccompUnavailable(Exception):
    """This machine's architecture has no filter here."""


def _instruction(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes:
    """The filter as struct sock_filter[] bytes, for `bwrap --seccomp` or prctl."""
    machine = machine or platform.machine()
    if machine not in ARCHES:
        raise SeccompUnavailable(f"no seccomp filter for {machine}")
    arch, numbers = ARCHES[machine]
    denied = sorted({numbers[name] for name in DENIED})
    deny = RET_ERRNO | errno.EPERM
    code = [
        _instruction(BPF_LD_W_ABS, 0, 0, 4),  # A = arch
        _instruction(BPF_JEQ_K, 1, 0, arch),  # our architecture: go on
        _instruction(BPF_RET_K, 0, 0, RET_KILL_PROCESS),  # any other ABI: stop
        _instruction(BPF_LD_W_ABS, 0, 0, 0),  # A = nr
    ]
    tail = [  # after the list: socket(domain) is allowed for AF_UNIX only; then allow, and deny
        _instruction(BPF_JEQ_K, 0, 3, numbers["socket"]),  # not socket: to the allow
        _instruction(BPF_LD_W_ABS, 0, 0, ARG0),  # A = domain
        _instruction(BPF_JEQ_K, 1, 0, AF_UNIX),  # a local socket: to the allow
        _instruction(BPF_RET_K, 0, 0, deny),
        _instruction(BPF_RET_K, 0, 0, RET_ALLOW),
    ]
    if machine == "x86_64":
        code.append(_instruction(BPF_JGE_K, len(denied) + len(tail), 0, X32_SYSCALL_BIT))  # x32 calls: deny
    for index, number in enumerate(denied):
        code.append(_instruction(BPF_JEQ_K, len(denied) - index - 1 + len(tail), 0, number))  # to the deny below
    code += tail + [_instruction(BPF_RET_K, 0, 0, deny)]
    return b"".join(code)


def install() -> None:
    """Apply the filter to this process and its children (no_new_privs first, as the kernel asks)."""
    import ctypes

    filter_bytes = program()
    buffer = ctypes.create_string_buffer(filter_bytes, len(filter_bytes))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    fprog = Program(len(filter_bytes) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
