/*
 * fuzz-repl-manifest - the manifest decoder on arbitrary bytes
 *
 * A manifest the decoder accepts must be sorted without repeats, hold
 * only paths that may be replicated, and encode back to the input
 * exactly. Comparing it with itself must find nothing, and comparing
 * it with an empty manifest must list every entry once.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "repl_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct repl_manifest m, empty = {NULL, 0};
	struct buf again = BUF_INIT;
	struct repl_diff *d;
	size_t n;
	char err[256] = "";

	if (repl_manifest_decode(data, size, &m, err, sizeof(err)) < 0) {
		if (err[0] == '\0' || m.n != 0 || m.v != NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < m.n; i++) {
		if (!repl_path_ok(m.v[i].path))
			abort();
		if (i > 0 && strcmp(m.v[i - 1].path, m.v[i].path) >= 0)
			abort();
	}
	repl_manifest_encode(&m, &again);
	if (again.len != size ||
	    (size > 0 && memcmp(again.data, data, size) != 0))
		abort();
	buf_free(&again);

	repl_manifest_diff(&m, &m, &d, &n);
	if (n != 0)
		abort();
	free(d);
	repl_manifest_diff(&m, &empty, &d, &n);
	if (n != m.n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (d[i].kind != (d[i].entry->dir ? REPL_DIFF_DIR
						   : REPL_DIFF_MISSING))
			abort();
	free(d);
	repl_manifest_diff(&empty, &m, &d, &n);
	if (n != m.n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (d[i].kind != REPL_DIFF_EXTRA)
			abort();
	free(d);
	repl_manifest_free(&m);
	return 0;
}
