# Programs the protocol tests drive (built by make check, not installed).
check_PROGRAMS += tests/tools/dns-lookup
tests_tools_dns_lookup_SOURCES = tests/tools/dns-lookup.c
tests_tools_dns_lookup_LDADD = $(HAPOST_LIBS)

check_PROGRAMS += tests/tools/smtp-send
tests_tools_smtp_send_SOURCES = tests/tools/smtp-send.c
tests_tools_smtp_send_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/core/delivery
tests_tools_smtp_send_LDADD = $(HAPOST_LIBS)
