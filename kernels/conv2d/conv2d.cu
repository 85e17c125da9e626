// conv2d.cu — 2-D convolution (NCHW, groups, stride, zero padding, dilation), direct: one thread per
// element of the result, grid-stride loops, no atomics (every result element is owned by one thread).
// x (N,C,H,W), w (O,C/groups,KH,KW), out/dout (N,O,OH,OW); Cg = C/groups, Og = O/groups; float32.
// Oracle: kernels/conv2d/ref.py.

__device__ __forceinline__ long long cv_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long cv_step() { return (long long)gridDim.x * blockDim.x; }

// out (N,O,OH,OW) = sum_{c,i,j} x[n, g*Cg+c, oh*sh-ph+i*dh, ow*sw-pw+j*dw] * w[o,c,i,j]   (no bias)
extern "C" __global__ void conv2d_forward(float* out, const float* x, const float* w, int N, int C, int H,
                                          int W, int O, int KH, int KW, int OH, int OW, int sh, int sw,
                                          int ph, int pw, int dh, int dw, int groups) {
    int Cg = C / groups, Og = O / groups;
    long long total = (long long)N * O * OH * OW;
    for (long long e = cv_start(); e < total; e += cv_step()) {
        int ow = (int)(e % OW), oh = (int)((e / OW) % OH), o = (int)((e / ((long long)OW * OH)) % O);
        int n = (int)(e / ((long long)OW * OH * O)), g = o / Og;
        float acc = 0.0f;
        for (int c = 0; c < Cg; ++c) {
            const float* xc = x + ((long long)n * C + g * Cg + c) * H * W;
            const float* wc = w + ((long long)o * Cg + c) * KH * KW;
            for (int i = 0; i < KH; ++i) {
                int ih = oh * sh - ph + i * dh;
                if (ih < 0 || ih >= H) continue;
                for (int j = 0; j < KW; ++j) {
                    int iw = ow * sw - pw + j * dw;
                    if (iw >= 0 && iw < W) acc += xc[(long long)ih * W + iw] * wc[i * KW + j];
                }
            }
        }
        out[e] = acc;
    }
}

// dx (N,C,H,W) = sum over the output pixels each input pixel feeds of dout * w
extern "C" __global__ void conv2d_backward_input(float* dx, const float* dout, const float* w, int N, int C,
                                                 int H, int W, int O, int KH, int KW, int OH, int OW, int sh,
                                                 int sw, int ph, int pw, int dh, int dw, int groups) {
    int Cg = C / groups, Og = O / groups;
    long long total = (long long)N * C * H * W;
    for (long long e = cv_start(); e < total; e += cv_step()) {
        int iw = (int)(e % W), ih = (int)((e / W) % H), ch = (int)((e / ((long long)W * H)) % C);
        int n = (int)(e / ((long long)W * H * C)), g = ch / Cg, c = ch - g * Cg;
        float acc = 0.0f;
        for (int i = 0; i < KH; ++i) {
            int ty = ih + ph - i * dh;                 // = oh * sh
            if (ty < 0 || ty % sh != 0 || ty / sh >= OH) continue;
            int oh = ty / sh;
            for (int j = 0; j < KW; ++j) {
                int tx = iw + pw - j * dw;             // = ow * sw
                if (tx < 0 || tx % sw != 0 || tx / sw >= OW) continue;
                int ow = tx / sw;
                for (int oo = 0; oo < Og; ++oo) {
                    int o = g * Og + oo;
                    acc += dout[(((long long)n * O + o) * OH + oh) * OW + ow] * w[(((long long)o * Cg + c) * KH + i) * KW + j];
                }
            }
        }
        dx[e] = acc;
    }
}

// dw (O,Cg,KH,KW) = sum_{n,oh,ow} dout[n,o,oh,ow] * x[n, g*Cg+c, oh*sh-ph+i*dh, ow*sw-pw+j*dw]
extern "C" __global__ void conv2d_backward_weight(float* dwt, const float* dout, const float* x, int N, int C,
                                                  int H, int W, int O, int KH, int KW, int OH, int OW, int sh,
                                                  int sw, int ph, int pw, int dh, int dw, int groups) {
    int Cg = C / groups, Og = O / groups;
    long long total = (long long)O * Cg * KH * KW;
    for (long long e = cv_start(); e < total; e += cv_step()) {
        int j = (int)(e % KW), i = (int)((e / KW) % KH), c = (int)((e / ((long long)KW * KH)) % Cg);
        int o = (int)(e / ((long long)KW * KH * Cg)), g = o / Og;
        float acc = 0.0f;
        for (int n = 0; n < N; ++n) {
            const float* xc = x + ((long long)n * C + g * Cg + c) * H * W;
            const float* dc = dout + ((long long)n * O + o) * OH * OW;
            for (int oh = 0; oh < OH; ++oh) {
                int ih = oh * sh - ph + i * dh;
                if (ih < 0 || ih >= H) continue;
                for (int ow = 0; ow < OW; ++ow) {
                    int iw = ow * sw - pw + j * dw;
                    if (iw >= 0 && iw < W) acc += dc[(long long)oh * OW + ow] * xc[(long long)ih * W + iw];
                }
            }
        }
        dwt[e] = acc;
    }
}
