#ifndef BMBILL_FILE_SWAP_H
#define BMBILL_FILE_SWAP_H

/// Atomically exchanges two paths (Linux renameat2 with RENAME_EXCHANGE): both must
/// exist; afterwards each name points at what the other did. Returns 0, or -1 with errno.
int bmbill_exchange_paths(const char *a, const char *b);

/// Flushes every written file of the filesystem holding `path` to disk (Linux syncfs):
/// one flush for a folder of many files, instead of one per file. Returns 0, or -1 with errno.
int bmbill_sync_filesystem(const char *path);

#endif
