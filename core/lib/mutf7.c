/*
 * mutf7 - modified UTF-7 validation; see mutf7.h
 *
 * Shared by the IMAP parser, which rejects bad names with BAD, and the
 * Maildir layer, which never creates a folder whose name would not
 * round-trip.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "mutf7.h"

/* Modified base64: the usual alphabet with ',' in place of '/'. */
static int
mbase64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Checks one shift: the bytes between '&' and '-'. */
static bool
shift_valid(const char *p, size_t len)
{
	uint32_t bits = 0;
	unsigned nbits = 0;
	uint16_t high = 0; /* a high surrogate waiting for its pair */

	for (size_t i = 0; i < len; i++) {
		int v = mbase64_value((unsigned char)p[i]);
		uint16_t unit;

		if (v < 0)
			return false;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		unit = (uint16_t)(bits >> nbits);
		bits &= (1u << nbits) - 1;
		if (high != 0) {
			if (unit < 0xdc00 || unit > 0xdfff)
				return false;
			high = 0;
		} else if (unit >= 0xd800 && unit <= 0xdbff) {
			high = unit;
		} else if (unit >= 0xdc00 && unit <= 0xdfff) {
			return false;
		} else if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f) ||
			   (unit >= 0x20 && unit <= 0x7e)) {
			/* Control characters (NUL among them) never belong
			 * in a name; printable ASCII must appear directly. */
			return false;
		}
	}
	/* Leftover bits are padding: fewer than 6, all zero. */
	return high == 0 && nbits < 6 && bits == 0;
}

bool
mutf7_valid(const char *name, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)name[i];
		const char *dash;
		size_t run;

		if (c < 0x20 || c > 0x7e)
			return false;
		if (c != '&') {
			i++;
			continue;
		}
		dash = memchr(name + i + 1, '-', len - i - 1);
		if (dash == NULL)
			return false;
		run = (size_t)(dash - (name + i + 1));
		if (run > 0 && !shift_valid(name + i + 1, run))
			return false;
		i += run + 2;
	}
	return true;
}
