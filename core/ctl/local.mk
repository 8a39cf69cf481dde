# hapostctl, the administration command.
sbin_PROGRAMS += hapostctl
hapostctl_SOURCES = core/ctl/hapostctl.c core/ctl/ctl.h \
	core/ctl/ctl_directory.c
hapostctl_LDADD = $(HAPOST_LIBS)
