/* core/rng.h - the seeded random streams that make the simulator and the load generator
 * reproducible: splitmix64 steps, a well-mixed start per (seed, stream) so that streams of nearby
 * seeds do not overlap, and uniform doubles in (0, 1). Header-only; no state of its own. */
#ifndef GL_CORE_RNG_H
#define GL_CORE_RNG_H

#include <stdint.h>

/* The next 64 random bits of the stream whose state is *s. */
static inline uint64_t gl_rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* The starting state of stream `stream` of `seed`. */
static inline uint64_t gl_rng_stream(uint64_t seed, uint64_t stream) {
  uint64_t z = seed * 0xD1B54A32D192ED03ULL + stream * 0x8CB92BA72F3D8DD7ULL + 0x9E3779B97F4A7C15ULL;
  for (int i = 0; i < 2; i++) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
  }
  return z;
}

/* Uniform in (0, 1): 53 random bits, never 0 or 1 (so log() of it is finite). */
static inline double gl_rng_unif(uint64_t *s) { return ((double)(gl_rng_next(s) >> 11) + 0.5) / 9007199254740992.0; }

#endif
