libhapost_a_SOURCES += \
	core/master.c core/master.h \
	core/worker.c core/worker_main.h

sbin_PROGRAMS += hapostd
hapostd_SOURCES = core/hapostd.c
hapostd_LDADD = $(HAPOST_LIBS)

# The example configuration is installed once; an existing file is kept.
dist_doc_DATA = conf/hapost.conf README.md
install-data-local:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/hapost'
	test -f '$(DESTDIR)$(sysconfdir)/hapost/hapost.conf' || \
		$(INSTALL_DATA) '$(srcdir)/conf/hapost.conf' \
		'$(DESTDIR)$(sysconfdir)/hapost/hapost.conf'
uninstall-local:
	cmp -s '$(srcdir)/conf/hapost.conf' \
		'$(DESTDIR)$(sysconfdir)/hapost/hapost.conf' && \
		rm -f '$(DESTDIR)$(sysconfdir)/hapost/hapost.conf' || :
