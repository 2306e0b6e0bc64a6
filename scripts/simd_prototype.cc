// Feasibility prototype for issue 3's offline ratio (session 20; see docs/benchmarks.md): is a native core with
// SIMD across symbols the way to a whole-feature-set fold faster than TA-Lib's loop on its classic subset?
// The same per-row arithmetic as the fold's RSI(14), MACD(12, 26, 9), ATR(14), price vs EMA(20) and two EWM
// realized volatilities (the engine's fdlibm log, 5 % of bars missing: state carried, outputs held), 5,000
// symbols x 390 minutes, written as the fold writes them (float32 columns, symbol-major), timed two ways:
//   scalar: symbol-major, one symbol's day at a time with its state in registers (the numba fold's shape);
//   lanes:  L symbols stepped together through the day in gcc vector registers, masked and branch-free; outputs
//           buffered lane-major for the block, then transposed into the columns (-DLANEOUT: compute only, outputs
//           left lane-major, so not comparable bit for bit).
// The two must agree bit for bit (no FMA contraction: -ffp-contract=off). Run: scripts/simd_prototype.sh
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#ifndef L
#define L 8
#endif
typedef double vd __attribute__((vector_size(8 * L)));
typedef int64_t vi __attribute__((vector_size(8 * L)));

#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define LG1 6.666666666666735130e-01
#define LG2 3.999999999940941908e-01
#define LG3 2.857142874366239149e-01
#define LG4 2.222219843214978396e-01
#define LG5 1.818357216161805012e-01
#define LG6 1.531383769920937332e-01
#define LG7 1.479819860511658591e-01

static inline double slog(double x) {
  int64_t bits; memcpy(&bits, &x, 8);
  int64_t hx = (bits >> 32) + (0x3FF00000 - 0x3FE6A09E);
  int64_t k = (hx >> 20) - 0x3FF;
  hx = (hx & 0x000FFFFF) + 0x3FE6A09E;
  int64_t mb = (hx << 32) | (bits & 0xFFFFFFFFLL); double m; memcpy(&m, &mb, 8);
  double f = m - 1.0, hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
  double t1 = w * (LG2 + w * (LG4 + w * LG6));
  double t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  double r = t2 + t1, dk = (double)k;
  return s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI;
}
static inline vd vlog(vd x) {
  vi bits = (vi)x;
  vi hx = (bits >> 32) + (0x3FF00000 - 0x3FE6A09E);
  vi k = (hx >> 20) - 0x3FF;
  hx = (hx & 0x000FFFFF) + 0x3FE6A09E;
  vd m = (vd)((hx << 32) | (bits & 0xFFFFFFFFLL));
  vd f = m - 1.0, hfsq = 0.5 * f * f, s = f / (2.0 + f), z = s * s, w = z * z;
  vd t1 = w * (LG2 + w * (LG4 + w * LG6));
  vd t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  vd r = t2 + t1, dk = __builtin_convertvector(k, vd);
  return s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI;
}
static inline vd vabs(vd x) { vd z = {0}; return x < z ? -x : x; }
static inline vd vsqrt(vd x) { vd r; for (int j = 0; j < L; j++) r[j] = __builtin_sqrt(x[j]); return r; }
#define NOUT 9
#define A12 (2.0 / 13.0)
#define A26 (2.0 / 27.0)
#define A9 (2.0 / 10.0)
#define A20 (2.0 / 21.0)
#define AR1 0.1
#define AR2 0.02

// state: pc, au, ad, n, e12, e26, sig, atr, v1, v2, e20
static void scalar(int ns, int nt, const double *c, const double *h, const double *lo, const uint8_t *ok, float *out) {
  for (int s = 0; s < ns; s++) {
    double pc = NAN, lpc = 0, au = 0, ad = 0, n = 0, e12 = 0, e26 = 0, sig = 0, atr = 0, v1 = 0, v2 = 0, e20 = 0;
    float o[NOUT] = {0};
    for (int t = 0; t < nt; t++) {
      size_t i = (size_t)s * nt + t;
      if (ok[i]) {
        double x = c[i], lx = slog(x);
        if (n == 0) { e12 = x; e26 = x; e20 = x; atr = h[i] - lo[i]; }
        else {
          double d = x - pc, up = d > 0 ? d : 0, dn = d < 0 ? -d : 0;
          if (n <= 14) { au += up / 14.0; ad += dn / 14.0; } else { au = au + (up - au) / 14.0; ad = ad + (dn - ad) / 14.0; }
          e12 = e12 + A12 * (x - e12); e26 = e26 + A26 * (x - e26); e20 = e20 + A20 * (x - e20);
          double a = h[i] - lo[i], b = fabs(h[i] - pc), cc = fabs(lo[i] - pc);
          double tr = a > b ? a : b; tr = tr > cc ? tr : cc;
          atr = atr + (tr - atr) / 14.0;
          double r = lx - lpc; v1 = v1 + AR1 * (r * r - v1); v2 = v2 + AR2 * (r * r - v2);
        }
        double line = (e12 - e26) / x;
        sig = n == 0 ? line : sig + A9 * (line - sig);
        double den = au + ad;
        o[0] = den > 0 ? 100.0 * au / den : 50.0;
        o[1] = line; o[2] = sig; o[3] = line - sig; o[4] = atr / x; o[5] = sqrt(v1); o[6] = sqrt(v2);
        o[7] = x / e20 - 1.0; o[8] = n;
        pc = x; lpc = lx; n += 1;
      }
      for (int k = 0; k < NOUT; k++) out[(size_t)k * ns * nt + i] = o[k];
    }
  }
}

