"""Measurement prototype, not an engine path: the data-parallel fused epoch as ONE compiled call that calls
MPI_Allreduce itself, against the engine's route (one compiled step per batch + mpi4py's Allreduce,
backends/cpu_fused_dp.py), alternating in one run (DESIGN.md, the fused MLP, data-parallel).

    mpiexec -n 2 python -m mpi4py bench/fused_dp_inkernel.py [--rounds 7]
    python bench/fused_dp_inkernel.py                        # a world of 1

MPI_Allreduce's address comes from the libmpi that mpi4py loaded (ctypes) and is passed to the compiled
epoch as an int64, which an intrinsic casts to a function pointer, so cache=True holds across processes.
MPICH only (its handles are 32-bit ints and MPI_IN_PLACE is (void*)-1; mpi4py reports the sizes): the
prototype refuses other MPIs. MNIST-shaped synthetic data (16384 rows, 784-128-64-10, Adam, batch 64).
"""
import argparse
import ctypes
import statistics
import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

import fastnn
import fastnn.distributed as dist
from fastnn import nn, optim
from fastnn.fused import FusedMLP
from fastnn.kernels.fused_mlp import cpu, dp


@intrinsic
def _allreduce_inplace(typingctx, fn, buf, count, dtype, op, comm):
    # MPI_Allreduce(MPI_IN_PLACE, buf.data, count, dtype, op, comm) through the address fn (MPICH ABI)
    sig = types.int32(fn, buf, count, dtype, op, comm)

    def codegen(context, builder, signature, args):
        fn_, buf_, count_, dtype_, op_, comm_ = args
        i32, vp = ir.IntType(32), ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(i32, [vp, vp, i32, i32, i32, i32])
        data = context.make_array(signature.args[1])(context, builder, buf_).data
        in_place = builder.inttoptr(ir.Constant(ir.IntType(64), -1), vp)
        return builder.call(builder.inttoptr(fn_, fnty.as_pointer()),
                            [in_place, builder.bitcast(data, vp), builder.trunc(count_, i32),
                             builder.trunc(dtype_, i32), builder.trunc(op_, i32), builder.trunc(comm_, i32)])
    return sig, codegen


@numba.njit(cache=True, nogil=True)
def dp_epoch_inkernel(mpi, flat, params, state, X, Y_idx, Y_val, perm, B, rank, world, scale, shift, hp, opt_code,
                      step0, dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx, yb_val, acts,
                      act_off, drops, drop_off, deltas, delta_off, tbuf, nthreads, max_norm):
    # mpi = [MPI_Allreduce address, datatype, op, comm]; the per-step route's loop, compiled
    N, P = perm.shape[0], params.size
    tot = np.zeros(2)
    steps = 0
    for s in range(0, N, B):
        Bg = min(B, N - s)
        lo, hi = Bg * rank // world, Bg * (rank + 1) // world
        steps += 1
        dp.slice_grad(flat, params, X, Y_idx, Y_val, perm[s + lo:s + hi], np.int64(Bg), np.int64(lo), scale,
                      shift, step0 + steps, dims, w_off, b_off, act_codes, drop_p, loss_code, seed, xb, yb_idx,
                      yb_val, acts, act_off, drops, drop_off, deltas, delta_off, tbuf)
        _allreduce_inplace(mpi[0], flat[0], np.int64(P + 2), mpi[1], mpi[2], mpi[3])
        cpu.update(params, state, flat[:1], hp, opt_code, step0 + steps, nthreads, max_norm, np.int64(0),
                   np.int64(0))
        tot[0] += flat[0, P]
        tot[1] += flat[0, P + 1]
    return tot[0] / N, tot[1] / N, steps


def make():
    fastnn.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    return net, FusedMLP(net, nn.CrossEntropyLoss(), optim.Adam(net.parameters(), lr=1e-3), data_parallel=True)


def main():
    from mpi4py import MPI

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if "MPICH" not in MPI.Get_library_version() or MPI._sizeof(MPI.Comm) != 4:
        raise SystemExit("this prototype speaks MPICH's ABI only (32-bit handles)")
    dist.init_process_group("mpi")
    comm = dist.group._group().comm
    rank, world = comm.Get_rank(), comm.Get_size()
    addr = ctypes.cast(ctypes.CDLL(MPI.__file__).MPI_Allreduce, ctypes.c_void_p).value
    rng = np.random.default_rng(0)
    N, B = 16384, 64
    X = rng.integers(0, 256, (N, 784), dtype=np.uint8)
    Y = rng.integers(0, 10, N)
    perm = np.random.default_rng(1).permutation(N).astype(np.int64)
    nets = {"per-step (engine)": make(), "in-kernel MPI_Allreduce": make()}
    impl = nets["in-kernel MPI_Allreduce"][1].impl
    handles = [MPI._handleof(h) for h in (MPI.FLOAT, MPI.SUM, comm)]   # sign-extended 32-bit values
    mpi = np.array([addr] + [h - 2 ** 64 if h >= 2 ** 63 else h for h in handles], np.int64)

    def inkernel():
        nt = impl._prepare_slice(-(-B // world))
        ws, (opt_code, hp) = impl.ws, impl.hp
        y_idx, y_val = impl._check_targets(Y, N, "x")
        loss, _, steps = dp_epoch_inkernel(
            mpi, impl._flat, impl.params, impl.state, X, y_idx, y_val, perm, B, rank, world, 1 / 127.5, -1.0, hp,
            opt_code, impl.steps, impl.dims, impl.w_off, impl.b_off, impl.act_codes, impl.drop_p, impl.loss_code,
            impl.seed, ws.xb, ws.yb_idx, ws.yb_val, ws.acts,
            ws.act_off, ws.drops, ws.drop_off, ws.deltas, ws.delta_off, ws.tbuf, nt, 0.0)
        impl.steps += steps
        return loss

    runs = {"per-step (engine)": lambda: nets["per-step (engine)"][1].epoch(X, Y, B, perm=perm, scale=1 / 127.5,
                                                                             shift=-1.0)[0],
            "in-kernel MPI_Allreduce": inkernel}
    for f in runs.values():
        f()   # compile / warm
    res = {k: [] for k in runs}
    for _ in range(args.rounds):
        for k, f in runs.items():
            comm.Barrier()
            t, c = time.perf_counter(), time.process_time()
            f()
            res[k].append((time.perf_counter() - t, time.process_time() - c))
    a = np.concatenate([p.detach().numpy().ravel() for p in nets["per-step (engine)"][0].parameters()])
    b = np.concatenate([p.detach().numpy().ravel() for p in nets["in-kernel MPI_Allreduce"][0].parameters()])
    if rank == 0:
        import os
        print(f"{world} rank(s) x {numba.get_num_threads()} thread(s), {N // B} steps/epoch, "
              f"load average {os.getloadavg()[0]:.1f}; same parameters after both: {np.array_equal(a, b)}")
        for k, xs in res.items():
            w, c = [x[0] for x in xs], [x[1] for x in xs]
            print(f"{k:26s} wall {statistics.median(w):.3f} s ({min(w):.3f}-{max(w):.3f})  "
                  f"cpu {statistics.median(c):.3f} s ({min(c):.3f}-{max(c):.3f})")
    dist.destroy_process_group()


main()
