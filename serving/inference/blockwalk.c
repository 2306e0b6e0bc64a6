/* The forest walked 64 rows at a time with AVX-512 (serving/inference/blockwalk.py says why and how).
 *
 * A block's feature values are binned once into bytes (numerical: the count of the feature's thresholds below the
 * value, 255 = missing; categorical: the category as uint16, 65535 = none). Then every tree is walked over the whole
 * block at once: a node holds the 64-bit set of the block's rows that reach it; one byte compare of 64 codes with
 * the node's bin gives the rows going left, and the rows going right add the number of leaves in the node's left
 * subtree to their leaf index (leaves numbered left to right). Each row's leaf value is gathered and added to its
 * sum in tree order, as LightGBM adds them: the same float. No branch depends on a row's value.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
    uint16_t col; /* the code column it compares (numerical: one of two per feature, see below) or categorical slot */
    uint8_t bin, w;     /* its bin; the number of leaves in its left subtree */
    uint8_t next, rc;   /* next: 1 when its left child is a node (the next one, in pre-order); rc: its right child
                           (255: a leaf) */
    uint16_t cat;           /* its bitset (CATEGORICAL_NONE: a numerical node) */
} node_t;

typedef struct {
    int64_t n_trees;
    const int32_t *node_off, *leaf_off; /* per tree (n_trees + 1): its first node, its first leaf */
    const node_t *nodes;
    const double *leaves;   /* per tree, in left-to-right order */
    const double *leaves64; /* the same, 64 a tree (zero-padded) when no tree has more; else NULL */
    const int32_t *cat_off, *cat_words;
    const uint32_t *bits;
    int64_t n_num, n_cat;                       /* binned numerical and categorical columns, at most 256 each */
    const int32_t *num_col, *num_missing, *cat_col; /* the row's column of each; numerical missing type */
    const double *flat; /* each numerical column's thresholds, padded with +inf to a power of two */
    const int64_t *flat_off;
} model_t;

#define NUMERICAL 65535
#ifndef NB
#define NB 4 /* blocks of 64 rows walked together: a node's decoding is shared by 256 rows */
#endif
#define MISS8 255
#define MISS16 65535
static const double ZERO = 1.0000000180025095e-35; /* LightGBM's kZeroThreshold, a float read as a double */

/* The bins of one feature's R values (``x``, rows past ``rows`` read as 0.0): the count of its thresholds below each,
 * by a branch-free binary search over the padded run, 8 lanes a vector and every vector at each step (the gathers
 * of one step are independent, so they overlap); 255 when missing. NaN is 0.0 to a feature without missing values,
 * missing to the others; |x| <= kZeroThreshold is 0.0 (LightGBM's predict drops it from the row), missing to a
 * zero-as-missing one. */
static inline void bins(const double *X, int64_t n_cols, int32_t col, int64_t r0, int64_t rows, int32_t mt,
                        const double *flat, int64_t size, uint8_t *code) {
    enum { V = 64 * NB / 8 };
    __m512d x[V];
    __m512i pos[V];
    __mmask8 miss[V];
    const __m512i lane = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    for (int v = 0; v < V; v++) {
        int64_t i = 8 * v;
        __mmask8 in = i >= rows ? 0 : rows - i >= 8 ? 0xFF : (__mmask8)((1u << (rows - i)) - 1);
        __m512i at = _mm512_add_epi64(_mm512_mul_epu32(_mm512_add_epi64(_mm512_set1_epi64(r0 + i), lane),
                                                       _mm512_set1_epi64(n_cols)), _mm512_set1_epi64(col));
        __m512d xv = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), in, at, X, 8);
        __mmask8 nan = _mm512_cmp_pd_mask(xv, xv, _CMP_UNORD_Q);
        __mmask8 zero = _mm512_cmp_pd_mask(_mm512_abs_pd(xv), _mm512_set1_pd(ZERO), _CMP_LE_OQ);
        miss[v] = (mt != 0 ? nan : 0) | (mt == 1 ? zero : 0);
        x[v] = _mm512_mask_blend_pd(nan | zero, xv, _mm512_setzero_pd());
        pos[v] = _mm512_setzero_si512();
    }
    for (int64_t step = size >> 1; step > 0; step >>= 1) {
        __m512i back = _mm512_set1_epi64(step - 1), ahead = _mm512_set1_epi64(step);
        for (int v = 0; v < V; v++) {
            __m512d t = _mm512_i64gather_pd(_mm512_add_epi64(pos[v], back), flat, 8);
            pos[v] = _mm512_mask_add_epi64(pos[v], _mm512_cmp_pd_mask(t, x[v], _CMP_LT_OQ), pos[v], ahead);
        }
    }
    for (int v = 0; v < V; v++)
        _mm_storel_epi64((__m128i *)(code + 8 * v),
                         _mm512_cvtepi64_epi8(_mm512_mask_blend_epi64(miss[v], pos[v], _mm512_set1_epi64(MISS8))));
}

