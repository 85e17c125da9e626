// pool2d.cu — 2-D max and average pooling (NCHW) over per-axis window tables (kernels/pool2d/windows.py):
// output row oh reads input rows hs[oh] + a*dh for a < hn[oh]; columns likewise. One thread per output
// element forward; backward one thread per INPUT element, which visits the windows that contain it
// (no atomics: every dx element has one owner). float32. Oracle: kernels/pool2d/ref.py.

__device__ __forceinline__ long long pl_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long pl_step() { return (long long)gridDim.x * blockDim.x; }

// out, idx (NC,OH,OW): window max and ih*W + iw, torch's scan: from (-inf, the window's first grid
// position), take v when v > max or v is NaN
extern "C" __global__ void max_pool_forward(float* out, long long* idx, const float* x, const long long* hs,
                                            const long long* hn, const long long* ws, const long long* wn,
                                            int NC, int H, int W, int OH, int OW, int dh, int dw) {
    long long total = (long long)NC * OH * OW;
    for (long long e = pl_start(); e < total; e += pl_step()) {
        int ow = (int)(e % OW), oh = (int)((e / OW) % OH);
        const float* xp = x + (e / ((long long)OW * OH)) * H * W;
        long long at = hs[oh] * W + ws[ow];
        float best = -__int_as_float(0x7f800000);   // -inf (NVRTC has no math.h macros)
        for (int a = 0; a < hn[oh]; ++a) {
            long long row = (hs[oh] + (long long)a * dh) * W;
            for (int b = 0; b < wn[ow]; ++b) {
                long long p = row + ws[ow] + (long long)b * dw;
                float v = xp[p];
                if (v > best || isnan(v)) { best = v; at = p; }
            }
        }
        out[e] = best;
        idx[e] = at;
    }
}

// dx (NC,H,W): sum of dout over the outputs whose argmax is this input element (outputs whose window can
// contain it: a scan of that plane's small output range)
extern "C" __global__ void max_pool_backward(float* dx, const float* dout, const long long* idx,
                                             const long long* hs, const long long* hn, const long long* ws,
                                             const long long* wn, int NC, int H, int W, int OH, int OW,
                                             int dh, int dw) {
    long long total = (long long)NC * H * W;
    for (long long e = pl_start(); e < total; e += pl_step()) {
        int iw = (int)(e % W), ih = (int)((e / W) % H);
        long long plane = e / ((long long)W * H), here = (long long)ih * W + iw;
        float acc = 0.0f;
        for (int oh = 0; oh < OH; ++oh) {
            long long r = ih - hs[oh];
            if (r < 0 || r % dh != 0 || r / dh >= hn[oh]) continue;
            for (int ow = 0; ow < OW; ++ow) {
                long long c = iw - ws[ow];
                if (c < 0 || c % dw != 0 || c / dw >= wn[ow]) continue;
                long long o = (plane * OH + oh) * OW + ow;
                if (idx[o] == here) acc += dout[o];
            }
        }
        dx[e] = acc;
    }
}

// out (NC,OH,OW) = window sum / div[oh*OW + ow]
extern "C" __global__ void avg_pool_forward(float* out, const float* x, const long long* hs, const long long* hn,
                                            const long long* ws, const long long* wn, const double* div, int NC,
                                            int H, int W, int OH, int OW) {
    long long total = (long long)NC * OH * OW;
    for (long long e = pl_start(); e < total; e += pl_step()) {
        int ow = (int)(e % OW), oh = (int)((e / OW) % OH);
        const float* xp = x + (e / ((long long)OW * OH)) * H * W;
        float s = 0.0f;
        for (long long a = hs[oh]; a < hs[oh] + hn[oh]; ++a)
            for (long long b = ws[ow]; b < ws[ow] + wn[ow]; ++b) s += xp[a * W + b];
        out[e] = s / (float)div[oh * OW + ow];
    }
}

// dx (NC,H,W) = sum over the windows containing this element of dout / div
extern "C" __global__ void avg_pool_backward(float* dx, const float* dout, const long long* hs, const long long* hn,
                                             const long long* ws, const long long* wn, const double* div, int NC,
                                             int H, int W, int OH, int OW) {
    long long total = (long long)NC * H * W;
    for (long long e = pl_start(); e < total; e += pl_step()) {
        int iw = (int)(e % W), ih = (int)((e / W) % H);
        long long plane = e / ((long long)W * H);
        float acc = 0.0f;
        for (int oh = 0; oh < OH; ++oh) {
            if (ih < hs[oh] || ih >= hs[oh] + hn[oh]) continue;
            for (int ow = 0; ow < OW; ++ow) {
                if (iw < ws[ow] || iw >= ws[ow] + wn[ow]) continue;
                acc += dout[(plane * OH + oh) * OW + ow] / (float)div[oh * OW + ow];
            }
        }
        dx[e] = acc;
    }
}
