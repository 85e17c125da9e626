"""NVRTC compile check of every CUDA C kernel file (kernels/cuda_build.py) for sm_80 and sm_90, no GPU needed:
clean compile, no warnings, no spills, static shared memory <= 48 KB; and the check itself catches problems."""
import subprocess
import sys

import pytest

from fastnn.kernels import cuda_build


def _nvrtc_missing():
    """Why NVRTC is not installed here (the documented skip reasons: CuPy missing, libnvrtc not found),
    or None. Any other failure of the import or the version query raises."""
    try:
        from cupy.cuda import nvrtc
    except ImportError as e:
        return f"CuPy is not installed ({e}): pip install 'fastnn[gpu]'"
    try:
        nvrtc.getVersion()
    except (OSError, RuntimeError) as e:   # CuPy reports a missing libnvrtc as either, naming the library
        if "nvrtc" not in str(e).lower():
            raise
        return f"libnvrtc not found ({e}): pip install nvidia-cuda-nvrtc-cu12"
    return None


_NVRTC_ERR = _nvrtc_missing()

pytestmark = pytest.mark.skipif(_NVRTC_ERR is not None, reason=_NVRTC_ERR or "")

FAMILIES = ["gemm", "activation", "softmax", "xent", "reduce", "optim", "fused_mlp", "conv2d", "pool2d", "index",
            "scan", "sort", "batchnorm"]


def test_every_family_has_its_cu_file():
    found = {p.parent.name for p in cuda_build.CU_FILES}
    assert set(FAMILIES) <= found
    assert all(cuda_build.cu_file(f).suffix == ".cu" for f in FAMILIES if f != "fused_mlp")
    assert cuda_build.cu_file("fused_mlp", "gather").name == "gather.cu"


def test_command_line_check_passes(tmp_path):
    """`python -m fastnn.kernels.cuda_build` compiles every file for sm_80 + sm_90 and exits 0.
    (cwd=tmp_path: from the repo root, `python -m` would import the source tree, not the install.)"""
    r = subprocess.run([sys.executable, "-m", "fastnn.kernels.cuda_build"], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(cuda_build.CU_FILES) * len(cuda_build.ARCHS)
    assert f"{n}/{n} builds clean" in r.stdout
    for kernel in ("sgemm_nt_bias_act", "bmm_tn", "softmax_forward", "cross_entropy_fused", "sum_rows",
                   "adam_step", "gather_rows_u8_i64", "gather_f64", "scatter_add_f64", "cumsum_rows_f32",
                   "cumprod_backward_f64", "sort_rows_f64"):
        assert r.stdout.count(f" {kernel} ") == len(cuda_build.ARCHS), kernel  # one table row per arch


SRC_OK = r'''extern "C" __global__ void scale(float* out, const float* x, int n) {
    __shared__ float s[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    s[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    if (i < n) out[i] = 2.0f * s[threadIdx.x];
}
'''


def _build_src(tmp_path, src, name="k.cu"):
    p = tmp_path / name
    p.write_text(src)
    return cuda_build.build_file(p, "sm_80")


def test_reports_resources_of_a_clean_kernel(tmp_path):
    r = _build_src(tmp_path, SRC_OK)
    assert r.ok, r.problems
    k = r.kernels["scale"]
    assert k.entry and k.smem == 256 * 4 and k.registers > 0 and k.spill_stores == k.spill_loads == 0


def test_warning_fails_the_check(tmp_path):
    r = _build_src(tmp_path, SRC_OK.replace("int i =", "int unused; int i ="))
    assert not r.ok and any("warning" in p for p in r.problems)


def test_compile_error_fails_the_check(tmp_path):
    r = _build_src(tmp_path, SRC_OK.replace("2.0f *", "undefined_thing *"))
    assert not r.ok and r.problems[0] == "compilation failed"


def test_static_shared_memory_over_48k_fails(tmp_path):
    r = _build_src(tmp_path, SRC_OK.replace("s[256]", "s[256 * 48 + 1]"))  # > 48 KB: NVRTC/ptxas reject it
    assert not r.ok


def test_register_spills_fail_the_check():
    """A kernel forced into 16 registers spills; the check must see the spill in the ptxas log."""
    src = r'''extern "C" __global__ void heavy(float* out, const float* x) {
        float a[48];
        #pragma unroll
        for (int i = 0; i < 48; ++i) a[i] = x[i * 97 + threadIdx.x];
        float s = 0.0f;
        #pragma unroll
        for (int i = 0; i < 48; ++i) s += a[i] * a[47 - i] + a[(i * 7) % 48];
        out[threadIdx.x] = s;
    }'''
    ok, _, log = cuda_build.compile_source(src, "heavy.cu", "sm_80",
                                           cuda_build.nvrtc_options("sm_80") + ("-maxrregcount=16",))
    infos = cuda_build.parse_ptxas_log(log)
    assert ok and infos["heavy"].spill_stores > 0
    assert any("spill" in p for p in cuda_build.log_problems(log, infos))


def test_options_mirror_cupy_rawmodule():
    opts = cuda_build.nvrtc_options("sm_90")
    assert "-arch=sm_90" in opts and "-ftz=true" in opts and "--device-as-default-execution-space" in opts
    assert any(o.startswith("--std=c++") for o in opts) and "-Xptxas=-v" in opts
