/*
 * fuzz-driver-mime - replays the MIME fuzz corpus without libFuzzer
 *
 * Runs LLVMFuzzerTestOneInput() on every file of the corpus directory
 * (argv[1], else $top_srcdir/tests/fuzz/corpus-mime) and on fixed
 * mutations of each: every truncation at a line start, two thousand
 * seeded byte flips and insertions of MIME syntax, and the file doubled.
 * The seed is fixed, so a failure reproduces. Exits 0 when every input
 * ran, 1 if the corpus cannot be read; a bad input crashes or aborts.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLIPS_PER_FILE 2000

static const char *const snippets[] = {
    "\r\n",
    "\n\n",
    "--b\r\n",
    "--b--\r\n",
    "Content-Type: multipart/mixed; boundary=b\r\n",
    "Content-Type: message/rfc822\r\n\r\n",
    "=?utf-8?q?",
    "?=",
    "<@a,@b:",
    "\"",
    "(",
    ":;",
    "\0",
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int
read_file(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	*data = malloc((size_t)n + 1);
	if (*data == NULL || fread(*data, 1, (size_t)n, f) != (size_t)n) {
		free(*data);
		fclose(f);
		return -1;
	}
	fclose(f);
	*size = (size_t)n;
	return 0;
}

/* Runs the target on a private copy, so reads past size are caught. */
static void
run_copy(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size == 0 ? 1 : size);

	if (copy == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	LLVMFuzzerTestOneInput(copy, size);
	free(copy);
}

static void
run_mutations(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(2 * size + 64);
	size_t i;

	if (buf == NULL)
		abort();
	for (i = 0; i < size; i++) {
		if (i == 0 || data[i - 1] == '\n')
			run_copy(data, i);
	}
	for (i = 0; i < FLIPS_PER_FILE && size > 0; i++) {
		size_t pos = rng_next() % size;
		const char *snippet =
		    snippets[rng_next() %
			     (sizeof(snippets) / sizeof(snippets[0]))];
		size_t slen = snippet[0] == '\0' ? 1 : strlen(snippet);

		memcpy(buf, data, size);
		if (rng_next() % 2 == 0) {
			buf[pos] ^= (uint8_t)(1u << (rng_next() % 8));
			run_copy(buf, size);
			continue;
		}
		memcpy(buf, data, pos);
		memcpy(buf + pos, snippet, slen);
		memcpy(buf + pos + slen, data + pos, size - pos);
		run_copy(buf, size + slen);
	}
	memcpy(buf, data, size);
	memcpy(buf + size, data, size);
	run_copy(buf, 2 * size);
	free(buf);
}

int
main(int argc, char **argv)
{
	char dir[4096];
	const char *top = getenv("top_srcdir");
	struct dirent *e;
	DIR *d;
	size_t files = 0;

	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus-mime",
			 top != NULL ? top : ".");
	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "opendir(%s) failed: %s\n", dir,
			strerror(errno));
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		char path[8192];
		uint8_t *data;
		size_t size;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (read_file(path, &data, &size) < 0) {
			fprintf(stderr, "reading %s failed: %s\n", path,
				strerror(errno));
			closedir(d);
			return 1;
		}
		run_copy(data, size);
		run_mutations(data, size);
		free(data);
		files++;
	}
	closedir(d);
	if (files == 0) {
		fprintf(stderr, "no corpus files in %s\n", dir);
		return 1;
	}
	printf("fuzz-mime: %zu corpus files and their mutations ran\n", files);
	return 0;
}
