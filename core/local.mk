libhapost_a_SOURCES += \
	core/master.c core/master.h \
	core/worker.c core/worker_main.h

sbin_PROGRAMS += hapostd
hapostd_SOURCES = core/hapostd.c
hapostd_LDADD = $(HAPOST_LIBS)
