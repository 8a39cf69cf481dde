/*
 * promotion - STATUS parsing and the promotion rule
 *
 * The rule is stated in promotion.h. The parser is strict about the
 * values it uses (numbers without sign or suffix, flags 0 or 1, known
 * role and state names), because the result decides a promotion. It
 * skips keys it does not know, so the replicator can report more.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promotion.h"

static int
parse_u64(const char *text, uint64_t *out)
{
	uint64_t v = 0;

	if (*text < '0' || *text > '9')
		return -1;
	for (const char *p = text; *p != '\0'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (*p < '0' || *p > '9' || v > (UINT64_MAX - digit) / 10)
			return -1;
		v = v * 10 + digit;
	}
	*out = v;
	return 0;
}

static int
parse_flag(const char *text, bool *out)
{
	if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
		return -1;
	*out = text[0] == '1';
	return 0;
}

/* A finite, non-negative decimal number such as "0", "1.5" or "2e3". */
static int
parse_seconds(const char *text, double *out)
{
	char *end;
	double v;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static void
copy_text(char *dst, size_t dstlen, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < dstlen; i++)
		dst[i] = (unsigned char)src[i] < ' ' || src[i] == 0x7f ? '?'
								       : src[i];
	dst[i] = '\0';
}

enum required { R_ROLE, R_STATE, R_GENERATION, R_COMPLETE, R_COUNT };

/* Stores one key's value; returns -1 when the value is invalid. */
static int
parse_pair(const char *key, const char *value, struct repl_status *out,
	   bool seen[R_COUNT])
{
	if (strcmp(key, "role") == 0) {
		if (strcmp(value, "active") != 0 &&
		    strcmp(value, "standby") != 0)
			return -1;
		out->active = value[0] == 'a';
		seen[R_ROLE] = true;
		return 0;
	}
	if (strcmp(key, "state") == 0) {
		seen[R_STATE] = true;
		return repl_state_parse(value, &out->state) < 0 ||
			       out->state == REPL_UNKNOWN
			   ? -1
			   : 0;
	}
	if (strcmp(key, "generation") == 0) {
		seen[R_GENERATION] = true;
		return parse_u64(value, &out->generation);
	}
	if (strcmp(key, "complete") == 0) {
		seen[R_COMPLETE] = true;
		return parse_flag(value, &out->complete);
	}
	if (strcmp(key, "connected") == 0)
		return parse_flag(value, &out->connected);
	if (strcmp(key, "peer_generation") == 0)
		return parse_u64(value, &out->peer_generation);
	if (strcmp(key, "peer_seen") == 0)
		return parse_flag(value, &out->peer_seen);
	if (strcmp(key, "lag_changes") == 0)
		return parse_u64(value, &out->lag_changes);
	if (strcmp(key, "lag_seconds") == 0)
		return parse_seconds(value, &out->lag_seconds);
	if (strcmp(key, "catch_up_files_total") == 0)
		return parse_u64(value, &out->catch_up_files_total);
	if (strcmp(key, "catch_up_files_done") == 0)
		return parse_u64(value, &out->catch_up_files_done);
	if (strcmp(key, "catch_up_bytes") == 0)
		return parse_u64(value, &out->catch_up_bytes);
	if (strcmp(key, "since") == 0)
		return parse_seconds(value, &out->since);
	if (strcmp(key, "peer") == 0)
		copy_text(out->peer, sizeof(out->peer), value);
	else if (strcmp(key, "last_error") == 0)
		copy_text(out->last_error, sizeof(out->last_error), value);
	return 0;
}

int
repl_status_parse(const char *text, size_t len, struct repl_status *out,
		  char *err, size_t errlen)
{
	static const char *const required[R_COUNT] = {"role", "state",
						      "generation", "complete"};
	bool seen[R_COUNT] = {false};
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		char line[1024], *eq;
		size_t n = end - pos;

		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (n >= sizeof(line) || memchr(text + pos, '\0', n) != NULL) {
			snprintf(err, errlen, "invalid line in the status");
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos = end + 1;
		if (n == 0)
			continue;
		eq = strchr(line, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "status line without '='");
			return -1;
		}
		*eq = '\0';
		if (parse_pair(line, eq + 1, out, seen) < 0) {
			char shown[40];

			copy_text(shown, sizeof(shown), line);
			snprintf(err, errlen, "invalid value for %s", shown);
			return -1;
		}
	}
	for (int i = 0; i < R_COUNT; i++) {
		if (!seen[i]) {
			snprintf(err, errlen, "%s missing from the status",
				 required[i]);
			return -1;
		}
	}
	return 0;
}

void
promotion_decide(const struct repl_status *rs, bool serving, bool healthy,
		 uint64_t heartbeat_peer_generation, struct promotion *out)
{
	memset(out, 0, sizeof(*out));
	out->peer_generation = heartbeat_peer_generation;
	if (rs == NULL) {
		snprintf(out->reason, sizeof(out->reason),
			 "the replicator does not answer");
		return;
	}
	if (rs->peer_generation > out->peer_generation)
		out->peer_generation = rs->peer_generation;
	if (!rs->complete) {
		snprintf(out->reason, sizeof(out->reason),
			 "this node's data is not complete: it was never in "
			 "sync at generation %" PRIu64,
			 rs->generation);
	} else if (out->peer_generation > rs->generation) {
		snprintf(out->reason, sizeof(out->reason),
			 "this node is stale: the peer has generation "
			 "%" PRIu64 ", this node %" PRIu64,
			 out->peer_generation, rs->generation);
	} else if (!rs->peer_seen && out->peer_generation == 0 && !serving) {
		snprintf(out->reason, sizeof(out->reason),
			 "nothing heard from the peer since this node started: "
			 "it may hold newer data (use force if it is lost)");
	} else {
		out->promotable = true;
	}
	if (!healthy) {
		if (out->reason[0] == '\0')
			snprintf(out->reason, sizeof(out->reason),
				 "this node is not healthy");
		return;
	}
	if (serving) {
		out->score = 100;
		return;
	}
	if (!out->promotable)
		return;
	if (rs->state == REPL_IN_SYNC && rs->connected)
		out->score = 100;
	else if (!rs->connected)
		out->score = 50;
	else
		snprintf(out->reason, sizeof(out->reason),
			 "this node is %s, not in sync",
			 repl_state_name(rs->state));
}
