# sources, programs and tests of core/ctl
