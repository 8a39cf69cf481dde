# sources, programs and tests of storage