static inline uint16_t category(double x) {
    if (isnan(x) || x <= -1.0 || x >= 65535.0) return MISS16;
    return x >= 0 ? (uint16_t)trunc(x) : 0;
}

static inline uint64_t in_bitset(const uint16_t *c, const uint32_t *bits, int32_t words) {
    uint64_t left = 0;
    for (int k = 0; k < 4; k++) {
        __m512i v = _mm512_cvtepu16_epi32(_mm256_load_si256((const __m256i *)(c + 16 * k)));
        __m512i word = _mm512_srli_epi32(v, 5);
        __mmask16 ok = _mm512_cmplt_epi32_mask(word, _mm512_set1_epi32(words));
        __m512i got = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), ok, word, (const int *)bits, 4);
        __m512i bit = _mm512_srlv_epi32(got, _mm512_and_si512(v, _mm512_set1_epi32(31)));
        left |= (uint64_t)_mm512_mask_test_epi32_mask(ok, bit, _mm512_set1_epi32(1)) << (16 * k);
    }
    return left;
}

/* The rows of NB blocks that go left at a categorical node (none of those that do not reach it). */
static __attribute__((noinline)) void cat_left(uint64_t *left, const uint64_t *s, const uint16_t *c,
                                               const uint32_t *bits, int32_t words) {
    for (int k = 0; k < NB; k++) left[k] = s[k] ? in_bitset(c + 64 * k, bits, words) : 0;
}

/* Raw scores of rows [64*b0, min(n, 64*b1)) of X (n rows of n_cols doubles, C order) into out.
 *
 * A numerical feature has two code columns: its bin b (255 = missing), for nodes that send missing values right
 * (b <= bin never holds for 255), and b + 1 wrapping (missing = 0), for nodes that send them left: there the node
 * holds bin + 1, so one unsigned compare decides both the value and the missing case. */
