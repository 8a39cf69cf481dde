libhapost_a_SOURCES += \
	core/master.c core/master.h core/master_int.h \
	core/master_listen.c core/master_role.c core/master_setup.c \
	core/worker.c core/worker_main.h
# SASL mechanisms shared by SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE.
libhapost_a_SOURCES += \
	core/sasl/sasl.c core/sasl/sasl.h \
	core/sasl/sasl_auth.c core/sasl/sasl_auth.h \
	core/sasl/site_key.c core/sasl/site_key.h

check_PROGRAMS += tests/unit/test-sasl
TESTS += tests/unit/test-sasl
tests_unit_test_sasl_SOURCES = tests/unit/test-sasl.c
tests_unit_test_sasl_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/sasl
tests_unit_test_sasl_LDADD = $(TEST_LIBS)

check_PROGRAMS += tests/unit/test-site-key
TESTS += tests/unit/test-site-key
tests_unit_test_site_key_SOURCES = tests/unit/test-site-key.c
tests_unit_test_site_key_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/core/sasl
tests_unit_test_site_key_LDADD = $(TEST_LIBS)

sbin_PROGRAMS += hapostd
hapostd_SOURCES = core/hapostd.c
hapostd_LDADD = $(HAPOST_LIBS)

# The example configuration and gateway table are installed once; an
# existing file is kept.
dist_doc_DATA = conf/hapost.conf conf/gateways README.md
install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/hapost'
	test -f '$(DESTDIR)$(sysconfdir)/hapost/hapost.conf' || \
		$(INSTALL_DATA) '$(srcdir)/conf/hapost.conf' \
		'$(DESTDIR)$(sysconfdir)/hapost/hapost.conf'
	test -f '$(DESTDIR)$(sysconfdir)/hapost/gateways' || \
		$(INSTALL_DATA) '$(srcdir)/conf/gateways' \
		'$(DESTDIR)$(sysconfdir)/hapost/gateways'
uninstall-local:
	cmp -s '$(srcdir)/conf/hapost.conf' \
		'$(DESTDIR)$(sysconfdir)/hapost/hapost.conf' && \
		rm -f '$(DESTDIR)$(sysconfdir)/hapost/hapost.conf' || :
	cmp -s '$(srcdir)/conf/gateways' \
		'$(DESTDIR)$(sysconfdir)/hapost/gateways' && \
		rm -f '$(DESTDIR)$(sysconfdir)/hapost/gateways' || :
