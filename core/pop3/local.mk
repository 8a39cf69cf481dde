# sources, programs and tests of core/pop3
