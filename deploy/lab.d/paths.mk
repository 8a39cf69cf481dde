# Prints the install directories of a configured build tree, with every
# variable expanded. deploy/lab runs it as
#   make -s -C BUILDDIR -f Makefile -f .../paths.mk lab-print-paths
lab-print-paths:
	@echo "prefix=$(prefix)"
	@echo "sbindir=$(sbindir)"
	@echo "bindir=$(bindir)"
	@echo "sysconfdir=$(sysconfdir)"
