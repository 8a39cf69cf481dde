/*
 * fuzz-mime - fuzz target for the MIME parser and its IMAP views
 *
 * LLVMFuzzerTestOneInput() parses the input as a message and runs every
 * public function of core/mime on it, with section specs and search
 * needles cut from the input itself. It aborts when a tree invariant
 * breaks (offsets out of order or out of range, depth or part count past
 * the limits); crashes and sanitizer reports are the other failures. Build
 * it with clang -fsanitize=fuzzer for coverage-guided runs;
 * fuzz-driver-mime.c replays a corpus under make check.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed_specs[] = {
    "",
    "HEADER",
    "TEXT",
    "1",
    "1.MIME",
    "2.1",
    "1.HEADER",
    "2.TEXT",
    "1.2.3.4",
    "HEADER.FIELDS (FROM SUBJECT)",
    "1.HEADER.FIELDS.NOT (CONTENT-TYPE)",
};

/* Checks the tree invariants; returns the number of parts below p. */
static size_t
check_part(const struct mime_part *p, size_t size, unsigned depth)
{
	size_t count = 1, i;

	if (depth >= MIME_MAX_DEPTH || p->header_start > p->header_end ||
	    p->header_end > p->body_start || p->body_start > p->body_end ||
	    p->body_end > size || p->type == NULL || p->subtype == NULL)
		abort();
	for (i = 0; i < p->nchildren; i++) {
		const struct mime_part *c = &p->children[i];

		if (c->header_start < p->body_start ||
		    c->body_end > p->body_end)
			abort();
		count += check_part(c, size, depth + 1);
	}
	if (p->message != NULL) {
		if (p->message->header_start != p->body_start ||
		    p->message->body_end != p->body_end)
			abort();
		count += check_part(p->message, size, depth + 1);
	}
	return count;
}

/* Copies up to max bytes of data from offset as a C string. */
static char *
cut_string(const uint8_t *data, size_t size, size_t offset, size_t max)
{
	size_t n = offset < size ? size - offset : 0;
	char *s;

	if (n > max)
		n = max;
	s = malloc(n + 1);
	if (s == NULL)
		abort();
	if (n > 0)
		memcpy(s, data + offset, n);
	s[n] = '\0';
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *msg = (const char *)data;
	struct mime_part *root = mime_parse(msg, size);
	struct buf out = BUF_INIT;
	char *spec, *needle;
	size_t i;

	if (check_part(root, size, 0) > MIME_MAX_PARTS)
		abort();
	imap_bodystructure(&out, msg, root, true);
	imap_bodystructure(&out, msg, root, false);
	imap_envelope(&out, msg, root->header_start, root->header_end);
	for (i = 0; i < sizeof(fixed_specs) / sizeof(fixed_specs[0]); i++) {
		if (imap_section_fetch(&out, msg, size, root, fixed_specs[i]) <
			0 ||
		    imap_section_normalize(&out, fixed_specs[i]) < 0)
			abort();
	}
	spec = cut_string(data, size, 0, 40);
	imap_section_fetch(&out, msg, size, root, spec);
	imap_section_normalize(&out, spec);
	needle = cut_string(data, size, size / 2, 8);
	mime_header_contains(msg, size, "subject", needle);
	mime_header_contains(msg, size, "", needle);
	mime_body_contains(msg, size, root, needle);
	mime_text_contains(msg, size, root, needle);
	mime_date_header(msg, size);
	free(spec);
	free(needle);
	buf_free(&out);
	mime_free(root);
	return 0;
}
