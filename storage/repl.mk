# Replicated storage: the writers' client library and the admin requests.
libhapost_a_SOURCES += \
	storage/repl.c storage/repl.h \
	storage/repl_admin.c storage/repl_admin.h \
	storage/repl_local.c storage/repl_local.h
