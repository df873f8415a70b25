/* dropout_avx2.c: dropout's mask eight elements at a time. The draw is tg__uniform's splitmix64
 * finaliser on four 64-bit lanes (AVX2 has no 64-bit multiply: each one is built from three
 * 32x32->64 products, exact mod 2^64), and the test u >= p is done on the integer the uniform is
 * made of: u = k / 2^53 exactly (k < 2^53), so u >= p iff k >= ceil(p 2^53), with the same
 * outcome bit for bit. Scaling is one float multiply, as in the portable loop. Under the avx512
 * kernels on a CPU with AVX-512DQ, sixteen elements at a time with a native 64-bit multiply. */
#include "autograd/kernels/simd_avx2.h"
#include "autograd/internal.h"

#if TG_K_HAVE_AVX2_FLOAT

#include <math.h>

#define MIN_CHUNK 8192

typedef struct {
    const float *x, *dy;
    float *y;
    uint8_t *keep;
    const uint8_t *ckeep;
    double p;
    float scale;
    uint64_t seed, counter, threshold;
} dropout_args;

/* a * b mod 2^64 per lane, b given as its low and high 32-bit halves (each in a lane's low half). */
static inline TG_AVX2 __m256i mul64(__m256i a, __m256i b_lo, __m256i b_hi) {
    __m256i lo = _mm256_mul_epu32(a, b_lo);
    __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), b_lo),
                                     _mm256_mul_epu32(a, b_hi));
    return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

/* The top 53 bits of tg__uniform's hash for the four indices whose (seed mix + index) is z. */
static inline TG_AVX2 __m256i draw53(__m256i z) {
    const __m256i m1_lo = _mm256_set1_epi64x(0x1CE4E5B9ll), m1_hi = _mm256_set1_epi64x(0xBF58476Dll);
    const __m256i m2_lo = _mm256_set1_epi64x(0x133111EBll), m2_hi = _mm256_set1_epi64x(0x94D049BBll);
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), m1_lo, m1_hi);
    z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), m2_lo, m2_hi);
    z = _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
    return _mm256_srli_epi64(z, 11);
}

static TG_AVX2 void dropout_range(void *arg, size_t begin, size_t end) {
    const dropout_args *a = arg;
    /* tg__uniform's z = seed * golden + index + offset, wrapping: the index is added last */
    const uint64_t mix = a->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    const __m256i thr = _mm256_set1_epi64x((long long)a->threshold);   /* < 2^63: signed compare */
    const __m256i four = _mm256_set1_epi64x(4), eight = _mm256_set1_epi64x(8);
    const __m256 scale = _mm256_set1_ps(a->scale);
    uint64_t z0 = mix + a->counter + (uint64_t)begin;
    __m256i z = _mm256_add_epi64(_mm256_set1_epi64x((long long)z0), _mm256_set_epi64x(3, 2, 1, 0));
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        /* drop where threshold > k: all ones per 64-bit lane */
        __m256i d0 = _mm256_cmpgt_epi64(thr, draw53(z));
        __m256i d1 = _mm256_cmpgt_epi64(thr, draw53(_mm256_add_epi64(z, four)));
        z = _mm256_add_epi64(z, eight);
        /* the eight 64-bit verdicts as eight 32-bit lanes, in element order */
        __m256 drop = _mm256_shuffle_ps(_mm256_castsi256_ps(d0), _mm256_castsi256_ps(d1), 0x88);
        drop = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(drop), 0xD8));
        __m256 y = _mm256_andnot_ps(drop, _mm256_mul_ps(_mm256_loadu_ps(a->x + i), scale));
        _mm256_storeu_ps(a->y + i, y);
        /* -1 (drop) / 0 (keep) to bytes, plus one: 0 / 1 */
        __m256i di = _mm256_castps_si256(drop);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(di), _mm256_extracti128_si256(di, 1));
        __m128i b = _mm_add_epi8(_mm_packs_epi16(w, w), _mm_set1_epi8(1));
        _mm_storel_epi64((__m128i *)(void *)(a->keep + i), b);
    }
    for (; i < end; i++) {
        uint8_t k = tg__uniform(a->seed, a->counter + (uint64_t)i) >= a->p;
        a->keep[i] = k;
        a->y[i] = k ? a->x[i] * a->scale : 0;
    }
}

#if TG_K_HAVE_AVX512_GEMM
/* The same on AVX-512 (F for the masks, DQ for the 64-bit multiply), 16 elements a turn, where
 * the avx512 kernels are in force and the CPU has DQ. */
#define TG_AVX512 __attribute__((target("avx512f,avx512dq")))

static inline TG_AVX512 __m512i draw53_512(__m512i z) {
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                           _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ull));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                           _mm512_set1_epi64((long long)0x94D049BB133111EBull));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
    return _mm512_srli_epi64(z, 11);
}

