#ifndef BMBILL_SHA256_BLOCKS_H
#define BMBILL_SHA256_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this processor has the SHA extensions (and SSSE3 and SSE4.1) that
/// bmbill_sha256_blocks uses; 0 otherwise (other processors, other architectures).
int bmbill_sha256_blocks_available(void);

/// Compresses `blocks` 64-byte blocks at `data` into `state` (SHA-256's eight words,
/// a to h), with the processor's SHA instructions. Call only when
/// bmbill_sha256_blocks_available() is 1.
void bmbill_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

#endif
