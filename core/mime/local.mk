# sources, programs and tests of core/mime
