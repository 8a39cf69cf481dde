# sources, programs and tests of core/delivery
