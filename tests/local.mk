# sources, programs and tests of tests
