# hapostctl, the administration command. The queue commands' file
# (core/ctl/ctl_queue.c) belongs to the delivery module but is listed here
# because this fragment defines the program.
sbin_PROGRAMS += hapostctl
hapostctl_SOURCES = core/ctl/hapostctl.c core/ctl/ctl.h \
	core/ctl/ctl_directory.c core/ctl/ctl_queue.c core/ctl/ctl_status.c
hapostctl_LDADD = $(HAPOST_LIBS)
