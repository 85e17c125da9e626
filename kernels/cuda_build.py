"""cuda_build: the NVRTC compile check for every CUDA C kernel file (no GPU needed).

    python -m fastnn.kernels.cuda_build [--arch sm_80 --arch sm_90] [--nvcc] [file.cu ...]

Compiles each ``kernels/<family>/<family>.cu`` to a cubin with NVRTC (through ``cupy.cuda.nvrtc``,
which loads ``libnvrtc`` from the ``nvidia-cuda-nvrtc-cu12`` wheel via ``cuda.pathfinder`` exactly as
CuPy's RawModule does) using the same options RawModule passes, plus ``-Xptxas=-v``. The run fails
(exit code 1) on any compiler warning, any register spill, any local-memory use flagged by ptxas, or
static shared memory above 48 KB; it prints registers / shared memory / spills per kernel per arch.

The CUDA backend should build its modules with ``cupy.RawModule(code=..., options=RAWMODULE_OPTIONS)``
over ``CU_FILES`` so that what is checked here is what runs.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

KERNEL_DIR = Path(__file__).resolve().parent
CU_FILES = tuple(sorted(KERNEL_DIR.glob("*/*.cu")))   # one file per family
ARCHS = ("sm_80", "sm_90")
RAWMODULE_OPTIONS: tuple = ()          # what the CUDA backend passes to cupy.RawModule(options=...)
CHECK_OPTIONS = ("-Xptxas=-v", "-Xptxas=-warn-spills", "-Xptxas=-warn-lmem-usage")
MAX_STATIC_SMEM = 48 * 1024


def cu_file(family: str, stem: str | None = None) -> Path:
    """Path of a kernel family's .cu file: cu_file('gemm') -> kernels/gemm/sgemm.cu (the family's only .cu);
    cu_file('fused_mlp', 'gather') -> kernels/fused_mlp/gather.cu."""
    if stem is not None:
        path = KERNEL_DIR / family / f"{stem}.cu"
        if not path.is_file():
            raise FileNotFoundError(f"no CUDA source {path}")
        return path
    files = sorted((KERNEL_DIR / family).glob("*.cu"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected exactly one .cu file in {KERNEL_DIR / family}, found "
                                f"{[f.name for f in files]}; pass the file stem")
    return files[0]


def rawmodule_options(options: tuple = RAWMODULE_OPTIONS) -> tuple:
    """The NVRTC options CuPy's RawModule ends up using (minus the arch), as in cupy 13/14:
    assemble_cupy_compiler_options (std, -I dirs) + '-ftz=true' + '--device-as-default-execution-space'."""
    try:
        from cupy._core.core import assemble_cupy_compiler_options
        opts = tuple(assemble_cupy_compiler_options(tuple(options)))
    except Exception:  # cupy internals moved or CUDA root not found: the options that matter
        opts = tuple(options) + ("--std=c++17",)
    # -I dirs only matter for #include, which our self-contained kernels never use; drop them so a
    # stale CUDA toolkit include dir cannot change the check.
    opts = tuple(o for o in opts if not o.startswith("-I"))
    return opts + ("-ftz=true", "--device-as-default-execution-space")


def nvrtc_options(arch: str) -> tuple:
    """Full option tuple for the check: RawModule's options, cubin for `arch`, verbose ptxas."""
    return rawmodule_options() + (f"-arch={arch}",) + CHECK_OPTIONS


@dataclass
class KernelInfo:
    """ptxas resource usage of one function (entry kernel or non-inlined device function)."""
    name: str
    registers: int = 0
    smem: int = 0
    stack: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    entry: bool = False


@dataclass
class BuildResult:
    """Outcome of compiling one file for one arch."""
    path: Path
    arch: str
    ok: bool
    log: str
    kernels: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


_RE_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
_RE_PROPS = re.compile(r"Function properties for (\S+)")
_RE_SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_RE_USED = re.compile(r"Used (\d+) registers")
_RE_SMEM = re.compile(r"(\d+) bytes smem")


def parse_ptxas_log(log: str) -> dict:
    """Map function name -> KernelInfo from an ``-Xptxas=-v`` log."""
    infos, cur, entries = {}, None, set()
    for line in log.splitlines():
        m = _RE_ENTRY.search(line)
        if m:
            entries.add(m.group(1))
            continue
        m = _RE_PROPS.search(line)
        if m:
            cur = infos.setdefault(m.group(1), KernelInfo(m.group(1)))
            continue
        if cur is None:
            continue
        m = _RE_SPILL.search(line)
        if m:
            cur.stack, cur.spill_stores, cur.spill_loads = map(int, m.groups())
        m = _RE_USED.search(line)
        if m:
            cur.registers = int(m.group(1))
            s = _RE_SMEM.search(line)
            cur.smem = int(s.group(1)) if s else 0
    for name in entries:
        infos.setdefault(name, KernelInfo(name)).entry = True
    return infos


