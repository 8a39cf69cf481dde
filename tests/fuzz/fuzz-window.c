/*
 * fuzz-window - the delivery window parser on arbitrary bytes
 *
 * The input, up to its first NUL, is a delivery_window value. A rejected
 * value must come with a reason. An accepted one must reparse from its
 * canonical text to the same text, and delivery_window_next_open() must
 * return an instant at or after the start that delivery_window_open()
 * accepts, here in a zone with DST (Europe/Berlin).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delivery/window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Instants around the 2024 DST changes in Europe/Berlin, and plain ones. */
static const time_t starts[] = {1711846800, 1711843200, 1711850400,
				1729990800, 1729987200, 1729994400,
				1704067200, 1704153599, 0};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int zone_set;
	struct delivery_window *w, *again;
	char err[256], *text = malloc(size + 1);

	if (text == NULL)
		abort();
	if (!zone_set) {
		setenv("TZ", "Europe/Berlin", 1);
		tzset();
		zone_set = 1;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (delivery_window_parse(text, &w, err, sizeof(err)) < 0) {
		if (err[0] == '\0' || w != NULL)
			abort();
		free(text);
		return 0;
	}
	if (w == NULL) {
		free(text);
		return 0;
	}
	if (delivery_window_parse(delivery_window_text(w), &again, err,
				  sizeof(err)) < 0 ||
	    again == NULL ||
	    strcmp(delivery_window_text(w), delivery_window_text(again)) != 0)
		abort();
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		time_t next = delivery_window_next_open(w, starts[i]);

		if (next < starts[i] || !delivery_window_open(w, next))
			abort();
		if (delivery_window_open(w, starts[i]) && next != starts[i])
			abort();
	}
	delivery_window_free(again);
	delivery_window_free(w);
	free(text);
	return 0;
}
