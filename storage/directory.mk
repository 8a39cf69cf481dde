# The account directory: file backend, name checks and password hashing.
libhapost_a_SOURCES += \
	storage/directory.c storage/directory.h \
	storage/directory_file.h \
	storage/directory_load.c \
	storage/directory_names.c \
	storage/directory_edit.c \
	storage/password.c