def log_problems(log: str, kernels: dict) -> list:
    """Everything that makes the check fail: warnings, spills, local memory, static smem > 48 KB."""
    problems = []
    for line in log.splitlines():
        low = line.lower()
        if "warning" in low and not low.startswith("remark"):
            problems.append(line.strip())
    for k in kernels.values():
        if k.spill_stores or k.spill_loads:
            problems.append(f"{k.name}: register spill ({k.spill_stores} B stores, {k.spill_loads} B loads)")
        if k.smem > MAX_STATIC_SMEM:
            problems.append(f"{k.name}: static shared memory {k.smem} B > {MAX_STATIC_SMEM} B")
    return problems


def compile_source(source: str, name: str, arch: str, options: tuple | None = None):
    """Compile CUDA C `source` with NVRTC to a cubin for `arch`. Returns (ok, cubin_or_None, log)."""
    from cupy.cuda import nvrtc
    opts = nvrtc_options(arch) if options is None else tuple(options)
    prog = nvrtc.createProgram(source, name, (), ())
    try:
        try:
            nvrtc.compileProgram(prog, opts)
            ok = True
        except nvrtc.NVRTCError:
            ok = False
        log = nvrtc.getProgramLog(prog).rstrip("\x00")
        cubin = nvrtc.getCUBIN(prog) if ok else None
    finally:
        nvrtc.destroyProgram(prog)
    return ok, cubin, log


def build_file(path: Path, arch: str) -> BuildResult:
    """Compile one .cu file for one arch and collect its resource usage and problems."""
    path = Path(path)
    ok, _, log = compile_source(path.read_text(), path.name, arch)
    kernels = parse_ptxas_log(log)
    problems = log_problems(log, kernels)
    if not ok:
        problems.insert(0, "compilation failed")
    elif not any(k.entry for k in kernels.values()):
        problems.append("no kernel entry points found in ptxas output")
    return BuildResult(path, arch, ok and not problems, log, kernels, problems)


def nvcc_second_opinion(path: Path, arch: str) -> tuple:
    """Optional: compile with nvcc (different dialect/version than NVRTC). Returns (ok, log)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return True, "nvcc not found (skipped)"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, "-cubin", f"-arch={arch}", "-std=c++17", "-ftz=true", "-Xptxas=-v",
               "-o", str(Path(tmp) / "out.cubin"), str(path)]
        p = subprocess.run(cmd, capture_output=True, text=True)
    log = p.stdout + p.stderr
    return p.returncode == 0 and "warning" not in log.lower(), log


def format_table(results: list) -> str:
    """A per-kernel resource table: file, arch, kernel, registers, smem, stack, spills."""
    rows = [("file", "arch", "kernel", "regs", "smem", "stack", "spill st/ld")]
    for r in results:
        for k in sorted(r.kernels.values(), key=lambda k: k.name):
            kind = "" if k.entry else " (device fn)"
            rows.append((r.path.name, r.arch, k.name + kind, str(k.registers), str(k.smem),
                         str(k.stack), f"{k.spill_stores}/{k.spill_loads}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)


def check(files=None, archs=ARCHS) -> list:
    """Build every file for every arch; returns the list of BuildResult."""
    files = CU_FILES if not files else tuple(Path(f) for f in files)
    return [build_file(f, arch) for f in files for arch in archs]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fastnn.kernels.cuda_build", description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help=".cu files (default: every kernels/*/*.cu)")
    ap.add_argument("--arch", action="append", help="sm_XX (repeatable; default sm_80 and sm_90)")
    ap.add_argument("--nvcc", action="store_true", help="also compile with nvcc as a second opinion")
    ap.add_argument("-q", "--quiet", action="store_true", help="only print problems")
    args = ap.parse_args(argv)
    try:
        from cupy.cuda import nvrtc
        major, minor = nvrtc.getVersion()
    except Exception as e:  # noqa: BLE001 — report any import/load failure plainly
        print(f"NVRTC unavailable (cupy.cuda.nvrtc failed to load: {e})", file=sys.stderr)
        return 2
    archs = tuple(args.arch or ARCHS)
    results = check(args.files, archs)
    if not args.quiet:
        print(f"NVRTC {major}.{minor}; options: {' '.join(nvrtc_options('<arch>'))}")
        print(format_table(results))
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"\nFAIL {r.path.name} [{r.arch}]:", file=sys.stderr)
        for p in r.problems:
            print(f"  {p}", file=sys.stderr)
        if "compilation failed" in r.problems:
            print(r.log, file=sys.stderr)
    if args.nvcc:
        for f in (args.files or CU_FILES):
            for arch in archs:
                ok, log = nvcc_second_opinion(Path(f), arch)
                if not ok:
                    print(f"\nnvcc second opinion {Path(f).name} [{arch}] (informational):\n{log}", file=sys.stderr)
    n, nfiles = len(results), len(args.files or CU_FILES)
    print(f"\n{n - len(failed)}/{n} builds clean ({nfiles} files x {len(archs)} archs)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