void walk(const model_t *m, const double *X, int64_t n, int64_t n_cols, int64_t b0, int64_t b1, double *out) {
    enum { R = 64 * NB };
    uint8_t *num = aligned_alloc(64, (size_t)(2 * m->n_num + 1) * R);
    uint16_t *cat = aligned_alloc(64, (size_t)(m->n_cat + 1) * R * 2);
    _Alignas(64) uint8_t leaf[R];
    _Alignas(64) double sum[R];
    uint64_t reach[256][NB] = {{0}};
    for (int64_t b = b0; b < b1; b += NB) {
        int64_t r0 = 64 * b, rows = n - r0 < R ? n - r0 : R;
        if (rows > 64 * (b1 - b)) rows = 64 * (b1 - b);
        for (int64_t s = 0; s < m->n_num; s++) {
            const double *flat = m->flat + m->flat_off[s];
            int64_t size = m->flat_off[s + 1] - m->flat_off[s];
            int32_t col = m->num_col[s], mt = m->num_missing[s];
            uint8_t *plain = num + R * s, *shifted = num + R * (m->n_num + s);
            bins(X, n_cols, col, r0, rows, mt, flat, size, plain); /* rows past the end: no node's set holds them */
            for (int64_t i = 0; i < R; i += 64)
                _mm512_store_si512((void *)(shifted + i),
                                   _mm512_add_epi8(_mm512_load_si512((const void *)(plain + i)), _mm512_set1_epi8(1)));
        }
        for (int64_t s = 0; s < m->n_cat; s++)
            for (int64_t i = 0; i < R; i++) cat[R * s + i] = i < rows ? category(X[(r0 + i) * n_cols + m->cat_col[s]]) : MISS16;
        uint64_t all[NB];
        for (int k = 0; k < NB; k++) {
            int64_t left = rows - 64 * k;
            all[k] = left >= 64 ? ~0ULL : left <= 0 ? 0 : (1ULL << left) - 1;
        }
        for (int i = 0; i < R; i++) sum[i] = 0.0;
        for (int64_t t = 0; t < m->n_trees; t++) {
            const node_t *nd = m->nodes + m->node_off[t];
            int32_t count = m->node_off[t + 1] - m->node_off[t];
            __m512i idx[NB];
            for (int k = 0; k < NB; k++) idx[k] = _mm512_setzero_si512();
            uint64_t s[NB]; /* the rows reaching node i: the left child's carried in registers, a right child's read
                               from reach (written by its parent long before: no store on the critical path) */
            for (int k = 0; k < NB; k++) s[k] = all[k];
            for (int32_t i = 0; i < count; i++) { /* no branch on the rows: a leaf child's sets go to reach[255] */
                const node_t *q = nd + i;
                uint64_t left[NB];
                if (__builtin_expect(q->cat != NUMERICAL, 0)) {
                    for (int k = 0; k < NB; k++) reach[255][k] = s[k];
                    cat_left(left, reach[255], cat + R * q->col, m->bits + m->cat_off[q->cat], m->cat_words[q->cat]);
                } else {
                    __m512i bin = _mm512_set1_epi8((char)q->bin);
                    const uint8_t *c = num + R * q->col;
                    for (int k = 0; k < NB; k++)
                        left[k] = _mm512_cmple_epu8_mask(_mm512_load_si512((const void *)(c + 64 * k)), bin);
                }
                __m512i w = _mm512_set1_epi8((char)q->w);
                uint64_t *rc = reach[q->rc], carry = -(uint64_t)q->next;
                for (int k = 0; k < NB; k++) {
                    uint64_t go_right = s[k] & ~left[k];
                    idx[k] = _mm512_mask_add_epi8(idx[k], go_right, idx[k], w);
                    rc[k] = go_right;
                    s[k] = (s[k] & left[k] & carry) | (reach[i + 1][k] & ~carry);
                }
            }
            for (int k = 0; k < NB; k++) _mm512_store_si512((void *)(leaf + 64 * k), idx[k]);
            if (m->leaves64) { /* up to 64 leaves: eight registers and four two-table permutes, no gather */
                const double *lv = m->leaves64 + 64 * t;
                __m512d v[8];
                for (int j = 0; j < 8; j++) v[j] = _mm512_load_pd(lv + 8 * j);
                for (int g = 0; g < R; g += 8) {
                    __m512i i8 = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(leaf + g)));
                    __mmask8 b4 = _mm512_test_epi64_mask(i8, _mm512_set1_epi64(16));
                    __mmask8 b5 = _mm512_test_epi64_mask(i8, _mm512_set1_epi64(32));
                    __m512d lo = _mm512_mask_blend_pd(b4, _mm512_permutex2var_pd(v[0], i8, v[1]),
                                                      _mm512_permutex2var_pd(v[2], i8, v[3]));
                    __m512d hi = _mm512_mask_blend_pd(b4, _mm512_permutex2var_pd(v[4], i8, v[5]),
                                                      _mm512_permutex2var_pd(v[6], i8, v[7]));
                    __m512d got = _mm512_mask_blend_pd(b5, lo, hi);
                    _mm512_store_pd(sum + g, _mm512_add_pd(_mm512_load_pd(sum + g), got));
                }
            } else {
                const double *lv = m->leaves + m->leaf_off[t];
                for (int g = 0; g < R; g += 8) {
                    __m512i i8 = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(leaf + g)));
                    _mm512_store_pd(sum + g, _mm512_add_pd(_mm512_load_pd(sum + g), _mm512_i64gather_pd(i8, lv, 8)));
                }
            }
        }
        for (int64_t i = 0; i < rows; i++) out[r0 + i] = sum[i];
    }
    free(num);
    free(cat);
}
