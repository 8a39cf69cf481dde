/*
 * mutf7 - modified UTF-7 mailbox names (RFC 3501 section 5.1.3)
 */
#ifndef HAPOST_MUTF7_H
#define HAPOST_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Checks that name[0..len) is valid modified UTF-7. Only printable ASCII
 * may appear, and "&-" stands for '&'. Each other "&...-" shift holds
 * base64 (',' in place of '/') of UTF-16 with paired surrogates, no
 * printable ASCII or control character, and zero padding bits.
 */
bool mutf7_valid(const char *name, size_t len);

#endif
