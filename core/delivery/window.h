/*
 * window - delivery time windows
 *
 * A window is a list of weekly intervals in local time, written as
 * items separated by commas: "Mon-Fri 08:00-18:00, Sat 09:00-12:00".
 * Each item is a day ("Mon"), a day range ("Mon-Fri", "Fri-Mon" wraps
 * over the weekend) or "*" for every day, then HH:MM-HH:MM; an end
 * before the start wraps past midnight ("22:00-06:00"), and "24:00" ends
 * a day. Day names are the English three-letter abbreviations, in any
 * case. An empty text means no window (delivery at any time), for which
 * delivery_window_parse() stores NULL.
 *
 * A wrapping time range belongs to the day it starts on: "Fri 22:00-06:00"
 * runs from Friday 22:00 to Saturday 06:00. Equal start and end times are
 * rejected as ambiguous ("00:00-24:00" is the whole day). A day range with
 * equal ends ("Mon-Mon") is that one day.
 *
 * Times are wall-clock minutes in the process's time zone (TZ), so the
 * window follows daylight saving time. An interval that lies wholly in the
 * hour skipped in spring does not open that day. An interval in the hour
 * repeated in autumn is open during both passes.
 */
#ifndef HAPOST_WINDOW_H
#define HAPOST_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct delivery_window;

/*
 * Returns 0 (NULL in *out for an empty text), or -1 with the reason in err,
 * such as "'Mon-Fry': unknown day 'Fry'". The reason does not name the
 * setting; callers prefix it ("delivery_window: ...").
 */
int delivery_window_parse(const char *text, struct delivery_window **out,
			  char *err, size_t errlen);
/* True when t falls in the window. A NULL window is always open. */
bool delivery_window_open(const struct delivery_window *w, time_t t);
/* The first second at or after t inside the window. */
time_t delivery_window_next_open(const struct delivery_window *w, time_t t);
/* The window as text in canonical form, for hapostctl; "" for NULL. */
const char *delivery_window_text(const struct delivery_window *w);
void delivery_window_free(struct delivery_window *w);

#endif
