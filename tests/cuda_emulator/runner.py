"""Launch server for cuda_emulator (stdlib only): runs kernels of emulated .so files on a shared arena.

Started by emulator._Runner as `python -I runner.py REQ_FD RESP_FD ARENA_FD`. Each request is a
length-prefixed pickle (so path, kernel, arena size, launch config, sizes, arg spec); each reply is
(rc, message). A kernel that crashes kills this process only; the parent reports and restarts it.
"""
import ctypes
import mmap
import os
import pickle
import struct
import sys

_ERRLEN = 8192


def _read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main():
    req, resp, arena_fd = (int(a) for a in sys.argv[1:4])
    libc, fns, mm, base, size = ctypes.CDLL(None), {}, None, 0, 0
    while True:
        head = _read_exact(req, 8)
        if head is None:
            return  # the parent closed the pipe
        so, name, arena_size, cfg, sizes, spec = pickle.loads(_read_exact(req, struct.unpack("Q", head)[0]))
        if arena_size != size:  # the parent grew the arena: map it again (old map stays referenced)
            mm, size = mmap.mmap(arena_fd, arena_size), arena_size
            base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        if (so, name) not in fns:
            fn = getattr(ctypes.CDLL(so), f"emu_launch__{name}")
            fn.restype, fn.argtypes = ctypes.c_int, [ctypes.c_void_p] * 4 + [ctypes.c_int]
            fns[so, name] = fn
        n = max(1, len(spec))
        slots = [ctypes.c_void_p(v + base if v else None) if k == "p" else ctypes.create_string_buffer(v)
                 for k, v in spec]
        argv = (ctypes.c_void_p * n)(*[ctypes.addressof(s) for s in slots])
        err = ctypes.create_string_buffer(_ERRLEN)
        rc = fns[so, name](argv, (ctypes.c_longlong * n)(*sizes), (ctypes.c_longlong * 7)(*cfg), err, _ERRLEN)
        libc.fflush(None)
        out = pickle.dumps((rc, err.value.decode(errors="replace")))
        os.write(resp, struct.pack("Q", len(out)) + out)


if __name__ == "__main__":
    main()