static TG_AVX512 void dropout_range_512(void *arg, size_t begin, size_t end) {
    const dropout_args *a = arg;
    const uint64_t mix = a->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    const __m512i thr = _mm512_set1_epi64((long long)a->threshold);
    const __m512i eight = _mm512_set1_epi64(8), sixteen = _mm512_set1_epi64(16);
    const __m512 scale = _mm512_set1_ps(a->scale);
    uint64_t z0 = mix + a->counter + (uint64_t)begin;
    __m512i z = _mm512_add_epi64(_mm512_set1_epi64((long long)z0),
                                 _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    size_t i = begin;
    for (; i + 16 <= end; i += 16) {
        __mmask8 k0 = _mm512_cmpge_epu64_mask(draw53_512(z), thr);
        __mmask8 k1 = _mm512_cmpge_epu64_mask(draw53_512(_mm512_add_epi64(z, eight)), thr);
        z = _mm512_add_epi64(z, sixteen);
        __mmask16 keep = (__mmask16)(k0 | ((unsigned)k1 << 8));
        /* dropped lanes are +0, as the portable loop's 0 */
        _mm512_storeu_ps(a->y + i, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(a->x + i), scale));
        __m128i bytes = _mm512_cvtepi32_epi8(_mm512_maskz_set1_epi32(keep, 1));
        _mm_storeu_si128((__m128i *)(void *)(a->keep + i), bytes);
    }
    for (; i < end; i++) {
        uint8_t k = tg__uniform(a->seed, a->counter + (uint64_t)i) >= a->p;
        a->keep[i] = k;
        a->y[i] = k ? a->x[i] * a->scale : 0;
    }
}

static TG_AVX512 void dropout_bwd_range_512(void *arg, size_t begin, size_t end) {
    const dropout_args *a = arg;
    const __m512 scale = _mm512_set1_ps(a->scale);
    size_t i = begin;
    for (; i + 16 <= end; i += 16) {
        __m512i k = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(a->ckeep + i)));
        __mmask16 keep = _mm512_test_epi32_mask(k, k);
        __m512 dx = _mm512_loadu_ps(a->y + i);
        /* dropped lanes keep dx's bits */
        dx = _mm512_mask_add_ps(dx, keep, dx, _mm512_mul_ps(_mm512_loadu_ps(a->dy + i), scale));
        _mm512_storeu_ps(a->y + i, dx);
    }
    for (; i < end; i++)
        if (a->ckeep[i]) a->y[i] += a->dy[i] * a->scale;
}

static bool use_512(void) {
    return tg_k_current() == TG_K_AVX512 && __builtin_cpu_supports("avx512dq");
}
#endif

void tg_k_dropout_avx2(tg_pool *pool, int64_t n, const float *x, double p, float scale,
                       uint64_t seed, uint64_t counter, uint8_t *keep, float *y) {
    /* p 2^53 is exact (a power-of-two scaling) and at most 2^53: so is its ceiling */
    dropout_args a = {.x = x, .y = y, .keep = keep, .p = p, .scale = scale, .seed = seed,
                      .counter = counter, .threshold = (uint64_t)ceil(p * 9007199254740992.0)};
#if TG_K_HAVE_AVX512_GEMM
    if (use_512()) { tg_pool_for(pool, (size_t)n, MIN_CHUNK, dropout_range_512, &a); return; }
#endif
    tg_pool_for(pool, (size_t)n, MIN_CHUNK, dropout_range, &a);
}

/* dx = keep ? dx + dy * scale : dx, by a blend, so dropped elements keep their exact bits. */
static TG_AVX2 void dropout_bwd_range(void *arg, size_t begin, size_t end) {
    const dropout_args *a = arg;
    const __m256 scale = _mm256_set1_ps(a->scale);
    const __m256i zero = _mm256_setzero_si256();
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(a->ckeep + i)));
        __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, zero));
        __m256 dx = _mm256_loadu_ps(a->y + i);
        __m256 sum = _mm256_add_ps(dx, _mm256_mul_ps(_mm256_loadu_ps(a->dy + i), scale));
        _mm256_storeu_ps(a->y + i, _mm256_blendv_ps(dx, sum, keep));
    }
    for (; i < end; i++)
        if (a->ckeep[i]) a->y[i] += a->dy[i] * a->scale;
}

void tg_k_dropout_backward_avx2(tg_pool *pool, int64_t n, const uint8_t *keep, const float *dy,
                                float scale, float *dx) {
    dropout_args a = {.dy = dy, .y = dx, .ckeep = keep, .scale = scale};
#if TG_K_HAVE_AVX512_GEMM
    if (use_512()) { tg_pool_for(pool, (size_t)n, 16384, dropout_bwd_range_512, &a); return; }
#endif
    tg_pool_for(pool, (size_t)n, 16384, dropout_bwd_range, &a);
}

#endif