static void lanes(int ns, int nt, const double *c, const double *h, const double *lo, const uint8_t *ok, float *out) {
  static float buf[NOUT * L * 400];
  for (int s0 = 0; s0 < ns; s0 += L) {
    vd pc = {0}, lpc = {0}, au = {0}, ad = {0}, n = {0}, e12 = {0}, e26 = {0}, sig = {0}, atr = {0}, v1 = {0}, v2 = {0}, e20 = {0};
    vd o[NOUT]; for (int k = 0; k < NOUT; k++) o[k] = (vd){0};
    for (int t = 0; t < nt; t++) {
      vd x, hh, ll; vi m;
      for (int j = 0; j < L; j++) { size_t i = (size_t)(s0 + j) * nt + t; x[j] = c[i]; hh[j] = h[i]; ll[j] = lo[i]; m[j] = ok[i] ? -1 : 0; }
      vd lx = vlog(x);
      vi first = (n == 0) & m, later = (n != 0) & m;
      vd d = x - pc, zero = {0};
      vd up = d > zero ? d : zero, dn = d < zero ? -d : zero;
      vi warm = n <= 14;
      vd au_w = au + up / 14.0, ad_w = ad + dn / 14.0, au_s = au + (up - au) / 14.0, ad_s = ad + (dn - ad) / 14.0;
      vd au2 = warm ? au_w : au_s, ad2 = warm ? ad_w : ad_s;
      vd e12n = e12 + A12 * (x - e12), e26n = e26 + A26 * (x - e26), e20n = e20 + A20 * (x - e20);
      vd a = hh - ll, b = vabs(hh - pc), cc = vabs(ll - pc);
      vd tr = a > b ? a : b; tr = tr > cc ? tr : cc;
      vd atrn = atr + (tr - atr) / 14.0;
      vd r = lx - lpc, rr = r * r;
      vd v1n = v1 + AR1 * (rr - v1), v2n = v2 + AR2 * (rr - v2);
      au = later ? au2 : au; ad = later ? ad2 : ad;
      e12 = later ? e12n : (first ? x : e12); e26 = later ? e26n : (first ? x : e26); e20 = later ? e20n : (first ? x : e20);
      atr = later ? atrn : (first ? a : atr); v1 = later ? v1n : v1; v2 = later ? v2n : v2;
      vd line = (e12 - e26) / x;
      vd sign = sig + A9 * (line - sig);
      sig = first ? line : (later ? sign : sig);
      vd den = au + ad, fifty = zero + 50.0;
      vd rsi = den > zero ? 100.0 * au / den : fifty;
      vd q[NOUT] = {rsi, line, sig, line - sig, atr / x, vsqrt(v1), vsqrt(v2), x / e20 - 1.0, n};
      for (int k = 0; k < NOUT; k++) o[k] = m ? q[k] : o[k];
      pc = m ? x : pc; lpc = m ? lx : lpc; n = m ? n + 1.0 : n;
#if !defined(LANEOUT)
      for (int k = 0; k < NOUT; k++) { float *p = buf + ((size_t)k * nt + t) * L; for (int j = 0; j < L; j++) p[j] = (float)o[k][j]; }
#else
      for (int k = 0; k < NOUT; k++) { float *p = out + (size_t)k * ns * nt + ((size_t)s0 * nt) + (size_t)t * L; for (int j = 0; j < L; j++) p[j] = (float)o[k][j]; }
#endif
    }
#if !defined(LANEOUT)
    for (int k = 0; k < NOUT; k++) for (int j = 0; j < L; j++) { float *q = out + (size_t)k * ns * nt + (size_t)(s0 + j) * nt; const float *p = buf + (size_t)k * nt * L + j; for (int t = 0; t < nt; t++) q[t] = p[(size_t)t * L]; }
#endif
  }
}

static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

int main(void) {
  int ns = 5000, nt = 390; size_t N = (size_t)ns * nt;
  double *c = (double*)malloc(N * 8), *h = (double*)malloc(N * 8), *lo = (double*)malloc(N * 8); uint8_t *ok = (uint8_t*)malloc(N);
  float *o1 = (float*)malloc(N * NOUT * 4), *o2 = (float*)malloc(N * NOUT * 4);
  srand(7);
  for (int s = 0; s < ns; s++) { double p = 20 + s % 300;
    for (int t = 0; t < nt; t++) { size_t i = (size_t)s * nt + t; p *= 1 + ((rand() / (double)RAND_MAX) - 0.5) * 0.004;
      c[i] = p; h[i] = p * 1.001; lo[i] = p * 0.999; ok[i] = (rand() % 100) >= 5; } }
  memset(o1, 0, N * NOUT * 4); memset(o2, 0, N * NOUT * 4);
  double best1 = 1e9, best2 = 1e9;
  for (int r = 0; r < 5; r++) {
    double t0 = now(); scalar(ns, nt, c, h, lo, ok, o1); double t1 = now(); lanes(ns, nt, c, h, lo, ok, o2); double t2 = now();
    if (t1 - t0 < best1) best1 = t1 - t0; if (t2 - t1 < best2) best2 = t2 - t1; }
  printf("L=%d scalar %.1f ns/row, lanes %.1f ns/row, identical=%d\n", L, best1 / N * 1e9, best2 / N * 1e9, memcmp(o1, o2, N * NOUT * 4) == 0);
  return 0;
}
